"""train.data: the prompt is never cut from the head; the response's tail is, and both cuts are counted."""

from __future__ import annotations

import pytest

from train import data
from train.tiny import train_tokenizer

TEXTS = [
    "Compound interest earns interest on interest. 複利是指利息再產生利息的計算方式。",
    "A lease should state rent, deposit and repairs. 租約應載明租金、押金與修繕責任。",
    "Below is an instruction that describes a task. Write a response that appropriately completes the request.",
] * 20
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
LONG = " ".join(f"word{i}" for i in range(300))


@pytest.fixture(scope="module")
def tok():
    return train_tokenizer(TEXTS, vocab_size=512)


def _n(tok, text: str) -> int:
    return len(tok(text, add_special_tokens=False)["input_ids"])


def _supervised(ex: dict) -> list[int]:
    return [t for t, lab in zip(ex["input_ids"], ex["labels"], strict=True) if lab != data.IGNORE]


def test_long_response_keeps_the_whole_prompt_and_cuts_the_response_tail(tok):
    record = {"instruction": "Explain compound interest.", "input": "", "output": LONG}
    prompt = data.alpaca_prompt(record["instruction"])
    stats: dict = {}
    ex = data.encode_records(tok, [record], 96, "alpaca", stats=stats)[0]
    assert len(ex["input_ids"]) == 96
    assert ex["input_ids"][0] == tok.bos_token_id
    n_prompt = 1 + _n(tok, prompt)
    assert ex["input_ids"][1:n_prompt] == tok(prompt, add_special_tokens=False)["input_ids"]
    assert ex["labels"][:n_prompt] == [data.IGNORE] * n_prompt
    assert tok.decode(_supervised(ex)) == tok.decode(tok(LONG, add_special_tokens=False)["input_ids"][: 96 - n_prompt])
    assert tok.eos_token_id not in _supervised(ex)  # the tail (and its EOS) is what was cut
    assert stats == {"response_cut": 1, "prompt_too_long": 0}
    assert data.prompt_fits(tok, record, 96, "alpaca")


def test_a_prompt_that_leaves_too_little_room_is_counted_and_keeps_its_last_part(tok):
    record = {"instruction": "Summarise this.", "input": LONG, "output": "A short answer about interest and rent."}
    assert not data.prompt_fits(tok, record, 128, "alpaca")
    assert data.prompt_fits(tok, record, 4096, "alpaca")
    stats: dict = {}
    rows = [record, {"instruction": "Say yes", "input": "", "output": "yes"}]
    out = data.encode_records(tok, rows, 128, "alpaca", stats=stats)
    assert len(out) == 2  # one example per record, even for the row callers should have dropped
    assert stats == {"response_cut": 0, "prompt_too_long": 1}
    ex = out[0]
    assert len(ex["input_ids"]) <= 128 and ex["input_ids"][0] == tok.bos_token_id
    assert len(_supervised(ex)) == data.MIN_RESPONSE_TOKENS
    assert tok.decode(ex["input_ids"][: -len(_supervised(ex))]).endswith("### Response:\n")


def test_short_records_are_whole_and_uncounted(tok):
    record = {"instruction": "Say yes", "input": "", "output": "yes"}
    stats = {"response_cut": 3}  # counts add up across calls
    ex = data.encode_records(tok, [record], 64, "alpaca", stats=stats)[0]
    assert tok.decode(_supervised(ex)) == "yes</s>"
    assert stats == {"response_cut": 3, "prompt_too_long": 0}


def test_a_response_shorter_than_the_minimum_fits_when_it_fits_whole(tok):
    record = {"instruction": "Say yes", "input": "", "output": "yes"}
    need = 1 + _n(tok, data.alpaca_prompt("Say yes")) + _n(tok, "yes") + 1  # BOS, prompt, response, EOS
    assert data.prompt_fits(tok, record, need, "alpaca")
    assert not data.prompt_fits(tok, record, need - 1, "alpaca")
    assert data.prompt_fits(tok, record, need - 1, "alpaca", min_response_tokens=1)


def test_encode_example_keeps_its_positional_call_and_never_exceeds_max_len(tok):
    prompt = data.alpaca_prompt("Explain this.", LONG)
    for max_len in (1, 2, 5, 17, 40, 64, 200, 1000):
        for response in ("ok", LONG):
            ex = data.encode_example(tok, prompt, response, max_len)
            assert 0 < len(ex["input_ids"]) <= max_len and len(ex["labels"]) == len(ex["input_ids"])
            assert _supervised(ex), "every row keeps at least one response token"
            assert ex["input_ids"][0] == tok.bos_token_id or max_len == 1
    no_eos = data.encode_example(tok, "Q: x\n", "yes", 64, add_eos=False)
    assert tok.eos_token_id not in no_eos["input_ids"]


def test_chat_prompts_are_kept_whole_too(tok):
    chat = train_tokenizer(TEXTS, vocab_size=512)
    chat.chat_template = CHATML
    record = {"instruction": "複利是什麼？", "input": "", "output": LONG}
    prompt, _, _ = data.split_text(chat, record, "chat")
    stats: dict = {}
    ex = data.encode_records(chat, [record], 80, "chat", stats=stats)[0]
    n_prompt = len(ex["input_ids"]) - len(_supervised(ex))
    assert tok.decode(ex["input_ids"][:n_prompt]).endswith(prompt)
    assert len(ex["input_ids"]) == 80 and stats["response_cut"] == 1
