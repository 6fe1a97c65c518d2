"""The `dataagent` command: one subcommand per stage, plus `demo`.

Every subcommand reads and writes contract files, so stages can be run one at a
time, rerun, or replaced by other tools that speak the same JSONL/Parquet.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dataagent.boundary import EXIT_VERDICT_FAIL, EXIT_VERDICT_INCONCLUSIVE, run_guarded
from train.config import METHODS, PRECISIONS, QUANTS, TEMPLATES, AdapterSettings, TrainConfig, VerdictThresholds
from validate.errors import DataAgentError, StageFailed
from validate.outdir import owned_output
from validate.progress import ENV as PROGRESS_ENV

app = typer.Typer(
    help="Turn websites and code repositories into validated instruction datasets.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


Force = Annotated[
    bool,
    typer.Option("--force", help="Write into a non-empty --out that DataAgent did not create (nothing is deleted)."),
]


class OneOf:
    """An option's parser for a closed set of values, with the metavar that lists them in --help.

    Typer's own choice types (Enum, Literal) answer a bad value with a multi-line usage box; this
    raises the DataAgentError that the error boundary prints as one line with exit status 2.
    """

    def __init__(self, option: str, values: tuple[str, ...]) -> None:
        self.option = option
        self.values = values
        self.metavar = "<" + "|".join(values) + ">"

    def __call__(self, value: str) -> str:
        if value not in self.values:
            raise DataAgentError(f"{self.option} must be one of {', '.join(self.values)}, got {value!r}")
        return value

    def typer_option(self, help: str, panel: str | None = None) -> Any:  # noqa: A002 - typer's name
        """The typer.Option that parses with this and lists the values in --help."""
        return typer.Option(parser=self, metavar=self.metavar, rich_help_panel=panel, help=help)


BACKEND = OneOf("--backend", ("rules", "openai", "langchain"))
METHOD = OneOf("--method", METHODS)
QUANT = OneOf("--quant", QUANTS)
TEMPLATE = OneOf("--template", TEMPLATES)
PRECISION = OneOf("--precision", PRECISIONS)


def _help(config: type, name: str) -> str:
    """A setting's help text, written once on its config dataclass field (peft's pattern: field metadata)."""
    return {f.name: f for f in dataclasses.fields(config)}[name].metadata["help"]


def _setting(config: type, name: str, panel: str | None = None, *decls: str, **kwargs: Any) -> Any:
    """The typer.Option for one config field: its words come from the field; its default is the field's,
    written as `= Config.field` in the signature (tests/test_config_home.py checks both)."""
    return typer.Option(*decls, rich_help_panel=panel, help=_help(config, name), **kwargs)


# One meaning in every subcommand: the licence of the records the command writes.
LICENSE_HELP = "Licence of the records this command writes: an id such as cc-by-4.0"

# The train options in the panels `train --help` shows them under.
DATA_PANEL, ADAPTER_PANEL, RUN_PANEL, TINY_PANEL, VERDICT_PANEL = (
    "Data and model",
    "Adapter",
    "Run",
    "Tiny base (no --model)",
    "Verdict",
)


def _print(obj: object) -> None:
    typer.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=str))


def _warn(line: str) -> None:
    """A partial failure: the run goes on and exits 0, but the user is told what failed and where it is."""
    typer.echo(f"warning: {line}", err=True)


def _top(counts: dict[str, int], n: int = 3) -> str:
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    text = ", ".join(f"{k}: {v}" for k, v in items[:n])
    return text + (f", {len(items) - n} more" if len(items) > n else "")


@app.command()
def crawl(
    target: Annotated[str, typer.Argument(help="A recipe (.yaml, see crawlers/recipes/) or a start URL.")],
    out: Annotated[Path, typer.Option(help="Folder for documents.*, qa.* and crawl_stats.json.")] = Path("out/crawl"),
    source: Annotated[str, typer.Option(help="Name stored in every record's `source`.")] = "",
    license: Annotated[  # noqa: A002 - the records' field name
        str, typer.Option(help=f"{LICENSE_HELP}, or the site's terms note; copied into every record.")
    ] = "",
    max_pages: Annotated[int, typer.Option(help="Stop after this many pages (0 = no limit).")] = 0,
    force: Force = False,
) -> None:
    """Crawl a site with Scrapy into Document and QAItem records (JSONL + Parquet).

    Runs `scrapy crawl site` with the polite defaults (robots.txt, Crawl-delay, AutoThrottle,
    HTTP cache); see docs/CRAWLING.md for the recipe format. Exits 2 when no page could be kept.
    """
    from crawlers.run import CrawlConfig, run

    if target.endswith((".yaml", ".yml")):
        from crawlers.recipe import load_recipe

        load_recipe(target)  # fail here, in one line, before a crawler process starts
    # The HTTP cache is kept across reruns into the same folder: that is what makes a re-crawl reproducible.
    with owned_output(out, force=force, keep=("httpcache",)) as folder:
        summary = run(target, folder, CrawlConfig(source=source, license=license, max_pages=max_pages))
    # Scrapy's raw counters (a hundred of them) stay in crawl_stats.json; stdout gets what a user reads.
    pages = summary.get("stats", {}).get("dataagent/pages", 0)
    shown = {k: v for k, v in summary.items() if k != "stats"}
    _print({"pages": pages, **shown, "stats": str(out / "crawl_stats.json")})
    failed = {
        k.removeprefix("fetch_error/"): v for k, v in summary.get("dropped", {}).items() if k.startswith("fetch_error/")
    }
    if failed:
        _warn(f"{sum(failed.values())} page(s) could not be fetched ({_top(failed)}); see {out / 'crawl.log'}")
    for name in ("documents", "qa"):
        if summary.get(name, {}).get("quarantined"):
            _warn(f"{summary[name]['quarantined']} {name} record(s) quarantined; see {out / name}.quarantine.jsonl")


@app.command("extract-code")
def extract_code(
    repos: Annotated[list[str], typer.Argument(help="Git URLs (shallow-cloned) or local checkouts.")],
    out: Annotated[Path, typer.Option(help="Folder for code_units.{jsonl,parquet} and code_stats.json.")] = Path(
        "out/code"
    ),
    # Written out rather than read from CodeConfig/FilterConfig: importing tree-sitter would slow every
    # `dataagent --help`; tests/test_config_home.py holds these to the config fields' defaults and help.
    workers: Annotated[int, typer.Option(help="Parser processes (0 = one per core).")] = 0,
    license_allow: Annotated[
        str, typer.Option(help="Comma-separated SPDX ids; repos with another licence are skipped.")
    ] = "",
    min_doc_words: Annotated[int, typer.Option(help="Words the doc's first line needs (0 keeps undocumented).")] = 3,
    min_body_lines: Annotated[int, typer.Option(help="Lines a unit needs.")] = 3,
    drop_tests: Annotated[
        bool, typer.Option("--drop-tests/--keep-tests", help="Drop test functions and test paths, or keep them.")
    ] = True,
    drop_boilerplate: Annotated[
        bool,
        typer.Option(
            "--drop-boilerplate/--keep-boilerplate",
            help="Drop constructors, __repr__/toString, accessors, or keep them.",
        ),
    ] = True,
    dedup: Annotated[
        str,
        typer.Option(
            help="Exact copies dropped: 'repos' (a unit an earlier repository already gave: forks, vendored "
            "copies), 'all' (copies inside a repository too) or 'none'."
        ),
    ] = "repos",
    force: Force = False,
) -> None:
    """Extract functions, methods and classes with their docs as CodeUnit records (tree-sitter).

    Honours .gitignore (only tracked files are read), skips vendored, generated, minified,
    binary, huge files, symlinks and submodules with a counted reason, and applies
    CodeSearchNet-style filters; every skip is counted in code_stats.json. Exits 2 when no
    repository could be read.
    """
    from crawlers.code.filters import FilterConfig
    from crawlers.code.run import CodeConfig, check, run

    cfg = CodeConfig(
        filters=FilterConfig(
            min_doc_words=min_doc_words,
            min_body_lines=min_body_lines,
            drop_tests=drop_tests,
            drop_boilerplate=drop_boilerplate,
            dedup=dedup,
        ),
        workers=workers,
        license_allow=[x.strip() for x in license_allow.split(",") if x.strip()],
    )
    check(cfg)  # a bad --dedup fails in one line before --out is touched
    with owned_output(out, force=force) as folder:
        summary = run(repos, folder, cfg)
    failures, file_errors = summary["failures"], summary["file_errors"]
    _print(summary)
    if failures:
        _warn(
            f"{len(failures)} of {len(repos)} repositories could not be read (first: {failures[0]}); "
            f"see {out / 'code_stats.json'}"
        )
    if file_errors:
        errors = {k.removeprefix("errors/"): v for k, v in summary.items() if k.startswith("errors/")}
        _warn(
            f"{len(file_errors)} file(s) could not be extracted ({_top(errors) or 'unreadable'}); "
            f"see file_errors in {out / 'code_stats.json'}"
        )
    if summary["quarantined"]:
        _warn(
            f"{summary['quarantined']} code unit(s) broke the CodeUnit contract and were quarantined; "
            f"see {out / 'code_units.quarantine.jsonl'}"
        )


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Folder for instructions.*, quarantines and usage_report.json.")] = Path(
        "out/synth"
    ),
    documents: Annotated[Path | None, typer.Option(help="Document records (.jsonl/.parquet).")] = None,
    qa: Annotated[Path | None, typer.Option(help="QAItem records (rules backend).")] = None,
    code: Annotated[Path | None, typer.Option(help="CodeUnit records (.jsonl/.parquet).")] = None,
    backend: Annotated[
        str,
        BACKEND.typer_option(
            "rules: no key; openai: any OpenAI-compatible server; langchain: LangChain's QA generation."
        ),
    ] = "rules",
    generator: Annotated[str, typer.Option(help="openai backend: qa, self-instruct, code, or task:<name>.")] = "qa",
    # The engine's settings are written out rather than read from EngineConfig (importing openai would slow every
    # `dataagent --help`); tests/test_config_home.py holds them to the config fields' defaults and help.
    model: Annotated[str, typer.Option(envvar="DATAAGENT_MODEL", help="Model name on the server.")] = "gpt-4o-mini",
    base_url: Annotated[
        list[str] | None,
        typer.Option(
            envvar="OPENAI_BASE_URL",
            help="Server URL, e.g. http://localhost:8000/v1; repeat it for several replicas of one model "
            "(requests go to the least-loaded healthy one).",
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Requests in flight at once.")] = 16,
    rpm: Annotated[int | None, typer.Option(help="Requests per minute limit.")] = None,
    tpm: Annotated[int | None, typer.Option(help="Tokens per minute limit.")] = None,
    budget_tokens: Annotated[int | None, typer.Option(help="Stop cleanly after this many tokens.")] = None,
    budget_usd: Annotated[float | None, typer.Option(help="Stop cleanly after this much money.")] = None,
    prices: Annotated[Path | None, typer.Option(help="YAML {model: \\[usd_per_1M_in, usd_per_1M_out]}.")] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="SQLite request cache; reruns send only what is missing. Default: <out>/synth_cache.sqlite."),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Estimate requests, tokens and cost; send nothing.")] = False,
    pairs: Annotated[int, typer.Option(help="qa: pairs per chunk.")] = 3,
    focus: Annotated[str, typer.Option(help="qa: comma-separated focus topics.")] = "",
    min_answer_chars: Annotated[int, typer.Option(help="qa: shortest answer (a Han character counts 3).")] = 20,
    max_answer_chars: Annotated[int, typer.Option(help="qa: longest answer.")] = 1500,
    n_requests: Annotated[
        int, typer.Option(min=1, help="self-instruct: requests to send, each asking for --k-new new tasks.")
    ] = 1,
    k_new: Annotated[int, typer.Option(min=1, help="self-instruct: new tasks asked for per request.")] = 8,
    seed_tasks: Annotated[
        Path | None,
        typer.Option(
            help="self-instruct: seed task YAML (see synth/tasks/seed_tasks.yaml). Default: the shipped seeds."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=0.1, help="openai backend: seconds to wait for one answer before retrying.")
    ] = 60.0,
    force: Force = False,
) -> None:
    """Make InstructionRecords: rule-based (no key), through an LLM server, or with LangChain.

    The API key is read from OPENAI_API_KEY only and is never written anywhere. Exits 2 when
    every request failed, or when the first requests all fail the same way (a wrong URL, key or model).
    """
    from synth.run import SynthConfig, SynthInputs, check, run

    inputs = SynthInputs(documents=documents, qa=qa, code=code)
    config = SynthConfig(
        backend=backend,
        generator=generator,
        prices_file=prices,
        dry_run=dry_run,
        options={
            "n_pairs": pairs,
            "focus_topics": [t.strip() for t in focus.split(",") if t.strip()] or None,
            "min_answer_chars": min_answer_chars,
            "max_answer_chars": max_answer_chars,
            "num_requests": n_requests,
            "k_new": k_new,
            "seed_tasks": seed_tasks,
        },
    )
    if backend != "rules":
        from synth.engine import EngineConfig

        config.engine = EngineConfig(
            base_url=base_url[0] if base_url and len(base_url) == 1 else base_url or None,
            model=model,
            concurrency=concurrency,
            rpm=rpm,
            tpm=tpm,
            cache_path=str(cache) if cache else None,  # None: <out>/synth_cache.sqlite
            budget_tokens=budget_tokens,
            budget_usd=budget_usd,
            timeout=timeout,
        )
    # Settings are checked before the output folder is touched, so a typo costs nothing.
    check(inputs, config)
    # The request cache survives a rerun into the same folder: that is what makes the rerun free.
    with owned_output(out, force=force, keep=("synth_cache.sqlite",)) as folder:
        summary = run(inputs, folder, config)
    _print(summary)
    if summary.get("failed_summary"):
        _warn(summary["failed_summary"])
    elif backend == "rules" and summary.get("quarantined"):
        _warn(f"{summary['quarantined']} record(s) quarantined; see {out / 'instructions.quarantine.jsonl'}")


RAY_OPTION = typer.Option(
    "--ray",
    metavar="ADDRESS",
    help="Run on Ray: local (start one here), auto (the cluster `ray start` runs here) or host:port; the input may "
    "be a folder of shards, and the output is written as shards (docs/SCALEOUT.md).",
)


@app.command()
def validate(
    records: Annotated[
        str,
        typer.Argument(
            help="InstructionRecord file (.jsonl/.parquet), or a dataset to import: Alpaca/ShareGPT/OpenAI chat "
            "(.json array, .jsonl, .parquet), a Hugging Face dataset folder, or a hub id.",
            metavar="FILE_OR_DATASET",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Folder for accepted.*, quarantine.*, reports.")] = Path("out/gate"),
    config: Annotated[Path | None, typer.Option(help="YAML overlay on validate/gate_defaults.yaml.")] = None,
    # Written out rather than read from ValidateConfig (pandas at import would slow every `dataagent --help`);
    # tests/test_config_home.py holds them to the config fields' defaults and help.
    strict: Annotated[bool, typer.Option(help="Fail when a check's failure rate is over its limit.")] = False,
    eval_set: Annotated[
        list[Path] | None, typer.Option(help="Eval set (JSONL/Parquet/CSV) to decontaminate against; repeatable.")
    ] = None,
    decontam_ngram: Annotated[
        int,
        typer.Option(
            min=1,
            help="Decontamination window: a record sharing this many consecutive words (Han characters in "
            "Chinese) with an eval set is dropped.",
        ),
    ] = 13,
    near_dup_threshold: Annotated[float, typer.Option(help="MinHash Jaccard for near-duplicates (1 = off).")] = 0.85,
    on_bad_line: Annotated[
        str,
        typer.Option(help="A JSONL line that is not a readable record: quarantine it with its line number, or error."),
    ] = "quarantine",
    format: Annotated[  # noqa: A002 - the option's name
        str,
        typer.Option(
            "--format",
            help="auto (sniff the columns) | records (our contract) | alpaca | sharegpt | openai | hf "
            "(a dataset folder or hub id, rows sniffed).",
        ),
    ] = "auto",
    map_: Annotated[
        str | None,
        typer.Option("--map", help="Rename source columns to our fields, e.g. instruction=question,output=answer."),
    ] = None,
    split: Annotated[
        str | None, typer.Option(help="Split of a Hugging Face dataset (default: train, or the only split).")
    ] = None,
    language: Annotated[
        str, typer.Option(help="Imported rows: auto (detect per row) or a tag to force, e.g. zh-Hant.")
    ] = "auto",
    ray: Annotated[str | None, RAY_OPTION] = None,
    force: Force = False,
) -> None:
    """Run the quality gate: checks, near-dup and decontamination; every rejected row goes to quarantine
    with all its reasons, and quality_report.html shows what happened. Exits 2 when no record is accepted.

    A dataset in another format is imported first (content-hash ids, provenance filled in, see
    validate/importers.py) into imported.jsonl; rows that cannot be converted go to import_quarantine.jsonl."""
    from validate import importers
    from validate.quality import GateConfig
    from validate.run import ValidateConfig, run

    cfg = GateConfig.from_yaml(config)
    if not 0 < near_dup_threshold <= 1:
        raise DataAgentError(f"--near-dup-threshold must be in (0, 1], got {near_dup_threshold}")
    for path in eval_set or []:
        if not path.is_file():
            raise DataAgentError("no such eval set file", path)
    if on_bad_line not in ("quarantine", "error"):
        raise DataAgentError(f"--on-bad-line must be quarantine or error, got {on_bad_line!r}")
    importers.check_format(format)
    mapping = importers.parse_map(map_)
    forced_language = importers.check_language(language)
    threshold = None if near_dup_threshold >= 1 else near_dup_threshold
    settings = ValidateConfig(
        gate=cfg,
        near_dup_threshold=threshold,
        eval_sets=eval_set,
        decontam_ngram=decontam_ngram,
        strict=strict,
        on_bad_line=on_bad_line,
    )
    if ray is not None:  # the same gate on a Ray cluster (docs/SCALEOUT.md): record files or a folder of shards
        _validate_on_ray(records, out, settings, ray, force)
        return
    if importers.reads_as_records(records, format, mapping):
        with owned_output(out, force=force) as folder:
            report = run(records, folder, settings)
        _print(report)
        _gate_verdict(report, out)
        return
    # Read and convert before the output folder is touched, so a wrong --map or format costs nothing.
    imported = importers.import_dataset(records, format, mapping, split, forced_language, on_bad_line)
    with owned_output(out, force=force) as folder:
        result = run(imported, folder, settings)
    summary = result["import"]
    report = result if "accepted" in result else None
    _print(result)
    rejected = ""
    if summary["rejected"]:
        rejected = (
            f"{summary['rejected']} of {summary['source_rows']} source rows rejected by the import "
            f"({_top(summary['rejected_by_reason'])}; see {out / 'import_quarantine.jsonl'})"
        )
    if report is None or not report["accepted"]:
        gate_part = (
            ""
            if report is None
            else f"every one of {report['input']} imported records was quarantined by the gate "
            f"({_top(report.get('failures_by_check', {}))}; see {out / 'quarantine.jsonl'})"
        )
        raise StageFailed("no record accepted: " + "; ".join(x for x in (rejected, gate_part) if x))
    if rejected or report["quarantined"]:
        gated = (
            f"{report['quarantined']} of {report['input']} imported records quarantined by the gate "
            f"({_top(report.get('failures_by_check', {}))}; see {out / 'quarantine.jsonl'})"
            if report["quarantined"]
            else f"all {report['input']} imported records passed the gate"
        )
        _warn("; ".join(x for x in (rejected, gated) if x))


def _validate_on_ray(records: str, out: Path, settings: Any, address: str, force: bool) -> None:
    from validate.raygate import gate_ray

    with owned_output(out, force=force) as folder:
        report = gate_ray(
            records,
            folder,
            settings.gate,
            near_dup_threshold=settings.near_dup_threshold,
            eval_sets=settings.eval_sets,
            decontam_ngram=settings.decontam_ngram,
            strict=settings.strict,
            on_bad_line=settings.on_bad_line,
            address=address,
        )
    _print(report)
    _gate_verdict(report, out)


def _gate_verdict(report: dict, out: Path) -> None:
    """Exit 2 when nothing was accepted; a warning line when anything was quarantined."""
    where_ = out / "quarantine.jsonl"
    if report["input"] and not report["accepted"]:
        raise StageFailed(
            f"every one of {report['input']} records was quarantined "
            f"({_top(report.get('failures_by_check', {}))}); see {where_}"
        )
    if report["quarantined"]:
        _warn(
            f"{report['quarantined']} of {report['input']} records quarantined "
            f"({_top(report.get('failures_by_check', {}))}); see {where_}"
        )


@app.command()
def publish(
    records: Annotated[Path, typer.Argument(help="Accepted InstructionRecord file.")],
    out: Annotated[Path, typer.Option(help="Folder in Hub layout (data/*.parquet + README.md).")] = Path("out/dataset"),
    name: Annotated[str, typer.Option(help="pretty_name on the dataset card.")] = "DataAgent dataset",
    license: Annotated[str, typer.Option(help=f"{LICENSE_HELP}; on the dataset card.")] = "cc-by-4.0",  # noqa: A002
    gate_report: Annotated[Path | None, typer.Option(help="gate_report.json to summarise on the card.")] = None,
    documents: Annotated[Path | None, typer.Option(help="Document records, for crawl dates in provenance.")] = None,
    repo_id: Annotated[str | None, typer.Option(help="Push to this Hub dataset repo (token from HF_TOKEN).")] = None,
    private: Annotated[bool, typer.Option(help="Create the Hub repo private.")] = False,
    version: Annotated[str | None, typer.Option(help="Tag for this publish (default: next vN).")] = None,
    split_by: Annotated[
        str,
        typer.Option(
            help="source: hold out whole sources by a hash of source_ref | keep: each record's own 'split' field."
        ),
    ] = "source",
    test_records: Annotated[
        Path | None, typer.Option(help="Held-out InstructionRecord file published as 'test'; the input is all train.")
    ] = None,
    ray: Annotated[str | None, RAY_OPTION] = None,
    force: Force = False,
) -> None:
    """Write the dataset in the layout `datasets.push_to_hub` produces, with a dataset card and
    Alpaca/ShareGPT/LLaMA-Factory exports; with --repo-id, push it in one commit and tag the version."""
    from validate.run import publish_file

    for label, path in (("--gate-report", gate_report), ("--documents", documents), ("--test-records", test_records)):
        if path is not None and not path.is_file():
            raise DataAgentError(f"{label}: no such file", path)
    if ray is not None:  # shards and exports written by the cluster's workers (validate/raypublish.py)
        from validate.raypublish import publish_ray

        if test_records or split_by != "source":
            raise DataAgentError("--ray publishes split by source; use --test-records or --split-by keep without --ray")
        with owned_output(out, force=force) as folder:
            summary = publish_ray(
                records,
                folder,
                pretty_name=name,
                license=license,
                gate_report=gate_report,
                address=ray,
                repo_id=repo_id,
                private=private,
                version=version,
            )
        _print(summary)
        return
    with owned_output(out, force=force) as folder:
        result = publish_file(
            records,
            folder,
            pretty_name=name,
            license=license,
            gate_report=gate_report,
            documents=documents,
            repo_id=repo_id,
            private=private,
            version=version,
            split_by=split_by,
            test_records=test_records,
        )
    _print(result)


@app.command()
def train(
    dataset: Annotated[str, _setting(TrainConfig, "dataset", DATA_PANEL)],
    model: Annotated[str | None, _setting(TrainConfig, "model", DATA_PANEL)] = TrainConfig.model,
    out: Annotated[Path, _setting(TrainConfig, "out_dir", DATA_PANEL)] = Path("out/train"),
    method: Annotated[str | None, METHOD.typer_option(_help(AdapterSettings, "method"), ADAPTER_PANEL)] = (
        AdapterSettings.method
    ),
    quant: Annotated[str, QUANT.typer_option(_help(TrainConfig, "quant"), ADAPTER_PANEL)] = TrainConfig.quant,
    template: Annotated[str, TEMPLATE.typer_option(_help(TrainConfig, "template"), DATA_PANEL)] = (
        TrainConfig.template
    ),
    token_budget: Annotated[int | None, _setting(TrainConfig, "token_budget", RUN_PANEL)] = TrainConfig.token_budget,
    lr: Annotated[float | None, _setting(TrainConfig, "lr", RUN_PANEL)] = TrainConfig.lr,
    r: Annotated[int, _setting(AdapterSettings, "r", ADAPTER_PANEL)] = AdapterSettings.r,
    alpha: Annotated[int, _setting(AdapterSettings, "alpha", ADAPTER_PANEL)] = AdapterSettings.alpha,
    dropout: Annotated[float, _setting(AdapterSettings, "dropout", ADAPTER_PANEL)] = AdapterSettings.dropout,
    target_modules: Annotated[str | None, _setting(AdapterSettings, "target_modules", ADAPTER_PANEL)] = (
        AdapterSettings.target_modules
    ),
    virtual_tokens: Annotated[int, _setting(AdapterSettings, "num_virtual_tokens", ADAPTER_PANEL)] = (
        AdapterSettings.num_virtual_tokens
    ),
    precision: Annotated[str, PRECISION.typer_option(_help(TrainConfig, "precision"), RUN_PANEL)] = (
        TrainConfig.precision
    ),
    device: Annotated[str, _setting(TrainConfig, "device", RUN_PANEL)] = TrainConfig.device,
    batch_size: Annotated[int, _setting(TrainConfig, "batch_size", RUN_PANEL)] = TrainConfig.batch_size,
    max_len: Annotated[int, _setting(TrainConfig, "max_len", DATA_PANEL)] = TrainConfig.max_len,
    seed: Annotated[int, _setting(TrainConfig, "seed", RUN_PANEL)] = TrainConfig.seed,
    control: Annotated[bool, _setting(TrainConfig, "control", VERDICT_PANEL)] = TrainConfig.control,
    card: Annotated[bool, _setting(TrainConfig, "card", VERDICT_PANEL)] = TrainConfig.card,
    gradient_checkpointing: Annotated[bool, _setting(TrainConfig, "gradient_checkpointing", RUN_PANEL)] = (
        TrainConfig.gradient_checkpointing
    ),
    documents: Annotated[Path | None, _setting(TrainConfig, "documents", TINY_PANEL)] = TrainConfig.documents,
    pretrain_steps: Annotated[int, _setting(TrainConfig, "pretrain_steps", TINY_PANEL)] = TrainConfig.pretrain_steps,
    min_effect: Annotated[float, _setting(VerdictThresholds, "min_effect", VERDICT_PANEL)] = (
        VerdictThresholds.min_effect
    ),
    gain_tokens: Annotated[int, _setting(VerdictThresholds, "gain_tokens", VERDICT_PANEL)] = (
        VerdictThresholds.gain_tokens
    ),
    min_loss_drop: Annotated[float | None, _setting(VerdictThresholds, "min_relative_loss_drop", VERDICT_PANEL)] = (
        VerdictThresholds.min_relative_loss_drop
    ),
    confidence: Annotated[float, _setting(VerdictThresholds, "confidence", VERDICT_PANEL)] = (
        VerdictThresholds.confidence
    ),
    force: Force = False,
) -> None:
    """Train an adapter on the published set and judge it: held-out loss, pairing gain vs a shuffled control.

    Data-parallel under torchrun / accelerate launch (docs/SCALEOUT.md): --batch-size is the global batch.
    """
    from contextlib import nullcontext

    from train.distributed import launched_rank
    from train.smoke import smoke_train

    # Launched on several processes, rank 0 alone claims --out, writes into it and prints; every rank runs.
    main_rank = launched_rank() == 0

    cfg = TrainConfig(
        dataset=dataset,
        out_dir=str(out),
        model=model,
        documents=str(documents) if documents else None,
        template=template,
        adapter=AdapterSettings(
            method=method,
            r=r,
            alpha=alpha,
            dropout=dropout,
            target_modules=[m.strip() for m in target_modules.split(",") if m.strip()] if target_modules else None,
            num_virtual_tokens=virtual_tokens,
        ),
        quant=quant,
        precision=precision,
        device=device,
        token_budget=token_budget,
        lr=lr,
        batch_size=batch_size,
        max_len=max_len,
        seed=seed,
        control=control,
        card=card,
        gradient_checkpointing=gradient_checkpointing,
        pretrain_steps=pretrain_steps,
        thresholds=VerdictThresholds(
            gain_tokens=gain_tokens,
            min_effect=min_effect,
            min_relative_loss_drop=min_loss_drop,
            confidence=confidence,
        ),
    )
    if model is None and documents is None and main_rank:
        typer.echo(
            "note: no --model and no --documents: the tiny base gets no pretraining, so LoRA has little to adapt",
            err=True,
        )
    if documents is not None and main_rank and not documents.exists():  # only the main process reads it
        raise DataAgentError("--documents: no such file or folder", documents)
    with owned_output(out, force=force) if main_rank else nullcontext(out):
        report = smoke_train(cfg)
    if main_rank:
        shown = ("verdict", "heldout_response_loss_before", "heldout_response_loss_after", "adapter")
        _print({k: report[k] for k in shown})
    verdict = report["verdict"]
    # Only rank 0 exits with the verdict's status: a launcher stops the other ranks when one exits non-zero,
    # and rank 0 writes --out's manifest after the last barrier.
    if verdict["verdict"] in ("fail", "inconclusive") and main_rank:
        advice = f"; {verdict['advice']}" if verdict.get("advice") else ""
        where_ = out / "train_report.json"
        typer.echo(f"verdict: {verdict['verdict']} ({verdict['reason']}){advice}; see {where_}", err=True)
        sys.exit(EXIT_VERDICT_FAIL if verdict["verdict"] == "fail" else EXIT_VERDICT_INCONCLUSIVE)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for every stage's output.")] = Path("out/demo"),
    force: Force = False,
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Run nothing: serve the bundled sample site on 127.0.0.1 until Ctrl-C and print the "
            "`scrapy crawl` commands (and a filled-in recipe) to try it with.",
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="Port for --serve (0 = any free port).")] = 0,
) -> None:
    """Run the whole pipeline offline on the bundled sample site and repository."""
    if serve:
        from dataagent.serve import serve_sample_site

        serve_sample_site(port)
        return
    from dataagent.demo import run_demo

    run_demo(out, force=force)


def package_version() -> str:
    """The installed distribution's version; a source checkout that was never installed has only the module's."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dataagent")
    except PackageNotFoundError:
        from dataagent import __version__

        return __version__


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"dataagent {package_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Print the traceback of an error (or DATAAGENT_DEBUG=1).")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="No progress bars (for CI logs); same as DATAAGENT_PROGRESS=0. Bars are on when stderr is a terminal.",
        ),
    ] = False,
) -> None:
    """Turn websites and code repositories into validated instruction datasets.

    Exit status: 0 done (partial failures are listed on stderr as `warning:` lines), 1 the usefulness
    verdict failed, 2 an error (one `error:` line on stderr), 3 a bug in DataAgent.
    """
    # --debug is taken out of argv by the error boundary before Typer parses it; it is declared
    # here so that `--help` lists it.
    if quiet:
        # Through the environment, so the crawl's child process and every stage see the same switch.
        os.environ[PROGRESS_ENV] = "0"


def main() -> None:
    # bitsandbytes warns on import, on CPUs with AVX512-BF16, that it cannot download an optional
    # kernel (never possible offline); its built-in fallback is what we test, so the line is noise.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    run_guarded(app)


if __name__ == "__main__":
    main()
