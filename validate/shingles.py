"""Near-duplicate primitives shared by the crawl (crawlers/pipelines.py), the gate's dedup (validate/dedup.py)
and decontamination (validate/decontam.py): punctuation folding, the Han-share test, the stable 64-bit token and
n-gram hashes, exact Jaccard and one MinHash engine. validate/dedup.py's docstring defines the hashes.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from typing import TYPE_CHECKING

import numpy as np

from validate.text import HAN, normalize_text

if TYPE_CHECKING:
    from datasketch import MinHash

# Han share of a text's non-space characters from which it is shingled by characters, not words.
CJK_RATIO = 0.3
_HAN = re.compile(HAN)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
PRIME = np.uint64(0x100000001B3)
GOLD = np.uint64(0x9E3779B97F4A7C15)

# Punctuation folding, applied to the raw text before NFKC: CJK and full-width punctuation becomes its
# ASCII equivalent, so "什麼是複利？" and "什麼是複利?", 「引號」 and “引號” and "引號", or "Hello，world"
# and "Hello, world" shingle alike. Sentence punctuation and brackets are padded with the space an
# ASCII writer puts there (after "," / before "("), so word tokens match too; the CJK path drops
# whitespace, so the padding costs it nothing. Every character whose NFKC form is one of these keys
# (half-width 「｡｣, vertical and small forms) folds the same way.
_PUNCT_BASE = {
    "，": ", ", "、": ", ", "。": ". ", "．": ". ", "；": "; ", "：": ": ", "？": "? ", "！": "! ",
    "「": ' "', "」": '" ', "『": ' "', "』": '" ', "《": ' "', "》": '" ',
    "（": " (", "）": ") ", "［": " [", "］": "] ", "【": " [", "】": "] ",
    "“": '"', "”": '"', "‘": "'", "’": "'",
}  # fmt: skip


def _punct_table() -> dict[int, str]:
    table = {ord(c): r for c, r in _PUNCT_BASE.items()}
    for c in range(0x2000, 0x10000):
        nfkc = unicodedata.normalize("NFKC", chr(c))
        if nfkc in _PUNCT_BASE:
            table.setdefault(c, _PUNCT_BASE[nfkc])
    return table


PUNCT_FOLD = _punct_table()


def fold_punctuation(text: str) -> str:
    """``text`` with CJK / full-width punctuation replaced by ASCII (see ``PUNCT_FOLD``); run before NFKC."""
    return text.translate(PUNCT_FOLD)


def mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 wraps silently in numpy arrays)."""
    return mix_inplace(x.astype(np.uint64, copy=True))


def mix_inplace(x: np.ndarray) -> np.ndarray:
    """:func:`mix` on a uint64 array the caller owns, without the copy."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def is_cjk(text: str) -> bool:
    """True when Han characters make up at least ``CJK_RATIO`` of the non-space characters."""
    han = len(_HAN.findall(text))
    if not han:
        return False
    return han >= CJK_RATIO * max(1, len(text) - text.count(" "))


def ngrams(tok: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n-gram hashes over per-record token runs. Returns (flat shingle hashes, shingles per record)."""
    lengths = lengths.astype(np.int64)
    counts = np.maximum(lengths - n + 1, 1)
    starts = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    total = int(counts.sum())
    rec = np.repeat(np.arange(len(lengths)), counts)
    first = np.zeros(len(counts), dtype=np.int64)
    np.cumsum(counts[:-1], out=first[1:])
    pos = starts[rec] + (np.arange(total) - first[rec])
    end = starts[rec] + lengths[rec]
    g = np.zeros(total, dtype=np.uint64)
    last = max(len(tok) - 1, 0)
    src = tok if len(tok) else np.zeros(1, dtype=np.uint64)
    for k in range(n):
        idx = pos + k
        val = np.where(idx < end, src[np.minimum(idx, last)], np.uint64(0))
        g = g * PRIME + val
    return mix(g ^ np.uint64(n)), counts


def char_hashes(code_points: np.ndarray) -> np.ndarray:
    """Token hash of each character: ``mix(code point + GOLD)``, the gate's Han-path token."""
    return mix(code_points.astype(np.uint64) + GOLD)


def char_shingles(text: str, n: int = 5) -> set[int]:
    """Hashes of the character n-grams of ``normalize_text(text)``, spaces included; a text shorter than ``n``
    is one shingle. Characters, not words, because CJK has no spaces to split words on."""
    return set(char_shingle_array(text, n).tolist())


def char_shingle_array(text: str, n: int = 5) -> np.ndarray:
    """``char_shingles`` as a sorted array of distinct hashes: a tenth of a set's memory, and what ``minhash``
    and ``jaccard_sorted`` take without a Python object per shingle."""
    cps = np.frombuffer(normalize_text(text).encode("utf-32-le"), dtype=np.uint32)
    hashes, _ = ngrams(char_hashes(cps), np.array([len(cps)]), n)
    return np.unique(hashes)


def jaccard(a: set, b: set) -> float:
    """Exact Jaccard of two shingle sets (1.0 for two empty ones)."""
    return len(a & b) / len(a | b) if a or b else 1.0


def jaccard_sorted(a: np.ndarray, b: np.ndarray) -> float:
    """``jaccard`` of two ``char_shingle_array`` results (same value, no sets built)."""
    if not len(a) and not len(b):
        return 1.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def minhash(hashes: np.ndarray | list[int], num_perm: int, seed: int = 1) -> MinHash:
    """datasketch MinHash of 64-bit shingle hashes, each used by its low 32 bits as datasketch's input hash.

    The shingle hashes are already uniform, so datasketch's own sha1 of every shingle would only cost time.
    The signature is datasketch's affine32 ``update_batch`` computed here in numpy, with the permutations drawn
    once per (num_perm, seed): ``update_batch`` calls the hash function once per shingle in Python and lays the
    (shingles x permutations) product out for a strided minimum, 4 ms of a 5 KB page against 0.3 ms here. The
    values are the same (tests/test_crawl_workers.py compares both).
    """
    from datasketch import MinHash

    a, b = _permutations(num_perm, seed)
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=_low32, permutations=(a, b), scheme="affine32")
    hv = (np.asarray(hashes, dtype=np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    if len(hv):
        hv = _fmix32(hv)
        m.hashvalues = np.minimum(m.hashvalues, (a[:, None] * hv[None, :] + b[:, None]).min(axis=1))
    return m


def _low32(value: int) -> int:
    return int(value) & 0xFFFFFFFF


@functools.cache
def _permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash

    a, b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
    a.setflags(write=False)
    b.setflags(write=False)
    return a, b


def _fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, the pre-mix datasketch's affine32 scheme applies to every input hash."""
    hv = hv ^ (hv >> np.uint32(16))
    hv = hv * np.uint32(0x85EBCA6B)
    hv = hv ^ (hv >> np.uint32(13))
    hv = hv * np.uint32(0xC2B2AE35)
    return hv ^ (hv >> np.uint32(16))
