"""The quality gate on a Ray cluster (``dataagent validate --ray``): the same decisions as ``gate_file``.

Row-local work runs as Ray Data ``map_batches`` over blocks of the input, one block per byte range of a JSONL
file (cut at line ends) or per row group of a Parquet file; dataset-wide work shuffles keys by hash:

1. **Read and check** (``check_split``): each block is parsed with the single-machine reader's functions
   (``validate.io.parse_line``/``records_frame``), type-checked (``type_failures``) and validated by the same
   ``validate.quality.check_chunk`` ``run_gate`` calls per chunk (PII scrubbing, every check, the dedup-key
   fingerprints). Every check is row-local, so a block's verdicts are the whole file's.
2. **Exact duplicates**: the passed rows' (fingerprint, position, text) are shuffled by fingerprint; each
   partition runs ``validate.exactdup.exact_duplicates`` on its rows in input order (same fingerprint, same
   partition, so "first copy" means the same row).
3. **Id conflicts**: (id, position) of the rows still kept, shuffled by id; ``validate.quality.id_conflicts``
   per partition.
4. **Near duplicates**: ``validate.raydedup`` (MinHash/LSH keys shuffled by band, the candidate rows split
   into connected components of shared keys, ``near_duplicates`` per component on the workers).
5. **Write**: each block writes its accepted rows to ``accepted/part-<first row>.{jsonl,parquet}`` and its
   quarantined rows to ``quarantine/part-<first row>.{jsonl,parquet}`` (``validate.quarantine.write_quarantine``,
   as the single-machine gate) from the worker; it returns counts
   only. gate_report.json and gate_summary.md are summed from those per-block counts on the driver.

Row positions: a JSONL row's position is its input line (``file index << 40 | line``), a Parquet row's its row
number; both order rows as the single-machine gate's positions do, so "first", "earlier row" and the accepted
order are the same. Decisions travel as sorted position arrays, never as records.

Decontamination (``--eval-set``) matches each block against the eval sets' n-gram index, built once on the
driver and broadcast (``ray.put``); ``on_bad_line="error"`` raises the single gate's error for the input's
first bad line. Not distributed: quality_report.{json,html} (length quantiles and example rows need the
accepted rows in one place), which the Ray gate skips.
Workers write into ``out_dir``, so on a multi-machine cluster it must be a folder every node sees (NFS, a
mounted bucket).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from validate.cluster import connected, ray_module, shuffle_partitions
from validate.contracts import InstructionRecord, columns
from validate.decontam import DEFAULT_N as DECONTAM_N
from validate.decontam import contaminated, eval_index, load_eval_sets
from validate.errors import ContractError, DataAgentError
from validate.exactdup import exact_duplicates
from validate.gate import REASONS, type_failures
from validate.io import (
    SUFFIXES,
    UTF8_BOM,
    check_head,
    check_path,
    json_line,
    parse_lines,
    raw_lines,
    records_frame,
    strict_json,
    write_records,
)
from validate.pii import TEXT_FIELDS
from validate.quality import GateConfig, GateRows, check_chunk, id_conflicts, strict_violations, with_reasons
from validate.quarantine import write_quarantine
from validate.report import reason_key, summary_table_markdown, value_label
from validate.run import gate_thresholds

SPLIT_BYTES = 8 << 20  # bytes of JSONL per block: ~10-20k records, a few seconds of checks per block
LINE_BITS = 40  # a position is file index << 40 | line (or row): 2**40 lines per file
KILL_ENV = "DATAAGENT_RAY_KILL_ONCE"  # tests: a marker path; the first block to create it kills its worker

CONTRACT = columns(InstructionRecord)
POS, LINE, STATE, FP, ROW = "_pos", "_line", "_state", "_fp", "_row"
PASSED, FAILED = 0, 1
SCHEMA = pa.schema(
    [
        (POS, pa.int64()),
        (LINE, pa.int64()),
        (STATE, pa.int8()),
        (REASONS, pa.list_(pa.large_string())),
        (FP, pa.uint64()),
        *((c, pa.large_string()) for c in CONTRACT),
        # JSON of what the contract columns do not hold: the whole row for a failed row, the other fields (if
        # any) for a passed one. Null when there is nothing more.
        (ROW, pa.large_string()),
        ("_meta", pa.large_string()),  # per block, on its first row only: scrubbed counts and columns seen
    ]
)


@dataclasses.dataclass(frozen=True)
class Split:
    """One block of input: a byte range of a JSONL file (``kind="jsonl"``), a whole .jsonl.gz, or row groups
    ``start``..``end`` of a Parquet file; ``first`` is the 1-based line (JSONL) or row (Parquet) it starts at."""

    path: str
    file: int
    kind: str
    start: int
    end: int
    first: int = 1


# --- planning ----------------------------------------------------------------------------------------------


def input_files(inputs: str | Path | list[str | Path]) -> list[Path]:
    """The files to read: each file named, and the .jsonl/.jsonl.gz/.parquet shards of each folder named (in
    name order, so a folder of part-*.parquet reads in order; of part-N.jsonl beside part-N.parquet, the
    Parquet one)."""
    paths: list[Path] = []
    for item in inputs if isinstance(inputs, list) else [inputs]:
        p = Path(item)
        if p.is_dir():
            shards = sorted(f for f in p.iterdir() if f.is_file() and f.name.endswith(SUFFIXES))
            # The gate writes each shard twice (part-N.jsonl and part-N.parquet): read the Parquet one.
            names = set(shards)
            shards = [f for f in shards if f.suffix == ".parquet" or f.with_suffix(".parquet") not in names]
            if not shards:
                raise DataAgentError("no .jsonl or .parquet shards in the folder", p)
            paths += shards
        else:
            paths.append(p)
    return paths


def plan_splits(paths: list[Path], split_bytes: int = SPLIT_BYTES) -> list[Split]:
    """Blocks of every input file; JSONL byte ranges start right after a newline. First lines are filled in by
    ``number_splits`` (counted on the cluster)."""
    splits: list[Split] = []
    for i, path in enumerate(paths):
        check_path(path)
        if path.name.endswith(".parquet"):
            meta = pq.ParquetFile(path).metadata
            row = 0
            for g in range(meta.num_row_groups):
                splits.append(Split(str(path), i, "parquet", g, g + 1, row))
                row += meta.row_group(g).num_rows
            continue
        with path.open("rb") as fh:
            check_head(path, fh, path.name.endswith(".gz"))  # type: ignore[arg-type]
        if path.name.endswith(".gz"):
            splits.append(Split(str(path), i, "gz", 0, -1))
            continue
        size = path.stat().st_size
        cuts = [0]
        with path.open("rb") as fh:
            while cuts[-1] + split_bytes < size:
                fh.seek(cuts[-1] + split_bytes)
                fh.readline()  # to the end of the line the cut falls in
                at = fh.tell()
                if at >= size:
                    break
                cuts.append(at)
        splits += [Split(str(path), i, "jsonl", a, b) for a, b in zip(cuts, [*cuts[1:], size], strict=True)]
    return splits


def _read_range(split: Split) -> bytes:
    with open(split.path, "rb") as fh:
        fh.seek(split.start)
        return fh.read(split.end - split.start)


def _count_lines(batch: dict) -> dict:
    split = Split(**{k: batch[k][0].item() if hasattr(batch[k][0], "item") else batch[k][0] for k in batch})
    n = _read_range(split).count(b"\n") if split.kind == "jsonl" else 0
    return {"n": np.array([n], np.int64)}


def number_splits(splits: list[Split]) -> list[Split]:
    """The splits with their first line numbers, from newline counts taken in parallel on the cluster."""
    ray = ray_module()
    if not any(s.kind == "jsonl" and s.start > 0 for s in splits):
        return splits
    ds = ray.data.from_items([dataclasses.asdict(s) for s in splits], override_num_blocks=len(splits))
    counts = ds.map_batches(_count_lines, batch_size=1, batch_format="numpy").to_pandas()["n"].to_numpy()
    out, line = [], 1
    for s, n in zip(splits, counts.tolist(), strict=True):
        if s.kind == "jsonl" and s.start == 0:
            line = 1
        out.append(dataclasses.replace(s, first=line) if s.kind == "jsonl" else s)
        line += n
    return out


# --- 1. read and check one block ----------------------------------------------------------------------------


def _lines(split: Split):  # noqa: ANN202 - (line, bytes) pairs
    """(1-based line, bytes without the ending) of each line of the split, as ``validate.io.raw_lines`` reads
    them from the whole file."""
    if split.kind == "gz":
        yield from raw_lines(Path(split.path))
        return
    data = _read_range(split)
    pieces = data.split(b"\n")
    if data.endswith(b"\n"):
        pieces.pop()
    for k, raw in enumerate(pieces):
        lineno = split.first + k
        raw = raw.removesuffix(b"\r")
        yield lineno, raw.removeprefix(UTF8_BOM) if lineno == 1 else raw


def _read_split(split: Split) -> tuple[pd.DataFrame, np.ndarray, list[dict]]:
    """(rows as the single-machine reader frames them, their position, bad lines) of one split."""
    base = split.file << LINE_BITS
    if split.kind == "parquet":
        pf = pq.ParquetFile(split.path)
        df = pf.read_row_groups(list(range(split.start, split.end))).to_pandas()
        return df, base + split.first + np.arange(len(df), dtype=np.int64), []
    rows, lines, bad = parse_lines(_lines(split))
    return records_frame(rows), base + np.asarray(lines, dtype=np.int64), bad


def _maybe_die() -> None:
    """Fault injection for tests: the first block to claim the marker kills its own worker (Ray retries)."""
    marker = os.environ.get(KILL_ENV)
    if not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)


def _text_or_none(values: pd.Series) -> list[str | None]:
    return [v if isinstance(v, str) else None for v in values.tolist()]


def _extra_json(frame: pd.DataFrame, cols: list[str]) -> list[str | None]:
    if not cols:
        return [None] * len(frame)
    return [json_line(r) for r in frame[cols].to_dict(orient="records")]


def check_split(split: Split, cfg: GateConfig) -> pa.Table:
    """One block through the row-local gate: the same functions, in the same order, as ``run_gate`` per chunk."""
    df, pos, bad = _read_split(split)
    _maybe_die()
    seen = list(df.columns)
    for c in CONTRACT:  # absent from every row of this block: null here, as pandas fills it in the whole file
        if c not in df.columns:
            df[c] = pd.Series([None] * len(df), dtype=object)
    is_jsonl = split.kind != "parquet"
    parts: list[dict] = []
    scrubbed: dict[str, int] = {}
    counts: Counter = Counter()
    if len(df):
        wrong = type_failures(df, CONTRACT)
        mistyped = np.zeros(len(df), bool)
        for label, rows in wrong.items():
            mistyped[rows] = True
            counts[label] += len(rows)
        if mistyped.any():
            typed = with_reasons(df, wrong, mistyped)
            parts.append(_failed_part(typed, pos[mistyped], is_jsonl))
        good = df.loc[~mistyped].reset_index(drop=True)
        gpos = pos[~mistyped]
        if len(good):
            parts += _checked_parts(good, gpos, cfg, counts, scrubbed, is_jsonl)
    if bad:
        parts.append(_bad_part(bad, split.file))
        counts.update(b["reason"] for b in bad)
    table = _concat(parts)
    first_bad = {"file": split.file, "line": bad[0]["line"], "message": bad[0]["message"]} if bad else None
    meta = json.dumps(
        {"scrubbed": scrubbed, "columns": seen, "counts": dict(counts), "rows": len(df) + len(bad), "bad": first_bad}
    )
    if not len(table):  # a block of blank lines still reports itself
        return pa.Table.from_pylist([{POS: -1, STATE: -1, "_meta": meta}], schema=SCHEMA)
    metas = [meta] + [None] * (len(table) - 1)
    return table.set_column(SCHEMA.get_field_index("_meta"), "_meta", pa.array(metas, pa.large_string()))


def _checked_parts(
    good: pd.DataFrame, gpos: np.ndarray, cfg: GateConfig, counts: Counter, scrubbed: dict, is_jsonl: bool
) -> list[dict]:
    # As _check_rows: every value is a str here, the cast changes the dtype only.
    good = good.assign(**{c: good[c].astype("str") for c in CONTRACT if good[c].dtype != "str"})
    res = check_chunk(good, cfg)
    for label, rows in res.reasons.items():
        counts[label] += len(rows)
    for kind, hits in res.scrubbed.items():
        scrubbed[kind] = scrubbed.get(kind, 0) + hits
    rows_of = GateRows(good, res.changed, {c: [v] for c, v in res.new_values.items()})
    bad_mask = np.ones(len(good), bool)
    bad_mask[res.passed] = False
    failed = np.flatnonzero(bad_mask)
    extra = [c for c in good.columns if c not in CONTRACT]
    parts = []
    if len(res.passed):
        view = rows_of(res.passed, list(good.columns))
        parts.append(
            {
                POS: gpos[res.passed],
                LINE: gpos[res.passed] & ((1 << LINE_BITS) - 1) if is_jsonl else None,
                STATE: PASSED,
                REASONS: [[] for _ in range(len(view))],
                FP: res.fingerprints,
                **{c: view[c].tolist() for c in CONTRACT},
                ROW: _extra_json(view, extra),
            }
        )
    if len(failed):
        view = rows_of(failed, list(good.columns))
        names, codes = res.failed_reasons
        parts.append(
            {
                POS: gpos[failed],
                LINE: gpos[failed] & ((1 << LINE_BITS) - 1) if is_jsonl else None,
                STATE: FAILED,
                REASONS: [names[k] for k in codes.tolist()],
                FP: np.zeros(len(failed), np.uint64),
                **{c: view[c].tolist() for c in CONTRACT},
                ROW: _extra_json(view, extra),
            }
        )
    return parts


def _failed_part(frame: pd.DataFrame, pos: np.ndarray, is_jsonl: bool) -> dict:
    """Rows quarantined before any check (a text field missing or not a string): kept whole as JSON."""
    cols = [c for c in frame.columns if c != REASONS]
    return {
        POS: pos,
        LINE: pos & ((1 << LINE_BITS) - 1) if is_jsonl else None,
        STATE: FAILED,
        REASONS: frame[REASONS].tolist(),
        FP: np.zeros(len(frame), np.uint64),
        **{c: _text_or_none(frame[c]) for c in CONTRACT},
        ROW: [json_line({"__row__": r}) for r in frame[cols].to_dict(orient="records")],
    }


def _bad_part(bad: list[dict], file: int) -> dict:
    lines = np.array([b["line"] for b in bad], np.int64)
    return {
        POS: (file << LINE_BITS) + lines,
        LINE: lines,
        STATE: FAILED,
        REASONS: [[b["reason"]] for b in bad],
        FP: np.zeros(len(bad), np.uint64),
        **{c: [None] * len(bad) for c in CONTRACT},
        ROW: [json.dumps({"__raw__": b["raw"]}, ensure_ascii=False) for b in bad],
    }


def _concat(parts: list[dict]) -> pa.Table:
    tables = []
    for p in parts:
        n = len(p[POS])
        cols = {}
        for f in SCHEMA:
            v = p.get(f.name)
            if v is None:
                cols[f.name] = pa.nulls(n, f.type)
            elif np.isscalar(v):
                cols[f.name] = pa.array(np.full(n, v), f.type)
            else:
                cols[f.name] = pa.array(v, f.type)
        tables.append(pa.table(cols, schema=SCHEMA))
    if not tables:
        return SCHEMA.empty_table()
    return pa.concat_tables(tables).sort_by(POS)


def _check_batch(batch: dict, cfg: GateConfig) -> pa.Table:
    fields = {k: (v[0].item() if hasattr(v[0], "item") else v[0]) for k, v in batch.items()}
    return check_split(Split(**fields), cfg)


# --- 2.-3. exact duplicates and id conflicts, shuffled by key ----------------------------------------------


def _keyed(table: pa.Table, key: np.ndarray, parts: int, cols: list[str]) -> pa.Table:
    return table.select(cols).append_column("_part", pa.array((key % np.uint64(parts)).astype(np.int64)))


def _dup_keys(table: pa.Table, parts: int) -> pa.Table:
    table = table.filter(pc.equal(table[STATE], PASSED))
    return _keyed(table, table[FP].to_numpy(), parts, [POS, FP, *TEXT_FIELDS])


def _dups_in_partition(g: pd.DataFrame) -> pd.DataFrame:
    """The exact duplicates among one partition's rows (all rows of a fingerprint are in one partition)."""
    g = g.sort_values(POS, kind="stable").reset_index(drop=True)
    text = pd.DataFrame({f: g[f].astype("str") for f in TEXT_FIELDS})
    rows = exact_duplicates(lambda r: text.take(r).reset_index(drop=True), np.arange(len(g)), g[FP].to_numpy())
    return pd.DataFrame({POS: g[POS].to_numpy()[rows]})


def _kept_ids(table: pa.Table, parts: int, dropped: np.ndarray) -> pa.Table:
    pos = table[POS].to_numpy()
    keep = (table[STATE].to_numpy() == PASSED) & ~_member(pos, dropped)
    table = table.filter(pa.array(keep))
    ids = table["id"].to_pandas().astype(object)
    key = pd.util.hash_array(ids.to_numpy(), categorize=False)
    return _keyed(table, key, parts, [POS, "id"])


def _conflicts_in_partition(g: pd.DataFrame) -> pd.DataFrame:
    g = g.sort_values(POS, kind="stable").reset_index(drop=True)
    ids = pd.DataFrame({"id": g["id"].astype("str")})
    rows = id_conflicts(lambda r, cols: ids.take(r)[cols].reset_index(drop=True), np.arange(len(g)))
    return pd.DataFrame({POS: g[POS].to_numpy()[rows]})


def _member(pos: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    if not len(sorted_set):
        return np.zeros(len(pos), bool)
    at = np.minimum(np.searchsorted(sorted_set, pos), len(sorted_set) - 1)
    return sorted_set[at] == pos


def positions(ds) -> np.ndarray:  # noqa: ANN001 - a ray Dataset with a POS column
    """The sorted positions a dataset holds, fetched block by block as Arrow (no per-row Python objects)."""
    ray = ray_module()
    chunks = [t[POS].to_numpy() for t in ray.get(ds.to_arrow_refs()) if t.num_rows]
    return np.sort(np.concatenate(chunks)) if chunks else np.zeros(0, np.int64)


def _shuffled(ds, fn, parts: int) -> np.ndarray:  # noqa: ANN001
    grouped = ds.groupby("_part", num_partitions=parts).map_groups(fn, batch_format="pandas")
    return positions(grouped)


def _contaminated_rows(table: pa.Table, gone: np.ndarray, index: object, n: int) -> pa.Table:
    """Positions of the block's rows still kept that share an n-gram with an eval item (``contaminated``, the
    single-machine function, against the broadcast index)."""
    ray = ray_module()
    eval_items, built = ray.get(index) if isinstance(index, ray.ObjectRef) else index
    keep = (table[STATE].to_numpy() == PASSED) & ~_member(table[POS].to_numpy(), gone)
    table = table.filter(pa.array(keep))
    if not table.num_rows:
        return pa.table({POS: pa.array([], pa.int64())})
    df = pd.DataFrame({c: table[c].to_pandas().astype("str") for c in CONTRACT})
    mask, _ = contaminated(df, eval_items, n=n, index=built)
    return pa.table({POS: table[POS].to_numpy()[mask.to_numpy()]})


# --- 5. write, and count per block --------------------------------------------------------------------------


def _finish_block(
    table: pa.Table,
    out_dir: str,
    dropped: np.ndarray,
    drop_reasons: list[list[str]],
    line_col: str,
    sources: list[str],
) -> pa.Table:
    """Write one block's accepted and quarantined rows as shards named by its first position; return its counts."""
    table = table.filter(pc.greater_equal(table[POS], 0))
    counts: dict = {"accepted": 0, "quarantined": 0, "reasons": {}, "language": {}, "task_type": {}}
    if not table.num_rows:
        return pa.table({"_counts": [json.dumps(counts)]})
    pos = table[POS].to_numpy()
    state = table[STATE].to_numpy()
    reasons = table[REASONS].to_pylist()
    at = np.searchsorted(dropped, pos)
    hit = _member(pos, dropped)
    for i in np.flatnonzero(hit).tolist():
        reasons[i] = drop_reasons[int(at[i])]
    accept = (state == PASSED) & ~hit
    name = f"part-{int(pos[0]):020d}"
    frame = table.select(CONTRACT).to_pandas()
    acc = frame.loc[accept].reset_index(drop=True)
    if len(acc):
        write_records(acc.astype("str"), Path(out_dir) / "accepted" / name, InstructionRecord)
    quarantined = np.flatnonzero(~accept)
    extras = table[ROW].to_pylist()
    lines = table[LINE].to_pylist()
    rows = []
    for i in quarantined.tolist():
        row = {c: frame.at[i, c] for c in CONTRACT}
        extra = json.loads(extras[i]) if extras[i] is not None else {}
        if "__row__" in extra:  # quarantined before the checks: its values as they came
            row = extra["__row__"]
        elif "__raw__" in extra:  # a line that holds no record
            row = {**dict.fromkeys(CONTRACT), "raw": extra["__raw__"]}
        else:
            row = {c: (None if v is pd.NA else v) for c, v in row.items()} | extra
        row[REASONS] = reasons[i]
        row[line_col] = lines[i]
        rows.append(row)
    if rows:  # the single-machine gate's quarantine writer: QuarantineRecord's common columns, then the row's
        q = pd.DataFrame(rows)
        write_quarantine(
            q,
            Path(out_dir) / "quarantine" / name,
            "gate",
            source_file=sources[int(pos[0]) >> LINE_BITS],
            row_column=line_col,
            record_columns=[c for c in q.columns if c not in (REASONS, line_col)],
        )
    counts["accepted"] = int(accept.sum())
    counts["quarantined"] = len(quarantined)
    keys: Counter = Counter()
    for i in quarantined.tolist():
        keys.update({reason_key(r) for r in reasons[i]})
    counts["reasons"] = dict(keys)
    for col in ("language", "task_type"):
        labels = [value_label(v) for v in frame.loc[accept, col].tolist()]
        per: dict[str, list[int]] = {}
        for v in labels:
            per.setdefault(v, [0, 0])[0] += 1
        for row in rows:
            slot = per.setdefault(value_label(row.get(col)), [0, 0])
            slot[0] += 1
            slot[1] += 1
        counts[col] = per
    return pa.table({"_counts": [json.dumps(counts)]})


# --- the whole gate ----------------------------------------------------------------------------------------


def gate_ray(
    input_paths: str | Path | list[str | Path],
    out_dir: str | Path,
    cfg: GateConfig | None = None,
    *,
    near_dup_threshold: float | None = 0.85,
    eval_sets: list[str | Path] | None = None,
    decontam_ngram: int = DECONTAM_N,
    strict: bool = False,
    on_bad_line: str = "quarantine",
    address: str | None = None,
    split_bytes: int = SPLIT_BYTES,
) -> dict:
    """``gate_file`` on a Ray cluster: same accepted rows, quarantine rows, reasons and report figures.

    Writes ``accepted/part-*.{jsonl,parquet}`` and ``quarantine/part-*.{jsonl,parquet}`` (shards in input order
    by name), gate_report.json and gate_summary.md into ``out_dir``.
    """
    from validate.raydedup import near_duplicate_drops

    paths = input_files(input_paths)
    eval_items = load_eval_sets(eval_sets) if eval_sets else None
    cfg = cfg or GateConfig.from_yaml()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = round(now - clock, 2)
        clock = now

    with connected(address):
        ray = ray_module()
        splits = number_splits(plan_splits(paths, split_bytes))
        lap("plan")
        items = ray.data.from_items([dataclasses.asdict(s) for s in splits], override_num_blocks=len(splits))
        checked = items.map_batches(_check_batch, batch_size=1, batch_format="numpy", fn_kwargs={"cfg": cfg})
        checked = checked.materialize()
        lap("read_and_check")
        metas = [
            json.loads(m)
            for t in ray.get(checked.select_columns(["_meta"]).to_arrow_refs())
            for m in t["_meta"].to_pylist()
            if m is not None
        ]
        bad = [m["bad"] for m in metas if m["bad"]]
        if bad and on_bad_line == "error":  # as load_table: the first bad line of the input, before anything else
            first = min(bad, key=lambda b: (b["file"], b["line"]))
            raise ContractError(
                str(paths[first["file"]]), None, None, f"a JSON object, got {first['message']}", line=first["line"]
            )
        seen = {c for m in metas for c in m["columns"]}
        n_input = sum(m["rows"] for m in metas)
        if not n_input:
            raise DataAgentError("file is empty: no records", paths[0])
        missing = [c for c in CONTRACT if seen and c not in seen]  # as gate_file: only when some row was read
        if missing:
            raise DataAgentError(f"missing field '{missing[0]}' required by the InstructionRecord contract", paths[0])
        parts = shuffle_partitions()
        dup = _shuffled(
            checked.map_batches(_dup_keys, fn_kwargs={"parts": parts}, batch_format="pyarrow"),
            _dups_in_partition,
            parts,
        )
        conflict = _shuffled(
            checked.map_batches(_kept_ids, fn_kwargs={"parts": parts, "dropped": dup}, batch_format="pyarrow"),
            _conflicts_in_partition,
            parts,
        )
        lap("exact_duplicates_and_id_conflicts")
        gone = np.union1d(dup, conflict)
        near: dict[int, list[str]] = {}
        removed = candidates = 0
        if near_dup_threshold is not None:
            near, removed, candidates = near_duplicate_drops(checked, gone, near_dup_threshold, parts)
        lap("near_duplicates")
        contam = np.zeros(0, np.int64)
        if eval_items is not None:
            # The eval side's n-gram index is built once here and broadcast; each block is matched against it.
            index = ray.put((eval_items, eval_index(eval_items, decontam_ngram)))
            contam = positions(
                checked.map_batches(
                    _contaminated_rows,
                    batch_format="pyarrow",
                    fn_kwargs={"gone": gone, "index": index, "n": decontam_ngram},
                )
            )
            lap("decontamination")
        dropped = np.union1d(np.union1d(gone, np.fromiter(near, np.int64, len(near))), contam)
        dup_set, conflict_set, contam_set = set(dup.tolist()), set(conflict.tolist()), set(contam.tolist())
        # As gate_file: near-duplicate reasons first, then "contaminated" (both judged on the same rows).
        drop_reasons = [
            ["exact_duplicate"]
            if p in dup_set
            else ["id_conflict"]
            if p in conflict_set
            else near.get(p, []) + (["contaminated"] if p in contam_set else [])
            for p in dropped.tolist()
        ]
        line_col = "input_line" if "line" in seen else "line"
        finished = checked.map_batches(
            _finish_block,
            batch_format="pyarrow",
            fn_kwargs={
                "out_dir": str(out),
                "dropped": dropped,
                "drop_reasons": drop_reasons,
                "line_col": line_col,
                "sources": [str(p) for p in paths],
            },
        )
        blocks = [json.loads(c) for t in ray.get(finished.to_arrow_refs()) for c in t["_counts"].to_pylist()]
        lap("write")
    counts: Counter = Counter()
    scrubbed = {k: 0 for k, p in cfg.pii.items() if p == "scrub"}
    for m in metas:
        counts.update(m["counts"])
        for k, v in m["scrubbed"].items():
            scrubbed[k] = scrubbed.get(k, 0) + v
    if len(dup):
        counts["exact_duplicate"] = len(dup)
    if len(conflict):
        counts["id_conflict"] = len(conflict)
    accepted = sum(b["accepted"] for b in blocks)
    quarantined = sum(b["quarantined"] for b in blocks)
    if accepted + quarantined != n_input:
        raise AssertionError(f"gate lost records: {accepted} + {quarantined} != {n_input}")
    failures = dict(sorted(counts.items()))
    report = {
        "input": n_input,
        "accepted": accepted,
        "quarantined": quarantined,
        "failures_by_check": failures,
        "failure_rate_by_check": {k: round(v / n_input, 6) for k, v in failures.items()},
        "pii_scrubbed": scrubbed,
        "near_duplicates_removed": removed,
        "contaminated_removed": len(contam),
        "thresholds": gate_thresholds(cfg, near_dup_threshold, eval_sets, decontam_ngram),
        "input_file": str(paths[0]) if len(paths) == 1 else [str(p) for p in paths],
        "accepted_file": str(out / "accepted"),
        "quarantine_file": str(out / "quarantine"),
        "ray": {
            "blocks": len(splits),
            "shuffle_partitions": parts,
            "near_duplicate_candidates": candidates,  # rows confirmed per component by the workers
            "seconds": seconds,
        },
    }
    (out / "gate_report.json").write_text(strict_json(report, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "gate_summary.md").write_text(summary_table_markdown(_card_figures(report, blocks)), encoding="utf-8")
    if strict:
        violations = strict_violations(report, cfg)
        if violations:
            raise DataAgentError(f"--strict: {len(violations)} check(s) over their limit: " + "; ".join(violations))
    return report


def _card_figures(report: dict, blocks: list[dict]) -> dict:
    """The figures ``summary_table_markdown`` reads, summed from per-block counts (as ``build_report`` has them
    from the whole frames)."""
    keys: Counter = Counter()
    for b in blocks:
        keys.update(b["reasons"])
    failures = dict(sorted(keys.items(), key=lambda kv: (-kv[1], kv[0])))
    figures = {
        "records_in": report["input"],
        "accepted": report["accepted"],
        "quarantined": report["quarantined"],
        "failures_by_check": failures,
        "duplicates": {"removed": report["near_duplicates_removed"]},
        "decontamination": {
            "run": report["thresholds"]["decontamination"] is not None,
            "removed": report["contaminated_removed"],
        },
    }
    for col in ("language", "task_type"):
        total: dict[str, list[int]] = {}
        for b in blocks:
            for k, (n, q) in b[col].items():
                slot = total.setdefault(k, [0, 0])
                slot[0] += n
                slot[1] += q
        rows = {k: {"input": n, "quarantined": q, "rate": round(q / n, 4)} for k, (n, q) in total.items()}
        figures[f"rejection_by_{col}"] = dict(sorted(rows.items(), key=lambda kv: (-kv[1]["input"], kv[0])))
    return figures


__all__ = ["Split", "check_split", "gate_ray", "plan_splits", "positions"]
