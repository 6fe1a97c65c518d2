"""The offline end-to-end demo: every stage real, on the bundled samples, in a few minutes."""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from crawlers.code.run import CodeConfig
from crawlers.code.run import run as extract
from crawlers.run import run as crawl_run
from dataagent.samples import SITE_DIR, make_sample_repo
from dataagent.serve import sample_recipe
from dataagent.site_server import SiteServer
from synth.run import SynthConfig, SynthInputs
from synth.run import run as synthesize
from train.config import TrainConfig
from train.smoke import load_published, smoke_train
from validate.outdir import owned_output
from validate.run import publish_file
from validate.run import run as validate


def run_demo(
    out: str | Path,
    token_budget: int | None = None,
    pretrain_steps: int = 300,
    quiet: bool = False,
    force: bool = False,
) -> dict:
    """Every stage into ``out``/<stage>; a rerun replaces only what the last run wrote (validate.outdir)."""
    with owned_output(out, force=force) as folder:
        return _run(folder, token_budget, pretrain_steps, quiet)


def _run(out: Path, token_budget: int | None, pretrain_steps: int, quiet: bool) -> dict:
    t0 = time.perf_counter()
    say = (lambda *_: None) if quiet else print

    say("[1/6] crawling the bundled sample site on 127.0.0.1 with Scrapy ...")
    with SiteServer(SITE_DIR) as site:
        recipe = out / "crawl" / "recipe.yaml"
        recipe.parent.mkdir(parents=True, exist_ok=True)
        recipe.write_text(sample_recipe(site.base_url), encoding="utf-8")
        crawl = crawl_run(str(recipe), out / "crawl")

    say("[2/6] extracting code and comments with tree-sitter ...")
    with tempfile.TemporaryDirectory() as tmp:
        repo = str(make_sample_repo(Path(tmp) / "finkit"))
        # One parser process (the sample is small); the temp path means nothing to a reader.
        code = extract([repo], out / "code", CodeConfig(workers=1, repo_names={repo: "dataagent-samples/finkit"}))

    say("[3/6] rule-based synthesis ...")
    synth = synthesize(
        SynthInputs(
            documents=out / "crawl" / "documents.parquet",
            qa=out / "crawl" / "qa.parquet",
            code=out / "code" / "code_units.parquet",
        ),
        out / "synth",
        SynthConfig(backend="rules"),
    )

    say("[4/6] quality gate ...")
    gate = validate(out / "synth" / "instructions.parquet", out / "gate")

    say("[5/6] publishing in Hub layout ...")
    pub = publish_file(
        out / "gate" / "accepted.parquet",
        out / "dataset",
        pretty_name="DataAgent sample set",
        license="cc-by-4.0",
        description="Instruction and QA records from the bundled sample "
        "site (Traditional Chinese and English) and the sample finkit repository.",
        gate_report=out / "gate" / "gate_report.json",
        documents=out / "crawl" / "documents.parquet",  # dates the crawl on the card
    )
    published_rows = sum(len(rows) for rows in load_published(str(out / "dataset")).values())
    assert published_rows == gate["accepted"], "published set does not match the accepted records"

    say("[6/6] smoke-train, shuffled control and usefulness verdict ...")
    report = smoke_train(
        TrainConfig(
            dataset=str(out / "dataset"),
            out_dir=str(out / "train"),
            documents=str(out / "crawl" / "documents.parquet"),
            token_budget=token_budget,  # None: the tiny base's calibrated default, as `dataagent train` uses
            pretrain_steps=pretrain_steps,
        ),
        show_progress=not quiet,
    )

    summary = {
        "pages_crawled": crawl["stats"].get("dataagent/pages", 0),
        "documents": crawl["documents"]["kept"],
        "faq_pairs": crawl["qa"]["kept"],
        "code_units": int(code["units"]),
        "records_made": synth["made"],
        "accepted": gate["accepted"],
        "quarantined": gate["quarantined"] + synth["quarantined"],
        "published": str(out / "dataset"),
        "splits": pub["splits"],
        "heldout_loss_before": report["heldout_response_loss_before"],
        "heldout_loss_after": report["heldout_response_loss_after"],
        "verdict": report["verdict"]["verdict"],
        "pairing_gain_margin": report["verdict"].get("margin"),
        "verdict_explained": verdict_sentence(report),
        "dataset_card": str(out / "dataset" / "README.md"),
        "quality_report": gate["quality_report"],
        "quarantine": str(out / "gate" / "quarantine.jsonl"),
        "exports": pub["exports"]["folder"],
        # Records that broke the contract at synthesis never reach the gate: they have their own file.
        "synth_quarantine": str(out / "synth" / "instructions.quarantine.jsonl") if synth["quarantined"] else None,
        "train_report": str(out / "train" / "train_report.json"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    say(summary_text(summary, out))
    return summary


def verdict_sentence(report: dict) -> str:
    """The usefulness verdict of a train report in one sentence a newcomer can follow."""
    v = report["verdict"]
    loss = f"held-out loss {report['heldout_response_loss_before']:.3f} -> {report['heldout_response_loss_after']:.3f}"
    if v["verdict"] == "pass":
        return (
            f"pass: training on the set lowered the {loss}, and the model learned which answer belongs to which "
            f"question (margin {v.get('margin', 0):.3f} over a control trained on the same answers shuffled)."
        )
    if v["verdict"] == "fail":
        return (
            f"fail: the {loss}, yet the model matched answers to questions no better than a control trained on the "
            f"same answers shuffled, so the set teaches style rather than answers; {v.get('advice', '')}."
        )
    return f"{v['verdict']}: {v.get('reason', '')}; {v.get('advice', '')}.".replace("; .", ".")


def summary_text(summary: dict, out: Path) -> str:
    """What the demo made and where to look next, as it prints at the end of a run."""
    width = max(len("split"), *(len(s) for s in summary["splits"]))
    split_rows = [f"    {'split':<{width}}  records"] + [
        f"    {name:<{width}}  {n:>7}" for name, n in summary["splits"].items()
    ]
    files = [
        ("dataset card", summary["dataset_card"], ""),
        ("quality report", summary["quality_report"], "what the gate checked and why records failed"),
        ("quarantine", summary["quarantine"], "every record the gate rejected, with its reasons"),
        ("synth quarantine", summary.get("synth_quarantine"), "records that broke the contract at synthesis"),
        ("exports", summary["exports"], "Alpaca, ShareGPT and LLaMA-Factory files per split"),
        ("training report", summary["train_report"], "losses, control run and verdict; plot beside it"),
    ]
    return "\n".join(
        [
            f"\nDataAgent demo summary ({summary['seconds']} s, everything under {out})",
            f"  crawl      {summary['pages_crawled']} pages fetched, {summary['documents']} documents kept, "
            f"{summary['faq_pairs']} FAQ pairs",
            f"  code       {summary['code_units']} functions and classes with their docs",
            f"  records    {summary['records_made']} made, {summary['accepted']} accepted, "
            f"{summary['quarantined']} quarantined",
            f"  published  {summary['published']}",
            *split_rows,
            f"  verdict    {summary['verdict_explained']}",
            "  files",
            *(f"    {label:<16} {path}" + (f"  ({what})" if what else "") for label, path, what in files if path),
        ]
    )
