"""Train the ending model (validate/ending.py): complete text against cuts of it, dev-side sources only.

    OMP_NUM_THREADS=1 .venv/bin/python bench/ending_model.py [--write]

Complete answers are what the gate's evaluation sources hold on the dev side of their split (bench/gate_evalset.py
decides the split by a seeded hash of each documentation section): paragraphs, whole lists, table cells and
section titles of the Debian Reference in en / zh-Hant / zh-Hans and of the Python documentation. Cuts are made
here from the same texts, the ways a generation stops: at a random character, before a space or a Chinese
comma, after k rough tokens, inside a later list item; a cut that ends on a final mark is dropped (nothing
could tell it from a finished answer). Sections are split again 80/20 and the 20 % show the operating points;
the held-out split of the evaluation set is never read. ``--write`` stores the weights in
validate/ending_model.npz (the thresholds are gate settings, validate/gate_defaults.yaml). Training takes
seconds; the build is deterministic.
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gate_evalset as evalset  # noqa: E402

from validate import ending  # noqa: E402

ASK = {"en": "Explain {t}.", "zh-Hant": "請說明「{t}」。", "zh-Hans": "请说明“{t}”。"}


def complete_texts(seed: int) -> list[tuple[str, str, str, str]]:
    """(section key, language, task type, text) of every complete answer on the dev side."""
    docs = evalset.CACHE / "x" / "usr" / "share"
    if not (docs / "debian-reference").is_dir():
        evalset.fetch_sources()
    sections = evalset.load_debian_reference(docs / "debian-reference")
    pydocs = [d for d in sorted(docs.glob("doc/python3*/html")) if d.is_dir()]
    if pydocs:
        sections += evalset.load_python_docs(pydocs[0])
    out = []
    for s in sections:
        if evalset.split_of(s.key, evalset.SEED) != "dev":
            continue
        for lang, title in s.title.items():
            if title:
                out.append((s.key, lang, "title_generation", title))
        for p in s.paras:
            for lang, (text, _) in p.items():
                out.append((s.key, lang, "section_qa", text))
        for lst in s.lists:
            for lang, items in lst.items():
                items = [x for x in items if x]
                if len(items) >= 2:
                    out.append((s.key, lang, "list_answer", "\n".join(f"- {x}" for x in items)))
                    out.append((s.key, lang, "list_answer", "\n".join(f"{i}. {x}" for i, x in enumerate(items, 1))))
        for table in s.tables:
            for lang, (_, rows) in table.items():
                for row in rows:
                    out.extend((s.key, lang, "closed_qa", c) for c in row if len(c) >= 4)
    return out


def cuts(text: str, lang: str, rng: random.Random) -> list[str]:
    n = len(text)
    if n < 8:
        return []
    made = [text[: rng.randint(max(3, n // 4), n - 2)]]
    breaks = [m.start() for m in re.finditer(r" |[，、；]", text) if n // 5 < m.start() < n - 2]
    if breaks:
        made.append(text[: rng.choice(breaks)])
    tokens = re.findall(r"\S+\s*", text) if lang == "en" else re.findall(r"[\u3400-\u9fff]|[^\u3400-\u9fff]+", text)
    if len(tokens) > 5:
        made.append("".join(tokens[: rng.randint(3, len(tokens) - 2)]))
    lines = text.split("\n")
    if len(lines) >= 3:
        k = rng.randint(1, len(lines) - 1)
        if len(lines[k]) > 6:
            made.append("\n".join([*lines[:k], lines[k][: rng.randint(3, len(lines[k]) - 2)]]))
    return [c.rstrip() for c in made if c.strip() and c.rstrip()[-1] not in ending.COMPLETE_MARKS]


def examples(seed: int) -> list[tuple[str, str, str, str, int]]:
    """(section, language, task, text, label: 1 cut / 0 complete)."""
    rng = random.Random(seed)
    rows = []
    for key, lang, task, text in complete_texts(seed):
        rows.append((key, lang, task, text, 0))
        rows.extend((key, lang, task, c, 1) for c in cuts(text, lang, rng))
    return rows


def fit(feats: list[list[int]], labels: np.ndarray, epochs: int = 60, l2: float = 1e-4) -> np.ndarray:
    """Logistic regression over hashed features (a bag of buckets), full batch, Adam."""
    torch.manual_seed(0)
    flat = torch.tensor([b for f in feats for b in f])
    offsets = torch.tensor(np.cumsum([0, *[len(f) for f in feats[:-1]]]))
    y = torch.tensor(labels, dtype=torch.float32)
    pos = float(labels.mean())
    weight = torch.where(y > 0, 0.5 / pos, 0.5 / (1 - pos))  # each class half the loss
    bag = torch.nn.EmbeddingBag(ending.BUCKETS, 1, mode="sum")
    torch.nn.init.zeros_(bag.weight)
    opt = torch.optim.Adam(bag.parameters(), lr=0.05)
    for _ in range(epochs):
        opt.zero_grad()
        z = bag(flat, offsets).squeeze(1)
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(z, y, reduction="none") * weight).mean()
        (loss + l2 * bag.weight.pow(2).sum()).backward()
        opt.step()
    return bag.weight.detach().squeeze(1).numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--write", action="store_true", help="store the weights in validate/ending_model.npz")
    args = ap.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]))
    print(f"machine: {platform.platform()} | python {platform.python_version()}")
    start = time.perf_counter()
    rows = examples(args.seed)
    held = [zlib.crc32(r[0].encode()) % 5 == 0 for r in rows]  # whole sections: 20 % to pick the threshold
    feats = [[ending.bucket(f) for f in ending.features(r[3], r[2])] for r in rows]
    labels = np.array([r[4] for r in rows])
    train = [i for i, h in enumerate(held) if not h]
    w = fit([feats[i] for i in train], labels[train])
    z = np.array([w[f].sum() for f in feats])
    unmarked = np.array([r[3].rstrip()[-1] not in ending.COMPLETE_MARKS for r in rows])
    val = np.array(held)
    clean = val & (labels == 0) & unmarked
    cut = val & (labels == 1)
    print(f"examples: {len(rows)} ({int(labels.sum())} cuts) from {len({r[0] for r in rows})} dev sections")
    print("on the 20 % of sections held out of the fit (the gate's defaults: keep at most 0.0, cut above 4.0):")
    for lang in ("en", "zh-Hant", "zh-Hans"):
        is_lang = np.array([r[1] == lang for r in rows])
        c, k = clean & is_lang, cut & is_lang
        for logit in (0.0, 4.0):
            called, caught = (z[c] > logit).mean(), (z[k] > logit).mean()
            print(f"  {lang:8} log-odds > {logit}: complete without a final mark called cut {called:.3f} "
                  f"of {int(c.sum())}, cuts {caught:.3f} of {int(k.sum())}")  # fmt: skip
    if args.write:
        np.savez_compressed(ending.MODEL_PATH, weights=w.astype(np.float16))
        print(f"wrote {ending.MODEL_PATH.relative_to(ROOT)} ({ending.MODEL_PATH.stat().st_size:,} bytes)")
    print(f"time: {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
