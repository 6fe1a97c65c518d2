"""Whole-column text measurements over the Arrow strings pandas 3 stores: regex search and counts (RE2 in
pyarrow), lengths, trims, edges and letter counts from the UTF-8 bytes with numpy, and the per-validation
screen that settles clean rows in one regex pass per field.

Written by hand because no library measures these per row without materialising Python strings; each
byte-level helper has a test against the regex or pyarrow definition it replaces (tests/test_quality.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pyarrow_
import pyarrow.compute as pc

from validate.text import HAN, HAN_RANGES, WEIGHT_CLASSES

# --- vectorised helpers over pyarrow ----------------------------------------------------------------------------


def as_arrow(s: pd.Series | pyarrow_.Array | pyarrow_.ChunkedArray) -> pyarrow_.Array | pyarrow_.ChunkedArray:
    """The column's Arrow data without a copy (pandas 3 "str" columns are Arrow-backed)."""
    if isinstance(s, pyarrow_.Array | pyarrow_.ChunkedArray):
        return s
    arr = s.array
    chunked = getattr(arr, "_pa_array", None)
    if isinstance(chunked, pyarrow_.ChunkedArray):
        return chunked
    if hasattr(arr, "__arrow_array__"):
        return pyarrow_.array(arr)
    return pyarrow_.array(s.astype("str").array)


def _scoped(pattern: str) -> str:
    """A pattern that can sit inside an alternation: a leading global "(?i)" becomes "(?i:...)"."""
    return f"(?i:{pattern[4:]})" if pattern.startswith("(?i)") else f"(?:{pattern})"


class Screen:
    """Per-validation cache of column statistics, and one RE2 pass per field over the union of every rare-event
    pattern (leaks, refusals, mojibake, PII, kana, code fences...).

    Clean rows, the vast majority, are settled by that single pass. Patterns come in groups (PII candidates,
    text defects, layout): a group's union runs on the flagged rows, and each check then runs its own pattern
    only on the rows its group flagged, so a row flagged for a code fence is not searched for card numbers.

    Every cached value is held against the Arrow array it was computed on (by reference, compared by identity),
    so the checks of one validation share one pass and one length per column, while a different frame, or a
    subset of one, is computed afresh.
    """

    def __init__(self, groups: dict[str, dict[str, list[str]]]):
        self.patterns = groups
        self.groups = {f: {g: "|".join(_scoped(p) for p in ps) for g, ps in gs.items()} for f, gs in groups.items()}
        self.union = {f: "|".join(gs.values()) for f, gs in self.groups.items()}
        self._cache: dict[tuple[str, str], tuple[object, Any]] = {}

    def memo(self, s: pd.Series, key: tuple[str, str], compute: Callable[[], Any]) -> Any:
        """``compute()`` for the whole column ``s``, once per validation."""
        arr = as_arrow(s)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is arr:
            return hit[1]
        value = compute()
        self._cache[key] = (arr, value)
        return value

    def rows(self, s: pd.Series, field_name: str) -> np.ndarray:
        return self.memo(s, (field_name, "screen"), lambda: contains(s, self.union[field_name]))

    def flagged(self, s: pd.Series, field_name: str, group: str | None = None) -> tuple[np.ndarray, pd.Series]:
        """The flags of the screen (or of one of its groups) and the flagged rows of ``s``."""
        if group is None:
            flags = self.rows(s, field_name)
            return flags, self.memo(s, (field_name, "flagged"), lambda: s[flags])

        def compute() -> tuple[np.ndarray, pd.Series]:
            top, sub = self.flagged(s, field_name)
            flags = np.zeros(len(s), bool)
            if len(sub):
                flags[top] = contains(sub, self.groups[field_name][group])
            return flags, s[flags]

        return self.memo(s, (field_name, f"group:{group}"), compute)

    def search(self, s: pd.Series, field_name: str, pattern: str, group: str) -> np.ndarray:
        """``contains(s, pattern)``, evaluated only on the rows that ``group`` (whose union the pattern implies)
        flagged."""
        flags, sub = self.flagged(s, field_name, group)
        if self.patterns[field_name][group] == [pattern]:
            return flags
        out = np.zeros(len(s), bool)
        if len(sub):
            out[flags] = contains(sub, pattern)
        return out

    def carry_appended(self, old: pd.Series, new: pd.Series, field_name: str) -> None:
        """Hold the screen of ``new``, the screened column ``old`` with rows appended: the flags of ``old``, then
        those of the appended rows (every pattern is row-local, so the flags are those of a pass over ``new``)."""
        head = self.rows(old, field_name)
        tail = contains(new.iloc[len(old) :], self.union[field_name])
        self._cache[(field_name, "screen")] = (as_arrow(new), np.concatenate([head, tail]))

    def length(self, s: pd.Series, field_name: str) -> np.ndarray:
        return self.memo(s, (field_name, "length"), lambda: length(s))

    def byte_length(self, s: pd.Series, field_name: str) -> np.ndarray:
        return self.memo(s, (field_name, "bytes"), lambda: _np_int(pc.binary_length(as_arrow(s))))

    def edges(self, s: pd.Series, field_name: str) -> np.ndarray:
        """Rows whose first or last character may be whitespace."""
        return self.memo(s, (field_name, "edges"), lambda: edge_space(s))

    def stripped_length(self, s: pd.Series, field_name: str) -> np.ndarray:
        """Length after trimming whitespace; only rows with whitespace-like edges are trimmed to find out."""

        def compute() -> np.ndarray:
            n = self.length(s, field_name).copy()
            edges = self.edges(s, field_name)
            if edges.any():
                n[edges] = length(stripped(s[edges]))
            return n

        return self.memo(s, (field_name, "stripped_length"), compute)

    def task_matches(self, df: pd.DataFrame, pattern: str) -> np.ndarray:
        """``contains(task_type, pattern)``, matched once per distinct task type."""
        if not pattern:
            return np.zeros(len(df), bool)
        s = df["task_type"]

        def compute() -> np.ndarray:
            codes, uniques = pd.factorize(s)
            hit = np.append(contains(pd.Series(uniques, dtype="str"), pattern), False)
            return hit[codes]  # code -1 (missing) reads the appended False

        return self.memo(s, ("task_type", pattern), compute)

    def clear(self) -> None:
        self._cache.clear()


def np_bool(result: pyarrow_.Array | pyarrow_.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=bool)


def _np_int(result: pyarrow_.Array | pyarrow_.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(result, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def contains(s: pd.Series, pattern: str) -> np.ndarray:
    """Row-wise regex search over a whole column (RE2 in pyarrow; Python ``re`` if RE2 rejects the pattern)."""
    try:
        return np_bool(pc.match_substring_regex(as_arrow(s), pattern))
    except (pyarrow_.ArrowInvalid, pyarrow_.ArrowNotImplementedError):
        return s.astype(object).map(lambda t: isinstance(t, str) and re.search(pattern, t) is not None).to_numpy(bool)


def count(s: pd.Series, pattern: str) -> np.ndarray:
    """Row-wise count of non-overlapping regex matches."""
    try:
        return _np_int(pc.count_substring_regex(as_arrow(s), pattern))
    except (pyarrow_.ArrowInvalid, pyarrow_.ArrowNotImplementedError):
        rx = re.compile(pattern)
        return s.astype(object).map(lambda t: len(rx.findall(t)) if isinstance(t, str) else 0).to_numpy(np.int64)


def length(s: pd.Series) -> np.ndarray:
    return _np_int(pc.utf8_length(as_arrow(s)))


def stripped(s: pd.Series) -> pd.Series:
    return pd.Series(pc.utf8_trim_whitespace(as_arrow(s)), index=s.index, dtype="str")


def utf8_chunks(arr: pyarrow_.Array | pyarrow_.ChunkedArray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(offsets from 0, bytes) of each chunk of a string array, as numpy views of its buffers."""
    chunks = arr.chunks if isinstance(arr, pyarrow_.ChunkedArray) else [arr]
    for chunk in chunks:
        n = len(chunk)
        if n == 0:
            continue
        wide = pyarrow_.types.is_large_string(chunk.type) or pyarrow_.types.is_large_binary(chunk.type)
        width = 8 if wide else 4
        offsets = np.frombuffer(
            chunk.buffers()[1], dtype=np.int64 if wide else np.int32, count=n + 1, offset=chunk.offset * width
        ).astype(np.int64)
        data = chunk.buffers()[2]
        start, end = int(offsets[0]), int(offsets[-1])
        raw = (
            np.frombuffer(data, dtype=np.uint8, count=end - start, offset=start)
            if end > start
            else np.zeros(0, np.uint8)
        )
        yield offsets - start, raw


# Every character str.isspace() accepts, plus a few that older Unicode called spaces: a superset of what
# pyarrow's utf8_trim_whitespace strips, so rows whose edges hold none of them need no trimming.
_SPACES = [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\u180e", "\u200b", "\ufeff"]


def _codes(chars: list[str], width: int) -> np.ndarray:
    """The UTF-8 encodings ``width`` bytes long among ``chars``, as big-endian integers."""
    return np.array(sorted({int.from_bytes(c.encode(), "big") for c in chars if len(c.encode()) == width}), np.int32)


_SPACE_CODES = [_codes(_SPACES, w) for w in (1, 2, 3)]


def _edge_bytes(offsets: np.ndarray, b: np.ndarray, first: bool) -> list[np.ndarray]:
    """Per row, its first (or last) 1, 2 and 3 bytes as big-endian integers. Bytes beyond a short row are its
    neighbour's; a code that spans them can only match by chance, which costs a needless re-check, never a
    missed one."""
    if not len(b):
        return [np.full(len(offsets) - 1, -1, np.int32)] * 3

    def at(i: np.ndarray) -> np.ndarray:
        return np.take(b, i, mode="clip").astype(np.int32)

    if first:
        p = offsets[:-1]
        one = at(p)
        two = (one << 8) | at(p + 1)
        return [one, two, (two << 8) | at(p + 2)]
    p = offsets[1:]
    one = at(p - 1)
    two = (at(p - 2) << 8) | one
    return [one, two, (at(p - 3) << 16) | two]


def _edge_in(codes: list[np.ndarray], table: list[np.ndarray]) -> np.ndarray:
    hit = np.zeros(len(codes[0]), bool)
    for code, known in zip(codes, table, strict=True):
        if len(known):
            hit |= np.isin(code, known)
    return hit


def edge_space(s: pd.Series) -> np.ndarray:
    """True where the first or last character may be whitespace (so trimming may change the row)."""
    parts = []
    for offsets, b in utf8_chunks(as_arrow(s)):
        nonempty = offsets[1:] > offsets[:-1]
        first, last = _edge_bytes(offsets, b, True), _edge_bytes(offsets, b, False)
        parts.append(nonempty & (_edge_in(first, _SPACE_CODES) | _edge_in(last, _SPACE_CODES)))
    return np.concatenate(parts) if parts else np.zeros(len(s), bool)


def ends_with(s: pd.Series, chars: str) -> np.ndarray:
    """True where the last character is one of ``chars`` (each at most 3 bytes in UTF-8)."""
    table = [_codes(list(chars), w) for w in (1, 2, 3)]
    parts = []
    for offsets, b in utf8_chunks(as_arrow(s)):
        parts.append((offsets[1:] > offsets[:-1]) & _edge_in(_edge_bytes(offsets, b, False), table))
    return np.concatenate(parts) if parts else np.zeros(len(s), bool)


def has_byte(s: pd.Series, byte: int) -> np.ndarray:
    """True where the text holds the ASCII character ``byte`` (a line break: 10)."""
    # A plain substring search (memchr in Arrow), not a regex and not a scan of every byte in numpy.
    return np_bool(pc.match_substring(as_arrow(s), chr(byte)))


def ends_with_number_stop(s: pd.Series) -> np.ndarray:
    """True where the text ends with an ASCII digit and a full stop, "." or "．" (a numbered list marker "3.")."""
    parts = []
    for offsets, b in utf8_chunks(as_arrow(s)):
        end, size = offsets[1:], offsets[1:] - offsets[:-1]
        if not len(b):
            parts.append(np.zeros(len(end), bool))
            continue

        def at(back: int, end: np.ndarray = end, b: np.ndarray = b) -> np.ndarray:
            return np.take(b, end - back, mode="clip")

        def digit(x: np.ndarray) -> np.ndarray:
            return (x - np.uint8(48)) < 10  # uint8 arithmetic wraps below "0"

        stop = (size >= 2) & (at(1) == 0x2E) & digit(at(2))
        wide = (size >= 4) & (at(3) == 0xEF) & (at(2) == 0xBC) & (at(1) == 0x8E) & digit(at(4))
        parts.append(stop | wide)
    return np.concatenate(parts) if parts else np.zeros(len(s), bool)


def trimmed(s: pd.Series, edges: np.ndarray | None = None) -> pd.Series:
    """``s`` with leading and trailing whitespace removed (pyarrow's utf8_trim_whitespace), trimming only the
    rows whose edges may hold whitespace (``edges``, from ``edge_space`` unless given)."""
    edges = edge_space(s) if edges is None else edges
    if not edges.any():
        return s
    out = s.copy()
    out[edges] = stripped(s[edges])
    return out


BYTE_BLOCK = 1 << 18  # bytes per vector step (a multiple of 8): temporaries stay in the L2 cache
_BYTE_SUM = np.uint64(0x0101010101010101)
_TOP = np.uint64(56)


def _word_sums(words: np.ndarray, out: np.ndarray, tmp: np.ndarray) -> None:
    """Sum of the 8 bytes of each uint64 word (each byte at most 31, so no carries): one multiply per word."""
    np.multiply(words, _BYTE_SUM, out=tmp)
    np.right_shift(tmp, _TOP, out=tmp)
    out[:] = tmp


def _letter_prefix(b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-byte flags of UTF-8 bytes ``b`` (1: ASCII letter, 2: first byte of a Han character) as uint64 words,
    and prefix sums over whole words of (letters + 2 * Han) and of Han.

    Han is 3 bytes in UTF-8: lead bytes E4-E9 start U+4000-U+9FFF, all Han but U+4DC0-4DFF (E4 B7, the
    hexagrams); E3 starts Han from U+3400 (second byte 90-BF); EF starts U+F900-FAFF (second byte A4-AB).
    """
    n = len(b)
    n_words = n // 8 + 1
    flags = np.zeros(n_words * 8, np.uint8)
    both = np.zeros(n_words, np.uint8)
    han_w = np.zeros(n_words, np.uint8)
    t, u = np.empty(BYTE_BLOCK, np.uint8), np.empty(BYTE_BLOCK, np.uint8)
    m, m2, m3 = np.empty(BYTE_BLOCK, bool), np.empty(BYTE_BLOCK, bool), np.empty(BYTE_BLOCK, bool)
    w1, w2 = np.empty(BYTE_BLOCK // 8 + 1, np.uint64), np.empty(BYTE_BLOCK // 8 + 1, np.uint64)
    for a in range(0, n, BYTE_BLOCK):
        z = min(a + BYTE_BLOCK, n)
        k = z - a
        # The byte after each byte; past the end, 0 (no copy of the data for that one byte).
        nxt = b[a + 1 : z + 1] if z < n else np.append(b[a + 1 : z], np.uint8(0))
        blk, f = b[a:z], flags[a:z]
        tt, uu, mm, mm2, mm3 = t[:k], u[:k], m[:k], m2[:k], m3[:k]
        np.bitwise_or(blk, 0x20, out=tt)
        tt -= 97
        np.less(tt, 26, out=mm)
        f[:] = mm
        np.subtract(blk, 0xE3, out=uu)  # E3 -> 0, E4..E9 -> 1..6, EF -> 12
        np.subtract(uu, 1, out=tt)
        np.less_equal(tt, 5, out=mm)
        np.equal(uu, 0, out=mm2)
        np.greater_equal(nxt, 0x90, out=mm3)
        mm2 &= mm3
        mm |= mm2
        np.equal(uu, 12, out=mm2)
        np.subtract(nxt, 0xA4, out=tt)
        np.less_equal(tt, 7, out=mm3)
        mm2 &= mm3
        mm |= mm2
        np.equal(uu, 1, out=mm2)
        np.equal(nxt, 0xB7, out=mm3)
        mm2 &= mm3
        mm ^= mm2
        f += mm
        f += mm
        wa, wz = a // 8, (z + 7) // 8
        words = flags[wa * 8 : wz * 8].view("<u8")
        _word_sums(words, both[wa:wz], w1[: wz - wa])
        np.right_shift(words, np.uint64(1), out=w2[: wz - wa])
        w2[: wz - wa] &= _BYTE_SUM
        _word_sums(w2[: wz - wa], han_w[wa:wz], w1[: wz - wa])
    # Each word adds at most 16 (letters + 2 * Han), so int32 prefix sums (faster) hold below 128 MiB of text.
    total = np.int32 if n < 1 << 27 else np.int64
    cum_both = np.concatenate([[0], np.cumsum(both, dtype=total)]).astype(np.int64, copy=False)
    cum_han = np.concatenate([[0], np.cumsum(han_w, dtype=total)]).astype(np.int64, copy=False)
    return flags.view("<u8"), cum_both, cum_han


def _counts_before(
    p: np.ndarray, words: np.ndarray, cum_both: np.ndarray, cum_han: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(letters + 2 * Han, Han) among the bytes before each byte position ``p``: whole words from the prefix
    sums, plus the flagged bytes of the partial word."""
    word, below = p >> 3, (np.uint64(1) << ((p & 7).astype(np.uint64) * np.uint64(8))) - np.uint64(1)
    part = words[word] & below
    part_both = ((part * _BYTE_SUM) >> _TOP).astype(np.int64)
    part_han = ((((part >> np.uint64(1)) & _BYTE_SUM) * _BYTE_SUM) >> _TOP).astype(np.int64)
    return cum_both[word] + part_both, cum_han[word] + part_han


# The byte pass reads 3-byte characters only; Han of the supplementary planes (4 bytes) is counted by RE2 on the
# rows that hold a 4-byte character at all, which running text almost never does.
_SUPP_HAN = "[" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in HAN_RANGES if lo > 0xFFFF) + "]"


def letter_counts(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-row counts of Han characters (``HAN``) and ASCII letters (``LATIN``), read off the UTF-8 bytes.

    A regex count pays per match, i.e. per letter; this pays a few vector operations per byte instead.
    """
    arr = as_arrow(s)
    han_parts, lat_parts, wide_parts = [], [], []
    for offsets, b in utf8_chunks(arr):
        prefix = _letter_prefix(b)
        (b1, h1), (b0, h0) = _counts_before(offsets[1:], *prefix), _counts_before(offsets[:-1], *prefix)
        han_parts.append(h1 - h0)
        lat_parts.append((b1 - b0) - 2 * (h1 - h0))
        wide_parts.append(np.diff(np.searchsorted(np.flatnonzero(b >= 0xF0), offsets)) > 0)
    if not han_parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    han = np.concatenate(han_parts)
    wide = np.flatnonzero(np.concatenate(wide_parts))
    if len(wide):
        han[wide] += _np_int(pc.count_substring_regex(arr.take(pyarrow_.array(wide)), _SUPP_HAN))
    return han, np.concatenate(lat_parts)


# Quarter-character weights of validate.text.WEIGHT_CLASSES: Han through letter_counts, the other scripts by RE2
# counts on the non-ASCII rows that hold any of them.
_HAN_EXTRA = dict(WEIGHT_CLASSES)[HAN]
_OTHER_WEIGHTS = tuple((cls, extra) for cls, extra in WEIGHT_CLASSES if cls != HAN)
_ANY_OTHER = "|".join(cls for cls, _ in _OTHER_WEIGHTS)


def _other_quarters(s: pd.Series) -> np.ndarray:
    arr = as_arrow(s)
    out = np.zeros(len(arr), np.int64)
    rows = np.flatnonzero(~np_bool(pc.string_is_ascii(arr)))
    if len(rows):
        rows = rows[np_bool(pc.match_substring_regex(arr.take(pyarrow_.array(rows)), _ANY_OTHER))]
    if len(rows):
        sub = arr.take(pyarrow_.array(rows))
        out[rows] = sum(extra * _np_int(pc.count_substring_regex(sub, cls)) for cls, extra in _OTHER_WEIGHTS)
    return out


def weighted_lengths(s: pd.Series, rows: np.ndarray | None = None, n: np.ndarray | None = None) -> np.ndarray:
    """``validate.text.weighted_length(normalize=False)`` of every row, from the same weights table.

    ``rows`` limits the weighting to those rows (elsewhere the plain length ``n`` is returned).
    """
    n = length(s) if n is None else n
    if rows is None:
        return n + (_HAN_EXTRA * letter_counts(s)[0] + _other_quarters(s)) // 4
    out = n.copy()
    if rows.any():
        sub = s[rows]
        out[rows] += (_HAN_EXTRA * letter_counts(sub)[0] + _other_quarters(sub)) // 4
    return out


def approx_tokens(s: pd.Series) -> np.ndarray:
    """``validate.text.estimate_tokens`` of every row: one token per Han character plus one per ~4 others."""
    han = letter_counts(s)[0]
    return han + np.ceil((length(s) - han) / 4).astype(np.int64)
