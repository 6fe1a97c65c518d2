"""Publish accepted records in the exact folder layout ``datasets.push_to_hub`` produces.

data/<split>-0000i-of-0000N.parquet plus a README.md card whose YAML carries configs,
features, license, language, task_categories and size_categories, so
``datasets.load_dataset(<folder>)`` and the Hub read it alike.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import datasets
import pandas as pd
from datasets.info import DatasetInfo, DatasetInfosDict
from huggingface_hub import DatasetCard, DatasetCardData

from validate.contracts import InstructionRecord, columns

CARD_TEMPLATE = Path(__file__).parent / "templates" / "dataset_card.md"
FEATURES = datasets.Features({name: datasets.Value("string") for name in columns(InstructionRecord)})
_TASK_CATEGORIES = {"faq_qa": "question-answering", "section_qa": "question-answering"}


def source_key(ref: str) -> str:
    """The source a record came from: a file for code (line range dropped), a page for web records.

    Scheme, port and commit are dropped so a re-crawl over https, a loopback copy on
    another port, or a re-extraction at a newer commit assigns every source to the same
    split as before.
    """
    ref = re.sub(r"@[0-9a-f]{7,40}:", ":", re.sub(r":\d+-\d+$", "", ref))
    parts = urlsplit(ref)
    if parts.scheme in ("http", "https"):
        return f"{parts.hostname}{parts.path}?{parts.query}"
    return ref


def split_by_source(df: pd.DataFrame, test_fraction: float = 0.1) -> dict[str, pd.DataFrame]:
    """Assign whole sources to train or test by a hash of source_ref (stable, leak-free)."""
    base = df["source_ref"].map(source_key)
    bucket = base.map(lambda s: int(hashlib.sha256(s.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF)
    test = bucket < test_fraction
    if len(df) >= 10 and not test.any():
        test = base == base.iloc[0]  # tiny sets: still hold out one source so a test split exists
    splits = {"train": df.loc[~test].reset_index(drop=True)}
    if test.any():
        splits["test"] = df.loc[test].reset_index(drop=True)
    return splits


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def write_dataset_folder(
    splits: dict[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    pretty_name: str,
    license: str,  # noqa: A002 - the card's field name
    description: str = "",
    gate_summary: str = "",
    max_shard_rows: int = 100_000,
) -> Path:
    """Write parquet shards and the dataset card; returns the folder."""
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    split_infos = {}
    for name, frame in splits.items():
        ds = datasets.Dataset.from_pandas(frame[columns(InstructionRecord)], features=FEATURES, preserve_index=False)
        n_shards = max(1, math.ceil(len(ds) / max_shard_rows))
        for i in range(n_shards):
            shard = ds.shard(num_shards=n_shards, index=i, contiguous=True)
            shard.to_parquet(out / "data" / f"{name}-{i:05d}-of-{n_shards:05d}.parquet")
        split_infos[name] = datasets.SplitInfo(name, num_examples=len(ds), num_bytes=ds.data.nbytes)
    all_rows = pd.concat(list(splits.values()), ignore_index=True)
    card_data = DatasetCardData(
        license=license,
        language=sorted({tag.split("-")[0] for tag in all_rows["language"] if tag != "und"}),
        pretty_name=pretty_name,
        task_categories=sorted({_TASK_CATEGORIES.get(t, "text-generation") for t in all_rows["task_type"]}),
        size_categories=[size_category(len(all_rows))],
        configs=[{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}],
    )
    info = DatasetInfo(features=FEATURES, splits=datasets.SplitDict(split_infos))
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    card = DatasetCard.from_template(
        card_data,
        template_str=CARD_TEMPLATE.read_text(encoding="utf-8"),
        pretty_name=pretty_name,
        description=description,
        splits={s: len(f) for s, f in splits.items()},
        languages=dict(Counter(all_rows["language"]).most_common()),
        task_types=dict(Counter(all_rows["task_type"]).most_common()),
        gate_summary=gate_summary or "Not recorded.",
        fields={name: (InstructionRecord.to_schema().columns[name].description or "") for name in FEATURES},
    )
    card.save(out / "README.md")
    (out / "dataset_manifest.json").write_text(
        json.dumps({s: len(f) for s, f in splits.items()}, indent=2), encoding="utf-8"
    )
    return out
