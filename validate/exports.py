"""Export accepted records for fine-tuning tools: Alpaca JSON, ShareGPT JSON and LLaMA-Factory's dataset_info.json.

- Alpaca: a JSON list of ``{"instruction", "input", "output"}``.
- ShareGPT: a JSON list of ``{"conversations": [{"from": "human", "value"}, {"from": "gpt", "value"}]}``;
  a non-empty ``input`` is appended to the human turn after a blank line.
- ``dataset_info.json``: one entry per file in LLaMA-Factory's documented format
  (``file_name``, ``formatting`` "alpaca" | "sharegpt", ``columns``, and ``tags`` for ShareGPT).

One file per split and format, inside the published folder so they travel with it (and its Hub push):
``<folder>/exports/alpaca/<split>.json``, ``<folder>/exports/sharegpt/<split>.json`` and
``<folder>/exports/dataset_info.json``. Keeping the splits apart keeps held-out rows out of a training file.
"""

from __future__ import annotations

import json
import shutil
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


EXPORTS_DIR = "exports"
FORMATS = {"alpaca": to_alpaca, "sharegpt": to_sharegpt}


def dataset_info(name: str, files: dict[str, dict[str, str]]) -> dict:
    """LLaMA-Factory ``data/dataset_info.json`` entries, ``<name>_<split>_<format>``, for ``files``
    ({format: {split: file name relative to the exports folder}})."""
    columns = {
        "alpaca": {"columns": {"prompt": "instruction", "query": "input", "response": "output"}},
        "sharegpt": {
            "columns": {"messages": "conversations"},
            "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"},
        },
    }
    return {
        f"{name}_{split}_{fmt}": {"file_name": file_name, "formatting": fmt, **columns[fmt]}
        for fmt, by_split in files.items()
        for split, file_name in by_split.items()
    }


def write_exports(
    splits: dict[str, pd.DataFrame] | pd.DataFrame | str | Path,
    folder: str | Path,
    *,
    name: str = "dataagent",
) -> dict:
    """Write ``<folder>/exports/<format>/<split>.json`` and ``<folder>/exports/dataset_info.json``.

    ``splits``: the published splits ({name: records}); a frame or a record file is exported as ``train``.
    Returns the exports folder, ``dataset_info``, per format ``{split: path}`` and ``records`` per split.
    """
    if isinstance(splits, (str, Path)):
        from validate.contracts import InstructionRecord
        from validate.io import read_records

        splits = read_records(splits, InstructionRecord)
    if isinstance(splits, pd.DataFrame):
        splits = {"train": splits}
    out = Path(folder) / EXPORTS_DIR
    for fmt, convert in FORMATS.items():
        (out / fmt).mkdir(parents=True, exist_ok=True)
        for old in (out / fmt).glob("*.json"):
            old.unlink()  # a re-publish without a split must not push that split's old export
        for split, frame in splits.items():
            rows = convert(frame)
            (out / fmt / f"{split}.json").write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    files = {fmt: {split: f"{fmt}/{split}.json" for split in splits} for fmt in FORMATS}
    (out / "dataset_info.json").write_text(
        json.dumps(dataset_info(name, files), ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return {**export_paths(folder, list(splits)), "records": {split: len(frame) for split, frame in splits.items()}}


def json_items(rows: list[dict]) -> str:
    """The items of ``json.dumps(rows, ensure_ascii=False, indent=1)``, the export files' layout, without the
    brackets: pieces written apart and joined by :func:`join_items` make the same file as the whole list."""
    # JSON strings hold no raw newline, so every newline here is layout: indented one more level in the list.
    return ",\n".join(" " + json.dumps(r, ensure_ascii=False, indent=1).replace("\n", "\n ") for r in rows)


def join_items(pieces: list[Path], dest: Path) -> None:
    """Write ``dest`` as the JSON list whose items are those of the :func:`json_items` files ``pieces``, in order,
    streamed: no piece is held in memory whole."""
    with dest.open("w", encoding="utf-8") as out:
        out.write("[\n" if pieces else "[]")
        for k, piece in enumerate(pieces):
            if k:
                out.write(",\n")
            with piece.open(encoding="utf-8") as src:
                shutil.copyfileobj(src, out, 1 << 20)
        if pieces:
            out.write("\n]")


def export_paths(folder: str | Path, splits: list[str]) -> dict:
    """Where :func:`write_exports` puts the exports of ``splits`` in ``folder``: the exports folder,
    ``dataset_info`` and, per format, ``{split: path}``."""
    out = Path(folder) / EXPORTS_DIR
    paths: dict = {"folder": str(out), "dataset_info": str(out / "dataset_info.json")}
    paths.update({fmt: {split: str(out / fmt / f"{split}.json") for split in splits} for fmt in FORMATS})
    return paths
