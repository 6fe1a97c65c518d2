"""The quality gate as a readable specification: one plain Python function per check, on one record.

``check_records(records, cfg)`` gives each record's quarantine reasons exactly as ``validate.quality.run_gate``
does (tests/test_gate_spec.py holds them to it, row by row and reason by reason), but reads like the definition
of each check: no pandas, no pyarrow, no screens. The gate's vectorised kernels in ``validate/quality.py`` are
the fast implementation of these functions, and call the same per-row functions of ``validate/semantic.py`` on
the rows their screens flag. bench/gate_bench.py times this loop against the gate.

Adding a check touches one place per layer: its function here (and its line in ``check_record``); its
vectorised kernel and its ``pa.Check`` in ``quality_schema`` (validate/quality.py); its signal in
validate/semantic.py if it has one; its thresholds, each with a comment, in validate/gate_defaults.yaml.
A new reason label must also be one ``validate.quality.known_checks()`` lists (it does for every schema check).

Every check reads a record's text fields after PII scrubbing (scrubbing changes the record and its id), and
only records that pass every check are compared for exact duplicates (the first copy is kept).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import hanzidentifier

from validate import quality as q
from validate import semantic
from validate.codecheck import code_spans
from validate.contracts import InstructionRecord
from validate.exactdup import DEDUP_SPACE
from validate.pii import CODE_POLICY, KINDS, TEXT_FIELDS, scrub_text
from validate.quality import GateConfig, code_ok, json_ok
from validate.text import estimate_tokens as approx_tokens
from validate.text import han_count as _han
from validate.text import record_id


@lru_cache(maxsize=256)
def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _has(pattern: str, text: str) -> bool:
    return bool(pattern) and _rx(pattern).search(text) is not None


# --- the contract: regex rules on single fields ------------------------------------------------------------------


@lru_cache(maxsize=1)
def _contract_rules() -> list[tuple[str, str, str]]:
    """(field, "match" or "search", pattern) for each regex rule of InstructionRecord, with its label."""
    rules = []
    for name, col in InstructionRecord.to_schema().columns.items():
        for c in col.checks:
            if c.name in ("str_matches", "str_contains"):
                mode = "match" if c.name == "str_matches" else "search"
                rules.append((name, mode, c.statistics["pattern"], f"{name}:{c.error or c.name}"))
    return rules


def contract_failures(record: dict) -> list[str]:
    """The contract's regex rules the record breaks (id format, non-blank text, language tag, ...)."""
    bad = []
    for name, mode, pattern, label in _contract_rules():
        rx = _rx(pattern)
        if (rx.match if mode == "match" else rx.search)(record[name]) is None:
            bad.append(label)
    return bad


# --- length bounds on each text field --------------------------------------------------------------------------


def _bounds(cfg: GateConfig, field: str) -> tuple[int, int | None, int | None, int | None]:
    return (
        getattr(cfg, f"min_{field}_chars", 0),
        getattr(cfg, f"max_{field}_chars", None),
        getattr(cfg, f"min_{field}_tokens", None),
        getattr(cfg, f"max_{field}_tokens", None),
    )


def too_short(text: str, lo: int) -> bool:
    """Shorter than ``lo`` weighted characters (Han counts 3) once whitespace and zero-width characters are
    removed from both ends."""
    return bool(lo) and semantic.weighted_length(semantic.visible(text)) < lo


def output_too_short(record: dict, cfg: GateConfig) -> bool:
    """The output bound, except that a one-character answer (a digit, a letter) to a closed or math question
    is complete."""
    out = record["output"]
    return too_short(out, cfg.min_output_chars) and not semantic.short_answer_ok(
        out, record["instruction"], record["task_type"], cfg.closed_task_types
    )


def too_long(text: str, hi: int | None) -> bool:
    return hi is not None and semantic.weighted_length(text) > hi


# --- encoding and characters -------------------------------------------------------------------------------------


def mojibake(text: str, cfg: GateConfig) -> bool:
    """Latin-1/cp1252 readings of UTF-8 ("cafÃ©", "â€™"), replacement characters, or CJK text that a wrong
    decoder garbled (it round-trips into clearly more plausible text)."""
    return _has(q.MOJIBAKE, text) or semantic.garbled(text, cfg.mojibake_min_share, cfg.mojibake_min_gain)


def control_chars(text: str) -> bool:
    return _has(q.CONTROL, text)


# --- the answer --------------------------------------------------------------------------------------------------


def refusal_boilerplate(record: dict, cfg: GateConfig) -> bool:
    """An apology / inability / identity-as-AI construction opens the answer (or its last paragraph); the
    extra ``refusal_pattern`` anywhere."""
    out = record["output"]
    if _has(cfg.refusal_pattern, out):
        return True
    return semantic.refuses(
        out, record["instruction"], record["input"], cfg.refusal_opening_sentences, cfg.refusal_opening_chars
    )


def merged_instructions(record: dict, cfg: GateConfig) -> bool:
    """An ``Instruction:``-style label (``merged_pattern``), or a second question/answer turn after the first."""
    out = record["output"]
    label = _has(cfg.merged_pattern, out) and not semantic.is_code(out, record["task_type"])
    return label or semantic.merged_turn(out, record["instruction"])


def truncated_output(record: dict, cfg: GateConfig) -> bool:
    return semantic.truncated(
        record["output"],
        record["instruction"],
        record["input"],
        record["task_type"],
        *cfg.truncation_settings,
    )


def echoes_instruction(record: dict, cfg: GateConfig) -> bool:
    """The answer restates the instruction (labels such as "Question:" removed, repeats allowed)."""
    out, ins = record["output"], record["instruction"]
    if not semantic.echo_candidate(len(out), len(ins), cfg.echo_max_length_ratio):
        return False
    return semantic.echo_of(
        semantic.echo_norm(out),
        semantic.echo_norm(ins),
        cfg.echo_min_chars,
        cfg.echo_residual_chars,
        cfg.echo_overlap_ratio,
        cfg.echo_overlap_max_chars,
    )


def template_leak(record: dict, cfg: GateConfig) -> bool:
    """A placeholder, chat token or role tag left in any field: a match of ``leak_pattern`` that is a leak where it
    stands (``semantic.leak_outside_code``: in code, strings, comments and statement lines are code's own text)."""
    return any(
        _has(cfg.leak_pattern, record[f])
        and semantic.leak_outside_code(record[f], record["task_type"], cfg.leak_pattern)
        for f in TEXT_FIELDS
    )


def _script(text: str, cfg: GateConfig) -> tuple[bool, bool]:
    """(judgeable, Chinese) from Han and Latin letter counts: Chinese from ``language_min_han`` Han characters,
    other text from ``language_min_letters`` letters; bilingual text (a Han share between half the threshold
    and the threshold) is judged neither way, and Japanese or Korean text is not Chinese."""
    text = _rx(q.NON_PROSE).sub("", text)  # URLs, paths, names, quoted titles: no language to judge
    han = _han(text)
    letters = han + len(_rx(q.LATIN).findall(text))
    share = han / max(letters, 1)
    if _has(q.KANA_HANGUL, text):
        return letters >= cfg.language_min_letters, False
    if cfg.language_han_share / 2 <= share < cfg.language_han_share:
        return False, False
    if share >= cfg.language_han_share:
        return han >= cfg.language_min_han, True
    return letters >= cfg.language_min_letters, False


def language_mismatch(record: dict, cfg: GateConfig) -> bool:
    """The answer is Chinese and the question is not (or the reverse), or both are Chinese in different scripts
    (hanzidentifier: characters only one script uses). The answer may follow the context's language or script
    instead. Tasks where a switch is expected and code answers are skipped; JSON answers (whose keys and values
    may be extracted literals) are judged on their script only."""
    ins, ctx, out = record["instruction"], record["input"], record["output"]
    if _has(cfg.language_skip_task_types, record["task_type"]) or _has(q.CODE_HINT, out):
        return False
    q_known, q_zh = _script(ins, cfg)
    a_known, a_zh = _script(out, cfg)
    x_known, x_zh = _script(ctx, cfg) if ctx else (False, False)
    if q_known and a_known and q_zh != a_zh and not _has(q.JSON_START, out):
        return not (x_known and x_zh == a_zh)
    if q_zh and a_zh:
        scripts = {hanzidentifier.TRADITIONAL, hanzidentifier.SIMPLIFIED}
        qs, as_ = hanzidentifier.identify(ins), hanzidentifier.identify(out)
        if qs in scripts and as_ in scripts and qs != as_:
            return not (ctx and _script(ctx, cfg)[1] and hanzidentifier.identify(ctx) == as_)
    return False


def code_syntax_error(record: dict, cfg: GateConfig) -> bool:
    """A ```python block, or the whole output of a code task that starts like Python, does not parse."""
    out = record["output"]
    if _has(q.PY_FENCE, out):
        return not code_ok(out, True)
    return _has(cfg.code_task_types, record["task_type"]) and _has(q.PY_START, out) and not code_ok(out, False)


def json_invalid(record: dict, cfg: GateConfig) -> bool:
    """A ```json block, or the whole output of a json/extract task that starts with { or [, is not JSON."""
    out = record["output"]
    if _has(q.JSON_FENCE, out):
        return not json_ok(out, True)
    return _has(cfg.json_task_types, record["task_type"]) and _has(q.JSON_START, out) and not json_ok(out, False)


def pii_reject(record: dict, kind: str) -> bool:
    """A text field holds a value of a PII kind whose policy is reject (checksum-validated where there is one)."""
    k = KINDS[kind]
    for f in TEXT_FIELDS:
        t = record[f]
        if not _rx(k.candidate).search(t):
            continue
        if any(
            (k.validator is None or k.validator(m.group())) and (k.context is None or k.context(t, m.start(), m.end()))
            for m in k.regex.finditer(t)
        ):
            return True
    return False


# --- one record, then all of them --------------------------------------------------------------------------------


def scrub(record: dict, cfg: GateConfig) -> dict:
    """The record with PII of every "scrub" kind replaced ([EMAIL], [PHONE], ...) and its id recomputed. Inside
    code (``code_spans``) the kinds that ``CODE_POLICY`` turns off there are kept: an IP or a number in code is
    code's own literal."""
    texts = [record[f] for f in TEXT_FIELDS]
    changed = False
    for kind, policy in cfg.pii.items():
        if policy != "scrub":
            continue
        in_code = CODE_POLICY.get(kind, "same") != "off"
        for j, t in enumerate(texts):
            if _rx(KINDS[kind].candidate).search(t):
                keep = () if in_code else code_spans(t, record["task_type"])
                new, hits = scrub_text(t, KINDS[kind], keep=keep)
                if hits and new != t:
                    texts[j], changed = new, True
    if not changed:
        return record
    return {**record, **dict(zip(TEXT_FIELDS, texts, strict=True)), "id": record_id(*texts)}


def check_record(record: dict, cfg: GateConfig) -> list[str]:
    """The sorted reasons (check labels) a record fails; empty when it passes. ``record`` is already scrubbed."""
    bad = contract_failures(record)
    for f in TEXT_FIELDS:
        t = record[f]
        lo, hi, lo_tok, hi_tok = _bounds(cfg, f)
        if output_too_short(record, cfg) if f == "output" else too_short(t, lo):
            bad.append(f"{f}:too_short")
        if too_long(t, hi):
            bad.append(f"{f}:too_long")
        if lo_tok and approx_tokens(t) < lo_tok:
            bad.append(f"{f}:too_few_tokens")
        if hi_tok is not None and approx_tokens(t) > hi_tok:
            bad.append(f"{f}:too_many_tokens")
        if mojibake(t, cfg):
            bad.append(f"{f}:mojibake")
        if control_chars(t):
            bad.append(f"{f}:control_chars")
    checks = {
        "output:refusal_boilerplate": refusal_boilerplate,
        "output:merged_instructions": merged_instructions,
        "output:truncated_output": truncated_output,
        "output_echoes_instruction": echoes_instruction,
        "template_leak": template_leak,
        "language_mismatch": language_mismatch,
        "code_syntax_error": code_syntax_error,
        "json_invalid": json_invalid,
    }
    bad += [label for label, check in checks.items() if check(record, cfg)]
    bad += [f"pii:{kind}" for kind, policy in cfg.pii.items() if policy == "reject" and pii_reject(record, kind)]
    return sorted(set(bad))


def dedup_key(record: dict) -> tuple[str, ...]:
    """The exact-duplicate key: each text field NFKD-normalised, lowercased, whitespace collapsed."""
    space = _rx(DEDUP_SPACE + "+")
    return tuple(space.sub(" ", unicodedata.normalize("NFKD", record[f]).lower()).strip() for f in TEXT_FIELDS)


def check_records(records: list[dict], cfg: GateConfig | None = None) -> list[list[str]]:
    """Each record's quarantine reasons (empty: accepted), one record at a time: PII scrubbed, every check,
    then exact duplicates among the records that pass (the first copy is kept), then records reusing the id of an
    accepted one for other content."""
    cfg = cfg or GateConfig()
    seen: set[tuple[str, ...]] = set()
    ids: set[str] = set()
    result = []
    for record in records:
        r = scrub(record, cfg)
        bad = check_record(r, cfg)
        if not bad:
            key = dedup_key(r)
            if key in seen:
                bad = ["exact_duplicate"]
            elif r["id"] in ids:
                bad = ["id_conflict"]  # another content under the id of an accepted record
            else:
                ids.add(r["id"])
            seen.add(key)
        result.append(bad)
    return result
