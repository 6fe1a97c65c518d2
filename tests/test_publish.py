"""A real `datasets` round trip of the published folder."""

import json
from pathlib import Path

import datasets
import pandas as pd
import yaml

from synth.records import make_record
from validate.contracts import InstructionRecord
from validate.io import write_records
from validate.run import publish_file


def _records(n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        lang = "zh-Hant" if i % 2 else "en"
        rows.append(
            make_record(
                f"Question {i}?",
                f"Answer number {i}.",
                task_type="faq_qa" if i % 3 else "section_qa",
                language=lang,
                generator="rule:test",
                source_ref=f"http://127.0.0.1/page{i % 7}.html",
            )
        )
    return pd.DataFrame(rows)


def test_published_folder_loads_row_for_row(tmp_path):
    df = _records(60)
    write_records(df, tmp_path / "accepted", InstructionRecord)
    result = publish_file(
        tmp_path / "accepted.parquet", tmp_path / "ds", pretty_name="Test set", license="cc-by-4.0", max_shard_rows=20
    )
    ds = datasets.load_dataset(str(tmp_path / "ds"), download_mode="force_redownload")
    assert set(ds.keys()) == set(result["splits"]) == {"train", "test"}
    loaded = pd.concat([ds[s].to_pandas() for s in ds], ignore_index=True)
    assert len(loaded) == len(df)
    pd.testing.assert_frame_equal(
        loaded.sort_values("id").reset_index(drop=True), df[loaded.columns].sort_values("id").reset_index(drop=True)
    )
    # Whole sources go to one split, so no page is on both sides.
    train_src, test_src = set(ds["train"]["source_ref"]), set(ds["test"]["source_ref"])
    assert not train_src & test_src
    shards = sorted(p.name for p in (tmp_path / "ds" / "data").iterdir())
    assert shards[0].startswith("test-00000-of-") and any(s.startswith("train-00002-of-00003") for s in shards)


def test_card_yaml_has_hub_metadata(tmp_path):
    write_records(_records(12), tmp_path / "accepted", InstructionRecord)
    publish_file(tmp_path / "accepted.parquet", tmp_path / "ds", pretty_name="Test set", license="cc-by-4.0")
    text = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["license"] == "cc-by-4.0"
    assert meta["language"] == ["en", "zh"]
    assert meta["size_categories"] == ["n<1K"]
    assert set(meta["task_categories"]) == {"question-answering"}
    assert meta["configs"][0]["data_files"][0]["path"].startswith("data/")
    assert [f["name"] for f in meta["dataset_info"]["features"]][:3] == ["id", "instruction", "input"]
    assert "# Test set" in text


def test_split_key_ignores_port_and_line_range():
    from validate.publish import source_key

    assert source_key("http://127.0.0.1:8001/a.html") == source_key("https://127.0.0.1:9000/a.html")
    assert source_key("repo@abcdef1:finkit/loans.py:1-9") == source_key("repo@1234567:finkit/loans.py:20-30")
    assert source_key("repo@abc:finkit/loans.py:1-9") != source_key("repo@abc:finkit/text.py:1-9")


def test_card_provenance_and_byte_sized_shards(tmp_path):
    from validate.publish import split_by_source, write_dataset_folder

    df = _records(40)
    df.loc[df.index[:10], "source_ref"] = [f"repo@{'ab12cd3' * 5}ab12c:finkit/mod{i % 2}.py:1-9" for i in range(10)]
    df.loc[df.index[:5], "generator"] = "Qwen/Qwen2.5-0.5B-Instruct"
    docs = pd.DataFrame(
        {"url": [f"http://127.0.0.1:8001/page{i}.html" for i in range(7)], "fetched_at": ["2024-05-01T10:00:00Z"] * 7}
    )
    table = "| check | failed |\n|---|---|\n| length | 3 |"
    out = write_dataset_folder(
        split_by_source(df),
        tmp_path / "ds",
        pretty_name="Prov set",
        license="cc-by-4.0",
        gate_summary=table,
        max_shard_bytes=2_000,
        documents=docs,
        provenance={
            "repos": [{"repo": "repo", "commit": "ab12cd3" * 5 + "ab12c", "licence": "MIT"}],
            "gate": {"thresholds": {"min_output_chars": 5}, "results": {"accepted": 40, "quarantined": 3}},
        },
    )
    text = (out / "README.md").read_text(encoding="utf-8")
    meta = yaml.safe_load(text.split("---")[1])
    assert meta["pretty_name"] == "Prov set" and meta["configs"][0]["config_name"] == "default"
    assert "| 127.0.0.1 | 7 | 30 | 2024-05-01T10:00:00Z |" in text
    assert "`127.0.0.1/page3.html`" in text and "crawled 2024-05-01T10:00:00Z" in text
    assert "| repo | `" in text and "| MIT | 10 |" in text
    assert "| Qwen/Qwen2.5-0.5B-Instruct | 5 |" in text and "| rule:test | 35 |" in text
    assert "| min_output_chars | 5 |" in text and "| quarantined | 3 |" in text
    assert table in text
    shards = sorted(p.name for p in (out / "data").iterdir())
    assert any(s.startswith("train-00001-of-") for s in shards)  # split by bytes, not the 100k row limit
    ds = datasets.load_dataset(str(out), download_mode="force_redownload")
    assert sum(len(ds[s]) for s in ds) == 40


def test_card_names_project_crawl_dates_pii_policy_and_exports(tmp_path):
    from validate.contracts import PROJECT_URL
    from validate.run import gate_file

    df = _records(40)
    df.loc[3, "output"] = "Write to lin.mei@tw-bank.com.tw for the form."  # a personal address the gate scrubs
    write_records(df, tmp_path / "in", InstructionRecord)
    gate = gate_file(tmp_path / "in.parquet", tmp_path / "gate")
    docs = pd.DataFrame(
        {
            "url": [f"http://127.0.0.1:8001/page{i}.html" for i in range(8)],
            "fetched_at": [f"2024-05-0{1 + i % 3}T10:00:00Z" for i in range(8)],
        }
    )
    docs.to_parquet(tmp_path / "documents.parquet")
    result = publish_file(
        tmp_path / "gate" / "accepted.parquet",
        tmp_path / "ds",
        pretty_name="Card set",
        license="cc-by-4.0",
        gate_report=tmp_path / "gate" / "gate_report.json",
        documents=tmp_path / "documents.parquet",
    )
    text = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    assert f"[DataAgent]({PROJECT_URL})" in text
    assert "Crawled from 2024-05-01T10:00:00Z to 2024-05-03T10:00:00Z" in text and "8 documents" in text
    report = json.loads((tmp_path / "gate" / "gate_report.json").read_text(encoding="utf-8"))
    assert report["pii_scrubbed"]["email"] >= 1
    assert f"| email | `[EMAIL]` | scrub | scrub | {report['pii_scrubbed']['email']} | 0 |" in text
    assert "| phone | `[PHONE]` | scrub | off |" in text and "| card | `[CARD]` | reject | reject |" in text
    assert "| near_duplicate.jaccard_threshold | 0.85 |" in text  # the gate's thresholds, as its report recorded them
    # Every split's exports, listed on the card, inside the folder that is pushed.
    assert set(result["splits"]) == {"train", "test"} and gate["accepted"] == sum(result["splits"].values())
    for split, n in result["splits"].items():
        assert f"| {split} | `exports/alpaca/{split}.json` | `exports/sharegpt/{split}.json` |" in text
        assert len(json.loads(Path(result["exports"]["alpaca"][split]).read_text(encoding="utf-8"))) == n
    assert Path(result["exports"]["dataset_info"]).parent == tmp_path / "ds" / "exports"


def test_card_without_gate_report_or_documents_says_what_is_unknown(tmp_path):
    write_records(_records(12), tmp_path / "accepted", InstructionRecord)
    publish_file(tmp_path / "accepted.parquet", tmp_path / "ds", pretty_name="Bare", license="cc-by-4.0")
    text = (tmp_path / "ds" / "README.md").read_text(encoding="utf-8")
    assert "Crawl dates not recorded" in text and "No PII policy recorded" in text
