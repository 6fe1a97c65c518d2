"""`dataagent train` on two CPU processes (torchrun, gloo) takes the same steps as one process with the same global
batch, and only rank 0 writes anything.

Both runs go through the CLI in subprocesses, with the tiny base built from documents (so its data-parallel
pretraining and the tokenizer handed from rank 0 to rank 1 are covered too), the real and the control run,
the integrity reload and the verdict. float32 on CPU: the two-process sums differ from the one-process
ones only in summation order, so losses agree to about 1e-6; the test allows a relative 1e-3 per step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import document_row, free_port
from safetensors.torch import load_file

from tests.test_train import RECORDS, TEXTS

REPO = Path(__file__).resolve().parents[1]
REL = 1e-3  # per step, on losses of a few nats (the report rounds them to 4 decimals)

# Runs the CLI as `dataagent` does, after installing an audit hook that logs every file this process opens
# for writing, creates, renames or removes under DATAAGENT_TEST_WATCH: evidence of which rank wrote what.
# Python-level writes only (safetensors and tokenizers write from Rust, unseen): the test also compares the
# whole --out listing with the one-process run's.
# The verdict's exit statuses (1 fail, 4 inconclusive) are recorded and turned into 0, so torchrun does not
# stop the other rank when the first one exits; any other status is passed on.
WRAPPER = r"""
import os, sys

rank = os.environ.get("RANK", "single")
log = open(os.path.join(os.environ["DATAAGENT_TEST_AUDIT"], f"rank-{rank}.log"), "w", buffering=1)
watched = os.path.realpath(os.environ["DATAAGENT_TEST_WATCH"])
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def path_of(value):
    if isinstance(value, (str, bytes, os.PathLike)):
        value = os.fsdecode(value)
        return os.path.realpath(value) if os.path.isabs(value) else os.path.realpath(os.path.join(os.getcwd(), value))
    return None


def hook(event, args):
    if event == "open":
        path, mode, flags = args
        writes = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & WRITE_FLAGS)
        paths = [path_of(path)] if writes else []
    elif event in ("os.mkdir", "os.remove", "os.rmdir", "os.truncate"):
        paths = [path_of(args[0])]
    elif event in ("os.rename", "os.replace", "os.link", "os.symlink", "shutil.copyfile", "shutil.move"):
        paths = [path_of(args[0]), path_of(args[1])]
    else:
        return
    for p in paths:
        if p and p.startswith(watched):
            log.write(f"{event} {p}\n")


sys.addaudithook(hook)
sys.argv = ["dataagent", *sys.argv[1:]]
from dataagent.cli import main

try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
log.write(f"exit {code}\n")
sys.exit(0 if code in (0, 1, 4) else code)
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    """A published folder of test_train's records and a Document file of its texts for the tiny base."""
    from synth.records import make_record
    from validate.contracts import Document
    from validate.io import write_records
    from validate.publish import split_by_source, write_dataset_folder

    root = tmp_path_factory.mktemp("ddp-inputs")
    rows = [
        make_record(
            r["instruction"],
            r["output"],
            task_type="faq_qa",
            language="en",
            generator="rule:test",
            source_ref=f"https://x.org/box{i}",
        )
        for i, r in enumerate(RECORDS)
    ]
    folder = write_dataset_folder(split_by_source(pd.DataFrame(rows)), root / "ds", pretty_name="t", license="mit")
    # Enough text for a few pretraining blocks: each of the three texts repeated in one page.
    docs = pd.DataFrame([document_row(f"https://x.org/doc{i}", " ".join([t] * 20)) for i, t in enumerate(TEXTS[:3])])
    write_records(docs, root / "documents", Document)
    return folder, root / "documents.jsonl"


def _train(tmp: Path, name: str, inputs: tuple[Path, Path], processes: int) -> tuple[dict, subprocess.CompletedProcess]:
    folder, docs = inputs
    run_dir = tmp / name
    audit = run_dir / "audit"
    audit.mkdir(parents=True)
    wrapper = run_dir / "wrapper.py"
    wrapper.write_text(WRAPPER, encoding="utf-8")
    out = run_dir / "out"
    args = [
        "train", "--dataset", str(folder), "--out", str(out), "--documents", str(docs), "--device", "cpu",
        "--pretrain-steps", "4", "--token-budget", "4000", "--batch-size", "7", "--max-len", "128",
        "--seed", "0",
    ]  # fmt: skip
    launcher = [sys.executable, str(wrapper)]
    if processes > 1:
        launcher = [
            sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
            "--master_addr", "127.0.0.1", "--master_port", str(free_port()), str(wrapper),
        ]  # fmt: skip
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
        "DATAAGENT_TEST_AUDIT": str(audit),
        "DATAAGENT_TEST_WATCH": str(tmp),
    }
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(var, None)
    proc = subprocess.run([*launcher, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    logs = {p.stem: p.read_text(encoding="utf-8").splitlines() for p in audit.glob("rank-*.log")}
    return {"out": out, "logs": logs, "report": json.loads((out / "train_report.json").read_text())}, proc


def _close(a: float, b: float, rel: float = REL) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-6)


@pytest.mark.slow
def test_two_cpu_processes_take_the_same_steps_as_one_and_only_rank_0_writes(tmp_path, inputs):
    one, one_proc = _train(tmp_path, "single", inputs, 1)
    two, two_proc = _train(tmp_path, "ddp", inputs, 2)
    r1, r2 = one["report"], two["report"]
    assert (r1["processes"], r2["processes"]) == (1, 2)

    # The same steps: token counts per step exact (same global batches), losses within REL per step.
    assert r1["pretrain"]["steps"] == r2["pretrain"]["steps"] >= 4
    assert r1["pretrain"]["tokens"] == r2["pretrain"]["tokens"]
    for key in ("first_loss", "last_loss"):
        assert _close(r1["pretrain"][key], r2["pretrain"][key]), (key, r1["pretrain"], r2["pretrain"])
    assert _close(r1["heldout_response_loss_before"], r2["heldout_response_loss_before"])
    for label in ("real", "control"):
        a, b = r1["runs"][label], r2["runs"][label]
        assert a["steps"] == b["steps"] >= 4 and a["tokens"] == b["tokens"] >= 4000
        for curve in ("train_curve", "eval_curve"):
            assert [t for t, _ in a[curve]] == [t for t, _ in b[curve]]
            for (t, x), (_, y) in zip(a[curve], b[curve], strict=True):
                assert _close(x, y), (label, curve, t, x, y)
        assert _close(a["heldout_loss"], b["heldout_loss"])
        assert abs(a["pairing_gain"] - b["pairing_gain"]) <= 2e-3
    assert r1["verdict"]["verdict"] == r2["verdict"]["verdict"]

    # The adapter (full weights of the tiny base) written once, the same tensors and shapes.
    w1 = load_file(str(one["out"] / "adapter" / "model.safetensors"))
    w2 = load_file(str(two["out"] / "adapter" / "model.safetensors"))
    assert {k: v.shape for k, v in w1.items()} == {k: v.shape for k, v in w2.items()}
    drift = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    assert drift < 1e-4, drift  # 2.5e-7 observed
    assert r2["adapter_integrity"]["ok"]

    # Only rank 0 wrote: rank 1 opened nothing for writing, created, renamed or removed nothing under tmp_path;
    # rank 0 wrote the adapter, the report and the manifest; both ended with the same exit status.
    assert sorted(two["logs"]) == ["rank-0", "rank-1"]
    rank0, rank1 = two["logs"]["rank-0"], two["logs"]["rank-1"]
    assert rank1[:-1] == [], rank1[:20]  # its last line is its exit status
    written = {line.split(" ", 1)[1] for line in rank0[:-1]}
    out = str(two["out"].resolve())
    for name in ("train_report.json", "train_report.png", "adapter/config.json", "base/config.json"):
        assert f"{out}/{name}" in written, name
    # Rank 0 exits with the verdict's status, as one process does; rank 1 exits 0 (a launcher would stop rank 0
    # when another rank exits non-zero first).
    assert rank0[-1] == one["logs"]["rank-single"][-1] and rank1[-1] == "exit 0"
    listing = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*"))  # noqa: E731
    assert listing(two["out"]) == listing(one["out"])
    # The CLI's summary is printed once, by rank 0.
    assert two_proc.stdout.count('"heldout_response_loss_before"') == 1
    assert one_proc.stdout.count('"heldout_response_loss_before"') == 1
