"""Loading the base model: full precision, LLM.int8 or 4-bit NF4, on CPU or GPU."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

from validate.errors import DataAgentError


def pick_device(name: str = "auto") -> str:
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def mixed_precision(name: str, device: str) -> str:
    """accelerate's mixed_precision value: bf16 where the GPU has it, else fp16 on GPU; fp32 on CPU.

    CPU autocast to bf16 is only faster with AMX/AVX512-BF16 and changes the numbers, so "auto"
    leaves CPU runs in fp32; ask for bf16 explicitly to get it.
    """
    if name == "auto":
        if device.startswith("cuda"):
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "no"
    return {"fp32": "no"}.get(name, name)


def disable_cpu_4bit_repack(model: torch.nn.Module) -> int:
    """Switch off bitsandbytes' CPU weight repacking on every Linear4bit; returns how many were touched.

    On CPUs with AVX512-BF16, Linear4bit repacks its weight into an inference layout on the first
    no_grad forward (an eval pass). Later training forwards then run a path that autograd cannot see
    through, and every adapter gradient is silently zero. The flag is per layer, so it is set here
    right after loading, before any forward.
    """
    import bitsandbytes as bnb

    touched = 0
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            module.support_avx512bf16_for_cpu = False
            touched += 1
    return touched


def load_tokenizer(path: str) -> object:
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_base(
    path: str, quant: str = "none", device: str = "cpu", gradient_checkpointing: bool = False
) -> torch.nn.Module:
    """The base model from a local folder or hub id, quantised on load when asked.

    8-bit is LLM.int8 (outliers kept in fp16); 4-bit is NF4 with double quantisation and the compute
    in bf16 on GPU, fp32 on CPU. Quantised bases go through peft's ``prepare_model_for_kbit_training``
    (norms in fp32, input gradients on) so adapters on top of them train.
    """
    kwargs: dict = {}
    if quant == "8bit":
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True)
    elif quant == "4bit":
        compute = torch.bfloat16 if device.startswith("cuda") else torch.float32
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=compute
        )
    if quant != "none":
        kwargs["device_map"] = {"": device}
    try:
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise DataAgentError(f"cannot load the model: {exc.__class__.__name__}: {exc}", path) from exc
    if quant == "none":
        model.to(device)
    else:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
        disable_cpu_4bit_repack(model)
    if gradient_checkpointing and quant == "none":
        model.gradient_checkpointing_enable()
        model.enable_input_require_grads()
    model.config.use_cache = False
    return model
