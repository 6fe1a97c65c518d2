"""Accuracy of Python extraction, measured against Python's own ``ast`` on the standard library.

The running interpreter's standard library is copied into a temporary git repository and put
through the project's repository-level extraction. Every function and method that ``ast`` sees
(FunctionDef / AsyncFunctionDef, at any depth) is one expected item, keyed by
(file, qualified name, docstring):

* the qualified name mirrors ``crawlers.code.units``: the names of every enclosing class *and*
  function, joined with "." (``Outer.method.helper``); ``if``/``try``/``with`` blocks add nothing;
* the docstring is ``ast.get_docstring(node)``, or "" when there is none. Where ``ast`` finds no
  docstring the extractor is allowed to use a leading ``#`` comment instead, so for those
  functions only (file, qualified name) is compared; where ``ast`` finds one it must match exactly.

The items are compared as multisets, so a second ``def`` of the same name in the same scope
(property setters, ``if``/``else`` variants) must be found too. Precision, recall and F1 are
printed (``pytest -s``) and F1 must be at least 0.99 over at least 3,000 functions.

``bench/code_bench.py`` imports the helpers below so that its F1 is computed the same way.
"""

from __future__ import annotations

import ast
import inspect
import os
import re
import subprocess
import sysconfig
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from crawlers.code import extract as code_extract
from crawlers.code.units import extract_units

STDLIB = Path(sysconfig.get_paths()["stdlib"])
TEST_SKIP_DIRS = frozenset({"site-packages", "test", "tests", "idlelib", "lib2to3"})
# Deterministic cap on the sample: files sorted by (size, path), smallest first, until this many
# bytes. The whole filtered stdlib (~600 files, ~11 MB) takes a few seconds, so the cap only
# matters for a much larger standard library.
TEST_MAX_BYTES = 16_000_000
MIN_FUNCTIONS = 3000
MIN_F1 = 0.99

Item = tuple[str, str, str]  # (file, qualified name, docstring)

# extract_repo options that never drop units, and the known ways to switch its filters off.
_HARMLESS_OPTIONS = frozenset({"repo", "stats", "workers", "languages", "workdir", "progress"})
_FILTERS_OFF = {
    "filters": None,
    "filter": None,
    "apply_filters": False,
    "use_filters": False,
    "raw": True,
    "unfiltered": True,
    "no_filters": True,
}
_FILTER_LIKE = re.compile(r"filter|config|policy|min_|max_|skip|exclude|dedup|drop|keep|require")


def stdlib_sources(
    skip_dirs: Iterable[str] = TEST_SKIP_DIRS, max_bytes: int | None = None, root: Path = STDLIB
) -> list[tuple[str, bytes]]:
    """(relative path, bytes) of every stdlib ``*.py`` that is UTF-8 and that ``ast`` parses, sorted by path."""
    skip = frozenset(skip_dirs)
    files = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if skip.intersection(rel.parts[:-1]) or not path.is_file() or path.is_symlink():
            continue
        source = path.read_bytes()
        try:
            source.decode("utf-8")
            ast.parse(source)
        except (UnicodeDecodeError, SyntaxError, ValueError):
            continue
        files.append((rel.as_posix(), source))
    if max_bytes is not None:
        kept, total = set(), 0
        for rel, source in sorted(files, key=lambda f: (len(f[1]), f[0])):
            if total + len(source) > max_bytes:
                break
            kept.add(rel)
            total += len(source)
        files = [f for f in files if f[0] in kept]
    return files


def make_git_repo(files: Iterable[tuple[str, bytes]], dest: Path) -> Path:
    """Write ``files`` under ``dest`` and commit them as one commit of a new repository."""
    for rel, source in files:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    git += ["-c", "init.defaultBranch=main", "-c", "core.autocrlf=false"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-verify", "-m", "stdlib"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)
    return dest


def ast_functions(path: str, source: bytes | str) -> list[Item]:
    """Every function and method ``ast`` finds, with the qualified name ``units.py`` would give it."""
    items: list[Item] = []

    def visit(node: ast.AST, scope: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                items.append((path, ".".join([*scope, child.name]), ast.get_docstring(child) or ""))
                visit(child, [*scope, child.name])
            elif isinstance(child, ast.ClassDef):
                visit(child, [*scope, child.name])
            else:
                visit(child, scope)

    visit(ast.parse(source), [])
    return items


def extraction_plan(workers: int | None = None) -> tuple[dict | None, str]:
    """Keyword arguments for an unfiltered ``extract_repo`` call, or None when there is no known way.

    Read from ``extract_repo``'s signature at run time, because it is still growing options
    (``workers=``, CodeSearchNet-style filters). A parameter whose annotation names a class with an
    ``off()`` constructor (``cfg: FilterConfig | None``) gets ``off()``; ``filters=None`` and the like
    are recognised by name.
    """
    params = inspect.signature(code_extract.extract_repo).parameters
    kwargs: dict = {}
    unknown = []
    for name, param in params.items():
        if name in _HARMLESS_OPTIONS or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        off = _off_config(param)
        if off is not _NO_SWITCH:
            kwargs[name] = off
        elif name in _FILTERS_OFF:
            kwargs[name] = _FILTERS_OFF[name]
        elif _FILTER_LIKE.search(name):
            unknown.append(name)
    if unknown and not kwargs:
        return None, f"extract_units per file (extract_repo has {unknown} and no known switch to turn filters off)"
    if workers is not None and "workers" in params:
        kwargs["workers"] = workers
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    return kwargs, f"extract_repo(path{', ' + shown if shown else ''})"


_NO_SWITCH = object()


def _off_config(param: inspect.Parameter) -> object:
    """``Cls.off()`` for the first class named in the annotation that has one, else ``_NO_SWITCH``."""
    for name in re.findall(r"[A-Za-z_]\w*", str(param.annotation)):
        cls = getattr(code_extract, name, None)
        if isinstance(cls, type) and callable(getattr(cls, "off", None)):
            return cls.off()
    return _NO_SWITCH


def extract_functions(
    repo: Path, files: Iterable[tuple[str, bytes]], workers: int | None = None
) -> tuple[list[Item], set[str], str]:
    """Our (file, qualified name, docstring) for every function and method, the files skipped, and how.

    Prefers the project's repository-level ``extract_repo`` with its unit filters off. Files it
    skips by design whatever the filters (e.g. ``skipped/generated``: a header saying the file is
    auto-generated) are returned so that the caller leaves them out of the comparison; they are the
    files with no units at all where ``ast`` finds some, at most as many as the stats say were
    skipped. When the filters cannot be switched off -- no known switch, or the stats still show
    ``filtered/*`` units -- this falls back to ``crawlers.code.units.extract_units`` on each file,
    which measures the extractor itself rather than a filtered selection of its output.
    """
    files = list(files)
    kwargs, how = extraction_plan(workers)
    if kwargs is not None:
        stats: Counter = Counter()
        df = code_extract.extract_repo(str(repo), stats=stats, **kwargs)
        filtered = {k: v for k, v in stats.items() if v and k.startswith("filtered")}
        if not filtered:
            rows = df[df["kind"] != "class"]
            items = list(zip(rows["path"], rows["qualified_name"], rows["docstring"], strict=True))
            # Empty and non-source files hold no functions, so they cannot account for a silent file.
            harmless = ("skipped/empty", "skipped/not_source")
            n_skipped = sum(v for k, v in stats.items() if k.startswith("skipped/") and k not in harmless)
            seen = set(df["path"])
            silent = [rel for rel, source in files if rel not in seen and ast_functions(rel, source)]
            skipped = set(silent) if len(silent) <= n_skipped else set()
            reasons = {k: v for k, v in stats.items() if v and k.startswith("skipped/")}
            return items, skipped, f"{how}; file skips {reasons or 'none'}"
        how = f"extract_units per file, because {how} still filtered units: {filtered}"
    items = [
        (rel, unit.qualified_name, unit.docstring)
        for rel, source in files
        for unit in extract_units(source, "python")
        if unit.kind != "class"
    ]
    return items, set(), how


def score(ours: Iterable[Item], want: Iterable[Item]) -> dict:
    """Precision, recall and F1 of ``ours`` against ``want`` (multisets), docs compared where ``ast`` has one."""
    want = Counter(want)
    documented = {item for item in want if item[2]}
    # Anything ast sees no docstring for is compared on (file, qualified name) only.
    got = Counter(item if item in documented else (item[0], item[1], "") for item in ours)
    matched = sum((got & want).values())
    n_got, n_want = sum(got.values()), sum(want.values())
    precision = matched / n_got if n_got else 0.0
    recall = matched / n_want if n_want else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "functions": n_want,
        "documented": sum(n for item, n in want.items() if item[2]),
        "extracted": n_got,
        "matched": matched,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "missing": want - got,
        "extra": got - want,
    }


def describe(result: dict, limit: int = 15) -> str:
    lines = [
        f"functions={result['functions']} (with docstring {result['documented']}) extracted={result['extracted']} "
        f"matched={result['matched']} precision={result['precision']:.4f} recall={result['recall']:.4f} "
        f"F1={result['f1']:.4f}"
    ]
    for label in ("missing", "extra"):
        for (path, name, doc), n in list(result[label].items())[:limit]:
            lines.append(f"  {label}: {path}:{name} x{n} doc={doc[:60]!r}")
    return "\n".join(lines)


def test_python_functions_and_docstrings_match_ast_on_stdlib(tmp_path):
    files = stdlib_sources(TEST_SKIP_DIRS, max_bytes=TEST_MAX_BYTES)
    repo = make_git_repo(files, tmp_path / "stdlib")
    ours, skipped, how = extract_functions(repo, files, workers=os.cpu_count())
    want = [item for rel, source in files if rel not in skipped for item in ast_functions(rel, source)]
    result = score(ours, want)
    report = describe(result)
    mb = sum(len(s) for _, s in files) / 1e6
    print(f"\n{len(files)} stdlib files, {mb:.1f} MB, via {how}; left out as skipped by design: {sorted(skipped)}")
    print(report)
    assert result["functions"] >= MIN_FUNCTIONS, report
    assert result["f1"] >= MIN_F1, report
