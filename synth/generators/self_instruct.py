"""Self-Instruct / Alpaca expansion: new tasks from a pool of seed tasks (task_type ``self_instruct``).

Each request shows a few tasks sampled from the pool and asks for ``k`` new ones as JSON.
``to_records`` checks their shape; ``filter_tasks`` then drops what Alpaca drops (too
short or long, needs a non-text modality, starts oddly, near-duplicate of the pool),
with the near-duplicate test made to work on Chinese.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

from synth.engine import GenRequest, GenResult, read_yaml
from synth.generators import (
    TASKS_DIR,
    ParseError,
    Reject,
    all_or_nothing,
    answer_value,
    check_items,
    check_language,
    check_length,
    find_items,
    first_problem,
    generator_name,
    load_prompt,
    lower_keys,
    need_str,
    pick_field,
    prompt_language,
    register_check,
    render,
    useless_answer,
)
from synth.records import make_record
from validate.errors import DataAgentError
from validate.jsonparse import parse_json_loose
from validate.text import HAN_CLASS, HANGUL_CLASS, KANA_CLASS, detect_language, normalize_text

TEMPLATE = "self_instruct"
TASK_TYPE = "self_instruct"
SEED_FILE = TASKS_DIR / "seed_tasks.yaml"
# Where servers put the list of tasks, best first; any other key holding the only list of objects also works.
LIST_KEYS = ("tasks", "instructions", "new_tasks", "items", "examples", "data", "results")
INSTRUCTION_KEYS = ("instruction", "task", "prompt")
INPUT_KEYS = ("input", "context")
OUTPUT_KEYS = ("output", "answer", "response")
# Weighted characters (a Han character counts three): far above any real task, far below a runaway answer.
MAX_INSTRUCTION_CHARS, MAX_INPUT_CHARS, MAX_OUTPUT_CHARS = 3000, 12_000, 12_000
ROUGE_THRESHOLD = 0.7  # Alpaca's: a candidate this close to any pool instruction is a near-duplicate

_CJK_CLASS = KANA_CLASS + HAN_CLASS + HANGUL_CLASS
# One token per CJK character, one per run of other letters/digits.
_TOKEN = re.compile(rf"[{_CJK_CLASS}]|[^\W_{_CJK_CLASS}]+")
_CJK_CHAR = re.compile(rf"[{_CJK_CLASS}]")
_LATIN_WORD = re.compile(rf"[^\W_{_CJK_CLASS}]+")
_NO_INPUT = {"", "<noinput>", "<no input>", "noinput", "none", "n/a", "na", "-", "無", "无", "（無）", "（无）"}

# Tasks a text-only model cannot do: Alpaca's keyword list plus Chinese equivalents.
# Chinese terms are specific phrases, not bare characters: a bare 畫 would also reject
# 計畫 (plan) and a bare 檔案 the 檔案法 (Archives Act), both common in our domains.
# Likewise "file" only as a noun: "file a tax return" is a task a text model can explain.
_CANNOT_DO = re.compile(
    r"\b(images?|pictures?|photos?|photographs?|graphs?|videos?|audio|music|songs?|recordings?"
    r"|maps?|flowcharts?|diagrams?|draw|drawing|plot|sketch|listen|go to|browse|upload(ed)?|attach(ed|ment)?)\b"
    r"|\b(the|this|that|these|those|a|an|your|my|attached|following|given|uploaded|provided|csv|excel|pdf)"
    r" files?\b"
    r"|圖片|图片|圖像|图像|照片|相片|截圖|截图|影片|視頻|视频|錄影|录像|音訊|音频|音檔|音档|錄音|录音|音樂|音乐"
    r"|畫圖|画图|畫出|画出|畫一|画一|繪製|绘制|繪圖|绘图|繪出|绘出|插圖|插图|圖表|图表|流程圖|流程图|地圖|地图"
    r"|聆聽|聆听|收聽|收听|觀看|观看|上傳|上传|附件|附檔|附档"
    r"|(這個|此|該|以下|下列|附加|上傳的|這份|那個)(檔案|文件檔)",
    re.IGNORECASE,
)


def load_seed_tasks(path: str | Path = SEED_FILE) -> list[dict]:
    """The seed tasks: dicts with instruction, input, output (and domain when given).

    A file that cannot be used is a DataAgentError naming it, which the CLI prints as one line.
    """
    data = read_yaml(path)
    seeds = data.get("seeds") if isinstance(data, dict) else data
    if not isinstance(seeds, list) or not seeds:
        raise DataAgentError("seed tasks must be a list (or a mapping with a 'seeds' list)", path)
    out = []
    for i, seed in enumerate(seeds):
        if not isinstance(seed, dict) or not seed.get("instruction") or not seed.get("output"):
            raise DataAgentError(f"seed {i} needs a non-empty instruction and output", path)
        out.append({**seed, "input": seed.get("input") or ""})
    return out


def _task_language(task: Mapping) -> str:
    return detect_language(task["instruction"] + "\n" + (task.get("input") or ""))


def build_requests(
    pool: Iterable[Mapping],
    *,
    num_requests: int = 1,
    k_new: int = 8,
    n_examples: int = 3,
    language: str = "en",
    domain: str | None = None,
    model: str | None = None,
    temperature: float = 1.0,
    max_tokens: int | None = None,
    seed: int = 0,
) -> list[GenRequest]:
    """``num_requests`` requests, each showing ``n_examples`` pool tasks and asking for ``k_new`` new ones.

    Examples are drawn from the pool's tasks in the prompt's language (and ``domain``) when
    there are enough, so the model sees what it is asked to write. Sampling is seeded:
    the same call builds the same requests, so a rerun hits the engine's cache. Requests
    avoid repeating an example set, as identical requests would share one cached answer.
    """
    lang = prompt_language(language, load_prompt(TEMPLATE))
    tasks = [dict(t) for t in pool]
    candidates = [t for t in tasks if domain is None or t.get("domain") == domain] or tasks
    same_lang = [t for t in candidates if _task_language(t) == lang]
    if len(same_lang) >= n_examples:
        candidates = same_lang
    if len(candidates) < n_examples:
        raise ValueError(f"the pool has {len(candidates)} usable tasks, fewer than n_examples={n_examples}")
    prompt = load_prompt(TEMPLATE)[lang]
    rng = random.Random(seed)
    seen: set[frozenset[int]] = set()
    requests = []
    for _ in range(num_requests):
        for _attempt in range(100):
            picked = rng.sample(range(len(candidates)), n_examples)
            if frozenset(picked) not in seen:
                break
        seen.add(frozenset(picked))
        examples = [candidates[i] for i in picked]
        shown = "\n\n".join(
            prompt["example"].format(
                i=n,
                instruction=t["instruction"].strip(),
                input=(t.get("input") or "").strip() or "-",
                output=t["output"].strip(),
            )
            for n, t in enumerate(examples, 1)
        )
        messages = render(
            TEMPLATE, lang, k=k_new, examples=shown, domain=prompt["domain"].format(domain=domain) if domain else ""
        )
        meta = {"language": lang, "k": k_new, "domain": domain, "examples": [t["instruction"] for t in examples]}
        if model:
            meta["model"] = model
        params = {
            "temperature": temperature,
            "max_tokens": max_tokens or 200 + 300 * k_new,
            "response_format": {"type": "json_object"},
        }
        requests.append(GenRequest(template=TEMPLATE, messages=messages, params=params, meta=meta))
    return requests


def tasks_of(value: object) -> list:
    """The task items of a parsed answer, in any of the shapes servers produce (see find_items)."""
    return find_items(value, ("instruction", "output"), LIST_KEYS)


def check_task(task: object, where: str, *, language: str = "en") -> tuple[str, str, str]:
    """(instruction, input, output) of one item, or a ParseError with a fixed category."""
    if not isinstance(task, dict):
        raise ParseError("item is not a JSON object", f"{where}: got {type(task).__name__}")
    item = lower_keys(task)
    fields = {
        "instruction": pick_field(item, INSTRUCTION_KEYS),
        "input": pick_field(item, INPUT_KEYS) or "",
        "output": pick_field(item, OUTPUT_KEYS),
    }
    instruction = need_str(fields, "instruction", where)
    input_ = need_str(fields, "input", where, allow_empty=True)
    output = need_str(fields, "output", where)
    # Sane bounds only: word counts and the rest of Alpaca's filter are filter_tasks's job.
    check_length(instruction, 4, MAX_INSTRUCTION_CHARS, "instruction", where)
    check_length(input_, 0, MAX_INPUT_CHARS, "input", where)
    check_length(output, 1, MAX_OUTPUT_CHARS, "output", where)
    if input_.casefold() in _NO_INPUT:
        input_ = ""  # Alpaca-style placeholders for "no input" mean an empty input here
    # Only script drift is an error: an English prompt may well yield "translate into Chinese" tasks.
    check_language(f"{instruction}\n{input_}\n{output}", language, same_family_only=True)
    return instruction, input_, output


def split_records(result: GenResult) -> tuple[list[dict], list[Reject]]:
    """(records, rejected items), shapes checked item by item; filtering is ``filter_tasks``'s job."""
    meta = result.request.meta
    tasks = tasks_of(answer_value(result))

    def one(task: object, where: str) -> dict:
        instruction, input_, output = check_task(task, where, language=meta.get("language", "en"))
        language = detect_language(f"{instruction}\n{input_}")
        return make_record(
            instruction,
            output,
            input=input_,
            task_type=TASK_TYPE,
            language=language if language != "und" else meta.get("language", "en"),
            generator=generator_name(meta),
            source_ref=f"self-instruct:{meta.get('domain') or 'general'}",
        )

    return check_items(tasks, one)


def to_records(result: GenResult) -> list[dict]:
    """One ``self_instruct`` record per generated task; any malformed task rejects the whole answer (ParseError)."""
    return all_or_nothing(*split_records(result))


def check_answer(text: str) -> str | None:
    """Why an answer cannot make tasks whatever its content (None when it can): for re-asking before caching."""

    def parse() -> None:
        try:
            value = parse_json_loose(text)
        except ValueError as exc:
            raise ParseError("unparseable") from exc
        for task in tasks_of(value):
            item = lower_keys(task) if isinstance(task, dict) else {}
            instruction, output = pick_field(item, INSTRUCTION_KEYS), pick_field(item, OUTPUT_KEYS)
            if isinstance(instruction, str) and instruction.strip() and isinstance(output, str) and output.strip():
                return
        raise ParseError("no item has an instruction and an output")

    return first_problem(parse)


def rouge_tokens(text: str) -> list[str]:
    """ROUGE tokens: each CJK character alone, other letters/digits as words, all normalised.

    Why not rouge_score (Alpaca's choice): its default tokenizer keeps only [a-z0-9] and
    drops every CJK character, so two Chinese instructions score 0 against each other
    and Alpaca's 0.7 near-duplicate filter never fires on Chinese. Characters are the
    natural unit for Chinese, which has no spaces to split words on.
    """
    return _TOKEN.findall(normalize_text(text))


def lcs_length(a: list[str], b: list[str]) -> int:
    """Length of the longest common subsequence (two-row dynamic programming)."""
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(a: str | list[str], b: str | list[str]) -> float:
    """ROUGE-L F1 between two texts (or token lists)."""
    ta = rouge_tokens(a) if isinstance(a, str) else a
    tb = rouge_tokens(b) if isinstance(b, str) else b
    if not ta or not tb:
        return 0.0
    lcs = lcs_length(ta, tb)
    if lcs == 0:
        return 0.0
    p, r = lcs / len(tb), lcs / len(ta)
    return 2 * p * r / (p + r)


def _reject_reason(instruction: str, *, min_words: int, min_cjk: int, max_words: int, max_cjk: int) -> str | None:
    cjk = len(_CJK_CHAR.findall(instruction))
    words = len(_LATIN_WORD.findall(instruction))
    if cjk and cjk >= words:
        if cjk < min_cjk:
            return "too_short"
        if cjk + words > max_cjk:
            return "too_long"
    elif words < min_words:
        return "too_short"
    elif words > max_words:
        return "too_long"
    first = instruction.lstrip()[:1]
    if not first or unicodedata.category(first)[0] not in "LN":
        return "bad_start"  # punctuation, symbols, emoji, markup: not a natural instruction
    visible = [ch for ch in instruction if not ch.isspace()]
    if sum(ch.isalpha() for ch in visible) < 0.5 * len(visible):
        return "non_language"  # mostly digits, symbols or code
    if _CANNOT_DO.search(instruction):
        return "cannot_do"
    return None


def filter_tasks(
    candidates: Iterable[Mapping],
    pool: Iterable[Mapping | str],
    *,
    threshold: float = ROUGE_THRESHOLD,
    min_words: int = 3,
    min_cjk: int = 6,
    max_words: int = 150,
    max_cjk: int = 300,
) -> tuple[list[dict], list[tuple[dict, str]]]:
    """(kept, [(rejected, reason), ...]) for candidate tasks (or records) against ``pool``.

    Reasons: too_short (< 3 words, or < 6 CJK characters for Chinese), too_long, bad_start,
    non_language, cannot_do, near_duplicate (ROUGE-L F > ``threshold`` against the pool or
    a candidate already kept). Each rejected task carries only its first failing reason;
    ``count_reasons`` tallies them.
    """
    known = [rouge_tokens(p if isinstance(p, str) else p["instruction"]) for p in pool]
    kept: list[dict] = []
    rejected: list[tuple[dict, str]] = []
    for cand in candidates:
        task = dict(cand)
        instruction = str(task.get("instruction") or "").strip()
        reason = _reject_reason(instruction, min_words=min_words, min_cjk=min_cjk, max_words=max_words, max_cjk=max_cjk)
        if reason is None:
            tokens = rouge_tokens(instruction)
            for other in known:
                # LCS <= the shorter length, so F <= 2*min/(n+m): skip pairs that cannot reach the threshold.
                if 2 * min(len(tokens), len(other)) <= threshold * (len(tokens) + len(other)):
                    continue
                if rouge_l(tokens, other) > threshold:
                    reason = "near_duplicate"
                    break
        if reason:
            rejected.append((task, reason))
        else:
            kept.append(task)
            known.append(rouge_tokens(instruction))
    return kept, rejected


def count_reasons(rejected: Iterable[tuple[dict, str]]) -> dict[str, int]:
    """How many tasks each rejection reason removed."""
    return dict(Counter(reason for _, reason in rejected))


def engine_check(request: GenRequest, text: str, data: object) -> str | None:
    """The engine's re-ask check (synth.engine.register_check): why this answer makes no record, or None."""
    return useless_answer(split_records, request, text, data)


register_check(TEMPLATE, engine_check)
