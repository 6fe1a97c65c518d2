"""Near duplicates across a Ray cluster, with the decisions of ``validate.dedup.near_duplicates``.

Every pair ``near_duplicates`` can confirm is proposed by a key two rows share; the keys are row-local:

* **LSH bands** of the MinHash signature (16 bands x 8 slots at 128 permutations): rensa flags a record for
  the candidate step exactly when it shares a band with another record;
* **one-edit halves** of the short records (``validate.dedup.edit_halves``): two records one edit apart share
  one, and a short record sharing none has no one-edit partner;
* **reorder keys** (``ReorderKeys.order``) of the records whose sentences could move.

So the work splits into (1) a ``map_batches`` that shingles each block with ``frame_shingles`` (the same
shingles, the same signatures) and emits (key, position) pairs, (2) a shuffle of those pairs by key (Ray Data
``groupby`` on ``key % P``) whose reducers keep the keys held by two or more rows, and (3)
``near_duplicates`` itself, run once on the candidate rows only (rows that share some key with another row),
in input order. A row outside the candidates shares no band, half or reorder key with any row, so no pair of
the whole set involves it; within the candidates every bucket, flag and one-edit test sees the same rows as
over the whole set, so the confirmed pairs, their connected components and the keep rule (longest output,
then smallest id, then the earlier row) come out the same.

Memory: a reducer holds 1/P of the (key, position) pairs (16 + a few keys per row, 16 bytes each); a mapper
one block and its shingles. Step 3 holds the candidate rows' text fields on the driver: the rows that share a
key with another row, not the input; with heavy duplication that set is large, and it is the one step not
spread over the cluster yet (docs/SCALEOUT.md).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from validate.cluster import ray_module
from validate.dedup import (
    _HAVE_RENSA,
    BAND_ROWS,
    _datasketch_signatures,
    _short_token_limits,
    edit_halves,
    frame_shingles,
    near_duplicates,
    rensa,
)
from validate.shingles import GOLD, PRIME, mix

NUM_PERM = 128
SEED = 0
_SALT = {"band": np.uint64(0x51A7), "half": np.uint64(0xEDD1), "order": np.uint64(0x0DE7)}


def signatures(flat: np.ndarray, offsets: np.ndarray, num_perm: int = NUM_PERM, seed: int = SEED) -> np.ndarray:
    """The MinHash signature of every record, as ``validate.dedup`` computes it (rensa, else datasketch)."""
    if _HAVE_RENSA:
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets.astype(np.uint64), num_perm, seed)
        return np.asarray(matrix.to_rows(), dtype=np.uint64).reshape(len(offsets) - 1, num_perm)
    return _datasketch_signatures(flat, offsets, num_perm, seed)[1]


def _tag(key: np.ndarray, kind: str, sub: int = 0) -> np.ndarray:
    """Keys of different kinds (and bands) never meet: a collision only adds a candidate, never loses one."""
    salt = (int(_SALT[kind]) + sub * int(GOLD)) & 0xFFFFFFFFFFFFFFFF  # Python ints: no numpy overflow warning
    return mix(key ^ mix(np.full(len(key), salt, np.uint64)))


def block_keys(df: pd.DataFrame, pos: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(key, position) of every candidate key of the rows of ``df`` (positions ``pos``)."""
    if not len(df):
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    sh = frame_shingles(df, 1, _short_token_limits(threshold))
    keys, owners = [], []
    sigs = signatures(sh.flat, sh.offsets)
    for b in range(NUM_PERM // BAND_ROWS):
        key = np.zeros(len(sigs), np.uint64)
        for c in range(b * BAND_ROWS, (b + 1) * BAND_ROWS):
            key ^= sigs[:, c]
            key *= PRIME
        keys.append(_tag(key, "band", b))
        owners.append(sh.rows)
    if sh.short is not None and len(sh.short.rows):
        half, owner = edit_halves(sh.short)
        keys.append(_tag(half, "half"))
        owners.append(sh.short.rows[owner])
    if sh.reorder is not None:
        sel = np.flatnonzero(sh.reorder.keyed)
        keys.append(_tag(sh.reorder.order[sel].astype(np.uint64), "order"))
        owners.append(sh.rows[sel])
    return np.concatenate(keys), pos[np.concatenate(owners)]


def _keys_batch(table: pa.Table, gone: np.ndarray, threshold: float, parts: int) -> pa.Table:
    from validate.raygate import CONTRACT, PASSED, POS, STATE, _member

    keep = pc.equal(table[STATE], PASSED).to_numpy(zero_copy_only=False) & ~_member(table[POS].to_numpy(), gone)
    table = table.filter(pa.array(keep))
    df = pd.DataFrame({c: table[c].to_pandas().astype("str") for c in CONTRACT})
    key, pos = block_keys(df, table[POS].to_numpy(), threshold)
    return pa.table({"key": key, POS: pos, "_part": (key % np.uint64(parts)).astype(np.int64)})


def _shared_in_partition(g: pd.DataFrame) -> pd.DataFrame:
    """Positions of the rows holding a key that another row holds too."""
    from validate.raygate import POS

    pairs = g[["key", POS]].drop_duplicates()
    shared = pairs["key"].duplicated(keep=False).to_numpy()
    return pd.DataFrame({POS: np.unique(pairs[POS].to_numpy()[shared])})


def _candidate_rows(table: pa.Table, candidates: np.ndarray) -> pa.Table:
    from validate.raygate import CONTRACT, POS, _member

    table = table.filter(pa.array(_member(table[POS].to_numpy(), candidates)))
    return table.select([POS, *CONTRACT])


def near_duplicate_drops(checked, gone: np.ndarray, threshold: float, parts: int) -> tuple[dict, list, int]:  # noqa: ANN001
    """({position: [reason]} of the rows to quarantine, clusters as lists of positions with the kept row first,
    the number of candidate rows confirmed on the driver) for the rows of ``checked`` that passed the checks
    and are not in ``gone``."""
    from validate.raygate import POS, positions

    ray = ray_module()
    keyed = checked.map_batches(
        _keys_batch, batch_format="pyarrow", fn_kwargs={"gone": gone, "threshold": threshold, "parts": parts}
    )
    candidates = positions(
        keyed.groupby("_part", num_partitions=parts).map_groups(_shared_in_partition, batch_format="pandas")
    )
    candidates = np.unique(candidates)
    if len(candidates) < 2:
        return {}, [], len(candidates)
    rows = checked.map_batches(_candidate_rows, batch_format="pyarrow", fn_kwargs={"candidates": candidates})
    tables = [t for t in ray.get(rows.to_arrow_refs()) if t.num_rows]
    frame = pa.concat_tables(tables).sort_by(POS).to_pandas()
    pos = frame.pop(POS).to_numpy()
    frame = frame.astype("str")
    _, clusters = near_duplicates(frame, threshold=threshold)
    drops: dict[int, list[str]] = {}
    ids = frame["id"].tolist()
    for cluster in clusters:
        kept_id = ids[cluster[0]]
        for at in cluster[1:]:
            drops.setdefault(int(pos[at]), []).append(f"near_duplicate_of:{kept_id[:12]}")
    return drops, [[int(pos[at]) for at in c] for c in clusters], len(candidates)
