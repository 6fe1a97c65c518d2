"""Calibrate the verdict thresholds on sets whose answer is known.

    .venv/bin/python bench/verdict_calibration.py --dataset out/demo/dataset \\
        --documents out/demo/crawl/documents.parquet [--seeds 0 1 2] [--token-budget 150000]

Known good: the published set as it is. Known bad: the same set with responses shuffled across
records within each split (every record gets another record's answer), which keeps vocabulary,
lengths and style and removes only the pairing. For each seed both sets go through the full
smoke-train (tiny base, real run, control run) and the table shows the pairing-gain margin
(real minus control) that the thresholds in train/config.py are set against.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from train.config import AdapterSettings, TrainConfig, VerdictThresholds  # noqa: E402
from train.smoke import smoke_train  # noqa: E402
from train.verdict import shuffled_copy  # noqa: E402

ALL_PROJ = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--documents", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--token-budget", type=int, default=150_000)
    ap.add_argument("--pretrain-steps", type=int, default=300)
    ap.add_argument("--method", default="lora")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--out", default="out/calibration")
    args = ap.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"machine: {platform.platform()} | python {platform.python_version()}")
    out = Path(args.out)
    sets = {"real": Path(args.dataset), "shuffled": shuffled_copy(Path(args.dataset), out / "shuffled_set")}
    t = VerdictThresholds()
    print(f"thresholds: pass margin >= {t.pass_margin}, warn >= {t.warn_margin}, loss drop > {t.min_loss_drop}")
    print(f"{'set':9} {'seed':>4} {'loss before':>11} {'after':>7} {'gain base':>9} {'gain real':>9} "
          f"{'gain ctrl':>9} {'margin':>7}  verdict   seconds")  # fmt: skip
    rows = []
    for name, path in sets.items():
        for seed in args.seeds:
            start = time.perf_counter()
            cfg = TrainConfig(
                dataset=str(path),
                out_dir=str(out / f"{name}-{seed}"),
                documents=args.documents,
                adapter=AdapterSettings(method=args.method, target_modules=ALL_PROJ),
                token_budget=args.token_budget,
                lr=args.lr,
                seed=seed,
                pretrain_steps=args.pretrain_steps,
                samples=0,
            )
            r = smoke_train(cfg, show_progress=False)
            v = r["verdict"]
            rows.append({"set": name, "seed": seed, **v})
            print(
                f"{name:9} {seed:>4} {r['heldout_response_loss_before']:>11.4f} "
                f"{r['heldout_response_loss_after']:>7.4f} "
                f"{r['pairing_gain_before']:>9.4f} {v['pairing_gain']:>9.4f} {v['control_pairing_gain']:>9.4f} "
                f"{v['margin']:>7.4f}  {v['verdict']:8} {time.perf_counter() - start:>7.1f}",
                flush=True,
            )
    (out / "calibration.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
