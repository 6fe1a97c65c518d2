"""Publishing through the real huggingface_hub / datasets clients to the loopback Hub in dataagent.testing.hub.

Every client call runs in a subprocess: HF_ENDPOINT, HF_HUB_DISABLE_XET and HF_HUB_OFFLINE are read when
huggingface_hub is imported, and conftest has already imported it here with HF_HUB_OFFLINE=1.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from dataagent.testing.hub import serve_hub
from synth.records import make_record
from validate.contracts import InstructionRecord, columns
from validate.exports import write_exports
from validate.publish import split_by_source, write_dataset_folder

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "hf_" + secrets.token_hex(16)
CAPTURED: list[str] = []  # every subprocess's stdout + stderr, checked for the token at the end


def _records(n: int, tag: str = "") -> pd.DataFrame:
    rows = [
        make_record(
            f"Question {i}{tag}?",
            f"Answer number {i}{tag}.",
            task_type="faq_qa" if i % 3 else "section_qa",
            language="zh-Hant" if i % 2 else "en",
            generator="rule:test" if i % 4 else "model:qwen-test",
            source_ref=f"http://127.0.0.1/page{i % 7}.html",
            input=f"context {i}" if i % 5 == 0 else "",
        )
        for i in range(n)
    ]
    return pd.DataFrame(rows)


def _folder(path: Path, df: pd.DataFrame) -> Path:
    return write_dataset_folder(
        split_by_source(df), path, pretty_name="Hub test", license="cc-by-4.0", max_shard_rows=20
    )


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    base = tmp_path_factory.mktemp("hub")
    with serve_hub(base / "server", token=TOKEN) as handle:
        handle.base = base
        handle.hf_home = base / "hf_home"
        yield handle


def run_client(hub, code: str, *, token: bool = True) -> dict:
    """Run ``code`` in a fresh interpreter pointed at the loopback Hub; it prints one JSON line last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(
        HF_ENDPOINT=hub.endpoint,
        HF_HUB_DISABLE_XET="1",
        HF_HUB_OFFLINE="0",
        HF_HOME=str(hub.hf_home),
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        HF_DATASETS_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=str(ROOT),
    )
    if token:
        env["HF_TOKEN"] = TOKEN
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    CAPTURED.append(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


LOAD = """
import datasets, json, sys
def load(repo, revision, out):
    ds = datasets.load_dataset(repo, revision=revision)
    for split in ds:
        ds[split].to_pandas().to_parquet(f"{out}-{split}.parquet")
    return sorted(ds)
"""


def _loaded(prefix: Path, splits: list[str]) -> pd.DataFrame:
    frames = [pd.read_parquet(f"{prefix}-{s}.parquet") for s in splits]
    return pd.concat(frames, ignore_index=True).sort_values("id").reset_index(drop=True)


def _same(loaded: pd.DataFrame, df: pd.DataFrame) -> None:
    expected = df[columns(InstructionRecord)].sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(loaded[expected.columns], expected)


def test_publish_versions_then_failed_publish_leaves_main(hub):
    base = hub.base
    v1_df, v2_df = _records(50), _records(50, " v2")
    for name, df in (("v1", v1_df), ("v2", v2_df), ("commit", _records(50, " c")), ("lfs-upload", _records(50, " u"))):
        _folder(base / name, df)
    out = run_client(
        hub,
        LOAD
        + f"""
from validate.hub import push_dataset
r1 = push_dataset({str(base / "v1")!r}, "org/name")
r2 = push_dataset({str(base / "v2")!r}, "org/name")
res = {{"r1": r1, "r2": r2}}
for rev in ("main", "v1", "v2"):
    res[rev] = load("org/name", rev, {str(base)!r} + "/got-" + rev)
from huggingface_hub import HfApi, hf_hub_download
res["hub_files"] = HfApi().list_repo_files("org/name", repo_type="dataset")
res["test_export"] = json.load(open(hf_hub_download("org/name", "exports/alpaca/test.json", repo_type="dataset")))
print(json.dumps(res))
""",
    )
    # The exports travel with the data: every split's file and LLaMA-Factory's index, as of the last push.
    assert {"exports/dataset_info.json", "exports/alpaca/train.json", "exports/sharegpt/test.json"} <= set(
        out["hub_files"]
    )
    assert sorted(r["output"] for r in out["test_export"]) == sorted(split_by_source(v2_df)["test"]["output"])
    assert (out["r1"]["version"], out["r2"]["version"]) == ("v1", "v2")
    _same(_loaded(base / "got-v1", out["v1"]), v1_df)
    _same(_loaded(base / "got-v2", out["v2"]), v2_df)
    _same(_loaded(base / "got-main", out["main"]), v2_df)
    assert out["main"] == ["test", "train"]
    assert hub.refs("org/name")["tags"] == {"v1": out["r1"]["commit"], "v2": out["r2"]["commit"]}

    # A commit that fails (500 on the commit call), then an upload that keeps failing mid-way:
    # neither may move main or leave a v3 tag. Each tries new content, so its LFS objects are not on the server yet.
    for kind, nth in (("commit", 1), ("lfs-upload", 2)):
        hub.fail(kind, nth)
        try:
            res = run_client(
                hub,
                f"""
import json
from validate.errors import DataAgentError
from validate.hub import push_dataset
try:
    push_dataset({str(base / kind)!r}, "org/name")
    print(json.dumps({{"error": None}}))
except DataAgentError as exc:
    print(json.dumps({{"error": str(exc)}}))
""",
            )
        finally:
            hub.clear_faults()
        assert res["error"] and "\n" not in res["error"], (kind, res)
        refs = hub.refs("org/name")
        assert refs["branches"]["main"] == out["r2"]["commit"] and "v3" not in refs["tags"], kind
    after = run_client(hub, LOAD + f"print(json.dumps(load('org/name', 'main', {str(base)!r} + '/after')))")
    _same(_loaded(base / "after", after), v2_df)


def test_private_repo_and_missing_token(hub):
    folder = _folder(hub.base / "priv", _records(12))
    code = f"""
import json
from validate.errors import DataAgentError
from validate.hub import push_dataset
from huggingface_hub import HfApi
from huggingface_hub.errors import RepositoryNotFoundError
out = {{}}
try:
    push_dataset({str(folder)!r}, "org/private", private=True)
except DataAgentError as exc:
    out["error"] = str(exc)
else:
    out["pushed"] = True
try:
    HfApi(token=False).dataset_info("org/private")
    out["anonymous"] = "readable"
except RepositoryNotFoundError:
    out["anonymous"] = "not found"
print(json.dumps(out))
"""
    no_token = run_client(hub, code, token=False)
    assert "HF_TOKEN" in no_token["error"] and "\n" not in no_token["error"]
    assert "org/private" not in str(hub.refs("org/private"))
    with_token = run_client(hub, code)
    assert with_token == {"pushed": True, "anonymous": "not found"}
    readable = run_client(
        hub,
        """
import json
from huggingface_hub import HfApi
info = HfApi().dataset_info("org/private")
print(json.dumps({"private": info.private, "files": sorted(f.rfilename for f in info.siblings)}))
""",
    )
    assert readable["private"] is True and "README.md" in readable["files"]


def test_train_from_hub_ids_and_verdict_pushed_into_the_hub_card(hub):
    """`dataagent train` with a hub dataset id and a hub model id; --card pushes the verdict with HF_TOKEN."""
    from train.tiny import build_tiny_base

    df = _records(60, " train")
    folder = _folder(hub.base / "trainset", df)
    base = hub.base / "tiny-base"
    build_tiny_base(df["output"].tolist(), df["instruction"].tolist(), str(base), steps=0, lr=0.0)
    out = run_client(
        hub,
        f"""
import json
from huggingface_hub import DatasetCard, HfApi
from validate.hub import push_dataset
from train.config import TrainConfig
from train.smoke import smoke_train
push_dataset({str(folder)!r}, "org/trainset")
api = HfApi()
api.create_repo("org/tiny-base", repo_type="model")
api.upload_folder(repo_id="org/tiny-base", folder_path={str(base)!r}, repo_type="model")
r = smoke_train(TrainConfig(dataset="org/trainset", model="org/tiny-base", out_dir={str(hub.base / "train")!r},
                            token_budget=4000, lr=1e-2, card=True, samples=1, max_new_tokens=4), show_progress=False)
card = DatasetCard.load("org/trainset", repo_type="dataset").text
print(json.dumps({{"verdict": r["verdict"]["verdict"], "card": r["card"], "section": "Usefulness verdict" in card,
                  "records": r["train_records"] + r["heldout_records"], "model": r["model"]}}))
""",
    )
    assert out["card"] == "hub:org/trainset" and out["section"]
    assert out["records"] == len(df) and out["model"] == "org/tiny-base"
    assert out["verdict"] in ("pass", "inconclusive", "fail")
    assert (hub.base / "train" / "adapter" / "adapter_model.safetensors").exists()


def test_token_never_stored_or_logged(hub):
    if not CAPTURED:
        pytest.skip("checks what the publishing tests above left behind")
    assert not hub.unknown, hub.unknown
    for text in [*CAPTURED, "\n".join(hub.log)]:
        assert TOKEN not in text
    for root in (hub.root, hub.hf_home, hub.base):
        for path in Path(root).rglob("*"):
            if path.is_file():
                assert TOKEN.encode() not in path.read_bytes(), path


def test_exports_alpaca_sharegpt_llamafactory(tmp_path):
    df = _records(30)
    folder = _folder(tmp_path / "ds", df)
    splits = split_by_source(df)
    result = write_exports(splits, folder, name="demo")
    assert Path(result["folder"]) == folder / "exports"  # inside the published folder, so it is pushed with it
    info = json.loads(Path(result["dataset_info"]).read_text(encoding="utf-8"))
    assert result["records"] == {s: len(f) for s, f in splits.items()} and set(splits) == {"train", "test"}
    for split, frame in splits.items():
        alpaca = json.loads(Path(result["alpaca"][split]).read_text(encoding="utf-8"))
        sharegpt = json.loads(Path(result["sharegpt"][split]).read_text(encoding="utf-8"))
        assert len(alpaca) == len(sharegpt) == len(frame)
        # Each file holds its own split's rows only: held-out records never reach a training file.
        assert sorted(r["output"] for r in alpaca) == sorted(frame["output"])
        assert all(set(r) == {"instruction", "input", "output"} for r in alpaca)
        for row, rec in zip(sharegpt, frame.itertuples(index=False), strict=True):
            turns = row["conversations"]
            assert [t["from"] for t in turns] == ["human", "gpt"] and turns[1]["value"] == rec.output
            assert turns[0]["value"] == rec.instruction + (f"\n\n{rec.input}" if rec.input else "")
        for fmt in ("alpaca", "sharegpt"):
            entry = info[f"demo_{split}_{fmt}"]
            assert entry["formatting"] == fmt and (folder / "exports" / entry["file_name"]).is_file()
    assert info["demo_train_alpaca"]["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}
    assert info["demo_test_sharegpt"]["columns"] == {"messages": "conversations"}
    assert info["demo_test_sharegpt"]["tags"]["user_tag"] == "human"
    # A re-export without the test split leaves no stale test file behind to be pushed.
    write_exports(df, folder, name="demo")
    assert sorted(p.name for p in (folder / "exports" / "alpaca").iterdir()) == ["train.json"]
    assert set(json.loads(Path(result["dataset_info"]).read_text(encoding="utf-8"))) == {
        "demo_train_alpaca",
        "demo_train_sharegpt",
    }
