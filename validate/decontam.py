"""Decontamination: drop training records that share a long n-gram with a user-supplied eval set.

Default window: 13 words (the GPT-3 / "13-gram" convention). Chinese has no spaces, so a whitespace
"word" there is a whole clause or sentence and word 13-grams would almost never form; for CJK text we
use character 13-grams instead. A Chinese word averages ~1.5-2 characters, so 13 characters is a
phrase of 6-9 words: long enough that stock phrases (「請問」「以下哪一個」) don't fire, short enough
that a copied question sentence does.

Eval items shorter than n tokens are matched as a whole (their full length becomes the window) if they
have at least ``MIN_TOKENS`` tokens; shorter items are skipped and counted in the summary.

Scaling: the eval side becomes one dict {n-gram hash -> eval items}; the record side is hashed
vectorised in numpy (the same stable hashing as ``validate.dedup``) and tested with one ``np.isin`` per
window length, so 1M records cost a few passes over flat uint64 arrays, not a Python loop over n-grams.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from validate.errors import DataAgentError
from validate.shingles import char_hashes, fold_punctuation, is_cjk, ngrams
from validate.text import HAN, normalize_text

QUESTION_FIELDS = ("question", "prompt", "instruction", "input", "problem", "text")
ANSWER_FIELDS = ("answer", "output", "solution", "response", "completion")
MIN_TOKENS = 8
DEFAULT_N = 13  # window length in tokens (words, or Han characters for CJK text)
CHUNK = 50_000
_HAS_HAN = re.compile(HAN)
# {(Han path, window): {n-gram hash: [eval item positions]}}, and the positions of the items too short to match
EvalIndex = tuple[dict[tuple[bool, int], dict[int, list[int]]], list[int]]


@dataclass(frozen=True)
class EvalItem:
    set_name: str
    item_index: int
    text: str


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataAgentError("no such eval set file" if not path.exists() else "eval set is not a file", path)
    try:
        return _read_any(path)
    except DataAgentError:
        raise
    except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas and pyarrow raise many types for bad files
        first = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:200]
        raise DataAgentError(f"unreadable eval set: {first}", path) from None


def _read_any(path: Path) -> pd.DataFrame:
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    if suffix in (".jsonl", ".jsonl.gz", ".ndjson"):
        return pd.read_json(path, lines=True, dtype=False)
    if suffix in (".json",):
        try:
            return pd.read_json(path, lines=True, dtype=False)
        except ValueError:
            return pd.read_json(path, dtype=False)
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
    raise DataAgentError("unsupported eval-set file type (use .jsonl, .json, .parquet, .csv or .tsv)", path)


def load_eval_sets(paths: Iterable[str | Path] | Mapping[str, str | Path]) -> list[EvalItem]:
    """Read eval sets; the set name is the file stem unless ``paths`` is a {name: path} mapping.

    Text of an item = every present question-like field (question/prompt/instruction/input/problem/text,
    in that order) plus the first answer-like field (answer/output/solution/response/completion).
    """
    named = list(paths.items()) if isinstance(paths, Mapping) else [(Path(p).stem, p) for p in paths]
    items: list[EvalItem] = []
    for name, raw in named:
        path = Path(raw)
        table = _read_table(path)
        cols = {c.lower(): c for c in table.columns}
        q = [cols[f] for f in QUESTION_FIELDS if f in cols]
        a = next((cols[f] for f in ANSWER_FIELDS if f in cols and cols[f] not in q), None)
        fields = q + ([a] if a else [])
        if not fields:
            raise DataAgentError(
                f"eval set {path.name} has none of the text fields {QUESTION_FIELDS + ANSWER_FIELDS}; "
                f"it has {list(table.columns)}"
            )
        for idx, row in enumerate(table[fields].itertuples(index=False)):
            text = "\n".join(str(v) for v in row if isinstance(v, str) and v.strip())
            items.append(EvalItem(name.split(".")[0], idx, text))
    return items


def _tokens(texts: list[str], chars: bool) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 token hashes, tokens per text): words, or characters with whitespace removed."""
    if chars:
        stripped = [t.replace(" ", "") for t in texts]
        lens = np.fromiter((len(s) for s in stripped), dtype=np.int64, count=len(stripped))
        cps = np.frombuffer("".join(stripped).encode("utf-32-le"), dtype=np.uint32)
        return char_hashes(cps), lens
    words = [t.split() for t in texts]
    lens = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
    flat = np.fromiter((w for ws in words for w in ws), dtype=object, count=int(lens.sum()))
    if not len(flat):
        return np.zeros(0, dtype=np.uint64), lens
    return pd.util.hash_array(flat, categorize=False).astype(np.uint64), lens


def eval_index(eval_items: list[EvalItem], n: int = DEFAULT_N) -> EvalIndex:
    """{(chars, window): {hash: [item positions]}} and the positions of skipped (too short) items."""
    index: dict[tuple[bool, int], dict[int, list[int]]] = {}
    skipped: list[int] = []
    norm = [normalize_text(fold_punctuation(it.text)) for it in eval_items]
    for chars in (False, True):
        pos = [i for i, t in enumerate(norm) if is_cjk(t) == chars and t]
        if not pos:
            continue
        tok, lens = _tokens([norm[i] for i in pos], chars)
        starts = np.concatenate(([0], np.cumsum(lens)))
        for k, i in enumerate(pos):
            length = int(lens[k])
            if length < MIN_TOKENS:
                skipped.append(i)
                continue
            window = min(n, length)
            h, _ = ngrams(tok[starts[k] : starts[k + 1]], np.array([length]), window)
            table = index.setdefault((chars, window), {})
            for v in np.unique(h).tolist():
                table.setdefault(v, []).append(i)
    return index, sorted(skipped)


def contaminated(
    df: pd.DataFrame,
    eval_items: list[EvalItem],
    n: int = DEFAULT_N,
    index: EvalIndex | None = None,
) -> tuple[pd.Series, dict]:
    """(mask aligned to df.index, True = shares an n-gram with an eval item; hits).

    ``hits`` = {"n", "min_tokens", "records": [{"row", "id", "items": [{"set", "index"}]}], "items_hit": [{"set",
    "index", "records"}], "by_set": {name: {"items", "hit", "skipped_short"}}}. Record text is the
    normalised instruction + input + output; word n-grams for every record that is not mostly Han,
    character n-grams for every record containing Han. Both sides fold CJK / full-width punctuation to ASCII
    first (``validate.shingles.fold_punctuation``), so a copied question does not escape by its commas.
    ``index``: ``eval_index(eval_items, n)`` built once beforehand (the Ray gate broadcasts it to its workers).
    """
    index, skipped = index if index is not None else eval_index(eval_items, n)
    keys = {k: np.fromiter(v.keys(), dtype=np.uint64, count=len(v)) for k, v in index.items()}
    found: dict[int, set[int]] = {}
    texts = [
        normalize_text(fold_punctuation(f"{i}\n{x}\n{o}"))
        for i, x, o in zip(
            df["instruction"].astype(str), df["input"].astype(str), df["output"].astype(str), strict=True
        )
    ]
    for lo in range(0, len(texts), CHUNK):
        chunk = texts[lo : lo + CHUNK]
        for chars in (False, True):
            windows = sorted(w for (c, w) in index if c == chars)
            if not windows:
                continue
            if chars:
                rows = [i for i, t in enumerate(chunk) if _HAS_HAN.search(t)]
            else:
                rows = [i for i, t in enumerate(chunk) if not is_cjk(t)]
            if not rows:
                continue
            tok, lens = _tokens([chunk[i] for i in rows], chars)
            for w in windows:
                h, counts = ngrams(tok, lens, w)
                # a record shorter than the window yields one partial gram; it must not count as a window
                valid = np.repeat(lens >= w, counts)
                hit = np.flatnonzero(np.isin(h, keys[(chars, w)]) & valid)
                if not len(hit):
                    continue
                owner = np.searchsorted(np.cumsum(counts), hit, side="right")
                table = index[(chars, w)]
                for o, v in zip(owner.tolist(), h[hit].tolist(), strict=True):
                    found.setdefault(lo + rows[o], set()).update(table[v])
    mask = np.zeros(len(df), dtype=bool)
    mask[list(found)] = True
    ids = df["id"].astype(str).to_numpy() if "id" in df.columns else None
    records = []
    per_item: dict[int, int] = {}
    for row in sorted(found):
        its = sorted(found[row])
        for i in its:
            per_item[i] = per_item.get(i, 0) + 1
        records.append(
            {
                "row": row,
                "id": None if ids is None else ids[row],
                "items": [{"set": eval_items[i].set_name, "index": eval_items[i].item_index} for i in its],
            }
        )
    by_set: dict[str, dict[str, int]] = {}
    for it in eval_items:
        by_set.setdefault(it.set_name, {"items": 0, "hit": 0, "skipped_short": 0})["items"] += 1
    for i in per_item:
        by_set[eval_items[i].set_name]["hit"] += 1
    for i in skipped:
        by_set[eval_items[i].set_name]["skipped_short"] += 1
    hits = {
        "n": n,
        "min_tokens": MIN_TOKENS,
        "records": records,
        "items_hit": [
            {"set": eval_items[i].set_name, "index": eval_items[i].item_index, "records": c}
            for i, c in sorted(per_item.items())
        ],
        "by_set": by_set,
    }
    return pd.Series(mask, index=df.index, name="contaminated"), hits
