"""Publish from a Ray cluster (``dataagent publish --ray``): Hub-layout shards written by the workers, the card
from per-block counts; no record passes through the driver.

Each input shard (the Ray gate's ``accepted/`` shards, or any InstructionRecord files) is read by one task
with the contract reader (``validate.io.read_records``), split by source with the single-machine rule
(``validate.publish.source_key``/``source_bucket``) and written by its worker as
``data/<split>-<block>-<k>.parquet`` with the same ``datasets`` writer and features; the task returns rows,
bytes and language / task-type / generator counts. The driver then renames the files to
``<split>-0000i-of-0000N.parquet`` in block order (a rename, no data) and writes the card with
``validate.publish.write_card`` from the summed counts.

Exports (``validate.exports``): each block task also writes its rows of each split as Alpaca and ShareGPT
list items (``json_items``); one task per (format, split) then streams those pieces, in block order, into
``exports/<format>/<split>.json`` (``join_items``), the same bytes ``write_exports`` writes from the whole
split, and the driver writes ``exports/dataset_info.json`` from the split names. With ``repo_id`` the folder is
pushed as ``publish_file`` pushes it (``validate.hub.push_dataset``, one commit and a version tag): the upload
reads the files on the machine that runs the command, so it must see ``out_dir``.

Differences from ``publish_file``, all for want of the whole set in one place: the card lists generators but
not the per-host page list; the tiny-set rule of ``split_by_source`` (hold out one source when the hash holds
out none) is not applied; ``--split-by keep`` and ``--test-records`` are not supported.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import datasets
import pandas as pd

from validate.cluster import connected, ray_module
from validate.contracts import InstructionRecord
from validate.errors import DataAgentError
from validate.exports import EXPORTS_DIR, FORMATS, dataset_info, export_paths, join_items, json_items
from validate.hub import push_dataset
from validate.io import read_records
from validate.publish import FEATURES, build_provenance, gate_card_parts, source_bucket, source_key, write_card
from validate.raygate import input_files

PIECES = f"{EXPORTS_DIR}/.pieces"  # the blocks' export items, joined into one file per split and format


def _join_export(fmt: str, split: str, blocks: list[int], out: str) -> None:
    folder = Path(out) / EXPORTS_DIR / fmt
    folder.mkdir(parents=True, exist_ok=True)
    join_items([Path(out) / PIECES / f"{fmt}-{split}-{b:06d}.json" for b in blocks], folder / f"{split}.json")


def _write_block(path: str, index: int, out: str, max_shard_rows: int) -> dict:
    df = read_records(path, InstructionRecord).astype("str")
    test = df["source_ref"].map(source_key).map(source_bucket).to_numpy() < 0.1
    summary: dict = {}
    for split, frame in (("train", df.loc[~test]), ("test", df.loc[test])):
        if not len(frame):
            continue
        files, nbytes = [], 0
        for k, lo in enumerate(range(0, len(frame), max_shard_rows)):
            part = frame.iloc[lo : lo + max_shard_rows]
            ds = datasets.Dataset.from_pandas(part, features=FEATURES, preserve_index=False)
            name = f"{split}-tmp-{index:06d}-{k:04d}.parquet"
            ds.to_parquet(str(Path(out) / "data" / name))
            files.append(name)
            nbytes += ds.data.nbytes
        for fmt, convert in FORMATS.items():
            piece = Path(out) / PIECES / f"{fmt}-{split}-{index:06d}.json"
            piece.write_text(json_items(convert(frame)), encoding="utf-8")
        summary[split] = {
            "rows": len(frame),
            "bytes": nbytes,
            "files": files,
            "language": dict(Counter(frame["language"])),
            "task_type": dict(Counter(frame["task_type"])),
            "generator": dict(Counter(frame["generator"])),
        }
    return summary


def publish_ray(
    input_path: str | Path,
    out_dir: str | Path,
    *,
    pretty_name: str,
    license: str,  # noqa: A002 - the card's field name
    description: str = "",
    gate_report: str | Path | None = None,
    max_shard_rows: int = 100_000,
    address: str | None = None,
    repo_id: str | None = None,
    private: bool = False,
    version: str | None = None,
) -> dict:
    """Hub-layout folder (data/*.parquet, exports/, README.md, dataset_manifest.json) written from the cluster;
    pushed to ``repo_id`` when given."""
    paths = input_files(input_path)
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for old in (out / "data").glob("*.parquet"):
        old.unlink()
    shutil.rmtree(out / EXPORTS_DIR, ignore_errors=True)  # a re-publish must not keep a split's old export
    (out / PIECES).mkdir(parents=True)
    summary, provenance = gate_card_parts(gate_report)
    with connected(address):
        ray = ray_module()
        write = ray.remote(_write_block)
        # One task per input shard, reading it where it runs: the driver only sees the counts.
        blocks = ray.get([write.remote(str(p), i, str(out), max_shard_rows) for i, p in enumerate(paths)])
        present = [s for s in ("train", "test") if any(s in b for b in blocks)]
        join = ray.remote(_join_export)
        ray.get(
            [
                join.remote(fmt, split, [i for i, b in enumerate(blocks) if split in b], str(out))
                for fmt in FORMATS
                for split in present
            ]
        )
    shutil.rmtree(out / PIECES)
    exports_name = out.name or "dataagent"
    files = {fmt: {split: f"{fmt}/{split}.json" for split in present} for fmt in FORMATS}
    (out / EXPORTS_DIR / "dataset_info.json").write_text(
        json.dumps(dataset_info(exports_name, files), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    split_infos: dict[str, datasets.SplitInfo] = {}
    counts = {c: Counter() for c in ("language", "task_type", "generator")}
    for split in ("train", "test"):
        files = [f for b in blocks if split in b for f in b[split]["files"]]
        if not files:
            continue
        for i, name in enumerate(files):
            (out / "data" / name).rename(out / "data" / f"{split}-{i:05d}-of-{len(files):05d}.parquet")
        rows = sum(b[split]["rows"] for b in blocks if split in b)
        nbytes = sum(b[split]["bytes"] for b in blocks if split in b)
        split_infos[split] = datasets.SplitInfo(split, num_examples=rows, num_bytes=nbytes)
        for c in counts:
            for b in blocks:
                if split in b:
                    counts[c].update(b[split][c])
    if not split_infos:
        raise DataAgentError("no records to publish", paths[0])
    prov = build_provenance(pd.DataFrame({"source_ref": [], "generator": []}), provenance)
    prov["generators"] = dict(counts["generator"].most_common())
    write_card(
        out,
        split_infos,
        counts["language"],
        counts["task_type"],
        prov,
        pretty_name=pretty_name,
        license=license,
        description=description,
        gate_summary=summary,
        split_by="source",
        exports_name=exports_name,
    )
    result = {
        "folder": str(out),
        "splits": {s: int(i.num_examples) for s, i in split_infos.items()},
        "split_by": "source",
        "blocks": len(blocks),
        "exports": export_paths(out, present),
    }
    if repo_id:
        result["hub"] = push_dataset(out, repo_id, private=private, version=version)
    return result
