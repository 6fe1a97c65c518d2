"""Importing existing datasets for the gate: Alpaca, ShareGPT, OpenAI chat, Hugging Face folders, --map.

Every input is a real file in its real format, written here; nothing is mocked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from synth.records import make_record
from validate.errors import DataAgentError
from validate.importers import check_accounting, check_language, import_dataset, parse_map, reads_as_records

CMD = [sys.executable, "-m", "dataagent"]

ZH_Q, ZH_A = "這個產品的保固期是多久？", "本產品提供兩年保固，從購買日起算，請保留發票。"
ALPACA = [
    {"instruction": "What is the capital of France?", "input": "", "output": "The capital of France is Paris."},
    {
        "instruction": "Summarise the passage in one sentence.",
        "input": "Cats sleep for most of the day and hunt at night, when their prey is active.",
        "output": "Cats sleep through the day and hunt at night.",
        "category": "Summarization",
    },
    {"instruction": "Name a primary colour.", "input": ""},  # no output
    {"instruction": "List two fruits.", "input": "", "output": ["apple", "pear"]},  # a list, not text
    {"instruction": ZH_Q, "input": "", "output": ZH_A, "category": "Open QA"},
]


def _id(instruction: str, output: str, input_: str = "") -> str:
    """The id synth gives the same texts: imported and synthesised copies of an example must collide."""
    return make_record(instruction, output, input=input_, task_type="x", language="en", generator="g", source_ref="s")[
        "id"
    ]


def _write_json(path: Path, rows: list) -> Path:
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def _write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _reasons(result) -> dict[int, str]:
    return {r["source_row"]: r["quarantine_reasons"][0] for r in result.rejects}


def test_alpaca_json_array(tmp_path):
    path = _write_json(tmp_path / "alpaca.json", ALPACA)
    result = import_dataset(str(path))
    assert result.summary["format"] == "alpaca"
    assert _reasons(result) == {3: "import:missing_output", 4: "import:not_a_string"}
    assert json.loads(result.rejects[1]["raw"])["output"] == ["apple", "pear"]
    by_row = {r["source_row"]: r for r in result.records}
    assert sorted(by_row) == [1, 2, 5]
    for n, rec in by_row.items():
        src = ALPACA[n - 1]
        assert rec["id"] == _id(src["instruction"], src["output"], src["input"])
        assert rec["source_ref"] == f"{path}#row={n}"
        assert rec["generator"] == "import:alpaca"
    assert by_row[2]["input"].startswith("Cats sleep")
    assert [by_row[n]["task_type"] for n in (1, 2, 5)] == ["general", "summarization", "open_qa"]
    assert [by_row[n]["language"] for n in (1, 2, 5)] == ["en", "en", "zh-Hant"]
    assert (result.summary["source_rows"], result.summary["rows_converted"], result.summary["rejected"]) == (5, 3, 2)


def test_alpaca_jsonl_keeps_line_numbers_and_rejects_unreadable_lines(tmp_path):
    path = tmp_path / "alpaca.jsonl"
    lines = [json.dumps(ALPACA[0]), "", "{not json", json.dumps(ALPACA[1]), json.dumps(["a", "list"])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = import_dataset(str(path), language="en")
    assert [r["source_ref"] for r in result.records] == [f"{path}#line=1", f"{path}#line=4"]
    assert {r["language"] for r in result.records} == {"en"}  # forced
    assert _reasons(result) == {3: "import:invalid_json", 5: "import:not_an_object"}
    assert result.summary["source_rows"] == 4  # the blank line holds no row
    with pytest.raises(DataAgentError, match=r"a JSON object, got invalid JSON.*line 3"):
        import_dataset(str(path), on_bad_line="error")


def test_sharegpt_single_multi_turn_and_no_answer(tmp_path):
    rows = [
        {"conversations": [{"from": "human", "value": "What is 2 + 2?"}, {"from": "gpt", "value": "2 + 2 is 4."}]},
        {
            "conversations": [
                {"from": "system", "value": "You are a terse maths tutor."},
                {"from": "human", "value": "What is 3 squared?"},
                {"from": "gpt", "value": "3 squared is 9."},
                {"from": "human", "value": "And cubed?"},
                {"from": "gpt", "value": "3 cubed is 27."},
            ]
        },
        {"conversations": [{"from": "human", "value": "Is anyone there?"}]},
        {"conversations": [{"from": "gpt", "value": "Hello!"}, {"from": "gpt", "value": "Anyone?"}]},
    ]
    path = _write_json(tmp_path / "sharegpt.json", rows)
    result = import_dataset(str(path))
    assert result.summary["format"] == "sharegpt"
    assert _reasons(result) == {3: "import:no_assistant_turn", 4: "import:bad_turn_order"}
    single, first, second = result.records
    assert (single["instruction"], single["input"], single["output"]) == ("What is 2 + 2?", "", "2 + 2 is 4.")
    assert single["source_ref"] == f"{path}#row=1"
    assert first["input"] == "[system]\nYou are a terse maths tutor."
    assert (first["instruction"], first["output"]) == ("What is 3 squared?", "3 squared is 9.")
    assert second["input"] == (
        "[system]\nYou are a terse maths tutor.\n\n[user]\nWhat is 3 squared?\n\n[assistant]\n3 squared is 9."
    )
    assert (second["instruction"], second["output"]) == ("And cubed?", "3 cubed is 27.")
    assert [first["source_ref"], second["source_ref"]] == [f"{path}#row=2&turn=1", f"{path}#row=2&turn=2"]
    assert second["id"] == _id("And cubed?", "3 cubed is 27.", second["input"])
    # 4 rows: 2 converted (giving 3 records), 2 rejected.
    s = result.summary
    assert (s["source_rows"], s["rows_converted"], s["records"], s["rejected"]) == (4, 2, 3, 2)


def test_openai_messages_with_system_prompt_and_malformed_messages(tmp_path):
    system = {"role": "system", "content": "Answer in one sentence."}
    rows = [
        {
            "messages": [
                system,
                {"role": "user", "content": "Why is the sky blue?"},
                {"role": "assistant", "content": "Air scatters blue light most."},
            ]
        },  # fmt: skip
        {"messages": [{"role": "user", "content": "Hi"}, "not a message"]},
        {"messages": [{"role": "user", "content": "Weather?"}, {"role": "tool", "content": "{}"}]},
        {"messages": [{"role": "user", "content": "Call it"}, {"role": "assistant", "content": None}]},
        {"messages": "user: hi"},
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": "Bye"},
            ]
        },  # fmt: skip
    ]
    result = import_dataset(str(_write_jsonl(tmp_path / "chat.jsonl", rows)))
    assert result.summary["format"] == "openai"
    (rec,) = result.records
    assert (rec["instruction"], rec["input"]) == ("Why is the sky blue?", "[system]\nAnswer in one sentence.")
    assert rec["generator"] == "import:openai"
    assert _reasons(result) == {
        2: "import:malformed_message",
        3: "import:unknown_role",
        4: "import:not_a_string",
        5: "import:malformed_conversation",
        6: "import:unanswered_user_turn",
    }


def _hf_rows() -> list[dict]:
    return [
        {"instruction": "Define entropy in one line.", "input": "", "output": "Entropy measures disorder."},
        {"instruction": ZH_Q, "input": "", "output": ZH_A},
    ]


def test_hf_save_to_disk_folder(tmp_path):
    import datasets

    datasets.Dataset.from_list(_hf_rows()).save_to_disk(str(tmp_path / "plain"))
    result = import_dataset(str(tmp_path / "plain"))
    assert [r["source_ref"] for r in result.records] == [f"{tmp_path / 'plain'}#row=1", f"{tmp_path / 'plain'}#row=2"]
    assert [r["language"] for r in result.records] == ["en", "zh-Hant"]

    dd = datasets.DatasetDict(
        train=datasets.Dataset.from_list(_hf_rows()), test=datasets.Dataset.from_list(_hf_rows()[:1])
    )
    dd.save_to_disk(str(tmp_path / "dict"))
    assert len(import_dataset(str(tmp_path / "dict")).records) == 2  # train by default
    test = import_dataset(str(tmp_path / "dict"), split="test")
    assert test.records[0]["source_ref"] == f"{tmp_path / 'dict'}:test#row=1"
    with pytest.raises(DataAgentError, match="no split 'dev'; the dataset has: train, test"):
        import_dataset(str(tmp_path / "dict"), split="dev")


def test_hf_hub_layout_folder(tmp_path):
    folder = tmp_path / "hub_layout"
    (folder / "data").mkdir(parents=True)
    pd.DataFrame(_hf_rows()).to_parquet(folder / "data" / "train-00000-of-00001.parquet", index=False)
    (folder / "README.md").write_text("# A dataset\n", encoding="utf-8")
    result = import_dataset(str(folder), fmt="hf")
    assert result.summary["format"] == "alpaca"
    assert [r["source_ref"] for r in result.records] == [f"{folder}:train#row=1", f"{folder}:train#row=2"]
    assert result.records[0]["id"] == _id(*(_hf_rows()[0][k] for k in ("instruction", "output")))


def test_map_renames_question_and_answer(tmp_path):
    rows = [
        {"question": "How many legs does a spider have?", "answer": "A spider has eight legs.", "topic": "Bio"},
        {"question": "What is H2O?", "answer": None},
    ]
    path = _write_jsonl(tmp_path / "qa.jsonl", rows)
    with pytest.raises(DataAgentError, match=r"columns \(question, answer, topic\).*--map"):
        import_dataset(str(path))
    result = import_dataset(str(path), mapping=parse_map("instruction=question, output=answer, task_type=topic"))
    (rec,) = result.records
    assert (rec["instruction"], rec["output"], rec["task_type"]) == (rows[0]["question"], rows[0]["answer"], "bio")
    assert rec["id"] == _id(rows[0]["question"], rows[0]["answer"])
    assert _reasons(result) == {2: "import:missing_output"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: import_dataset(str(p / "a.json"), fmt="xml"), "unknown --format 'xml'"),
        (lambda p: parse_map("instruction"), "bad --map 'instruction': expected field=column"),
        (lambda p: parse_map("prompt=question"), "--map: unknown field 'prompt'"),
        (
            lambda p: import_dataset(str(p / "a.json"), mapping={"instruction": "prompt"}),
            "--map: no column 'prompt' in the data; its columns are: instruction, input, output, category",
        ),
        (lambda p: import_dataset(str(p / "obj.json")), "neither a JSON array nor JSONL"),
        (lambda p: import_dataset(str(p / "a.json"), fmt="sharegpt"), "--format sharegpt needs the column"),
        (lambda p: import_dataset(str(p / "a.json"), split="train"), "--split applies to a dataset folder"),
        (lambda p: import_dataset("nobody/no-such-dataset"), "nor a loadable Hub dataset"),  # HF_HUB_OFFLINE=1
        (lambda p: check_language("Chinese"), "--language must be auto or a tag"),
    ],
)
def test_one_line_errors(tmp_path, call, message):
    _write_json(tmp_path / "a.json", ALPACA)
    (tmp_path / "obj.json").write_text('{"instruction": "x",\n "output": "y"}\n', encoding="utf-8")
    with pytest.raises(DataAgentError) as exc:
        call(tmp_path)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_contract_files_still_go_straight_to_the_gate(tmp_path):
    rec = make_record("Q?", "An answer.", task_type="faq_qa", language="en", generator="rule:t", source_ref="x")
    assert reads_as_records(str(_write_jsonl(tmp_path / "recs.jsonl", [rec])))
    assert not reads_as_records(str(_write_jsonl(tmp_path / "alpaca.jsonl", ALPACA)))
    # Our records in a container the gate cannot read pass through unchanged.
    result = import_dataset(str(_write_json(tmp_path / "recs.json", [rec])))
    assert result.summary["format"] == "records"
    assert {k: result.records[0][k] for k in rec} == rec


def test_cli_end_to_end(tmp_path):
    rows = [*ALPACA, dict(ALPACA[0])]  # the last row repeats the first: the gate must quarantine it
    path = _write_json(tmp_path / "x.json", rows)
    out = tmp_path / "gate"
    proc = subprocess.run(
        [*CMD, "validate", str(path), "--format", "auto", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    imp = summary["import"]
    assert summary["accepted"] + summary["quarantined"] + imp["rejected"] == imp["source_rows"] == len(rows)
    check_accounting(imp, summary)
    (warning,) = [x for x in proc.stderr.splitlines() if x.startswith("warning:")]
    assert "2 of 6 source rows rejected by the import" in warning and "import_quarantine.jsonl" in warning
    assert "1 of 4 imported records quarantined by the gate" in warning and "gate/quarantine.jsonl" in warning

    accepted = pd.read_parquet(out / "accepted.parquet")
    expected = {_id(r["instruction"], r["output"], r["input"]) for r in (rows[0], rows[1], rows[4])}
    assert set(accepted["id"]) == expected
    assert sorted(accepted["source_ref"]) == sorted(f"{path}#row={n}" for n in (1, 2, 5))
    assert accepted.set_index("instruction").loc[ZH_Q, "language"] == "zh-Hant"
    gated = pd.read_json(out / "quarantine.jsonl", lines=True)
    assert gated["source_row"].tolist() == [6]  # points back to the user's file, not to imported.jsonl
    rejected = pd.read_json(out / "import_quarantine.jsonl", lines=True)
    assert rejected["source_row"].tolist() == [3, 4]


def test_cli_when_every_row_is_rejected(tmp_path):
    path = _write_json(tmp_path / "bad.json", [{"instruction": "Only a question?", "output": None}])
    proc = subprocess.run(
        [*CMD, "validate", str(path), "--out", str(tmp_path / "gate")], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 2
    errors = [x for x in proc.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and "1 of 1 source rows rejected by the import" in errors[0], proc.stderr
    assert (tmp_path / "gate" / "import_quarantine.jsonl").read_text(encoding="utf-8").count("\n") == 1
