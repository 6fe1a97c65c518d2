"""Publish accepted records in the exact folder layout ``datasets.push_to_hub`` produces.

data/<split>-0000i-of-0000N.parquet plus a README.md card whose YAML carries configs,
features, license, language, task_categories and size_categories, so
``datasets.load_dataset(<folder>)`` and the Hub read it alike; exports/ holds the same splits for
fine-tuning tools (validate.exports), so they are pushed with the data.
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
from datasets.utils.py_utils import convert_file_size_to_int
from huggingface_hub import DatasetCard, DatasetCardData

from validate.contracts import PROJECT_URL, InstructionRecord, columns
from validate.errors import DataAgentError
from validate.exports import write_exports
from validate.pii import KINDS, policy_table
from validate.report import threshold_rows

CARD_TEMPLATE = Path(__file__).parent / "templates" / "dataset_card.md"
FEATURES = datasets.Features({name: datasets.Value("string") for name in columns(InstructionRecord)})
_TASK_CATEGORIES = {"faq_qa": "question-answering", "section_qa": "question-answering"}
MAX_SHARD_BYTES = 500_000_000  # datasets.config.MAX_SHARD_SIZE, what push_to_hub uses
_CODE_REF = re.compile(r"^(?P<repo>.+?)@(?P<commit>[0-9a-f]{7,40}):")


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


def source_bucket(key: str) -> float:
    """A source key's stable place in [0, 1]: the same on every run and machine, so splits never move."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def split_by_source(df: pd.DataFrame, test_fraction: float = 0.1) -> dict[str, pd.DataFrame]:
    """Assign whole sources to train or test by a hash of source_ref (stable, leak-free)."""
    base = df["source_ref"].map(source_key)
    bucket = base.map(source_bucket)
    test = bucket < test_fraction
    if len(df) >= 10 and not test.any() and base.nunique() > 1:
        # Tiny sets: still hold out one source so a test split exists, but never the only one (train would be empty).
        test = base == base.iloc[0]
    splits = {"train": df.loc[~test].reset_index(drop=True)}
    if test.any():
        splits["test"] = df.loc[test].reset_index(drop=True)
    return splits


SPLIT_BY = ("source", "keep")
# The names `datasets` accepts for a split (datasets.splits._split_re); anything else fails at load time.
_SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
_SPLIT_ORDER = {"train": 0, "validation": 1, "test": 2}
SPLIT_NOTES = {
    "source": "The test split holds whole source documents (by `source_ref`), never rows of a document that is "
    "also in train.",
    "keep": "The splits are the input records' own (their `split` field), kept as given.",
    "test-records": "The test split is a separate held-out file given at publish time; every input record is in train.",
}


def split_by_column(df: pd.DataFrame, split: pd.Series, path: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """The records grouped by their own split names (``split``, aligned with ``df``): train, validation,
    test first, any other names after in sorted order.

    A missing or blank value, or a name ``datasets`` would refuse, raises DataAgentError naming the row.
    """
    names = []
    for i, value in enumerate(split):
        missing = value is None or value is pd.NA or (isinstance(value, float) and value != value)  # NaN
        name = value.strip() if isinstance(value, str) else None
        if not missing and not isinstance(value, str):
            raise DataAgentError(
                f"--split-by keep: split must be a string, got {value!r}", path, row=i + 1, column="split"
            )
        if not name:
            raise DataAgentError("--split-by keep: empty split value", path, row=i + 1, column="split")
        if not _SPLIT_NAME.match(name):
            raise DataAgentError(
                f"--split-by keep: {name!r} is not a split name (letters, digits and _, parts joined by dots)",
                path,
                row=i + 1,
                column="split",
            )
        names.append(name)
    keys = pd.Series(names, index=df.index)
    order = sorted(set(names), key=lambda n: (_SPLIT_ORDER.get(n, 3), n))
    return {name: df.loc[keys == name].reset_index(drop=True) for name in order}


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _md(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _cell(value: object) -> str:
    """A table cell: plain text as :func:`_md`; a value with Markdown syntax in it (a regex) as a code span,
    pipes still escaped (GFM splits cells before code spans)."""
    text = str(value).replace("\n", " ")
    if not re.search(r"[\\`*_\[\]<>{}#]", text):
        return _md(text)
    text = text.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def build_provenance(
    all_rows: pd.DataFrame, provenance: dict | None = None, documents: pd.DataFrame | str | Path | None = None
) -> dict:
    """Where the records came from: web hosts and pages (crawl dates from ``documents``), code repos,
    generators, and the gate's thresholds and results, merged with what ``provenance`` states."""
    provenance = dict(provenance or {})
    if isinstance(documents, (str, Path)):
        from validate.io import read_table

        documents = read_table(documents)
    fetched: dict[str, list[str]] = {}
    crawled: dict = {}
    if documents is not None and len(documents) and "fetched_at" in documents:
        # The crawl's whole span, not just the pages records came from: a reader dates the snapshot by it.
        when = sorted(str(t) for t in documents["fetched_at"] if t is not None and str(t).strip())
        if when:
            crawled = {"first": when[0], "last": when[-1], "documents": len(documents)}
    if documents is not None and len(documents):
        url_col = "canonical_url" if "canonical_url" in documents else "url"
        for col in dict.fromkeys([url_col, "url"]):
            for url, when in zip(documents[col], documents.get("fetched_at", [""] * len(documents)), strict=False):
                fetched.setdefault(source_key(str(url)), []).append(str(when or ""))
    hosts: dict[str, dict] = {}
    repos: dict[tuple[str, str], dict] = {}
    for ref in all_rows["source_ref"].astype(str):
        parts = urlsplit(ref)
        if m := _CODE_REF.match(ref):  # repo@commit:path:lines, the repo may itself be a URL
            entry = repos.setdefault((m["repo"], m["commit"]), {"repo": m["repo"], "commit": m["commit"], "records": 0})
            entry["records"] += 1
        elif parts.scheme in ("http", "https"):
            host = hosts.setdefault(parts.hostname or "", {"host": parts.hostname or "", "pages": {}, "records": 0})
            host["records"] += 1
            page = host["pages"].setdefault(parts.path or "/", {"page": parts.path or "/", "records": 0, "dates": []})
            page["records"] += 1
            page["dates"] = sorted(set(fetched.get(source_key(ref), [])) - {""})
    for given in provenance.get("repos", []):
        key = next((k for k in repos if k[0] == given.get("repo") and given.get("commit", k[1]).startswith(k[1])), None)
        target = (
            repos[key] if key else repos.setdefault((given.get("repo", ""), given.get("commit", "")), {"records": 0})
        )
        target.update({k: v for k, v in given.items() if v is not None})
    sources = []
    for host in sorted(hosts.values(), key=lambda h: -h["records"]):
        dates = sorted(d for p in host["pages"].values() for d in p["dates"])
        sources.append(
            {
                "host": host["host"],
                "pages": len(host["pages"]),
                "records": host["records"],
                "first_crawled": dates[0] if dates else "",
                "last_crawled": dates[-1] if dates else "",
                "page_list": sorted(host["pages"].values(), key=lambda p: p["page"]),
            }
        )
    for given in provenance.get("sources", []):
        when = str(given.get("fetched_at") or given.get("crawled_at") or "")
        host = given.get("host") or urlsplit(str(given.get("url", ""))).hostname or str(given.get("url", ""))
        sources.append({"pages": 1, "records": "", "first_crawled": when, "last_crawled": when, **given, "host": host})
    gate = provenance.get("gate", {}) or {}
    return {
        "sources": sources,
        "repos": sorted(repos.values(), key=lambda r: (str(r.get("repo")), str(r.get("commit")))),
        "generators": dict(Counter(all_rows["generator"]).most_common()),
        "gate_thresholds": dict(gate.get("thresholds", {}) or {}),
        "gate_results": dict(gate.get("results", {}) or {}),
        "crawled": crawled,
        "pii": list(provenance.get("pii") or []),
    }


def pii_rows(gate_report: dict) -> list[dict]:
    """The PII policy a gate run applied, per kind: its placeholder, the policy in prose and in code, how many
    matches were replaced and how many records were quarantined for it; [] when the report does not say."""
    gate = (gate_report.get("thresholds") or {}).get("gate") or {}
    if not isinstance(gate.get("pii"), dict):
        return []
    table = policy_table(gate["pii"])
    scrubbed = gate_report.get("pii_scrubbed") or {}
    failed = gate_report.get("failures_by_check") or {}
    return [
        {
            "kind": kind,
            "placeholder": KINDS[kind].placeholder,
            "prose": table["prose"][kind],
            "code": table["code"][kind],
            "scrubbed": int(scrubbed.get(kind, 0)),
            "quarantined": int(failed.get(f"pii:{kind}", 0)),
        }
        for kind in KINDS
    ]


def _shard_count(ds: datasets.Dataset, max_shard_rows: int, max_shard_bytes: int) -> int:
    by_rows = math.ceil(len(ds) / max_shard_rows) if max_shard_rows else 1
    by_bytes = math.ceil(ds._estimate_nbytes() / max_shard_bytes) if max_shard_bytes else 1
    return max(1, by_rows, min(by_bytes, max(len(ds), 1)))


def write_dataset_folder(
    splits: dict[str, pd.DataFrame],
    out_dir: str | Path,
    *,
    pretty_name: str,
    license: str,  # noqa: A002 - the card's field name
    description: str = "",
    gate_summary: str = "",
    max_shard_rows: int = 100_000,
    max_shard_bytes: int | str = MAX_SHARD_BYTES,
    provenance: dict | None = None,
    documents: pd.DataFrame | str | Path | None = None,
    split_by: str = "source",
    exports_name: str = "dataagent",
) -> Path:
    """Write parquet shards, the exports of every split (validate.exports) and the dataset card; returns the folder.

    A split is cut into as many shards as either limit asks for: ``max_shard_rows`` rows or
    ``max_shard_bytes`` (an int, or "500MB" like ``push_to_hub``'s ``max_shard_size``) of Arrow data.
    ``gate_summary`` is a Markdown string (a table, say) placed under "Quality gate"; ``provenance``
    may carry ``sources``, ``repos`` (repo, commit, licence) and ``gate`` (thresholds, results), and
    ``documents`` (a crawl's documents file or frame) supplies crawl dates per page. ``split_by`` (a key of
    ``SPLIT_NOTES``: source, keep or test-records) says on the card how the splits were made.
    ``provenance["pii"]`` (:func:`pii_rows` of the gate report) says which PII policy was applied.
    ``exports_name`` prefixes the LLaMA-Factory entries (``<name>_<split>_<format>``).
    """
    out = Path(out_dir)
    (out / "data").mkdir(parents=True, exist_ok=True)
    for old in (out / "data").glob("*.parquet"):
        old.unlink()  # a re-publish with fewer shards must not leave stale ones the data_files glob would pick up
    max_bytes = convert_file_size_to_int(max_shard_bytes) if max_shard_bytes else 0
    split_infos = {}
    for name, frame in splits.items():
        ds = datasets.Dataset.from_pandas(frame[columns(InstructionRecord)], features=FEATURES, preserve_index=False)
        n_shards = _shard_count(ds, max_shard_rows, max_bytes)
        for i in range(n_shards):
            shard = ds.shard(num_shards=n_shards, index=i, contiguous=True)
            shard.to_parquet(out / "data" / f"{name}-{i:05d}-of-{n_shards:05d}.parquet")
        split_infos[name] = datasets.SplitInfo(name, num_examples=len(ds), num_bytes=ds.data.nbytes)
    write_exports(splits, out, name=exports_name)
    all_rows = pd.concat(list(splits.values()), ignore_index=True)
    write_card(
        out,
        split_infos,
        Counter(all_rows["language"]),
        Counter(all_rows["task_type"]),
        build_provenance(all_rows, provenance, documents),
        pretty_name=pretty_name,
        license=license,
        description=description,
        gate_summary=gate_summary,
        split_by=split_by,
        exports_name=exports_name,
    )
    return out


def write_card(
    out: Path,
    split_infos: dict[str, datasets.SplitInfo],
    languages: Counter,
    task_types: Counter,
    provenance: dict,
    *,
    pretty_name: str,
    license: str,  # noqa: A002 - the card's field name
    description: str,
    gate_summary: str,
    split_by: str,
    exports_name: str,
) -> None:
    """README.md (the card) and dataset_manifest.json from figures alone: rows and bytes per split, language and
    task-type counts, :func:`build_provenance`'s dict; so a publish that never holds every row (validate.raypublish)
    writes the same card from per-block counts."""
    splits = {s: int(info.num_examples) for s, info in split_infos.items()}
    card_data = DatasetCardData(
        license=license,
        language=sorted({tag.split("-")[0] for tag in languages if tag != "und"}),
        pretty_name=pretty_name,
        task_categories=sorted({_TASK_CATEGORIES.get(t, "text-generation") for t in task_types}),
        size_categories=[size_category(sum(splits.values()))],
        configs=[{"config_name": "default", "data_files": [{"split": s, "path": f"data/{s}-*"} for s in splits]}],
    )
    info = DatasetInfo(features=FEATURES, splits=datasets.SplitDict(split_infos))
    DatasetInfosDict({"default": info}).to_dataset_card_data(card_data)
    card = DatasetCard.from_template(
        card_data,
        template_str=CARD_TEMPLATE.read_text(encoding="utf-8"),
        pretty_name=pretty_name,
        description=description,
        splits=splits,
        split_by=split_by,
        split_note=SPLIT_NOTES[split_by],
        project_url=PROJECT_URL,
        exports_name=exports_name,
        languages=dict(languages.most_common()),
        task_types=dict(task_types.most_common()),
        gate_summary=gate_summary or "Not recorded.",
        provenance=provenance,
        md=_md,
        cell=_cell,
        fields={name: (InstructionRecord.to_schema().columns[name].description or "") for name in FEATURES},
    )
    card.save(out / "README.md")
    (out / "dataset_manifest.json").write_text(json.dumps(splits, indent=2), encoding="utf-8")


def gate_card_parts(gate_report: str | Path | None) -> tuple[str, dict]:
    """(the card's gate table, the gate's provenance: thresholds and PII policy) from gate_report.json and the
    gate_summary.md beside it; the one reader for the single-machine and the Ray publish."""
    if not gate_report:
        return "", {}
    path = Path(gate_report)
    if not path.is_file():
        raise DataAgentError("no such gate report file", path)
    table = path.with_name("gate_summary.md")
    summary = ""
    try:
        rep = json.loads(path.read_text(encoding="utf-8"))
        summary = f"{rep['input']} records checked, {rep['accepted']} accepted, {rep['quarantined']} quarantined."
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        if not table.exists():  # with the table beside it, the report is only read for its thresholds
            raise DataAgentError(f"not a gate report ({exc.__class__.__name__}: {exc})", path) from None
        rep = {}
    if table.exists():
        summary = table.read_text(encoding="utf-8")
    provenance: dict = {}
    if isinstance(rep, dict) and isinstance(rep.get("thresholds"), dict):
        provenance = {"gate": {"thresholds": threshold_rows(rep["thresholds"])}, "pii": pii_rows(rep)}
    return summary, provenance
