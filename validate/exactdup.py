"""Exact duplicates at gate scale: the normalised key of a record (``validate.text.normalize_text`` made
whole-column) and 64-bit fingerprints of it, so only rows whose fingerprints collide are ever compared.

Written by hand: hashing every key with a library hash would first build every key, and building keys
(NFKD + lowercase + whitespace collapse) is the cost this module avoids for plain rows.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pyarrow_
import pyarrow.compute as pc

from validate.arrowtext import BYTE_BLOCK, as_arrow, contains, edge_space, np_bool, utf8_chunks
from validate.pii import TEXT_FIELDS

DEDUP_SPACE = "[\t\n\v\f\r \x85\u2028\u2029]"
DEDUP_BREAK = "[\t\n\v\f\r\x85\u2028\u2029]"  # DEDUP_SPACE but the plain space
# A character that NFKD or lowercasing may change, beyond ASCII letters: anything but ASCII, CJK Ext. A, Yijing
# symbols, CJK Unified Ideographs and "。" (tests/test_quality.py checks the class against unicodedata).
NFKD_UNSTABLE = r"[^\x{0}-\x{7f}\x{3002}\x{3400}-\x{9fff}]"


def has_breaks(arr: pyarrow_.Array | pyarrow_.ChunkedArray) -> np.ndarray:
    """``contains(arr, DEDUP_BREAK + "|  ")`` from the UTF-8 bytes: True where a row holds \\t \\n \\v \\f \\r, U+0085,
    U+2028, U+2029 or two spaces in a row. A regex scan costs about five times as much per byte."""
    parts = []
    for offsets, b in utf8_chunks(as_arrow(arr)):
        n = len(b)
        hits = []
        t, m, m2 = np.empty(BYTE_BLOCK, np.uint8), np.empty(BYTE_BLOCK, bool), np.empty(BYTE_BLOCK, bool)
        for a in range(0, n, BYTE_BLOCK):
            z = min(a + BYTE_BLOCK, n)
            k = z - a
            blk = b[a:z]
            nxt = b[a + 1 : z + 1] if z < n else np.append(b[a + 1 : z], np.uint8(0))
            tt, mm, mm2 = t[:k], m[:k], m2[:k]
            np.subtract(blk, 9, out=tt)
            np.less_equal(tt, 4, out=mm)  # \t \n \v \f \r
            np.equal(blk, 32, out=mm2)
            mm2 &= nxt == 32
            mm |= mm2
            np.equal(blk, 0xC2, out=mm2)  # U+0085 is C2 85; U+2028/2029 are E2 80 A8/A9
            mm2 |= blk == 0xE2
            idx = np.flatnonzero(mm2)
            if len(idx):
                at = a + idx
                b1, b2 = b[np.minimum(at + 1, n - 1)], b[np.minimum(at + 2, n - 1)]
                lead = blk[idx]
                nel = (lead == 0xC2) & (at + 1 < n) & (b1 == 0x85)
                sep = (lead == 0xE2) & (at + 2 < n) & (b1 == 0x80) & ((b2 == 0xA8) | (b2 == 0xA9))
                mm[idx[nel | sep]] = True
            hits.append(np.flatnonzero(mm) + a)
        rows = np.zeros(len(offsets) - 1, bool)
        where = np.concatenate(hits) if hits else np.zeros(0, np.int64)
        if len(where):
            row = np.searchsorted(offsets, where, side="right") - 1
            # A space that ends one row and one that starts the next are no run: keep hits whose pair is inside.
            inside = (b[where] != 32) | (where + 1 < offsets[row + 1])
            rows[row[inside]] = True
        parts.append(rows)
    return np.concatenate(parts) if parts else np.zeros(0, bool)


def _nfkd_lower(arr: pyarrow_.Array | pyarrow_.ChunkedArray) -> pyarrow_.Array | pyarrow_.ChunkedArray:
    return pc.utf8_lower(pc.utf8_normalize(arr, "NFKD"))


def _key_pieces(
    s: pd.Series | pyarrow_.Array | pyarrow_.ChunkedArray,
    rows: np.ndarray | None = None,
    ascii_: np.ndarray | None = None,
) -> list[tuple[np.ndarray, pyarrow_.Array | pyarrow_.ChunkedArray]]:
    """The dedup key of each row of ``s`` (validate.text.normalize_text, vectorised: NFKD, which is equal iff NFKC
    is, lowercase, whitespace collapsed and trimmed), as pieces (row positions, keys); a later piece overrides
    earlier ones at its positions.

    ASCII text is its own NFKD form, so it is only lowercased. NFKD already turns NBSP, ideographic and other
    Unicode spaces into " ", so the collapse and trim run only on rows that still hold tabs, newlines or runs of
    spaces, or whose edges may hold whitespace.

    Only ``rows`` of ``s`` (ascending), if given, are keyed, positions in the pieces being indices into ``rows``
    (taken straight from the column, not from a copy of those rows); ``ascii_`` may give
    ``string_is_ascii`` of every row of ``s``.
    """
    arr = as_arrow(s)
    if ascii_ is None:
        ascii_ = np_bool(pc.string_is_ascii(arr))
    if rows is not None:
        ascii_ = ascii_[rows]
    groups = []
    for at, wide in ((np.flatnonzero(ascii_), False), (np.flatnonzero(~ascii_), True)):
        if not len(at):
            continue
        src = at if rows is None else rows[at]
        text = arr if len(src) == len(arr) else arr.take(src)
        groups.append((at, pc.ascii_lower, text))
        if wide:
            # Text of ASCII, Han and "。" only is its own NFKD and has no case beyond ASCII: ascii_lower is its
            # key too, at a fraction of the cost. The others are folded fully, overriding.
            unstable = contains(text, NFKD_UNSTABLE)
            if unstable.all():
                groups[-1] = (at, _nfkd_lower, text)
            elif unstable.any():
                groups.append((at[unstable], _nfkd_lower, text.filter(pyarrow_.array(unstable))))
    pieces = []
    for at, fold, text in groups:
        folded = fold(text)
        pieces.append((at, folded))
        fix = has_breaks(folded) | edge_space(folded)
        if fix.any():
            collapsed = pc.replace_substring_regex(folded.take(np.flatnonzero(fix)), DEDUP_SPACE + "+", " ")
            pieces.append((at[fix], pc.utf8_trim_whitespace(collapsed)))
    return pieces


def dedup_keys(df: pd.DataFrame) -> pd.DataFrame:
    """The dedup key of every row, one column per text field (see ``_key_pieces``)."""
    key = {}
    for f in TEXT_FIELDS:
        where = np.zeros(len(df), np.int64)
        chunks, base = [], 0
        pieces = _key_pieces(df[f])
        for rows, keys in pieces:
            where[rows] = base + np.arange(len(rows))
            base += len(rows)
            chunks += keys.chunks if isinstance(keys, pyarrow_.ChunkedArray) else [keys]
        joined = pyarrow_.chunked_array(chunks, type=pieces[0][1].type).take(where) if pieces else as_arrow(df[f])
        key[f] = pd.Series(joined, index=df.index, dtype="str")
    return pd.DataFrame(key)


_FP_MUL = np.uint64(0x9E3779B97F4A7C15)
_FP_SAMPLES = 4


def _mix(h: np.ndarray, word: np.ndarray) -> np.ndarray:
    h = (h ^ word) * _FP_MUL
    return h ^ (h >> np.uint64(29))


def _string_fingerprints(
    arr: pyarrow_.Array | pyarrow_.ChunkedArray, rows: np.ndarray | None = None, fold_ascii: bool = False
) -> np.ndarray:
    """A 64-bit digest per string (of ``rows``, ascending, if given): its byte length mixed with 4 evenly spaced
    8-byte samples, so equal strings get equal digests. ``fold_ascii`` digests ``ascii_lower`` of each string
    instead, lowercasing only the sampled bytes rather than copying the column."""
    parts, first = [], 0
    for offsets, b in utf8_chunks(arr):
        count = len(offsets) - 1
        sel = np.arange(count) if rows is None else rows[(rows >= first) & (rows < first + count)] - first
        first += count
        start, n = offsets[:-1][sel], (offsets[1:] - offsets[:-1])[sel]
        h = n.astype(np.uint64) * _FP_MUL
        long_ = np.flatnonzero(n >= 8)
        short = np.flatnonzero((n > 0) & (n < 8))
        span = n[long_] - 8
        # Every 8-byte window of the data, as a view: row p holds bytes p..p+7.
        windows = np.lib.stride_tricks.as_strided(b, shape=(max(len(b) - 7, 0), 8), strides=(1, 1))
        for k in range(_FP_SAMPLES):
            sample = np.zeros((len(n), 8), np.uint8)
            sample[long_] = windows[start[long_] + span * k // (_FP_SAMPLES - 1)]
            if k == 0 and len(short):
                # Rows under 8 bytes: their bytes one by one (a window would reach into the next row).
                j = np.arange(8)
                sample[short] = np.where(j < n[short, None], b[np.minimum(start[short, None] + j, len(b) - 1)], 0)
            if fold_ascii:
                sample |= ((sample - np.uint8(65)) < 26).view(np.uint8) << np.uint8(5)
            h = _mix(h, sample.view("<u8").ravel())
        parts.append(h)
    return np.concatenate(parts) if parts else np.zeros(0, np.uint64)


def fingerprints(df: pd.DataFrame, rows: np.ndarray, edges: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """A 64-bit digest of the dedup key of each of ``rows`` (ascending positions in ``df``). Equal keys always
    get equal digests, so a row whose digest is unique cannot be a duplicate; the digest is no proof of
    equality, so rows that share one are compared on their keys (``exact_duplicates``).

    An ASCII row whose edges are not whitespace and which holds no whitespace run has ``ascii_lower`` of itself
    as its key: it is digested in place, with no key built; only the other rows go through ``_key_pieces``.
    ``edges`` may give ``edge_space`` of the fields of ``df`` (all its rows), as the checks computed it.
    """
    h = np.full(len(rows), 0x243F6A8885A308D3, np.uint64)
    for f in TEXT_FIELDS:
        s = df[f]
        arr = as_arrow(s)
        edge = edges[f] if edges is not None else edge_space(s)
        ascii_ = np_bool(pc.string_is_ascii(arr))
        plain = (ascii_ & ~has_breaks(arr) & ~edge)[rows]
        fp = np.zeros(len(rows), np.uint64)
        fp[plain] = _string_fingerprints(arr, rows[plain], fold_ascii=True)
        rest = np.flatnonzero(~plain)
        if len(rest):
            for at, keys in _key_pieces(arr, rows[rest], ascii_):
                fp[rest[at]] = _string_fingerprints(keys)
        h = _mix(h, fp)
    return h


def exact_duplicates(rows_of: Callable[[np.ndarray], pd.DataFrame], rows: np.ndarray, fps: np.ndarray) -> np.ndarray:
    """Positions among ``rows`` (ascending) whose dedup key equals an earlier one's, given the rows' key
    fingerprints; ``rows_of`` returns the text fields of given rows.

    Only rows sharing a fingerprint can be duplicates. Where all rows of such a group hold the very same text,
    their keys are equal too; only groups with differing texts (normalisation twins, or a digest collision)
    have their keys computed and compared.
    """
    shared = pd.Series(fps).duplicated(keep=False).to_numpy()
    if not shared.any():
        return np.zeros(0, np.int64)
    cand, group = rows[shared], fps[shared]
    text = rows_of(cand)
    codes = text.groupby(list(TEXT_FIELDS), sort=False, dropna=False).ngroup().to_numpy()
    uniform = pd.Series(codes).groupby(group).transform("nunique").to_numpy() == 1
    dup = np.zeros(len(cand), bool)
    dup[uniform] = pd.Series(group[uniform]).duplicated(keep="first").to_numpy()
    if (~uniform).any():
        dup[~uniform] = dedup_keys(text[~uniform]).duplicated(keep="first").to_numpy()
    return cand[dup]
