"""PII detection and scrubbing for the quality gate, vectorised where it counts.

Each kind has two patterns: a loose RE2-compatible ``candidate`` pattern that pandas runs over a whole
column in pyarrow (no per-row Python), and a precise Python ``regex`` with boundaries plus an optional
``validator`` (Luhn, national-ID checksums, octet ranges) that runs only on the few candidate rows.

Policies: "scrub" replaces each validated match with the kind's placeholder; "reject" quarantines the
record with the reason ``pii:<kind>``; "off" ignores the kind.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

TEXT_FIELDS = ("instruction", "input", "output")
POLICIES = ("scrub", "reject", "off")


def luhn_ok(digits: str) -> bool:
    """Luhn (mod 10) check over a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(text: str) -> bool:
    digits = re.sub(r"[ -]", "", text)
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
        return False
    seps = set(re.findall(r"[ -]", text))
    if len(seps) > 1:  # "4111 1111-1111 1111" is not how anyone writes a card number
        return False
    if len(digits) == 18 and cn_id_ok(digits):  # an 18-digit resident ID is reported as cn_id, not as a card
        return False
    return luhn_ok(digits)


# Letter values of the Taiwan national ID (and resident certificate) first character.
_TW_LETTERS = dict(zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36), strict=True))
_TW_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 1)


def tw_id_ok(text: str) -> bool:
    """Taiwan national ID: one letter, 1/2 (or 8/9 for new resident certificates), 8 digits, checksum mod 10."""
    text = text.upper()
    if len(text) != 10 or text[0] not in _TW_LETTERS or not text[1:].isdigit() or text[1] not in "1289":
        return False
    n = _TW_LETTERS[text[0]]
    total = n // 10 + (n % 10) * 9 + sum(int(d) * w for d, w in zip(text[1:9], _TW_WEIGHTS, strict=True))
    total += int(text[9])
    return total % 10 == 0


_CN_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CN_CHECK = "10X98765432"


def cn_id_ok(text: str) -> bool:
    """Mainland China resident ID: 17 digits + ISO 7064 MOD 11-2 check character (0-9 or X)."""
    text = text.upper()
    if len(text) != 18 or not text[:17].isdigit():
        return False
    total = sum(int(d) * w for d, w in zip(text[:17], _CN_WEIGHTS, strict=True))
    return _CN_CHECK[total % 11] == text[17]


def _ipv4_ok(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 and (p == "0" or p[0] != "0") for p in parts)


def _ipv6_ok(text: str) -> bool:
    groups = [g for g in text.split(":") if g]
    if "::" not in text and len(groups) != 8:
        return False
    if len(groups) < 2 and text not in ("::1",):
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _ip_ok(text: str) -> bool:
    return _ipv4_ok(text) if "." in text else _ipv6_ok(text)


def _phone_ok(text: str) -> bool:
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("+"):
        return 8 <= len(digits) <= 15
    return 9 <= len(digits) <= 10


@dataclass(frozen=True)
class PiiKind:
    name: str
    placeholder: str
    candidate: str  # RE2-compatible, loose: used with Series.str.contains on whole columns
    regex: re.Pattern[str]  # precise, Python re: used only on candidate rows
    validator: Callable[[str], bool] | None = None


_NB = r"(?<![0-9A-Za-z])"  # not glued to a preceding word/number
_NA = r"(?![0-9A-Za-z])"
KINDS: dict[str, PiiKind] = {
    k.name: k
    for k in (
        PiiKind(
            "email",
            "[EMAIL]",
            r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]+\.",
            re.compile(r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}\b"),
        ),
        PiiKind(
            "phone",
            "[PHONE]",
            # Taiwan mobile 09xx-xxx-xxx, +886 9xx, landline (0x) xxxx-xxxx / 0x-xxxx-xxxx, any E.164 +CC...
            r"09[0-9]{2}[- ]?[0-9]{3}[- ]?[0-9]{3}|\+[1-9][0-9]|\(0[2-9]\)|0[2-8]-[0-9]{3,4}-[0-9]{4}",
            re.compile(
                _NB + r"(?<![-+])(?:"
                r"\+886[- ]?9[0-9]{2}[- ]?[0-9]{3}[- ]?[0-9]{3}"
                r"|09[0-9]{2}-[0-9]{3}-[0-9]{3}|09[0-9]{2} [0-9]{3} [0-9]{3}|09[0-9]{8}"
                r"|\(0[2-9]\) ?[0-9]{3,4}-?[0-9]{4}|0[2-8]-[0-9]{3,4}-[0-9]{4}"
                r"|\+[1-9][0-9]{0,2}(?:[- ]?\(?[0-9]{1,4}\)?){1,4}[- ]?[0-9]{2,4}"
                r")(?![0-9A-Za-z]|-[0-9])"
            ),
            _phone_ok,
        ),
        PiiKind(
            "card",
            "[CARD]",
            r"[0-9]{4}[- ]?[0-9]{4}[- ]?[0-9]{4}[- ]?[0-9]",
            re.compile(_NB + r"(?<![-.])[0-9](?:[- ]?[0-9]){12,18}(?![0-9A-Za-z]|[-.][0-9])"),
            _card_ok,
        ),
        PiiKind(
            "tw_id",
            "[TW_ID]",
            r"[A-Za-z][1289][0-9]{8}",
            re.compile(_NB + r"[A-Za-z][1289][0-9]{8}" + _NA),
            tw_id_ok,
        ),
        PiiKind(
            "cn_id",
            "[CN_ID]",
            r"[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])[0-3][0-9]{4}[0-9Xx]",
            re.compile(
                _NB + r"[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9Xx]" + _NA
            ),
            cn_id_ok,
        ),
        PiiKind(
            "ip",
            "[IP]",
            r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}|[0-9A-Fa-f]{1,4}:[0-9A-Fa-f]{0,4}:[0-9A-Fa-f:]*[0-9A-Fa-f]",
            re.compile(
                r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])"
                r"|(?<![0-9A-Za-z:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{1,4}(?![0-9A-Za-z:])"
            ),
            _ip_ok,
        ),
    )
}


def _matches(kind: PiiKind, text: str) -> list[re.Match[str]]:
    return [m for m in kind.regex.finditer(text) if kind.validator is None or kind.validator(m.group())]


def candidates(series: pd.Series, kind: PiiKind) -> pd.Series:
    """Rows that may hold ``kind``: one pyarrow regex pass over the column."""
    return series.str.contains(kind.candidate, regex=True, na=False)


def detect(series: pd.Series, kind: PiiKind) -> pd.Series:
    """Boolean mask of rows that hold at least one validated ``kind`` match."""
    found = candidates(series, kind)
    if found.any():
        idx = found[found].index
        found.loc[idx] = [bool(_matches(kind, t)) for t in series.loc[idx]]
    return found


def scrub_text(text: str, kind: PiiKind) -> tuple[str, int]:
    """``text`` with each validated match replaced by the placeholder, and how many were replaced."""
    count = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal count
        if kind.validator is None or kind.validator(m.group()):
            count += 1
            return kind.placeholder
        return m.group()

    return kind.regex.sub(repl, text), count


def record_id(instruction: str, input_: str, output: str) -> str:
    """Same formula as synth.records.record_id (kept here so validate does not import synth)."""
    return hashlib.sha256("\x1f".join((instruction, input_, output)).encode("utf-8")).hexdigest()


def scrub_changes(
    df: pd.DataFrame, policy: dict[str, str], screened: dict[str, np.ndarray] | None = None
) -> tuple[dict[str, pd.Series], dict[str, int]]:
    """Per text field, the scrubbed text of the rows that scrubbing changes (indexed like ``df``), and per kind
    the number of replaced occurrences. Kinds are applied in ``policy`` order, each on the previous one's output.

    ``screened`` flags, per field, rows that may hold a scrubbed kind: any superset of the rows the kinds'
    candidate patterns match, such as a wider screen the caller already ran. Without it, one pass per field over
    the union of the scrubbed kinds' candidates finds them. Only flagged rows are touched by Python.
    """
    counts = {name: 0 for name, p in policy.items() if p == "scrub"}
    changes: dict[str, pd.Series] = {}
    if not counts or df.empty:
        return changes, counts
    if screened is None:
        union = "|".join(f"(?:{KINDS[name].candidate})" for name in counts)
        screened = {f: df[f].str.contains(union, regex=True, na=False).to_numpy(bool) for f in TEXT_FIELDS}
    for f in TEXT_FIELDS:
        if not screened[f].any():
            continue
        original = df[f][screened[f]]
        current = original.copy()
        for name in counts:
            cand = candidates(current, KINDS[name])
            if not cand.any():
                continue
            new = []
            for text in current[cand]:
                out, n = scrub_text(text, KINDS[name])
                new.append(out)
                counts[name] += n
            current[cand] = new
        changed = (current != original).to_numpy(bool)
        if changed.any():
            changes[f] = current[changed]
    return changes, counts
