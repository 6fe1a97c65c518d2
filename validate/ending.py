"""Does a text stop where its writer meant it to? A small learned judge for answers without a final mark.

The truncation rules (``validate.semantic.truncated``) settle what has a clear sign: a final mark, an open
bracket, a dangling conjunction, a list item unlike its siblings. What is left is a last line that simply
stops: "…可共同安裝" (a table cell, complete) against "…在单用" (cut), "Configuring the network on Debian"
against "returns a stream that is". No fixed length or word list separates those in three languages, so this
module scores them with a logistic model over hashed features of the ending (the last characters, words and
their classes, the line's length, how the answer's other lines end, the task's family).

The weights (``ending_model.npz``, 64k float16) are trained by ``bench/ending_model.py`` on complete text
from the dev side of the gate's evaluation sources and on cuts of that same text; nothing from the held-out
split. Scoring is a few dozen hash lookups per row, and the gate asks only about rows the rules left open.
"""

from __future__ import annotations

import math
import re
import zlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from validate.text import HAN, han_count

_HAN = re.compile(HAN)

MODEL_PATH = Path(__file__).with_name("ending_model.npz")
BUCKETS = 1 << 16
COMPLETE_MARKS = frozenset(".!?。！？…:：;；")
_WORD = re.compile(r"[A-Za-z]+(?:['’][a-z]+)?")
_CLAUSE = re.compile(r"[，,；;、：:]")
_INNER_END = re.compile(r"[。！？]|[.!?][\"'”’)]* ")
_LIST_ITEM = re.compile(r"^(?:[-*•●]|\d+[.)、]|[a-z][.)]|[（(]\w{1,3}[)）])\s*")
_CODE_TASK = re.compile(r"code|program|function|sql|regex|shell|script")
_CLOSED_TASK = re.compile(r"closed|choice|title|classif|math|lookup|extract|label")
_LIST_TASK = re.compile(r"list|bullet|steps")


def _char_class(c: str) -> str:
    if _HAN.match(c):
        return "H"
    if c.isdigit():
        return "9"
    if c.isalpha():
        return "a" if c.islower() else "A"
    if c.isspace():
        return "_"
    return c


def _weighted(text: str) -> int:
    # A feature the model was trained on (Han counted twice), not the gate's length (validate.text.weighted_length,
    # Han three times): switching it moves lines across the len= buckets, so it changes with a retrained model only.
    return len(text) + han_count(text)


def _family(task_type: str) -> str:
    t = task_type.lower()
    for name, rx in (("code", _CODE_TASK), ("closed", _CLOSED_TASK), ("list", _LIST_TASK)):
        if rx.search(t):
            return name
    return "prose"


def features(text: str, task_type: str = "") -> list[str]:
    """The named features of ``text``'s ending (stable across runs: the model is keyed by their names)."""
    lines = [ln.strip() for ln in text.strip().split("\n") if ln.strip()]
    if not lines:
        return ["bias", "empty"]
    last = lines[-1]
    kinds = "".join(_char_class(c) for c in last[-4:])
    size = min(int(math.log2(_weighted(last) + 1)), 10)
    family = _family(task_type)
    out = [
        "bias",
        f"e1={last[-1:]}",
        f"e2={last[-2:]}",
        f"e3={last[-3:]}",
        f"k={kinds}",
        f"k2={kinds[-2:]}",
        f"len={size}",
        f"k2len={kinds[-2:]}|{size}",
        f"task={family}",
        f"e1task={last[-1:]}|{family}",
        f"lines={min(len(lines), 4)}",
        f"item={bool(_LIST_ITEM.match(last))}",
        f"clause={bool(_CLAUSE.search(last))}",
        f"inner={bool(_INNER_END.search(last[:-1]))}",
    ]
    if len(lines) > 1:
        marked = sum(ln[-1] in COMPLETE_MARKS for ln in lines[:-1])
        share = "all" if marked == len(lines) - 1 else "some" if marked else "none"
        out.append(f"others={share}")
        out.append(f"others_item={share}|{bool(_LIST_ITEM.match(last))}")
        # A cut line is usually shorter than the lines before it; a finished list item is about as long.
        sizes = sorted(_weighted(ln) for ln in lines[:-1])
        ratio = _weighted(last) / max(sizes[len(sizes) // 2], 1)
        out.append(f"rel={min(int(ratio * 4), 8)}")
        out.append(f"rel_item={min(int(ratio * 4), 8)}|{bool(_LIST_ITEM.match(last))}")
    if last[-1:].isascii():
        words = _WORD.findall(last[-80:])
        if words:
            out.append(f"w={words[-1].lower()}")
            out.append(f"wcase={words[-1][:1].isupper()}|{len(words) > 1}")
        if len(words) > 1:
            out.append(f"w2={words[-2].lower()} {words[-1].lower()}")
            out.append(f"pw={words[-2].lower()}")
        out.append(f"nwords={min(len(words), 12) // 3}")
    return out


def bucket(name: str) -> int:
    return zlib.crc32(name.encode("utf-8")) & (BUCKETS - 1)


@lru_cache(maxsize=1)
def _weights() -> np.ndarray:
    with np.load(MODEL_PATH) as z:
        return z["weights"].astype(np.float32)


def cut_logit(text: str, task_type: str = "") -> float:
    """The model's log-odds that ``text`` was cut off rather than finished."""
    w = _weights()
    return float(sum(w[bucket(f)] for f in features(text, task_type)))
