"""The validate and publish stages as single calls over contract files: ``run`` (the gate, after an
import when the input is another format) and ``publish_file``."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from validate.contracts import InstructionRecord, columns
from validate.decontam import DEFAULT_N as DECONTAM_N
from validate.decontam import MIN_TOKENS, contaminated, load_eval_sets
from validate.dedup import near_duplicates
from validate.dedup import settings as dedup_settings
from validate.errors import DataAgentError
from validate.exports import export_paths
from validate.gate import REASONS
from validate.hub import push_dataset
from validate.importers import ImportResult, check_accounting, write_import
from validate.io import OnBadLine, load_table, read_records, strict_json, write_records
from validate.progress import Steps
from validate.publish import SPLIT_BY, gate_card_parts, split_by_column, split_by_source, write_dataset_folder
from validate.quality import GateConfig, run_gate, strict_violations
from validate.quarantine import write_quarantine
from validate.report import build_report, summary_table_markdown


@dataclass
class ValidateConfig:
    """How to gate: the checks' settings (GateConfig), near-duplicates, decontamination, strictness."""

    gate: GateConfig | None = None  # default: validate/gate_defaults.yaml
    # None (the CLI's 1) is off.
    near_dup_threshold: float | None = field(
        default=0.85, metadata={"help": "MinHash Jaccard for near-duplicates (1 = off)."}
    )
    eval_sets: list[str | Path] | None = field(
        default=None, metadata={"help": "Eval set (JSONL/Parquet/CSV) to decontaminate against; repeatable."}
    )
    decontam_ngram: int = field(
        default=DECONTAM_N,
        metadata={
            "help": "Decontamination window: a record sharing this many consecutive words (Han characters in "
            "Chinese) with an eval set is dropped."
        },
    )
    # Raise (after writing) when a check's failure rate is over its limit.
    strict: bool = field(default=False, metadata={"help": "Fail when a check's failure rate is over its limit."})
    on_bad_line: OnBadLine = field(
        default="quarantine",
        metadata={"help": "A JSONL line that is not a readable record: quarantine it with its line number, or error."},
    )


def run(inputs: str | Path | ImportResult, out: str | Path, config: ValidateConfig | None = None) -> dict:
    """The validate stage as one call; returns the gate report.

    ``inputs`` is an InstructionRecord file, gated as it is (:func:`gate_file`), or a dataset already
    read and converted by ``validate.importers.import_dataset`` (before the output folder was claimed):
    it is written as imported.jsonl and import_quarantine.*, its records are gated, every source row is
    accounted for, and the report carries the import's summary under ``import`` (with no gate figures
    when no row could be converted).
    """
    config = config or ValidateConfig()
    gate = {
        "near_dup_threshold": config.near_dup_threshold,
        "eval_sets": config.eval_sets,
        "decontam_ngram": config.decontam_ngram,
        "strict": config.strict,
        "on_bad_line": config.on_bad_line,
    }
    if not isinstance(inputs, ImportResult):
        return gate_file(inputs, out, config.gate, **gate)
    files = write_import(inputs, out)
    report = gate_file(files["records"], out, config.gate, **gate) if inputs.records else None
    check_accounting(inputs.summary, report)
    return {**(report or {}), "import": inputs.summary}


def gate_file(
    input_path: str | Path,
    out_dir: str | Path,
    cfg: GateConfig | None = None,
    *,
    # The defaults are ValidateConfig's: one home for every setting.
    near_dup_threshold: float | None = ValidateConfig.near_dup_threshold,
    eval_sets: list[str | Path] | None = ValidateConfig.eval_sets,
    decontam_ngram: int = ValidateConfig.decontam_ngram,
    strict: bool = ValidateConfig.strict,
    on_bad_line: OnBadLine = ValidateConfig.on_bad_line,
) -> dict:
    """The whole gate over one file: checks, near-duplicates, decontamination, report.

    Writes accepted.*, quarantine.* (every reason per row, and the input ``line`` where known),
    gate_report.json (with ``thresholds``: the whole GateConfig, the near-duplicate rule and the
    decontamination window actually used), quality_report.{json,html} and gate_summary.md (the table
    for the dataset card). The reports are built after every decision (checks, exact and near
    duplicates, contamination), so their counts are the counts of accepted.* and quarantine.*.
    A JSONL line that holds no record is quarantined with a ``bad_line:<why>`` reason, or, with
    ``on_bad_line="error"``, refuses the file naming the line. With ``strict``, raises after writing if any
    check's failure rate is over its limit.
    """
    # Read without validating: the gate's job is to sort bad rows into quarantine, not to refuse the file.
    table = load_table(input_path, on_bad_line=on_bad_line)
    df = table.frame
    if not len(df) and not table.bad:
        raise DataAgentError("file is empty: no records", input_path)
    missing = [c for c in columns(InstructionRecord) if len(df) and c not in df.columns]
    if missing:
        raise DataAgentError(f"missing field '{missing[0]}' required by the InstructionRecord contract", input_path)
    line_col = "input_line" if "line" in df.columns else "line"  # never overwrite a field of the records
    n_input = len(df) + len(table.bad)
    cfg = cfg or GateConfig.from_yaml()
    steps = Steps("gate", ["checks", "near-duplicates", "decontamination", "write", "report"], n_input)
    steps.start("checks")
    # Each row carries its position through the gate, so every quarantined row can name its input line.
    accepted, quarantined, report = run_gate(df.assign(**{_ROW: np.arange(len(df))}), cfg)
    # Accepted rows keep their input order, so their positions are those not quarantined, ascending.
    taken = quarantined[_ROW].to_numpy(dtype=np.int64) if len(quarantined) else np.zeros(0, np.int64)
    accepted_rows = np.setdiff1d(np.arange(len(df)), taken)
    if len(accepted_rows) != len(accepted):
        raise AssertionError(f"gate lost track of rows: {len(accepted_rows)} != {len(accepted)}")
    if table.bad:
        quarantined = pd.concat([_bad_line_rows(table.bad, line_col), quarantined], ignore_index=True)
    _count_bad_lines(report, table.bad)

    # Near-dups and contamination are judged on the accepted rows, positions as the report expects.
    judged = accepted
    clusters: list[list[int]] = []
    drop_reasons: dict[int, list[str]] = {}
    steps.start("near-duplicates", len(accepted))
    if near_dup_threshold is not None and len(accepted) > 1:
        keep, clusters = near_duplicates(accepted, threshold=near_dup_threshold)
        for cluster in clusters:
            kept_id = accepted.iloc[cluster[0]]["id"]
            for pos in cluster[1:]:
                drop_reasons.setdefault(pos, []).append(f"near_duplicate_of:{kept_id[:12]}")
    hits: dict = {}
    steps.start("decontamination")
    if eval_sets:
        mask, hits = contaminated(accepted, load_eval_sets(eval_sets), n=decontam_ngram)
        for pos in mask.to_numpy().nonzero()[0]:
            drop_reasons.setdefault(int(pos), []).append("contaminated")
    quarantined = _name_lines(quarantined, table.lines, line_col)
    if drop_reasons:
        positions = sorted(drop_reasons)
        dropped = accepted.iloc[positions].copy()
        dropped[REASONS] = [drop_reasons[p] for p in positions]
        dropped[_ROW] = accepted_rows[positions]
        accepted = accepted.drop(accepted.index[positions]).reset_index(drop=True)
        quarantined = pd.concat([quarantined, _name_lines(dropped, table.lines, line_col)], ignore_index=True)
    if len(accepted) + len(quarantined) != n_input:
        raise AssertionError(f"gate lost records: {len(accepted)} + {len(quarantined)} != {n_input}")
    report.update(
        accepted=len(accepted),
        quarantined=len(quarantined),
        near_duplicates_removed=sum(len(c) - 1 for c in clusters),
        contaminated_removed=sum("contaminated" in r for r in drop_reasons.values()),
    )
    report["thresholds"] = gate_thresholds(cfg, near_dup_threshold, eval_sets, decontam_ngram)
    out = Path(out_dir)
    steps.start("write", len(accepted))
    write_records(accepted, out / "accepted", InstructionRecord)
    # The common quarantine columns first (validate/quarantine.py), then the record's fields, reasons and line.
    write_quarantine(
        quarantined,
        out / "quarantine",
        "gate",
        source_file=input_path,
        row_column=line_col,
        record_columns=[c for c in quarantined.columns if c not in (REASONS, line_col)],
    )
    report.update(
        input_file=str(input_path),
        accepted_file=str(out / "accepted.parquet"),
        quarantine_file=str(out / "quarantine.parquet"),
        quality_report=str(out / "quality_report.html"),
    )
    (out / "gate_report.json").write_text(strict_json(report, indent=2, ensure_ascii=False), encoding="utf-8")
    # The report is built from the final decisions, so its counts are those of the files just written.
    steps.start("report")
    quality = build_report(accepted, quarantined, report, clusters, hits, out_dir, judged_df=judged)
    (out / "gate_summary.md").write_text(summary_table_markdown(quality), encoding="utf-8")
    steps.close()
    if strict:
        violations = strict_violations(report, cfg)
        if violations:
            raise DataAgentError(f"--strict: {len(violations)} check(s) over their limit: " + "; ".join(violations))
    return report


_ROW = "_dataagent_row"  # a row's position in the input frame, carried through the gate and dropped before writing


def _bad_line_rows(bad: list[dict], line_col: str) -> pd.DataFrame:
    """Quarantine rows for JSONL lines that hold no record: contract fields null, the reason, line and raw text."""
    rows = [
        {**dict.fromkeys(columns(InstructionRecord)), REASONS: [b["reason"]], line_col: b["line"], "raw": b["raw"]}
        for b in bad
    ]
    # Object columns: concatenated with the other rows, they stay null and whole numbers rather than NaN and floats.
    return pd.DataFrame(rows).astype({c: object for c in [*columns(InstructionRecord), line_col]})


def _count_bad_lines(report: dict, bad: list[dict]) -> None:
    """Fold the bad lines into run_gate's report: they are input records, each failing one check."""
    if not bad:
        return
    counts = dict(report["failures_by_check"])
    for b in bad:
        counts[b["reason"]] = counts.get(b["reason"], 0) + 1
    n = report["input"] + len(bad)
    report.update(
        input=n,
        quarantined=report["quarantined"] + len(bad),
        failures_by_check=dict(sorted(counts.items())),
        failure_rate_by_check={k: round(v / n, 6) for k, v in sorted(counts.items())},
    )


def _name_lines(frame: pd.DataFrame, lines: np.ndarray | None, line_col: str) -> pd.DataFrame:
    """Replace the private row position by the 1-based input line: null where unknown (Parquet input), kept
    where a row already names its line (bad-line rows, which never had a position)."""
    if _ROW not in frame.columns:
        return frame
    named = frame[line_col].tolist() if line_col in frame.columns else [None] * len(frame)
    values: list[int | None] = []
    for pos, line in zip(frame[_ROW].tolist(), named, strict=True):
        if isinstance(line, int | np.integer):
            values.append(int(line))
        else:
            values.append(None if lines is None or pd.isna(pos) else int(lines[int(pos)]))
    return frame.drop(columns=_ROW).assign(**{line_col: pd.Series(values, index=frame.index, dtype=object)})


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
    split_by: str = "source",
    test_records: str | Path | None = None,
) -> dict:
    """Publish accepted records in Hub layout, with Alpaca/ShareGPT/LLaMA-Factory exports of every split in
    ``<out_dir>/exports/``; push the whole folder when ``repo_id``.

    The gate's summary table (gate_summary.md beside gate_report.json) goes into the card, and so do the
    thresholds gate_report.json records (a collapsed list under "Gate thresholds") and the PII policy it applied.
    ``documents`` (the crawl's documents file) dates the crawl on the card.

    Splits: ``split_by="source"`` holds out whole sources by a hash of ``source_ref``; ``"keep"`` takes each
    record's own ``split`` field (an imported set's train/validation/test). ``test_records`` names a separate
    held-out file published as ``test``, with every input record in ``train``. The card and the result's
    ``split_by`` say which was used.
    """
    if split_by not in SPLIT_BY:
        raise DataAgentError(f"--split-by must be one of {', '.join(SPLIT_BY)}, got {split_by!r}")
    if test_records is not None and split_by == "keep":
        # Both would name the test split; silently preferring one would publish a split nobody asked for.
        raise DataAgentError("--test-records and --split-by keep both give the test split: use one", test_records)
    df = read_records(input_path, InstructionRecord)
    steps = Steps("publish", ["split", "write shards, exports and card", "push"][: 3 if repo_id else 2], len(df))
    steps.start("split")
    summary, provenance = gate_card_parts(gate_report)
    if test_records is not None:
        test = read_records(test_records, InstructionRecord)
        shared = test["id"].isin(set(df["id"])).to_numpy().nonzero()[0]
        if len(shared):  # a held-out record also trained on would make every held-out figure a lie
            raise DataAgentError(
                f"{len(shared)} test record(s) also in the input records (same id)",
                test_records,
                row=int(shared[0]) + 1,
                column="id",
            )
        splits, how = {"train": df, "test": test}, "test-records"
    elif split_by == "keep":
        # The contract drops columns it does not name, so the split field is read from the raw rows;
        # both frames keep the file's row order, so they line up row for row.
        raw = load_table(input_path).frame
        if "split" not in raw.columns:
            raise DataAgentError("--split-by keep: the records have no 'split' field", input_path, column="split")
        splits, how = split_by_column(df, raw["split"], input_path), "keep"
    else:
        splits, how = split_by_source(df), "source"
    steps.start("write shards, exports and card", sum(len(f) for f in splits.values()))
    folder = write_dataset_folder(
        splits,
        out_dir,
        pretty_name=pretty_name,
        license=license,
        description=description,
        gate_summary=summary,
        max_shard_rows=max_shard_rows,
        documents=documents,
        provenance=provenance,
        split_by=how,
        exports_name=Path(out_dir).name or "dataagent",
    )
    result = {
        "folder": str(folder),
        "splits": {s: len(f) for s, f in splits.items()},
        "split_by": how,
        "exports": export_paths(folder, list(splits)),
    }
    if repo_id:
        steps.start("push")  # huggingface_hub draws its own upload bars under this line
        result["hub"] = push_dataset(folder, repo_id, private=private, version=version)
    steps.close()
    return result


def gate_thresholds(
    cfg: GateConfig, near_dup_threshold: float | None, eval_sets: list | None, decontam_ngram: int
) -> dict:
    """The report's ``thresholds``: one writer for the single-machine gate and the Ray gate, whose reports must
    be identical."""
    return {
        "gate": dataclasses.asdict(cfg),
        "near_duplicate": None if near_dup_threshold is None else dedup_settings(near_dup_threshold),
        "decontamination": None
        if not eval_sets
        else {
            "ngram": decontam_ngram,
            "unit": "words; Han characters in text with Han",
            "min_eval_tokens": MIN_TOKENS,
            "eval_sets": [Path(p).name for p in eval_sets],
        },
    }
