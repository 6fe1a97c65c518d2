"""Python truth from ``ast``: every ``def`` and ``async def`` at any depth, its line and its docstring.

What counts: each ``FunctionDef`` and ``AsyncFunctionDef`` that ``ast.parse`` (the running Python) finds
anywhere in a file: module functions, methods, functions nested in functions, classes, conditionals and
``try`` blocks. Lambdas have no name and are not counted. The line is ``node.lineno``, the line of ``def``
(and so of the name: decorators are on earlier lines since Python 3.8).

The doc is ``ast.get_docstring(node, clean=True)``. A function without a docstring gives no opinion
(``None``): Python has no other doc syntax, and the extractor may then take a leading ``#`` comment, which
``ast`` cannot see.

Sources are PyPI sdists, which carry the projects' tests (``pip download --no-binary :all:``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from code_truth import Project, Truth, source_files  # noqa: E402
from truth_fetch import set_aside  # noqa: E402

LANGS = ("python",)

# (distribution, version, what, dev)
_SOURCES = [
    ("sympy", "1.12", "SymPy, computer algebra: core, solvers, printing, physics, with tests", True),
    ("Django", "4.2.11", "Django, the web framework: ORM, templates, admin, with its test suite", False),
    ("rich", "13.7.1", "rich, terminal rendering: text, tables, syntax highlighting", False),
    ("requests", "2.31.0", "requests, the HTTP client, with tests", False),
]
_SMALL = ("requests", "2.31.0", "requests, the HTTP client, with tests", False)


def _parse(path: Path) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escapes and the like: warnings, not errors, to Python too
        return ast.parse(path.read_bytes(), filename=str(path))  # bytes: ast honours coding cookies


def _rejected(root: Path, files: list[str]) -> dict[str, str]:
    bad = {}
    for rel in files:
        try:
            _parse(root / rel)
        except (SyntaxError, ValueError) as exc:  # ValueError: a NUL byte in the source
            bad[rel] = f"{type(exc).__name__}: {exc}"
    return bad


def _sdist(cache: Path, dist: str, version: str) -> Path:
    """``pip download --no-deps --no-binary :all: dist==version``, unpacked once; the folder it unpacks to."""
    dest = cache / f"{dist}-{version}"
    if not dest.is_dir():
        downloads = cache / "sdist"
        downloads.mkdir(parents=True, exist_ok=True)
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:", "-d"]
        subprocess.run([*pip, str(downloads), f"{dist}=={version}"], check=True)
        (archive,) = [p for p in downloads.glob("*.tar.gz") if p.name.lower() == f"{dist}-{version}.tar.gz".lower()]
        tmp = cache / f"{dist}-{version}.tmp"
        with tarfile.open(archive) as tf:
            tf.extractall(tmp, filter="data")
        tmp.rename(dest)
    (root,) = [p for p in dest.iterdir() if p.is_dir() and p.name != "rejected"]
    return root


def _project(cache: Path, source: tuple) -> Project:
    dist, version, what, dev = source
    root = _sdist(cache, dist, version)
    files = source_files(Project("python", dist, "", root), LANGS)
    record = set_aside(root.parent, root, files, lambda fs: _rejected(root, fs))
    return Project(
        lang="python",
        name=f"pypi:{dist}@{version}",
        obtained=f"pip download --no-deps --no-binary :all: {dist}=={version}; tar xzf; "
        f"{len(record['rejected'])} of {record['files']} .py files Python {sys.version.split()[0]} rejects set aside",
        root=root,
        what=f"{'DEV' if dev else 'held-out'}: {what}",
    )


def projects(cache: Path, small: bool = False) -> list[Project]:
    """The pinned sdists (one small one with ``small``); the first is the DEV project, the rest held out."""
    return [_project(cache, s) for s in ([_SMALL] if small else _SOURCES)]


def truth(project: Project, files: list[str]) -> list[Truth]:
    """ast's functions in these files (see the module doc); a file ``ast`` rejects contributes none."""
    items = []
    for rel in files:
        try:
            tree = _parse(project.root / rel)
        except (SyntaxError, ValueError):
            print(f"    ast: {rel} rejected", file=sys.stderr)
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                items.append(Truth(rel, node.name, node.lineno, ast.get_docstring(node, clean=True)))
    return items
