"""A real peft LoRA training run on a tiny Llama with a locally trained tokenizer."""

import torch
from peft import PeftModel

from train import data, loop
from train.lora import LoraSettings, wrap_lora
from train.tiny import tiny_llama, train_tokenizer

TEXTS = [
    "複利是指利息再產生利息的計算方式。Compound interest earns interest on interest.",
    "租約應載明租金、押金與修繕責任。A lease should state rent, deposit and repairs.",
    "高血壓常沒有症狀，需要定期量測。High blood pressure often has no symptoms.",
] * 20
RECORDS = [
    {"instruction": f"Question {i}: what is item {i % 5}?", "input": "", "output": f"Item {i % 5} is number {i % 5}."}
    for i in range(40)
]


def test_tokenizer_round_trips_cjk_without_unk():
    tok = train_tokenizer(TEXTS, vocab_size=512)
    ids = tok("複利與押金", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == "複利與押金"


def test_response_only_labels_mask_the_prompt():
    tok = train_tokenizer(TEXTS, vocab_size=512)
    ex = data.encode_example(tok, data.alpaca_prompt("Say yes"), "yes", max_len=64)
    supervised = [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != data.IGNORE]
    assert tok.decode(supervised).startswith("yes")


def test_lora_training_lowers_heldout_loss_and_adapter_reloads(tmp_path):
    torch.manual_seed(0)
    tok = train_tokenizer(TEXTS + [r["instruction"] + r["output"] for r in RECORDS], vocab_size=512)
    model = tiny_llama(tok, hidden=64, layers=2, heads=2)
    train_ex = data.encode_records(tok, RECORDS[:32], max_len=64)
    held_ex = data.encode_records(tok, RECORDS[32:], max_len=64)
    model = wrap_lora(
        model,
        LoraSettings(
            r=8, alpha=16, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
        ),
    )
    before = loop.eval_loss(model, held_ex, tok.pad_token_id)
    result = loop.run(model, data.batches(train_ex, 8, tok.pad_token_id, seed=0), steps=60, lr=5e-3)
    after = loop.eval_loss(model, held_ex, tok.pad_token_id)
    assert after < before - 0.5, (before, after)
    assert result.train_losses[-1] < result.train_losses[0]

    model.save_pretrained(tmp_path / "adapter")
    lora_a = [p for n, p in model.named_parameters() if "lora_B" in n]
    assert any(p.abs().sum() > 0 for p in lora_a), "LoRA B starts at zero; training must move it"
    base = tiny_llama(tok, hidden=64, layers=2, heads=2)
    reloaded = PeftModel.from_pretrained(base, tmp_path / "adapter")
    assert abs(loop.eval_loss(reloaded, held_ex, tok.pad_token_id) - after) < 1e-4
