"""Publishing with the records' own splits (--split-by keep) or a separate held-out file (--test-records)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets
import pandas as pd
import pytest

from synth.records import make_record
from validate.contracts import InstructionRecord
from validate.errors import DataAgentError
from validate.io import write_records, write_table
from validate.run import publish_file

SPLITS = ["train"] * 9 + ["validation"] * 2 + ["test"] * 3


def _records(n: int, start: int = 0, same_source: bool = True) -> pd.DataFrame:
    """Records that all share one page: a source-hash split would put every one on the same side."""
    return pd.DataFrame(
        [
            make_record(
                f"Question {i}?",
                f"Answer number {i}.",
                task_type="faq_qa",
                language="en",
                generator="rule:test",
                source_ref="http://127.0.0.1/only-page.html" if same_source else f"http://127.0.0.1/p{i}.html",
            )
            for i in range(start, start + n)
        ]
    )


def _with_splits(tmp_path: Path, splits: list, suffix: str = ".parquet") -> Path:
    df = _records(len(splits)).assign(split=splits)
    jsonl, parquet = write_table(df, tmp_path / "imported")
    return parquet if suffix == ".parquet" else jsonl


def _load(folder: Path) -> datasets.DatasetDict:
    return datasets.load_dataset(str(folder), download_mode="force_redownload")


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_keep_publishes_exactly_the_records_own_splits(tmp_path, suffix):
    path = _with_splits(tmp_path, [f" {s} " if i == 0 else s for i, s in enumerate(SPLITS)], suffix)
    result = publish_file(path, tmp_path / "ds", pretty_name="Kept", license="cc-by-4.0", split_by="keep")
    assert result["split_by"] == "keep"
    assert result["splits"] == {"train": 9, "validation": 2, "test": 3}
    ds = _load(tmp_path / "ds")
    assert set(ds.keys()) == {"train", "validation", "test"}
    want = _records(len(SPLITS)).assign(split=SPLITS)
    for name in ds:
        assert sorted(ds[name]["id"]) == sorted(want.loc[want["split"] == name, "id"])
        assert "split" not in ds[name].column_names  # the published features stay the contract's
    card = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    assert "Split by: `keep`" in card and "their `split` field" in card
    assert "whole source documents" not in card


def test_default_still_splits_by_source_and_ignores_a_split_field(tmp_path):
    path = _with_splits(tmp_path, SPLITS)
    result = publish_file(path, tmp_path / "ds", pretty_name="Default", license="cc-by-4.0")
    assert result["split_by"] == "source"
    assert result["splits"] == {"train": len(SPLITS)}  # one source: never held out whole, train is never empty
    assert "Split by: `source`" in (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")


def test_test_records_file_is_the_test_split_and_the_input_is_all_train(tmp_path):
    write_records(_records(8, same_source=False), tmp_path / "train", InstructionRecord)
    write_records(_records(3, start=100, same_source=False), tmp_path / "held", InstructionRecord)
    result = publish_file(
        tmp_path / "train.parquet",
        tmp_path / "ds",
        pretty_name="Given test",
        license="cc-by-4.0",
        test_records=tmp_path / "held.jsonl",
    )
    assert result["split_by"] == "test-records" and result["splits"] == {"train": 8, "test": 3}
    ds = _load(tmp_path / "ds")
    assert set(ds.keys()) == {"train", "test"}
    assert sorted(ds["test"]["instruction"]) == [f"Question {i}?" for i in (100, 101, 102)]
    assert "Split by: `test-records`" in (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    manifest = json.loads((tmp_path / "ds" / "dataset_manifest.json").read_text(encoding="utf-8"))
    assert manifest == {"train": 8, "test": 3}


def test_keep_refuses_in_one_line_naming_file_row_and_column(tmp_path):
    write_records(_records(4), tmp_path / "plain", InstructionRecord)
    plain = tmp_path / "plain.parquet"
    with pytest.raises(DataAgentError) as exc:
        publish_file(plain, tmp_path / "a", pretty_name="x", license="mit", split_by="keep")
    assert str(exc.value) == f"--split-by keep: the records have no 'split' field ({plain}, column 'split')"
    for bad, message in (("", "empty split value"), (None, "empty split value"), ("my-test", "not a split name")):
        path = _with_splits(tmp_path, ["train", "test", bad, "train"], ".jsonl")
        with pytest.raises(DataAgentError, match=message) as exc:
            publish_file(path, tmp_path / "b", pretty_name="x", license="mit", split_by="keep")
        assert str(exc.value).endswith(f"({path}, row 3, column 'split')") and "\n" not in str(exc.value)


def test_conflicting_and_leaking_options_are_refused(tmp_path):
    write_records(_records(4, same_source=False), tmp_path / "train", InstructionRecord)
    write_records(_records(2, start=3, same_source=False), tmp_path / "held", InstructionRecord)  # row 1 in train
    with pytest.raises(
        DataAgentError, match=r"^1 test record\(s\) also in the input .*held\.jsonl, row 1, column 'id'"
    ):
        publish_file(
            tmp_path / "train.jsonl",
            tmp_path / "a",
            pretty_name="x",
            license="mit",
            test_records=tmp_path / "held.jsonl",
        )
    with pytest.raises(DataAgentError, match="use one"):
        publish_file(
            tmp_path / "train.jsonl",
            tmp_path / "a",
            pretty_name="x",
            license="mit",
            split_by="keep",
            test_records=tmp_path / "held.jsonl",
        )
    with pytest.raises(DataAgentError, match="--split-by must be one of source, keep, got 'random'"):
        publish_file(tmp_path / "train.jsonl", tmp_path / "a", pretty_name="x", license="mit", split_by="random")


def test_cli_publish_keeps_splits_and_reports_errors_in_one_line(tmp_path):
    path = _with_splits(tmp_path, SPLITS)
    cmd = [sys.executable, "-m", "dataagent", "publish", str(path)]
    keep = [*cmd, "--out", str(tmp_path / "ds"), "--split-by", "keep"]
    proc = subprocess.run(keep, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["splits"] == {"train": 9, "validation": 2, "test": 3}
    assert set(_load(tmp_path / "ds").keys()) == {"train", "validation", "test"}
    missing = tmp_path / "nope.jsonl"
    proc = subprocess.run(
        [*cmd, "--out", str(tmp_path / "ds2"), "--test-records", str(missing)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: --test-records: no such file ({missing})"
