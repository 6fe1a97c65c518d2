"""The usefulness verdict: does the set teach the pairing of prompts and answers, beyond a control?

Held-out response loss alone cannot tell a real set from the same set with its responses shuffled on a
small budget: both teach the answers' vocabulary and style. What only a real set teaches is that *this*
prompt goes with *this* answer. The pairing gain measures exactly that on held-out records:

    pairing_gain = loss(response | another record's prompt) - loss(response | its own prompt)

A model that ignores the prompt scores ~0; one that learned the pairing scores clearly above 0. The
verdict compares the gain after training on the set with the gain after a control run (same base, same
token budget, responses shuffled across records): margin = gain_real - gain_control.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from train.config import VerdictThresholds
from train.data import shuffled_responses
from validate.publish import source_bucket, source_key

HELDOUT_NAMES = ("test", "validation", "valid", "eval", "dev", "heldout")


def _source(record: dict) -> str:
    return source_key(str(record.get("source_ref") or record.get("id") or ""))


def split_by_source(splits: dict[str, list[dict]], fraction: float = 0.1) -> tuple[list[dict], list[dict], str]:
    """(train, held-out, how) with no source document on both sides.

    A published held-out split is used as it is when it shares no source with the rest; otherwise all
    rows are pooled and whole sources are assigned by a hash of their key (stable across runs and
    machines), so rows of one page or file, often near-duplicates, can never flatter the score.
    """
    held_name = next((n for n in splits if n in HELDOUT_NAMES), None)
    rest = [r for n, rows in splits.items() if n != held_name for r in rows]
    if held_name is not None and splits[held_name]:
        held = splits[held_name]
        if not {_source(r) for r in held} & {_source(r) for r in rest}:
            return rest, held, f"published '{held_name}' split (no source shared with training rows)"
    pool = [r for rows in splits.values() for r in rows]
    keys = sorted({_source(r) for r in pool})
    bucket = {k: source_bucket(k) for k in keys}
    held_keys = {k for k in keys if bucket[k] < fraction}
    if not held_keys and len(keys) > 1:
        held_keys = {min(keys, key=bucket.__getitem__)}
    train = [r for r in pool if _source(r) not in held_keys]
    held = [r for r in pool if _source(r) in held_keys]
    return train, held, f"re-split by source: {len(held_keys)} of {len(keys)} sources held out"


def decide(
    loss_before: float,
    loss_after: float,
    gain_real: float,
    gain_control: float | None,
    thresholds: VerdictThresholds,
) -> dict:
    """pass / warn / fail with the figures and the reason, as written into the report and the card."""
    drop = loss_before - loss_after
    out = {"loss_drop": round(drop, 4), "pairing_gain": round(gain_real, 4)}
    if gain_control is None:
        out.update(verdict="warn", reason="no control run: the pairing gain has nothing to be compared with")
        return out
    margin = gain_real - gain_control
    out.update(control_pairing_gain=round(gain_control, 4), margin=round(margin, 4))
    if drop <= thresholds.min_loss_drop:
        out.update(verdict="fail", reason=f"held-out response loss did not fall (drop {drop:.4f})")
    elif margin >= thresholds.pass_margin:
        out.update(
            verdict="pass", reason=f"pairing gain {margin:.4f} above the control (pass needs {thresholds.pass_margin})"
        )
    elif margin >= thresholds.warn_margin:
        out.update(
            verdict="warn",
            reason=f"pairing gain only {margin:.4f} above the control (pass needs {thresholds.pass_margin})",
        )
    else:
        out.update(
            verdict="fail",
            reason=f"pairing gain {margin:.4f} is no better than the control (warn needs {thresholds.warn_margin})",
        )
    return out


def shuffled_copy(src: str | Path, dst: str | Path, seed: int = 0) -> Path:
    """A known-bad twin of a published folder: every split's responses shuffled across its records.

    Vocabulary, lengths and style stay; only the pairing is gone. The verdict must fail it.
    """
    import pandas as pd

    src, dst = Path(src), Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    for f in sorted(dst.glob("data/*.parquet")):
        df = pd.read_parquet(f)
        df["output"] = [r["output"] for r in shuffled_responses(df.to_dict("records"), seed)]
        df.to_parquet(f, index=False)
    return dst
