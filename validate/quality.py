"""Quality checks on InstructionRecord, built as one pandera schema on top of the contract.

Each check is a named, vectorised pandera Check, so a quarantined row says exactly which checks it
failed, and lazy validation reports them all in one pass. Column checks are labelled
``<field>:<check>`` in the quarantine reasons, frame checks by their name alone.

Speed: every check runs whole-column pyarrow compute (RE2 regexes, lengths, counts) on the Arrow
strings pandas 3 stores; Python runs per row only on small candidate sets (PII validators, ``ast`` and
``json`` parsing, substring/overlap tests on short outputs). Patterns are written in the common subset of
RE2 and Python ``re`` so a plain loop with ``re`` gives the same answers. Thresholds and policies live in
``validate/gate_defaults.yaml``.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow as pyarrow_
import pyarrow.compute as pc
import yaml

from validate.contracts import InstructionRecord
from validate.errors import DataAgentError
from validate.gate import REASONS
from validate.pii import KINDS, POLICIES, TEXT_FIELDS, PiiKind, detect, scrub_frame

DEFAULTS_PATH = Path(__file__).with_name("gate_defaults.yaml")

# --- fixed pattern families (not thresholds, so not in the YAML) ------------------------------------------------
HAN = "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
LATIN = "[A-Za-z]"
# UTF-8 read as Latin-1/cp1252: "Ã©", "Â\xa0", "â€™", "å\x8f", "ï¼", "ä¸", and U+FFFD replacement characters.
MOJIBAKE = r"[\xc2\xc3][\x80-\xbf]|\xe2" + "\u20ac" + r"|[\xe0-\xef][\x80-\x9f\xa1-\xbf]|" + "\ufffd"
# C0 controls except \t \n, DEL, C1 controls, and a CR that is not part of CRLF.
CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r[^\n]"
# Characters only one Chinese script uses (Traditional, Simplified), paired by position.
_TRAD = (
    "這個們為說時會對發過來還國經實現進動種麼沒樣問題關點開務學習應該"
    "圖書長東車門見產網絡電話認識讓請給體機無華變錢銀單價號資訊歲與處從"
)
_SIMP = (
    "这个们为说时会对发过来还国经实现进动种么没样问题关点开务学习应该"
    "图书长东车门见产网络电话认识让请给体机无华变钱银单价号资讯岁与处从"
)
HANT_MARK = "[" + _TRAD + "]"
HANS_MARK = "[" + _SIMP + "]"
KANA_HANGUL = "[\u3040-\u30ff\u3130-\u318f\uac00-\ud7af]"
CODE_FENCE = "```"
PY_FENCE = r"```(?:python3?|py)[ \t]*\n"
JSON_FENCE = r"```json[ \t]*\n"
_PY_BLOCKS = re.compile(r"```(?:python3?|py)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_JSON_BLOCKS = re.compile(r"```json[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
PY_START = r"^[ \t]*(?:def [A-Za-z_]|async def |class [A-Za-z_][A-Za-z0-9_]*[:(]|from [A-Za-z_.]+ import |@[A-Za-z_])"
# Truncation: final characters that close a sentence, a list item, a quote or a code line.
TERMINAL = ".!?。！？…\"'”’」』)）]】}>》*`:：;；|~"
LIST_LINE = r"(?:^|\n)[ \t]*(?:[-*+•]|[0-9]+[.)、]|（[0-9]+）|[一二三四五六七八九十]+、)[ \t]*[^ \t\n]"
CODE_HINT = r"\n(?:    |\t)[^ \t\n]|```"
OPENERS = r"[(\[{（「『【《]"
CLOSERS = r"[)\]}）」』】》]"


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
    truncation_min_chars: int = field(default_factory=_default("truncation_min_chars"))
    language_min_letters: int = field(default_factory=_default("language_min_letters"))
    language_han_share: float = field(default_factory=_default("language_han_share"))
    language_skip_task_types: str = field(default_factory=_default("language_skip_task_types"))
    code_task_types: str = field(default_factory=_default("code_task_types"))
    json_task_types: str = field(default_factory=_default("json_task_types"))
    refusal_pattern: str = field(default_factory=_default("refusal_pattern"))
    leak_pattern: str = field(default_factory=_default("leak_pattern"))
    merged_pattern: str = field(default_factory=_default("merged_pattern"))
    pii: dict[str, str] = field(default_factory=_default("pii"))
    max_failure_rate: dict[str, float | None] = field(default_factory=_default("max_failure_rate"))

    def __post_init__(self) -> None:
        for kind, policy in self.pii.items():
            if kind not in KINDS:
                raise DataAgentError(f"gate config: unknown PII kind '{kind}' (known: {', '.join(KINDS)})")
            if policy not in POLICIES:
                raise DataAgentError(f"gate config: PII policy for '{kind}' must be one of {POLICIES}, got {policy!r}")

    @classmethod
    def from_yaml(cls, path: str | Path | None = None) -> GateConfig:
        """The defaults with the keys of ``path`` (if given) laid over them; mappings merge key by key."""
        values = _load_defaults()
        if path is not None:
            p = Path(path)
            if not p.exists():
                raise DataAgentError(f"{p}: no such file")
            user = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
            if not isinstance(user, dict):
                raise DataAgentError(f"{p}: expected a mapping of gate settings")
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(user) - known)
            if unknown:
                raise DataAgentError(f"{p}: unknown gate setting '{unknown[0]}'")
            for key, value in user.items():
                if isinstance(values.get(key), dict) and isinstance(value, dict):
                    values[key] = {**values[key], **value}
                else:
                    values[key] = value
        return cls(**values)

    def rate_limit(self, check: str) -> float | None:
        """The strict-mode failure-rate limit of ``check`` (its own, else "*"), or None for no limit."""
        if check in self.max_failure_rate:
            return self.max_failure_rate[check]
        if check.startswith("pii:") and "pii:*" in self.max_failure_rate:
            return self.max_failure_rate["pii:*"]
        return self.max_failure_rate.get("*")


# --- vectorised helpers over pyarrow ----------------------------------------------------------------------------


def _arrow(s: pd.Series) -> pyarrow_.Array | pyarrow_.ChunkedArray:
    """The column's Arrow data without a copy (pandas 3 "str" columns are Arrow-backed)."""
    arr = s.array
    chunked = getattr(arr, "_pa_array", None)
    if isinstance(chunked, pyarrow_.ChunkedArray):
        return chunked
    if hasattr(arr, "__arrow_array__"):
        return pyarrow_.array(arr)
    return pyarrow_.array(s.astype("str").array)


def _scoped(pattern: str) -> str:
    """A pattern that can sit inside an alternation: a leading global "(?i)" becomes "(?i:...)"."""
    return f"(?i:{pattern[4:]})" if pattern.startswith("(?i)") else f"(?:{pattern})"


class Screen:
    """One RE2 pass per field over the union of all rare-event patterns (leaks, refusals, mojibake, PII...).

    Clean rows, the vast majority, are settled by that single pass; each check then runs its own pattern only
    on the flagged rows. Results are cached per field against the Arrow array they were computed on (held by
    reference, compared by identity), so every check of one validation shares one pass.
    """

    def __init__(self, patterns: dict[str, list[str]]):
        self.union = {f: "|".join(_scoped(p) for p in ps) for f, ps in patterns.items()}
        self._cache: dict[str, tuple[object, np.ndarray]] = {}

    def rows(self, s: pd.Series, field_name: str) -> np.ndarray:
        arr = _arrow(s)
        hit = self._cache.get(field_name)
        if hit is not None and hit[0] is arr:
            return hit[1]
        flags = contains(s, self.union[field_name])
        self._cache[field_name] = (arr, flags)
        return flags

    def search(self, s: pd.Series, field_name: str, pattern: str) -> np.ndarray:
        """``contains(s, pattern)``, evaluated only on the rows the screen flagged."""
        flags = self.rows(s, field_name)
        out = np.zeros(len(s), bool)
        if flags.any():
            out[flags] = contains(s[flags], pattern)
        return out

    def clear(self) -> None:
        self._cache.clear()


def _np_bool(result: pyarrow_.Array | pyarrow_.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(result, False).to_numpy(zero_copy_only=False), dtype=bool)


def _np_int(result: pyarrow_.Array | pyarrow_.ChunkedArray) -> np.ndarray:
    return np.asarray(pc.fill_null(result, 0).to_numpy(zero_copy_only=False), dtype=np.int64)


def contains(s: pd.Series, pattern: str) -> np.ndarray:
    """Row-wise regex search over a whole column (RE2 in pyarrow; Python ``re`` if RE2 rejects the pattern)."""
    try:
        return _np_bool(pc.match_substring_regex(_arrow(s), pattern))
    except (pyarrow_.ArrowInvalid, pyarrow_.ArrowNotImplementedError):
        return s.astype(object).map(lambda t: isinstance(t, str) and re.search(pattern, t) is not None).to_numpy(bool)


def count(s: pd.Series, pattern: str) -> np.ndarray:
    """Row-wise count of non-overlapping regex matches."""
    try:
        return _np_int(pc.count_substring_regex(_arrow(s), pattern))
    except (pyarrow_.ArrowInvalid, pyarrow_.ArrowNotImplementedError):
        rx = re.compile(pattern)
        return s.astype(object).map(lambda t: len(rx.findall(t)) if isinstance(t, str) else 0).to_numpy(np.int64)


def length(s: pd.Series) -> np.ndarray:
    return _np_int(pc.utf8_length(_arrow(s)))


def _stripped(s: pd.Series) -> pd.Series:
    return pd.Series(pc.utf8_trim_whitespace(_arrow(s)), index=s.index, dtype="str")


def weighted_lengths(s: pd.Series, rows: np.ndarray | None = None) -> np.ndarray:
    """``validate.text.weighted_length`` without normalisation: characters + 2 per Han character."""
    n = length(s)
    if rows is None:
        return n + 2 * count(s, HAN)
    out = n.copy()
    if rows.any():
        out[rows] += 2 * count(s[rows], HAN)
    return out


def approx_tokens(s: pd.Series) -> np.ndarray:
    """One token per Han character plus one per ~4 other characters."""
    han = count(s, HAN)
    return han + np.ceil((length(s) - han) / 4).astype(np.int64)


def _norm_for_echo(s: pd.Series) -> pd.Series:
    """NFKD + lowercase + letters/digits only: 'Repeat me.' and 'repeat me' compare equal."""
    arr = pc.utf8_lower(pc.utf8_normalize(_arrow(s), "NFKD"))
    arr = pc.replace_substring_regex(arr, r"[^\p{L}\p{N}]+", "")
    return pd.Series(arr, index=s.index, dtype="str")


def _bigrams(t: str) -> set[str]:
    return {t[i : i + 2] for i in range(len(t) - 1)}


def _dice(a: str, b: str) -> float:
    x, y = _bigrams(a), _bigrams(b)
    return 2 * len(x & y) / (len(x) + len(y)) if x and y else float(a == b)


# --- checks -----------------------------------------------------------------------------------------------------


def _length_checks(cfg: GateConfig, name: str) -> list[pa.Check]:
    lo = getattr(cfg, f"min_{name}_chars", 0)
    hi = getattr(cfg, f"max_{name}_chars", None)
    lo_tok = getattr(cfg, f"min_{name}_tokens", None)
    hi_tok = getattr(cfg, f"max_{name}_tokens", None)
    checks = []
    if lo:

        def too_short(s: pd.Series) -> pd.Series:
            st = _stripped(s)
            n = length(st)
            # weighted >= plain length, so Han counting is only needed where plain length falls short.
            return pd.Series(weighted_lengths(st, n < lo) >= lo, index=s.index)

        checks.append(pa.Check(too_short, name="too_short"))
    if hi is not None:

        def too_long(s: pd.Series) -> pd.Series:
            n = length(s)
            return pd.Series(weighted_lengths(s, 3 * n > hi) <= hi, index=s.index)

        checks.append(pa.Check(too_long, name="too_long"))
    if lo_tok:

        def too_few_tokens(s: pd.Series) -> pd.Series:
            ok = length(s) >= 4 * lo_tok  # tokens >= chars / 4
            if (~ok).any():
                ok[~ok] = approx_tokens(s[~ok]) >= lo_tok
            return pd.Series(ok, index=s.index)

        checks.append(pa.Check(too_few_tokens, name="too_few_tokens"))
    if hi_tok is not None:

        def too_many_tokens(s: pd.Series) -> pd.Series:
            ok = length(s) <= hi_tok  # tokens <= chars
            if (~ok).any():
                ok[~ok] = approx_tokens(s[~ok]) <= hi_tok
            return pd.Series(ok, index=s.index)

        checks.append(pa.Check(too_many_tokens, name="too_many_tokens"))
    return checks


NONBLANK_RE2 = r"[^\t\n\v\f\r \x{1c}-\x{1f}\x{85}\p{Z}]"  # Python's \S (str.isspace complement) in RE2


def _nonblank_check() -> pa.Check:
    def nonblank(s: pd.Series) -> pd.Series:
        try:
            return pd.Series(_np_bool(pc.match_substring_regex(_arrow(s), NONBLANK_RE2)), index=s.index)
        except (pyarrow_.ArrowInvalid, pyarrow_.ArrowNotImplementedError, TypeError):
            return s.str.contains(r"\S", regex=True)

    return pa.Check(nonblank, name="str_contains", error="str_contains('\\S')")


def _pattern_check(screen: Screen, field_name: str, pattern: str, name: str) -> pa.Check:
    return pa.Check(lambda s: pd.Series(~screen.search(s, field_name, pattern), index=s.index), name=name)


def not_truncated(s: pd.Series, min_chars: int) -> pd.Series:
    """False where the output looks cut off: unclosed code fence, unbalanced brackets, or long prose
    without final punctuation. Lists, tables and code are exempt from the punctuation rule."""
    st = _stripped(s)
    last = pd.Series(pc.utf8_slice_codeunits(_arrow(st), -1), index=s.index, dtype="str")
    ends_ok = last.isin(list(TERMINAL)).to_numpy()
    bad = count(s, CODE_FENCE) % 2 == 1
    open_rows = ~ends_ok
    if open_rows.any():
        sub = s[open_rows]
        unbalanced = count(sub, OPENERS) > count(sub, CLOSERS)
        long_prose = length(sub) > min_chars
        if long_prose.any():
            lp = sub[long_prose]
            exempt = (count(lp, LIST_LINE) >= 2) | contains(lp, CODE_HINT)
            long_prose[long_prose] = ~exempt
        bad[open_rows] |= unbalanced | long_prose
    return pd.Series(~bad, index=s.index)


def _task_matches(df: pd.DataFrame, pattern: str) -> np.ndarray:
    return contains(df["task_type"], pattern) if pattern else np.zeros(len(df), bool)


def not_echo(df: pd.DataFrame, cfg: GateConfig) -> pd.Series:
    """False where the output equals, is a large part of, or nearly restates the instruction.

    Only rows whose raw output is at most ~1.5x the instruction's length can echo it, so normalisation and the
    per-row substring / bigram-overlap tests run on that subset alone.
    """
    lo_raw, li_raw = length(df["output"]), length(df["instruction"])
    echo = np.zeros(len(df), bool)
    rows = (2 * lo_raw <= 3 * li_raw + 8) & (lo_raw > 0)
    if not rows.any():
        return pd.Series(True, index=df.index)
    out, ins = _norm_for_echo(df["output"][rows]), _norm_for_echo(df["instruction"][rows])
    sub = _np_bool(pc.equal(_arrow(out), _arrow(ins)))
    lo, li = length(out), length(ins)
    cand = ~sub & (lo >= cfg.echo_min_chars) & (lo <= li) & (lo * 10 >= li * 6)
    if cand.any():
        sub[cand] = [o in i for o, i in zip(out[cand], ins[cand], strict=True)]
    near = ~sub & (lo >= cfg.echo_min_chars) & (lo <= cfg.echo_overlap_max_chars)
    near &= (lo * 4 >= li * 3) & (li * 4 >= lo * 3)
    if near.any():
        sub[near] = [_dice(o, i) >= cfg.echo_overlap_ratio for o, i in zip(out[near], ins[near], strict=True)]
    echo[rows] = sub
    return pd.Series(~echo, index=df.index)


def no_template_leak(df: pd.DataFrame, cfg: GateConfig, screen: Screen) -> pd.Series:
    hit = np.zeros(len(df), bool)
    for f in TEXT_FIELDS:
        hit |= screen.search(df[f], f, cfg.leak_pattern)
    return pd.Series(~hit, index=df.index)


def no_pii(df: pd.DataFrame, kind: PiiKind, screen: Screen) -> pd.Series:
    hit = np.zeros(len(df), bool)
    for f in TEXT_FIELDS:
        flags = screen.rows(df[f], f)
        if flags.any():
            hit[flags] |= detect(df[f][flags], kind).to_numpy()
    return pd.Series(~hit, index=df.index)


def _script(s: pd.Series, cfg: GateConfig) -> tuple[np.ndarray, np.ndarray]:
    """(judgeable, is_chinese) per row, from UTF-8 byte arithmetic instead of per-character regex counts.

    A CJK character is 3 bytes for 1 character, so (bytes - chars) / 2 estimates the CJK count and the rest
    are (mostly ASCII) other characters. Rows near the threshold, or holding kana/hangul (also 3 bytes), are
    recounted exactly with the Han and Latin regexes.
    """
    arr = _arrow(s)
    nc = _np_int(pc.utf8_length(arr))
    cjk = (_np_int(pc.binary_length(arr)) - nc) // 2
    other = nc - cjk
    han, lat = cjk.astype(float), other * 0.8  # ~20% of other characters are spaces and punctuation
    share = han / np.maximum(han + lat, 1)
    kana_hangul = contains(s, KANA_HANGUL)  # Japanese and Korean count as "not Chinese"
    exact = (np.abs(share - cfg.language_han_share) < 0.1) | kana_hangul
    if exact.any():
        sub = s[exact]
        han[exact], lat[exact] = count(sub, HAN), count(sub, LATIN)
    letters = han + lat
    share = han / np.maximum(letters, 1)
    # Bilingual text (a share between half the threshold and the threshold) is not judged either way.
    mixed = (share >= cfg.language_han_share / 2) & (share < cfg.language_han_share) & ~kana_hangul
    return (letters >= cfg.language_min_letters) & ~mixed, (share >= cfg.language_han_share) & ~kana_hangul


def same_language(df: pd.DataFrame, cfg: GateConfig) -> pd.Series:
    """False where the answer is Chinese and the question is not (or the reverse), or the answer is in the
    other Chinese script. Code answers and tasks where a switch is expected are skipped."""
    out = df["output"]
    skip = _task_matches(df, cfg.language_skip_task_types) | contains(out, CODE_FENCE + "|" + CODE_HINT)
    mismatch = np.zeros(len(df), bool)
    rows = ~skip
    if not rows.any():
        return pd.Series(True, index=df.index)
    sub = df[["instruction", "input", "output"]][rows]
    q_known, q_zh = _script(sub["instruction"], cfg)
    a_known, a_zh = _script(sub["output"], cfg)
    has_input = length(sub["input"]) > 0
    x_known, x_zh = np.zeros(len(sub), bool), np.zeros(len(sub), bool)
    if has_input.any():
        x_known[has_input], x_zh[has_input] = _script(sub["input"][has_input], cfg)
    # The answer may follow either the instruction's or the context's language.
    lang_bad = q_known & a_known & (q_zh != a_zh) & ~(x_known & (x_zh == a_zh))
    both_zh = q_known & a_known & q_zh & a_zh & ~lang_bad
    script_bad = np.zeros(len(sub), bool)
    if both_zh.any():
        # Script: a text is Traditional (Simplified) when it uses characters of that script only.
        q, a = sub["instruction"][both_zh], sub["output"][both_zh]
        qt, qs, at, as_ = contains(q, HANT_MARK), contains(q, HANS_MARK), contains(a, HANT_MARK), contains(a, HANS_MARK)
        script_bad[both_zh] = (qt & ~qs & as_ & ~at) | (qs & ~qt & at & ~as_)
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


def _code_ok(text: str, fenced: bool) -> bool:
    blocks = _PY_BLOCKS.findall(text) if fenced else [text]
    return all(_python_ok(b) for b in blocks)


def code_parses(df: pd.DataFrame, cfg: GateConfig) -> pd.Series:
    """False where a ```python block, or a code task's output that starts like Python, does not parse."""
    out = df["output"]
    fenced = contains(out, PY_FENCE)
    whole = ~fenced & _task_matches(df, cfg.code_task_types)
    if whole.any():
        # Code tasks also produce prose (docstrings, explanations): parse only outputs that start like Python.
        whole[whole] = contains(out[whole], PY_START)
    ok = np.ones(len(df), bool)
    for mask, is_fenced in ((fenced, True), (whole, False)):
        if mask.any():
            ok[mask] = [_code_ok(t, is_fenced) for t in out[mask]]
    return pd.Series(ok, index=df.index)


def _json_ok(text: str, fenced: bool) -> bool:
    blocks = _JSON_BLOCKS.findall(text) if fenced else [text]
    try:
        for b in blocks:
            json.loads(b)
    except ValueError:
        return False
    return True


def json_parses(df: pd.DataFrame, cfg: GateConfig) -> pd.Series:
    """False where a ```json block, or a JSON-looking output of a json/extract task, does not parse."""
    out = df["output"]
    fenced = contains(out, JSON_FENCE)
    whole = ~fenced & _task_matches(df, cfg.json_task_types) & contains(out, r"^[ \t\n\r]*[\[{]")
    ok = np.ones(len(df), bool)
    for mask, is_fenced in ((fenced, True), (whole, False)):
        if mask.any():
            ok[mask] = [_json_ok(t, is_fenced) for t in out[mask]]
    return pd.Series(ok, index=df.index)


def quality_schema(cfg: GateConfig) -> pa.DataFrameSchema:
    """The contract plus the quality checks, thresholds taken from ``cfg``."""
    base = InstructionRecord.to_schema()
    cols = dict(base.columns)
    rare = [MOJIBAKE, CONTROL, cfg.leak_pattern, *(k.candidate for k in KINDS.values())]
    screen = Screen(
        {f: rare + ([cfg.refusal_pattern, cfg.merged_pattern] if f == "output" else []) for f in TEXT_FIELDS}
    )
    for name in TEXT_FIELDS:
        extra = [
            *_length_checks(cfg, name),
            _pattern_check(screen, name, MOJIBAKE, "mojibake"),
            _pattern_check(screen, name, CONTROL, "control_chars"),
        ]
        if name == "output":
            extra += [
                _pattern_check(screen, name, cfg.refusal_pattern, "refusal_boilerplate"),
                _pattern_check(screen, name, cfg.merged_pattern, "merged_instructions"),
                pa.Check(lambda s: not_truncated(s, cfg.truncation_min_chars), name="truncated_output"),
            ]
        cols[name] = cols[name].set_checks([*cols[name].checks, *extra])
    # The contract's "\\S" check makes pandas fall back to Python regexes; same check, same name, in RE2.
    for name, col in cols.items():
        if any(c.name == "str_contains" and c.statistics.get("pattern") == r"\S" for c in col.checks):
            cols[name] = col.set_checks([_nonblank_check() if c.name == "str_contains" else c for c in col.checks])
    # Uniqueness of id is handled by exact dedup (which keeps the first copy), not by failing both.
    cols["id"] = cols["id"].set_checks(cols["id"].checks)
    cols["id"].unique = False

    frame_checks = [
        pa.Check(lambda df: not_echo(df, cfg), name="output_echoes_instruction"),
        pa.Check(lambda df: no_template_leak(df, cfg, screen), name="template_leak"),
        pa.Check(lambda df: same_language(df, cfg), name="language_mismatch"),
        pa.Check(lambda df: code_parses(df, cfg), name="code_syntax_error"),
        pa.Check(lambda df: json_parses(df, cfg), name="json_invalid"),
    ]
    for kind, policy in cfg.pii.items():
        if policy == "reject":
            frame_checks.append(pa.Check(lambda df, k=KINDS[kind]: no_pii(df, k, screen), name=f"pii:{kind}"))
    schema = pa.DataFrameSchema(
        columns=cols,
        checks=[*base.checks, *frame_checks],
        coerce=True,
        strict="filter",
        name="InstructionRecordQuality",
    )
    schema.metadata = {"screen": screen}
    return schema


# --- the gate ---------------------------------------------------------------------------------------------------


def _collect_reasons(df: pd.DataFrame, schema: pa.DataFrameSchema) -> dict[int, list[str]]:
    reasons: dict[int, list[str]] = {}
    try:
        schema.validate(df, lazy=True)
    except pa.errors.SchemaErrors as exc:
        fc = exc.failure_cases
        column_level = (fc["schema_context"] == "Column") & fc["column"].map(lambda c: isinstance(c, str))
        labels = np.where(
            column_level, fc["column"].astype(str) + ":" + fc["check"].astype(str), fc["check"].astype(str)
        )
        for idx, label in zip(fc["index"].tolist(), labels.tolist(), strict=True):
            if idx is None or (isinstance(idx, float) and np.isnan(idx)):
                # A column-level failure (e.g. wrong dtype that cannot be coerced) hits every row.
                for i in range(len(df)):
                    reasons.setdefault(i, []).append(label)
            else:
                reasons.setdefault(int(idx), []).append(label)
    return reasons


def _dedup_key(df: pd.DataFrame) -> pd.DataFrame:
    """validate.text.normalize_text, vectorised: NFKD (equal iff NFKC equal), lowercase, whitespace collapsed.

    NFKD already turns NBSP, ideographic and other Unicode spaces into " ", so the regex collapse only runs on
    rows that still hold tabs, newlines or runs of spaces.
    """
    key = {}
    for f in TEXT_FIELDS:
        arr = pc.utf8_lower(pc.utf8_normalize(_arrow(df[f]), "NFKD"))
        col = pd.Series(arr, index=df.index, dtype="str")
        messy = contains(col, r"[\t\n\v\f\r\x{85}\x{2028}\x{2029}]|  ")
        if messy.any():
            fixed = pc.replace_substring_regex(_arrow(col[messy]), r"[\t\n\v\f\r \x{85}\x{2028}\x{2029}]+", " ")
            col[messy] = pd.Series(fixed, index=col.index[messy], dtype="str")
        key[f] = pd.Series(pc.utf8_trim_whitespace(_arrow(col)), index=df.index, dtype="str")
    return pd.DataFrame(key)


def run_gate(df: pd.DataFrame, cfg: GateConfig | None = None) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(accepted, quarantined, report). PII is scrubbed first (per policy); exact duplicates after the first
    copy are quarantined too; every quarantined row lists all the checks it failed."""
    cfg = cfg or GateConfig()
    schema = quality_schema(cfg)
    cols = list(schema.columns)
    n_input = len(df)
    scrubbed = {k: 0 for k, p in cfg.pii.items() if p == "scrub"}
    if df.empty:
        empty = pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
        accepted, quarantined = empty, empty.assign(**{REASONS: pd.Series(dtype=object)})
    else:
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise DataAgentError(f"records lack the field '{missing[0]}' required by the {schema.name} contract")
        work = df.reset_index(drop=True)
        work = work.assign(**{c: work[c].astype("str") for c in cols if work[c].dtype != "str"})
        work, scrubbed = scrub_frame(work, cfg.pii)
        try:
            reasons = _collect_reasons(work, schema)
        finally:
            schema.metadata["screen"].clear()
        bad = work.index.isin(list(reasons))
        accepted = work.loc[~bad, cols].reset_index(drop=True)
        quarantined = work.loc[bad].copy()
        quarantined[REASONS] = [sorted(set(reasons[i])) for i in quarantined.index]
        quarantined = quarantined.reset_index(drop=True)
        if len(accepted):
            dup = _dedup_key(accepted).duplicated(keep="first").to_numpy()
            if dup.any():
                dups = accepted.loc[dup].copy()
                dups[REASONS] = [["exact_duplicate"]] * len(dups)
                accepted = accepted.loc[~dup].reset_index(drop=True)
                quarantined = pd.concat([quarantined, dups], ignore_index=True)
    if len(accepted) + len(quarantined) != n_input:
        raise AssertionError(f"gate lost records: {len(accepted)} + {len(quarantined)} != {n_input}")
    counts: dict[str, int] = {}
    for rs in quarantined[REASONS].tolist() if len(quarantined) else []:
        for reason in rs:
            counts[reason] = counts.get(reason, 0) + 1
    counts = dict(sorted(counts.items()))
    report = {
        "input": n_input,
        "accepted": len(accepted),
        "quarantined": len(quarantined),
        "failures_by_check": counts,
        "failure_rate_by_check": {k: round(v / n_input, 6) for k, v in counts.items()} if n_input else {},
        "pii_scrubbed": scrubbed,
    }
    return accepted, quarantined, report


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
