"""Quality gate against its labelled evaluation set: recall per defect class, false rejects on clean rows.

    .venv/bin/python bench/gate_quality.py               # the test split: the numbers to report
    .venv/bin/python bench/gate_quality.py --split dev   # the split to tune on (prints examples)

The set is ``out/gate_eval/{dev,test}.jsonl`` from bench/gate_evalset.py (built here first if missing, or
with ``--rebuild``). Two runs of the gate:

* ``run_gate`` over the whole split decides the row-level classes (truncated, echo, refusal, ...). A defect
  row is caught when it is quarantined with any reason; the share quarantined with the reason family its
  class expects is printed beside it. PII rows also count as caught when the gate scrubbed the inserted value
  out of an accepted row (emails and phones are scrubbed, not rejected, by policy): both shares are shown.
* ``validate.run.gate_file`` (row checks + exact and near duplicates) over the clean rows and the duplicate
  rows decides the two duplicate classes and the false rejects. A duplicate pair is caught when one of its
  two rows is removed, whichever the gate keeps; a clean row removed only as the copy of a labelled
  duplicate that was kept is not a false reject.

Goals: recall >= 0.95 for every class; false rejects <= 1% overall and in every language.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from validate.contracts import InstructionRecord, columns  # noqa: E402
from validate.quality import GateConfig, run_gate  # noqa: E402
from validate.run import gate_file  # noqa: E402

SET_DIR = ROOT / "out" / "gate_eval"
LANGS = ("en", "zh-Hant", "zh-Hans")
RECALL_GOAL, FALSE_REJECT_GOAL = 0.95, 0.01
DUPLICATE_CLASSES = ("near_duplicate", "exact_duplicate")
DUP_REASONS = ("near_duplicate", "exact_duplicate", "id_conflict")
# The gate's reason labels that name each class's defect (substrings; the gate's names may grow).
EXPECTED = {
    "truncated": ("truncat",),
    "echo": ("echo",),
    "refusal": ("refusal",),
    "wrong_language": ("language", "script"),
    "merged": ("merged",),
    "mojibake": ("mojibake",),
    "near_duplicate": DUP_REASONS,
    "exact_duplicate": DUP_REASONS,
    "pii": ("pii",),
    "empty": ("blank", "too_short", "too_few", "empty", "str_contains"),
    "template_leak": ("leak",),
    "control_chars": ("control",),
}
_POS = "_eval_pos"  # a row's position in the split file, carried through run_gate


def load_split(split: str, rebuild: bool) -> pd.DataFrame:
    path = SET_DIR / f"{split}.jsonl"
    if rebuild or not path.exists():
        import gate_evalset

        print(f"building the evaluation set ({'--rebuild' if rebuild else 'missing'}) ...", flush=True)
        gate_evalset.build(SET_DIR, quiet=True)
    with path.open(encoding="utf-8") as f:
        return pd.DataFrame([json.loads(line) for line in f])


# ------------------------------------------------------------------------------------------------ gate runs


def row_checks(df: pd.DataFrame, cfg: GateConfig) -> tuple[list[list[str] | None], list[str | None]]:
    """run_gate over the split: per row its reasons (None = accepted) and, when accepted, its output after
    scrubbing. Accepted rows come back in input order, so their positions are those not quarantined."""
    contract = columns(InstructionRecord)
    accepted, quarantined, _ = run_gate(df[contract].assign(**{_POS: np.arange(len(df))}), cfg, workers=1)
    reasons: list[list[str] | None] = [None] * len(df)
    for pos, why in zip(quarantined[_POS].tolist(), quarantined["quarantine_reasons"].tolist(), strict=True):
        reasons[int(pos)] = list(why)
    kept = [i for i, r in enumerate(reasons) if r is None]
    outputs: list[str | None] = [None] * len(df)
    for i, out in zip(kept, accepted["output"].tolist(), strict=True):
        outputs[i] = out
    return reasons, outputs


def full_gate(df: pd.DataFrame, cfg: GateConfig, threshold: float) -> list[list[str] | None]:
    """gate_file (row checks + exact and near duplicates) over ``df``: per row its reasons, None = accepted."""
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "subset.jsonl"
        with src.open("w", encoding="utf-8") as f:
            for rec in df[columns(InstructionRecord)].to_dict("records"):
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        gate_file(src, Path(tmp) / "gate", cfg, near_dup_threshold=threshold)
        q = pd.read_parquet(Path(tmp) / "gate" / "quarantine.parquet")
    reasons: list[list[str] | None] = [None] * len(df)
    line_col = "line" if "line" in q.columns else "input_line"
    for line, why in zip(q[line_col].tolist(), q["quarantine_reasons"].tolist(), strict=True):
        reasons[int(line) - 1] = list(why)
    return reasons


# ------------------------------------------------------------------------------------------------ scoring


def expected(cls: str, reasons: list[str] | None) -> bool:
    return bool(reasons) and any(p in r for r in reasons for p in EXPECTED[cls])


def score_rows(df: pd.DataFrame, reasons: list, outputs: list) -> pd.DataFrame:
    """One line per defect row of a row-level class: caught (any reason), by the expected family, scrubbed."""
    rows = []
    for i, r in enumerate(df.itertuples(index=False)):
        if r.label in ("clean", *DUPLICATE_CLASSES):
            continue
        scrubbed = r.label == "pii" and reasons[i] is None and r.payload and r.payload not in (outputs[i] or "")
        rows.append(
            {
                "label": r.label,
                "method": r.method,
                "language": r.language,
                "quarantined": reasons[i] is not None,
                "caught": reasons[i] is not None or bool(scrubbed),
                "expected": expected(r.label, reasons[i]) or bool(scrubbed),
                "scrubbed": bool(scrubbed),
                "pos": i,
            }
        )
    return pd.DataFrame(rows)


def score_duplicates(sub: pd.DataFrame, reasons: list) -> tuple[pd.DataFrame, set[int]]:
    """Duplicate rows scored as pairs with their originals; returns the scores (``pos``: the row's position in
    the split, column ``split_pos`` of ``sub``) and the clean positions in ``sub`` excused because the gate
    removed them instead of their labelled copy."""
    pos_of = {rid: i for i, rid in enumerate(sub["id"]) if sub["label"].iat[i] == "clean"}
    rows, excused = [], set()
    for i, r in enumerate(sub.itertuples(index=False)):
        if r.label not in DUPLICATE_CLASSES:
            continue
        o = pos_of.get(r.derived_from)
        dup_gone = reasons[i] is not None
        orig_gone_as_dup = o is not None and expected(r.label, reasons[o])
        if orig_gone_as_dup and not dup_gone and all(any(d in x for d in DUP_REASONS) for x in reasons[o]):
            excused.add(o)
        rows.append(
            {
                "label": r.label,
                "method": r.method,
                "language": r.language,
                "quarantined": dup_gone or orig_gone_as_dup,
                "caught": dup_gone or orig_gone_as_dup,
                "expected": expected(r.label, reasons[i]) or orig_gone_as_dup,
                "scrubbed": False,
                "pos": int(r.split_pos),
            }
        )
    return pd.DataFrame(rows), excused


# ------------------------------------------------------------------------------------------------ printing


def _clip(text: str, n: int = 200) -> str:
    """Head and tail of a long text: a truncation or an appended defect shows at the end."""
    return repr(text) if len(text) <= n else f"{text[: n // 2]!r} ... {text[-n // 2 :]!r}"


def _rate(part: int, whole: int) -> str:
    return f"{part / whole:.3f}" if whole else "  -  "


def print_recall(scores: pd.DataFrame) -> None:
    print("\nRecall per defect class (caught = quarantined with any reason; PII: or scrubbed out)")
    head = f"  {'class':<16}{'n':>5}{'caught':>8}{'recall':>8}{'expected':>10}"
    print(head + "".join(f"{lang:>9}" for lang in LANGS) + "   goal")
    for cls in EXPECTED:
        s = scores[scores["label"] == cls]
        if s.empty:
            continue
        per_lang = "".join(
            f"{_rate(int(s[s.language == lang].caught.sum()), int((s.language == lang).sum())):>9}" for lang in LANGS
        )
        recall = s.caught.mean()
        mark = "ok" if recall >= RECALL_GOAL else f"MISS (< {RECALL_GOAL})"
        print(
            f"  {cls:<16}{len(s):>5}{int(s.caught.sum()):>8}{recall:>8.3f}{s.expected.mean():>10.3f}{per_lang}   {mark}"
        )
    pii = scores[scores["label"] == "pii"]
    if len(pii):
        print(f"  (pii: {int(pii.quarantined.sum())} quarantined, {int(pii.scrubbed.sum())} scrubbed and accepted)")
    print("\nRecall per method")
    for (cls, method), s in scores.groupby(["label", "method"], sort=True):
        print(f"  {cls + '/' + method:<46}{len(s):>5}{int(s.caught.sum()):>6}{s.caught.mean():>8.3f}")


def print_false_rejects(clean: pd.DataFrame, rejected: np.ndarray, why: list, split: str) -> None:
    n = len(clean)
    bad = int(rejected.sum())
    rate = bad / n if n else 0.0
    mark = "ok" if rate <= FALSE_REJECT_GOAL else f"OVER ({FALSE_REJECT_GOAL:.0%} goal)"
    print(f"\nFalse rejects on clean rows (row checks + duplicates): {bad} of {n} = {rate:.4f}   {mark}")
    for title, key in (("language", "language"), ("task type", "task_type")):
        print(f"  by {title}:")
        for value, idx in clean.groupby(key).indices.items():
            k = int(rejected[idx].sum())
            flag = "" if key != "language" or k / len(idx) <= FALSE_REJECT_GOAL else "   OVER goal"
            print(f"    {value:<22}{k:>5} of {len(idx):<6}{k / len(idx):.4f}{flag}")
    tags: dict[str, list[int]] = defaultdict(list)
    for i, t in enumerate(clean["tags"]):
        for tag in filter(None, t.split(",")):
            tags[tag].append(i)
    print("  by trait of the legitimate row (tags):")
    for tag, idx in sorted(tags.items()):
        k = int(rejected[idx].sum())
        print(f"    {tag:<22}{k:>5} of {len(idx):<6}{k / len(idx):.4f}")
    counts = Counter(r for i in np.flatnonzero(rejected) for r in why[i])
    print("  most common reasons among false rejects" + (" (with an example each)" if split == "dev" else ""))
    for reason, k in counts.most_common(10):
        print(f"    {k:>5}  {reason}")
        if split == "dev":
            i = next(i for i in np.flatnonzero(rejected) if reason in why[i])
            r = clean.iloc[i]
            print(f"           [{r.language} {r.task_type} {r.method}] instruction: {_clip(r.instruction, 100)}")
            print(f"           output: {_clip(r.output, 240)}")


def print_missed(df: pd.DataFrame, scores: pd.DataFrame, per_class: int = 2) -> None:
    """Dev only: a few defects the gate let through, per class, to show what it does not see yet."""
    print("\nMissed defects (dev: examples to tune on)")
    for cls in EXPECTED:
        missed = scores[(scores.label == cls) & ~scores.caught]
        for pos in missed.pos.tolist()[:per_class]:
            r = df.iloc[pos]
            print(f"  {cls}/{r.method} [{r.language}] output: {_clip(r.output)}")


# ------------------------------------------------------------------------------------------------ main


def main() -> None:
    ap = argparse.ArgumentParser(description="quality gate vs the labelled evaluation set")
    ap.add_argument("--split", choices=("test", "dev"), default="test")
    ap.add_argument("--rebuild", action="store_true", help="rebuild out/gate_eval first")
    ap.add_argument("--near-dup-threshold", type=float, default=0.85, help="as gate_file's default")
    args = ap.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"machine: {platform.platform()} | python {platform.python_version()} | cpus {os.cpu_count()}")
    print(f"run at: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")

    df = load_split(args.split, args.rebuild)
    if "payload" not in df.columns:
        df["payload"] = ""
    cfg = GateConfig()
    print(f"split {args.split}: {len(df)} rows, {int((df.label == 'clean').sum())} clean")

    t = time.perf_counter()
    reasons, outputs = row_checks(df, cfg)
    row_scores = score_rows(df, reasons, outputs)
    print(f"run_gate over the split: {time.perf_counter() - t:.1f}s")

    t = time.perf_counter()
    in_sub = df.label.isin(("clean", *DUPLICATE_CLASSES)).to_numpy()
    sub = df[in_sub].assign(split_pos=np.flatnonzero(in_sub)).reset_index(drop=True)
    sub_reasons = full_gate(sub, cfg, args.near_dup_threshold)
    dup_scores, excused = score_duplicates(sub, sub_reasons)
    print(f"gate_file over clean + duplicate rows ({len(sub)}): {time.perf_counter() - t:.1f}s")

    scores = pd.concat([row_scores, dup_scores], ignore_index=True)
    print_recall(scores)

    clean_pos = np.flatnonzero(sub.label.to_numpy() == "clean")
    clean = sub.iloc[clean_pos].reset_index(drop=True)
    why = [sub_reasons[i] or [] for i in clean_pos]
    rejected = np.array([bool(why[k]) and i not in excused for k, i in enumerate(clean_pos)], bool)
    print_false_rejects(clean, rejected, why, args.split)
    clean_rows = np.flatnonzero(df.label.to_numpy() == "clean")
    changed = [i for i in clean_rows if outputs[i] not in (None, df.output.iat[i])]
    print(f"\nClean rows accepted with their output changed by PII scrubbing: {len(changed)}")
    if args.split == "dev":
        for i in changed[:3]:
            before, after = df.output.iat[i], outputs[i]
            at = next(k for k, (a, b) in enumerate(zip(before, after, strict=False)) if a != b)
            print(f"    {before[max(0, at - 50) : at + 70]!r}\n -> {after[max(0, at - 50) : at + 70]!r}")
        print_missed(df, scores)


if __name__ == "__main__":
    main()
