"""The smoke-train: does a LoRA pass over the published set lower held-out response loss?

Flow: load the published folder -> (tiny model: train a tokenizer and give the base a
short causal-LM pass on document text, since LoRA on a random base learns almost
nothing) -> held-out response loss -> LoRA on the train split -> held-out loss again.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import datasets
import torch
from tqdm import tqdm

from train import data, loop
from train.lora import LoraSettings, wrap_lora
from train.tiny import tiny_llama, train_tokenizer
from validate.contracts import Document
from validate.errors import DataAgentError
from validate.io import read_records


@dataclass
class SmokeConfig:
    dataset: str
    out_dir: str
    documents: str | None = None
    model: str | None = None  # local path or hub id; None builds a tiny Llama
    seed: int = 0
    max_len: int = 256
    batch_size: int = 8
    pretrain_steps: int = 300
    pretrain_lr: float = 3e-3
    steps: int = 200
    lr: float = 3e-3
    lora: LoraSettings = field(default_factory=LoraSettings)


def fresh_load_kwargs(path: str) -> dict:
    """For a local folder, rebuild the Arrow cache instead of reusing it.

    datasets 5.2 keys the cache of a folder whose card has YAML configs by the folder's
    basename and metadata, not by file contents: a re-published folder (or another one
    with the same name and split sizes) silently loads the old rows. Cheap to avoid.
    """
    return {"download_mode": "force_redownload"} if Path(path).is_dir() else {}


def load_published(path: str) -> tuple[list[dict], list[dict]]:
    """(train, held-out) records from a published folder or hub id; any split names."""
    try:
        ds = datasets.load_dataset(path, **fresh_load_kwargs(path))
    except Exception as exc:  # datasets raises many types for a missing or malformed set
        raise DataAgentError(f"{path}: cannot load the dataset ({exc.__class__.__name__}: {exc})") from exc
    names = list(ds.keys())
    held = next((n for n in names if n in ("test", "validation", "eval", "dev")), None)
    train_name = "train" if "train" in names else next(n for n in names if n != held)
    train_rows = list(ds[train_name])
    if held is None:
        # Hold out whole sources so rows of one document never sit on both sides.
        sources = sorted({r["source_ref"] for r in train_rows})
        random.Random(0).shuffle(sources)
        test_sources = set(sources[: max(1, len(sources) // 10)])
        return (
            [r for r in train_rows if r["source_ref"] not in test_sources],
            [r for r in train_rows if r["source_ref"] in test_sources],
        )
    return train_rows, list(ds[held])


def smoke_train(cfg: SmokeConfig, show_progress: bool = True) -> dict:
    torch.manual_seed(cfg.seed)
    train_rows, held_rows = load_published(cfg.dataset)
    if not train_rows or not held_rows:
        raise DataAgentError(f"{cfg.dataset}: need records in both a train and a held-out split")
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    texts = read_records(cfg.documents, Document)["text"].tolist() if cfg.documents else []
    report: dict = {
        "config": {k: v for k, v in asdict(cfg).items()},
        "train_records": len(train_rows),
        "heldout_records": len(held_rows),
    }

    if cfg.model:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(cfg.model)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(cfg.model)
    else:
        corpus = texts + [r["instruction"] + "\n" + r["input"] + "\n" + r["output"] for r in train_rows]
        tokenizer = train_tokenizer(corpus)
        model = tiny_llama(tokenizer, seed=cfg.seed)
        if texts and cfg.pretrain_steps:
            blocks = data.encode_text_blocks(tokenizer, texts, cfg.max_len)
            bar = tqdm(total=cfg.pretrain_steps, desc="pretrain base on documents", disable=not show_progress)
            pre = loop.run(
                model,
                data.batches(blocks, cfg.batch_size, tokenizer.pad_token_id, cfg.seed),
                steps=cfg.pretrain_steps,
                lr=cfg.pretrain_lr,
                progress=bar,
            )
            bar.close()
            report["pretrain"] = {
                "steps": pre.steps,
                "tokens": pre.tokens,
                "seconds": round(pre.seconds, 2),
                "first_loss": pre.train_losses[0],
                "last_loss": pre.train_losses[-1],
            }

    train_ex = data.encode_records(tokenizer, train_rows, cfg.max_len)
    held_ex = data.encode_records(tokenizer, held_rows, cfg.max_len)
    pad = tokenizer.pad_token_id
    before = loop.eval_loss(model, held_ex, pad)

    model = wrap_lora(model, cfg.lora)
    bar = tqdm(total=cfg.steps, desc="LoRA on instruction records", disable=not show_progress)
    result = loop.run(
        model,
        data.batches(train_ex, cfg.batch_size, pad, cfg.seed + 1),
        steps=cfg.steps,
        lr=cfg.lr,
        eval_every=max(1, cfg.steps // 5),
        eval_fn=lambda: loop.eval_loss(model, held_ex, pad),
        progress=bar,
    )
    bar.close()
    after = loop.eval_loss(model, held_ex, pad)

    adapter_dir = out / "adapter"
    model.save_pretrained(adapter_dir)
    tokenizer.save_pretrained(out / "tokenizer")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    report.update(
        heldout_response_loss_before=round(before, 4),
        heldout_response_loss_after=round(after, 4),
        loss_drop=round(before - after, 4),
        lora={
            "steps": result.steps,
            "tokens": result.tokens,
            "seconds": round(result.seconds, 2),
            "trainable_params": trainable,
            "eval_curve": result.eval_losses,
        },
        adapter=str(adapter_dir),
    )
    (out / "train_report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    return report
