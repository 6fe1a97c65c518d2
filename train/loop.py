"""The training loop, read in one sitting: AdamW, warmup + cosine over a token budget, clipping, evals.

Runs through ``accelerate`` so the same loop serves one CPU, one GPU with bf16/fp16 autocast, and
``torchrun`` / ``accelerate launch`` with data parallelism (tested on CPU with gloo) or DeepSpeed ZeRO
(docs/TRAINING.md, docs/SCALEOUT.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
from accelerate import Accelerator

from train.data import IGNORE, collate
from validate.errors import DataAgentError


@dataclass
class LoopResult:
    steps: int = 0
    tokens: int = 0
    seconds: float = 0.0
    train_losses: list[tuple[int, float]] = field(default_factory=list)  # (tokens seen, loss)
    eval_losses: list[tuple[int, float]] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


def peak_memory_mb(device: str) -> float:
    """Peak memory so far: CUDA allocations on GPU, the process's peak RSS on CPU (Linux reports KiB)."""
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated() / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@torch.no_grad()
def eval_loss(model: torch.nn.Module, examples: list[dict], pad_id: int, batch_size: int = 16) -> float:
    """Mean loss per supervised token over ``examples`` (not a mean of batch means).

    Only the last ``len(input_ids)`` logits are scored: prompt-learning methods prepend virtual tokens.
    """
    was_training = model.training
    model.eval()
    device = next(p for p in model.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(examples), batch_size):
        batch = collate(examples[i : i + batch_size], pad_id)
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -ids.size(1) :]
        shift_logits, shift_labels = logits[:, :-1].float(), batch["labels"][:, 1:].to(device)
        loss = torch.nn.functional.cross_entropy(
            shift_logits.reshape(-1, shift_logits.size(-1)),
            shift_labels.reshape(-1),
            ignore_index=IGNORE,
            reduction="sum",
        )
        total += loss.item()
        count += int((shift_labels != IGNORE).sum())
    model.train(was_training)
    return total / max(count, 1)


@torch.no_grad()
def record_losses(
    model: torch.nn.Module, examples: list[dict], pad_id: int, first_n: int | None = None, batch_size: int = 16
) -> list[float]:
    """Per example, the mean loss over its first ``first_n`` supervised tokens (all of them when None).

    The verdict reads the pairing where it shows: a response's opening tokens (a name, a signature, the first
    words of an answer) depend on the prompt; a long tail pooled per token would dilute that many times over.
    """
    was_training = model.training
    model.eval()
    device = next(p for p in model.parameters()).device
    out: list[float] = []
    for i in range(0, len(examples), batch_size):
        batch = collate(examples[i : i + batch_size], pad_id)
        ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, -ids.size(1) :]
        shift_logits, labels = logits[:, :-1].float(), batch["labels"][:, 1:].to(device)
        tok = torch.nn.functional.cross_entropy(
            shift_logits.transpose(1, 2), labels.clamp(min=0), reduction="none"
        )  # (batch, positions)
        supervised = labels != IGNORE
        if first_n is not None:
            supervised &= supervised.cumsum(dim=1) <= first_n
        sums, counts = (tok * supervised).sum(dim=1), supervised.sum(dim=1).clamp(min=1)
        out.extend((sums / counts).tolist())
    model.train(was_training)
    return out


def _check_gradients(params: list[torch.nn.Parameter]) -> None:
    """Fail loudly instead of training nothing: a frozen graph or a repacked 4-bit layer gives zero grads."""
    norm = sum(float(p.grad.detach().float().abs().sum()) for p in params if p.grad is not None)
    if norm == 0.0 or not math.isfinite(norm):
        raise DataAgentError(
            f"train: gradients are {'zero' if norm == 0.0 else 'not finite'} after the first step: nothing would be "
            "learned (bitsandbytes 4-bit on CPU must have its weight repacking disabled; see train/model.py)"
        )


def loss_sum(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The batch's cross-entropy summed over its supervised tokens, in float32; the caller divides.

    What ``model(**batch).loss`` computes before its mean, taken here so that a process's share of a batch
    can be divided by the whole batch's token count. Only the last ``len(input_ids)`` logits are scored:
    prompt-learning methods prepend virtual tokens.
    """
    ids = batch["input_ids"]
    logits = model(input_ids=ids, attention_mask=batch["attention_mask"]).logits[:, -ids.size(1) :]
    shift_logits, shift_labels = logits[:, :-1].float(), batch["labels"][:, 1:]
    return torch.nn.functional.cross_entropy(
        shift_logits.reshape(-1, shift_logits.size(-1)), shift_labels.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )


def run(
    model: torch.nn.Module,
    stream: Iterator[dict[str, torch.Tensor]],
    *,
    token_budget: int,
    lr: float,
    accelerator: Accelerator,
    warmup_ratio: float = 0.05,
    eval_every_tokens: int = 0,
    eval_fn: Callable[[], float] | None = None,
    progress: object = None,
) -> LoopResult:
    """Train until ``token_budget`` tokens (prompt + response, no padding, all processes) have been seen.

    ``stream`` is ``train.data.batches``: each item is this process's share of one global batch, with the
    global batch's ``tokens`` and ``targets``. Launched on several processes, the loop takes the same steps
    as one process given the same global batches: accelerate's Accelerator (rather than a hand-made DDP
    wrapper, because the loop already ran through it for autocast, fp16 scaling and the DeepSpeed configs)
    reads the launcher's environment, starts the process group (gloo on CPU, nccl on GPU) and wraps the
    model in DDP, which averages the gradients; each share's loss sum is scaled by ``processes / targets``
    so that average is the gradient of the global batch's mean loss. No gradient accumulation is needed:
    each process takes ``1/processes`` of the batch. Dropout masks are the one thing that differ.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    # The fused kernel (CPU and CUDA) is what transformers.Trainer uses by default: one pass over all tensors.
    fused = all(p.dtype in (torch.float32, torch.float16, torch.bfloat16) for p in params)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, fused=fused)
    model, opt = accelerator.prepare(model, opt)
    processes = accelerator.num_processes

    def lr_at(frac: float) -> float:
        if frac < warmup_ratio:
            return lr * (frac + 1e-3) / warmup_ratio
        done = (frac - warmup_ratio) / max(1e-9, 1 - warmup_ratio)
        return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))

    result = LoopResult()
    next_eval = eval_every_tokens
    model.train()
    start = time.perf_counter()
    while result.tokens < token_budget:
        for group in opt.param_groups:
            group["lr"] = lr_at(result.tokens / token_budget)
        batch = next(stream)
        seen, targets = int(batch.pop("tokens")), max(1, int(batch.pop("targets")))
        batch = {k: v.to(accelerator.device) for k, v in batch.items()}
        with accelerator.autocast():
            summed = loss_sum(model, batch)
        accelerator.backward(summed * (processes / targets))
        if result.steps == 0:
            _check_gradients(params)
        accelerator.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        result.tokens += seen
        result.steps += 1
        # The global batch's mean loss: every process logs the same value.
        result.train_losses.append((result.tokens, float(accelerator.reduce(summed.detach(), "sum")) / targets))
        if eval_fn is not None and eval_every_tokens and result.tokens >= next_eval:
            result.eval_losses.append((result.tokens, eval_fn()))
            next_eval += eval_every_tokens
        if progress is not None:
            progress.update(min(seen, token_budget - (result.tokens - seen)))
    result.seconds = time.perf_counter() - start
    return result
