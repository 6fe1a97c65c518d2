"""The offline end-to-end demo: every stage real, on the bundled samples, in a few minutes."""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from pathlib import Path

from crawlers.code.extract import extract_repo
from crawlers.recipe import RECIPES_DIR
from crawlers.run import crawl_site
from dataagent.samples import SITE_DIR, make_sample_repo
from dataagent.site_server import SiteServer
from synth.run import synth_rules
from train.config import TrainConfig
from train.smoke import load_published, smoke_train
from validate.contracts import CodeUnit
from validate.io import write_records
from validate.outdir import owned_output
from validate.run import gate_file, publish_file

SAMPLE_RECIPE = RECIPES_DIR / "sample_site.yaml"


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
        # The bundled recipe names the site as __BASE_URL__; the port is only known now.
        recipe = out / "crawl" / "recipe.yaml"
        recipe.parent.mkdir(parents=True, exist_ok=True)
        recipe.write_text(
            SAMPLE_RECIPE.read_text(encoding="utf-8").replace("__BASE_URL__", site.base_url), encoding="utf-8"
        )
        crawl = crawl_site(str(recipe), out / "crawl")

    say("[2/6] extracting code and comments with tree-sitter ...")
    code_stats: Counter = Counter()
    with tempfile.TemporaryDirectory() as tmp:
        units = extract_repo(str(make_sample_repo(Path(tmp) / "finkit")), code_stats)
        units["repo"] = "dataagent-samples/finkit"  # the temp path means nothing to a reader
        write_records(units, out / "code" / "code_units", CodeUnit)

    say("[3/6] rule-based synthesis ...")
    synth = synth_rules(
        out / "synth",
        documents=out / "crawl" / "documents.parquet",
        qa=out / "crawl" / "qa.parquet",
        code=out / "code" / "code_units.parquet",
    )

    say("[4/6] quality gate ...")
    gate = gate_file(out / "synth" / "instructions.parquet", out / "gate")

    say("[5/6] publishing in Hub layout ...")
    pub = publish_file(
        out / "gate" / "accepted.parquet",
        out / "dataset",
        pretty_name="DataAgent sample set",
        license="cc-by-4.0",
        description="Instruction and QA records from the bundled sample "
        "site (Traditional Chinese and English) and the sample finkit repository.",
        gate_report=out / "gate" / "gate_report.json",
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
        "code_units": int(code_stats["units"]),
        "records_made": synth["made"],
        "accepted": gate["accepted"],
        "quarantined": gate["quarantined"] + synth["quarantined"],
        "published": str(out / "dataset"),
        "splits": pub["splits"],
        "heldout_loss_before": report["heldout_response_loss_before"],
        "heldout_loss_after": report["heldout_response_loss_after"],
        "verdict": report["verdict"]["verdict"],
        "pairing_gain_margin": report["verdict"].get("margin"),
        "train_report": str(out / "train" / "train_report.json"),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False), encoding="utf-8")
    say("\nDataAgent demo summary")
    for key, value in summary.items():
        say(f"  {key:22s} {value}")
    return summary
