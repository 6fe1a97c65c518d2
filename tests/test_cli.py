"""The `dataagent` command as a user runs it: help text, and one-line errors with no traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth.records import make_record

CMD = [sys.executable, "-m", "dataagent"]


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CMD, *args], capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("sub", ["crawl", "extract-code", "synth", "validate", "publish", "train", "demo"])
def test_every_subcommand_explains_itself(sub):
    proc = run(sub, "--help")
    assert proc.returncode == 0
    assert "--out" in proc.stdout


def test_bad_record_file_gives_one_line_naming_file_row_column(tmp_path):
    good = make_record("Q?", "An answer.", task_type="faq_qa", language="en", generator="rule:t", source_ref="http://x")
    bad = dict(good, id="f" * 64, task_type="Not A Type")
    path = tmp_path / "recs.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    proc = run("publish", str(path), "--out", str(tmp_path / "ds"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and "row 2" in lines[0] and "column 'task_type'" in lines[0]
    assert "Traceback" not in proc.stderr


def test_missing_input_file_is_one_line(tmp_path):
    proc = run("validate", str(tmp_path / "nope.parquet"), "--out", str(tmp_path / "g"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: no such file ({tmp_path / 'nope.parquet'})"


def test_validate_then_publish_through_the_cli(tmp_path):
    rows = [
        make_record(
            f"Q{i}?", f"Answer {i}.", task_type="faq_qa", language="en", generator="rule:t", source_ref=f"http://x/{i}"
        )
        for i in range(12)
    ]
    rows.append(make_record("Echo", "Echo", task_type="faq_qa", language="en", generator="rule:t", source_ref="x"))
    path = tmp_path / "recs.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    proc = run("validate", str(path), "--out", str(tmp_path / "gate"))
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert (report["accepted"], report["quarantined"]) == (12, 1)
    proc = run("publish", str(tmp_path / "gate" / "accepted.parquet"), "--out", str(tmp_path / "ds"))
    assert proc.returncode == 0, proc.stderr
    assert Path(json.loads(proc.stdout)["folder"], "README.md").exists()


def test_debug_shows_the_traceback_and_the_default_does_not(tmp_path):
    missing = str(tmp_path / "nope.jsonl")
    quiet = run("validate", missing, "--out", str(tmp_path / "g"))
    loud = run("validate", missing, "--debug", "--out", str(tmp_path / "g"))
    assert quiet.returncode == loud.returncode == 2
    assert "Traceback" not in quiet.stderr and "Traceback" in loud.stderr
    assert loud.stderr.strip().splitlines()[-1] == quiet.stderr.strip()
    env = subprocess.run(
        [*CMD, "validate", missing, "--out", str(tmp_path / "g")],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "DATAAGENT_DEBUG": "1"},
    )
    assert "Traceback" in env.stderr


def test_the_boundary_names_file_and_line_for_library_errors(tmp_path):
    import yaml

    from dataagent.boundary import describe

    path = tmp_path / "x.yaml"
    path.write_text("a: [\n")
    with pytest.raises(yaml.YAMLError) as err:
        yaml.safe_load(path.open())
    assert describe(err.value) == f"invalid YAML: expected the node content, but found '<stream end>' ({path}, line 2)"
    with pytest.raises(OSError) as err:
        open(tmp_path / "missing")
    assert describe(err.value) == f"No such file or directory ({tmp_path / 'missing'})"
    with pytest.raises(json.JSONDecodeError) as err:
        json.loads('{"a": }')
    assert describe(err.value) == "invalid JSON: Expecting value (line 1, column 7)"
    assert describe(RuntimeError("a bug")) is None


ROOT = Path(__file__).resolve().parents[1]


def test_demo_serve_prints_a_scrapy_command_that_crawls_the_sample_site(tmp_path):
    import signal
    import urllib.request

    from crawlers.recipe import load_recipe

    # Ctrl-C restored in the child: a suite started in the background (`make test &`) passes SIGINT on ignored,
    # and Python then never raises KeyboardInterrupt.
    server = subprocess.Popen(
        [*CMD, "demo", "--serve"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        lines = []
        while not lines or not lines[-1].startswith("The recipe file lasts"):
            line = server.stdout.readline()
            assert line, f"--serve stopped before printing its commands: {lines}"
            lines.append(line.strip())
        start = next(x for x in lines if x.startswith("scrapy crawl site -a start_url="))
        recipe = next(x for x in lines if "-a recipe=" in x).split("-a recipe=")[1].split()[0]
        base = start.split("start_url=")[1].split("/index.html")[0]
        assert base.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(base + "/robots.txt", timeout=10) as resp:
            assert f"Sitemap: {base}/sitemap.xml" in resp.read().decode()
        assert load_recipe(recipe).start_urls == [base + "/index.html"]  # the printed recipe has the address in
        # The printed command as a user pastes it, with its output (and cache) sent to tmp_path.
        command = start.replace("out/sample-crawl", str(tmp_path / "crawl")).split()[1:]
        crawl = subprocess.run(
            [sys.executable, "-m", "scrapy", *command, "-s", f"HTTPCACHE_DIR={tmp_path / 'cache'}"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert crawl.returncode == 0, crawl.stderr[-2000:]
        stats = json.loads((tmp_path / "crawl" / "crawl_stats.json").read_text(encoding="utf-8"))
        assert stats["documents"]["kept"] >= 20 and stats["qa"]["kept"] >= 10
    finally:
        server.send_signal(signal.SIGINT)
        rest, _ = server.communicate(timeout=120)
    assert server.returncode == 0 and rest.strip() == "stopped"
    assert not Path(recipe).exists()  # the filled-in recipe goes with the server


def test_sample_recipe_placeholder_is_one_line_in_scrapy_and_base_url_fills_it(tmp_path):
    from crawlers.recipe import RECIPES_DIR, load_recipe

    sample = RECIPES_DIR / "sample_site.yaml"
    assert load_recipe(sample, base_url="http://127.0.0.1:8123/").sitemaps == ["http://127.0.0.1:8123/sitemap.xml"]
    proc = subprocess.run(
        [sys.executable, "-m", "scrapy", "crawl", "site", "-a", f"recipe={sample}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "SCRAPY_SETTINGS_MODULE": "crawlers.settings"},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: the recipe's URLs start with the placeholder __BASE_URL__") and "base_url=" in last
