"""Near-duplicate detection over InstructionRecords: MinHash + LSH, confirmed by exact Jaccard.

Text of a record = ``normalize_text(fold_punctuation(instruction + "\\n" + input + "\\n" + output))``: CJK and
full-width punctuation folded to (space-padded) ASCII (``PUNCT_FOLD``), NFKC, whitespace runs collapsed to
one space, stripped, casefolded (:func:`record_texts` spells it out per record). The whole record is
compared, so two rows asking the same question with different answers are different texts.

Shingles, decided per record by the share of Han characters among its non-space characters:

* CJK (Han share >= ``CJK_RATIO``): character 5-grams over the text with whitespace removed. Chinese has
  no word boundaries, and 5 characters carry about as much as an English 3-word window.
* otherwise: word 3-grams over whitespace tokens, each also cut where a Han character meets an ASCII
  letter or digit, so pangu spacing ("的 bug" / "的bug") does not change the words (the CJK path drops
  whitespace anyway).

A record shorter than n tokens gets one shingle made of all its tokens (zero-padded to n).

Hashes (stable across processes and runs, no ``PYTHONHASHSEED``; ``M`` = splitmix64 finaliser):

* character token: ``M(code point + 0x9E3779B97F4A7C15)``.
* word token: its UTF-8 bytes in 8-byte little-endian blocks ``b_k`` (the last one zero-padded),
  ``h = len * 0x9E3779B97F4A7C15``, then ``h = M(h ^ b_k)`` for each block; a word longer than
  ``LONG_TOKEN`` bytes is blake2b-64 of its bytes instead (little-endian).
* shingle of tokens ``t_0..t_{n-1}``: ``M(g ^ n)`` with ``g = (((t_0 * P + t_1) * P + ...) + t_{n-1})``
  mod 2**64, P = 0x100000001B3.

Shingling is whole-column: ASCII records go from the Arrow buffer to byte arithmetic without a Python
string (NFKC is the identity on ASCII and casefold is lowering); the rest are normalised a chunk at a
time. Token edges, word hashes, the Han share and the n-gram combine are numpy passes over flat arrays,
``CHUNK`` records at a time, on threads (numpy and Arrow release the GIL). tests/test_dedup_shingles.py
holds a per-record reference of this definition.

Pipeline (rensa path):

1. ``rensa.RMinHash.digest_matrix_from_flat_token_hashes``: one MinHash signature per record, in Rust.
2. ``rensa.RMinHashLSH.query_duplicate_flags_matrix_one_shot``: which records share an LSH band with
   any other record. Only those can be in a cluster, so the rest never leave Rust.
3. For the flagged records: signatures as numpy, band them again (same bands x rows) to enumerate the
   candidate pairs; pairs whose estimated Jaccard (share of equal slots) is within ``EXACT_MARGIN`` of
   ``threshold`` or above are settled on the exact Jaccard of their shingle sets >= ``threshold``.
   Only pairs whose estimate is more than ``EXACT_MARGIN`` below the threshold are dropped on the estimate.
4. Short records (under 39 words / 78 Han characters at threshold 0.85; :func:`short_lengths`) also count
   as near-duplicates when they are one edit apart: equal but for one word (two Han characters). The
   threshold's Jaccard cannot express that at those lengths; the derivation is at :func:`short_lengths`.
   Their candidates come from exact keys, not MinHash, and are checked on the tokens.
5. Records whose fields hold the same sentences and lines in another order (two sentences or list items
   swapped) are near-duplicates too, whatever their Jaccard; segments under 4 words / 8 Han characters
   ("Yes.", "Thanks,") must keep their order. Candidates share an order-insensitive key computed with the
   shingles and are checked on the segments (the block above :func:`reorder_segments`).
   Confirmed pairs of all kinds are clustered with union-find.

Without rensa, datasketch computes the signatures and step 3 runs over all records.

LSH parameters: ``num_perm / BAND_ROWS`` bands of ``BAND_ROWS`` (16 x 8 at 128 permutations). That puts
the probability of a pair becoming a candidate at ~0.99 for Jaccard 0.85 and ~0.61 for 0.7; the
confirmation step removes the extra candidates, so recall near the threshold is bought cheaply.

Keep rule (deterministic): within a cluster keep the record with the longest ``output`` (in characters);
ties go to the smallest ``id`` (string order), and then to the earlier row. Every other member is marked
``False`` in the keep mask. Exact duplicates (identical normalised text) have identical signatures, so
they always cluster here too.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import unicodedata
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from validate.shingles import (
    CJK_RATIO,
    GOLD,
    PRIME,
    PUNCT_FOLD,
    char_hashes,
    fold_punctuation,
    is_cjk,
    minhash,
    mix,
    mix_inplace,
)
from validate.text import HAN, HAN_RANGES, normalize_text

try:  # pragma: no cover - exercised by whichever is installed
    import rensa

    _HAVE_RENSA = hasattr(rensa, "RMinHashLSH") and hasattr(rensa.RMinHash, "digest_matrix_from_flat_token_hashes")
except ImportError:  # pragma: no cover
    rensa = None
    _HAVE_RENSA = False

CJK_NGRAM = 5
WORD_NGRAM = 3
BAND_ROWS = 8
# Records per shingling step: ~3 MB of text, so the per-byte numpy passes stay in cache.
CHUNK = 10_000
# Buckets larger than this emit a star + chain instead of all pairs (keeps exact-dup floods linear).
ALL_PAIRS_MAX = 64

# Tokens longer than this many bytes are hashed with blake2b instead of the 8-byte block chain, so a
# base64 blob does not cost one numpy pass per 8 bytes.
LONG_TOKEN = 64
_WS, _HANCLS, _FOLD, _PUNCT, _PAD, _MARK = 1, 2, 4, 8, 16, 32

def _code_point_classes() -> np.ndarray:
    """_WS / _HANCLS / _FOLD (casefold changes it) / _PUNCT (folded, see ``PUNCT_FOLD``; plus _PAD when the
    replacement is two characters) / _MARK (. ! ?, which end a sentence) per code point; the extra last slot
    (0) is for all above."""
    fold_top = 0x1E922  # nothing from here on is whitespace, folded punctuation or changed by casefold
    top = max(fold_top, HAN_RANGES[-1][1] + 1)  # nor Han
    lut = np.zeros(top + 1, dtype=np.uint8)
    lut[[c for c in range(0x3001) if chr(c).isspace()]] = _WS
    for lo, hi in HAN_RANGES:
        lut[lo : hi + 1] = _HANCLS
    lut[[c for c in range(fold_top) if chr(c).casefold() != chr(c)]] = _FOLD
    for c, rep in PUNCT_FOLD.items():
        lut[c] = _PUNCT | (_PAD if len(rep) == 2 else 0)
    lut[[ord(c) for c in ".!?"]] = _MARK
    return lut


_CP_CLASS = _code_point_classes()
# Control bytes that sit below the space but are not whitespace (str.isspace) stay inside tokens.
_CTRL = np.array([not chr(c).isspace() for c in range(33)])
_RARE_WS_UTF8 = tuple(
    chr(c).encode("utf-8")
    for c in range(0x80, 0x3001)
    if chr(c).isspace() and unicodedata.normalize("NFKC", chr(c)) == chr(c)
)
# ASCII letters and digits (the text is casefolded, so no capitals), by byte (_ALNUM) and by code point
# up to 127 (_ALNUM_CP, a view of the same table).
_ALNUM = np.zeros(256, dtype=bool)
_ALNUM[[ord(c) for c in "0123456789abcdefghijklmnopqrstuvwxyz"]] = True
_ALNUM_CP = _ALNUM[:128]
_TAIL_MASK = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def backend() -> str:
    """'rensa' or 'datasketch': which library computes the signatures."""
    return "rensa" if _HAVE_RENSA else "datasketch"


# Hash of every BMP code point, so a Han character costs one table read instead of a splitmix64.
_CP_HASH = char_hashes(np.arange(0x10000, dtype=np.uint64))


def record_texts(df: pd.DataFrame) -> list[str]:
    """Normalised instruction + input + output of every row, in row order (punctuation folded first)."""
    return [
        normalize_text(fold_punctuation(f"{i}\n{x}\n{o}"))
        for i, x, o in zip(
            df["instruction"].astype(str), df["input"].astype(str), df["output"].astype(str), strict=True
        )
    ]


_NEWLINE = pa.scalar("\n", pa.large_string())
_EMPTY = pa.scalar("", pa.large_string())
_FIELDS = ("instruction", "input", "output")


def _columns(df: pd.DataFrame) -> list[pa.Array | pa.ChunkedArray]:
    """The text fields of ``df`` as Arrow large_string columns (zero-copy for Arrow-backed strings)."""
    return [pa.array(df[c].astype(str), type=pa.large_string(), from_pandas=True) for c in _FIELDS]


def _chunk_text(columns: Sequence[pa.Array | pa.ChunkedArray], lo: int) -> pa.Array:
    """Rows lo .. lo+CHUNK of the columns joined with newlines, plus one at the end; nulls read "nan".

    "nan" is what ``str(nan)`` gives :func:`record_texts`. The trailing whitespace changes no shingle
    (tokens and the Han share ignore it) and lets the word path treat a chunk as one byte run: no token
    can reach into the next record. Joined per chunk, not per column, so the text stays in cache.
    """
    parts = [c.slice(lo, CHUNK) for c in columns]
    parts = [p.fill_null("nan") if p.null_count else p for p in parts]
    text = pc.binary_join_element_wise(*parts, _EMPTY, _NEWLINE)
    return text.combine_chunks() if isinstance(text, pa.ChunkedArray) else text


@dataclass(frozen=True)
class ShortTokens:
    """The token hashes of the short records (see :func:`short_lengths`), grouped by record.

    Record ``k`` has the tokens ``flat[offsets[k]:offsets[k + 1]]`` (word hashes, or Han-path character
    hashes with whitespace dropped, as the shingles are made of), came from input row ``rows[k]``, and
    ``cjk[k]`` says which of the two it is.
    """

    flat: np.ndarray
    offsets: np.ndarray
    rows: np.ndarray
    cjk: np.ndarray


@dataclass(frozen=True)
class ReorderKeys:
    """Per record (in :class:`Shingles` order): ``order``, a key that moving its sentences and lines around
    leaves alone (:func:`_reorder_keys`); ``content``, the sum of all its shingles; and ``keyed``, whether it
    has two segments or more and a shingle inside one (else no reordering can matter). Two records with one
    ``order`` and different ``content`` are candidates for :func:`reorder_pairs`."""

    order: np.ndarray
    content: np.ndarray
    keyed: np.ndarray


@dataclass(frozen=True)
class Shingles:
    """Shingle hashes of many records, grouped by record.

    Record ``k`` has the hashes ``flat[offsets[k]:offsets[k + 1]]`` and came from input row ``rows[k]``.
    Records are grouped by script within each chunk of rows (that keeps every step a slice), so they
    are not in row order; :meth:`in_row_order` restores it.
    """

    flat: np.ndarray
    offsets: np.ndarray
    rows: np.ndarray
    short: ShortTokens | None = None  # the tokens of short records, when asked for (``short=`` limits)
    reorder: ReorderKeys | None = None  # per record, in the same order as ``rows``

    def in_row_order(self) -> tuple[np.ndarray, np.ndarray]:
        """(flat, offsets) with record k = input row k."""
        pos = np.empty_like(self.rows)
        pos[self.rows] = np.arange(len(self.rows))
        return _subset(self.flat, self.offsets, pos)


def shingle_hashes(texts: Sequence[str] | pa.Array, workers: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 shingle hashes, row offsets of length len(texts)+1) for raw record texts.

    ``texts`` are NOT normalised yet (see :func:`record_texts` for what normalisation means here).
    """
    arr = texts if isinstance(texts, pa.Array) else pa.array(list(texts), type=pa.large_string())
    return text_shingles([arr.cast(pa.large_string())], workers).in_row_order()


def frame_shingles(df: pd.DataFrame, workers: int = 1, short: tuple[int, int] | None = None) -> Shingles:
    """Shingles of every row of ``df`` (record text as in :func:`record_texts`); see :func:`text_shingles`."""
    return text_shingles(_columns(df), workers, short)


def text_shingles(
    columns: Sequence[pa.Array | pa.ChunkedArray], workers: int = 1, short: tuple[int, int] | None = None
) -> Shingles:
    """Shingles of the raw texts made by joining ``columns`` (large_string) row by row with newlines.

    ``CHUNK`` rows at a time on ``workers`` threads. Threads, not processes: the heavy steps are
    numpy / Arrow kernels that release the GIL, and nothing has to be pickled back. With ``short`` =
    (word tokens, Han characters), the tokens of every record with fewer than that many come back too
    (``Shingles.short``).
    """
    n = len(columns[0]) if columns else 0
    bounds = range(0, n, CHUNK)
    short_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def one(lo: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        flat, counts, rows, few, keys = _chunk_shingles(_chunk_text(columns, lo), short)
        if few is not None:
            short_parts.append((few[0], few[1], few[2] + lo, few[3]))  # list.append is atomic
        return flat, counts, rows + lo, keys

    # Each chunk is copied into one buffer as it arrives and then dropped, so its memory goes to the
    # next chunk: fresh pages are slow to fault in, and gathering all parts first would double the peak.
    # Sized for ~0.4 shingles per input byte (Han text, 3 bytes a character, is ~0.33; English ~0.15);
    # untouched pages cost nothing, and it grows if a chunk does not fit.
    size = sum(pc.sum(pc.binary_length(c)).as_py() or 0 for c in columns)
    flat = np.empty(int(0.4 * size) + n, dtype=np.uint64)
    counts = np.empty(n, dtype=np.int64)
    rows = np.empty(n, dtype=np.int64)
    keys = ReorderKeys(np.empty(n, dtype=np.uint64), np.empty(n, dtype=np.uint64), np.empty(n, dtype=bool))
    pos = done = 0
    with ThreadPoolExecutor(max(1, workers)) as pool:
        for part_flat, part_counts, part_rows, part_keys in pool.map(one, bounds):
            if pos + len(part_flat) > len(flat):
                grown = np.empty(max(len(flat) * 3 // 2, pos + len(part_flat)), dtype=np.uint64)
                grown[:pos] = flat[:pos]
                flat = grown
            flat[pos : pos + len(part_flat)] = part_flat
            counts[done : done + len(part_counts)] = part_counts
            rows[done : done + len(part_rows)] = part_rows
            for whole, part in zip((keys.order, keys.content, keys.keyed), part_keys, strict=True):
                whole[done : done + len(part)] = part
            pos += len(part_flat)
            done += len(part_counts)
    few = None
    if short is not None:
        short_parts.sort(key=lambda part: int(part[2][0]) if len(part[2]) else -1)  # chunk order, for determinism
        few = ShortTokens(
            np.concatenate([p[0] for p in short_parts] or [np.zeros(0, np.uint64)]),
            _offsets(np.concatenate([p[1] for p in short_parts] or [np.zeros(0, np.int64)])),
            np.concatenate([p[2] for p in short_parts] or [np.zeros(0, np.int64)]),
            np.concatenate([p[3] for p in short_parts] or [np.zeros(0, bool)]),
        )
    return Shingles(flat[:pos], _offsets(counts), rows, few, keys)


def _chunk_shingles(text: pa.Array, short: tuple[int, int] | None = None):
    """(flat hashes, shingles per record, chunk row of each record, short tokens, reorder keys) for one chunk
    of raw texts. Reorder keys: the (order key, content key, keyed) of each record (:func:`_reorder_keys`).

    Short tokens: None, or with ``short`` = (word limit, Han limit) the (flat token hashes, tokens per
    record, chunk row, is-CJK) of the records with fewer tokens than their path's limit.

    ASCII rows skip Python strings: NFKC leaves ASCII alone and casefold is plain lowering there, so
    their UTF-8 bytes go straight from the Arrow buffer to the word path. Other rows are normalised
    with Python's own NFKC and casefold (the definition; see :func:`_normalise`), then split by the Han
    share into word rows (UTF-8 bytes, same word path) and CJK rows (code points).
    """
    is_ascii = pc.string_is_ascii(text).to_numpy(zero_copy_only=False)
    a_rows = np.flatnonzero(is_ascii)
    na_rows = np.flatnonzero(~is_ascii)
    a_bytes, a_off = _utf8_of(text.filter(pa.array(is_ascii))) if len(a_rows) else (b"", np.zeros(1, np.int64))
    a_bytes = a_bytes.lower()

    folded, lens, cps, cls = _normalise(text.filter(pa.array(~is_ascii)))
    coff = _offsets(lens)
    is_ws = cls == _WS
    ws = _segment_counts(is_ws, coff)
    han = _segment_counts(cls == _HANCLS, coff)
    nonws = lens - ws
    cjk = (han > 0) & (han >= CJK_RATIO * np.maximum(1, nonws))

    w_local = np.flatnonzero(~cjk)
    bounds = coff.tolist()
    enc = [folded[bounds[i] : bounds[i + 1]].encode("utf-8") for i in w_local.tolist()]
    w_bytes = b"".join(enc)
    for seq in _RARE_WS_UTF8:  # whitespace that NFKC keeps and that is not ASCII: make it ASCII spaces
        if seq in w_bytes:
            w_bytes = w_bytes.replace(seq, b" " * len(seq))
    blens = np.fromiter(map(len, enc), dtype=np.int64, count=len(enc))
    buf = np.zeros(len(a_bytes) + len(w_bytes) + 8, dtype=np.uint8)
    buf[: len(a_bytes)] = np.frombuffer(a_bytes, dtype=np.uint8)
    buf[len(a_bytes) : len(a_bytes) + len(w_bytes)] = np.frombuffer(w_bytes, dtype=np.uint8)
    woff = np.concatenate([a_off, len(a_bytes) + _offsets(blens)[1:]])
    tok, tcounts, w_seg = _word_tokens(buf, woff, cut_from=len(a_bytes))
    w_hash, w_counts = _window_hashes(tok, tcounts, WORD_NGRAM)

    kept = np.flatnonzero(np.repeat(cjk, lens) & ~is_ws)
    chars = cps[kept]
    ctok = _CP_HASH.take(chars, mode="clip")
    wide = np.flatnonzero(chars > 0xFFFF)
    if len(wide):
        ctok[wide] = char_hashes(chars[wide])
    c_hash, c_counts = _window_hashes(ctok, nonws[cjk], CJK_NGRAM)
    c_seg = _char_segments(chars, kept, cps, cls, nonws[cjk])
    keys = [
        np.concatenate(k)
        for k in zip(
            _reorder_keys(w_hash, w_counts, tok, tcounts, w_seg, WORD_NGRAM),
            _reorder_keys(c_hash, c_counts, ctok, nonws[cjk], c_seg, CJK_NGRAM),
            strict=True,
        )
    ]

    rows = np.concatenate([a_rows, na_rows[w_local], na_rows[cjk]])
    few = None
    if short is not None:
        c_tcounts = nonws[cjk]
        w_sel = np.flatnonzero(tcounts < short[0])
        c_sel = np.flatnonzero(c_tcounts < short[1])
        w_flat, w_off = _subset(tok, _offsets(tcounts), w_sel)
        c_flat, c_off = _subset(ctok, _offsets(c_tcounts), c_sel)
        few = (
            np.concatenate([w_flat, c_flat]),
            np.concatenate([np.diff(w_off), np.diff(c_off)]),
            np.concatenate([rows[w_sel], rows[len(tcounts) + c_sel]]),
            np.repeat([False, True], [len(w_sel), len(c_sel)]),
        )
    return np.concatenate([w_hash, c_hash]), np.concatenate([w_counts, c_counts]), rows, few, keys


def _char_segments(
    chars: np.ndarray, kept: np.ndarray, cps: np.ndarray, cls: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Segment starts of the Han path: the sorted indices of the kept characters (``chars``, at ``kept`` in
    ``cps`` / ``cls``; records of ``counts`` characters) that begin a record, a sentence or a line (see
    :func:`reorder_segments`). Marks and line breaks are few, so only they are looked at one by one."""
    if not len(chars):
        return np.zeros(0, dtype=np.int64)
    at = np.flatnonzero((cls & np.uint8(_MARK | _WS)) != 0)  # != 0 first: nonzero is fastest on bool
    marks = at[(cls[at] & _MARK) != 0]
    j = np.searchsorted(kept, marks)
    j = j[(j < len(kept) - 1) & (kept[np.minimum(j, len(kept) - 1)] == marks)]  # kept marks, not the last one
    # After a run of one or two ASCII letters or digits a mark labels a list item ("a." / "12."); after a
    # longer one ("ssh-agent.") it ends a sentence.
    alnum = [_ALNUM_CP[np.minimum(chars[np.maximum(j - k, 0)], 127)] & (j >= k) for k in (1, 2, 3)]
    ends = j[~(alnum[0] & ~(alnum[1] & alnum[2]))]
    ws_at = at[cls[at] == _WS]
    brk = ws_at[(cps[ws_at] - np.uint32(10)) <= 3]  # \n \v \f \r: the next kept character starts a line
    return _starts_of(len(chars), counts, ends + 1, np.searchsorted(kept, brk))


def _crossing(seg: np.ndarray, counts: np.ndarray, n: int) -> np.ndarray:
    """Sorted positions, among the shingles :func:`_window_hashes` makes of records of ``counts`` tokens, of
    the windows that span a segment start (``seg``: the sorted token indices that start one). Segment starts
    are few, so this costs nothing per token. (A record under n tokens has one padded shingle, not listed.)"""
    counts = counts.astype(np.int64)
    tok_off = _offsets(counts)
    out_off = _offsets(np.where(counts >= n, counts - n + 1, 1))
    rec = np.searchsorted(tok_off, seg, side="right") - 1
    first = tok_off[rec]
    # Window k covers tokens k .. k+n-1 of its record (k up to its last token but n-1); it spans the segment
    # start p when k < p <= k+n-1. None spans a record's first token, and a record under n tokens has none.
    # The upper ends grow with p, so starting each run past the one before leaves the runs disjoint, in order.
    hi = np.minimum(seg - 1, first + counts[rec] - n)
    lo = np.maximum(np.maximum(first, seg - n + 1), np.r_[np.int64(-1), hi[:-1]] + 1)
    width = np.maximum(hi - lo + 1, 0)
    return np.repeat(out_off[rec] + lo - first - _offsets(width)[:-1], width) + np.arange(int(width.sum()))


def _reorder_keys(
    hashes: np.ndarray, out_counts: np.ndarray, tok: np.ndarray, tok_counts: np.ndarray, seg: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order key, content key, keyed) per record from its shingles, tokens and segment starts (``seg``).

    Order key: the sum of the shingles that lie inside one segment plus a hash of the sum of the tokens,
    neither of which changes when segments trade places; the tokens add what a segment too short for a
    shingle holds ("Yes." / "No."). Content key: the sum of all shingles, equal for two records only when
    their shingle sets are (MinHash pairs those already). Keyed: at least two segments and one shingle
    inside a segment. Sums are read off prefix sums at the record bounds.
    """
    if not len(out_counts):
        empty = np.zeros(0, dtype=np.uint64)
        return empty, empty, np.zeros(0, dtype=bool)
    out_off = _offsets(out_counts)
    content = np.add.reduceat(hashes, out_off[:-1])
    crossing = _crossing(seg, tok_counts, n)
    cross_sum = np.zeros(len(crossing) + 1, dtype=np.uint64)
    np.cumsum(hashes[crossing], out=cross_sum[1:])
    at = np.searchsorted(crossing, out_off)
    tok_off = _offsets(tok_counts)
    tok_sum = np.zeros(len(tok) + 1, dtype=np.uint64)
    np.cumsum(tok, out=tok_sum[1:])
    order = mix_inplace(tok_sum[tok_off[1:]] - tok_sum[tok_off[:-1]])
    order += content - (cross_sum[at[1:]] - cross_sum[at[:-1]])
    # under n tokens the one (padded) shingle is no segment's own
    keyed = (np.diff(np.searchsorted(seg, tok_off)) >= 2) & (out_counts > np.diff(at)) & (tok_counts >= n)
    return order, content, keyed


def _normalise(texts: pa.Array) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """Punctuation fold, NFKC and casefold of every text: (the results back to back, each one's length in
    characters, their code points, the class of each code point in ``_CP_CLASS``).

    Whole-chunk first: every text ends in a newline, which nothing composes with or reorders around,
    so the texts are NFKC when their concatenation is; casefold has nothing to do without a ``_FOLD``
    character, and it maps character by character, so when it keeps the total length it kept every
    text's length too. Otherwise text by text.
    """
    raw, _ = _utf8_of(texts)
    joined = raw.decode("utf-8")
    lens = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    cps, cls = _code_points(joined)
    if (cls & _PUNCT).any():  # fold punctuation first (one C call); padded marks add one character each
        lens = lens + _segment_counts((cls & _PAD) != 0, _offsets(lens))
        joined = joined.translate(PUNCT_FOLD)
        cps, cls = _code_points(joined)
    if unicodedata.is_normalized("NFKC", joined):
        if not (cls & _FOLD).any():
            return joined, lens, cps, cls
        folded = joined.casefold()
        if len(folded) == len(joined):
            return folded, lens, *_code_points(folded)
    bounds = _offsets(lens).tolist()
    parts = [unicodedata.normalize("NFKC", joined[a:b]).casefold() for a, b in pairwise(bounds)]
    folded = "".join(parts)
    return folded, np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)), *_code_points(folded)


def _code_points(text: str) -> tuple[np.ndarray, np.ndarray]:
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    return cps, _CP_CLASS.take(cps, mode="clip")


def _utf8_of(arr: pa.Array) -> tuple[bytes, np.ndarray]:
    """(UTF-8 bytes of all values back to back, int64 offsets from 0) of a large_string array."""
    _, obuf, dbuf = arr.buffers()
    off = np.frombuffer(obuf, dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8)
    return memoryview(dbuf)[off[0] : off[-1]].tobytes(), off - off[0]


def _offsets(counts: np.ndarray) -> np.ndarray:
    out = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=out[1:])
    return out


def _segment_counts(mask: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many True values of ``mask`` fall in each [offsets[i], offsets[i+1])."""
    return np.diff(np.searchsorted(np.flatnonzero(mask), offsets))


def _word_tokens(
    buf: np.ndarray, offsets: np.ndarray, cut_from: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(token hashes, tokens per record, segment starts: sorted token indices) for records laid out back to
    back in ``buf`` (UTF-8, lowered).

    Every record ends in whitespace (see :func:`_chunk_text`), so no token runs over a record boundary,
    and ``buf`` holds 8 zero bytes past the last record so a token's last block can always be read whole.
    From byte ``cut_from`` on (the non-ASCII records) a token is also cut where a Han character meets an
    ASCII letter or digit (:func:`_pangu_cuts`). Segment starts: the tokens that begin a record, a sentence
    or a line (see :func:`reorder_segments`).
    """
    size = int(offsets[-1])
    b = buf[:size]
    word = np.empty(size + 1, dtype=bool)  # True on token bytes, False on whitespace and in front
    word[0] = False
    np.greater(b, 32, out=word[1:])
    low = np.flatnonzero(b < 32)
    word[1 + low[_CTRL[b[low]]]] = True
    # Token edges alternate: where one starts, just past where it ends, ... (nonzero is fastest on bool)
    edges = np.flatnonzero(word[1:] != word[:-1])
    starts, ends = edges[0::2], edges[1::2]
    cuts = _pangu_cuts(buf, cut_from, size) if cut_from is not None and cut_from < size else None
    if cuts is not None and len(cuts):  # a cut lies inside a token: it ends one there and starts the next
        starts = np.sort(np.concatenate([starts, cuts]))
        ends = np.sort(np.concatenate([ends, cuts]))
    lengths = ends - starts
    counts = np.diff(np.searchsorted(starts, offsets))
    # Segment starts: after a sentence mark, unless its token is under 4 bytes ("1." / "a." / "iv." label a
    # list item), and after a line break (\n \v \f \r); each record's first token.
    last = buf[ends - 1]
    marks = np.flatnonzero((last == 46) | (last == 33) | (last == 63))
    marks = marks[(lengths[marks] >= 4) & (marks < len(starts) - 1)]
    after = np.searchsorted(starts, low[(b[low] - np.uint8(10)) <= 3])
    seg = _starts_of(len(starts), counts, marks + 1, after)
    return _bytes_hash(buf, starts, lengths), counts, seg


def _starts_of(size: int, counts: np.ndarray, *parts: np.ndarray) -> np.ndarray:
    """Sorted distinct segment starts among ``size`` tokens: each record's first token (records of ``counts``
    tokens) and the indices in ``parts`` below ``size``. A mask and one nonzero, cheaper than sorting."""
    mask = np.zeros(size, dtype=bool)
    mask[_offsets(counts)[:-1][counts > 0]] = True
    for part in parts:
        mask[part[part < size]] = True
    return np.flatnonzero(mask)


def _pangu_cuts(buf: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Byte positions in ``buf[lo:hi]`` where a Han character and an ASCII letter or digit meet with no space.

    "的bug" and "的 bug" (pangu spacing on or off) are the same words; cutting there tokenises both alike.
    Han is 3 bytes in UTF-8 (U+3400..U+FAFF, lead bytes E3..EF) or 4 (the supplementary planes, lead byte F0),
    so only those lead bytes are decoded.
    """
    cuts = []
    for first, last, size in ((0xE3, 0xEF, 3), (0xF0, 0xF0, 4)):
        lead = np.flatnonzero((buf[lo:hi] - np.uint8(first)) <= last - first) + lo
        if not len(lead):
            continue
        cp = buf[lead].astype(np.int64) & (0x0F if size == 3 else 0x07)
        for k in range(1, size):
            cp = (cp << 6) | (buf[lead + k].astype(np.int64) & 0x3F)
        han = lead[_CP_CLASS.take(cp, mode="clip") == _HANCLS]
        cuts += [han[_ALNUM[buf[han - 1]]], (han + size)[_ALNUM[buf[han + size]]]]
    if not cuts:
        return np.zeros(0, dtype=np.int64)
    cuts_at = np.concatenate(cuts)
    return np.unique(cuts_at[(cuts_at > lo) & (cuts_at < hi)])


def _bytes_hash(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Stable 64-bit hash of each byte run ``buf[s:s+len]`` (see the module docstring for the definition)."""
    view = np.ndarray(shape=(len(buf) - 7,), dtype="<u8", buffer=buf, strides=(1,))
    h = lengths.astype(np.uint64) * GOLD
    h ^= view[starts] & _TAIL_MASK[np.minimum(lengths, 8)]
    h = mix_inplace(h)
    longer = np.flatnonzero(lengths > 8)
    for k in range(8, LONG_TOKEN, 8):
        longer = longer[lengths[longer] > k]
        if not len(longer):
            break
        rest = lengths[longer] - k
        h[longer] = mix_inplace(h[longer] ^ (view[starts[longer] + k] & _TAIL_MASK[np.minimum(rest, 8)]))
    for i in np.flatnonzero(lengths > LONG_TOKEN).tolist():
        s = int(starts[i])
        digest = hashlib.blake2b(buf[s : s + int(lengths[i])].tobytes(), digest_size=8).digest()
        h[i] = int.from_bytes(digest, "little")
    return h


def _window_hashes(tok: np.ndarray, counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n-gram hashes over per-record token runs, as :func:`ngrams` defines them, by sliding windows.

    Every window over the flat token array is combined at once; windows that leave their record are
    dropped. Records with fewer than n tokens (one zero-padded shingle each) are done apart.
    """
    counts = counts.astype(np.int64)
    total_tok = len(tok)
    ends = np.cumsum(counts)
    out_counts = np.where(counts >= n, counts - n + 1, 1)
    m = total_tok - n + 1
    if m > 0:
        g = tok[:m] * PRIME if n > 1 else tok[:m].copy()  # Horner, as ngrams
        for k in range(1, n):
            g += tok[k : k + m]
            if k < n - 1:
                g *= PRIME
        valid = np.ones(m, dtype=bool)
        for k in range(1, n):
            idx = ends - k
            valid[idx[(counts >= k) & (idx < m)]] = False
        long_g = g[valid]
    else:
        long_g = np.zeros(0, dtype=np.uint64)
    short = np.flatnonzero(counts < n)
    if len(short):
        sg = np.zeros(len(short), dtype=np.uint64)
        first, have = (ends - counts)[short], counts[short]
        src = tok if total_tok else np.zeros(1, dtype=np.uint64)
        for k in range(n):
            sg = sg * PRIME + np.where(k < have, src[np.minimum(first + k, len(src) - 1)], np.uint64(0))
        slots = np.zeros(int(out_counts.sum()), dtype=bool)
        slots[_offsets(out_counts)[short]] = True
        res = np.empty(len(slots), dtype=np.uint64)
        res[slots] = sg
        res[~slots] = long_g
    else:
        res = long_g
    res ^= np.uint64(n)
    return mix_inplace(res), out_counts


def _subset(flat: np.ndarray, offsets: np.ndarray, recs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shingle hashes of records ``recs`` only (in that order), with their own offsets."""
    counts = offsets[recs + 1] - offsets[recs]
    sub_off = _offsets(counts)
    idx = np.repeat(offsets[recs] - sub_off[:-1], counts)
    idx += np.arange(len(idx))
    return flat[idx], sub_off


def _rensa_signatures(flat, offsets, num_perm, seed, threshold) -> tuple[np.ndarray, np.ndarray]:
    """(flagged record positions, their signatures). Other records share no LSH band with anything."""
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets.astype(np.uint64), num_perm, seed)
    lsh = rensa.RMinHashLSH(threshold, num_perm, num_perm // BAND_ROWS)
    # one-shot: the same flags as inserting every row first, without building the index (~8x faster)
    flags = np.asarray(lsh.query_duplicate_flags_matrix_one_shot(matrix), dtype=bool)
    del matrix
    recs = np.flatnonzero(flags)
    if not len(recs):
        return recs, np.zeros((0, num_perm), dtype=np.uint32)
    sub_flat, sub_off = _subset(flat, offsets, recs)
    sub = rensa.RMinHash.digest_matrix_from_flat_token_hashes(sub_flat, sub_off.astype(np.uint64), num_perm, seed)
    return recs, np.asarray(sub.to_rows(), dtype=np.uint32)


def datasketch_signatures(
    flat: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(record positions, MinHash signature of every record) with datasketch, when rensa is not installed."""
    sigs = np.empty((len(offsets) - 1, num_perm), dtype=np.uint64)
    for r in range(len(offsets) - 1):
        sigs[r] = minhash(flat[offsets[r] : offsets[r + 1]], num_perm, seed).hashvalues
    return np.arange(len(offsets) - 1), sigs


def candidate_pairs(sigs: np.ndarray, band_rows: int = BAND_ROWS) -> np.ndarray:
    """Pairs (i < j, positions in ``sigs``) that agree on all slots of at least one band. Shape (k, 2)."""
    m, num_perm = sigs.shape
    out: list[np.ndarray] = []
    for b in range(num_perm // band_rows):
        key = np.zeros(m, dtype=np.uint64)
        for c in range(b * band_rows, (b + 1) * band_rows):
            key ^= sigs[:, c]
            key *= PRIME
        order = np.argsort(key, kind="stable")
        ks = key[order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        sizes = np.diff(np.r_[starts, m])
        # all pairs of each bucket, one numpy step per bucket size
        for size in np.unique(sizes[(sizes > 1) & (sizes <= ALL_PAIRS_MAX)]).tolist():
            members = order[starts[sizes == size][:, None] + np.arange(size)]
            iu, ju = np.triu_indices(size, 1)
            out.append(np.stack([members[:, iu].ravel(), members[:, ju].ravel()], axis=1))
        for s, size in zip(starts[sizes > ALL_PAIRS_MAX].tolist(), sizes[sizes > ALL_PAIRS_MAX].tolist(), strict=True):
            # star on the first member plus a chain: linear, still connects the bucket
            members = order[s : s + size]
            out.append(np.stack([np.repeat(members[0], size - 1), members[1:]], axis=1))
            out.append(np.stack([members[:-1], members[1:]], axis=1))
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(out).astype(np.int64), axis=1)
    # one int64 per pair: np.unique on rows (axis=0) sorts a void view and is several times slower
    key = np.unique(pairs[:, 0] * m + pairs[:, 1])
    return np.stack([key // m, key % m], axis=1)


def estimated_jaccard(sigs: np.ndarray, pairs: np.ndarray, block: int = 200_000) -> np.ndarray:
    """Share of equal signature slots for each pair."""
    est = np.empty(len(pairs), dtype=np.float64)
    for lo in range(0, len(pairs), block):
        p = pairs[lo : lo + block]
        est[lo : lo + block] = (sigs[p[:, 0]] == sigs[p[:, 1]]).mean(axis=1)
    return est


def _union_find(n: int, edges: np.ndarray) -> np.ndarray:
    parent = list(range(n))

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges.tolist():
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.fromiter((find(i) for i in range(n)), dtype=np.int64, count=n)


EXACT_MARGIN = 0.1


def confirmed_pairs(
    df: pd.DataFrame, threshold: float = 0.85, num_perm: int = 128, seed: int = 0, workers: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(pairs (i < j) of row positions confirmed as near-duplicates, sorted; their exact Jaccard).

    A pair is confirmed when the exact Jaccard of its shingle sets is >= ``threshold`` (MinHash and LSH only
    propose candidates), when both records are short and one edit apart (see :func:`short_lengths`), or when
    they hold the same sentences and lines in another order (:func:`reorder_pairs`); the last two kinds'
    Jaccard may be below ``threshold``.
    """
    if num_perm % BAND_ROWS:
        raise ValueError(f"num_perm must be a multiple of {BAND_ROWS}")
    sh = frame_shingles(df, default_workers() if workers is None else workers, short_token_limits(threshold))
    pairs, exact = _confirm(sh.flat, sh.offsets, threshold, num_perm, seed)
    pairs = np.sort(sh.rows[pairs], axis=1)
    n = len(df)
    more = [reorder_pairs(df, sh)]
    if sh.short is not None and len(sh.short.rows) > 1:
        edits = short_edit_pairs(sh.short)
        new = np.setdiff1d(edits[:, 0] * n + edits[:, 1], pairs[:, 0] * n + pairs[:, 1])
        if len(new):
            more.append(_same_numbers(df, np.stack([new // n, new % n], axis=1)))
    new = np.setdiff1d(np.concatenate([p[:, 0] * n + p[:, 1] for p in more]), pairs[:, 0] * n + pairs[:, 1])
    if len(new):
        found = np.stack([new // n, new % n], axis=1)
        pos = np.empty(n, dtype=np.int64)
        pos[sh.rows] = np.arange(n)
        pairs = np.concatenate([pairs, found])
        exact = np.concatenate([exact, exact_jaccard(sh.flat, sh.offsets, pos[found])])
    order = np.lexsort((pairs[:, 1], pairs[:, 0]))
    return pairs[order], exact[order]


_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _same_numbers(df: pd.DataFrame, pairs: np.ndarray) -> np.ndarray:
    """The one-edit pairs whose records state the same numbers.

    In a short record a different number is different content, not a rewording: "Is 7 prime? Yes." and
    "Is 11 prime? Yes." are two questions, as are two prices or two years. Only the (few) one-edit
    pairs are looked at, so a regex per record is cheap here.
    """
    rows = np.unique(pairs)
    texts = dict(zip(rows.tolist(), record_texts(df.iloc[rows]), strict=True))
    numbers = {r: _NUMBER.findall(t) for r, t in texts.items()}
    same = np.fromiter((numbers[a] == numbers[b] for a, b in pairs.tolist()), dtype=bool, count=len(pairs))
    return pairs[same]


# --- reordered sentences and lines ------------------------------------------------------------------------
#
# Swapping two sentences, or two list items, keeps every word of a record but breaks the shingles that span
# the seams: a 3-sentence answer with two swapped keeps a Jaccard of ~0.8, under the threshold, although it
# says the same. So the text of each field is also cut into segments, at line breaks and after a sentence
# mark (. ! ?, CJK marks folded to these), and two records whose fields hold the same segments in another
# order are near-duplicates. A mark does not end a segment after a list label: a word-path token under
# 4 bytes ("1.", "a.", "iv.") or, on the Han path, a run of one or two ASCII letters or digits; so
# "1. install\n2. configure" and "1. configure\n2. install" (same labels, items swapped: another order of
# steps) differ, while items that move with their labels match. Segments are compared as token sequences
# (words, or Han-path characters without whitespace), so spacing, case and pangu spacing inside them do
# not matter either.
#
# Order can be the content when the pieces are short: "Is 7 prime? Yes. Is 8 prime? No." against "... No.
# ... Yes." are two different answers. So the segments under ``REORDER_MIN_TOKENS`` (4 words, 8 Han
# characters: a statement of its own is longer than "Yes." or "Thanks,") must stay in the same order; only
# longer ones may move. A sentence never moves between fields (a question turned into an answer).
#
# Candidates are cheap: per record, the sum of the shingle hashes that lie inside one segment and the sum of
# the token hashes (computed with the shingles, :func:`_reorder_keys`) do not change when segments move;
# records that share both but not the sum of all their shingles are the candidates, and each pair is then
# checked on the segments themselves (:func:`reorder_segments`), so a collision merges nothing. The keys cut
# the whole record as its shingles see it (one script path per record), the check each field on its own
# path; the two differ only where a field's script is not its record's (an English instruction in a Chinese
# record), which can cost a pair, never merge one.
REORDER_MIN_TOKENS = {False: 4, True: 8}  # words / Han-path characters a segment needs to move
_SENTENCE_MARKS = frozenset(".!?")
_ASCII_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_LINE_BREAK = re.compile(r"[\n\v\f\r]")
_NON_SPACE = re.compile(r"\S+")
_PANGU_CUT = re.compile(f"(?<={HAN})(?=[0-9a-z])|(?<=[0-9a-z])(?={HAN})")
Segment = tuple[str, ...]


def reorder_segments(text: str) -> tuple[bool, list[Segment]]:
    """(Han path, segments) of one field's raw text: normalised as a record is (:func:`record_texts`, line
    breaks kept), tokenised as its path shingles it (words, cut where Han meets an ASCII letter or digit; or
    Han-path characters without whitespace), and cut at line breaks and after sentence marks (see above)."""
    t = unicodedata.normalize("NFKC", fold_punctuation(text)).casefold()
    cjk = is_cjk(normalize_text(t))
    segs: list[list[str]] = []
    if cjk:
        before = ["", "", "", ""]  # the last four kept characters, the latest last
        brk = False
        for c in t:
            if c.isspace():
                brk = brk or c in "\n\v\f\r"
                continue
            a4, a3, a2 = (x in _ASCII_ALNUM for x in before[:3])
            label = a2 and not (a3 and a4)  # one or two letters or digits before the mark: "a." / "12."
            if not segs or brk or (before[3] in _SENTENCE_MARKS and not label):
                segs.append([])
            segs[-1].append(c)
            before = [*before[1:], c]
            brk = False
    else:
        last, end = "", 0
        for m in _NON_SPACE.finditer(t):
            brk = _LINE_BREAK.search(t, end, m.start()) is not None
            end = m.end()
            for k, tok in enumerate(_PANGU_CUT.sub(" ", m.group()).split(" ")):
                if not segs or (k == 0 and brk) or (last[-1:] in _SENTENCE_MARKS and len(last.encode()) >= 4):
                    segs.append([])
                segs[-1].append(tok)
                last = tok
    return cjk, [tuple(seg) for seg in segs]


def _moved(a: list[tuple[bool, list[Segment]]], b: list[tuple[bool, list[Segment]]]) -> bool:
    """True when each field of ``a`` and ``b`` holds the same segments, the short ones in the same order."""
    for (cjk_a, seg_a), (cjk_b, seg_b) in zip(a, b, strict=True):
        if cjk_a != cjk_b or sorted(seg_a) != sorted(seg_b):
            return False
        k = REORDER_MIN_TOKENS[cjk_a]
        if [s for s in seg_a if len(s) < k] != [s for s in seg_b if len(s) < k]:
            return False
    return a != b


def reorder_pairs(df: pd.DataFrame, sh: Shingles) -> np.ndarray:
    """Pairs (i < j) of rows of ``df`` (shingled as ``sh``) whose fields hold the same sentences and lines in
    another order (see above)."""
    none = np.zeros((0, 2), dtype=np.int64)
    keys = sh.reorder
    if keys is None:
        return none
    sel = np.flatnonzero(keys.keyed)
    sel = sel[pd.Series(keys.order[sel]).duplicated(keep=False).to_numpy()]
    # One record per (order, content): the others have its shingles, and MinHash pairs them with it.
    sel = sel[~pd.DataFrame({"o": keys.order[sel], "c": keys.content[sel]}).duplicated().to_numpy()]
    if len(sel) < 2:
        return none
    pairs = np.sort(sh.rows[sel[_bucket_pairs(keys.order[sel])]], axis=1)
    if not len(pairs):
        return none
    rows = np.unique(pairs).tolist()
    texts = [df[c].iloc[rows].astype(str).tolist() for c in _FIELDS]
    segments = {r: [reorder_segments(t) for t in fields] for r, *fields in zip(rows, *texts, strict=True)}
    ok = np.fromiter((_moved(segments[a], segments[b]) for a, b in pairs.tolist()), dtype=bool, count=len(pairs))
    return pairs[ok]


def _confirm(
    flat: np.ndarray, offsets: np.ndarray, threshold: float, num_perm: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(pairs of record positions in ``offsets`` whose exact Jaccard >= threshold, that Jaccard)."""
    if _HAVE_RENSA:
        recs, sigs = _rensa_signatures(flat, offsets, num_perm, seed, threshold)
    else:
        recs, sigs = datasketch_signatures(flat, offsets, num_perm, seed)
    local = candidate_pairs(sigs)
    est = estimated_jaccard(sigs, local)
    # The MinHash estimate has a standard error of ~0.03 at 128 permutations near 0.85, so
    # pairs within a margin of the threshold are settled on their exact Jaccard instead:
    # cheap, because only candidate pairs (a few per cent of rows) are ever compared.
    pairs = recs[local[est >= threshold - EXACT_MARGIN]].reshape(-1, 2)
    exact = exact_jaccard(flat, offsets, pairs)
    ok = exact >= threshold
    return pairs[ok], exact[ok]


_SENTINEL = np.uint64(0xFFFFFFFFFFFFFFFF)
_EXACT_BLOCK = 1 << 22  # matrix cells per step of exact_jaccard: bounds its memory


def exact_jaccard(flat: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Jaccard of the shingle-hash sets of each pair of records (positions in ``offsets``).

    Vectorised: pairs are bucketed by the larger record's shingle count (next power of two, W), each
    record becomes a row of W sorted hashes with repeats blanked to a sentinel, and the intersection
    of a pair is the number of equal neighbours in its two rows sorted together.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    out = np.empty(len(pairs), dtype=np.float64)
    if not len(pairs):
        return out
    counts = offsets[pairs + 1] - offsets[pairs]
    width = np.maximum(1, counts.max(axis=1))
    bucket = np.ceil(np.log2(width)).astype(np.int64)
    for b in np.unique(bucket).tolist():
        sel = np.flatnonzero(bucket == b)
        w = 1 << max(b, 4)
        for lo in range(0, len(sel), max(1, _EXACT_BLOCK // (4 * w))):
            part = sel[lo : lo + max(1, _EXACT_BLOCK // (4 * w))]
            out[part] = _jaccard_block(flat, offsets, pairs[part], w)
    return out


def _jaccard_block(flat: np.ndarray, offsets: np.ndarray, pairs: np.ndarray, w: int) -> np.ndarray:
    recs, inv = np.unique(pairs, return_inverse=True)
    inv = inv.reshape(-1, 2)
    sub, sub_off = _subset(flat, offsets, recs)
    if (sub == _SENTINEL).any():  # a real hash equal to the sentinel: do this block the plain way
        sets = [set(sub[a:b].tolist()) for a, b in pairwise(sub_off.tolist())]
        res = np.empty(len(inv), dtype=np.float64)
        for k, (a, b) in enumerate(inv.tolist()):
            union = len(sets[a] | sets[b])
            res[k] = len(sets[a] & sets[b]) / union if union else 1.0
        return res
    counts = np.diff(sub_off)
    rows = np.full((len(recs), w), _SENTINEL, dtype=np.uint64)
    cell = np.repeat(np.arange(len(recs)) * w - sub_off[:-1], counts) + np.arange(len(sub))
    rows.ravel()[cell] = sub
    rows.sort(axis=1)
    rows[:, 1:][rows[:, 1:] == rows[:, :-1]] = _SENTINEL
    uniq = (rows != _SENTINEL).sum(axis=1)
    both = np.concatenate([rows[inv[:, 0]], rows[inv[:, 1]]], axis=1)
    both.sort(axis=1)
    inter = ((both[:, 1:] == both[:, :-1]) & (both[:, 1:] != _SENTINEL)).sum(axis=1)
    union = uniq[inv[:, 0]] + uniq[inv[:, 1]] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 1.0)


# --- short records: one edit -------------------------------------------------------------------------------
#
# One substitution of a block of m tokens in a record of L tokens changes at most c = k + m - 1 of its
# S = L - k + 1 k-shingles (those that overlap the block), and the other record gets at most c new ones, so
# the two shingle sets keep a Jaccard of at least (S - c) / (S + c). That is >= t exactly when
# S >= c (1 + t) / (1 - t): with t = 0.85, word 3-grams and m = 1 word, c = 3 and S >= 37, so L >= 39
# words; with Han 5-grams and m = 2 characters (a Chinese word is 1-2 characters), c = 6 and S >= 74, so
# L >= 78 characters. From there on the fixed threshold already counts a one-word edit as a near-duplicate
# and records keep the MinHash path alone. Below it, the Jaccard a one-word edit leaves,
# (S - c) / (S + c), falls fast and reaches 0 at S <= c (every shingle touches the edit), so no Jaccard
# threshold can be lowered far enough: one low enough to admit a one-word edit in the middle of a
# 7-word record (2 of 8 shingles shared, 0.25) also admits two words changed at its end (3 of 7, 0.43),
# which is "What is the capital of France? Paris." against "... of Peru? Lima.". So under that length
# the adapted threshold is applied as what it stands for: the two token sequences are equal except for
# one contiguous block of at most m tokens on each side (one word or two Han characters substituted,
# inserted or deleted), and they share at least k tokens. A record's text is instruction + input +
# output, so a question that differs in one word and has a different answer differs in two places and
# is never merged this way. (Exact Jaccard >= t still applies to short records too.)
#
# Candidates are exhaustive, not sampled: every record emits one key per way of cutting out a block of
# w <= m tokens, hashing (what is before it, by position from the start; what is after it, by position
# from the end); two records share a key exactly when they are one such edit apart. Each key pair is then
# checked on the tokens themselves, so a hash collision cannot merge anything.
SHORT_EDIT_TOKENS = {False: 1, True: 2}  # tokens in the one edit: a word, or two Han characters
SHORT_MAX = 256  # never treat records of this many tokens or more as short, whatever the threshold


def short_lengths(threshold: float) -> tuple[int, int] | None:
    """(word tokens, Han characters): records with fewer are short for ``threshold`` (the L above, capped at
    ``SHORT_MAX``), or None at threshold >= 1, where no edit is a near-duplicate at any length."""
    if threshold >= 1:
        return None
    t = max(threshold, 0.0)
    out = []
    for cjk, k in ((False, WORD_NGRAM), (True, CJK_NGRAM)):
        c = k + SHORT_EDIT_TOKENS[cjk] - 1
        s_min = math.ceil(c * (1 + t) / (1 - t) - 1e-9)  # the float noise in 3 * 1.85 / 0.15 must not round up
        out.append(min(s_min + k - 1, SHORT_MAX))
    return out[0], out[1]


def short_token_limits(threshold: float) -> tuple[int, int] | None:
    """Token limits for :func:`text_shingles`: the short lengths plus m, so that the partner of a short record
    (up to m tokens longer) is looked at too."""
    lengths = short_lengths(threshold)
    if lengths is None:
        return None
    return lengths[0] + SHORT_EDIT_TOKENS[False], lengths[1] + SHORT_EDIT_TOKENS[True]


def settings(threshold: float, num_perm: int = 128) -> dict:
    """The near-duplicate rule's parameters, as a gate report records them."""
    lengths = short_lengths(threshold)
    return {
        "jaccard_threshold": threshold,
        "num_perm": num_perm,
        "lsh_bands": f"{num_perm // BAND_ROWS} x {BAND_ROWS}",
        "shingles": f"word {WORD_NGRAM}-grams; Han-character {CJK_NGRAM}-grams when Han >= {CJK_RATIO:.0%}",
        "punctuation": "CJK and full-width punctuation folded to ASCII",
        "spacing": "whitespace, line breaks and case ignored; Han next to an ASCII letter or digit split as if spaced",
        "exact_jaccard_margin": EXACT_MARGIN,
        "one_edit_rule_below": None
        if lengths is None
        else {"words": lengths[0], "han_chars": lengths[1], "edit_words": 1, "edit_han_chars": 2},
        "reorder_rule": {
            "segments": "lines, and sentences ending in . ! ? (not list labels such as 1. or a.)",
            "min_moved_words": REORDER_MIN_TOKENS[False],
            "min_moved_han_chars": REORDER_MIN_TOKENS[True],
        },
    }


def one_edit_jaccard(tokens: int, cjk: bool) -> float:
    """The lowest shingle Jaccard one edit (one word, two Han characters) can leave in a record of ``tokens``
    tokens: (S - c) / (S + c), 0 when every shingle touches the edit. The derivation is above."""
    k = CJK_NGRAM if cjk else WORD_NGRAM
    c = k + SHORT_EDIT_TOKENS[cjk] - 1
    s = max(tokens - k + 1, 1)
    return max(0.0, (s - c) / (s + c))


_KEY_PRE = np.uint64(0xD6E8FEB86659FD93)
_KEY_SUF = np.uint64(0xA0761D6478BD642F)
_KEY_LEN = np.uint64(0xE7037ED1A0B428DB)


def _edit_sums(short: ShortTokens) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(forward and backward running sums of the position-tagged token hashes, the per-record script salt)."""
    counts = np.diff(short.offsets)
    starts = short.offsets[:-1]
    n_tok = len(short.flat)
    rec_of = np.repeat(np.arange(len(counts)), counts)
    pos = np.arange(n_tok, dtype=np.int64) - starts[rec_of]
    back = counts[rec_of] - 1 - pos
    # token hashed with its position from the start (for the part before the cut) / from the end (after it)
    fwd = np.zeros(n_tok + 1, dtype=np.uint64)
    np.cumsum(mix(short.flat + pos.astype(np.uint64) * _KEY_PRE), out=fwd[1:])
    bwd = np.zeros(n_tok + 1, dtype=np.uint64)
    np.cumsum(mix(short.flat ^ (back.astype(np.uint64) * _KEY_SUF)), out=bwd[1:])
    return fwd, bwd, short.cjk.astype(np.uint64) * GOLD


def edit_halves(short: ShortTokens) -> tuple[np.ndarray, np.ndarray]:
    """(key, record) of the prefix and suffix keys of each short record (see :func:`_edit_keys`): two records
    one edit apart share one, so a record sharing none with any other has no one-edit partner. Row-local, so
    validate.raydedup computes them per block and shuffles them by key."""
    counts = np.diff(short.offsets)
    starts = short.offsets[:-1]
    ks = np.where(short.cjk, CJK_NGRAM, WORD_NGRAM)
    ms = np.where(short.cjk, SHORT_EDIT_TOKENS[True], SHORT_EDIT_TOKENS[False])
    fwd, bwd, salt = _edit_sums(short)
    able = np.flatnonzero(counts >= ks)  # fewer than k tokens: nothing can be shared enough
    halves, owner = [], []
    for d in range(max(SHORT_EDIT_TOKENS.values()) + 1):
        recs = able[d <= ms[able]]
        h = np.minimum((counts[recs] + d - ms[recs] + 1) // 2, counts[recs])
        tag = mix(h.astype(np.uint64) * _KEY_LEN + salt[recs])
        s0 = starts[recs]
        halves += [fwd[s0 + h] - fwd[s0] + tag, (bwd[s0 + counts[recs]] - bwd[s0 + counts[recs] - h]) ^ tag]
        owner += [recs, recs]
    if not halves:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(halves), np.concatenate(owner)


def _edit_keys(short: ShortTokens) -> tuple[np.ndarray, np.ndarray]:
    """(key, record) for every way of cutting a block of w <= m tokens out of each short record that can
    have a partner at all.

    Two records one edit apart share their first h or their last h tokens, h = ceil((L - m) / 2) for the
    longer one's length L. Each record emits that prefix and suffix key for each length it could be the
    shorter of (its own up to + m): 2 (m + 1) keys, so a record with none of them shared is dropped before
    the (m + 1) L cut keys are made. Unique records (most of them) cost a few numpy passes.
    """
    counts = np.diff(short.offsets)
    starts = short.offsets[:-1]
    ks = np.where(short.cjk, CJK_NGRAM, WORD_NGRAM)
    ms = np.where(short.cjk, SHORT_EDIT_TOKENS[True], SHORT_EDIT_TOKENS[False])
    fwd, bwd, salt = _edit_sums(short)
    half, owner_of = edit_halves(short)
    order = np.lexsort((owner_of, half))  # a record may emit one key twice: a run needs two owners
    hs, os_ = half[order], owner_of[order]
    first = np.flatnonzero(np.r_[True, hs[1:] != hs[:-1]])
    last = np.r_[first[1:], len(hs)] - 1
    run = np.repeat(os_[first] != os_[last], last - first + 1)
    live = np.zeros(len(counts), dtype=bool)
    live[os_[run]] = True

    keys, owners = [], []
    for w in range(max(SHORT_EDIT_TOKENS.values()) + 1):
        recs = np.flatnonzero(live & (w <= ms) & (counts - w >= ks))  # keep at least k tokens in common
        if not len(recs):
            continue
        n_cut = counts[recs] - w + 1  # the block starts at i = 0 .. L - w
        rec = np.repeat(recs, n_cut)
        i = np.arange(int(n_cut.sum()), dtype=np.int64) - np.repeat(_offsets(n_cut)[:-1], n_cut)
        s0 = starts[rec]
        before = fwd[s0 + i] - fwd[s0]
        after = bwd[s0 + counts[rec]] - bwd[s0 + i + w]
        tail = (counts[rec] - i - w).astype(np.uint64)
        key = mix_inplace(before + i.astype(np.uint64) * _KEY_LEN + salt[rec])
        key ^= mix_inplace(after + tail * _KEY_LEN)
        keys.append(mix_inplace(key))
        owners.append(rec)
    if not keys:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    return np.concatenate(keys), np.concatenate(owners)


def _bucket_pairs(key: np.ndarray) -> np.ndarray:
    """Pairs of positions (i, j) in ``key`` with equal keys: all pairs of a bucket up to ``ALL_PAIRS_MAX``
    members, a star on the first member plus a chain above that (linear, still connects the bucket)."""
    m = len(key)
    order = np.argsort(key)
    ks = key[order]
    starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
    sizes = np.diff(np.r_[starts, m])
    out: list[np.ndarray] = [np.zeros((0, 2), dtype=np.int64)]
    for size in np.unique(sizes[(sizes > 1) & (sizes <= ALL_PAIRS_MAX)]).tolist():
        members = order[starts[sizes == size][:, None] + np.arange(size)]
        iu, ju = np.triu_indices(size, 1)
        out.append(np.stack([members[:, iu].ravel(), members[:, ju].ravel()], axis=1))
    for s, size in zip(starts[sizes > ALL_PAIRS_MAX].tolist(), sizes[sizes > ALL_PAIRS_MAX].tolist(), strict=True):
        members = order[s : s + size]
        out.append(np.stack([np.repeat(members[0], size - 1), members[1:]], axis=1))
        out.append(np.stack([members[:-1], members[1:]], axis=1))
    return np.concatenate(out).astype(np.int64)


def _one_edit(a: list[int], b: list[int], m: int, k: int) -> bool:
    """True when ``a`` and ``b`` are equal but for one block of <= m tokens each, and share >= k tokens."""
    if abs(len(a) - len(b)) > m:
        return False
    n = min(len(a), len(b))
    p = 0
    while p < n and a[p] == b[p]:
        p += 1
    s = 0
    while s < n - p and a[-1 - s] == b[-1 - s]:
        s += 1
    return len(a) - p - s <= m and len(b) - p - s <= m and p + s >= k


def short_edit_pairs(short: ShortTokens) -> np.ndarray:
    """Pairs (i < j) of input rows, both short records of the same path, that are one edit apart (see above)."""
    key, owner = _edit_keys(short)
    if not len(key):
        return np.zeros((0, 2), dtype=np.int64)
    pairs = owner[_bucket_pairs(key)]
    pairs = np.sort(pairs[(pairs[:, 0] != pairs[:, 1]) & (short.cjk[pairs[:, 0]] == short.cjk[pairs[:, 1]])], axis=1)
    if not len(pairs):
        return pairs.reshape(0, 2)
    n = len(short.rows)
    code = np.unique(pairs[:, 0] * n + pairs[:, 1])
    pairs = np.stack([code // n, code % n], axis=1)
    flat, off, cjk = short.flat, short.offsets, short.cjk
    ok = np.fromiter(
        (
            _one_edit(
                flat[off[a] : off[a + 1]].tolist(),
                flat[off[b] : off[b + 1]].tolist(),
                SHORT_EDIT_TOKENS[bool(cjk[a])],
                CJK_NGRAM if cjk[a] else WORD_NGRAM,
            )
            for a, b in pairs.tolist()
        ),
        dtype=bool,
        count=len(pairs),
    )
    return np.sort(short.rows[pairs[ok]], axis=1)


def default_workers() -> int:
    """Threads for shingling: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def near_duplicates(
    df: pd.DataFrame, threshold: float = 0.85, num_perm: int = 128, seed: int = 0, workers: int | None = None
) -> tuple[pd.Series, list[list[int]]]:
    """(keep_mask aligned to ``df.index``, clusters as lists of row positions with the kept row first).

    Clusters are sorted by size (largest first), then by their kept row's position; within a cluster the
    non-kept rows follow in ascending position. See the module docstring for the keep rule. ``workers``
    threads shingle the texts (default: every CPU this process may use); the result does not depend on it.
    """
    n = len(df)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return pd.Series(keep, index=df.index, name="keep"), []
    pairs, _ = confirmed_pairs(df, threshold, num_perm, seed, workers)
    clusters: list[list[int]] = []
    if len(pairs):
        nodes = np.unique(pairs)
        roots = _union_find(len(nodes), np.searchsorted(nodes, pairs))
        out_len = df["output"].iloc[nodes].astype(str).str.len().to_numpy()
        _, id_rank = np.unique(df["id"].iloc[nodes].astype(str).to_numpy(), return_inverse=True)
        # by cluster, the kept row first (longest output, then smallest id, then position), then position
        first = np.lexsort((nodes, id_rank, -out_len, roots))
        best = np.zeros(len(nodes), dtype=bool)
        best[first[np.r_[True, roots[first][1:] != roots[first][:-1]]]] = True
        keep[nodes[~best]] = False
        order = np.lexsort((nodes, ~best, roots))
        cut = np.flatnonzero(np.diff(roots[order])) + 1
        clusters = [c.tolist() for c in np.split(nodes[order], cut)]
        clusters.sort(key=lambda c: (-len(c), c[0]))
    return pd.Series(keep, index=df.index, name="keep"), clusters
