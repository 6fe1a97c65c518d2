"""Calibrate the usefulness verdict on real sets whose answer is known, with the defaults `dataagent train` uses.

    OMP_NUM_THREADS=1 .venv/bin/python bench/verdict_calibration.py [--sets out/verdict_sets/manifest.json]
        [--only NAME ...] [--seeds 0 1 2] [--dataset FOLDER --documents PATH] [--rejudge calibration.json ...]

Known good: each real set as published (bench/verdict_sets.py builds them from registry packages and Debian's
HTML manuals: code docstring -> implementation in two languages, documentation QA in English and Traditional
Chinese). Known bad: the same set with responses shuffled across records within each split
(``train.verdict.shuffled_copy``), which keeps vocabulary, lengths and style and removes only the pairing.
Every set and its twin go through the full judgement (tiny base, real run, control run) for every seed, with
no setting changed from the defaults. Goals: every real set passes, no twin passes, no real set fails.
Prints a row per judgement with its wall time, and writes calibration.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.config import TrainConfig  # noqa: E402
from train.smoke import smoke_train  # noqa: E402
from train.verdict import classify, shuffled_copy  # noqa: E402


def judge(dataset: Path, documents: str | None, out: Path, seed: int) -> tuple[dict, float]:
    start = time.perf_counter()
    cfg = TrainConfig(dataset=str(dataset), out_dir=str(out), documents=documents, seed=seed, samples=0)
    return smoke_train(cfg, show_progress=False), time.perf_counter() - start


def show(name: str, kind: str, seed: int, v: dict, seconds: float) -> None:
    lo, hi = v.get("interval", [float("nan")] * 2)
    ctrl = v.get("control_pairing_gain", 0.0)
    print(
        f"{name:14} {kind:8} {seed:>4} {v['records']:>5} {v['relative_loss_drop']:>9.1%} "
        f"{v['pairing_gain_base']:>9.4f} {v['pairing_gain']:>7.4f} {ctrl:>7.4f} "
        f"{v.get('margin', 0):>9.4f} [{lo:>7.4f},{hi:>7.4f}]  {v['verdict']:12} {seconds:>5.0f}",
        flush=True,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default="out/verdict_sets/manifest.json", help="manifest of bench/verdict_sets.py")
    ap.add_argument("--only", nargs="*", default=None, help="set names to run (default: all in the manifest)")
    ap.add_argument("--dataset", help="one published folder instead of the manifest")
    ap.add_argument("--documents", help="its --documents")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="out/calibration")
    ap.add_argument("--skip", nargs="*", default=[], help="judgements already run, as kind:seed (real:0)")
    ap.add_argument(
        "--rejudge",
        nargs="*",
        help="calibration.json files of earlier runs: decide them again under today's thresholds, training nothing",
    )
    args = ap.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"machine: {platform.platform()} | python {platform.python_version()}")
    if args.dataset:
        sets = {Path(args.dataset).name: {"dataset": args.dataset, "documents": args.documents}}
    else:
        sets = json.loads(Path(args.sets).read_text(encoding="utf-8"))
        sets = {k: v for k, v in sets.items() if args.only is None or k in args.only}
    out = Path(args.out)
    defaults = TrainConfig(dataset="", out_dir="")
    t = defaults.thresholds
    print(f"defaults (tiny base): {defaults.adapter.method}, lr {defaults.learning_rate}, "
          f"{defaults.token_budget:,} tokens per run; verdict on the first {t.gain_tokens} response tokens, "
          f"useful effect {t.min_effect}, run judged from a {t.min_relative_loss_drop:.0%} held-out loss drop, "
          f"{t.confidence:.0%} bootstrap over sources")  # fmt: skip
    print(f"{'set':14} {'kind':8} {'seed':>4} {'held':>5} {'loss drop':>9} {'gain base':>9} {'real':>7} {'ctrl':>7} "
          f"{'real-ctrl':>9} {'interval':>17}  {'verdict':12} {'s':>5}")  # fmt: skip
    rows = []
    for path in args.rejudge or []:
        for r in json.loads(Path(path).read_text(encoding="utf-8")):
            lo, hi = r["interval"]
            r.update(classify(r["relative_loss_drop"], r["margin"], lo, hi, t))
            rows.append(r)
            show(r["set"], r["kind"], r["seed"], r, r["seconds"])
    for name, spec in ({} if args.rejudge is not None else sets).items():
        kinds = {"real": Path(spec["dataset"]), "shuffled": shuffled_copy(spec["dataset"], out / f"{name}-shuffled")}
        for seed in args.seeds:  # seed by seed, so a stopped run still has both kinds of the first seeds
            for kind, path in kinds.items():
                if f"{kind}:{seed}" in args.skip:
                    continue
                r, seconds = judge(path, spec.get("documents"), out / f"{name}-{kind}-{seed}", seed)
                v = r["verdict"]
                rows.append({"set": name, "kind": kind, "seed": seed, "seconds": round(seconds, 1), **v})
                show(name, kind, seed, v, seconds)
                (out / "calibration.json").write_text(json.dumps(rows, indent=2), encoding="utf-8")
    real = [r for r in rows if r["kind"] == "real"]
    twins = [r for r in rows if r["kind"] == "shuffled"]
    print(f"real sets passed {sum(r['verdict'] == 'pass' for r in real)}/{len(real)}, failed "
          f"{sum(r['verdict'] == 'fail' for r in real)}; twins failed {sum(r['verdict'] == 'fail' for r in twins)}"
          f"/{len(twins)}, passed {sum(r['verdict'] == 'pass' for r in twins)}")  # fmt: skip


if __name__ == "__main__":
    main()
