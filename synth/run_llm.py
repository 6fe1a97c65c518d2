"""The LLM synth stage as one call: contract files in, instruction records, quarantine and a usage report out.

Every request either becomes records or lands in ``generation_quarantine.*`` (the one quarantine
schema, validate/quarantine.py) with its raw answer and the reason (failed request, unparseable,
wrong shape, near-duplicate...), so requests made = records' sources + quarantined, and nothing is dropped silently.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd

from synth.engine import Engine, EngineConfig, GenResult, failure_summary, raise_if_all_failed
from synth.generators import ParseError, code_tasks, qa, self_instruct, task_templates
from validate.contracts import CodeUnit, Document, InstructionRecord
from validate.errors import DataAgentError
from validate.gate import REASONS, split_by_contract
from validate.io import read_records, write_records
from validate.quarantine import category, write_quarantine
from validate.text import utc_now

GENERATORS = ("qa", "self-instruct", "code", "task:<name>")
# generation_quarantine's own columns, after the common ones of validate.contracts.QuarantineRecord.
QUARANTINE_COLUMNS = ["source_ref", "template", "reason", "detail", "raw"]


def build(
    generator: str,
    *,
    documents: pd.DataFrame | None,
    code: pd.DataFrame | None,
    model: str,
    stats: Counter,
    opts: dict[str, Any],
) -> tuple[Any, list]:
    """(generator module, requests) for a generator name."""
    if generator == "qa":
        return qa, qa.build_requests(
            _need(documents, "--documents", generator),
            model=model,
            stats=stats,
            **_pick(opts, "n_pairs", "focus_topics", "min_answer_chars", "max_answer_chars"),
        )
    if generator == "self-instruct":
        return self_instruct, self_instruct.build_requests(
            _seeds(opts), model=model, **_pick(opts, "num_requests", "k_new", "language")
        )
    if generator == "code":
        return code_tasks, code_tasks.build_requests(
            _need(code, "--code", generator), model=model, stats=stats, **_pick(opts, "language")
        )
    if generator.startswith("task:"):
        name = generator.split(":", 1)[1]
        task_templates.load_template(name)  # an unknown task is named (with the known ones) before a missing input
        return task_templates, task_templates.build_requests(
            name, _need(documents, "--documents", generator), model=model, stats=stats
        )
    raise DataAgentError(f"unknown generator {generator!r} (one of {', '.join(GENERATORS)})")


def synth_llm(
    out_dir: str | Path,
    generator: str,
    engine_cfg: EngineConfig,
    *,
    documents: str | Path | None = None,
    code: str | Path | None = None,
    dry_run: bool = False,
    **opts: Any,
) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    docs = read_records(documents, Document) if documents else None
    units = read_records(code, CodeUnit) if code else None
    stats: Counter = Counter()
    module, requests = build(generator, documents=docs, code=units, model=engine_cfg.model, stats=stats, opts=opts)
    engine = Engine(engine_cfg)
    if dry_run:
        estimate = {"generator": generator, **engine.estimate(requests), "build_stats": dict(stats)}
        (out / "estimate.json").write_text(json.dumps(estimate, indent=2), encoding="utf-8")
        return estimate
    results = engine.generate(requests)
    records, quarantine = _collect(module, results)
    if module is self_instruct and records:
        kept, rejected = self_instruct.filter_tasks(records, _seeds(opts))
        records = list(kept)
        quarantine += [
            _quarantine_row(task.get("source_ref", ""), "self_instruct", reason, json.dumps(task))
            for task, reason in rejected
        ]
    frame = pd.DataFrame(records)
    if len(frame):
        repeat = frame["id"].duplicated(keep="first")
        quarantine += [
            _quarantine_row(r.source_ref, r.task_type, "duplicate_id", r.output)
            for r in frame.loc[repeat].itertuples(index=False)
        ]
        frame = frame.loc[~repeat]
    accepted, broken = split_by_contract(frame, InstructionRecord)
    quarantine += [
        _quarantine_row(r["source_ref"], r["task_type"], ";".join(r[REASONS]), r["output"])
        for r in broken.to_dict("records")
    ]
    write_records(accepted, out / "instructions", InstructionRecord)
    quarantine_file, _ = write_quarantine(
        pd.DataFrame(quarantine, columns=QUARANTINE_COLUMNS),
        out / "generation_quarantine",
        "synth",
        source_file=_source_file(generator, documents, code, opts),
        id_column="source_ref",
    )
    # Requests the server never answered; a budget stop is reported by the usage, not as a failure.
    failed = Counter(r.error for r in results if r.text is None and r.error and r.error != "budget_exhausted")
    report = {
        "generator": generator,
        "requests": len(requests),
        "records": len(accepted),
        "quarantined": len(quarantine),
        "quarantined_by_reason": dict(Counter(category(q["reason"]) for q in quarantine)),
        "failed_requests": dict(failed),
        "failed_summary": failure_summary(failed, len(requests), quarantine_file),
        "build_stats": dict(stats),
        "usage": engine.usage_report(),
        "finished_at": utc_now(),
    }
    report = accumulate_usage(out / "usage_report.json", report)
    raise_if_all_failed(failed, len(requests), quarantine_file)
    return report


RUN_TOTALS = ("requests_sent", "preflight_requests", "retries", "reasks", "prompt_tokens", "completion_tokens")


def accumulate_usage(path: Path, report: dict) -> dict:
    """Write ``report`` as the latest run into ``path``, keeping every earlier run and a running total.

    A rerun into the same folder sends only what was missing, so its own usage is a fraction of
    the job's: what the job cost is the sum over its runs, which overwriting would lose. The
    file's top level stays the latest run's report; ``runs`` lists each run and ``total`` sums them.
    """
    runs: list[dict] = []
    if path.exists():
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            previous = None  # unreadable: start over rather than fail a finished run
        if isinstance(previous, dict):
            # A file from before runs were kept holds one run at its top level.
            runs = previous.get("runs") or ([_run_entry(previous)] if "usage" in previous else [])
    runs = [*runs, _run_entry(report)]
    total: dict[str, Any] = {"runs": len(runs)}
    for name in (*RUN_TOTALS, "cost_usd", "seconds"):
        total[name] = sum((run.get("usage") or {}).get(name, 0) or 0 for run in runs)
    total["cost_usd"] = round(total["cost_usd"], 6)
    total["seconds"] = round(total["seconds"], 3)
    total["records"] = sum(run.get("records", 0) for run in runs)
    report = {**report, "runs": runs, "total": total}
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    return report


def _run_entry(report: dict) -> dict:
    usage = report.get("usage") or {}
    keep = (*RUN_TOTALS, "cache_hits", "cost_usd", "seconds", "stopped_by_budget", "failures", "model")
    return {
        "finished_at": report.get("finished_at") or utc_now(),
        "generator": report.get("generator"),
        "requests": report.get("requests"),
        "records": report.get("records", 0),
        "quarantined": report.get("quarantined", 0),
        "usage": {k: usage[k] for k in keep if k in usage},
    }


def _collect(module: Any, results: list[GenResult]) -> tuple[list[dict], list[dict]]:
    records, quarantine = [], []
    for result in results:
        source = result.request.meta.get("source_ref") or result.request.meta.get("url") or ""
        try:
            # Items are judged one by one: one malformed pair in an answer costs that pair, not the other four.
            kept, rejects = module.split_records(result)
        except ParseError as exc:
            reason = result.error or exc.reason
            quarantine.append(
                _quarantine_row(source, result.request.template, _category(reason), result.text or "", detail=reason)
            )
            continue
        records += kept
        quarantine += [
            _quarantine_row(source, result.request.template, r.category, r.raw, detail=r.reason) for r in rejects
        ]
    return records, quarantine


def _source_file(generator: str, documents: object, code: object, opts: dict[str, Any]) -> str:
    """The input file a generator's requests were built from ('' for the shipped seed tasks)."""
    if generator == "code":
        return str(code or "")
    if generator == "self-instruct":
        return str(opts.get("seed_tasks") or "")
    return str(documents or "")


def _quarantine_row(source: str, template: str, reason: str, raw: str, detail: str | None = None) -> dict:
    return {"source_ref": str(source), "template": template, "reason": reason, "raw": raw, "detail": detail or reason}


def _category(reason: str) -> str:
    """'pairs[2].answer too short (12 < 20 weighted chars)' -> 'pairs[].answer too short': countable."""
    return re.sub(r"\[\d+\]", "[]", re.sub(r"\s*\(.*\)\s*$", "", reason))


def _seeds(opts: dict[str, Any]) -> list[dict]:
    path = opts.get("seed_tasks")
    return self_instruct.load_seed_tasks(path) if path else self_instruct.load_seed_tasks()


def _need(frame: pd.DataFrame | None, flag: str, generator: str) -> pd.DataFrame:
    if frame is None:
        raise DataAgentError(f"generator {generator!r} needs {flag}")
    return frame


def _pick(opts: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: opts[k] for k in names if opts.get(k) is not None}
