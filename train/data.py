"""Prompt formatting and tokenisation with the loss on the response only."""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch

ALPACA = (
    "Below is an instruction that describes a task{ctx}. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n{input_block}### Response:\n"
)
IGNORE = -100


def alpaca_prompt(instruction: str, input_: str = "") -> str:
    has_input = bool(input_ and input_.strip())
    return ALPACA.format(
        ctx=", paired with an input that provides further context" if has_input else "",
        instruction=instruction,
        input_block=f"### Input:\n{input_}\n\n" if has_input else "",
    )


def encode_example(tokenizer: object, prompt: str, response: str, max_len: int) -> dict[str, list[int]]:
    """input_ids and labels; prompt tokens are masked so only the response is learned.

    The prompt is cut from the left when too long: the response must always be present.
    """
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    r = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    r = r[: max_len - 8]
    p = [tokenizer.bos_token_id] + p[-(max_len - len(r) - 1) :]
    return {"input_ids": p + r, "labels": [IGNORE] * len(p) + r}


def encode_records(tokenizer: object, records: list[dict], max_len: int) -> list[dict[str, list[int]]]:
    return [
        encode_example(tokenizer, alpaca_prompt(r["instruction"], r.get("input", "")), r["output"], max_len)
        for r in records
    ]


def encode_text_blocks(tokenizer: object, texts: list[str], block: int) -> list[dict[str, list[int]]]:
    """Plain causal-LM blocks over raw text (the short pretraining pass)."""
    ids: list[int] = []
    for text in texts:
        ids += [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    return [{"input_ids": ids[i : i + block], "labels": ids[i : i + block]} for i in range(0, len(ids) - 1, block)]


def collate(examples: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"])
        labels[i, :n] = torch.tensor(e["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def batches(examples: list[dict], batch_size: int, pad_id: int, seed: int) -> Iterator[dict[str, torch.Tensor]]:
    """An endless shuffled stream of padded batches, reshuffled each epoch with a fixed seed."""
    rng = random.Random(seed)
    order = list(range(len(examples)))
    while True:
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            yield collate([examples[j] for j in order[i : i + batch_size]], pad_id)
