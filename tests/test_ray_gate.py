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
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from bench.scale_bench import REPORT_FIGURES, compare, make_records, read_shards, write_jsonl  # noqa: E402
from validate.errors import ContractError  # noqa: E402
from validate.raygate import KILL_ENV, gate_ray, plan_splits  # noqa: E402
from validate.run import gate_file  # noqa: E402

SPLIT = 200_000  # bytes per block
ROOT = Path(__file__).resolve().parents[1]


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


@pytest.fixture(scope="module")
def gated(cluster, records, tmp_path_factory) -> Path:
    """The Ray gate's output folder for the generated input (accepted/ shards, gate_report.json)."""
    out = tmp_path_factory.mktemp("raygate") / "gate"
    gate_ray(records[0], out, split_bytes=SPLIT)
    return out


def test_publish_from_the_cluster(cluster, records, gated, tmp_path):
    """publish --ray: the same rows in the same splits and order as publish_file, the same export files byte for
    byte, the card's figures from per-block counts equal to those of the whole frame."""
    import pandas as pd

    from validate.raypublish import publish_ray
    from validate.run import publish_file

    src, single = records
    one = publish_file(
        single / "accepted.jsonl",
        tmp_path / "one" / "set",
        pretty_name="t",
        license="cc-by-4.0",
        gate_report=single / "gate_report.json",
    )
    many = publish_ray(
        gated / "accepted",
        tmp_path / "many" / "set",
        pretty_name="t",
        license="cc-by-4.0",
        gate_report=gated / "gate_report.json",
        max_shard_rows=300,
    )
    assert many["splits"] == one["splits"] and many["blocks"] > 1
    for split in one["splits"]:
        a = pd.concat([pd.read_parquet(f) for f in sorted((tmp_path / "one" / "set" / "data").glob(f"{split}-*"))])
        files = sorted((tmp_path / "many" / "set" / "data").glob(f"{split}-*"))
        assert files[-1].name.endswith(f"-of-{len(files):05d}.parquet")
        b = pd.concat([pd.read_parquet(f) for f in files])
        assert a["id"].tolist() == b["id"].tolist()

    def exports(folder: Path) -> dict[str, bytes]:
        root = folder / "set" / "exports"
        return {str(f.relative_to(root)): f.read_bytes() for f in sorted(root.rglob("*")) if f.is_file()}

    want = exports(tmp_path / "one")
    assert set(want) == {
        "dataset_info.json",
        *(f"{fmt}/{s}.json" for fmt in ("alpaca", "sharegpt") for s in one["splits"]),
    }
    assert exports(tmp_path / "many") == want  # the pieces joined are the whole split's file, byte for byte
    moved = json.dumps(many["exports"]).replace(str(tmp_path / "many"), str(tmp_path / "one"))
    assert moved == json.dumps(one["exports"])

    def card(folder: Path) -> str:
        """The card but its provenance section (--ray lists no pages) and Arrow byte sizes (a split cut into
        more shards has a few more offset bytes)."""
        text = (folder / "set" / "README.md").read_text(encoding="utf-8")
        text = text.split("## Provenance")[0] if "## Provenance" in text else text
        return re.sub(r"(num_bytes|dataset_size|download_size): \d+", r"\1: N", text)

    assert "## Exports" in card(tmp_path / "many")
    assert card(tmp_path / "one") == card(tmp_path / "many")


def test_publish_from_the_cluster_pushes_to_the_hub(cluster, gated, tmp_path):
    """publish --ray --repo-id: the folder pushed to the (loopback) Hub as publish_file pushes it: one commit, a
    version tag, data and exports that the real clients read back. The client runs in a subprocess (HF_ENDPOINT is
    read at import) that joins this module's cluster."""
    from dataagent.testing.hub import serve_hub

    token = "hf_" + secrets.token_hex(16)
    address = ray.get_runtime_context().gcs_address
    with serve_hub(tmp_path / "hub", token=token) as hub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
        env.update(
            HF_ENDPOINT=hub.endpoint,
            HF_TOKEN=token,
            HF_HUB_DISABLE_XET="1",
            HF_HUB_OFFLINE="0",
            HF_HOME=str(tmp_path / "hf_home"),
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            HF_DATASETS_DISABLE_PROGRESS_BARS="1",
            PYTHONPATH=str(ROOT),
        )
        code = f"""
            import json
            import datasets
            from huggingface_hub import HfApi, hf_hub_download
            from validate.raypublish import publish_ray
            res = publish_ray({str(gated / "accepted")!r}, {str(tmp_path / "set")!r}, pretty_name="t",
                              license="cc-by-4.0", max_shard_rows=500, address={address!r}, repo_id="org/ray")
            ds = datasets.load_dataset("org/ray", revision="v1")
            res["loaded"] = {{s: list(ds[s]["id"]) for s in ds}}
            res["files"] = HfApi().list_repo_files("org/ray", repo_type="dataset")
            res["alpaca_test"] = open(hf_hub_download("org/ray", "exports/alpaca/test.json", repo_type="dataset"),
                                      encoding="utf-8").read()
            print(json.dumps(res))
        """
        proc = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert token not in proc.stdout + proc.stderr
        out = json.loads(proc.stdout.strip().splitlines()[-1])
        assert hub.refs("org/ray")["tags"] == {"v1": out["hub"]["commit"]}
    assert out["hub"]["version"] == "v1"
    import pandas as pd

    for split, ids in out["loaded"].items():
        files = sorted((tmp_path / "set" / "data").glob(f"{split}-*"))
        assert ids == pd.concat([pd.read_parquet(f) for f in files])["id"].tolist()
    local = {str(f.relative_to(tmp_path / "set")) for f in (tmp_path / "set").rglob("*") if f.is_file()}
    assert local <= set(out["files"])
    assert out["alpaca_test"] == (tmp_path / "set" / "exports" / "alpaca" / "test.json").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def eval_set(records, tmp_path_factory) -> Path:
    """An eval set copied from accepted records spread over the file (some of them with near-duplicates), so
    decontamination removes rows in many blocks."""
    import pandas as pd

    _, single = records
    acc = pd.read_json(single / "accepted.jsonl", lines=True, dtype=False)
    picked = acc.iloc[::61].head(40)
    path = tmp_path_factory.mktemp("eval") / "evalset.jsonl"
    frame = pd.DataFrame({"question": picked["instruction"].to_numpy(), "answer": picked["output"].to_numpy()})
    frame.to_json(path, orient="records", lines=True, force_ascii=False)
    return path


def test_decontamination_on_the_cluster(cluster, records, eval_set, tmp_path):
    """--eval-set with --ray: the eval index broadcast to the workers removes the rows gate_file removes, with the
    same reasons (a near-duplicate that is also contaminated keeps both, near-duplicate first)."""
    import pandas as pd

    src, _ = records
    single = gate_file(src, tmp_path / "single", eval_sets=[eval_set], decontam_ngram=10)
    report = gate_ray(src, tmp_path / "ray", eval_sets=[eval_set], decontam_ngram=10, split_bytes=SPLIT)
    same = compare(tmp_path / "single", tmp_path / "ray")
    assert all(v for k, v in same.items() if k.endswith("_equal")), same
    assert report["contaminated_removed"] == single["contaminated_removed"] >= 40
    assert report["thresholds"]["decontamination"] == json.loads(json.dumps(single["thresholds"]["decontamination"]))
    assert (
        "Contaminated removed | " + str(single["contaminated_removed"])
        in (tmp_path / "ray" / "gate_summary.md").read_text()
    )
    q = pd.read_json(tmp_path / "single" / "quarantine.jsonl", lines=True, dtype=False)
    assert q["quarantine_reasons"].map(lambda r: "contaminated" in r and len(r) > 1).any()


def test_on_bad_line_error_names_the_same_line(cluster, records, tmp_path):
    """--on-bad-line error with --ray: the single gate's one-line error, for the input's first bad line, also when
    that line lies in a later block than other blocks' bad lines would be found in."""
    src, _ = records
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    good = [x for x in lines if x.rstrip().endswith("}")]
    first = len(good) * 4 // 5  # bad lines in late blocks only: the first blocks have none
    for at in (len(good) * 9 // 10, first):
        good.insert(at, '{"id": "late", "instruction": \n')
    late = tmp_path / "late.jsonl"
    late.write_text("".join(good), encoding="utf-8")
    for path in (src, late):
        with pytest.raises(ContractError) as one:
            gate_file(path, tmp_path / "single", on_bad_line="error")
        with pytest.raises(ContractError) as many:
            gate_ray(path, tmp_path / "ray", on_bad_line="error", split_bytes=SPLIT)
        assert str(many.value) == str(one.value) and "\n" not in str(one.value)
        assert str(path) in str(one.value) and "line" in str(one.value)
    assert f"line {first + 1})" in str(one.value) and len(plan_splits([late], SPLIT)) > 3


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
