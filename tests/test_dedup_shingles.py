"""The vectorised shingler in validate.dedup against a plain per-record reference of the definition."""

from __future__ import annotations

import hashlib
import re
import sys

import numpy as np
import pandas as pd
import pytest

from validate import dedup
from validate.shingles import ngrams
from validate.text import HAN, HAN_CLASS, normalize_text

M64 = (1 << 64) - 1
GOLD = 0x9E3779B97F4A7C15
_HAN_RX = re.compile(HAN)
PANGU = re.compile(f"(?<=[{HAN_CLASS}])(?=[0-9a-z])|(?<=[0-9a-z])(?=[{HAN_CLASS}])")

TEXTS = [
    "",
    " ",
    "\n\t \u3000",
    "a",
    "Hi there",
    "one two three",
    "The  Quick\tBrown\nFOX jumps   over the lazy dog",
    "光合作用是植物利用光能把二氧化碳和水轉換成葡萄糖與氧氣的過程。",
    "光合",
    "  中文 混合 English words 和 一些 漢字  ",
    "Python 的 list 與 dict 是最常用的兩種容器 ok",
    "Straße ẞ Ǆ ﬁne ΣΑΣ Ⱥ",  # casefold changes lengths and byte lengths
    "ＡＢＣ　ｄｅｆ ① ㍿",  # NFKC rewrites these
    "x\x85y\u2028z\u1680w\u2029v",  # whitespace that NFKC keeps
    "a\x00b c\x01d e\x1ff",  # control bytes: inside tokens, \x1f is whitespace
    "x" * 70 + " " + "y" * 64 + " " + "z" * 65 + " short",  # block chain vs blake2b at 64 bytes
    "𠀀𠀁𠀂 中中中中中中 😀 emoji",
    "naïve café résumé déjà vu",
    "e\u0301 combining",
    "\u0301 starts with a mark",
    "АБВ где Ёжик",
    "什麼是複利？複利是「利息再生利息」，對吧。",  # CJK punctuation folds to padded ASCII
    "Hello，world！ said “she” （quietly）｡ ok､ ＡＢ？",  # in the word path the padding splits tokens
    # pangu spacing: in the word path a Han character next to an ASCII letter or digit is cut from it
    "Read the bug報告 for apt2 and dpkg, 說明v2 then x9中y in the docs folder today ok",
    "Read the bug 報告 for apt2 and dpkg, 說明 v2 then x9 中 y in the docs folder today ok",
    "Ünïcode 的é stays 中-joined and 中_too",  # only ASCII letters and digits are cut from Han
]


def _mix(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & M64
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & M64
    return x ^ (x >> 31)


def _word_hash(word: str) -> int:
    data = word.encode("utf-8")
    if len(data) > dedup.LONG_TOKEN:
        return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")
    h = (len(data) * GOLD) & M64
    for i in range(0, len(data), 8):
        h = _mix(h ^ int.from_bytes(data[i : i + 8], "little"))
    return h


def reference_shingles(raw: str) -> list[int]:
    """The definition in the module docstring, one record at a time."""
    text = normalize_text(dedup.fold_punctuation(raw))
    if dedup.is_cjk(text):
        tokens, n = [_mix((ord(c) + GOLD) & M64) for c in text.replace(" ", "")], dedup.CJK_NGRAM
    else:
        tokens, n = [_word_hash(w) for w in PANGU.sub(" ", text).split()], dedup.WORD_NGRAM
    out = []
    for start in range(max(len(tokens) - n + 1, 1)):
        g = 0
        for k in range(n):
            g = (g * 0x100000001B3 + (tokens[start + k] if start + k < len(tokens) else 0)) & M64
        out.append(_mix(g ^ n))
    return out


def _check(texts: list[str], workers: int = 1) -> None:
    flat, offsets = dedup.shingle_hashes(texts, workers=workers)
    assert len(offsets) == len(texts) + 1
    for i, text in enumerate(texts):
        assert flat[offsets[i] : offsets[i + 1]].tolist() == reference_shingles(text), repr(text)


@pytest.mark.parametrize("chunk", [1, 4, 1000])
def test_vectorised_shingles_match_reference(monkeypatch, chunk):
    # chunk 1: each text alone (the whole-chunk normalisation shortcut); 1000: one chunk with NFKC and
    # casefold work that sends it text by text
    monkeypatch.setattr(dedup, "CHUNK", chunk)
    _check(TEXTS)


def test_vectorised_shingles_match_reference_on_many_records(monkeypatch):
    rng = np.random.default_rng(0)
    words = ["alpha", "Beta", "gamma", "δέλτα", "光合", "作用", "x", "", "  ", "\t", "ÉCOLE", "ok."]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 30))) for _ in range(300)]
    texts += ["".join(rng.choice(list("植物利用光能 ，。ab"), size=rng.integers(0, 60))) for _ in range(300)]
    monkeypatch.setattr(dedup, "CHUNK", 64)
    _check(texts, workers=2)


def test_frame_shingles_are_the_record_texts_shingles():
    df = pd.DataFrame(
        {
            "instruction": ["What is it?", "什麼是光合作用？", None, "Same"],
            "input": ["", "請說明", "ctx", ""],
            "output": ["A  thing.", "植物利用光能。", "Ans", "Same"],
        }
    )
    sh = dedup.frame_shingles(df)
    flat, offsets = sh.in_row_order()
    raw = [
        f"{i}\n{x}\n{o}"
        for i, x, o in zip(*(df[c].astype(str) for c in ("instruction", "input", "output")), strict=True)
    ]
    assert [normalize_text(dedup.fold_punctuation(t)) for t in raw] == dedup.record_texts(df)
    for row, text in enumerate(raw):
        assert flat[offsets[row] : offsets[row + 1]].tolist() == reference_shingles(text)
    assert sorted(sh.rows.tolist()) == list(range(len(df)))


def test_code_point_table_agrees_with_python():
    table = dedup._CP_CLASS
    han = {c for c in range(0x10000) if _HAN_RX.match(chr(c))}
    assert {c for c in range(0x10000) if table[min(c, len(table) - 1)] == dedup._HANCLS} == han
    for c in range(sys.maxunicode + 1):
        cls = table[min(c, len(table) - 1)]
        ch = chr(c)
        assert (cls == dedup._WS) == ch.isspace(), hex(c)
        assert (cls == dedup._FOLD) == (ch.casefold() != ch), hex(c)


def test_more_shingles_than_the_buffer_guess():
    # one-letter words give ~0.5 shingles per byte, past the 0.4 the output buffer starts with
    _check(["a b " * 300, "c " * 7])


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_sliding_windows_equal_the_gathered_ngrams(n):
    rng = np.random.default_rng(n)
    counts = rng.integers(0, 9, 300)
    tok = rng.integers(0, 2**63, int(counts.sum()), dtype=np.uint64)
    fast, fast_counts = dedup._window_hashes(tok, counts, n)
    ref, ref_counts = ngrams(tok, counts, n)
    assert fast.tolist() == ref.tolist() and fast_counts.tolist() == ref_counts.tolist()
