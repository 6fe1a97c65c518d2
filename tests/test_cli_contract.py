"""The CLI's failure contract, subcommand by failure class, as a user meets it.

Every case runs the real `dataagent` command in a child process, in a folder that stands for the
user's working tree, and asserts: the exit status; on failure exactly one `error:` line on stderr
and nothing else of ours; never a traceback; rows in = accepted + quarantined wherever rows were
read; and no file outside --out created, changed or removed.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from conftest import free_port

from dataagent.testing.openai import Fault, serve
from synth.records import make_record
from tests.hostile_records import CASES as HOSTILE
from tests.hostile_records import input_records
from tests.test_code_hostile import build_hostile_repo

CMD = [sys.executable, "-m", "dataagent"]


@dataclass
class Case:
    args: list[str]
    exit: int
    stderr: str  # regex the first stderr line of ours must match
    rows_in: int | None = None  # rows read: accepted + quarantined must equal it
    env: dict[str, str] = field(default_factory=dict)


def _snapshot(root: Path, skip: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` but ``skip``: (size, mtime) by path, to prove nothing else was touched."""
    seen = {}
    for path in root.rglob("*"):
        if skip == path or skip in path.parents or path.is_dir():
            continue
        st = path.lstat()
        seen[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns)
    return seen


def run_case(world: Path, case: Case, out: Path) -> subprocess.CompletedProcess:
    before = _snapshot(world, out)
    env = {**os.environ, "OMP_NUM_THREADS": "1", **case.env}
    env.pop("OPENAI_API_KEY", None) if "OPENAI_API_KEY" not in case.env else None
    start = time.monotonic()
    proc = subprocess.run([*CMD, *case.args], capture_output=True, text=True, cwd=world, env=env, timeout=300)
    proc.seconds = time.monotonic() - start  # type: ignore[attr-defined]
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode == case.exit, (proc.returncode, proc.stderr[-2000:])
    ours = [line for line in proc.stderr.splitlines() if line.startswith(("error:", "warning:", "verdict:"))]
    errors = [line for line in ours if line.startswith("error:")]
    if case.exit == 2:
        assert len(errors) == 1, proc.stderr
        assert re.search(case.stderr, errors[0]), errors[0]
    else:
        assert not errors, proc.stderr
        assert ours and re.search(case.stderr, ours[0]), proc.stderr
    assert _snapshot(world, out) == before, "a file outside --out was touched"
    if os.environ.get("DATAAGENT_CONTRACT_LOG"):  # the table in docs/ERRORS.md is made from this
        with open(os.environ["DATAAGENT_CONTRACT_LOG"], "a", encoding="utf-8") as log:
            first = (ours or [""])[0].replace(str(world) + "/", "").replace(str(world), ".")
            log.write(json.dumps({"args": case.args[:1], "exit": proc.returncode, "first": first}) + "\n")
    if case.rows_in is not None:
        report = json.loads((out / "gate_report.json").read_text())
        assert report["accepted"] + report["quarantined"] == case.rows_in
        accepted = pd.read_parquet(out / "accepted.parquet")
        quarantined = [json.loads(x, parse_constant=_no_constants) for x in (out / "quarantine.jsonl").open()]
        assert len(accepted) + len(quarantined) == case.rows_in
    return proc


def _no_constants(name: str) -> None:
    raise ValueError(f"non-strict JSON constant {name}")


def _record(i: int) -> dict:
    return make_record(
        f"What is item {i} about?",
        f"Item {i} explains how a savings account earns interest over one year.",
        task_type="faq_qa",
        language="en",
        generator="rule:t",
        source_ref=f"http://x/{i}",
    )


@pytest.fixture
def world(tmp_path) -> Path:
    """The user's working folder: inputs the cases read, and a file of the user's that must survive."""
    w = tmp_path / "world"
    w.mkdir()
    (w / "notes.txt").write_text("the user's own file")
    lines = [json.dumps(_record(i), ensure_ascii=False) for i in range(6)]
    (w / "good.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (w / "mixed.jsonl").write_bytes(
        "\n".join(lines[:3]).encode() + b'\n{"id": "\xff\xfe broken"}\n[1, 2]\n' + "\n".join(lines[3:]).encode()
    )
    (w / "utf16.jsonl").write_bytes("\n".join(lines).encode("utf-16"))
    (w / "gz.jsonl").write_bytes(gzip.compress("\n".join(lines).encode()))
    (w / "empty.jsonl").write_bytes(b"")
    (w / "folder.jsonl").mkdir()
    frame = pd.DataFrame([_record(i) for i in range(4)])
    frame["output"] = range(4)  # text column with the wrong dtype
    frame.to_parquet(w / "wrong_dtypes.parquet")
    (w / "truncated.parquet").write_bytes((w / "wrong_dtypes.parquet").read_bytes()[:200])
    (w / "misspelt.yaml").write_text("max_failure_rate:\n  exact_duplicat: 0.1\n")
    (w / "ten.yaml").write_text('min_output_chars: "ten"\n')
    (w / "bad_prices.yaml").write_text("gpt-x: [1, 2\n")
    (w / "bad_recipe.yaml").write_text("start_urls: [http://127.0.0.1:1/\n")
    (w / "not_git").mkdir()
    (w / "not_git" / "a.py").write_text("def f():\n    return 1\n")
    (w / "a_file").write_text("not a folder")
    return w


def _cases(w: Path, port: int) -> dict[str, Case]:
    dead = f"http://127.0.0.1:{port}"

    def openai_synth(*extra: str) -> list[str]:
        """synth through the openai backend at the dead port, documents from the world."""
        return [
            "synth",
            "--backend",
            "openai",
            *extra,
            "--documents",
            "docs.jsonl",
            "--base-url",
            f"{dead}/v1",
            "--out",
            "OUT",
        ]

    return {
        # crawl
        "crawl/server-down": Case(
            ["crawl", f"{dead}/", "--out", "OUT"], 2, r"^error: cannot reach the site: .*refused"
        ),
        "crawl/not-a-url": Case(
            ["crawl", "ftp://x/", "--out", "OUT"], 2, r"not a recipe file or an http\(s\) start URL"
        ),
        "crawl/recipe-missing": Case(["crawl", "nope.yaml", "--out", "OUT"], 2, r"no such recipe file"),
        "crawl/recipe-bad-yaml": Case(["crawl", "bad_recipe.yaml", "--out", "OUT"], 2, r"line \d+.*YAML|YAML.*line"),
        "crawl/out-is-a-file": Case(["crawl", f"{dead}/", "--out", "a_file"], 2, r"--out is a file"),
        # extract-code
        "extract/missing-path": Case(
            ["extract-code", "no/such/repo", "--out", "OUT"],
            2,
            r"no repository could be read: no such file or directory",
        ),
        "extract/not-a-checkout": Case(
            ["extract-code", "not_git", "--out", "OUT"],
            2,
            r"no repository could be read: not a git repository",
            env={"GIT_CEILING_DIRECTORIES": str(w.parent)},
        ),
        "extract/foreign-out": Case(["extract-code", "not_git", "--out", "."], 2, r"did not write.*--force"),
        # validate
        "validate/missing-file": Case(["validate", "nope.jsonl", "--out", "OUT"], 2, r"no such file"),
        "validate/directory": Case(["validate", "folder.jsonl", "--out", "OUT"], 2, r"directory"),
        "validate/gzip": Case(["validate", "gz.jsonl", "--out", "OUT"], 2, r"gzip"),
        "validate/utf16": Case(["validate", "utf16.jsonl", "--out", "OUT"], 2, r"UTF-16"),
        "validate/empty": Case(["validate", "empty.jsonl", "--out", "OUT"], 2, r"empty|no records"),
        "validate/truncated-parquet": Case(["validate", "truncated.parquet", "--out", "OUT"], 2, r"Parquet"),
        "validate/wrong-dtypes": Case(
            ["validate", "wrong_dtypes.parquet", "--out", "OUT"],
            2,
            r"every one of 4 records was quarantined \(output:not_a_string: 4\)",
            rows_in=4,
        ),
        "validate/bad-lines": Case(
            ["validate", "mixed.jsonl", "--out", "OUT"], 0, r"^warning: 2 of 8 records quarantined", rows_in=8
        ),
        "validate/misspelt-check": Case(
            ["validate", "good.jsonl", "--config", "misspelt.yaml", "--out", "OUT"],
            2,
            r"no check 'exact_duplicat' \(did you mean 'exact_duplicate'\?\) "
            r"\(misspelt.yaml, line 1\)",
        ),
        "validate/ten": Case(
            ["validate", "good.jsonl", "--config", "ten.yaml", "--out", "OUT"],
            2,
            r"'min_output_chars' must be a number, got 'ten' \(ten.yaml, line 1\)",
        ),
        "validate/eval-set-missing": Case(
            ["validate", "good.jsonl", "--eval-set", "missing.jsonl", "--out", "OUT"],
            2,
            r"no such eval set file \(missing.jsonl\)",
        ),
        # synth
        "synth/no-input": Case(["synth", "--out", "OUT"], 2, r"needs at least one of"),
        "synth/missing-input": Case(["synth", "--documents", "nope.parquet", "--out", "OUT"], 2, r"no such file"),
        "synth/unknown-task": Case(openai_synth("--generator", "task:nope"), 2, r"task.*nope"),
        "synth/bad-prices": Case(
            openai_synth("--prices", "bad_prices.yaml"), 2, r"bad_prices.yaml.*line|line.*bad_prices.yaml"
        ),
        "synth/unreachable": Case(openai_synth(), 2, r"synth cannot start: connect_error"),
        # publish
        "publish/gate-report-missing": Case(
            ["publish", "good.jsonl", "--gate-report", "missing.json", "--out", "OUT"],
            2,
            r"--gate-report: no such file \(missing.json\)",
        ),
        "publish/out-is-a-file": Case(["publish", "good.jsonl", "--out", "a_file"], 2, r"--out is a file"),
        "publish/read-only": Case(
            ["publish", "good.jsonl", "--out", "/sys/dataagent-test"], 2, r"permission denied|not permitted"
        ),
        "publish/bad-lines": Case(["publish", "mixed.jsonl", "--out", "OUT"], 2, r"mixed.jsonl, line 4"),
        # train
        "train/dataset-missing": Case(
            ["train", "--dataset", "no_such_dataset", "--out", "OUT"], 2, r"cannot load the dataset|no such"
        ),
        "train/documents-missing": Case(
            ["train", "--dataset", "x", "--documents", "nope.parquet", "--out", "OUT"], 2, r"--documents: no such file"
        ),
        "train/bad-method": Case(
            ["train", "--dataset", "x", "--method", "lora2", "--out", "OUT"], 2, r"--method must be one of"
        ),
        # demo
        "demo/foreign-out": Case(["demo", "--out", "."], 2, r"did not write.*--force"),
    }


CASE_IDS = list(_cases(Path("."), 1))


@pytest.mark.parametrize("name", CASE_IDS)
def test_cli_failure_contract(world, name, crawl_dir):
    shutil.copy(crawl_dir / "documents.jsonl", world / "docs.jsonl")
    case = _cases(world, free_port())[name]
    # Cases that name another --out (a file, ".", a read-only place) must leave the whole world untouched.
    out = world / "out" if "OUT" in case.args else world / "__no_out__"
    case.args = [str(out) if a == "OUT" else a for a in case.args]
    proc = run_case(world, case, out)
    assert (world / "notes.txt").read_text() == "the user's own file"
    if name == "crawl/server-down":  # refused before Scrapy started: no crawl log, no polite retries
        assert not (out / "crawl.log").exists() and not (out / "crawl_stats.json").exists()
    if name == "synth/unreachable":  # stopped by the preflight probe, before any of its requests
        assert "is the server running" in proc.stderr and not (out / "instructions.jsonl").exists()


@pytest.mark.parametrize(
    ("fault", "message"),
    [(Fault.unauthorized(), r"401|API key|auth"), (Fault.unknown_model(), r"404|model")],
)
def test_synth_stops_early_on_a_misconfigured_server(world, crawl_dir, fault, message):
    shutil.copy(crawl_dir / "documents.jsonl", world / "docs.jsonl")
    out = world / "out"
    with serve(lambda body, n: fault) as srv:
        args = [
            "synth",
            "--backend",
            "openai",
            "--documents",
            "docs.jsonl",
            "--base-url",
            srv.base_url,
            "--out",
            str(out),
        ]
        run_case(world, Case(args, 2, message), out)
        assert sum(srv.counts.values()) <= 16, srv.counts  # stopped early, not after every request


# --- every hostile record file (tests/hostile_records.py) through validate and publish --------------------------


def main_in_process(args: list[str], capsys) -> tuple[int, str]:
    """The real entry point (argv, error boundary, exit status) without a process start per case."""
    from dataagent.cli import main

    old = sys.argv
    sys.argv = ["dataagent", *args]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = old
    return code, capsys.readouterr().err


@pytest.mark.parametrize("name", list(HOSTILE))
def test_every_hostile_record_file_through_validate_and_publish(name, tmp_path, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    case = HOSTILE[name](inputs)
    before = _snapshot(tmp_path, tmp_path / "out")
    code, err = main_in_process(["validate", str(case.path), "--out", str(tmp_path / "out" / "gate")], capsys)
    assert "Traceback" not in err
    errors = [x for x in err.splitlines() if x.startswith("error:")]
    if case.error:
        assert code == 2 and len(errors) == 1 and case.error in errors[0] and str(case.path) in errors[0], err
    else:
        report = json.loads((tmp_path / "out" / "gate" / "gate_report.json").read_text())
        assert report["accepted"] + report["quarantined"] == input_records(case.path)
        assert code == (0 if case.accepted else 2) and len(errors) == (0 if case.accepted else 1), err
    # publish reads strictly: a file that is not clean contract records is refused in one line, never half-read.
    code, err = main_in_process(["publish", str(case.path), "--out", str(tmp_path / "out" / "ds")], capsys)
    errors = [x for x in err.splitlines() if x.startswith("error:")]
    assert "Traceback" not in err and code in (0, 2) and len(errors) == (code == 2), err
    assert _snapshot(tmp_path, tmp_path / "out") == before


def test_extract_code_on_a_hostile_repository_succeeds_with_a_warning(tmp_path):
    repo = build_hostile_repo(tmp_path / "world")
    out = tmp_path / "world" / "code-out"
    every_unit = ["--min-doc-words", "0", "--min-body-lines", "0", "--keep-tests", "--keep-boilerplate"]
    case = Case(["extract-code", str(repo), *every_unit, "--out", str(out)], 0, r"^warning: 1 file")
    proc = run_case(tmp_path / "world", case, out)
    stats = json.loads((out / "code_stats.json").read_text())
    assert stats["units"] > 8000 and any("deep.js" in line for line in stats["file_errors"])
    assert "secret_outside" not in (out / "code_units.jsonl").read_text()
    assert proc.stdout.strip().startswith("{")
