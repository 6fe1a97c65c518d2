"""The whole pipeline end to end on the bundled samples, with a shortened training budget."""

import json

import datasets
import pandas as pd

from dataagent.demo import run_demo


def test_demo_runs_every_stage(tmp_path):
    summary = run_demo(tmp_path / "demo", train_steps=60, pretrain_steps=60, quiet=True)
    assert summary["documents"] >= 30
    assert summary["faq_pairs"] >= 25
    assert summary["code_units"] >= 40
    gate = json.loads((tmp_path / "demo" / "gate" / "gate_report.json").read_text())
    assert gate["accepted"] + gate["quarantined"] == gate["input"]
    ds = datasets.load_dataset(str(tmp_path / "demo" / "dataset"), download_mode="force_redownload")
    accepted = pd.read_parquet(tmp_path / "demo" / "gate" / "accepted.parquet")
    assert sorted(r for s in ds for r in ds[s]["id"]) == sorted(accepted["id"])
    report = json.loads((tmp_path / "demo" / "train" / "train_report.json").read_text())
    assert report["heldout_response_loss_after"] < report["heldout_response_loss_before"]
    assert (tmp_path / "demo" / "train" / "adapter" / "adapter_model.safetensors").exists()
