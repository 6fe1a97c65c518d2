"""Export accepted records for fine-tuning tools: Alpaca JSON, ShareGPT JSON and LLaMA-Factory's dataset_info.json.

- Alpaca: a JSON list of ``{"instruction", "input", "output"}``.
- ShareGPT: a JSON list of ``{"conversations": [{"from": "human", "value"}, {"from": "gpt", "value"}]}``;
  a non-empty ``input`` is appended to the human turn after a blank line.
- ``dataset_info.json``: one entry per file in LLaMA-Factory's documented format
  (``file_name``, ``formatting`` "alpaca" | "sharegpt", ``columns``, and ``tags`` for ShareGPT).

The files go to ``exports/`` next to the published folder (``<folder>/../exports``) unless told otherwise.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


def to_alpaca(df: pd.DataFrame) -> list[dict]:
    return [
        {"instruction": str(r.instruction), "input": str(r.input or ""), "output": str(r.output)}
        for r in df.itertuples(index=False)
    ]


def to_sharegpt(df: pd.DataFrame) -> list[dict]:
    out = []
    for r in df.itertuples(index=False):
        human = str(r.instruction) + (f"\n\n{r.input}" if str(r.input or "").strip() else "")
        out.append({"conversations": [{"from": "human", "value": human}, {"from": "gpt", "value": str(r.output)}]})
    return out


def dataset_info(name: str, alpaca_file: str, sharegpt_file: str) -> dict:
    """LLaMA-Factory ``data/dataset_info.json`` entries for the two files."""
    return {
        f"{name}_alpaca": {
            "file_name": alpaca_file,
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        },
        f"{name}_sharegpt": {
            "file_name": sharegpt_file,
            "formatting": "sharegpt",
            "columns": {"messages": "conversations"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        },
    }


def write_exports(
    records: pd.DataFrame | str | Path,
    folder: str | Path,
    *,
    name: str = "dataagent",
    out_dir: str | Path | None = None,
) -> dict:
    """Write ``<name>_alpaca.json``, ``<name>_sharegpt.json`` and ``dataset_info.json``; returns their paths."""
    if not isinstance(records, pd.DataFrame):
        from validate.contracts import InstructionRecord
        from validate.io import read_records

        records = read_records(records, InstructionRecord)
    out = Path(out_dir) if out_dir is not None else Path(folder).resolve().parent / "exports"
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "alpaca": (out / f"{name}_alpaca.json", to_alpaca(records)),
        "sharegpt": (out / f"{name}_sharegpt.json", to_sharegpt(records)),
    }
    for path, rows in files.values():
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    info_path = out / "dataset_info.json"
    info = json.loads(info_path.read_text(encoding="utf-8")) if info_path.exists() else {}
    info.update(dataset_info(name, files["alpaca"][0].name, files["sharegpt"][0].name))
    info_path.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return {
        "alpaca": str(files["alpaca"][0]),
        "sharegpt": str(files["sharegpt"][0]),
        "dataset_info": str(info_path),
        "records": len(records),
    }
