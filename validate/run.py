"""The validate and publish stages as single calls over contract files."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from validate.contracts import InstructionRecord, columns
from validate.decontam import contaminated, load_eval_sets
from validate.dedup import near_duplicates
from validate.errors import ContractError, DataAgentError
from validate.exports import write_exports
from validate.gate import REASONS
from validate.hub import push_dataset
from validate.io import read_records, read_table, write_records, write_table
from validate.publish import split_by_source, write_dataset_folder
from validate.quality import GateConfig, run_gate, strict_violations
from validate.report import build_report, summary_table_markdown


def gate_file(
    input_path: str | Path,
    out_dir: str | Path,
    cfg: GateConfig | None = None,
    *,
    near_dup_threshold: float | None = 0.85,
    eval_sets: list[str | Path] | None = None,
    strict: bool = False,
) -> dict:
    """The whole gate over one file: checks, near-duplicates, decontamination, report.

    Writes accepted.*, quarantine.* (every reason per row), gate_report.json,
    quality_report.{json,html} and gate_summary.md (the table for the dataset card).
    With ``strict``, raises after writing if any check's failure rate is over its limit.
    """
    # Read without validating: the gate's job is to sort bad rows into quarantine, not to refuse the file.
    df = read_table(input_path)
    missing = [c for c in columns(InstructionRecord) if c not in df.columns]
    if missing:
        raise ContractError(str(input_path), None, missing[0], "a field required by the InstructionRecord contract")
    cfg = cfg or GateConfig.from_yaml()
    accepted, quarantined, report = run_gate(df, cfg)

    # Near-dups and contamination are judged on the accepted rows, positions as the report expects.
    clusters: list[list[int]] = []
    drop_reasons: dict[int, list[str]] = {}
    if near_dup_threshold is not None and len(accepted) > 1:
        keep, clusters = near_duplicates(accepted, threshold=near_dup_threshold)
        for cluster in clusters:
            kept_id = accepted.iloc[cluster[0]]["id"]
            for pos in cluster[1:]:
                drop_reasons.setdefault(pos, []).append(f"near_duplicate_of:{kept_id[:12]}")
    hits: dict = {}
    if eval_sets:
        mask, hits = contaminated(accepted, load_eval_sets(eval_sets))
        for pos in mask.to_numpy().nonzero()[0]:
            drop_reasons.setdefault(int(pos), []).append("contaminated")
    quality = build_report(accepted, quarantined, report, clusters, hits, out_dir)
    if drop_reasons:
        positions = sorted(drop_reasons)
        dropped = accepted.iloc[positions].copy()
        dropped[REASONS] = [drop_reasons[p] for p in positions]
        accepted = accepted.drop(accepted.index[positions]).reset_index(drop=True)
        quarantined = pd.concat([quarantined, dropped], ignore_index=True)
    if len(accepted) + len(quarantined) != len(df):
        raise AssertionError(f"gate lost records: {len(accepted)} + {len(quarantined)} != {len(df)}")
    report.update(
        accepted=len(accepted),
        quarantined=len(quarantined),
        near_duplicates_removed=sum(len(c) - 1 for c in clusters),
        contaminated_removed=sum("contaminated" in r for r in drop_reasons.values()),
    )
    out = Path(out_dir)
    write_records(accepted, out / "accepted", InstructionRecord)
    write_table(quarantined, out / "quarantine")
    report.update(
        input_file=str(input_path),
        accepted_file=str(out / "accepted.parquet"),
        quarantine_file=str(out / "quarantine.parquet"),
        quality_report=str(out / "quality_report.html"),
    )
    (out / "gate_report.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
    )
    (out / "gate_summary.md").write_text(summary_table_markdown({**quality, **report}), encoding="utf-8")
    if strict:
        violations = strict_violations(report, cfg)
        if violations:
            raise DataAgentError(f"--strict: {len(violations)} check(s) over their limit: " + "; ".join(violations))
    return report


def publish_file(
    input_path: str | Path,
    out_dir: str | Path,
    *,
    pretty_name: str,
    license: str,  # noqa: A002 - the card's field name
    description: str = "",
    gate_report: str | Path | None = None,
    documents: str | Path | None = None,
    max_shard_rows: int = 100_000,
    repo_id: str | None = None,
    private: bool = False,
    version: str | None = None,
) -> dict:
    """Publish accepted records in Hub layout (+ Alpaca/ShareGPT/LLaMA-Factory exports); push when ``repo_id``.

    The gate's summary table (gate_summary.md beside gate_report.json) goes into the card.
    """
    df = read_records(input_path, InstructionRecord)
    summary = ""
    if gate_report and Path(gate_report).exists():
        table = Path(gate_report).with_name("gate_summary.md")
        if table.exists():
            summary = table.read_text(encoding="utf-8")
        else:
            rep = json.loads(Path(gate_report).read_text(encoding="utf-8"))
            summary = f"{rep['input']} records checked, {rep['accepted']} accepted, {rep['quarantined']} quarantined."
    splits = split_by_source(df)
    folder = write_dataset_folder(
        splits,
        out_dir,
        pretty_name=pretty_name,
        license=license,
        description=description,
        gate_summary=summary,
        max_shard_rows=max_shard_rows,
        documents=documents,
    )
    exports = write_exports(df, folder, name=Path(out_dir).name or "dataagent")
    result = {
        "folder": str(folder),
        "splits": {s: len(f) for s, f in splits.items()},
        "exports": {k: str(v) for k, v in exports.items()},
    }
    if repo_id:
        result["hub"] = push_dataset(folder, repo_id, private=private, version=version)
    return result
