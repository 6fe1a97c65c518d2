"""Near duplicates across a Ray cluster, with the decisions of ``validate.dedup.near_duplicates``.

Every pair ``near_duplicates`` can confirm is proposed by a key two rows share; the keys are row-local:

* **LSH bands** of the MinHash signature (16 bands x 8 slots at 128 permutations): rensa flags a record for
  the candidate step exactly when it shares a band with another record;
* **one-edit halves** of the short records (``validate.dedup.edit_halves``): two records one edit apart share
  one, and a short record sharing none has no one-edit partner;
* **reorder keys** (``ReorderKeys.order``) of the records whose sentences could move.

So the work splits into (1) a ``map_batches`` that shingles each block with ``frame_shingles`` (the same
shingles, the same signatures) and emits (key, position) pairs, (2) a shuffle of those pairs by key (Ray Data
``groupby`` on ``key % P``) whose reducers link the rows holding one key (an edge from each holder to the key's
first holder), (3) the connected components of those edges on the driver (``validate.cluster.components``,
positions only) and (4) ``near_duplicates`` itself, run by the workers on one component at a time (the rows
shuffled by component), in input order. No key joins two components, so no pair ``near_duplicates`` can
confirm does; within a component every bucket, flag and one-edit test sees the same rows as over the whole
set, so the confirmed pairs, their clusters and the keep rule (longest output, then smallest id, then the
earlier row) come out the same. Only the dropped rows' (position, reason) come back.

Memory: a mapper holds one block and its shingles; a key reducer 1/P of the (key, position) pairs (~20 per
row, 16 bytes each); a confirming reducer about ``GROUP_ROWS`` candidate rows, or the largest component when
that is larger, never the input. The driver holds integers only: the candidate edges (16 bytes each, about one
per shared key) and two position arrays over the candidate rows, no text.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from validate.cluster import components, ray_module
from validate.dedup import (
    BAND_ROWS,
    backend,
    datasketch_signatures,
    edit_halves,
    frame_shingles,
    near_duplicates,
    rensa,
    short_token_limits,
)
from validate.shingles import GOLD, PRIME, mix

NUM_PERM = 128
SEED = 0
COMP, REASON = "_comp", "_reason"
GROUP_ROWS = 20_000  # candidate rows per confirming task (~10 MB of text), unless one component is larger
_SALT = {"band": np.uint64(0x51A7), "half": np.uint64(0xEDD1), "order": np.uint64(0x0DE7)}


def signatures(flat: np.ndarray, offsets: np.ndarray, num_perm: int = NUM_PERM, seed: int = SEED) -> np.ndarray:
    """The MinHash signature of every record, as ``validate.dedup`` computes it (rensa, else datasketch)."""
    if backend() == "rensa":
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(flat, offsets.astype(np.uint64), num_perm, seed)
        return np.asarray(matrix.to_rows(), dtype=np.uint64).reshape(len(offsets) - 1, num_perm)
    return datasketch_signatures(flat, offsets, num_perm, seed)[1]


def _tag(key: np.ndarray, kind: str, sub: int = 0) -> np.ndarray:
    """Keys of different kinds (and bands) never meet: a collision only adds a candidate, never loses one."""
    salt = (int(_SALT[kind]) + sub * int(GOLD)) & 0xFFFFFFFFFFFFFFFF  # Python ints: no numpy overflow warning
    return mix(key ^ mix(np.full(len(key), salt, np.uint64)))


def block_keys(df: pd.DataFrame, pos: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(key, position) of every candidate key of the rows of ``df`` (positions ``pos``)."""
    if not len(df):
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    sh = frame_shingles(df, 1, short_token_limits(threshold))
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


def _edges_in_partition(g: pd.DataFrame) -> pd.DataFrame:
    """Edges (a, b) linking the rows that hold one key: each holder to the key's first holder (a star)."""
    from validate.raygate import POS

    pairs = g[["key", POS]].drop_duplicates().sort_values(["key", POS], kind="stable")
    first = pairs.groupby("key", sort=False)[POS].transform("min").to_numpy()
    pos = pairs[POS].to_numpy()
    other = pos != first
    edges = pd.DataFrame({"a": first[other], "b": pos[other]})
    return edges.drop_duplicates(ignore_index=True)  # rows sharing several bands: one edge


def _component_rows(table: pa.Table, nodes: np.ndarray, labels: np.ndarray) -> pa.Table:
    """The block's candidate rows (position, text fields) tagged with their component."""
    from validate.raygate import CONTRACT, POS, _member

    pos = table[POS].to_numpy()
    table = table.filter(pa.array(_member(pos, nodes)))
    comp = labels[np.searchsorted(nodes, table[POS].to_numpy())]
    return table.select([POS, *CONTRACT]).append_column(COMP, pa.array(comp, pa.int64()))


def _confirm_component(g: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """``near_duplicates`` over one component's rows, in input order: (position, reason) of each row it drops."""
    from validate.raygate import CONTRACT, POS

    g = g.sort_values(POS, kind="stable").reset_index(drop=True)
    pos = g[POS].to_numpy()
    _, clusters = near_duplicates(g[CONTRACT].astype("str"), threshold=threshold, workers=1)
    ids = g["id"].astype("str").tolist()
    dropped, reasons = [], []
    for cluster in clusters:
        for at in cluster[1:]:
            dropped.append(int(pos[at]))
            reasons.append(f"near_duplicate_of:{ids[cluster[0]][:12]}")
    return pd.DataFrame({POS: np.asarray(dropped, np.int64), REASON: pd.Series(reasons, dtype=object)})


def near_duplicate_drops(checked, gone: np.ndarray, threshold: float, parts: int) -> tuple[dict, int, int]:  # noqa: ANN001
    """({position: [reason]} of the rows to quarantine, rows removed, candidate rows) for the rows of ``checked``
    that passed the checks and are not in ``gone``.

    The candidate graph (rows joined by a shared key) falls apart into connected components; no key, so no
    pair ``near_duplicates`` can confirm, joins two components, and its keep rule looks at one cluster, which
    lies in one component. So each component is confirmed on its own, by a worker, with the same function.
    """
    from validate.raygate import POS

    ray = ray_module()
    keyed = checked.map_batches(
        _keys_batch, batch_format="pyarrow", fn_kwargs={"gone": gone, "threshold": threshold, "parts": parts}
    )
    edge_ds = keyed.groupby("_part", num_partitions=parts).map_groups(_edges_in_partition, batch_format="pandas")
    tables = [t for t in ray.get(edge_ds.to_arrow_refs()) if t.num_rows]
    if not tables:
        return {}, 0, 0
    a = np.concatenate([t["a"].to_numpy() for t in tables])
    b = np.concatenate([t["b"].to_numpy() for t in tables])
    del tables
    nodes, labels = components(a, b)
    del a, b
    # Components are whole groups of the shuffle, partitions range over component labels: a reducer holds
    # about GROUP_ROWS candidate rows, or one component when a component is larger.
    groups = max(parts, -(-len(nodes) // GROUP_ROWS))
    rows = checked.map_batches(_component_rows, batch_format="pyarrow", fn_kwargs={"nodes": nodes, "labels": labels})
    confirmed = rows.groupby(COMP, num_partitions=groups).map_groups(
        _confirm_component, batch_format="pandas", fn_kwargs={"threshold": threshold}
    )
    drops: dict[int, list[str]] = {}
    for t in ray.get(confirmed.to_arrow_refs()):
        for p, reason in zip(t[POS].to_pylist(), t[REASON].to_pylist(), strict=True):
            drops.setdefault(int(p), []).append(reason)
    return drops, len(drops), len(nodes)
