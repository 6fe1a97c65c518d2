"""Code extraction throughput on the Python standard library, against tree-sitter alone and against ``ast``.

    .venv/bin/python bench/code_bench.py [--repeats 3]

Every ``*.py`` of the running interpreter's standard library (``site-packages`` and ``test``/``tests``
directories left out, and any file that is not UTF-8 or that ``ast`` cannot parse) is committed to a
temporary git repository, then timed, one warm-up and the median of ``--repeats`` runs each:

* raw parse     -- ``parser.parse`` of every file's bytes, already in memory: the limit;
* extract_units -- ``crawlers.code.units.extract_units`` per file, in memory (diagnostic: the
  extractor alone, without git, file reads, filters or the DataFrame);
* extract_repo  -- the project's repository-level extraction on the git copy, with its unit filters
  off so that it yields every unit, as the baseline does; with ``workers=1`` and
  ``workers=os.cpu_count()`` (or, if ``extract_repo`` has no ``workers`` yet, a
  ProcessPoolExecutor over files calling ``extract_units``; the output says which);
* ast baseline  -- read each file of the git copy, ``ast.parse`` it and take ``ast.get_docstring`` of
  every FunctionDef / AsyncFunctionDef / ClassDef: the anchor.

The F1 of extract_repo against ``ast`` is computed exactly as in ``tests/test_code_accuracy.py``.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import astuple
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

import tree_sitter  # noqa: E402
from test_code_accuracy import (  # noqa: E402
    ast_functions,
    describe,
    extract_functions,
    extraction_plan,
    make_git_repo,
    score,
    stdlib_sources,
)
from tree_sitter_language_pack import get_parser  # noqa: E402

from crawlers.code import extract as code_extract  # noqa: E402
from crawlers.code.units import extract_units  # noqa: E402

BENCH_SKIP_DIRS = frozenset({"site-packages", "test", "tests"})
GOAL_VS_AST = 1.0  # full extraction per core, as a multiple of the ast baseline's speed
GOAL_VS_PARSE = 2.0  # full extraction time at most this multiple of raw parse time
GOAL_SPEEDUP = 1.7  # all cores vs one core, on 2 cores


def timed(fn: Callable[[], int], repeats: int) -> tuple[float, int]:
    """Median seconds of ``repeats`` runs after one warm-up, and the unit count of the last run."""
    fn()
    times, units = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        units = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), units


def raw_parse(sources: list[bytes]) -> int:
    parser = get_parser("python")
    for source in sources:
        parser.parse(source)
    return 0


def units_in_memory(sources: list[bytes]) -> int:
    return sum(1 for source in sources for _ in extract_units(source, "python"))


def ast_baseline(root: Path, rels: list[str]) -> int:
    records = []
    for rel in rels:
        tree = ast.parse((root / rel).read_bytes())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                records.append((rel, node.name, ast.get_docstring(node) or ""))
    return len(records)


def _units_of_files(root: str, rels: list[str]) -> list[tuple]:
    """Worker task for the fallback: every unit of a chunk of files, as plain tuples."""
    return [(rel, *astuple(unit)) for rel in rels for unit in extract_units((Path(root) / rel).read_bytes(), "python")]


def pool_over_files(root: Path, rels: list[str], workers: int) -> int:
    """Fallback all-cores run when extract_repo has no ``workers``: chunks balanced by size."""
    by_size = sorted(rels, key=lambda rel: (root / rel).stat().st_size, reverse=True)
    chunks = [by_size[i :: workers * 4] for i in range(workers * 4)]
    with ProcessPoolExecutor(workers) as pool:
        return sum(len(rows) for rows in pool.map(_units_of_files, [str(root)] * len(chunks), chunks))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    files = stdlib_sources(BENCH_SKIP_DIRS)
    sources = [source for _, source in files]
    rels = [rel for rel, _ in files]
    mb = sum(map(len, sources)) / 1e6
    tmp = tempfile.TemporaryDirectory(prefix="code-bench-")
    root = make_git_repo(files, Path(tmp.name) / "stdlib")

    has_workers = "workers" in inspect.signature(code_extract.extract_repo).parameters
    kw1, how1 = extraction_plan(workers=1)
    kwn, hown = extraction_plan(workers=cores)
    if kw1 is None:
        sys.exit(f"extract_repo filters cannot be switched off: {how1}")

    def repo_run(kwargs: dict) -> Callable[[], int]:
        return lambda: len(code_extract.extract_repo(str(root), **kwargs))

    rows: list[tuple[str, float, int]] = []

    def run(label: str, fn: Callable[[], int]) -> float:
        seconds, units = timed(fn, args.repeats)
        rows.append((label, seconds, units))
        print(f"  done: {label} ({seconds:.2f} s)", flush=True)
        return seconds

    t_parse = run("raw tree-sitter parse (in memory)", lambda: raw_parse(sources))
    run("extract_units, 1 process (in memory)", lambda: units_in_memory(sources))
    t_one = run("extract_repo, filters off, workers=1", repo_run(kw1))
    if has_workers:
        t_all = run(f"extract_repo, filters off, workers={cores}", repo_run(kwn))
        all_cores_note = "extract_repo(workers=os.cpu_count())"
    else:
        t_all = run(
            f"ProcessPoolExecutor({cores}) over files, extract_units", lambda: pool_over_files(root, rels, cores)
        )
        all_cores_note = "FALLBACK: extract_repo has no workers parameter; ProcessPoolExecutor over files instead"
    t_ast = run("ast baseline: read + ast.parse + get_docstring", lambda: ast_baseline(root, rels))
    if has_workers:
        run(f"extract_repo, default filters, workers={cores} (info only)", repo_run({"workers": cores}))

    ours, skipped, how_f1 = extract_functions(root, files, workers=1)
    want = [item for rel, source in files if rel not in skipped for item in ast_functions(rel, source)]
    accuracy = score(ours, want)

    print(f"\nPython standard library: {len(files)} files, {mb:.2f} MB; median of {args.repeats} after 1 warm-up")
    print(f"{'case':<52} {'seconds':>8} {'MB/s':>7} {'units/s':>9} {'units':>7}")
    for label, seconds, units in rows:
        per_s = f"{units / seconds:9.0f}" if units else f"{'-':>9}"
        print(f"{label:<52} {seconds:8.3f} {mb / seconds:7.2f} {per_s} {units or '-':>7}")

    def verdict(ok: bool) -> str:
        return "MET" if ok else "NOT MET"

    vs_ast = t_ast / t_one
    vs_parse = t_one / t_parse
    speedup = t_one / t_all
    print(f"extract_repo with filters off = {how1}")
    print("\nratios (extract_repo = full repository extraction, filters off)")
    print(
        f"  per core vs ast baseline : {vs_ast:5.2f}x the baseline's speed   goal >= {GOAL_VS_AST:.1f}x  "
        f"{verdict(vs_ast >= GOAL_VS_AST)}"
    )
    print(
        f"  time vs raw parse        : {vs_parse:5.2f}x raw parse time         goal <= {GOAL_VS_PARSE:.1f}x  "
        f"{verdict(vs_parse <= GOAL_VS_PARSE)}"
    )
    goal_note = "" if cores == 2 else f" (goal is for 2 cores; this machine has {cores})"
    print(
        f"  all cores vs one core    : {speedup:5.2f}x speed-up on {cores} cores   goal >= {GOAL_SPEEDUP:.1f}x  "
        f"{verdict(speedup >= GOAL_SPEEDUP)}{goal_note}"
    )
    print(f"  all-cores run            : {all_cores_note}")
    print(f"\naccuracy vs ast (as tests/test_code_accuracy.py), via {how_f1}")
    print(f"  left out as skipped by design: {sorted(skipped) or 'none'}")
    print("  " + describe(accuracy, limit=10).replace("\n", "\n  "))
    ts_version = getattr(tree_sitter, "__version__", None) or _dist_version("tree-sitter")
    print(
        f"\nmachine: {cores} cores (os.cpu_count), {platform.platform()}, {platform.processor() or platform.machine()}"
    )
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"load average (1 min) before / after: {load_before:.2f} / {load_after:.2f} (other work on the machine makes")
    print("  the timings, above all the all-cores speed-up, unreliable: compare on an idle machine)")
    print(
        f"python {platform.python_version()}, tree-sitter {ts_version}, "
        f"tree-sitter-language-pack {_dist_version('tree-sitter-language-pack')}"
    )
    print(f"command: {shlex.join([os.path.relpath(sys.executable, REPO), *sys.argv])}")
    tmp.cleanup()


def _dist_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "?"


if __name__ == "__main__":
    main()
