"""A tiny Llama and its tokenizer, built locally: nothing is downloaded from a hub.

Used by the demo and the tests, where the point is to prove the pipeline trains,
not to train a useful model.
"""

from __future__ import annotations

from collections.abc import Iterable

from accelerate import Accelerator
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 2048) -> PreTrainedTokenizerFast:
    """Byte-level BPE trained on ``texts``: byte fallback means CJK never becomes <unk>."""
    tok = Tokenizer(models.BPE(unk_token=SPECIAL["unk_token"]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **SPECIAL)


def tiny_llama(
    tokenizer: PreTrainedTokenizerFast, hidden: int = 128, layers: int = 2, heads: int = 4, seed: int = 0
) -> LlamaForCausalLM:
    """A randomly initialised Llama; widths stay multiples of 64 for bitsandbytes kernels."""
    import torch

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=hidden * 4,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    return LlamaForCausalLM(config)


def build_tiny_base(
    documents: list[str],
    tokenizer_texts: list[str],
    out_dir: str,
    *,
    steps: int,
    lr: float,
    block: int = 256,
    batch_size: int = 8,
    seed: int = 0,
    progress: bool = False,
    accelerator: Accelerator | None = None,
) -> dict:
    """Train a tokenizer, build a tiny Llama, give it a causal-LM pass on ``documents``, save it to ``out_dir``.

    LoRA on a random base barely moves, so the base first learns the domain's text. Only raw documents
    go into that pass: instruction pairs would teach the pairing to the base and leak it into the control.
    Returns the pretraining figures; the saved folder loads like any hub model.

    With ``accelerator`` (the run's own; a CPU one when None) on several processes, the main process trains
    the tokenizer and the others read it from ``out_dir``; the pass is data-parallel like any run (global
    batch ``batch_size``) and only the main process saves. Every process must call this.
    """
    from train import data, loop
    from validate.progress import bar as progress_bar

    rank, processes = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    if rank == 0:
        tokenizer = train_tokenizer([*documents, *tokenizer_texts])
        if processes > 1:
            tokenizer.save_pretrained(out_dir)
    if processes > 1:
        accelerator.wait_for_everyone()
    if rank != 0:
        tokenizer = PreTrainedTokenizerFast.from_pretrained(out_dir)
    model = tiny_llama(tokenizer, seed=seed)
    stats: dict = {"steps": 0}
    if documents and steps:
        blocks = data.encode_text_blocks(tokenizer, documents, block)
        budget = steps * batch_size * block
        bar = progress_bar(budget, "pretrain tiny base on documents", unit="tok", disable=not progress)
        result = loop.run(
            model,
            data.batches(blocks, batch_size, tokenizer.pad_token_id, seed, rank, processes),
            token_budget=budget,
            lr=lr,
            accelerator=accelerator or Accelerator(cpu=True),
            progress=bar,
        )
        bar.close()
        stats = {
            "steps": result.steps,
            "tokens": result.tokens,
            "seconds": round(result.seconds, 2),
            "first_loss": round(result.train_losses[0][1], 4),
            "last_loss": round(result.train_losses[-1][1], 4),
        }
    if rank == 0:
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    if processes > 1:
        accelerator.wait_for_everyone()
    return stats
