"""How much real, parseable code does the quality gate reject, and why?

    .venv/bin/python bench/real_code_gate.py

Real open-source Python from PyPI (wheels fetched with ``pip download --no-deps``, pinned, cached under
out/gate_eval_src/pypi), unpacked into one-commit git snapshots, read by the project's extractor with its
default filters, turned into docstring -> implementation records (the wording of the rule generator's
``docstring_to_code`` template, task_type ``code_generation``). Only records whose code Python's own ``ast``
parses are kept: the parser is the independent reference that the code is fine, so every rejection is a
false reject of the gate. Prints the share rejected (goal <= 0.5%), the reasons with counts and three
examples each, and how many accepted rows PII scrubbing changed.
"""

from __future__ import annotations

import argparse
import ast
import os
import platform
import sys
import time
import zipfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gate_evalset import CACHE, git_snapshot  # noqa: E402

from crawlers.code.extract import extract_repos  # noqa: E402
from crawlers.code.filters import FilterConfig  # noqa: E402
from synth.records import make_record  # noqa: E402
from validate.contracts import InstructionRecord, columns  # noqa: E402
from validate.quality import GateConfig, run_gate  # noqa: E402

PACKAGES = ["requests==2.34.2", "click==8.5.1", "attrs==26.1.0", "jinja2==3.1.6", "werkzeug==3.1.9"]
GOAL = 0.005
INSTRUCTION = "Implement the Python {kind} `{signature}` as described below."  # synth/templates/rules.yaml
CREATED_AT = "2025-01-01T00:00:00Z"
_POS = "_real_pos"


def fetch(packages: list[str]) -> dict[str, Path]:
    """spec -> git snapshot of the unpacked wheel (downloaded once, then cached)."""
    import subprocess

    pypi = CACHE / "pypi"
    pypi.mkdir(parents=True, exist_ok=True)
    repos = {}
    for spec in packages:
        name, version = spec.split("==")
        stem = f"{name.replace('-', '_')}-{version}"
        wheels = [w for w in pypi.glob("*.whl") if w.name.lower().startswith(stem.lower() + "-")]
        if not wheels:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(pypi), spec]
            subprocess.run(cmd, check=True, capture_output=True)
            wheels = [w for w in pypi.glob("*.whl") if w.name.lower().startswith(stem.lower() + "-")]
        with zipfile.ZipFile(wheels[0]) as z:
            members = [m for m in z.namelist() if not m.endswith("/")]
            tmp = CACHE / "repos" / f"wheel-{stem}"
            z.extractall(tmp)
        files = [(tmp / m, m) for m in members]
        repos[spec] = git_snapshot(files, CACHE / "repos" / f"real-{stem}")
    return repos


def parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def make_records(units: pd.DataFrame, labels: dict[str, str]) -> tuple[pd.DataFrame, Counter]:
    """Docstring -> implementation records for the functions and methods whose code ast parses."""
    stats: Counter = Counter()
    rows = []
    for u in units.itertuples(index=False):
        if u.kind == "class" or u.language != "python" or not u.docstring.strip():
            stats["skipped_class_or_no_doc"] += 1
            continue
        if not parses(u.code):
            stats["skipped_not_parseable"] += 1
            continue
        stats["records"] += 1
        ref = f"{labels[u.repo]}@{u.commit}:{u.path}:{u.start_line}-{u.end_line}"
        signature = u.signature.splitlines()[0].strip()
        rows.append(
            make_record(
                INSTRUCTION.format(kind=u.kind, signature=signature),
                u.code,
                input=u.docstring.strip(),
                task_type="code_generation",
                language="en",
                generator="eval:real_code",
                source_ref=ref,
                created_at=CREATED_AT,
            )
        )
    return pd.DataFrame(rows), stats


def _clip(text: str, n: int = 160) -> str:
    return repr(text) if len(text) <= n else f"{text[: n // 2]!r} ... {text[-n // 2 :]!r}"


def main() -> None:
    ap = argparse.ArgumentParser(description="gate rejections on real, parseable Python code records")
    ap.add_argument("--examples", type=int, default=3)
    args = ap.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"machine: {platform.platform()} | python {platform.python_version()} | cpus {os.cpu_count()}")
    print(f"run at: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"packages: {', '.join(PACKAGES)}")

    t = time.perf_counter()
    repos = fetch(PACKAGES)
    labels = {str(p): f"pypi:{spec}" for spec, p in repos.items()}
    extract_stats: Counter = Counter()
    units = extract_repos(list(labels), extract_stats, FilterConfig(), workers=1)
    df, stats = make_records(units, labels)
    print(f"extracted {len(units)} units ({extract_stats['files/parsed']} files) in {time.perf_counter() - t:.1f}s")
    print(f"records: {stats['records']} (skipped: {stats['skipped_not_parseable']} not parseable by ast, "
          f"{stats['skipped_class_or_no_doc']} classes or undocumented)")  # fmt: skip
    per_pkg = Counter(ref.split("@")[0] for ref in df["source_ref"])
    print("  per package: " + ", ".join(f"{k.removeprefix('pypi:')} {v}" for k, v in sorted(per_pkg.items())))

    t = time.perf_counter()
    contract = columns(InstructionRecord)
    accepted, quarantined, report = run_gate(df[contract].assign(**{_POS: np.arange(len(df))}), GateConfig(), 1)
    print(f"run_gate: {time.perf_counter() - t:.1f}s")

    n, bad = len(df), len(quarantined)
    mark = "ok" if bad / n <= GOAL else f"OVER the {GOAL:.1%} goal"
    print(f"\nrejected: {bad} of {n} = {bad / n:.4f} ({bad / n:.2%})   {mark}")
    by_reason: dict[str, list[int]] = defaultdict(list)
    for pos, why in zip(quarantined[_POS].tolist(), quarantined["quarantine_reasons"].tolist(), strict=True):
        for reason in why:
            by_reason[reason].append(int(pos))
    for reason, rows in sorted(by_reason.items(), key=lambda kv: -len(kv[1])):
        print(f"  {len(rows):>5}  {reason}")
        for pos in rows[: args.examples]:
            r = df.iloc[pos]
            print(f"         {r.source_ref.split('@')[0]} {r.source_ref.split(':')[-2]}  {_clip(r.output)}")

    # Accepted rows come back in input order: their positions are those not quarantined.
    kept = np.setdiff1d(np.arange(n), quarantined[_POS].to_numpy(dtype=np.int64))
    fields = ("instruction", "input", "output")
    changed = {f: int((accepted[f].to_numpy() != df[f].to_numpy()[kept]).sum()) for f in fields}
    print(f"\naccepted rows changed by PII scrubbing: output {changed['output']}, input {changed['input']}, "
          f"instruction {changed['instruction']} (of {len(accepted)})")  # fmt: skip
    print(f"  values scrubbed per kind: {report['pii_scrubbed']}")
    diffs = np.flatnonzero(accepted["output"].to_numpy() != df["output"].to_numpy()[kept])
    for k in diffs[: args.examples]:
        before, after = df["output"].iat[kept[k]], accepted["output"].iat[k]
        at = next(i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b)
        print(f"    {before[max(0, at - 40) : at + 60]!r}\n -> {after[max(0, at - 40) : at + 60]!r}")


if __name__ == "__main__":
    main()
