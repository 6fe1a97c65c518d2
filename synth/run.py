"""The synth stage as one call: ``run(inputs, out, config) -> summary`` for every backend.

A backend is one way to make InstructionRecords from contract files (``Backend``):

- ``rules``: rule-based records (synth/rules.py), no model, no key (``synth_rules`` below);
- ``openai``: any OpenAI-compatible server through synth/engine.py (``synth.run_llm.synth_llm``);
- ``langchain``: the qa generator's requests through a LangChain chain (``synth.langchain_route.synth_langchain``).

Each checks its settings before anything is written (``check``; the CLI calls it before it claims
``--out``) and writes ``instructions.{jsonl,parquet}`` and a quarantine in the one schema of
validate/quarantine.py: ``instructions.quarantine.*`` (rules, only when any) or
``generation_quarantine.*`` (openai, langchain). The CLI and the demo call only ``run``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from synth.rules import synthesize
from validate.contracts import CodeUnit, Document, InstructionRecord, QAItem, columns
from validate.errors import DataAgentError
from validate.gate import REASONS, split_by_contract
from validate.io import read_records, write_records
from validate.quarantine import write_quarantine

if TYPE_CHECKING:
    from synth.engine import EngineConfig

LLM_GENERATORS = ("qa", "self-instruct", "code")


@dataclass
class SynthInputs:
    """The contract files a synth run reads; any subset, as the backend needs."""

    documents: str | Path | None = None  # Document records
    qa: str | Path | None = None  # QAItem records (rules)
    code: str | Path | None = None  # CodeUnit records


@dataclass
class SynthConfig:
    """How to synthesise: the backend and its settings.

    ``engine`` holds the server settings (URL, model, concurrency, limits, budgets, cache) of the
    ``openai`` backend; ``langchain`` reads its URL, model and concurrency. ``options`` are the
    generator's: n_pairs, focus_topics, min_answer_chars, max_answer_chars, num_requests, k_new,
    seed_tasks (``langchain`` reads n_pairs as pairs per chunk).
    """

    backend: str = "rules"
    generator: str = "qa"  # openai: qa, self-instruct, code or task:<name>
    engine: EngineConfig | None = None
    prices_file: str | Path | None = None  # openai: YAML overlay on the engine's prices
    dry_run: bool = False  # openai: estimate requests, tokens and cost; send nothing
    options: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    """One way to make records: ``check`` refuses bad settings before any file is written, ``run`` writes."""

    name: str

    def check(self, inputs: SynthInputs, config: SynthConfig) -> None: ...

    def run(self, inputs: SynthInputs, out: Path, config: SynthConfig) -> dict: ...


def backend(name: str) -> Backend:
    """The backend called ``name``; a DataAgentError naming the others for an unknown one."""
    if name not in BACKENDS:
        raise DataAgentError(f"unknown synth backend {name!r} (one of {', '.join(BACKENDS)})")
    return BACKENDS[name]


def check(inputs: SynthInputs, config: SynthConfig) -> None:
    """Refuse missing inputs or bad settings in one line, before the output folder is touched."""
    backend(config.backend).check(inputs, config)


def run(inputs: SynthInputs, out: str | Path, config: SynthConfig | None = None) -> dict:
    """Synthesise into ``out`` with ``config.backend``; returns the backend's summary."""
    config = config or SynthConfig()
    chosen = backend(config.backend)
    chosen.check(inputs, config)
    return chosen.run(inputs, Path(out), config)


# --- rules ------------------------------------------------------------------------------------------------------


class RulesBackend:
    name = "rules"

    def check(self, inputs: SynthInputs, config: SynthConfig) -> None:
        if not (inputs.documents or inputs.qa or inputs.code):
            raise DataAgentError("synth needs at least one of --documents, --qa, --code")

    def run(self, inputs: SynthInputs, out: Path, config: SynthConfig) -> dict:
        return synth_rules(out, documents=inputs.documents, qa=inputs.qa, code=inputs.code)


def _read_or_empty(path: str | Path | None, model: type) -> pd.DataFrame:
    if path is None:
        return pd.DataFrame(columns=columns(model))
    return read_records(path, model)


def synth_rules(
    out_dir: str | Path,
    documents: str | Path | None = None,
    qa: str | Path | None = None,
    code: str | Path | None = None,
) -> dict:
    """Rule-based records from whatever inputs are given; rows that break the contract are quarantined."""
    records = synthesize(
        _read_or_empty(documents, Document), _read_or_empty(qa, QAItem), _read_or_empty(code, CodeUnit)
    )
    # The same pair found twice (an FAQ repeated on two pages) keeps its first copy;
    # later copies are quarantined with the reason rather than failing the id contract.
    repeat = records["id"].duplicated(keep="first") if len(records) else pd.Series(dtype=bool)
    accepted, quarantined = split_by_contract(records.loc[~repeat], InstructionRecord)
    repeats = records.loc[repeat].assign(**{REASONS: [["duplicate_id"]] * int(repeat.sum())})
    quarantined = pd.concat([quarantined, repeats], ignore_index=True)
    out = Path(out_dir)
    write_records(accepted, out / "instructions", InstructionRecord)
    if len(quarantined):
        # Each record names the input it was made from by its generator: rule:faq from the QA pairs,
        # rule:section from the documents, the others from the code units.
        origin = {"rule:faq": qa, "rule:section": documents}
        sources = [str(origin.get(g, code) or "") for g in quarantined["generator"]]
        write_quarantine(quarantined.assign(source_file=sources), out / "instructions.quarantine", "synth")
    by_task = accepted["task_type"].value_counts().to_dict() if len(accepted) else {}
    return {
        "made": len(records),
        "kept": len(accepted),
        "quarantined": len(quarantined),
        "by_task_type": by_task,
        "output": str(out / "instructions.parquet"),
    }


# --- openai -----------------------------------------------------------------------------------------------------


class OpenAIBackend:
    name = "openai"

    def check(self, inputs: SynthInputs, config: SynthConfig) -> None:
        check_generator(config.generator, config.options.get("seed_tasks"))
        self.prices(config)

    def prices(self, config: SynthConfig) -> dict[str, tuple[float, float]]:
        """The engine's prices with the prices file laid over them (a bad file is a one-line error)."""
        from synth.engine import DEFAULT_PRICES, load_prices

        table = dict(config.engine.prices) if config.engine else dict(DEFAULT_PRICES)
        return {**table, **(load_prices(config.prices_file) if config.prices_file else {})}

    def run(self, inputs: SynthInputs, out: Path, config: SynthConfig) -> dict:
        from synth.engine import EngineConfig
        from synth.run_llm import synth_llm

        engine = dataclasses.replace(config.engine or EngineConfig(), prices=self.prices(config))
        if engine.cache_path is None:
            # The request cache lives in the output folder: a rerun into it sends only what was missing.
            engine = dataclasses.replace(engine, cache_path=str(out / "synth_cache.sqlite"))
        return synth_llm(
            out,
            config.generator,
            engine,
            documents=inputs.documents,
            code=inputs.code,
            dry_run=config.dry_run,
            **config.options,
        )


def check_generator(generator: str, seed_tasks: str | Path | None) -> None:
    """A DataAgentError (one line, exit 2) for an unknown generator or task, or unusable seed tasks."""
    if generator.startswith("task:"):
        from synth.generators.task_templates import load_template

        load_template(generator.split(":", 1)[1])  # names the task files that exist
    elif generator not in LLM_GENERATORS:
        from synth.generators.task_templates import list_templates

        tasks = ", ".join(f"task:{name}" for name in list_templates())
        raise DataAgentError(f"unknown generator {generator!r}; the generators are: qa, self-instruct, code, {tasks}")
    if seed_tasks is not None:
        if generator != "self-instruct":
            raise DataAgentError("--seed-tasks is for --generator self-instruct")
        from synth.generators.self_instruct import load_seed_tasks

        load_seed_tasks(seed_tasks)


# --- langchain --------------------------------------------------------------------------------------------------


class LangChainBackend:
    name = "langchain"

    def check(self, inputs: SynthInputs, config: SynthConfig) -> None:
        if inputs.documents is None:
            raise DataAgentError("the langchain backend needs --documents")
        if config.engine is not None and len(config.engine.urls()) > 1:
            raise DataAgentError("the langchain backend takes one --base-url; several replicas need --backend openai")

    def run(self, inputs: SynthInputs, out: Path, config: SynthConfig) -> dict:
        from synth.engine import EngineConfig
        from synth.langchain_route import synth_langchain

        engine = config.engine or EngineConfig()
        assert inputs.documents is not None  # check() refused it
        return synth_langchain(
            out,
            inputs.documents,
            engine.base_url,
            engine.model,
            pairs_per_chunk=config.options.get("n_pairs") or 3,
            concurrency=engine.concurrency,
        )


BACKENDS: dict[str, Backend] = {b.name: b for b in (RulesBackend(), OpenAIBackend(), LangChainBackend())}
