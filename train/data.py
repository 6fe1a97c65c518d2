"""Prompt templates and tokenisation with the loss on the response only."""

from __future__ import annotations

import random
from collections.abc import Iterator

import torch

from validate.errors import DataAgentError

ALPACA = (
    "Below is an instruction that describes a task{ctx}. Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n{input_block}### Response:\n"
)
IGNORE = -100


def alpaca_prompt(instruction: str, input_: str = "") -> str:
    has_input = bool(input_ and input_.strip())
    return ALPACA.format(
        ctx=", paired with an input that provides further context" if has_input else "",
        instruction=instruction,
        input_block=f"### Input:\n{input_}\n\n" if has_input else "",
    )


def resolve_template(name: str, tokenizer: object) -> str:
    """ "auto" picks the model's own chat template when it has one, Alpaca otherwise."""
    has_chat = bool(getattr(tokenizer, "chat_template", None))
    if name == "chat" and not has_chat:
        raise DataAgentError("train: --template chat, but the model's tokenizer has no chat template")
    if name == "auto":
        return "chat" if has_chat else "alpaca"
    return name


def _user_turn(record: dict) -> str:
    ctx = record.get("input") or ""
    return record["instruction"] + (f"\n\n{ctx}" if ctx.strip() else "")


def split_text(tokenizer: object, record: dict, template: str) -> tuple[str, str, bool]:
    """(prompt, response, needs_eos): the record as the model will read it, cut where the loss starts.

    Chat templates close the assistant turn themselves, so their response already carries the end
    marker; the prompt must be a prefix of the whole conversation or the cut would be wrong.
    """
    if template == "alpaca":
        return alpaca_prompt(record["instruction"], record.get("input") or ""), record["output"], True
    user = [{"role": "user", "content": _user_turn(record)}]
    prompt = tokenizer.apply_chat_template(user, tokenize=False, add_generation_prompt=True)
    full = tokenizer.apply_chat_template([*user, {"role": "assistant", "content": record["output"]}], tokenize=False)
    if not full.startswith(prompt):
        raise DataAgentError("train: the chat template does not render the prompt as a prefix of the conversation")
    return prompt, full[len(prompt) :], False


def bos_head(tokenizer: object, ids: list[int]) -> list[int]:
    """[bos] when the tokenizer has one and ``ids`` (a prompt) does not already start with it, else [].

    Chat templates often write the BOS token into the text themselves; adding a second one would give
    the model an input it never saw in pretraining.
    """
    bos = tokenizer.bos_token_id
    return [bos] if bos is not None and (not ids or ids[0] != bos) else []


# A prompt that leaves fewer response tokens than this teaches (and measures) next to nothing about the pairing.
MIN_RESPONSE_TOKENS = 16


def _encode(
    tokenizer: object,
    prompt: str,
    response: str,
    max_len: int,
    add_eos: bool = True,
    min_response_tokens: int = MIN_RESPONSE_TOKENS,
) -> tuple[dict[str, list[int]], str]:
    """The example and what was cut: "" (nothing), "response_cut" or "prompt_too_long".

    The prompt (with BOS) stays whole and the response loses its tail: a held-out prompt without its
    instruction would be judged on a question the model never saw. Only a prompt that leaves fewer than
    ``min_response_tokens`` response tokens (or the whole response, if shorter) is cut, from the left,
    and reported as "prompt_too_long" so callers can count it or drop such rows beforehand.
    """
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    r = tokenizer(response, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if add_eos else [])
    p = bos_head(tokenizer, p) + p
    want = min(len(r), min_response_tokens)
    if len(p) + want <= max_len:
        kept = r[: max_len - len(p)]
        return {"input_ids": p + kept, "labels": [IGNORE] * len(p) + kept}, "response_cut" if len(kept) < len(r) else ""
    bos = p[:1] if p and p[0] == tokenizer.bos_token_id else []
    body = p[len(bos) :]
    # At least one response token even when max_len is tiny, so the row still carries a label.
    r = r[: max(1, min(want, max_len - len(bos) - 1))]
    bos = bos[: max(0, max_len - len(r))]
    room = max(0, max_len - len(bos) - len(r))
    p = bos + (body[max(0, len(body) - room) :] if room else [])
    return {"input_ids": p + r, "labels": [IGNORE] * len(p) + r}, "prompt_too_long"


def encode_example(
    tokenizer: object,
    prompt: str,
    response: str,
    max_len: int,
    add_eos: bool = True,
    min_response_tokens: int = MIN_RESPONSE_TOKENS,
) -> dict[str, list[int]]:
    """input_ids and labels; prompt tokens are masked so only the response is learned.

    The prompt is kept whole and the response's tail is cut when both do not fit in ``max_len``; only a
    prompt too long to leave ``min_response_tokens`` response tokens loses its beginning (see ``_encode``).
    """
    return _encode(tokenizer, prompt, response, max_len, add_eos, min_response_tokens)[0]


def prompt_fits(
    tokenizer: object, record: dict, max_len: int, template: str, min_response_tokens: int = MIN_RESPONSE_TOKENS
) -> bool:
    """True when the record's whole prompt (with BOS) plus ``min_response_tokens`` response tokens (or the
    whole response, if it is shorter) fit in ``max_len``: the rows whose prompt would otherwise be cut."""
    prompt, response, eos = split_text(tokenizer, record, template)
    p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    p = bos_head(tokenizer, p) + p
    if len(p) + min_response_tokens <= max_len:
        return True  # no need to tokenise the response
    r = len(tokenizer(response, add_special_tokens=False)["input_ids"]) + int(eos)
    return len(p) + min(r, min_response_tokens) <= max_len


def encode_records(
    tokenizer: object,
    records: list[dict],
    max_len: int,
    template: str = "alpaca",
    stats: dict | None = None,
    *,
    min_response_tokens: int = MIN_RESPONSE_TOKENS,
) -> list[dict[str, list[int]]]:
    """One example per record, in order.

    With ``stats``, adds to its ``response_cut`` (the prompt fit whole, the response's tail was cut) and
    ``prompt_too_long`` (the prompt itself was cut from the left; ``prompt_fits`` is False) counts; a row
    is counted under at most one of them.
    """
    if stats is not None:
        stats.setdefault("response_cut", 0)
        stats.setdefault("prompt_too_long", 0)
    out = []
    for r in records:
        prompt, response, eos = split_text(tokenizer, r, template)
        example, cut = _encode(tokenizer, prompt, response, max_len, eos, min_response_tokens)
        if cut and stats is not None:
            stats[cut] += 1
        out.append(example)
    return out


def encode_text_blocks(tokenizer: object, texts: list[str], block: int) -> list[dict[str, list[int]]]:
    """Plain causal-LM blocks over raw text (the tiny base's short pretraining pass)."""
    ids: list[int] = []
    for text in texts:
        ids += [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    return [{"input_ids": ids[i : i + block], "labels": ids[i : i + block]} for i in range(0, len(ids) - 1, block)]


def collate(examples: list[dict[str, list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    width = max(len(e["input_ids"]) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e["input_ids"])
        ids[i, :n] = torch.tensor(e["input_ids"])
        labels[i, :n] = torch.tensor(e["labels"])
        mask[i, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def targets(example: dict[str, list[int]]) -> int:
    """How many of the example's tokens the loss is taken on (labels after the one-token shift)."""
    return sum(1 for label in example["labels"][1:] if label != IGNORE)


def shard(rows: list, rank: int, world: int) -> list:
    """Process ``rank``'s contiguous share of one global batch; shares differ in size by at most one row."""
    return rows[rank * len(rows) // world : (rank + 1) * len(rows) // world]


def placeholder(pad_id: int) -> dict[str, torch.Tensor]:
    """A batch with nothing to learn, for a process whose share of a short last batch is empty: it still has
    to run forward and backward with the others (its gradients are zero), or the gradient all-reduce hangs."""
    return {
        "input_ids": torch.full((1, 2), pad_id, dtype=torch.long),
        "labels": torch.full((1, 2), IGNORE, dtype=torch.long),
        "attention_mask": torch.ones((1, 2), dtype=torch.long),
    }


def batches(
    examples: list[dict], batch_size: int, pad_id: int, seed: int, rank: int = 0, world: int = 1
) -> Iterator[dict[str, torch.Tensor]]:
    """An endless shuffled stream of padded batches of ``batch_size`` rows, reshuffled each epoch with a fixed seed.

    ``batch_size`` is the global batch. Under data parallelism every process draws the same order and the
    same global batches, and process ``rank`` of ``world`` keeps its share of each (``shard``): together
    the processes train on exactly the rows one process would, step for step. Every batch also carries
    the global batch's ``tokens`` (prompt + response, no padding) and ``targets`` (tokens the loss is
    taken on), so the loop can count the budget and normalise the loss without asking the other processes.
    """
    rng = random.Random(seed)
    order = list(range(len(examples)))
    while True:
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            rows = [examples[j] for j in order[i : i + batch_size]]
            mine = shard(rows, rank, world)
            batch = collate(mine, pad_id) if mine else placeholder(pad_id)
            batch["tokens"] = torch.tensor(sum(len(e["input_ids"]) for e in rows))
            batch["targets"] = torch.tensor(sum(targets(e) for e in rows))
            yield batch


def shuffled_responses(records: list[dict], seed: int) -> list[dict]:
    """The control set: every record keeps its prompt but gets another record's response."""
    rng = random.Random(seed)
    n = len(records)
    # Sattolo's shuffle is a single n-cycle, so no record keeps its own response.
    perm = list(range(n))
    for i in range(n - 1, 0, -1):
        j = rng.randrange(i)
        perm[i], perm[j] = perm[j], perm[i]
    return [{**r, "output": records[perm[i]]["output"]} for i, r in enumerate(records)]


def swapped_prompts(records: list[dict], key: str = "source_ref") -> list[dict]:
    """Held-out records with each response under another record's instruction and input.

    Records are ordered by source and the prompts rotated by half the set, so a response is (where the
    set allows) paired with a prompt from a different source: a sibling question of the same page could
    otherwise be almost as good a prompt and hide the gain.
    """
    order = sorted(range(len(records)), key=lambda i: (str(records[i].get(key, "")), i))
    shift = max(1, len(order) // 2)
    out = [dict(r) for r in records]
    for pos, i in enumerate(order):
        donor = records[order[(pos + shift) % len(order)]]
        out[i]["instruction"], out[i]["input"] = donor["instruction"], donor.get("input", "")
    return out
