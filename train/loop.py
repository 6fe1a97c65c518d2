"""The training loop, read in one sitting: AdamW, warmup + cosine, clipping, periodic eval."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from train.data import collate


@dataclass
class LoopResult:
    steps: int
    tokens: int
    seconds: float
    train_losses: list[float] = field(default_factory=list)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)


@torch.no_grad()
def eval_loss(model: torch.nn.Module, examples: list[dict], pad_id: int, batch_size: int = 16) -> float:
    """Mean loss per supervised token over ``examples`` (not a mean of batch means)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = collate(examples[i : i + batch_size], pad_id)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        shift_logits, shift_labels = logits[:, :-1].float(), batch["labels"][:, 1:]
        loss = torch.nn.functional.cross_entropy(
            shift_logits.reshape(-1, shift_logits.size(-1)),
            shift_labels.reshape(-1),
            ignore_index=-100,
            reduction="sum",
        )
        total += loss.item()
        count += int((shift_labels != -100).sum())
    model.train(was_training)
    return total / max(count, 1)


def run(
    model: torch.nn.Module,
    stream: Iterator[dict[str, torch.Tensor]],
    *,
    steps: int,
    lr: float,
    warmup: int = 10,
    weight_decay: float = 0.0,
    eval_every: int = 0,
    eval_fn: object = None,
    progress: object = None,
) -> LoopResult:
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)

    def lr_at(step: int) -> float:
        if step < warmup:
            return lr * (step + 1) / warmup
        frac = (step - warmup) / max(1, steps - warmup)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))

    result = LoopResult(steps=steps, tokens=0, seconds=0.0)
    model.train()
    start = time.perf_counter()
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        batch = next(stream)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        result.tokens += int(batch["attention_mask"].sum())
        result.train_losses.append(loss.item())
        if eval_every and eval_fn and (step + 1) % eval_every == 0:
            result.eval_losses.append((step + 1, eval_fn()))
        if progress is not None:
            progress.update(1)
    result.seconds = time.perf_counter() - start
    return result
