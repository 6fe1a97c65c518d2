"""The usefulness verdict: does the set teach the pairing of prompts and answers, beyond a control?

Held-out response loss alone cannot tell a real set from the same set with its responses shuffled on a
small budget: both teach the answers' vocabulary and style. What only a real set teaches is that *this*
prompt goes with *this* answer. The pairing gain measures exactly that on held-out records:

    pairing_gain = loss(response | another record's prompt) - loss(response | its own prompt)

A model that ignores the prompt scores ~0; one that learned the pairing scores clearly above 0. The
verdict compares, record by record, the gain after training on the set with the gain after a control run
(same base, same token budget, responses shuffled across records), over the first response tokens where
the pairing shows, and bootstraps the difference over held-out sources (``decide``).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from train.config import REAL_MIN_LOSS_DROP, VerdictThresholds
from train.data import shuffled_responses
from validate.publish import source_bucket, source_key

HELDOUT_NAMES = ("test", "validation", "valid", "eval", "dev", "heldout")


def record_source(record: dict) -> str:
    """The source a record comes from (its page or file), the unit that is held out and resampled."""
    return source_key(str(record.get("source_ref") or record.get("id") or ""))


def train_heldout_split(splits: dict[str, list[dict]], fraction: float = 0.1) -> tuple[list[dict], list[dict], str]:
    """(train, held-out, how) with no source document on both sides.

    A published held-out split is used as it is when it shares no source with the rest; otherwise all
    rows are pooled and whole sources are assigned by a hash of their key (stable across runs and
    machines), so rows of one page or file, often near-duplicates, can never flatter the score.
    """
    held_name = next((n for n in splits if n in HELDOUT_NAMES), None)
    rest = [r for n, rows in splits.items() if n != held_name for r in rows]
    if held_name is not None and splits[held_name]:
        held = splits[held_name]
        if not {record_source(r) for r in held} & {record_source(r) for r in rest}:
            return rest, held, f"published '{held_name}' split (no source shared with training rows)"
    pool = [r for rows in splits.values() for r in rows]
    keys = sorted({record_source(r) for r in pool})
    bucket = {k: source_bucket(k) for k in keys}
    held_keys = {k for k in keys if bucket[k] < fraction}
    if not held_keys and len(keys) > 1:
        held_keys = {min(keys, key=bucket.__getitem__)}
    train = [r for r in pool if record_source(r) not in held_keys]
    held = [r for r in pool if record_source(r) in held_keys]
    return train, held, f"re-split by source: {len(held_keys)} of {len(keys)} sources held out"


def bootstrap_mean(
    values: Sequence[float], groups: Sequence[str], n: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """(mean, low, high): the mean of ``values`` and a percentile interval from resampling whole groups.

    Records of one source (one page, one file) are alike, so they are resampled together; resampling records
    one by one would make the interval too narrow. Deterministic for a given seed.
    """
    v = np.asarray(values, dtype=np.float64)
    keys, inverse = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    sums = np.bincount(inverse, weights=v, minlength=len(keys))
    counts = np.bincount(inverse, minlength=len(keys)).astype(np.float64)
    mean = float(v.mean()) if len(v) else 0.0
    if len(keys) < 2:
        return mean, -math.inf, math.inf  # one source: no spread to estimate
    pick = np.random.default_rng(seed).integers(0, len(keys), size=(n, len(keys)))
    means = sums[pick].sum(axis=1) / counts[pick].sum(axis=1)
    tail = (1 - confidence) / 2
    return mean, float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def decide(
    loss_before: float,
    loss_after: float,
    gains: dict[str, Sequence[float]],
    groups: Sequence[str],
    thresholds: VerdictThresholds,
    seed: int = 0,
) -> dict:
    """pass / fail / inconclusive with the figures, the reason and what to do, as the report and card show.

    ``gains`` holds per held-out record pairing gains over the first ``gain_tokens`` response tokens for
    "base", "real" and, when a control ran, "control"; ``groups`` names each record's source.
    """
    t = thresholds
    drop = loss_before - loss_after
    rel = drop / loss_before if loss_before > 0 else 0.0
    out: dict = {
        "loss_drop": round(drop, 4),
        "relative_loss_drop": round(rel, 4),
        "statistic": f"per-record pairing gain over the first {t.gain_tokens} response tokens (nats/token)",
        "pairing_gain_base": round(float(np.mean(gains["base"])), 4),
        "pairing_gain": round(float(np.mean(gains["real"])), 4),
        "min_effect": t.min_effect,
        "confidence": t.confidence,
        "sources": len(set(groups)),
        "records": len(groups),
    }
    if "control" not in gains:
        out.update(
            verdict="inconclusive",
            reason="no control run: the pairing gain has nothing to be compared with",
            advice="run again with the control (drop --no-control)",
        )
        return out
    diff = np.asarray(gains["real"]) - np.asarray(gains["control"])
    mean, lo, hi = bootstrap_mean(diff, groups, t.bootstrap, t.confidence, seed)
    out.update(
        control_pairing_gain=round(float(np.mean(gains["control"])), 4),
        margin=round(mean, 4),
        interval=[round(lo, 4), round(hi, 4)],
    )
    out.update(classify(rel, mean, lo, hi, t))
    return out


def classify(rel: float, mean: float, lo: float, hi: float, thresholds: VerdictThresholds) -> dict:
    """The decision rule alone, on a run's relative held-out loss drop and its real-minus-control interval.

    Kept apart from the figures so stored runs can be judged again under other thresholds without training.
    """
    t = thresholds
    floor = t.min_relative_loss_drop if t.min_relative_loss_drop is not None else REAL_MIN_LOSS_DROP
    span = f"{mean:.4f} [{lo:.4f}, {hi:.4f}]"
    if lo > 0 and mean >= t.min_effect:
        return {
            "verdict": "pass",
            "reason": f"the set teaches the pairing: real minus control {span}, above 0 and at least {t.min_effect}",
            "advice": "",
        }
    if rel < floor:
        return {
            "verdict": "inconclusive",
            "reason": f"the run was too weak to judge: held-out loss fell {rel:.1%} (needs {floor:.0%}); "
            f"real minus control {span}",
            "advice": "give it more tokens (--token-budget), a larger learning rate or full fine-tuning, or a real "
            "base model (--model)",
        }
    if hi < t.min_effect or (lo <= 0 and hi < 2 * t.min_effect):
        # The run learned (its loss fell) yet its pairing is not shown to beat the control's, and the interval
        # leaves no room for a large effect: what the set teaches is style, not which answer goes with which prompt.
        return {
            "verdict": "fail",
            "reason": f"no pairing beyond the control: real minus control {span}, "
            + (f"below {t.min_effect}" if hi < t.min_effect else f"not above 0 and under {2 * t.min_effect:g}"),
            "advice": "check that answers belong to their prompts (a shuffled or templated set fails here)",
        }
    return {
        "verdict": "inconclusive",
        "reason": f"the interval is too wide or the effect too small to decide: real minus control {span} "
        f"(pass needs a lower end above 0 and a mean of {t.min_effect})",
        "advice": "hold out more sources, or give the run more tokens",
    }


def shuffled_copy(src: str | Path, dst: str | Path, seed: int = 0) -> Path:
    """A known-bad twin of a published folder: every split's responses shuffled across its records.

    Vocabulary, lengths and style stay; only the pairing is gone. The verdict must fail it.
    """
    import pandas as pd

    src, dst = Path(src), Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    # The exports hold the unshuffled pairs: a twin that carried them would contradict its own data.
    shutil.copytree(src, dst, ignore=lambda d, names: ["exports"] if Path(d) == src else [])
    for f in sorted(dst.glob("data/*.parquet")):
        df = pd.read_parquet(f)
        df["output"] = [r["output"] for r in shuffled_responses(df.to_dict("records"), seed)]
        df.to_parquet(f, index=False)
    return dst
