"""train.documents: pretraining text from Document records, CodeUnit files and source folders, less held-out lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from conftest import document_row

from crawlers.code.extract import extract_repos
from synth.generators.code_tasks import _ref
from tests.test_code_repos import make_repo
from train.documents import cut_lines, load_documents, parse_code_ref
from validate.contracts import CodeUnit, Document
from validate.errors import DataAgentError
from validate.io import write_records
from validate.text import content_hash

LEDGER = '''"""Ledger arithmetic for the tests."""


class Ledger:
    """Keep a running total of posted amounts."""

    def __init__(self):
        self.total = 0

    def add(self, amount):
        """Add an amount to the running ledger total."""
        checked = float(amount)
        self.total = self.total + checked * 7919
        return self.total


def settle(ledger, account):
    """Settle the account and return the final balance owed."""
    balance = ledger.total
    ledger.total = 0
    return balance - 104729
'''
HELPER = """function scale(value, factor) {
  // Multiply a value by a factor and round it down.
  const product = value * factor;
  return Math.floor(product + 0.5);
}
"""
HELD_MARK = "checked * 7919"  # only in Ledger.add, the held-out unit


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = make_repo(
        tmp_path_factory.mktemp("docs-repo") / "ledgerkit",
        {
            "ledgerkit/ledger.py": LEDGER,
            "web/helper.js": HELPER,
            "node_modules/dep/index.js": "function vendored() { return 'VENDORED'; }\n",
            "web/app.min.js": "var a=1;" * 400,  # one 3 KB line: minified
            "blob.py": b"\x00\x01BINARY" * 50,
            "README.md": "# not source\n",
            ".gitignore": "scratch/\n",
        },
    )
    (root / "scratch").mkdir()
    (root / "scratch" / "notes.py").write_text("IGNORED_SCRATCH = 1\n")  # ignored by git: never pretraining text
    return root


@pytest.fixture(scope="module")
def units(repo) -> pd.DataFrame:
    return extract_repos([str(repo)], workers=1)


def _held_ref(units: pd.DataFrame) -> str:
    row = units.loc[units["qualified_name"] == "Ledger.add"].iloc[0]
    return _ref(row)


def test_git_repository_reads_tracked_source_files_only(repo):
    stats: dict = {}
    texts = load_documents(str(repo), stats=stats)
    joined = "\n".join(texts)
    assert len(texts) == 2  # ledger.py and helper.js
    assert HELD_MARK in joined and "Math.floor" in joined
    for absent in ("VENDORED", "var a=1;", "BINARY", "not source", "IGNORED_SCRATCH"):
        assert absent not in joined
    assert stats["kind"] == "source_folder" and stats["files"] == 2


def test_held_out_lines_are_cut_from_the_repository_file(repo, units):
    ref = _held_ref(units)
    code = parse_code_ref(ref)
    assert code is not None and code.path == "ledgerkit/ledger.py"
    texts = load_documents(str(repo), exclude_refs={ref, "https://example.org/a-web-page"})
    ledger = next(t for t in texts if "class Ledger" in t)
    assert HELD_MARK not in ledger and "def add" not in ledger
    # Everything outside the held-out lines is still there, line for line.
    want = cut_lines(LEDGER, [(code.start, code.end)])
    assert ledger == want and "104729" in ledger and "self.total = 0" in ledger


def test_a_subfolder_of_a_checkout_matches_refs_by_their_root_relative_path(repo, units):
    texts = load_documents(str(repo / "ledgerkit"), exclude_refs={_held_ref(units)})
    assert len(texts) == 1 and HELD_MARK not in texts[0] and "104729" in texts[0]


def test_a_ref_at_another_commit_drops_the_whole_file(repo, units):
    stale = _held_ref(units).replace(str(units["commit"].iloc[0]), "0" * 40)
    stats: dict = {}
    texts = load_documents(str(repo), exclude_refs={stale}, stats=stats)
    assert not any("class Ledger" in t for t in texts) and stats["excluded_files"] == 1


def test_plain_folder_skips_hidden_and_virtualenv_folders(repo, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(repo, plain, ignore=shutil.ignore_patterns(".git"))
    (plain / ".venv" / "lib").mkdir(parents=True)
    (plain / ".venv" / "lib" / "site.py").write_text("HIDDEN_VENV = 1\n")
    (plain / "env" / "lib").mkdir(parents=True)
    (plain / "env" / "pyvenv.cfg").write_text("home = /usr\n")
    (plain / "env" / "lib" / "mod.py").write_text("PLAIN_VENV = 1\n")
    joined = "\n".join(load_documents(str(plain)))
    assert HELD_MARK in joined and "Math.floor" in joined
    for absent in ("HIDDEN_VENV", "PLAIN_VENV", "VENDORED", "var a=1;", "BINARY"):
        assert absent not in joined
    assert "IGNORED_SCRATCH" in joined  # no git here, so nothing says scratch/ is ignored


def test_codeunit_file_drops_held_out_units_and_their_lines_inside_a_class(units, tmp_path):
    jsonl, parquet = write_records(units, tmp_path / "units", CodeUnit)
    assert set(units["qualified_name"]) >= {"Ledger", "Ledger.add", "settle"}
    everything = load_documents(str(parquet))
    assert len(everything) == len(units) and sum(HELD_MARK in t for t in everything) == 2  # the class and the method
    stats: dict = {}
    texts = load_documents(str(jsonl), exclude_refs={_held_ref(units)}, stats=stats)
    assert not any(HELD_MARK in t for t in texts)
    assert len(texts) == len(units) - 1
    klass = next(t for t in texts if t.startswith("class Ledger"))
    assert "def __init__" in klass and "def add" not in klass
    assert stats == {"kind": "code_units", "units": len(units), "excluded_units": 1, "units_with_lines_cut": 1}


def _document(url: str, text: str) -> dict:
    return document_row(url, text, license="CC BY 4.0", content_hash=content_hash(text))


def test_document_records_leave_out_held_out_pages(tmp_path):
    docs = pd.DataFrame([_document(f"https://example.org/page{i}", f"Page {i} text.") for i in range(3)])
    _, parquet = write_records(docs, tmp_path / "documents", Document)
    assert load_documents(str(parquet)) == ["Page 0 text.", "Page 1 text.", "Page 2 text."]
    # http vs https and another port name the same page: the same source key the publish split uses.
    held = {"http://example.org/page1", "repo@" + "a" * 40 + ":x.py:1-2"}
    assert load_documents(str(parquet), exclude_refs=held) == ["Page 0 text.", "Page 2 text."]


def test_errors_are_one_line_and_name_the_path(tmp_path):
    with pytest.raises(DataAgentError, match=r"no such file or directory \(.*missing\)"):
        load_documents(str(tmp_path / "missing"))
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with pytest.raises(DataAgentError, match=r"expected Document or CodeUnit records .*notes\.txt"):
        load_documents(str(notes))
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"instruction": "x", "output": "y"}) + "\n")
    with pytest.raises(DataAgentError, match=r"'text' field .*other\.jsonl, column 'text'"):
        load_documents(str(other))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({**_document("https://example.org/", "x"), "text": ["a", "list"]}) + "\n")
    with pytest.raises(DataAgentError, match=r"expected a string.*bad\.jsonl, row 1, column 'text'"):
        load_documents(str(bad))
    empty = tmp_path / "empty-folder"
    (empty / "docs").mkdir(parents=True)
    (empty / "docs" / "a.md").write_text("# prose only\n")
    with pytest.raises(DataAgentError, match=r"no source files .* left to pretrain on \(.*empty-folder\)") as exc:
        load_documents(str(empty))
    assert "\n" not in str(exc.value)


def test_cut_lines_counts_from_the_units_first_line():
    assert cut_lines("a\nb\nc\nd", [(11, 12)], first_line=10) == "a\nd"
    assert cut_lines("a\nb", [(1, 99)]) == ""
    assert cut_lines("a\nb", [(5, 9)]) == "a\nb"
