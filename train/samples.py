"""A few greedy generations for held-out prompts, so a person can see what training changed."""

from __future__ import annotations

import torch

from train.data import bos_head, split_text


@torch.no_grad()
def generate(
    model: torch.nn.Module, tokenizer: object, records: list[dict], template: str, max_new_tokens: int
) -> list[str]:
    was_training = model.training
    model.eval()
    device = next(p for p in model.parameters()).device
    outs = []
    for r in records:
        prompt, _, _ = split_text(tokenizer, r, template)
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([bos_head(tokenizer, p) + p], device=device)
        gen = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
        seq = gen[0]
        # Prompt-learning peft models may return only the new tokens; others echo the prompt first.
        if seq.size(0) >= ids.size(1) and torch.equal(seq[: ids.size(1)], ids[0]):
            seq = seq[ids.size(1) :]
        outs.append(tokenizer.decode(seq, skip_special_tokens=True).strip())
    model.train(was_training)
    return outs
