"""The LoRA configuration, peft-style: a dataclass plus one function that wraps the model."""

from __future__ import annotations

from dataclasses import dataclass, field

from peft import LoraConfig, get_peft_model


@dataclass
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])


def wrap_lora(model: object, settings: LoraSettings) -> object:
    """The model with LoRA adapters on ``target_modules``; only adapter weights stay trainable."""
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=settings.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)
