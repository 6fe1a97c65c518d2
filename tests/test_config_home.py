"""Every setting has one home: its config dataclass field carries the default and the help text, and the
CLI option shows exactly those (a default typed twice drifts; this catches it)."""

from __future__ import annotations

import dataclasses

import pytest
import typer

from crawlers.code.filters import FilterConfig
from crawlers.code.run import CodeConfig
from dataagent.cli import app
from synth.engine import EngineConfig
from train.config import AdapterSettings, TrainConfig, VerdictThresholds
from validate.run import ValidateConfig

# option name -> (config class, field) for each command whose settings live in a dataclass.
COMMANDS = {
    "train": {
        "dataset": (TrainConfig, "dataset"),
        "model": (TrainConfig, "model"),
        "out": (TrainConfig, "out_dir"),
        "documents": (TrainConfig, "documents"),
        "template": (TrainConfig, "template"),
        "quant": (TrainConfig, "quant"),
        "precision": (TrainConfig, "precision"),
        "device": (TrainConfig, "device"),
        "token_budget": (TrainConfig, "token_budget"),
        "lr": (TrainConfig, "lr"),
        "batch_size": (TrainConfig, "batch_size"),
        "max_len": (TrainConfig, "max_len"),
        "gradient_checkpointing": (TrainConfig, "gradient_checkpointing"),
        "seed": (TrainConfig, "seed"),
        "control": (TrainConfig, "control"),
        "card": (TrainConfig, "card"),
        "pretrain_steps": (TrainConfig, "pretrain_steps"),
        "method": (AdapterSettings, "method"),
        "r": (AdapterSettings, "r"),
        "alpha": (AdapterSettings, "alpha"),
        "dropout": (AdapterSettings, "dropout"),
        "target_modules": (AdapterSettings, "target_modules"),
        "virtual_tokens": (AdapterSettings, "num_virtual_tokens"),
        "min_effect": (VerdictThresholds, "min_effect"),
        "gain_tokens": (VerdictThresholds, "gain_tokens"),
        "min_loss_drop": (VerdictThresholds, "min_relative_loss_drop"),
        "confidence": (VerdictThresholds, "confidence"),
    },
    "extract-code": {
        "workers": (CodeConfig, "workers"),
        "license_allow": (CodeConfig, "license_allow"),
        "min_doc_words": (FilterConfig, "min_doc_words"),
        "min_body_lines": (FilterConfig, "min_body_lines"),
        "drop_tests": (FilterConfig, "drop_tests"),
        "drop_boilerplate": (FilterConfig, "drop_boilerplate"),
        "dedup": (FilterConfig, "dedup"),
    },
    "synth": {
        "model": (EngineConfig, "model"),
        "base_url": (EngineConfig, "base_url"),
        "concurrency": (EngineConfig, "concurrency"),
        "rpm": (EngineConfig, "rpm"),
        "tpm": (EngineConfig, "tpm"),
        "budget_tokens": (EngineConfig, "budget_tokens"),
        "budget_usd": (EngineConfig, "budget_usd"),
        "timeout": (EngineConfig, "timeout"),
    },
    "validate": {
        "near_dup_threshold": (ValidateConfig, "near_dup_threshold"),
        "eval_set": (ValidateConfig, "eval_sets"),
        "decontam_ngram": (ValidateConfig, "decontam_ngram"),
        "strict": (ValidateConfig, "strict"),
        "on_bad_line": (ValidateConfig, "on_bad_line"),
    },
}
# Paths the CLI defaults for the user's convenience; the library takes them as required arguments.
CLI_ONLY_DEFAULTS = {("train", "out")}


def _params(command: str) -> dict:
    group = typer.main.get_command(app)
    return {p.name: p for p in group.commands[command].params}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_cli_options_show_the_config_fields_default_and_help(command):
    params = _params(command)
    for option, (config, name) in COMMANDS[command].items():
        f = {f.name: f for f in dataclasses.fields(config)}[name]
        assert params[option].help == f.metadata["help"], f"--{option}: help differs from {config.__name__}.{name}"
        if (command, option) in CLI_ONLY_DEFAULTS or f.default is dataclasses.MISSING:
            continue
        assert params[option].default == f.default, f"--{option}: default differs from {config.__name__}.{name}"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_documented_setting_is_on_the_cli(command):
    """A field with help text is a user setting: it must have its option (the reverse of the test above)."""
    mapped = set(COMMANDS[command].values())
    for config in {c for c, _ in COMMANDS[command].values()}:
        for f in dataclasses.fields(config):
            if "help" in f.metadata:
                assert (config, f.name) in mapped, f"{config.__name__}.{f.name} has help text but no --option"


def test_crawl_thresholds_are_scrapy_settings_a_recipe_sets_and_s_overrides(sample_site, tmp_path):
    """min_chars without a recipe (-s DATAAGENT_MIN_CHARS), and -s above a recipe's own value."""
    from crawlers.run import crawl_site

    base = {"AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 8}
    plain = crawl_site(f"{sample_site.base_url}/", tmp_path / "plain", settings=base)
    strict = crawl_site(f"{sample_site.base_url}/", tmp_path / "strict", settings={**base, "DATAAGENT_MIN_CHARS": 1500})
    assert strict["dropped"].get("too_short", 0) > plain["dropped"].get("too_short", 0)
    assert strict["documents"]["kept"] < plain["documents"]["kept"]
    recipe = tmp_path / "r.yaml"
    recipe.write_text(f"name: r\nstart_urls: ['{sample_site.base_url}/']\nmin_chars: 1500\n", encoding="utf-8")
    overridden = crawl_site(str(recipe), tmp_path / "over", settings={**base, "DATAAGENT_MIN_CHARS": 200})
    assert overridden["dropped"].get("too_short", 0) == plain["dropped"].get("too_short", 0)
