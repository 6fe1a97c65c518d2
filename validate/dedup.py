"""Near-duplicate detection over InstructionRecords: MinHash + LSH, confirmed by estimated Jaccard.

Text of a record = ``normalize_text(instruction + "\\n" + input + "\\n" + output)``.

Shingles, decided per record by the share of Han characters among its non-space characters:

* CJK (Han share >= ``CJK_RATIO``): character 5-grams over the text with whitespace removed. Chinese has
  no word boundaries, and 5 characters carry about as much as an English 3-word window.
* otherwise: word 3-grams over whitespace tokens.

A record shorter than n tokens gets one shingle made of all its tokens.

Shingles are hashed to stable 64-bit values in numpy (``pandas.util.hash_array`` on words, code points
for characters, then a polynomial n-gram combine + splitmix64 finaliser), so a run is reproducible
across processes (no ``PYTHONHASHSEED`` dependence).

Pipeline (rensa path):

1. ``rensa.RMinHash.digest_matrix_from_flat_token_hashes``: one MinHash signature per record, in Rust.
2. ``rensa.RMinHashLSH.insert_matrix_and_query_duplicate_flags``: which records share an LSH band with
   any other record. Only those can be in a cluster, so the rest never leave Rust.
3. For the flagged records: signatures as numpy, band them again (same bands x rows) to enumerate the
   candidate pairs, and confirm each pair by estimated Jaccard (share of equal signature slots)
   >= ``threshold``. Only confirmed pairs are clustered, with union-find.

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

import re

import numpy as np
import pandas as pd

from validate.text import normalize_text

try:  # pragma: no cover - exercised by whichever is installed
    import rensa

    _HAVE_RENSA = hasattr(rensa, "RMinHashLSH") and hasattr(rensa.RMinHash, "digest_matrix_from_flat_token_hashes")
except ImportError:  # pragma: no cover
    rensa = None
    _HAVE_RENSA = False

CJK_RATIO = 0.3
CJK_NGRAM = 5
WORD_NGRAM = 3
BAND_ROWS = 8
CHUNK = 50_000
# Buckets larger than this emit a star + chain instead of all pairs (keeps exact-dup floods linear).
ALL_PAIRS_MAX = 64

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_PRIME = np.uint64(0x100000001B3)


def backend() -> str:
    """'rensa' or 'datasketch': which library computes the signatures."""
    return "rensa" if _HAVE_RENSA else "datasketch"


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 wraps silently in numpy arrays)."""
    x = x.astype(np.uint64, copy=True)
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def record_texts(df: pd.DataFrame) -> list[str]:
    """Normalised instruction + input + output of every row, in row order."""
    return [
        normalize_text(f"{i}\n{x}\n{o}")
        for i, x, o in zip(
            df["instruction"].astype(str), df["input"].astype(str), df["output"].astype(str), strict=True
        )
    ]


def is_cjk(text: str) -> bool:
    """True when Han characters make up at least ``CJK_RATIO`` of the non-space characters."""
    han = len(_HAN.findall(text))
    if not han:
        return False
    return han >= CJK_RATIO * max(1, len(text) - text.count(" "))


def _ngrams(tok: np.ndarray, lengths: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
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
        g = g * _PRIME + val
    return _mix(g ^ np.uint64(n)), counts


def shingle_hashes(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(flat uint64 shingle hashes, row offsets of length len(texts)+1) for normalised texts."""
    flat_parts: list[np.ndarray] = []
    count_parts: list[np.ndarray] = []
    for lo in range(0, len(texts), CHUNK):
        chunk = texts[lo : lo + CHUNK]
        cjk = np.fromiter((is_cjk(t) for t in chunk), dtype=bool, count=len(chunk))
        counts = np.zeros(len(chunk), dtype=np.int64)
        pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row ids, hashes, counts)
        word_rows = np.flatnonzero(~cjk)
        if len(word_rows):
            words = [t.split() for t in (chunk[i] for i in word_rows)]
            lens = np.fromiter((len(w) for w in words), dtype=np.int64, count=len(words))
            flat_words = np.fromiter((w for ws in words for w in ws), dtype=object, count=int(lens.sum()))
            tok = pd.util.hash_array(flat_words, categorize=False).astype(np.uint64)
            h, c = _ngrams(tok, lens, WORD_NGRAM)
            pieces.append((word_rows, h, c))
        cjk_rows = np.flatnonzero(cjk)
        if len(cjk_rows):
            stripped = [chunk[i].replace(" ", "") for i in cjk_rows]
            lens = np.fromiter((len(s) for s in stripped), dtype=np.int64, count=len(stripped))
            cps = np.frombuffer("".join(stripped).encode("utf-32-le"), dtype=np.uint32)
            tok = _mix(cps.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
            h, c = _ngrams(tok, lens, CJK_NGRAM)
            pieces.append((cjk_rows, h, c))
        for rows, _, c in pieces:
            counts[rows] = c
        offs = np.zeros(len(chunk) + 1, dtype=np.int64)
        np.cumsum(counts, out=offs[1:])
        flat = np.empty(int(offs[-1]), dtype=np.uint64)
        for rows, h, c in pieces:
            local_first = np.zeros(len(c), dtype=np.int64)
            np.cumsum(c[:-1], out=local_first[1:])
            owner = np.repeat(np.arange(len(rows)), c)
            dest = offs[rows][owner] + (np.arange(len(h)) - local_first[owner])
            flat[dest] = h
        flat_parts.append(flat)
        count_parts.append(counts)
    counts_all = np.concatenate(count_parts) if count_parts else np.zeros(0, dtype=np.int64)
    offsets = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(counts_all, out=offsets[1:])
    flat_all = np.concatenate(flat_parts) if flat_parts else np.zeros(0, dtype=np.uint64)
    return flat_all, offsets


def _subset(flat: np.ndarray, offsets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The shingle hashes of ``rows`` only, with their own offsets."""
    counts = offsets[rows + 1] - offsets[rows]
    sub_off = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum(counts, out=sub_off[1:])
    owner = np.repeat(np.arange(len(rows)), counts)
    idx = offsets[rows][owner] + (np.arange(int(sub_off[-1])) - sub_off[:-1][owner])
    return np.ascontiguousarray(flat[idx]), sub_off


def _rensa_signatures(flat, offsets, num_perm, seed, threshold) -> tuple[np.ndarray, np.ndarray]:
    """(flagged row ids, their signatures). Rows outside the flag set share no LSH band with anything."""
    uoff = offsets.astype(np.uint64)
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, uoff, num_perm, seed)
    lsh = rensa.RMinHashLSH(threshold, num_perm, num_perm // BAND_ROWS)
    flags = np.asarray(lsh.insert_matrix_and_query_duplicate_flags(matrix), dtype=bool)
    rows = np.flatnonzero(flags)
    if not len(rows):
        return rows, np.zeros((0, num_perm), dtype=np.uint32)
    sub_flat, sub_off = _subset(flat, offsets, rows)
    sub = rensa.RMinHash.digest_matrix_from_flat_token_hashes(sub_flat, sub_off.astype(np.uint64), num_perm, seed)
    return rows, np.asarray(sub.to_rows(), dtype=np.uint32)


def _datasketch_signatures(flat, offsets, num_perm, seed) -> tuple[np.ndarray, np.ndarray]:
    from datasketch import MinHash

    sigs = np.empty((len(offsets) - 1, num_perm), dtype=np.uint64)
    for r in range(len(offsets) - 1):
        m = MinHash(num_perm=num_perm, seed=seed, hashfunc=lambda v: int(v) & 0xFFFFFFFF)
        m.update_batch(flat[offsets[r] : offsets[r + 1]])
        sigs[r] = m.hashvalues
    return np.arange(len(offsets) - 1), sigs


def candidate_pairs(sigs: np.ndarray, band_rows: int = BAND_ROWS) -> np.ndarray:
    """Pairs (i < j, positions in ``sigs``) that agree on all slots of at least one band. Shape (k, 2)."""
    m, num_perm = sigs.shape
    out: list[np.ndarray] = []
    for b in range(num_perm // band_rows):
        key = np.zeros(m, dtype=np.uint64)
        for c in range(b * band_rows, (b + 1) * band_rows):
            key = (key ^ sigs[:, c].astype(np.uint64)) * _PRIME
        order = np.argsort(key, kind="stable")
        ks = key[order]
        brk = np.flatnonzero(np.diff(ks) != 0) + 1
        starts = np.concatenate(([0], brk))
        sizes = np.diff(np.concatenate((starts, [m])))
        two = starts[sizes == 2]
        if len(two):
            out.append(np.stack([order[two], order[two + 1]], axis=1))
        for s, size in zip(starts[sizes > 2], sizes[sizes > 2], strict=True):
            members = order[s : s + size]
            if size <= ALL_PAIRS_MAX:
                iu, ju = np.triu_indices(size, 1)
                out.append(np.stack([members[iu], members[ju]], axis=1))
            else:  # star on the first member plus a chain: linear, still connects the bucket
                out.append(np.stack([np.repeat(members[0], size - 1), members[1:]], axis=1))
                out.append(np.stack([members[:-1], members[1:]], axis=1))
    if not out:
        return np.zeros((0, 2), dtype=np.int64)
    pairs = np.sort(np.concatenate(out).astype(np.int64), axis=1)
    return np.unique(pairs, axis=0)


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
    df: pd.DataFrame, threshold: float = 0.85, num_perm: int = 128, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(pairs of row positions confirmed as near-duplicates, their estimated Jaccard)."""
    if num_perm % BAND_ROWS:
        raise ValueError(f"num_perm must be a multiple of {BAND_ROWS}")
    flat, offsets = shingle_hashes(record_texts(df))
    if _HAVE_RENSA:
        rows, sigs = _rensa_signatures(flat, offsets, num_perm, seed, threshold)
    else:
        rows, sigs = _datasketch_signatures(flat, offsets, num_perm, seed)
    local = candidate_pairs(sigs)
    est = estimated_jaccard(sigs, local)
    # The MinHash estimate has a standard error of ~0.03 at 128 permutations near 0.85, so
    # pairs within a margin of the threshold are settled on their exact Jaccard instead:
    # cheap, because only candidate pairs (a few per cent of rows) are ever compared.
    near = est >= threshold - EXACT_MARGIN
    pairs = rows[local[near]].reshape(-1, 2)
    exact = exact_jaccard(flat, offsets, pairs)
    ok = exact >= threshold
    return pairs[ok], exact[ok]


def exact_jaccard(flat: np.ndarray, offsets: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Jaccard of the shingle-hash sets of each pair of rows."""
    sets: dict[int, np.ndarray] = {}

    def shingles(row: int) -> np.ndarray:
        if row not in sets:
            sets[row] = np.unique(flat[offsets[row] : offsets[row + 1]])
        return sets[row]

    out = np.empty(len(pairs), dtype=np.float64)
    for k, (a, b) in enumerate(pairs):
        sa, sb = shingles(int(a)), shingles(int(b))
        inter = np.intersect1d(sa, sb, assume_unique=True).size
        union = sa.size + sb.size - inter
        out[k] = inter / union if union else 1.0
    return out


def near_duplicates(
    df: pd.DataFrame, threshold: float = 0.85, num_perm: int = 128, seed: int = 0
) -> tuple[pd.Series, list[list[int]]]:
    """(keep_mask aligned to ``df.index``, clusters as lists of row positions with the kept row first).

    Clusters are sorted by size (largest first), then by their kept row's position; within a cluster the
    non-kept rows follow in ascending position. See the module docstring for the keep rule.
    """
    n = len(df)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return pd.Series(keep, index=df.index, name="keep"), []
    pairs, _ = confirmed_pairs(df, threshold, num_perm, seed)
    clusters: list[list[int]] = []
    if len(pairs):
        nodes = np.unique(pairs)
        pos = {int(v): k for k, v in enumerate(nodes)}
        edges = np.array([[pos[int(a)], pos[int(b)]] for a, b in pairs], dtype=np.int64)
        roots = _union_find(len(nodes), edges)
        out_len = df["output"].astype(str).str.len().to_numpy()
        ids = df["id"].astype(str).to_numpy()
        groups: dict[int, list[int]] = {}
        for node, root in zip(nodes.tolist(), roots.tolist(), strict=True):
            groups.setdefault(root, []).append(node)
        for members in groups.values():
            best = min(members, key=lambda r: (-int(out_len[r]), ids[r], r))
            rest = sorted(r for r in members if r != best)
            keep[rest] = False
            clusters.append([best, *rest])
        clusters.sort(key=lambda c: (-len(c), c[0]))
    return pd.Series(keep, index=df.index, name="keep"), clusters
