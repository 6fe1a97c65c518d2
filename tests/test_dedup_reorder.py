"""Near-duplicates by reordering: the same sentences or list items in another order, and pangu spacing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validate import dedup
from validate.dedup import confirmed_pairs, near_duplicates, reorder_segments
from validate.text import content_hash


def _frame(rows: list[tuple[str, str]], lang: str = "en") -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "id": content_hash(i, "", o),
                "instruction": i,
                "input": "",
                "output": o,
                "task_type": "open_qa",
                "language": lang,
                "generator": "rule:test",
                "source_ref": "https://example.org/x",
                "created_at": "2024-01-01T00:00:00Z",
            }
            for i, o in rows
        ]
    )


def _jaccard(df: pd.DataFrame) -> float:
    flat, off = dedup.frame_shingles(df).in_row_order()
    return float(dedup.exact_jaccard(flat, off, np.array([[0, 1]]))[0])


def _merged(a: tuple[str, str], b: tuple[str, str], lang: str = "en") -> bool:
    df = _frame([a, b], lang)
    return [0, 1] in confirmed_pairs(df)[0].tolist()


GC = "Summarise how the garbage collector finds reference cycles."
S1 = "The collector keeps a list of every container object."
S2 = "It subtracts the references each container holds to the others."
S3 = "Whatever keeps a count above zero is reachable from outside."
STEPS = ["Install the package with apt", "Edit the configuration file in /etc", "Restart the service and read its log"]

ZH_HANT_Q = "請說明光合作用。"
ZH_HANT = [
    "光合作用發生在植物細胞的葉綠體之中。",
    "葉綠素會吸收紅光與藍光並且反射綠光。",
    "所以大多數的植物葉片看起來是綠色的。",
]
ZH_HANS_Q = "请把下列步骤整理成清单。"
ZH_HANS = ["使用 apt 安装所需要的全部软件包", "编辑 /etc 目录下面的主要配置文件", "重新启动服务然后检查它的运行日志"]


def _numbered(items: list[str], order: list[int], labels_move: bool = True) -> str:
    return "\n".join(f"{(k if labels_move else n) + 1}. {items[k]}" for n, k in enumerate(order))


@pytest.mark.parametrize(
    ("a", "b", "lang"),
    [
        ((GC, f"{S1} {S2} {S3}"), (GC, f"{S2} {S1} {S3}"), "en"),  # two sentences swapped
        ((GC, f"{S1}\n{S2}\n{S3}"), (GC, f"{S3}\n{S1}\n{S2}"), "en"),  # one line moved, spacing kept
        (
            ("Turn this into steps.", _numbered(STEPS, [0, 1, 2])),
            ("Turn this into steps.", _numbered(STEPS, [1, 0, 2])),
            "en",
        ),
        ((ZH_HANT_Q, "".join(ZH_HANT)), (ZH_HANT_Q, "".join([ZH_HANT[1], ZH_HANT[0], ZH_HANT[2]])), "zh-Hant"),
        ((ZH_HANS_Q, _numbered(ZH_HANS, [0, 1, 2])), (ZH_HANS_Q, _numbered(ZH_HANS, [0, 2, 1])), "zh-Hans"),
        (  # reordered and re-spaced: pangu spacing off, a line break after a sentence, capitals
            (
                ZH_HANS_Q,
                "使用 apt 安装软件包，再编辑配置文件。接着重新启动服务并检查运行日志。"
                "最后确认 Nginx 已经开始监听端口。",
            ),
            (
                ZH_HANS_Q,
                "接着重新启动服务并检查运行日志。\n使用APT安装软件包，再编辑配置文件。最后确认nginx已经开始监听端口。",
            ),
            "zh-Hans",
        ),
    ],
)
def test_reordered_sentences_and_items_are_near_duplicates(a, b, lang):
    df = _frame([a, b], lang)
    assert _jaccard(df) < 0.85  # the shingles alone miss them: the reorder rule catches them
    assert _merged(a, b, lang)
    keep, clusters = near_duplicates(df)
    assert clusters == [[0, 1]] or clusters == [[1, 0]]
    assert int(keep.sum()) == 1


def test_pangu_spacing_in_mostly_english_text_is_a_near_duplicate():
    # Han share under 30%: the word path, where "nginx套件" was one token and "nginx 套件" two
    q = "How do I set up the web server?"
    a = (q, "Use apt to install the nginx套件 first, then edit /etc/nginx/nginx.conf and reload it with systemctl.")
    b = (q, "Use apt to install the nginx 套件 first, then edit /etc/nginx/nginx.conf and reload it with systemctl.")
    assert _jaccard(_frame([a, b])) == 1.0
    assert _merged(a, b)


@pytest.mark.parametrize(
    ("a", "b", "lang"),
    [
        # a number differs (and the sentences are reordered): two facts, not one
        (
            (
                "Describe the cache.",
                "The cache holds 64 entries. Entries expire after 10 minutes. Misses go to the database.",
            ),
            (
                "Describe the cache.",
                "Entries expire after 15 minutes. The cache holds 64 entries. Misses go to the database.",
            ),
            "en",
        ),
        (("Is 7 prime?", "Yes, 7 is a prime number."), ("Is 11 prime?", "Yes, 11 is a prime number."), "en"),
        (
            ("介绍一下这个缓存。", "缓存最多保存 64 个条目。每个条目在 10 分钟之后过期。未命中时会去查询数据库。"),
            ("介绍一下这个缓存。", "每个条目在 15 分钟之后过期。缓存最多保存 64 个条目。未命中时会去查询数据库。"),
            "zh-Hans",
        ),
        # a genuinely different sentence besides the swap
        ((GC, f"{S1} {S2} {S3}"), (GC, f"{S2} {S1} Objects that nothing else refers to are then freed."), "en"),
        # short answers swapped: the order is the answer
        (
            ("Answer in order: is 7 prime? is 8 prime?", "Yes. No."),
            ("Answer in order: is 7 prime? is 8 prime?", "No. Yes."),
            "en",
        ),
        # list labels stay, items swap: another order of steps
        (
            ("Turn this into steps.", _numbered(STEPS, [0, 1, 2])),
            ("Turn this into steps.", _numbered(STEPS, [1, 0, 2], labels_move=False)),
            "en",
        ),
        (
            (ZH_HANS_Q, _numbered(ZH_HANS, [0, 1, 2])),
            (ZH_HANS_Q, _numbered(ZH_HANS, [0, 2, 1], labels_move=False)),
            "zh-Hans",
        ),
        # a sentence moved from the question to the answer (a translation turned round)
        (
            ("Translate into French.\nThe black cat sleeps on the warm mat.", "Le chat noir dort sur le tapis chaud."),
            ("Translate into French.\nLe chat noir dort sur le tapis chaud.", "The black cat sleeps on the warm mat."),
            "en",
        ),
        # zh-Hant: one sentence replaced by another
        (
            (ZH_HANT_Q, "".join(ZH_HANT)),
            (ZH_HANT_Q, ZH_HANT[1] + ZH_HANT[0] + "秋天時葉綠素分解，葉子因而轉為黃色或紅色。"),
            "zh-Hant",
        ),
        (
            ("7 是質數嗎？", "是的，7 是質數，只能被 1 和自己整除。"),
            ("11 是質數嗎？", "是的，11 是質數，只能被 1 和自己整除。"),
            "zh-Hant",
        ),
    ],
)
def test_different_rows_are_kept(a, b, lang):
    assert not _merged(a, b, lang)
    keep, clusters = near_duplicates(_frame([a, b], lang))
    assert clusters == [] and bool(keep.all())


def test_reorder_segments():
    assert reorder_segments("Hi team,\n\nRead the docs. It HELPS!  Thanks,\nAnn") == (
        False,
        [("hi", "team,"), ("read", "the", "docs."), ("it", "helps!"), ("thanks,",), ("ann",)],
    )
    # list labels do not end a segment; pangu spacing does not split a token differently
    assert reorder_segments("1. Use apt\n2. 說明v2 ok fine")[1] == [
        ("1.", "use", "apt"),
        ("2.", "說明", "v2", "ok", "fine"),
    ]
    cjk, segs = reorder_segments("各位好：\n推薦閱讀 ssh-agent。A. 太陽是恆星！結束")
    assert cjk and ["".join(s) for s in segs] == ["各位好:", "推薦閱讀ssh-agent.", "a.太陽是恆星!", "結束"]


def test_keeper_is_the_usual_one():
    # the cluster keeps the longest output, then the smallest id, as for every near-duplicate cluster
    a = (GC, f"{S1} {S2} {S3}")
    b = (GC, f"{S2} {S1} {S3}")
    c = (GC, f"{S3} {S1} {S2}  ")
    df = _frame([a, b, c])
    keep, clusters = near_duplicates(df)
    ids = df["id"].tolist()
    want = min(range(3), key=lambda r: (-len(df["output"][r]), ids[r], r))
    assert keep.tolist() == [r == want for r in range(3)]
    assert clusters[0][0] == want and sorted(clusters[0]) == [0, 1, 2]


def test_candidates_cover_every_reorder():
    # Whenever the segments of every field agree as multisets, the vectorised order keys agree too (the
    # candidate step never loses a pair the check would accept), on random text with marks, labels, lines,
    # Han and mixed spacing.
    rng = np.random.default_rng(7)
    pieces = ["alpha", "Beta", "gamma.", "delta!", "1.", "a.", "iv.", "ok?", "x9", "光合", "作用。", "的bug", "v2說明",
              "ssh-agent。", "，", "是", "中文字", "e.g.", "3.14."]  # fmt: skip
    frames = []
    for _ in range(200):
        lines = [" ".join(rng.choice(pieces, size=rng.integers(1, 8))) for _ in range(rng.integers(2, 6))]
        moved = [lines[k] for k in rng.permutation(len(lines))]
        instr = " ".join(rng.choice(pieces, size=4))
        frames.append((instr, "\n".join(lines), "\n".join(moved)))
    df = _frame([(i, o) for i, o, _ in frames] + [(i, m) for i, _, m in frames])
    sh = dedup.frame_shingles(df)
    pos = np.empty(len(df), dtype=np.int64)
    pos[sh.rows] = np.arange(len(df))
    n = len(frames)
    checked = 0
    for k, (_, out, moved) in enumerate(frames):
        sa, sb = (reorder_segments(t) for t in (out, moved))
        if sa[0] != sb[0] or sorted(sa[1]) != sorted(sb[1]):
            continue
        checked += 1
        assert sh.reorder.order[pos[k]] == sh.reorder.order[pos[n + k]], (out, moved)
    assert checked > 150


@pytest.mark.parametrize("n", [dedup.WORD_NGRAM, dedup.CJK_NGRAM])
def test_crossing_windows_match_a_dense_reference(n):
    # The windows that span a segment start, found from the (few) starts alone, against every window tried.
    rng = np.random.default_rng(n)
    counts = rng.integers(0, 14, 300)
    total = int(counts.sum())
    seg = dedup._starts_of(total, counts, rng.integers(0, total, total // 3))
    starts = set(seg.tolist())
    want, out, first = [], 0, 0
    for c in counts.tolist():
        for k in range(max(c - n + 1, 1)):
            if c >= n and any(first + k + i in starts for i in range(1, n)):
                want.append(out)
            out += 1
        first += c
    assert dedup._crossing(seg, counts, n).tolist() == want
