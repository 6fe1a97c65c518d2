"""Near-duplicate detection, decontamination and the quality report."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from validate.decontam import contaminated, load_eval_sets
from validate.dedup import near_duplicates
from validate.gate import REASONS
from validate.report import build_report, summary_table_markdown
from validate.text import content_hash

EN = (
    "Photosynthesis converts light energy into chemical energy in plants. Light is absorbed by pigments in the "
    "thylakoid membranes, water is split, oxygen is released, and the energy is stored in ATP and NADPH, which "
    "the Calvin cycle then uses to fix carbon dioxide into sugars that feed the plant."
)
ZH = (
    "光合作用是植物利用光能把二氧化碳和水轉換成葡萄糖與氧氣的過程。葉綠素吸收光能後，水分子被分解並釋放氧氣，"
    "能量先儲存在三磷酸腺苷與還原型輔酶之中，接著卡爾文循環再利用這些能量把二氧化碳固定成糖類，供植物生長使用。"
)
EN_EVAL = (
    "A train leaves the station at nine in the morning travelling at sixty miles per hour towards the coast; "
    "when does it arrive?"
)
ZH_EVAL = "小明有十二顆蘋果，他把其中三分之一分給小華，又吃掉兩顆，請問小明最後還剩下幾顆蘋果？"


def _rec(instruction: str, output: str, lang: str = "en", task: str = "faq_qa") -> dict:
    return {
        "id": content_hash(instruction, "", output),
        "instruction": instruction,
        "input": "",
        "output": output,
        "task_type": task,
        "language": lang,
        "generator": "rule:test",
        "source_ref": "https://example.org/x",
        "created_at": "2024-01-01T00:00:00Z",
    }


@pytest.fixture()
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            _rec("What is photosynthesis?", EN),  # 0
            _rec("What is photosynthesis?", EN.replace("feed the plant", "feed the green plant")),  # 1, longer
            _rec("什麼是光合作用？", ZH, "zh-Hant"),  # 2
            _rec("什麼是光合作用？", ZH.replace("供植物生長使用", "供植物生長之用"), "zh-Hant"),  # 3, same length
            _rec("How do B-trees keep lookups fast?", "They keep the tree balanced so every lookup is logarithmic."),
            _rec("請介紹台北的捷運系統。", "台北捷運共有多條路線，串連市區與新北市，是通勤的主要交通工具。", "zh-Hant"),
            _rec("What is photosynthesis?", EN),  # 6, exact copy of 0
        ]
    )


def test_near_duplicates_finds_edits_and_keeps_deterministically(frame):
    keep, clusters = near_duplicates(frame)
    assert sorted(map(sorted, clusters)) == [[0, 1, 6], [2, 3]]
    # longest output wins: row 1 has the added word
    en_cluster = next(c for c in clusters if 1 in c)
    assert en_cluster[0] == 1
    # equal lengths: the smallest id wins
    zh_cluster = next(c for c in clusters if 2 in c)
    assert zh_cluster[0] == min((2, 3), key=lambda r: frame.loc[r, "id"])
    assert keep[[4, 5]].all()
    assert keep.sum() == len(frame) - 3
    # same answer on a shuffled frame (keep rule does not depend on row order)
    shuffled = frame.sample(frac=1, random_state=3)
    keep2, _ = near_duplicates(shuffled)
    assert set(shuffled.loc[keep2.to_numpy(), "id"]) == set(frame.loc[keep.to_numpy(), "id"])


def test_decontam_hits_named_items(tmp_path, frame):
    (tmp_path / "mathqa.jsonl").write_text(
        json.dumps({"question": "Name the tallest mountain on the planet and say how high it rises above sea level."})
        + "\n"
        + json.dumps({"question": EN_EVAL, "answer": "noon"})
        + "\n",
        "utf-8",
    )
    pd.DataFrame({"problem": [ZH_EVAL], "solution": ["六顆"]}).to_csv(tmp_path / "zhmath.csv", index=False)
    items = load_eval_sets([tmp_path / "mathqa.jsonl", tmp_path / "zhmath.csv"])
    assert [(i.set_name, i.item_index) for i in items] == [("mathqa", 0), ("mathqa", 1), ("zhmath", 0)]
    df = pd.concat(
        [
            frame,
            pd.DataFrame(
                [
                    _rec("Solve this: " + EN_EVAL, "It arrives at noon."),
                    _rec("請回答：" + ZH_EVAL, "六顆。", "zh-Hant"),
                    _rec("Write about trains travelling at night", "A poem about sixty miles per hour."),
                ]
            ),
        ],
        ignore_index=True,
    )
    mask, hits = contaminated(df, items)
    assert mask.tolist() == [False] * len(frame) + [True, True, False]
    by_row = {r["row"]: r["items"] for r in hits["records"]}
    assert by_row == {7: [{"set": "mathqa", "index": 1}], 8: [{"set": "zhmath", "index": 0}]}
    assert {(h["set"], h["index"]) for h in hits["items_hit"]} == {("mathqa", 1), ("zhmath", 0)}
    assert hits["by_set"]["mathqa"]["hit"] == 1


def test_report_written_and_self_contained(tmp_path, frame):
    quarantined = pd.DataFrame([_rec("Say <noinput> please", "As an AI language model I cannot")])
    quarantined[REASONS] = [["template_leak", "output:refusal_boilerplate"]]
    keep, clusters = near_duplicates(frame)
    gate_report = {"input": len(frame) + 1, "accepted": len(frame), "quarantined": 1}
    hits = {"n": 13, "records": [{"row": 4, "id": "x", "items": [{"set": "s", "index": 0}]}], "items_hit": []}
    rep = build_report(frame, quarantined, gate_report, clusters, hits, tmp_path)
    html = (tmp_path / "quality_report.html").read_text("utf-8")
    data = json.loads((tmp_path / "quality_report.json").read_text("utf-8"))
    assert data["duplicates"]["removed"] == 3 == rep["duplicates"]["removed"]
    assert data["failures_by_check"] == {"output:refusal_boilerplate": 1, "template_leak": 1}
    assert "http://" not in html and "https://" not in html.replace("https://example.org/x", "")
    assert not re.search(r'src="(?!data:)', html)
    assert "data:image/png;base64," in html
    for section in ("lengths", "languages", "task-types", "failures", "duplicates", "decontamination"):
        assert f'id="{section}"' in html
    assert "&lt;noinput&gt;" in html and "<noinput>" not in html
    assert "光合作用" in html
    md = summary_table_markdown(rep)
    assert md.startswith("| Metric | Value |") and "| Near-duplicates removed | 3 |" in md
    assert "template_leak" in md
