"""Output folders: what DataAgent did not write is never deleted; a rerun removes only its own last output."""

import json
import os
import subprocess
import sys

import pytest

from dataagent.demo import run_demo
from validate.errors import DataAgentError
from validate.outdir import MANIFEST, owned_output


def test_a_new_folder_is_claimed_and_a_rerun_removes_only_our_stale_files(tmp_path):
    out = tmp_path / "run"
    with owned_output(out) as folder:
        (folder / "a.jsonl").write_text("1\n")
        (folder / "sub").mkdir()
        (folder / "sub" / "stale.json").write_text("{}")
    assert json.loads((out / MANIFEST).read_text())["files"] == ["a.jsonl", "sub/stale.json"]
    (out / "user-notes.txt").write_text("mine")  # put there by hand between runs
    with owned_output(out) as folder:
        assert not (folder / "sub").exists(), "the last run's files are cleared before the rerun writes"
        (folder / "a.jsonl").write_text("2\n")
    assert (out / "user-notes.txt").read_text() == "mine"
    assert json.loads((out / MANIFEST).read_text())["files"] == ["a.jsonl"]


def test_a_foreign_non_empty_folder_is_refused_unless_forced_and_then_kept(tmp_path):
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(DataAgentError, match="did not write.*--force"):
        with owned_output(tmp_path):
            pass
    with owned_output(tmp_path, force=True) as folder:
        (folder / "x.parquet").write_bytes(b"x")
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    with owned_output(tmp_path) as folder:  # ours now: the manifest lists x.parquet only
        assert not (folder / "x.parquet").exists()
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_kept_caches_survive_a_rerun_and_a_crashed_run_is_still_ours(tmp_path):
    out = tmp_path / "crawl"
    with pytest.raises(RuntimeError):
        with owned_output(out, keep=("httpcache",)) as folder:
            (folder / "httpcache").mkdir()
            (folder / "httpcache" / "page").write_text("cached")
            (folder / "partial.jsonl").write_text("")
            raise RuntimeError("crawler died")
    with owned_output(out, keep=("httpcache",)) as folder:
        assert (folder / "httpcache" / "page").read_text() == "cached"
        assert not (folder / "partial.jsonl").exists()


def test_a_tampered_manifest_cannot_delete_outside_the_folder(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("outside")
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST).write_text(json.dumps({"files": ["../victim.txt", str(victim)]}))
    with owned_output(out):
        pass
    assert victim.read_text() == "outside"


def test_links_inside_the_output_are_removed_as_links_never_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "data.txt").write_text("not ours")
    out = tmp_path / "out"
    with owned_output(out) as folder:
        os.symlink(target, folder / "link")
    with owned_output(out):
        pass
    assert (target / "data.txt").read_text() == "not ours"
    assert not (out / "link").exists()


def test_out_that_is_a_file_is_one_line_error(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(DataAgentError, match=r"--out is a file, not a folder \(.*file\)"):
        with owned_output(path):
            pass


def test_the_demo_keeps_a_user_file_and_refuses_a_foreign_folder(tmp_path):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "my-notes.md").write_text("do not delete")
    proc = subprocess.run(
        [sys.executable, "-m", "dataagent", "demo", "--out", str(out)], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 2 and proc.stderr.startswith("error: --out is a folder that holds files"), proc.stderr
    assert "Traceback" not in proc.stderr
    # Forced: the whole pipeline writes beside the user's file and leaves it alone.
    summary = run_demo(out, token_budget=4_000, pretrain_steps=5, quiet=True, force=True)
    assert summary["accepted"] > 0
    assert (out / "my-notes.md").read_text() == "do not delete"
    listed = json.loads((out / MANIFEST).read_text())["files"]
    assert "my-notes.md" not in listed and "summary.json" in listed
