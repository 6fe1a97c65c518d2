"""Pretraining text for the tiny base: Document records, CodeUnit records, or a source folder / git repository.

Whatever the input, the text of held-out records (``exclude_refs``, their ``source_ref``s) is left out: a base
that read a held-out answer in pretraining would make the verdict's held-out loss and pairing gain lie.
Code refs (``repo@commit:path:start-end``) remove those lines of that file; web refs remove the whole page.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from crawlers.code.extract import MAX_FILE_BYTES, content_skip_reason, normalise_newlines
from crawlers.code.filters import VENDOR_PATH
from crawlers.code.repo import _git, display_path, list_files
from crawlers.code.units import EXTENSIONS
from validate.contracts import CodeUnit, Document
from validate.errors import ContractError, DataAgentError
from validate.io import SUFFIXES, load_table, validate_frame
from validate.publish import source_key

# repo@commit:path:start-end, as crawlers/code records make it. The repo may itself hold "@" and ":"
# (git@host:owner/name), so it is matched greedily up to the last "@<sha>:"; the path may hold ":".
_CODE_REF = re.compile(r"^(?P<repo>.+)@(?P<commit>[0-9a-f]{7,40}):(?P<path>.+):(?P<start>\d+)-(?P<end>\d+)$")
# Git's own binary test: a NUL in the first 8000 bytes.
_BINARY_PROBE = 8000
_GIT_MODE_FILE = ("100644", "100755")  # symlinks (120000) and submodules (160000) are never read


@dataclass(frozen=True)
class CodeRef:
    repo: str
    commit: str
    path: str
    start: int
    end: int


def parse_code_ref(ref: str) -> CodeRef | None:
    """The parts of a code record's ``source_ref``; None for anything else (a URL, a self-instruct tag)."""
    m = _CODE_REF.match(ref)
    if not m:
        return None
    return CodeRef(m["repo"], m["commit"], m["path"], int(m["start"]), int(m["end"]))


def _same_commit(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def cut_lines(text: str, ranges: list[tuple[int, int]], first_line: int = 1) -> str:
    """``text`` without the 1-based inclusive line ``ranges``; ``first_line`` is the number of its first line."""
    lines = text.split("\n")
    drop = set()
    for start, end in ranges:
        drop.update(range(max(start, first_line) - first_line, min(end, first_line + len(lines) - 1) - first_line + 1))
    return "\n".join(line for i, line in enumerate(lines) if i not in drop)


def load_documents(path: str, exclude_refs: set[str] | None = None, *, stats: dict | None = None) -> list[str]:
    """Texts for the tiny base's causal-LM pass, read from ``path``:

    - Document records (.jsonl/.parquet with a ``text`` field): each page's text; a page whose URL is (by
      ``validate.publish.source_key``) the source of a held-out record is left out whole.
    - CodeUnit records (the file ``dataagent extract-code`` writes): each unit's code; a unit named by a
      held-out ref is dropped, and the held-out lines are cut out of any unit that contains them (a class
      around a held-out method).
    - a source folder or git repository: every file with an extension the code extractor knows (git's
      tracked files when it is a checkout, so ignored build output never counts), less .git, hidden and
      vendored folders, symlinks, binary, generated and minified files; read as UTF-8 with replacement and
      with the extractor's newline rule, so ref line numbers point at the same lines. Held-out lines are
      cut out of their file.

    A code ref whose commit is not the one the text was read at (a checkout's HEAD, a unit's commit) drops
    the whole file: its line numbers may no longer point at the held-out lines. ``stats``, when given,
    receives counts of what was read, skipped and excluded. Raises DataAgentError (one line) when the path
    cannot be read or nothing is left to pretrain on.
    """
    stats = stats if stats is not None else {}
    refs = set(exclude_refs or ())
    where = Path(path)
    if not where.exists():
        raise DataAgentError("documents: no such file or directory", path)
    if where.is_dir():
        texts = _from_folder(where, refs, stats)
        empty = f"documents: no source files (extensions {', '.join(sorted(set(EXTENSIONS)))}) left to pretrain on"
    elif where.name.endswith(SUFFIXES):
        texts, empty = _from_records(where, refs, stats), "documents: no text left to pretrain on"
    else:
        raise DataAgentError(
            "documents: expected Document or CodeUnit records (.jsonl, .parquet) or a source folder", path
        )
    if not texts:
        held = " after leaving out the held-out records' text" if refs else ""
        raise DataAgentError(empty + held, path)
    return texts


def _code_exclusions(refs: set[str]) -> dict[str, list[CodeRef]]:
    by_path: dict[str, list[CodeRef]] = {}
    for ref in refs:
        code = parse_code_ref(ref)
        if code:
            by_path.setdefault(code.path, []).append(code)
    return by_path


def _from_records(path: Path, refs: set[str], stats: dict) -> list[str]:
    frame = load_table(path).frame
    if {"code", "start_line", "end_line", "path", "commit"} <= set(frame.columns):
        units = _checked(frame, CodeUnit, "code", path)
        return _from_units(units, refs, stats)
    if "text" not in frame.columns:
        raise ContractError(
            str(path), None, "text", "a 'text' field (Document records) or 'code' field (CodeUnit records)"
        )
    docs = _checked(frame, Document, "text", path)
    held = {source_key(r) for r in refs if not parse_code_ref(r)}
    keys = [source_key(str(u)) for u in docs["url"]], [source_key(str(u)) for u in docs["canonical_url"]]
    out = [t for t, a, b in zip(docs["text"], *keys, strict=True) if a not in held and b not in held]
    stats.update(kind="documents", documents=len(docs), excluded_documents=len(docs) - len(out))
    return out


def _checked(frame: pd.DataFrame, model: type, column: str, path: Path) -> pd.DataFrame:
    """The frame validated against ``model``; a non-string ``column`` value is refused, not coerced to its repr."""
    for i, value in enumerate(frame[column]):
        if not isinstance(value, str):
            raise ContractError(str(path), i + 1, column, "a string", value)
    return validate_frame(frame, model, path)


def _from_units(units: pd.DataFrame, refs: set[str], stats: dict) -> list[str]:
    by_path = _code_exclusions(refs)
    out: list[str] = []
    dropped = cut = 0
    for row in units.itertuples(index=False):
        start, end = int(row.start_line), int(row.end_line)
        held = by_path.get(row.path, [])
        if f"{row.repo}@{row.commit}:{row.path}:{start}-{end}" in refs or any(
            not _same_commit(h.commit, row.commit) for h in held
        ):
            dropped += 1
            continue
        ranges = [(h.start, h.end) for h in held if h.start <= end and h.end >= start]
        if not ranges:
            out.append(row.code)
            continue
        text = cut_lines(row.code, ranges, first_line=start)
        if text.strip():
            out.append(text)
            cut += 1
        else:
            dropped += 1
    stats.update(kind="code_units", units=len(units), excluded_units=dropped, units_with_lines_cut=cut)
    return out


def _from_folder(root: Path, refs: set[str], stats: dict) -> list[str]:
    files, prefix, head = _list_folder(root)
    by_path = _code_exclusions(refs)
    counts = {"files": 0, "skipped": 0, "excluded_files": 0, "files_with_lines_cut": 0}
    out: list[str] = []
    for rel in files:
        shown = display_path(rel)
        text = _read_source(root / rel, shown)
        if text is None:
            counts["skipped"] += 1
            continue
        counts["files"] += 1
        # Refs name paths from the checkout's root; a subfolder of a checkout lists paths below it.
        held = by_path.get(prefix + shown, []) or (by_path.get(shown, []) if prefix else [])
        if held:
            if head is not None and any(not _same_commit(h.commit, head) for h in held):
                counts["excluded_files"] += 1
                continue
            text = cut_lines(text, [(h.start, h.end) for h in held])
            counts["files_with_lines_cut"] += 1
        if text.strip():
            out.append(text)
    stats.update(kind="source_folder", **counts)
    return out


def _list_folder(root: Path) -> tuple[list[str], str, str | None]:
    """(files relative to ``root``, ``root``'s path inside its checkout, the checkout's HEAD or None).

    A checkout lists git's tracked files, so .gitignore'd build output and virtual environments never count;
    a plain folder is walked, skipping hidden folders (.git, .venv) and never following links.
    """
    try:
        prefix = _git(root, "rev-parse", "--show-prefix", where=root).decode("utf-8", "replace").strip()
    except DataAgentError:
        prefix = None
    if prefix is not None:
        try:
            head: str | None = _git(root, "rev-parse", "HEAD", where=root).decode("ascii").strip()
        except DataAgentError:
            head = None  # a fresh repository with no commit yet: its files are still text
        tracked = list_files(root)
        if tracked:  # an untracked folder inside some checkout is a plain folder
            return [rel for rel, mode in tracked if mode in _GIT_MODE_FILE and _wanted(prefix + rel)], prefix, head
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not (Path(folder, d) / "pyvenv.cfg").exists())
        rel_folder = os.path.relpath(folder, root)
        for name in sorted(names):
            rel = name if rel_folder == "." else f"{rel_folder}/{name}"
            if _wanted(rel):
                files.append(rel)
    return files, "", None


def _wanted(rel: str) -> bool:
    return Path(rel).suffix in EXTENSIONS and not VENDOR_PATH.search("/" + rel) and ".min." not in rel


def _read_source(path: Path, shown: str) -> str | None:
    """The file's text, or None when it is not a regular file, too large, binary, generated or minified."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size == 0 or st.st_size > MAX_FILE_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None  # vanished or unreadable since it was listed: one file never ends the run
    if b"\0" in data[:_BINARY_PROBE]:
        return None
    text = normalise_newlines(data.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace"))
    return None if content_skip_reason(shown, text) else text
