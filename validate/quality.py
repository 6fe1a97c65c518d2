"""Quality checks on InstructionRecord, built as one pandera schema on top of the contract.

Each check is a named, vectorised pandera Check, so a quarantined row says exactly which checks it
failed, and lazy validation reports them all in one pass. Column checks are labelled
``<field>:<check>`` in the quarantine reasons, frame checks by their name (the output checks that need the
instruction or task type are frame checks named ``output:<check>``).

``validate/spec.py`` is the readable definition: one plain function per check on one record; the kernels here
implement it over whole columns and must agree with it row by row (tests/test_gate_spec.py). The semantic
signals (refusals, truncation, merged turns, echoes, closed questions, mojibake) live in ``validate/semantic.py``;
the kernels here screen whole columns and call those functions only on the rows a screen flags. Adding a check:
its function in validate/spec.py, its kernel and ``pa.Check`` in ``quality_schema`` here, its thresholds in
validate/gate_defaults.yaml (and GateConfig below).

Speed: every check runs whole-column pyarrow compute (RE2 regexes, lengths) or numpy over the UTF-8 bytes
(letter counts, whitespace runs, edges) on the Arrow strings pandas 3 stores; one RE2 screen per field
settles the clean rows for the pattern checks (the semantic screens, whose large character classes and
alternations would overflow RE2's DFA in one union, are passes of their own), and Python runs per row only on
small candidate sets (PII validators, ``ast``/``json`` parsing and validate.codecheck, mojibake round trips,
truncation, merged turns, echo containment). The failing rows are read off each check's own
output, not off pandera's formatted failure cases. Large frames are validated in chunks by worker
processes; exact duplicates are found once over all chunks. Patterns are written in the common subset of
RE2 and Python ``re`` so a plain loop with ``re`` gives the same answers (bench/gate_bench.py checks that).
Thresholds and policies live in ``validate/gate_defaults.yaml``.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import difflib
import gc
import json
import multiprocessing as mp
import os
import re
import textwrap
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow_
import pyarrow.compute as pc
import yaml

from validate import codecheck, semantic
from validate.arrowtext import (
    Screen,
    approx_tokens,
    as_arrow,
    contains,
    ends_with,
    ends_with_number_stop,
    has_byte,
    length,
    letter_counts,
    np_bool,
    weighted_lengths,
)
from validate.contracts import InstructionRecord
from validate.errors import DataAgentError
from validate.exactdup import exact_duplicates, fingerprints
from validate.gate import REASONS, type_failures
from validate.hanzi import SIMP_ONLY_CLASS, TRAD_ONLY_CLASS
from validate.pii import KINDS, POLICIES, TEXT_FIELDS, PiiKind, detect, scrub_changes
from validate.text import HAN as HAN  # re-exported: the gate's patterns are read off this module
from validate.text import record_id

DEFAULTS_PATH = Path(__file__).with_name("gate_defaults.yaml")

# --- fixed pattern families (not thresholds, so not in the YAML) ------------------------------------------------
LATIN = "[A-Za-z]"
# UTF-8 read as Latin-1/cp1252: "Ã©", "Â\xa0", "â€™", "å\x8f", "ï¼", "ä¸", and U+FFFD replacement characters.
MOJIBAKE = r"[\xc2\xc3][\x80-\xbf]|\xe2" + "\u20ac" + r"|[\xe0-\xef][\x80-\x9f\xa1-\xbf]|" + "\ufffd"
# C0 controls except \t \n, DEL, C1 controls, and a CR that is not part of CRLF.
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r[^\n]"
# Characters only one Chinese script uses (CC-CEDICT through hanzidentifier): Traditional, Simplified.
HANT_MARK = TRAD_ONLY_CLASS
HANS_MARK = SIMP_ONLY_CLASS
KANA_HANGUL = "[\u3040-\u30ff\u3130-\u318f\uac00-\ud7af]"
CODE_FENCE = "```"
PY_FENCE = r"```(?:python3?|py)[ \t]*\n"
JSON_FENCE = r"```json[ \t]*\n"
JSON_START = r"^[ \t\n\r]*[\[{]"
_PY_BLOCKS = re.compile(r"```(?:python3?|py)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_JSON_BLOCKS = re.compile(r"```json[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
PY_START = r"^[ \t]*(?:def [A-Za-z_]|async def |class [A-Za-z_][A-Za-z0-9_]*[:(]|from [A-Za-z_.]+ import |@[A-Za-z_])"
# Characters that may close a text (a sentence, a list item, a quote, a code line): the byte-level ends_with helper
# is tested against them. Truncation itself reads validate.semantic.SENTENCE_FINAL.
TERMINAL = ".!?。！？…\"'”’」』)）]】}>》*`:：;；|~"
CODE_HINT = r"\n(?:    |\t)[^ \t\n]|```"
# What the language check does not read as prose: URLs, `code`, quoted ASCII (a title, a command), paths, file,
# identifier and package names, command options, versions, man-page references ("ssh(1)"). A Chinese answer that
# points at /etc/fstab, dh_make and "The Linux kernel user's guide" is still Chinese; an answer of paths alone has
# no language to judge. ASCII classes only, so RE2 (the kernel) and Python re (the spec) read it alike.
NON_PROSE = (
    r"https?://[!-~]+|`[^`\n]*`|\"[ -~‘’]*\"|“[ -~‘’]*”"
    r"|[!-~]*[A-Za-z0-9][/_.:][A-Za-z0-9][!-~]*|[!-~]*\([0-9][a-z]*\)|/[!-~]+"
    r"|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+|(?:^| )--?[A-Za-z][!-~]*"  # package-names, command --options
)
# Echo comparison keeps letters and digits only; Python re has no \p{..}, and [\W_] is the same class there.
ECHO_DROP = r"[^\p{L}\p{N}]+"
ECHO_DROP_PY = r"[\W_]+"
# Whitespace the dedup key collapses (validate.text.normalize_text's \s after NFKD), as literal characters so
# RE2 and Python re read the same class.


def _load_defaults() -> dict[str, Any]:
    return yaml.safe_load(DEFAULTS_PATH.read_text(encoding="utf-8"))


_DEFAULTS = _load_defaults()


def _default(key: str) -> Any:
    value = _DEFAULTS[key]
    return (lambda: dict(value)) if isinstance(value, dict) else (lambda: value)


@dataclass
class GateConfig:
    """Every threshold and policy of the gate; defaults come from ``gate_defaults.yaml`` (documented there)."""

    min_instruction_chars: int = field(default_factory=_default("min_instruction_chars"))
    max_instruction_chars: int = field(default_factory=_default("max_instruction_chars"))
    min_input_chars: int = field(default_factory=_default("min_input_chars"))
    max_input_chars: int = field(default_factory=_default("max_input_chars"))
    min_output_chars: int = field(default_factory=_default("min_output_chars"))
    max_output_chars: int = field(default_factory=_default("max_output_chars"))
    max_instruction_tokens: int = field(default_factory=_default("max_instruction_tokens"))
    max_input_tokens: int = field(default_factory=_default("max_input_tokens"))
    min_output_tokens: int = field(default_factory=_default("min_output_tokens"))
    max_output_tokens: int = field(default_factory=_default("max_output_tokens"))
    echo_min_chars: int = field(default_factory=_default("echo_min_chars"))
    echo_overlap_ratio: float = field(default_factory=_default("echo_overlap_ratio"))
    echo_overlap_max_chars: int = field(default_factory=_default("echo_overlap_max_chars"))
    echo_residual_chars: int = field(default_factory=_default("echo_residual_chars"))
    echo_max_length_ratio: float = field(default_factory=_default("echo_max_length_ratio"))
    truncation_min_chars: int = field(default_factory=_default("truncation_min_chars"))
    truncation_min_chars_latin: int = field(default_factory=_default("truncation_min_chars_latin"))
    truncation_dangling_min_chars: int = field(default_factory=_default("truncation_dangling_min_chars"))
    truncation_min_function_words: int = field(default_factory=_default("truncation_min_function_words"))
    truncation_model_keep_at_most: float = field(default_factory=_default("truncation_model_keep_at_most"))
    truncation_model_cut_above: float = field(default_factory=_default("truncation_model_cut_above"))
    closed_task_types: str = field(default_factory=_default("closed_task_types"))
    language_min_letters: int = field(default_factory=_default("language_min_letters"))
    language_min_han: int = field(default_factory=_default("language_min_han"))
    language_han_share: float = field(default_factory=_default("language_han_share"))
    language_skip_task_types: str = field(default_factory=_default("language_skip_task_types"))
    code_task_types: str = field(default_factory=_default("code_task_types"))
    json_task_types: str = field(default_factory=_default("json_task_types"))
    refusal_opening_sentences: int = field(default_factory=_default("refusal_opening_sentences"))
    refusal_opening_chars: int = field(default_factory=_default("refusal_opening_chars"))
    mojibake_min_share: float = field(default_factory=_default("mojibake_min_share"))
    mojibake_min_gain: float = field(default_factory=_default("mojibake_min_gain"))
    refusal_pattern: str = field(default_factory=_default("refusal_pattern"))
    leak_pattern: str = field(default_factory=_default("leak_pattern"))
    merged_pattern: str = field(default_factory=_default("merged_pattern"))
    pii: dict[str, str] = field(default_factory=_default("pii"))
    max_failure_rate: dict[str, float | None] = field(default_factory=_default("max_failure_rate"))

    @property
    def truncation_settings(self) -> tuple:
        """``semantic.truncated``'s settings after the record's four fields, in its order: one list for the
        gate, the spec and anyone else who calls it."""
        return (
            self.truncation_min_chars,
            self.truncation_min_chars_latin,
            self.truncation_dangling_min_chars,
            self.truncation_min_function_words,
            self.closed_task_types,
            (self.truncation_model_keep_at_most, self.truncation_model_cut_above),
        )

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_setting(f.name, getattr(self, f.name), _DEFAULTS[f.name])
        for kind, policy in self.pii.items():
            if kind not in KINDS:
                raise DataAgentError(f"gate setting 'pii': unknown PII kind '{kind}'{_did_you_mean(kind, KINDS)}")
            if policy not in POLICIES:
                raise DataAgentError(f"gate setting 'pii.{kind}' must be one of {', '.join(POLICIES)}, got {policy!r}")
        for check, limit in self.max_failure_rate.items():
            if limit is not None and not (
                isinstance(limit, int | float) and not isinstance(limit, bool) and 0 <= limit <= 1
            ):
                raise DataAgentError(
                    f"gate setting 'max_failure_rate.{check}' must be a rate from 0 to 1 or null, got {limit!r}"
                )

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> GateConfig:
        """The defaults with the keys of ``path`` (if given) laid over them; mappings merge key by key.

        Every key, value type and check name is checked, and an error names the file and the key's line.
        """
        values = _load_defaults()
        if path is None:
            return cls(**values)
        p = Path(path)
        if not p.is_file():
            raise DataAgentError("no such gate config file", p)
        try:
            text = p.read_text(encoding="utf-8")
            user = yaml.safe_load(text) or {}
        except UnicodeDecodeError as exc:
            raise DataAgentError(f"gate config is not UTF-8 text (byte {exc.start})", p) from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = None if mark is None else mark.line + 1
            raise DataAgentError(
                f"gate config is not valid YAML: {getattr(exc, 'problem', None) or exc}", p, line=line
            ) from None
        if not isinstance(user, dict):
            raise DataAgentError("gate config must be a mapping of settings to values", p)
        for key in user:
            if key not in _DEFAULTS:
                raise DataAgentError(
                    f"unknown gate setting '{key}'{_did_you_mean(str(key), _DEFAULTS)}", p, line=_key_line(text, key)
                )
        for key, value in user.items():
            if isinstance(values.get(key), dict) and isinstance(value, dict):
                values[key] = {**values[key], **value}
            else:
                values[key] = value
        try:
            cfg = cls(**values)
            cfg.check_names()
        except DataAgentError as exc:
            key = str(exc).split("'", 2)[1].split(".")[0] if "'" in str(exc) else None
            raise DataAgentError(str(exc), p, line=_key_line(text, key) if key in user else None) from None
        return cfg

    def check_names(self) -> None:
        """Every check named under ``max_failure_rate`` must be one the gate can report."""
        known = known_checks()
        for check in self.max_failure_rate:
            if check not in known and not any(check.startswith(p) for p in _LABEL_PREFIXES):
                raise DataAgentError(
                    f"gate setting 'max_failure_rate' names no check '{check}'{_did_you_mean(check, known)}"
                )

    def rate_limit(self, check: str) -> float | None:
        """The strict-mode failure-rate limit of ``check`` (its own, else "*"), or None for no limit."""
        if check in self.max_failure_rate:
            return self.max_failure_rate[check]
        field_check = check.split(":", 1)[1] if ":" in check and not check.startswith("pii:") else None
        if field_check in self.max_failure_rate:
            return self.max_failure_rate[field_check]
        if check.startswith("pii:") and "pii:*" in self.max_failure_rate:
            return self.max_failure_rate["pii:*"]
        return self.max_failure_rate.get("*")


# Labels the gate reports beside its schema's checks (duplicates, id conflicts, unreadable rows), and
# the families whose members depend on the input ("bad_line:invalid_json", "output:not_a_string").
_EXTRA_LABELS = ("*", "pii:*", "exact_duplicate", "id_conflict")
_LABEL_PREFIXES = ("bad_line:",)


def known_checks() -> set[str]:
    """Every label a quarantine reason (and so ``max_failure_rate``) can carry."""
    every_pii = GateConfig(pii={k: "reject" for k in KINDS})
    schema = quality_schema(every_pii)
    labels = {str(c.name) for c in schema.checks}
    for name, col in schema.columns.items():
        labels |= {f"{name}:{c.error if c.error is not None else c.name}" for c in col.checks}
        labels |= {f"{name}:not_a_string", f"{name}:missing"}
    # A bare column-check name ("mojibake") sets the limit for that check on every field.
    return labels | {label.split(":", 1)[1] for label in labels if ":" in label} | set(_EXTRA_LABELS)


def _did_you_mean(name: str, known: object) -> str:
    close = difflib.get_close_matches(name, [str(k) for k in known], n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _key_line(text: str, key: object) -> int | None:
    """1-based line of a top-level key in a YAML document, for error messages."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    for k, _ in getattr(node, "value", []) if isinstance(node, yaml.MappingNode) else []:
        if k.value == str(key):
            return k.start_mark.line + 1
    return None


def _check_setting(name: str, value: object, default: object) -> None:
    """A setting's value must have its default's type: an int threshold stays an int, a pattern compiles."""
    if isinstance(default, bool) or default is None:
        return
    if isinstance(default, dict):
        if not isinstance(value, dict):
            raise DataAgentError(f"gate setting '{name}' must be a mapping, got {type(value).__name__}")
        return
    ok = {int: (int,), float: (int, float), str: (str,)}[type(default)]
    if not isinstance(value, ok) or isinstance(value, bool):
        raise DataAgentError(
            f"gate setting '{name}' must be {'a number' if ok != (str,) else 'a string'}, got {value!r}"
        )
    if isinstance(value, int | float) and value < 0 and "_model_" not in name:  # log-odds may be negative
        raise DataAgentError(f"gate setting '{name}' must not be negative, got {value!r}")
    if name.endswith(("_pattern", "_task_types")):
        try:
            re.compile(value)
        except re.error as exc:
            raise DataAgentError(f"gate setting '{name}' is not a valid regular expression: {exc}") from None


# --- echo helpers -----------------------------------------------------------------------------------------------


def _norm_for_echo(s: pd.Series) -> pd.Series:
    """``semantic.echo_norm`` over a column: labels ("Question:", "問題：") removed, NFKD, lowercase, letters and
    digits only, so 'Question: Repeat me.' and 'repeat me' compare equal."""
    arr = pc.replace_substring_regex(as_arrow(s), semantic.ECHO_LABEL, "")
    arr = pc.utf8_lower(pc.utf8_normalize(arr, "NFKD"))
    arr = pc.replace_substring_regex(arr, ECHO_DROP, "")
    return pd.Series(arr, index=s.index, dtype="str")


bigram_dice = semantic.bigram_dice


def _each(mask: np.ndarray, fn: Callable[..., bool], *columns: pd.Series) -> np.ndarray:
    """``fn`` applied in Python to the rows of ``columns`` under ``mask`` (the candidates a screen flagged)."""
    return np.fromiter((fn(*values) for values in zip(*(c[mask].tolist() for c in columns), strict=True)), bool)


# --- checks -----------------------------------------------------------------------------------------------------


def _length_checks(cfg: GateConfig, name: str, screen: Screen) -> list[pa.Check]:
    lo = getattr(cfg, f"min_{name}_chars", 0)
    hi = getattr(cfg, f"max_{name}_chars", None)
    lo_tok = getattr(cfg, f"min_{name}_tokens", None)
    hi_tok = getattr(cfg, f"max_{name}_tokens", None)
    checks = []
    if lo and name != "output":  # the output's lower bound is a frame check: it reads the instruction

        def too_short(s: pd.Series) -> pd.Series:
            return pd.Series(~short_rows(s, name, lo, screen), index=s.index)

        checks.append(pa.Check(too_short, name="too_short"))
    if hi is not None:

        def too_long(s: pd.Series) -> pd.Series:
            n = screen.length(s, name)
            return pd.Series(weighted_lengths(s, 3 * n > hi, n) <= hi, index=s.index)

        checks.append(pa.Check(too_long, name="too_long"))
    if lo_tok:

        def too_few_tokens(s: pd.Series) -> pd.Series:
            ok = screen.length(s, name) >= 4 * lo_tok  # tokens >= chars / 4
            if (~ok).any():
                ok[~ok] = approx_tokens(s[~ok]) >= lo_tok
            return pd.Series(ok, index=s.index)

        checks.append(pa.Check(too_few_tokens, name="too_few_tokens"))
    if hi_tok is not None:

        def too_many_tokens(s: pd.Series) -> pd.Series:
            ok = screen.length(s, name) <= hi_tok  # tokens <= chars
            if (~ok).any():
                ok[~ok] = approx_tokens(s[~ok]) <= hi_tok
            return pd.Series(ok, index=s.index)

        checks.append(pa.Check(too_many_tokens, name="too_many_tokens"))
    return checks


def short_rows(s: pd.Series, name: str, lo: int, screen: Screen) -> np.ndarray:
    """Rows shorter than ``lo`` weighted characters once edge whitespace and zero-width characters are gone."""
    n = screen.stripped_length(s, name)
    # weighted >= plain length, so Han counting is only needed where plain length falls short (trimming
    # removes no Han, so the raw text's count serves).
    short = weighted_lengths(s, n < lo, n) < lo
    zero_width = screen.search(s, name, semantic.ZERO_WIDTH, "layout")
    if zero_width.any():
        short[zero_width] = _each(zero_width, lambda t: semantic.weighted_length(semantic.visible(t)) < lo, s)
    return short


def output_long_enough(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    """False where the output is too short, unless it is a one-character answer to a closed or math question."""
    short = short_rows(df["output"], "output", cfg.min_output_chars, screen) if cfg.min_output_chars else None
    if short is None or not short.any():
        return pd.Series(True, index=df.index)

    def ok(out: str, ins: str, task: str) -> bool:
        return semantic.short_answer_ok(out, ins, task, cfg.closed_task_types)

    short[short] = ~_each(short, ok, df["output"], df["instruction"], df["task_type"])
    return pd.Series(~short, index=df.index)


NONBLANK_RE2 = r"[^\t\n\v\f\r \x{1c}-\x{1f}\x{85}\p{Z}]"  # Python's \S (str.isspace complement) in RE2


def _nonblank_check() -> pa.Check:
    def nonblank(s: pd.Series) -> pd.Series:
        try:
            return pd.Series(np_bool(pc.match_substring_regex(as_arrow(s), NONBLANK_RE2)), index=s.index)
        except (pyarrow_.ArrowInvalid, pyarrow_.ArrowNotImplementedError, TypeError):
            return s.str.contains(r"\S", regex=True)

    return pa.Check(nonblank, name="str_contains", error="str_contains('\\S')")


def _pattern_check(screen: Screen, field_name: str, pattern: str, name: str) -> pa.Check:
    return pa.Check(lambda s: pd.Series(~screen.search(s, field_name, pattern, "text"), index=s.index), name=name)


def no_mojibake(s: pd.Series, name: str, cfg: GateConfig, screen: Screen) -> pd.Series:
    """False where the text holds Latin-1 readings of UTF-8 or replacement characters (``MOJIBAKE``), or text a
    wrong decoder garbled (``semantic.garbled``, tried on the rows its screen flags)."""
    hit = screen.search(s, name, MOJIBAKE, "text")
    # Every screen needs a non-ASCII character; the scripts' character classes are searched one at a time.
    cand = screen.byte_length(s, name) > screen.length(s, name)
    if cand.any():
        sub = s[cand]
        flags = contains(sub, semantic.GARBLE_SCREEN)
        trad, simp = _script_marks(s, name, screen)
        flags |= (trad & simp)[cand]
        short = screen.length(s, name)[cand] <= semantic.SHORT_TEXT
        if short.any():
            flags[short] |= contains(sub[short], semantic.SHORT_SCREEN)
        cand[cand] = flags
    cand &= ~hit
    if cand.any():
        hit[cand] = _each(cand, lambda t: semantic.garbled(t, cfg.mojibake_min_share, cfg.mojibake_min_gain), s)
    return pd.Series(~hit, index=s.index)


def _multiline(s: pd.Series, name: str, screen: Screen) -> np.ndarray:
    return screen.memo(s, (name, "multiline"), lambda: has_byte(s, 10))


def not_refusal(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    """False where a refusal construction opens the answer or its last paragraph (``semantic.refuses``), or the
    extra ``refusal_pattern`` matches. All in RE2: the opening pattern on the whole answer first (a superset:
    blanking quotes only removes matches), then on the first ``refusal_opening_chars`` characters with quotes
    blanked; the last paragraph (pyarrow trims the same whitespace as ``str.strip``) only where the answer's
    last characters hold a construction; the exemptions only where there is a hit."""
    out, ins = df["output"], df["instruction"]
    chars, sentences = cfg.refusal_opening_chars, cfg.refusal_opening_sentences
    core = semantic.refusal_opening_pattern(sentences, semantic.REFUSAL_CORE)
    always = semantic.refusal_opening_pattern(sentences, semantic.ALWAYS_CORE)
    hit = screen.search(out, "output", cfg.refusal_pattern, "text") if cfg.refusal_pattern else np.zeros(len(df), bool)

    def opens(heads: pyarrow_.Array | pyarrow_.ChunkedArray, rows: np.ndarray) -> np.ndarray:
        """The rows (of ``rows``) whose head ``heads`` opens with a construction (identity-like ones only in a
        message written in someone's voice)."""
        blanked = pc.replace_substring_regex(pc.utf8_slice_codeunits(heads, 0, chars), semantic.QUOTED, "\n")
        found = np_bool(pc.match_substring_regex(blanked, core))
        compose = found & contains(ins[rows], semantic.COMPOSE)
        if compose.any():
            found[compose] = np_bool(pc.match_substring_regex(pc.filter(blanked, pyarrow_.array(compose)), always))
        return found

    found = np_bool(pc.match_substring_regex(as_arrow(out), core)) & ~hit
    if found.any():
        found[found] = opens(as_arrow(out[found]), found)
    # The last paragraph (after the last line break, when at most `chars` long) lies within the last `chars`
    # characters of the trimmed answer.
    tail_rows = _multiline(out, "output", screen) & ~found & ~hit
    if tail_rows.any():
        edge = screen.edges(out, "output")[tail_rows]
        body = as_arrow(out[tail_rows])
        if edge.any():
            body = pc.utf8_trim_whitespace(body)
        tail = np_bool(pc.match_substring_regex(pc.utf8_slice_codeunits(body, -chars), semantic.REFUSAL_CORE))
        if tail.any():
            rows = np.flatnonzero(tail_rows)[tail]
            last = pc.struct_field(pc.extract_regex(pc.filter(body, pyarrow_.array(tail)), "\n(?P<p>[^\n]*)$"), [0])
            last = pc.fill_null(pc.utf8_trim_whitespace(last), "")
            short = np_bool(pc.less_equal(pc.utf8_length(last), chars))
            mask = np.zeros(len(df), bool)
            mask[rows[short]] = True
            if mask.any():
                found[mask] = opens(pc.filter(last, pyarrow_.array(short)), mask)
    if found.any():
        quoted = contains(ins[found], semantic.REFUSAL_CORE) | contains(df["input"][found], semantic.REFUSAL_CORE)
        found[found] = ~quoted
    return pd.Series(~(hit | found), index=df.index)


def not_merged(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    """False where ``merged_pattern`` matches, or a second turn follows the answer (``semantic.merged_turn``, on
    the rows with a label or numbered item at the start of a line after the first)."""
    out = df["output"]
    hit = screen.search(out, "output", cfg.merged_pattern, "text") if cfg.merged_pattern else np.zeros(len(df), bool)
    if hit.any():  # in code, "instruction:" is a name, not a label; only a second turn counts there
        hit[hit] = ~_each(hit, semantic.is_code, out, df["task_type"])
    cand = _multiline(out, "output", screen) & ~hit
    if cand.any():
        cand[cand] = contains(out[cand], semantic.MERGED_SCREEN)
    if cand.any():
        hit[cand] = _each(cand, semantic.merged_turn, out, df["instruction"])
    return pd.Series(~hit, index=df.index)


def not_truncated(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    """False where the output looks cut off (``semantic.truncated``). Only rows that do not end with a
    sentence-final mark (or end with a numbered list marker), code-task rows and fenced rows can be: the function
    runs on those alone."""
    s = df["output"]
    # Rows whose edges may hold whitespace are candidates too, whatever trimming would leave last.
    # A bare list marker as the last line ends with a digit and a full stop ("\n3.").
    cand = ~ends_with(s, semantic.COMPLETE_END) | screen.edges(s, "output") | ends_with_number_stop(s)
    cand |= screen.search(s, "output", semantic.FENCE, "layout")
    cand |= screen.task_matches(df, codecheck.CODE_TASK_TYPES.pattern)
    bad = np.zeros(len(df), bool)
    if cand.any():

        def cut(out: str, ins: str, ctx: str, task: str) -> bool:
            return semantic.truncated(out, ins, ctx, task, *cfg.truncation_settings)

        bad[cand] = _each(cand, cut, s, df["instruction"], df["input"], df["task_type"])
    return pd.Series(~bad, index=df.index)


def not_echo(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    """False where the output equals, repeats, is a large part of, or nearly restates the instruction
    (``semantic.echo_of`` on texts normalised by ``semantic.echo_norm``).

    Only rows whose raw output is at most ``echo_max_length_ratio`` times the instruction (+40) can echo it, so
    normalisation runs on that subset alone, and Python only on rows whose normalised lengths allow a verdict
    other than plain equality.
    """
    lo_raw, li_raw = screen.length(df["output"], "output"), screen.length(df["instruction"], "instruction")
    echo = np.zeros(len(df), bool)
    rows = (lo_raw > 0) & (lo_raw <= cfg.echo_max_length_ratio * li_raw + 40)
    if not rows.any():
        return pd.Series(True, index=df.index)
    out, ins = _norm_for_echo(df["output"][rows]), _norm_for_echo(df["instruction"][rows])
    sub = np_bool(pc.equal(as_arrow(out), as_arrow(ins)))
    lo, li = length(out), length(ins)
    m = cfg.echo_min_chars
    maybe = (li >= m) & (lo >= li) | (lo <= li) & (lo * 10 >= li * 6)
    maybe |= (lo <= cfg.echo_overlap_max_chars) & (lo * 4 >= li * 3) & (li * 4 >= lo * 3)
    maybe &= ~sub & (lo >= m)
    if maybe.any():

        def echoes(o: str, i: str) -> bool:
            return semantic.echo_of(
                o, i, m, cfg.echo_residual_chars, cfg.echo_overlap_ratio, cfg.echo_overlap_max_chars
            )

        sub[maybe] = _each(maybe, echoes, out, ins)
    echo[rows] = sub
    return pd.Series(~echo, index=df.index)


def no_template_leak(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    hit = np.zeros(len(df), bool)
    for f in TEXT_FIELDS:
        flagged = screen.search(df[f], f, cfg.leak_pattern, "text")
        if flagged.any():  # each match judged where it stands (semantic.leak_outside_code); flagged rows only
            flagged[flagged] = _each(
                flagged, lambda t, k: semantic.leak_outside_code(t, k, cfg.leak_pattern), df[f], df["task_type"]
            )
        hit |= flagged
    return pd.Series(~hit, index=df.index)


def no_pii(df: pd.DataFrame, kind: PiiKind, screen: Screen) -> pd.Series:
    hit = np.zeros(len(df), bool)
    for f in TEXT_FIELDS:
        flags, sub = screen.flagged(df[f], f, "pii")
        if len(sub):
            hit[flags] |= detect(sub, kind).to_numpy()
    return pd.Series(~hit, index=df.index)


def _prose(s: pd.Series) -> pd.Series:
    """``s`` without its ``NON_PROSE`` spans (one RE2 pass; rows without such a span come back as they are)."""
    arr = pc.replace_substring_regex(as_arrow(s), NON_PROSE, "")
    return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=s.index)


def _script(s: pd.Series, cfg: GateConfig, kana: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(judgeable, is_chinese) per row from exact Han and Latin letter counts (``spec._script``): Chinese from
    ``language_min_han`` Han characters on, other text from ``language_min_letters`` letters; bilingual text
    (a Han share between half the threshold and the threshold) is judged neither way; ``kana`` marks Japanese
    and Korean text, which is "not Chinese"."""
    han, lat = letter_counts(_prose(s))
    letters = han + lat
    share = han / np.maximum(letters, 1)
    thr = cfg.language_han_share
    zh = (share >= thr) & ~kana
    mixed = (share >= thr / 2) & (share < thr) & ~kana
    known = np.where(zh, han >= cfg.language_min_han, (letters >= cfg.language_min_letters) & ~mixed)
    return known, zh


def _script_marks(s: pd.Series, name: str, screen: Screen) -> tuple[np.ndarray, np.ndarray]:
    """(has Traditional-only characters, has Simplified-only characters) for the whole column, once per
    validation (mojibake and language read them), on its non-ASCII rows."""

    def compute() -> tuple[np.ndarray, np.ndarray]:
        t, z = np.zeros(len(s), bool), np.zeros(len(s), bool)
        wide = screen.byte_length(s, name) > screen.length(s, name)
        if wide.any():
            t[wide], z[wide] = contains(s[wide], HANT_MARK), contains(s[wide], HANS_MARK)
        return t, z

    return screen.memo(s, (name, "script_marks"), compute)


def _one_script(s: pd.Series, name: str, screen: Screen, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(Traditional, Simplified) for ``rows`` of the column ``s``, as ``hanzidentifier.identify`` says:
    characters of one script only."""
    t, z = _script_marks(s, name, screen)
    t, z = t[rows], z[rows]
    return t & ~z, z & ~t


def same_language(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    """False where the answer is Chinese and the question is not (or the reverse), or both are Chinese in
    different scripts; the answer may follow the context's language or script instead. Code answers and tasks
    where a switch is expected are skipped, JSON answers are judged on their script only.

    A text without a non-ASCII byte has no Han, so it is never Chinese and never bilingual: rows whose question
    and answer are both ASCII cannot fail, and only the other rows are counted.
    """
    out = df["output"]
    skip = screen.task_matches(df, cfg.language_skip_task_types) | screen.search(out, "output", CODE_HINT, "layout")
    ascii_q = screen.byte_length(df["instruction"], "instruction") == screen.length(df["instruction"], "instruction")
    ascii_a = screen.byte_length(out, "output") == screen.length(out, "output")
    rows = ~skip & ~(ascii_q & ascii_a)
    mismatch = np.zeros(len(df), bool)
    if not rows.any():
        return pd.Series(True, index=df.index)
    kana = {f: screen.search(df[f], f, KANA_HANGUL, "layout")[rows] for f in TEXT_FIELDS}
    sub = df[["instruction", "input", "output"]][rows]
    q_known, q_zh = _script(sub["instruction"], cfg, kana["instruction"])
    a_known, a_zh = _script(sub["output"], cfg, kana["output"])
    has_input = screen.length(df["input"], "input")[rows] > 0
    x_known, x_zh = np.zeros(len(sub), bool), np.zeros(len(sub), bool)
    if has_input.any():
        x_known[has_input], x_zh[has_input] = _script(sub["input"][has_input], cfg, kana["input"][has_input])
    # The answer may follow either the instruction's or the context's language; JSON is judged on its script only.
    lang_bad = q_known & a_known & (q_zh != a_zh) & ~(x_known & (x_zh == a_zh))
    if lang_bad.any():
        lang_bad[lang_bad] = ~contains(sub["output"][lang_bad], JSON_START)
    both_zh = q_zh & a_zh
    script_bad = np.zeros(len(sub), bool)
    if both_zh.any():
        where = np.flatnonzero(rows)[both_zh]  # positions in the frame
        qt, qs = _one_script(df["instruction"], "instruction", screen, where)
        at, as_ = _one_script(out, "output", screen, where)
        bad = (qt & as_) | (qs & at)
        # ... unless the context is Chinese in the answer's script.
        follow = bad & (has_input & x_zh)[both_zh]
        if follow.any():
            xt, xs = _one_script(df["input"], "input", screen, where[follow])
            bad[follow] = ~np.where(at[follow], xt, xs)
        script_bad[both_zh] = bad
    mismatch[rows] = lang_bad | script_bad
    return pd.Series(~mismatch, index=df.index)


def _python_ok(code: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ast.parse(textwrap.dedent(code))
        except (SyntaxError, ValueError):
            return False
    return True


def code_ok(text: str, fenced: bool) -> bool:
    """Every ```python block of ``text`` (or, unfenced, the whole text) parses."""
    blocks = _PY_BLOCKS.findall(text) if fenced else [text]
    return all(_python_ok(b) for b in blocks)


def _parses(
    df: pd.DataFrame, screen: Screen, fence: str, task_types: str, start: str, ok: Callable[[str, bool], bool]
) -> pd.Series:
    """False where a fenced block (``fence``), or the whole output of a ``task_types`` task that matches
    ``start``, fails ``ok``. Only those candidate rows are parsed in Python."""
    out = df["output"]
    fenced = screen.search(out, "output", fence, "layout")
    whole = ~fenced & screen.task_matches(df, task_types)
    if whole.any():
        whole[whole] = contains(out[whole], start)
    result = np.ones(len(df), bool)
    for mask, is_fenced in ((fenced, True), (whole, False)):
        if mask.any():
            result[mask] = [ok(t, is_fenced) for t in out[mask]]
    return pd.Series(result, index=df.index)


def code_parses(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    """False where a ```python block, or a code task's output that starts like Python, does not parse.
    Code tasks also produce prose (docstrings, explanations): only outputs that start like Python are parsed."""
    return _parses(df, screen, PY_FENCE, cfg.code_task_types, PY_START, code_ok)


def json_ok(text: str, fenced: bool) -> bool:
    """Every ```json block of ``text`` (or, unfenced, the whole text) is valid JSON."""
    blocks = _JSON_BLOCKS.findall(text) if fenced else [text]
    try:
        for b in blocks:
            json.loads(b)
    except ValueError:
        return False
    return True


def json_parses(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    """False where a ```json block, or a JSON-looking output of a json/extract task, does not parse."""
    return _parses(df, screen, JSON_FENCE, cfg.json_task_types, JSON_START, json_ok)


# Pandera formats every failure case of a failing check for its error report (a frame check's cases are
# unstacked to one row per cell), which costs more than the checks themselves when many rows fail. The gate
# reads the failing rows off each error's check output instead, so the report keeps only a few examples.
_REPORTED_CASES = 5


def _reporting(check: pa.Check, frame_level: bool = False) -> pa.Check:
    check = copy.copy(check)  # the contract's checks are shared with its own schema: never mutate them
    check.n_failure_cases = _REPORTED_CASES
    if frame_level:
        # Pandera would pass rows whose fields are all missing; every frame check here passes them anyway, so
        # the per-row isna() scan over the whole frame is skipped.
        check.ignore_na = False
    return check


def quality_schema(cfg: GateConfig) -> pa.DataFrameSchema:
    """The contract plus the quality checks, thresholds taken from ``cfg``."""
    base = InstructionRecord.to_schema()
    cols = dict(base.columns)
    output = {f: f == "output" for f in TEXT_FIELDS}
    screen = Screen(
        {
            f: {
                "pii": [k.candidate for k in KINDS.values()],
                # The semantic screens (refusals, merged turns, garbled CJK) hold large character classes and
                # alternations: in one union with these they would overflow RE2's DFA, so each runs on its own.
                "text": [MOJIBAKE, CONTROL, cfg.leak_pattern]
                + ([p for p in (cfg.refusal_pattern, cfg.merged_pattern) if p] if output[f] else []),
                # CODE_HINT holds ``` so it also stands for CODE_FENCE, PY_FENCE and JSON_FENCE.
                "layout": [KANA_HANGUL, semantic.ZERO_WIDTH] + ([CODE_HINT, semantic.FENCE] if output[f] else []),
            }
            for f in TEXT_FIELDS
        }
    )
    for name in TEXT_FIELDS:
        extra = [
            *_length_checks(cfg, name, screen),
            pa.Check(lambda s, f=name: no_mojibake(s, f, cfg, screen), name="mojibake"),
            _pattern_check(screen, name, CONTROL, "control_chars"),
        ]
        cols[name] = cols[name].set_checks([*cols[name].checks, *extra])
    # The contract's "\\S" check makes pandas fall back to Python regexes; same check, same name, in RE2.
    for name, col in cols.items():
        if any(c.name == "str_contains" and c.statistics.get("pattern") == r"\S" for c in col.checks):
            cols[name] = col.set_checks([_nonblank_check() if c.name == "str_contains" else c for c in col.checks])
    for name, col in cols.items():
        cols[name] = col.set_checks([_reporting(c) for c in col.checks])
    # Uniqueness of id is handled by exact dedup (which keeps the first copy), not by failing both.
    cols["id"].unique = False

    frame_checks = [
        pa.Check(lambda df: output_long_enough(df, cfg, screen), name="output:too_short"),
        pa.Check(lambda df: not_refusal(df, cfg, screen), name="output:refusal_boilerplate"),
        pa.Check(lambda df: not_merged(df, cfg, screen), name="output:merged_instructions"),
        pa.Check(lambda df: not_truncated(df, cfg, screen), name="output:truncated_output"),
        pa.Check(lambda df: not_echo(df, cfg, screen), name="output_echoes_instruction"),
        pa.Check(lambda df: no_template_leak(df, cfg, screen), name="template_leak"),
        pa.Check(lambda df: same_language(df, cfg, screen), name="language_mismatch"),
        pa.Check(lambda df: code_parses(df, cfg, screen), name="code_syntax_error"),
        pa.Check(lambda df: json_parses(df, cfg, screen), name="json_invalid"),
    ]
    for kind, policy in cfg.pii.items():
        if policy == "reject":
            frame_checks.append(pa.Check(lambda df, k=KINDS[kind]: no_pii(df, k, screen), name=f"pii:{kind}"))
    schema = pa.DataFrameSchema(
        columns=cols,
        checks=[*(_reporting(c, frame_level=True) for c in [*base.checks, *frame_checks])],
        coerce=True,
        strict="filter",
        name="InstructionRecordQuality",
    )
    schema.metadata = {"screen": screen}
    return schema


# --- the gate ---------------------------------------------------------------------------------------------------


def _label(err: pa.errors.SchemaError) -> str:
    """The quarantine reason of one pandera error: ``<column>:<check>`` for column checks, else the check."""
    check = err.check
    if check is None or isinstance(check, str):
        ident = str(check)
    else:
        ident = check.error if check.error is not None else check.name if check.name is not None else str(check)
    column = err.column_name if err.column_name is not None else getattr(err.schema, "name", None)
    if type(err.schema).__name__ == "Column" and isinstance(column, str):
        return f"{column}:{ident}"
    return ident


def _failing_rows(err: pa.errors.SchemaError, index: pd.Index) -> np.ndarray:
    """Positions (in ``index``) of the rows ``err`` reports: from the check's own boolean output where there is
    one, else from pandera's failure cases; an error without row indices (a whole-column failure) hits all."""
    out = err.check_output
    if isinstance(err.check, pa.Check) and isinstance(out, pd.Series) and out.dtype == bool:
        return index.get_indexer(out.index[~out.to_numpy()])
    cases = err.failure_cases
    if isinstance(cases, pd.DataFrame) and "index" in cases:
        idx = cases["index"]
        if not idx.isna().any():
            return np.unique(index.get_indexer(idx.tolist()))
    return np.arange(len(index))


def _collect_reasons(df: pd.DataFrame, schema: pa.DataFrameSchema) -> dict[str, np.ndarray]:
    """Every failing check's label and the positions of the rows it failed, from one lazy validation."""
    reasons: dict[str, np.ndarray] = {}
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        for err in exc.schema_errors:
            rows = _failing_rows(err, df.index)
            label = _label(err)
            reasons[label] = np.union1d(reasons[label], rows) if label in reasons else rows
    return reasons


@dataclass
class ChunkResult:
    """What validating one chunk of rows yields; positions are those of the whole frame."""

    reasons: dict[str, np.ndarray]
    scrubbed: dict[str, int]
    changed: np.ndarray  # positions of the rows PII scrubbing changed
    new_values: dict[str, pyarrow_.Array]  # their text fields and id after scrubbing (Arrow: pickled as buffers)
    passed: np.ndarray  # positions of the rows that passed every check
    # The sorted reasons of each other row, in order, coded: (distinct combinations, combination of each row).
    # A forked worker's result is pickled back; 100k+ small lists cost ~0.1 s each way, codes nothing.
    failed_reasons: tuple[list[list[str]], np.ndarray]
    fingerprints: np.ndarray  # their dedup-key fingerprints


class GateRows:
    """Rows of the frame as the gate sees them: scrubbed rows read their new values (one Arrow take per column,
    then the scrubbed rows among those taken replaced; no rebuilt column)."""

    def __init__(self, frame: pd.DataFrame, changed: np.ndarray, new_values: dict[str, list[pyarrow_.Array]]):
        self.frame = frame
        self.slot = np.full(len(frame), -1)
        self.slot[changed] = np.arange(len(changed))
        self.new = {
            col: pyarrow_.concat_arrays([v.cast(as_arrow(frame[col]).type) for v in values])
            for col, values in new_values.items()
        }

    def _take(self, col: str, arr: pyarrow_.ChunkedArray, rows: np.ndarray) -> pyarrow_.Array | pyarrow_.ChunkedArray:
        if isinstance(arr, pyarrow_.ChunkedArray) and arr.num_chunks == 1:
            arr = arr.chunk(0)
        taken = arr.take(rows)
        if col not in self.new:
            return taken
        # Not a take from the column and the new values as one chunked array: Arrow concatenates the chunks of a
        # string column for that, a copy of the whole column (300 MB for the outputs of 1M rows) per call.
        slots = self.slot[rows]
        scrubbed = slots >= 0
        if not scrubbed.any():
            return taken
        return pc.replace_with_mask(taken, pyarrow_.array(scrubbed), self.new[col].take(slots[scrubbed]))

    def __call__(self, rows: np.ndarray, columns: list[str] | tuple[str, ...] = TEXT_FIELDS) -> pd.DataFrame:
        # Arrow takes (thread-safe, GIL released) are planned here; pandas is only touched on this thread.
        takes: dict[str, pyarrow_.ChunkedArray] = {}
        data: dict[str, pd.Series] = {}
        for col in columns:
            if isinstance(getattr(self.frame[col].array, "_pa_array", None), pyarrow_.ChunkedArray):
                takes[col] = as_arrow(self.frame[col])
            else:
                data[col] = self.frame[col].take(rows).reset_index(drop=True)
        if len(rows) < PARALLEL_MIN_ROWS // 4 or len(takes) < 2:
            taken = {col: self._take(col, arr, rows) for col, arr in takes.items()}
        else:
            # A take is a copy into fresh memory, bound by page faults: threads overlap them.
            with ThreadPoolExecutor(min(len(takes), _cpu_count())) as ex:
                taken = dict(zip(takes, ex.map(lambda t: self._take(*t, rows), takes.items()), strict=True))
        for col, arr in taken.items():
            data[col] = pd.Series(arr, dtype=self.frame[col].dtype)
        return pd.DataFrame({col: data[col] for col in columns}, index=pd.RangeIndex(len(rows)))


def check_chunk(chunk: pd.DataFrame, cfg: GateConfig) -> ChunkResult:
    """Scrub PII, validate, and fingerprint the dedup keys of the rows that pass, for one chunk of the frame.

    Every check is row-local, so the rows scrubbing changes are validated again, after scrubbing, as extra rows
    appended to the chunk, in the same validation: no rebuilt column (the appended rows are a second Arrow
    chunk of each column), and pandera's and RE2's fixed costs (tenths of a second) are paid once per chunk.
    The appended rows' verdicts replace those of their raw text. ``chunk`` keeps the frame's positional index,
    so the positions returned are the frame's.
    """
    schema = quality_schema(cfg)
    screen: Screen = schema.metadata["screen"]
    n = len(chunk)
    try:
        flags = {f: screen.flagged(chunk[f], f, "pii")[0] for f in TEXT_FIELDS}
        found, scrubbed = scrub_changes(chunk, cfg.pii, flags)
        touched = np.unique(
            np.concatenate([np.zeros(0, np.int64), *(chunk.index.get_indexer(v.index) for v in found.values())])
        )
        fixed = chunk.iloc[touched][[*TEXT_FIELDS, "id"]].copy()
        checked = chunk.reset_index(drop=True)
        if len(touched):
            for f, values in found.items():
                fixed.loc[values.index, f] = values
            fixed["id"] = [record_id(*t) for t in zip(*(fixed[f] for f in TEXT_FIELDS), strict=True)]
            extra = chunk.iloc[touched].assign(**{c: fixed[c] for c in fixed})
            checked = pd.concat([checked, extra], ignore_index=True)
            for f in TEXT_FIELDS:  # the screen of the raw rows serves; only the appended ones are screened
                screen.carry_appended(chunk[f], checked[f], f)
        reasons = _collect_reasons(checked, schema)
        edges = {f: screen.edges(checked[f], f) for f in TEXT_FIELDS}  # the length checks' own, for the fingerprints
    finally:
        screen.clear()
    if len(touched):
        # The scrubbed rows' verdicts (rows n.. of ``checked``) replace those of their raw text.
        stale = np.zeros(n, bool)
        stale[touched] = True
        reasons = {k: np.union1d(v[v < n][~stale[v[v < n]]], touched[v[v >= n] - n]) for k, v in reasons.items()}
        reasons = {k: v for k, v in reasons.items() if len(v)}
    bad = np.zeros(n, bool)
    for rows_failed in reasons.values():
        bad[rows_failed] = True
    passed = np.flatnonzero(~bad)
    # Fingerprints from the rows as validated: a scrubbed row's from its appended copy.
    where = np.arange(n)
    where[touched] = n + np.arange(len(touched))
    at = where[passed]
    order = np.argsort(at, kind="stable")
    fps = np.zeros(len(passed), np.uint64)
    fps[order] = fingerprints(checked, at[order], edges)
    base = int(chunk.index[0]) if len(chunk) else 0
    return ChunkResult(
        reasons={k: v + base for k, v in reasons.items()},
        failed_reasons=_reason_codes(reasons, n, np.flatnonzero(bad)),
        scrubbed=scrubbed,
        changed=touched + base,
        new_values={c: as_arrow(fixed[c]).combine_chunks() for c in fixed} if len(touched) else {},
        passed=passed + base,
        fingerprints=fps,
    )


_WORKER_FRAME: tuple[pd.DataFrame, GateConfig] | None = None  # set in forked workers only
PARALLEL_MIN_ROWS = 200_000  # below this, worker start-up costs more than the cores save


def _init_worker(work: pd.DataFrame, cfg: GateConfig) -> None:
    global _WORKER_FRAME
    _WORKER_FRAME = (work, cfg)


def _check_shared(bounds: tuple[int, int]) -> ChunkResult:
    assert _WORKER_FRAME is not None
    work, cfg = _WORKER_FRAME
    return check_chunk(work.iloc[bounds[0] : bounds[1]], cfg)


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _check_all(work: pd.DataFrame, cfg: GateConfig, workers: int, chunk_rows: int) -> list[ChunkResult]:
    """Per-chunk results in row order, from ``workers`` processes when there is more than one chunk."""
    n = len(work)
    bounds = [(i, min(i + chunk_rows, n)) for i in range(0, n, chunk_rows)]
    if workers <= 1 or len(bounds) == 1:
        return [check_chunk(work.iloc[a:b], cfg) for a, b in bounds]
    workers = min(workers, len(bounds))
    if "fork" in mp.get_all_start_methods():
        # Forked workers inherit the frame (fork passes initargs without pickling) instead of receiving a copy.
        # This process takes the first chunk itself: its memory is warm and its result needs no pickling.
        with mp.get_context("fork").Pool(workers - 1, initializer=_init_worker, initargs=(work, cfg)) as pool:
            rest = pool.map_async(_check_shared, bounds[1:], chunksize=1)
            first = check_chunk(work.iloc[bounds[0][0] : bounds[0][1]], cfg)
            return [first, *rest.get()]
    with ProcessPoolExecutor(workers) as ex:
        return list(ex.map(check_chunk, [work.iloc[a:b] for a, b in bounds], [cfg] * len(bounds)))


def _reason_codes(reasons: dict[str, np.ndarray], n: int, rows: np.ndarray) -> tuple[list[list[str]], np.ndarray]:
    """The sorted reasons of each of ``rows`` (of ``n``) as (the distinct combinations of reasons, the index of
    each row's combination among them)."""
    if not len(rows):
        return [], np.zeros(0, np.int32)
    labels = sorted(reasons)
    words = (len(labels) + 63) // 64
    bits = np.zeros((n, words), np.uint64)
    for i, label in enumerate(labels):
        bits[reasons[label], i // 64] |= np.uint64(1) << np.uint64(i % 64)
    sub = bits[rows]
    if words == 1:
        combos, inverse = np.unique(sub[:, 0], return_inverse=True)
        combos = combos[:, None]
    else:
        combos, inverse = np.unique(sub, axis=0, return_inverse=True)
    names = [[label for i, label in enumerate(labels) if int(c[i // 64]) >> (i % 64) & 1] for c in combos]
    return names, inverse.reshape(-1).astype(np.int32)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside: the gate allocates few cycles but many objects (reason lists, pandera
    and ``ast`` internals), and each full collection also walks every object the caller holds (a previous
    gate's 230k reason lists cost ~0.15 s per 1M rows). Forked workers inherit the pause."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_gate(
    df: pd.DataFrame, cfg: GateConfig | None = None, workers: int | None = None, chunk_rows: int | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(accepted, quarantined, report). A row whose text field is null or not a string is quarantined for that
    alone (``<field>:missing``, ``<field>:not_a_string``), never checked as its repr. PII is scrubbed first (per
    policy); exact duplicates after the first copy are quarantined too, and so is a later row reusing an
    accepted row's id for other content (``id_conflict``); every quarantined row lists all the checks it failed.
    Quarantined rows keep every column of ``df``.

    ``workers`` processes validate chunks of ``chunk_rows`` rows (default: all cores from
    ``PARALLEL_MIN_ROWS`` rows on, else 1; by default one chunk per worker). Every check is row-local
    and exact duplicates are found once over all chunks, so the result does not depend on either setting.
    """
    with _gc_paused():
        return _run_gate(df, cfg or GateConfig(), workers, chunk_rows)


def _run_gate(
    df: pd.DataFrame, cfg: GateConfig, workers: int | None, chunk_rows: int | None
) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    cols = list(InstructionRecord.to_schema().columns)
    n_input = len(df)
    scrubbed = {k: 0 for k, p in cfg.pii.items() if p == "scrub"}
    counts: dict[str, int] = {}
    if df.empty:
        accepted, quarantined = _empty(cols)
    else:
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise DataAgentError(
                f"records lack the field '{missing[0]}' required by the InstructionRecordQuality contract"
            )
        work = df.reset_index(drop=True)
        # Rows whose text fields are not all strings are quarantined for that alone: checking the repr of a
        # list (or of None) would only add reasons that describe the repr.
        wrong = type_failures(work, cols)
        mistyped = np.zeros(len(work), bool)
        for rows in wrong.values():
            mistyped[rows] = True
        if mistyped.any():
            good = work.loc[~mistyped].reset_index(drop=True)
            if len(good):
                accepted, quarantined, counts, scrubbed = _check_rows(good, cfg, workers, chunk_rows)
            else:
                accepted, quarantined = _empty(cols)
            quarantined = pd.concat([with_reasons(work, wrong, mistyped), quarantined], ignore_index=True)
            counts = {**counts, **{label: len(rows) for label, rows in wrong.items()}}
        else:
            accepted, quarantined, counts, scrubbed = _check_rows(work, cfg, workers, chunk_rows)
    if len(accepted) + len(quarantined) != n_input:
        raise AssertionError(f"gate lost records: {len(accepted)} + {len(quarantined)} != {n_input}")
    counts = dict(sorted(counts.items())) if n_input else {}
    report = {
        "input": n_input,
        "accepted": len(accepted),
        "quarantined": len(quarantined),
        "failures_by_check": counts,
        "failure_rate_by_check": {k: round(v / n_input, 6) for k, v in counts.items()} if n_input else {},
        "pii_scrubbed": scrubbed,
    }
    return accepted, quarantined, report


def _empty(cols: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(accepted, quarantined) for no rows."""
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return empty, empty.assign(**{REASONS: pd.Series(dtype=object)})


def with_reasons(work: pd.DataFrame, found: dict[str, np.ndarray], mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``work`` under ``mask``, values as they came, each with its sorted labels from ``found``."""
    rows = np.flatnonzero(mask)
    slot = np.full(len(work), -1)
    slot[rows] = np.arange(len(rows))
    lists: list[list[str]] = [[] for _ in rows]
    for label, where in sorted(found.items()):
        for i in slot[where].tolist():
            lists[i].append(label)
    out = work.iloc[rows].reset_index(drop=True)
    out[REASONS] = lists
    return out


def _check_rows(
    work: pd.DataFrame, cfg: GateConfig, workers: int | None, chunk_rows: int | None
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int], dict[str, int]]:
    """(accepted, quarantined, rows failed per check, PII scrubbed per kind) for rows whose text fields are all
    strings. Exact duplicates after the first copy, and later rows reusing an accepted row's id for different
    content (``id_conflict``), are quarantined too."""
    cols = list(InstructionRecord.to_schema().columns)
    scrubbed = {k: 0 for k, p in cfg.pii.items() if p == "scrub"}
    # Every value is a str here (type_failures saw to that): the cast changes the dtype, never a value.
    work = work.assign(**{c: work[c].astype("str") for c in cols if work[c].dtype != "str"})
    if workers is None:
        workers = _cpu_count() if len(work) >= PARALLEL_MIN_ROWS else 1
    # One chunk per worker: each chunk pays pandera's fixed cost (tens of ms) once or twice.
    chunk_rows = chunk_rows or -(-len(work) // max(workers, 1))
    results = _check_all(work, cfg, workers, chunk_rows)

    reasons: dict[str, np.ndarray] = {}
    new_values: dict[str, list[pyarrow_.Array]] = {}
    for r in results:
        for label, rows in r.reasons.items():
            reasons[label] = np.concatenate([reasons[label], rows]) if label in reasons else rows
        for kind, hits in r.scrubbed.items():
            scrubbed[kind] += hits
        for col, values in r.new_values.items():
            new_values.setdefault(col, []).append(values)
    rows_of = GateRows(work, np.concatenate([r.changed for r in results]), new_values)
    bad = np.zeros(len(work), bool)
    for rows in reasons.values():
        bad[rows] = True
    passed = np.concatenate([r.passed for r in results])
    dup = exact_duplicates(rows_of, passed, np.concatenate([r.fingerprints for r in results]))
    keep = ~bad
    keep[dup] = False
    conflict = id_conflicts(rows_of, np.flatnonzero(keep))
    keep[conflict] = False
    accepted = rows_of(np.flatnonzero(keep), cols)
    # Rows that failed checks, in order, then the duplicates, then the id conflicts, every column kept.
    failed = np.flatnonzero(bad)
    quarantined = rows_of(np.concatenate([failed, dup, conflict]), list(work.columns))
    # One list per row (not shared between rows), built from each chunk's combinations.
    lists = [names[k][:] for names, codes in (r.failed_reasons for r in results) for k in codes.tolist()]
    lists += [["exact_duplicate"] for _ in range(len(dup))] + [["id_conflict"] for _ in range(len(conflict))]
    quarantined[REASONS] = lists
    if len(dup):
        reasons["exact_duplicate"] = dup
    if len(conflict):
        reasons["id_conflict"] = conflict
    counts = {label: len(rows) for label, rows in reasons.items()}
    return accepted, quarantined.reset_index(drop=True), counts, scrubbed


def id_conflicts(rows_of: Callable[[np.ndarray, list[str]], pd.DataFrame], rows: np.ndarray) -> np.ndarray:
    """Positions among ``rows`` (ascending, exact duplicates already removed) whose id an earlier one holds.

    With exact duplicates gone, a repeated id means different content under one id: the first keeps it, and
    the later ones are quarantined here, so the accepted file's unique-id contract holds before it is written.
    Ids are read after PII scrubbing, which gives scrubbed rows new ones.
    """
    if not len(rows):
        return np.zeros(0, np.int64)
    ids = rows_of(rows, ["id"])["id"]
    return rows[ids.duplicated(keep="first").to_numpy()]


def strict_violations(report: dict, cfg: GateConfig | None = None) -> list[str]:
    """One line per check whose failure rate exceeds its ``max_failure_rate`` limit (empty: strict mode passes)."""
    cfg = cfg or GateConfig()
    n = report.get("input", 0)
    lines = []
    for check, failed in report.get("failures_by_check", {}).items():
        limit = cfg.rate_limit(check)
        rate = failed / n if n else 0.0
        if limit is not None and rate > limit:
            lines.append(f"{check}: {failed} of {n} records failed ({rate:.2%}), above the limit of {limit:.2%}")
    return lines
