"""The template-leak check on the grammars of many chat-template families and prompt-slot styles, and on the
legitimate text that looks like them (HTML and XML answers, C++ and Rust generics, Markdown headings, prompt-
building and tokenizer source code, shell metavariables). Each case goes through the gate (RE2 screen, then the
per-row verdict) and through the plain spec, which must agree."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from conftest import instruction_row

from validate import arrowtext, semantic, spec
from validate.gate import REASONS
from validate.quality import GateConfig, run_gate

PATTERN = GateConfig().leak_pattern


def rec(output: str, task_type: str = "open_qa", instruction: str = "Answer the question.", input: str = "") -> dict:  # noqa: A002
    # The task type is in the id: the same answer under two task types is two records here.
    key = hashlib.sha256("\x1f".join((instruction, input, output, task_type)).encode("utf-8")).hexdigest()
    language = "zh-Hant" if any("\u4e00" <= c <= "\u9fff" for c in output) else "en"
    return instruction_row(instruction, output, input, task_type, language, f"http://127.0.0.1/{key[:16]}", id=key)


def leak_verdicts(rows: list[dict]) -> list[bool]:
    """Whether the gate quarantined each row as template_leak, after checking that the spec agrees."""
    _, quarantined, _ = run_gate(pd.DataFrame(rows))
    gate = dict(zip(quarantined["source_ref"], quarantined[REASONS].map(list), strict=True))
    got = [gate.get(r["source_ref"], []) for r in rows]
    assert got == spec.check_records(rows), "spec and gate disagree"
    return ["template_leak" in g for g in got]


# Special tokens and turn markers, one or more per family, where a model's output would carry them.
CHAT_TOKENS = [
    ("<|im_start|>assistant\nParis is the capital of France.<|im_end|>", "open_qa"),  # ChatML (Qwen, Yi)
    ("[INST] What is two plus two? [/INST] Four.", "open_qa"),  # Llama 2 / Mistral
    ("<<SYS>>\nYou are a helpful assistant.\n<</SYS>>\nHello there.", "open_qa"),  # Llama 2 system block
    ("<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\nHello there.<|eot_id|>", "open_qa"),
    ("<start_of_turn>model\nThe answer is four.<end_of_turn>", "open_qa"),  # Gemma
    ("<|user|>\nHi there.<|end|>\n<|assistant|>\nHello, how are you?", "open_qa"),  # Phi-3
    ("<｜begin▁of▁sentence｜><｜User｜>你好<｜Assistant｜>您好，有什麼可以幫忙的？", "open_qa"),  # DeepSeek
    ("[gMASK]<sop><|user|>\n你好<|assistant|>\n您好。", "open_qa"),  # GLM
    ("工具回傳結果如下。<|observation|>", "open_qa"),  # GLM tool turn
    ("<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Sure, here it is.<|END_OF_TURN_TOKEN|>", "open_qa"),  # Command-R
    ("<|system|>\nYou are friendly.</s>\n<|assistant|>\nHello!", "open_qa"),  # Zephyr
    ("Sure, here is the summary you asked for.</s>", "summarization"),  # a bare end of sequence
    ("### Instruction:\nSummarise the text.\n\n### Response:\nA short summary.", "summarization"),  # Alpaca
    ("### Input:\nThe quick brown fox.", "summarization"),
    ("USER: What is Debian?\nASSISTANT: A Linux distribution.", "open_qa"),  # Vicuna
    ("Human: hello there\n\nAssistant: Hi, how can I help?", "open_qa"),
    ("The answer is 42.<|endoftext|>", "open_qa"),
    ("The answer is 42.<eos>", "open_qa"),
    ("<bos>The answer is 42.", "open_qa"),
    ("The answer is 42.<pad><pad><pad>", "open_qa"),
    ("[CLS] the answer is 42 [SEP]", "open_qa"),
    ("<think>Two plus two is four.</think>The answer is four.", "math"),
    ('[TOOL_CALLS] [{"name": "search"}]', "open_qa"),  # Mistral tool calls
    ('<tool_call>\n{"name": "search"}\n</tool_call>', "open_qa"),  # Hermes / Qwen tools
    ("<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>assistant\nThe answer is four.", "open_qa"),
    ("<human>: What is two plus two?\n<bot>: Four.", "open_qa"),  # RedPajama-INCITE
    ("[Round 1]\n\n问：你好\n\n答：你好！", "open_qa"),  # ChatGLM-6B
    ("The answer is four.<unused0>", "open_qa"),  # Gemma reserved
    ("The answer is four.<sep><cls>", "open_qa"),  # XLNet
    # in code outside its strings a token is no syntax
    ("def add(a, b):\n    return a + b<|eot_id|>", "code_generation"),
    ("function add(a, b) {\n  return a + b;\n}\n<|im_end|>", "code_generation"),
    ("<s>def add(a, b):\n    return a + b</s>", "code_generation"),
    ("### Response:\ndef add(a, b):\n    return a + b\n", "code_generation"),  # a header written as a comment
    ("ASSISTANT: @classmethod\ndef make(cls):\n    return cls()\n", "code_generation"),  # a role before code
    ("```python\ndef add(a, b):\n    return a + b\n```<|eot_id|>", "code_generation"),
]

# Unfilled slots, also on a prose line in front of (or behind) code whose own braces are syntax.
PLACEHOLDERS = [
    ("Based on ${input}, the answer is yes.", "closed_qa"),
    ('Translate "{text}" into French.', "translation"),
    ("Answer using {{ context }} only.", "open_qa"),
    ("Use %(question)s here.", "open_qa"),
    ("根據以下內容回答：{问题}", "open_qa"),
    ("The answer: <no input>", "open_qa"),
    ("Please read {user_question} first.", "open_qa"),
    ("參考資料：<問題>\n答案是四。", "open_qa"),
    ("Summarise the following text.\n<input>", "summarization"),
    ("請根據以下內容回答：{text}\ndef add(a, b):\n    return a + b\n", "code_generation"),
    ('參考資料："{instruction}"\ndef add(a, b):\n    return a + b\n', "code_generation"),
    ("Answer the question using the context below: {context}\ndef add(a, b):\n    return a + b\n", "code_generation"),
    ("Here's the function, it's based on {context}:\ndef add(a, b):\n    return a + b\n", "code_generation"),
    ("def add(a, b):\n    return a + b\n{instruction}", "code_generation"),
    ("Context: {context}\ndef add(a, b):\n    return a + b\n", "code_generation"),  # a label line
    ("Solve {instruction}\ndef add(a, b):\n    return a + b\n", "code_generation"),
    ("function add(a, b) {\n  return a + b;\n}\n{{input}}", "code_generation"),
    ("```python\ndef add(a, b):\n    return a + b\n```\n请根据以下内容回答：{{input}}", "code_explanation"),
    ("示例如下：\n\n```console\n$ ls -l\n```\n{context}", "doc_qa"),
]

# Legitimate text with the same characters.
LOOK_ALIKES = [
    ("<p>Price: <s>$10</s> now $8.</p>\n<p>Sale ends <b>Friday</b>.</p>", "open_qa"),  # HTML strikethrough
    ("The old price was <s>$10</s>, the new one is $8.", "open_qa"),
    ('<ul>\n<li><input type="checkbox"> Done</li>\n<li><output>42</output></li>\n</ul>', "open_qa"),
    ('<response status="ok"><answer>42</answer></response>', "extract_json"),  # XML
    ('<form action="/q">\n<input>\n<button>Go</button>\n</form>', "open_qa"),  # a bare void element
    ("Use std::vector<int> v; and template <typename T> T max(T a, T b);", "open_qa"),
    ("```cpp\ntemplate <typename s>\nstd::vector<s> keys(const std::map<s, int>& m);\n```", "code_generation"),
    ("```rust\nfn first<'a>(v: &'a Vec<String>) -> &'a str {\n    &v[0]\n}\n```", "code_generation"),
    ("### Response codes\n\n200 means OK and 404 means not found.", "doc_qa"),  # Markdown headings
    ("### Response\n\nThe server answers with JSON.", "doc_qa"),
    (
        'def encode(text):\n    """Append the end-of-text marker."""\n    return text + "<|endoftext|>"\n',
        "code_generation",
    ),  # tokenizer code
    (
        'SPECIAL = {"bos": "<s>", "eos": "</s>", "pad": "<pad>", "sep": "[SEP]"}\n'
        'CHAT = "<|im_start|>{role}\\n{content}<|im_end|>"\n',
        "code_generation",
    ),
    (
        "def build(instruction, context):\n"
        '    return f"### Instruction:\\n{instruction}\\n\\n### Input:\\n{context}\\n\\n### Response:\\n"\n',
        "code_generation",
    ),  # a prompt built in an f-string
    (
        'PROMPT = """### Instruction:\n{instruction}\n\n### Response:\n"""\n\n\n'
        "def fill(x):\n    return PROMPT.format(instruction=x)\n",
        "code_generation",
    ),  # a prompt template in a triple-quoted string
    ("def words(text):\n    seen = {text}\n    return seen\n", "code_generation"),  # a set literal
    (
        "def clean(context):\n    # drop a trailing <|endoftext|> from {context}\n    return context\n",
        "code_generation",
    ),
    ("tokens = [CLS] + ids + [SEP]\nmask = vocab[PAD]\n", "code_generation"),  # a list, an index
    ("function Card({ title, text }) {\n  return (\n    <div>\n      {text}\n    </div>\n  );\n}", "code_generation"),
    ('class Chat:\n    assistant: str = ""\n    user: str = ""\n', "code_generation"),  # annotations
    ("class Roles:\n    USER: str\n    SYSTEM: str\n", "code_generation"),
    ("Search for packages:\n\n```console\n$ apt-cache search <query>\n```", "doc_qa"),  # a metavariable
    ("In a GPT-2 corpus, `<|endoftext|>` separates the documents.", "open_qa"),  # inline code
    ('The tokenizer appends "<|endoftext|>" to each document.', "open_qa"),  # quoted
    ("Use `'{text}'.format(text=x)` to fill it in.", "open_qa"),
    ("Run `cat <file>` and then `ls <dir>`.", "open_qa"),
    ("Hi team,\n\nThe [EMAIL] address is on file.\n\nThanks,\nMaria", "letter_writing"),  # a scrubbed value
    ("In F#, f <| x |> g pipes both ways.", "open_qa"),
    ("A URL reads <scheme>://<netloc>/<path>;<params>?<query>#<fragment>.", "section_qa"),  # metavariables
    ("The window sum runs to \\text{input}[m] in the formula.", "section_qa"),  # LaTeX
    (":type: Optional[LEGACY_PATH]", "section_qa"),  # a subscript
    ("Usage: typer [PATH_OR_MODULE] run [OPTIONS] NAME", "section_qa"),  # a CLI synopsis
    ("Run sort -o <output> <input> to sort in place.", "section_qa"),  # metavariables of a command
    ('<code title="get /responses/{response_id}/input_items">list</code>', "section_qa"),  # a REST route
    # Answers about tokenizers and chat formats name the tokens inside their sentences.
    ("BERT adds [CLS] at the start and [SEP] between the two segments.", "open_qa"),
    ("BERT 會在開頭加上 [CLS]，並在兩個句子之間加上 [SEP]。", "open_qa"),
    ("BERT 会在开头加上 [CLS]，并在两个句子之间加上 [SEP]。", "open_qa"),
    ("Llama 2 wraps the user turn in [INST] and [/INST], and ChatML uses <|im_start|> and <|im_end|>.", "open_qa"),
    ("The end of a sequence is </s> in Llama.", "open_qa"),
]

# The same tokens where a template left them: at a line's edge or right after the sentence they follow.
LEFT_AROUND = [
    ("Paris is the capital. </s>", "open_qa"),
    ("Paris is the capital.<|im_end|>", "open_qa"),
    ("[CLS] Paris is the capital.", "open_qa"),
    ("[INST] name the capital [/INST] Paris is the capital.", "open_qa"),
    ("巴黎是法國的首都。<|im_end|>\n<|im_start|>user\n謝謝", "open_qa"),
]


@pytest.mark.parametrize(("output", "task_type"), CHAT_TOKENS + PLACEHOLDERS + LEFT_AROUND)
def test_leaks_are_matched_by_the_screen_and_the_verdict(output: str, task_type: str) -> None:
    assert arrowtext.contains(pd.Series([output], dtype="str"), PATTERN)[0]  # the RE2 screen finds it
    assert semantic.leak_outside_code(output, task_type, PATTERN)


@pytest.mark.parametrize(("output", "task_type"), LOOK_ALIKES)
def test_look_alikes_are_no_leaks(output: str, task_type: str) -> None:
    assert not semantic.leak_outside_code(output, task_type, PATTERN)


def test_gate_and_spec_agree_on_leaks_and_look_alikes() -> None:
    cases = CHAT_TOKENS + PLACEHOLDERS + LOOK_ALIKES
    got = leak_verdicts([rec(o, t) for o, t in cases])
    want = [True] * len(CHAT_TOKENS + PLACEHOLDERS) + [False] * len(LOOK_ALIKES)
    assert [c for c, g, w in zip(cases, got, want, strict=True) if g != w] == []


def test_a_code_input_keeps_its_exemptions_and_the_instruction_is_judged_too() -> None:
    code = 'def render(context):\n    """Fill {context} into <|im_start|>."""\n    return {context}\n'
    rows = [
        rec("It fills the template.", "code_explanation", "Explain this function.", code),
        rec("It fills the template.", "code_explanation", "Explain this function.\n<|im_start|>user", code),
    ]
    assert leak_verdicts(rows) == [False, True]


def test_a_user_pattern_is_judged_by_the_same_rules() -> None:
    pattern = r"\{slot\}|<\|[a-z]+\|>"
    assert semantic.leak_outside_code("Answer {slot} now.", "open_qa", pattern)
    assert not semantic.leak_outside_code('def f(slot):\n    return f"{slot}<|x|>"\n', "code_generation", pattern)
    assert not semantic.leak_outside_code("anything", "open_qa", "")
