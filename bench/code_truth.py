"""The shared half of the real-code extraction harness: projects, truth items, matching and scores.

A language module (``bench/truth_<lang>.py``) knows where real code of its language comes from (a
registry, fetched at bench time into ``out/code_truth/``, never committed) and how that language's own
parser lists its functions; this module turns both into P/R/F1 and doc agreement the same way for all.

What counts as one function: every function, method, constructor, accessor and named function value
(``const f = () => ...``, ``obj.f = function () {}``) the language's own parser sees, at any depth, tests
and examples included. Classes are not counted (every parser agrees on those; functions are where the
extractor lost units).

Matching: a truth item and an extracted unit of kind function/method match when they are in the same file,
carry the same bare name, and the truth's line (the line of the name) lies within the unit's lines. Items
are multisets, matched greedily nearest-first, so two same-named functions in one file must both be found.

Doc agreement is over matched pairs whose truth has an opinion (``doc is not None``): the extractor's doc
and the truth's, each with comment markers stripped and whitespace collapsed, must be equal.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crawlers.code.extract import content_skip_reason, decode_source, normalise_newlines  # noqa: E402
from crawlers.code.units import EXTENSIONS  # noqa: E402

CACHE = ROOT / "out" / "code_truth"


@dataclass(frozen=True)
class Project:
    lang: str  # the language key of crawlers.code.units.SPECS that this project is scored for
    name: str  # e.g. "npm:lodash-es@4.17.21"
    obtained: str  # how it was obtained, in words a reader can repeat ("npm pack lodash-es@4.17.21")
    root: Path  # folder holding the sources (tests and examples included)
    what: str = ""  # one line on what the project is


@dataclass(frozen=True)
class Truth:
    file: str  # posix path relative to Project.root
    name: str  # bare name, as the extractor's ``symbol``
    line: int  # 1-based line of the name
    doc: str | None  # the doc the language's tooling attaches ("" for none); None: no opinion


def source_files(project: Project, langs: Iterable[str]) -> list[str]:
    """Files of these languages under the root (by the extractor's own extension table), sorted."""
    wanted = set(langs)
    return sorted(
        p.relative_to(project.root).as_posix()
        for p in project.root.rglob("*")
        if p.is_file() and not p.is_symlink() and EXTENSIONS.get(p.suffix) in wanted
    )


def skipped_by_content(root: Path, rel: str) -> str | None:
    """Why the extractor skips a whole file by design (generated, minified, binary), or None."""
    try:
        text, _ = decode_source((root / rel).read_bytes())
    except Exception as exc:  # noqa: BLE001 - a binary file is the extractor's _Skip
        return type(exc).__name__
    return content_skip_reason(rel, normalise_newlines(text))


def git_copy(project: Project, files: list[str], dest: Path) -> Path:
    """The files committed to a fresh git repository (the extractor reads checkouts, as users give them)."""
    if dest.exists():
        shutil.rmtree(dest)
    for rel in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(project.root / rel, target)
    git = ["git", "-C", str(dest), "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A", "-f"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "snapshot", "--no-verify"], check=True)
    return dest


_MARKERS = re.compile(r"^\s*(/\*\*+|/\*!?|\*+/|\*|//!|///?|#)\s?")  # `//!` tried before `//`


def norm_doc(doc: str) -> str:
    """Comment markers off every line, whitespace collapsed: both sides compared as plain words.

    Runs of asterisks are left out as words: SQLite's `**` line prefixes and `/****** Name ******/` banners
    are decoration to Doxygen and to clang's comment parser alike, and how many a side strips is not a
    difference in the doc.
    """
    lines = []
    for line in doc.splitlines():
        line = line.rstrip()
        line = line[:-2] if line.endswith("*/") else line
        lines.append(_MARKERS.sub("", line, count=1))
    return " ".join(word for word in " ".join(lines).split() if word.strip("*"))


@dataclass
class Score:
    truth: int = 0
    found: int = 0
    matched: int = 0
    doc_compared: int = 0
    doc_agreed: int = 0
    misses: list | None = None
    extras: list | None = None
    doc_diffs: list | None = None

    @property
    def precision(self) -> float:
        return self.matched / self.found if self.found else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def doc_agreement(self) -> float:
        return self.doc_agreed / self.doc_compared if self.doc_compared else 1.0

    def add(self, other: Score) -> None:
        for f in ("truth", "found", "matched", "doc_compared", "doc_agreed"):
            setattr(self, f, getattr(self, f) + getattr(other, f))


def match(truths: list[Truth], units: list[dict], keep_examples: int = 20) -> Score:
    """Greedy nearest-first matching of truth items to extracted function/method units (see module doc)."""
    by_key: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for u in units:
        by_key[(u["path"], u["symbol"])].append(u)
    score = Score(truth=len(truths), found=len(units), misses=[], extras=[], doc_diffs=[])
    used: set[int] = set()
    for t in sorted(truths, key=lambda t: (t.file, t.line)):
        cands = [
            u
            for u in by_key.get((t.file, t.name), [])
            if id(u) not in used and u["start_line"] <= t.line <= u["end_line"]
        ]
        if not cands:
            if len(score.misses) < keep_examples:
                score.misses.append(f"{t.file}:{t.line} {t.name}")
            continue
        # The innermost unit that spans the line: an outer function spans its nested ones too.
        u = min(cands, key=lambda u: (u["end_line"] - u["start_line"], abs(u["start_line"] - t.line)))
        used.add(id(u))
        score.matched += 1
        if t.doc is not None:
            score.doc_compared += 1
            if norm_doc(t.doc) == norm_doc(u["docstring"] or ""):
                score.doc_agreed += 1
            elif len(score.doc_diffs) < keep_examples:
                got = norm_doc(u["docstring"] or "")[:80]
                score.doc_diffs.append(f"{t.file}:{t.line} {t.name}: truth {norm_doc(t.doc)[:80]!r} got {got!r}")
    for u in units:
        if id(u) not in used and len(score.extras) < keep_examples:
            score.extras.append(f"{u['path']}:{u['start_line']} {u['symbol']}")
    return score


def skip_counts(reasons: Iterable[str | None]) -> Counter:
    return Counter(r for r in reasons if r)
