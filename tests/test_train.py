"""The trainer on CPU: a tiny Llama built from a config, a tokenizer trained here, real peft/bitsandbytes."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from peft import PeftModel
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

from train import adapters, data, loop
from train.config import AdapterSettings, TrainConfig
from train.model import load_base, load_tokenizer
from train.smoke import check_integrity
from train.tiny import build_tiny_base, train_tokenizer
from train.verdict import train_heldout_split
from validate.errors import DataAgentError

TEXTS = [
    "複利是指利息再產生利息的計算方式。Compound interest earns interest on interest.",
    "租約應載明租金、押金與修繕責任。A lease should state rent, deposit and repairs.",
    "高血壓常沒有症狀，需要定期量測。High blood pressure often has no symptoms.",
] * 20
COLOURS = ["red", "green", "blue", "black", "white", "yellow", "purple", "orange"]
RECORDS = [
    {
        "instruction": f"What colour is box {i}?",
        "input": "",
        "output": f"Box {i} is {COLOURS[i % 8]}.",
        "source_ref": f"s{i}",
    }
    for i in range(48)
]
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory) -> str:
    """A tiny Llama (widths multiples of 64) after a short causal-LM pass on raw text, saved like a hub model."""
    path = tmp_path_factory.mktemp("tiny-base")
    build_tiny_base(
        TEXTS, [r["instruction"] + " " + r["output"] for r in RECORDS], str(path), steps=20, lr=3e-3, block=64
    )
    return str(path)


def test_tokenizer_round_trips_cjk_without_unk():
    tok = train_tokenizer(TEXTS, vocab_size=512)
    ids = tok("複利與押金", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids) == "複利與押金"


def test_alpaca_labels_cover_the_response_only():
    tok = train_tokenizer(TEXTS, vocab_size=512)
    ex = data.encode_records(tok, [{"instruction": "Say yes", "input": "", "output": "yes"}], 64, "alpaca")[0]
    supervised = [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != data.IGNORE]
    assert tok.decode(supervised) == "yes</s>"
    assert tok.decode(ex["input_ids"][: -len(supervised)]).endswith("### Response:\n")


def test_chat_template_is_used_when_the_model_has_one_and_masks_the_user_turn():
    tok = train_tokenizer(TEXTS, vocab_size=512)
    tok.chat_template = CHATML
    assert data.resolve_template("auto", tok) == "chat"
    record = {"instruction": "複利是什麼？", "input": "", "output": "利息再產生利息。"}
    ex = data.encode_records(tok, [record], 128, "chat")[0]
    supervised = [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != data.IGNORE]
    assert tok.decode(supervised) == "利息再產生利息。<|im_end|>\n"
    assert tok.decode(ex["input_ids"]).endswith("<|im_start|>assistant\n利息再產生利息。<|im_end|>\n")
    bare = train_tokenizer(TEXTS, vocab_size=512)
    assert data.resolve_template("auto", bare) == "alpaca"
    with pytest.raises(DataAgentError, match="no chat template"):
        data.resolve_template("chat", bare)


def test_control_and_swap_helpers_never_keep_a_records_own_pairing():
    shuffled = data.shuffled_responses(RECORDS, seed=3)
    assert all(s["output"] != r["output"] for s, r in zip(shuffled, RECORDS, strict=True))
    assert sorted(s["output"] for s in shuffled) == sorted(r["output"] for r in RECORDS)
    swapped = data.swapped_prompts(RECORDS)
    assert all(s["instruction"] != r["instruction"] for s, r in zip(swapped, RECORDS, strict=True))
    assert [s["output"] for s in swapped] == [r["output"] for r in RECORDS]


def test_heldout_split_never_shares_a_source_document():
    page = [
        {"instruction": f"q{i}", "output": "a", "source_ref": f"https://x.org/p{i // 3}#faq-{i}"} for i in range(60)
    ]
    # A published test split that shares a page with train (rows split, not sources) is not trusted.
    leaky = {"train": page[1:], "test": page[:1]}
    train, held, how = train_heldout_split(leaky, 0.2)
    assert how.startswith("re-split by source")
    pages = lambda rows: {r["source_ref"].split("#")[0] for r in rows}  # noqa: E731
    assert held and not pages(train) & pages(held)
    assert len(train) + len(held) == len(page)
    clean = {"train": page[3:], "validation": page[:3]}
    train, held, how = train_heldout_split(clean, 0.2)
    assert held == page[:3] and "validation" in how


def _train_and_measure(model, tok, cfg: AdapterSettings, lr: float, budget: int = 6000):
    examples = data.encode_records(tok, RECORDS[:40], 64)
    before = loop.eval_loss(model, examples, tok.pad_token_id)
    model = adapters.wrap(model, cfg)
    result = loop.run(
        model,
        data.batches(examples, 8, tok.pad_token_id, seed=0),
        token_budget=budget,
        lr=lr,
        accelerator=Accelerator(cpu=True),
    )
    return before, loop.eval_loss(model, examples, tok.pad_token_id), result, model


@pytest.mark.parametrize(
    ("method", "quant", "lr"),
    [
        ("lora", "none", 1e-2),
        ("lora", "8bit", 1e-2),
        ("lora", "4bit", 1e-2),
        ("prefix", "none", 3e-2),
        ("prompt", "none", 1e-1),
        ("ptuning", "none", 1e-2),
        ("ia3", "none", 3e-2),
        ("full", "none", 3e-3),
    ],
)
def test_every_method_trains_with_falling_loss(base_dir, method, quant, lr):
    torch.manual_seed(0)
    tok = load_tokenizer(base_dir)
    model = load_base(base_dir, quant, "cpu")
    before, after, result, model = _train_and_measure(model, tok, AdapterSettings(method=method), lr)
    assert result.tokens >= 6000 and result.steps > 5
    assert after < before - 0.1, (method, quant, before, after)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    assert (trainable == total) if method == "full" else (0 < trainable < total / 5)


def test_8bit_base_really_holds_int8_weights(base_dir):
    import bitsandbytes as bnb

    model = load_base(base_dir, "8bit", "cpu")
    int8 = [m for m in model.modules() if isinstance(m, bnb.nn.Linear8bitLt)]
    assert int8 and all(m.weight.dtype == torch.int8 for m in int8)


def test_4bit_cpu_repacking_would_zero_gradients_and_load_base_prevents_it(base_dir):
    """bitsandbytes repacks 4-bit weights on CPUs with AVX512-BF16 after a no_grad forward; autograd then sees
    nothing and every adapter gradient is silently zero. load_base switches that off; the loop refuses to
    train on zero gradients."""
    import bitsandbytes as bnb
    from peft import prepare_model_for_kbit_training

    tok = load_tokenizer(base_dir)
    examples = data.encode_records(tok, RECORDS[:16], 64)
    fixed = load_base(base_dir, "4bit", "cpu")
    layers = [m for m in fixed.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert layers and not any(m.support_avx512bf16_for_cpu for m in layers)
    loop.eval_loss(fixed, examples, tok.pad_token_id)  # the no_grad pass that triggers repacking
    before, after, _, _ = _train_and_measure(fixed, tok, AdapterSettings(), 1e-2)
    assert after < before - 0.1

    raw = AutoModelForCausalLM.from_pretrained(
        base_dir, quantization_config=BitsAndBytesConfig(load_in_4bit=True), device_map={"": "cpu"}
    )
    raw = prepare_model_for_kbit_training(raw, use_gradient_checkpointing=False)
    if not any(m.support_avx512bf16_for_cpu for m in raw.modules() if isinstance(m, bnb.nn.Linear4bit)):
        pytest.skip("this CPU has no AVX512-BF16, so bitsandbytes never repacks here")
    loop.eval_loss(raw, examples, tok.pad_token_id)
    with pytest.raises(DataAgentError, match="gradients are zero"):
        _train_and_measure(raw, tok, AdapterSettings(), 1e-2)


def test_integrity_check_rejects_an_untrained_adapter_and_accepts_a_trained_one(base_dir, tmp_path):
    from train.smoke import _adapter_state

    tok = load_tokenizer(base_dir)
    held = data.encode_records(tok, RECORDS[40:], 64)
    cfg = TrainConfig(dataset="unused", out_dir=str(tmp_path), adapter=AdapterSettings(method="lora"))
    model = adapters.wrap(load_base(base_dir), cfg.adapter)
    init = _adapter_state(model, "lora")
    model.save_pretrained(tmp_path / "untrained")
    loss = loop.eval_loss(model, held, tok.pad_token_id)
    with pytest.raises(DataAgentError, match="integrity"):
        check_integrity(cfg, base_dir, tmp_path / "untrained", init, held, tok.pad_token_id, loss)

    loop.run(model, data.batches(data.encode_records(tok, RECORDS[:40], 64), 8, tok.pad_token_id, 0),
             token_budget=3000, lr=1e-2, accelerator=Accelerator(cpu=True))  # fmt: skip
    model.save_pretrained(tmp_path / "trained")
    loss = loop.eval_loss(model, held, tok.pad_token_id)
    result = check_integrity(cfg, base_dir, tmp_path / "trained", init, held, tok.pad_token_id, loss)
    assert result["ok"] and result["changed_from_init"] == result["compared"] > 0
    reloaded = PeftModel.from_pretrained(load_base(base_dir), tmp_path / "trained")
    assert abs(loop.eval_loss(reloaded, held, tok.pad_token_id) - loss) < 1e-4


def test_config_rejects_unknown_choices_in_one_line():
    with pytest.raises(DataAgentError, match="--method must be one of"):
        TrainConfig(dataset="d", out_dir="o", adapter=AdapterSettings(method="qlora"))
    with pytest.raises(DataAgentError, match="cannot be fully fine-tuned"):
        TrainConfig(dataset="d", out_dir="o", quant="8bit", adapter=AdapterSettings(method="full"))


@pytest.mark.parametrize(("method", "quant"), [("lora", "8bit"), ("prefix", "none"), ("ia3", "none")])
def test_smoke_train_end_to_end_per_method(base_dir, tmp_path, method, quant):
    """The whole run (split, real + control, integrity reload, samples, report) for quantised and prompt methods."""
    import json

    import pandas as pd

    from synth.records import make_record
    from train.smoke import smoke_train
    from validate.publish import split_by_source as publish_split
    from validate.publish import write_dataset_folder

    rows = [
        make_record(
            r["instruction"],
            r["output"],
            task_type="faq_qa",
            language="en",
            generator="rule:test",
            source_ref=f"https://x.org/box{i}",
        )  # fmt: skip
        for i, r in enumerate(RECORDS)
    ]
    folder = write_dataset_folder(publish_split(pd.DataFrame(rows)), tmp_path / "ds", pretty_name="t", license="mit")
    cfg = TrainConfig(
        dataset=str(folder), out_dir=str(tmp_path / "out"), model=base_dir, quant=quant,
        adapter=AdapterSettings(method=method), token_budget=3000, lr=1e-2, samples=2, max_new_tokens=6,
    )  # fmt: skip
    report = smoke_train(cfg, show_progress=False)
    assert report["adapter_integrity"]["ok"]
    assert report["runs"]["real"]["tokens"] >= 3000 and report["runs"]["control"]["tokens"] >= 3000
    assert report["heldout_response_loss_after"] < report["heldout_response_loss_before"]
    assert len(report["samples"]) == 2 and all(isinstance(s["after"], str) for s in report["samples"])
    saved = json.loads((tmp_path / "out" / "train_report.json").read_text())
    assert saved["verdict"]["verdict"] in ("pass", "inconclusive", "fail")
    assert (tmp_path / "out" / "train_report.png").exists()
