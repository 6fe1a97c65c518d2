"""The gate on a Ray cluster (validate/raygate.py, validate/raydedup.py) against the single-machine gate.

One two-node cluster on this machine (``ray.cluster_utils.Cluster``: a head with no CPUs, two worker nodes of one
CPU each, 256 MB object store apiece) serves the module. The input is bench/scale_bench.make_records: every check
has defects to catch, exact duplicates, near-duplicate families spread over the whole file (so their members lie
in different blocks), one-edit short pairs, an id reused for other content, numbers where text belongs and bad
JSON lines; blocks of 200 kB make about a dozen blocks of it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from bench.scale_bench import REPORT_FIGURES, compare, make_records, read_shards, write_jsonl  # noqa: E402
from validate.raygate import KILL_ENV, gate_ray, plan_splits  # noqa: E402
from validate.run import gate_file  # noqa: E402

SPLIT = 200_000  # bytes per block


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    from ray.cluster_utils import Cluster

    marker = tmp_path_factory.mktemp("ray") / "kill-once"
    marker.touch()  # present: nobody dies; a test removes it to have the next block kill its worker
    os.environ[KILL_ENV] = str(marker)  # raylets started below hand it to their workers
    c = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "object_store_memory": 256 << 20, "include_dashboard": False},
    )
    for _ in range(2):
        c.add_node(num_cpus=1, object_store_memory=256 << 20)
    ray.init(address=c.address, log_to_driver=False)
    try:
        yield marker
    finally:
        ray.shutdown()
        c.shutdown()
        os.environ.pop(KILL_ENV, None)


@pytest.fixture(scope="module")
def records(tmp_path_factory) -> tuple[Path, Path]:
    """The generated input and the single-machine gate's output folder."""
    tmp = tmp_path_factory.mktemp("gate")
    src = write_jsonl(make_records(3000, seed=7), tmp / "records.jsonl")
    gate_file(src, tmp / "single")
    return src, tmp / "single"


def test_input_spans_blocks_and_has_every_kind_of_defect(records):
    src, single = records
    assert len(plan_splits([src], SPLIT)) >= 8
    report = json.loads((single / "gate_report.json").read_text())
    for label in ("exact_duplicate", "id_conflict", "instruction:not_a_string", "bad_line:invalid_json"):
        assert report["failures_by_check"].get(label), label
    assert report["near_duplicates_removed"] >= 50
    assert sum(report["pii_scrubbed"].values()) > 0


def test_ray_gate_is_the_single_machine_gate(cluster, records, tmp_path):
    src, single = records
    report = gate_ray(src, tmp_path / "ray", split_bytes=SPLIT)
    same = compare(single, tmp_path / "ray")
    assert same == {**same, **{k: True for k in same if k.endswith("_equal")}}, same
    assert report["input"] == report["accepted"] + report["quarantined"] == same["records"]
    # the near-duplicates were found across blocks: a family's kept row and its dropped rows in other blocks
    assert (
        report["near_duplicates_removed"]
        == json.loads((single / "gate_report.json").read_text())["near_duplicates_removed"]
    )


def test_a_killed_worker_is_retried_and_changes_nothing(cluster, records, tmp_path):
    src, single = records
    cluster.unlink()  # the next block to start kills its worker process (SIGKILL); Ray retries the task
    report = gate_ray(src, tmp_path / "ray", split_bytes=SPLIT)
    assert cluster.exists(), "no worker was killed"
    same = compare(single, tmp_path / "ray")
    assert all(v for k, v in same.items() if k.endswith("_equal")), same
    assert report["accepted"] + report["quarantined"] == report["input"]
    accepted, quarantined = read_shards(tmp_path / "ray" / "accepted"), read_shards(tmp_path / "ray" / "quarantine")
    assert len(accepted) + len(quarantined) == report["input"]  # no shard written twice under two names


def test_parquet_shards_in_a_folder(cluster, records, tmp_path):
    """A folder of Parquet shards reads block per row group; the decisions are those of the same rows as one file."""
    import pandas as pd

    src, _ = records
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.endswith("}")]
    good = pd.DataFrame([r for r in rows if all(isinstance(r.get(k), str) for k in ("instruction", "output"))][:600])
    folder = tmp_path / "shards"
    folder.mkdir()
    good.to_parquet(tmp_path / "whole.parquet", index=False)
    for i in range(3):
        good.iloc[i * 200 : (i + 1) * 200].to_parquet(folder / f"part-{i}.parquet", index=False, row_group_size=70)
    single = json.loads(json.dumps(gate_file(tmp_path / "whole.parquet", tmp_path / "single")))
    report = gate_ray(folder, tmp_path / "ray")
    assert {k: report[k] for k in REPORT_FIGURES} == {k: single[k] for k in REPORT_FIGURES}
    acc1 = pd.read_json(tmp_path / "single" / "accepted.jsonl", lines=True, dtype=False)
    assert read_shards(tmp_path / "ray" / "accepted")["id"].tolist() == acc1["id"].tolist()


def test_publish_from_the_cluster(cluster, records, tmp_path):
    """publish --ray: the same rows in the same splits and order as publish_file, the card's figures from
    per-block counts equal to those of the whole frame."""
    import pandas as pd

    from validate.raypublish import publish_ray
    from validate.run import publish_file

    src, single = records
    gate_ray(src, tmp_path / "gate", split_bytes=SPLIT)
    one = publish_file(
        single / "accepted.jsonl",
        tmp_path / "one" / "set",
        pretty_name="t",
        license="cc-by-4.0",
        gate_report=single / "gate_report.json",
    )
    many = publish_ray(
        tmp_path / "gate" / "accepted",
        tmp_path / "many" / "set",
        pretty_name="t",
        license="cc-by-4.0",
        gate_report=tmp_path / "gate" / "gate_report.json",
        max_shard_rows=300,
    )
    assert many["splits"] == one["splits"] and many["blocks"] > 1
    for split in one["splits"]:
        a = pd.concat([pd.read_parquet(f) for f in sorted((tmp_path / "one" / "set" / "data").glob(f"{split}-*"))])
        files = sorted((tmp_path / "many" / "set" / "data").glob(f"{split}-*"))
        assert files[-1].name.endswith(f"-of-{len(files):05d}.parquet")
        b = pd.concat([pd.read_parquet(f) for f in files])
        assert a["id"].tolist() == b["id"].tolist()

    def card(folder: Path) -> str:
        """The card but its exports and provenance sections (--ray writes no exports and lists no pages) and
        Arrow byte sizes (a split cut into more shards has a few more offset bytes)."""
        text = (folder / "set" / "README.md").read_text(encoding="utf-8")
        text = re.sub(r"## Exports\n.*?(?=\n## )\n", "", text, flags=re.S)
        text = text.split("## Provenance")[0] if "## Provenance" in text else text
        return re.sub(r"(num_bytes|dataset_size|download_size): \d+", r"\1: N", text)

    assert card(tmp_path / "one") == card(tmp_path / "many")


def test_cli_validate_and_publish_with_ray(cluster, records, tmp_path):
    """`dataagent validate --ray` and `publish --ray` (in-process: the module's cluster is the Ray they join)."""
    from typer.testing import CliRunner

    from dataagent.cli import app

    src, single = records
    small = tmp_path / "small.jsonl"
    small.write_text("".join(src.read_text(encoding="utf-8").splitlines(keepends=True)[:400]), encoding="utf-8")
    gate = CliRunner().invoke(app, ["validate", str(small), "--out", str(tmp_path / "gate"), "--ray", "auto"])
    assert gate.exit_code == 0, gate.output
    report = json.loads((tmp_path / "gate" / "gate_report.json").read_text())
    assert report["accepted"] + report["quarantined"] == report["input"] == 400
    pub = CliRunner().invoke(
        app,
        ["publish", str(tmp_path / "gate" / "accepted"), "--out", str(tmp_path / "set"), "--ray", "auto"]
        + ["--gate-report", str(tmp_path / "gate" / "gate_report.json")],
    )
    assert pub.exit_code == 0, pub.output
    assert sum(json.loads((tmp_path / "set" / "dataset_manifest.json").read_text()).values()) == report["accepted"]
