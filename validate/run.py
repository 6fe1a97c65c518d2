"""The validate and publish stages as single calls over contract files."""

from __future__ import annotations

import json
from pathlib import Path

from validate.contracts import InstructionRecord, columns
from validate.errors import ContractError
from validate.io import read_records, read_table, write_records, write_table
from validate.publish import split_by_source, write_dataset_folder
from validate.quality import GateConfig, run_gate


def gate_file(input_path: str | Path, out_dir: str | Path, cfg: GateConfig | None = None) -> dict:
    """accepted.{jsonl,parquet}, quarantine.{jsonl,parquet} and gate_report.json in ``out_dir``."""
    # Read without validating: the gate's job is to sort bad rows into quarantine, not to refuse the file.
    df = read_table(input_path)
    missing = [c for c in columns(InstructionRecord) if c not in df.columns]
    if missing:
        raise ContractError(str(input_path), None, missing[0], "a field required by the InstructionRecord contract")
    accepted, quarantined, report = run_gate(df, cfg)
    out = Path(out_dir)
    write_records(accepted, out / "accepted", InstructionRecord)
    write_table(quarantined, out / "quarantine")
    report.update(
        input_file=str(input_path),
        accepted_file=str(out / "accepted.parquet"),
        quarantine_file=str(out / "quarantine.parquet"),
    )
    (out / "gate_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return report


def publish_file(
    input_path: str | Path,
    out_dir: str | Path,
    *,
    pretty_name: str,
    license: str,  # noqa: A002 - the card's field name
    description: str = "",
    gate_report: str | Path | None = None,
    max_shard_rows: int = 100_000,
) -> dict:
    """Publish accepted records to a local folder in Hub layout; returns split sizes and the folder."""
    df = read_records(input_path, InstructionRecord)
    summary = ""
    if gate_report and Path(gate_report).exists():
        rep = json.loads(Path(gate_report).read_text(encoding="utf-8"))
        summary = (
            f"{rep['input']} records checked, {rep['accepted']} accepted, {rep['quarantined']} quarantined. "
            f"Failures by check: {json.dumps(rep['failures_by_check'], ensure_ascii=False)}"
        )
    splits = split_by_source(df)
    folder = write_dataset_folder(
        splits,
        out_dir,
        pretty_name=pretty_name,
        license=license,
        description=description,
        gate_summary=summary,
        max_shard_rows=max_shard_rows,
    )
    return {"folder": str(folder), "splits": {s: len(f) for s, f in splits.items()}}
