"""One function from AdapterSettings to a trainable model: peft's config classes, nothing hand-made."""

from __future__ import annotations

import torch
from peft import (
    IA3Config,
    LoraConfig,
    PrefixTuningConfig,
    PromptEncoderConfig,
    PromptTuningConfig,
    TaskType,
    get_peft_model,
)

from train.config import AdapterSettings


def peft_config(settings: AdapterSettings) -> object | None:
    """The peft config for ``settings.method`` (None for full fine-tuning)."""
    m, lm = settings.method or "lora", TaskType.CAUSAL_LM  # unset outside a TrainConfig: LoRA
    if m == "lora":
        return LoraConfig(
            r=settings.r,
            lora_alpha=settings.alpha,
            lora_dropout=settings.dropout,
            target_modules=settings.target_modules,
            task_type=lm,
        )
    if m == "prefix":  # P-Tuning v2: trained key/value prefixes in every layer
        return PrefixTuningConfig(num_virtual_tokens=settings.num_virtual_tokens, task_type=lm)
    if m == "prompt":
        return PromptTuningConfig(num_virtual_tokens=settings.num_virtual_tokens, task_type=lm)
    if m == "ptuning":  # prompt embeddings produced by a small MLP encoder
        return PromptEncoderConfig(num_virtual_tokens=settings.num_virtual_tokens, task_type=lm)
    if m == "ia3":  # peft knows the key/value/down-projection targets of each architecture
        return IA3Config(task_type=lm)
    return None


def wrap(model: torch.nn.Module, settings: AdapterSettings) -> torch.nn.Module:
    """The model ready to train: a PeftModel with only adapter weights trainable, or the model itself."""
    config = peft_config(settings)
    if config is None:
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    return get_peft_model(model, config)
