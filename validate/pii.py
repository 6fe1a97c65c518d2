"""PII detection and scrubbing for the quality gate, vectorised where it counts.

Each kind has two patterns: a loose RE2-compatible ``candidate`` pattern that pandas runs over a whole
column in pyarrow (no per-row Python), and a precise Python ``regex`` with boundaries plus an optional
``validator`` (Luhn, national-ID checksums, octet ranges) that runs only on the few candidate rows.

Policies: "scrub" replaces each validated match with the kind's placeholder; "reject" quarantines the
record with the reason ``pii:<kind>``; "off" ignores the kind.

Code and prose get different policies. Inside code (``validate.codecheck.code_spans``: fenced blocks, inline
`code`, Markdown indented blocks, or a whole answer that is code, helped by the record's task type) the kinds
that code is full of and that name nobody there (IP literals, phone-shaped numbers) are off; see ``CODE_POLICY``
and ``policy_table``. Everywhere, addresses that are nobody's are not personal data: special-use IPs (loopback,
private, link-local, documentation, multicast, netmasks), dotted version numbers (``v7.1.4.34``), and e-mail at
example/placeholder domains (RFC 2606/6761: example.com, *.test, *.invalid...).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from validate.codecheck import code_spans

TEXT_FIELDS = ("instruction", "input", "output")
POLICIES = ("scrub", "reject", "off")
CODE_POLICIES = ("same", "off")

# The policy of each kind inside code, relative to the prose policy (``pii`` in gate_defaults.yaml): "same" applies
# the prose policy there too, "off" leaves the kind alone in code. Code can only relax: a literal in code is data
# the code works on or an example, rarely someone's. IP literals in code are bind addresses, fixtures, netmasks
# and versions; phone-shaped digit runs are constants and IDs; e-mail in code is scrubbed as in prose (an
# author's address in a header is personal; example.com and the other placeholder domains are exempt
# everywhere); card numbers and national IDs are rejected in code too (a checksum-valid one is a leak).
CODE_POLICY: dict[str, str] = {
    "email": "same",
    "phone": "off",
    "ip": "off",
    "card": "same",
    "tw_id": "same",
    "cn_id": "same",
}


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


# Documentation and shared address blocks, listed for Python versions whose ``is_private`` misses one.
_NOT_PERSONAL_NETS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "100.64.0.0/10", "2001:db8::/32", "fc00::/7")
)


def _netmask(value: int) -> bool:
    """A dotted quad that is a contiguous netmask (255.255.255.0) or its wildcard (0.0.0.255)."""
    inverse = value ^ 0xFFFFFFFF
    return inverse & (inverse + 1) == 0 or value & (value + 1) == 0


def ip_personal(text: str) -> bool:
    """An address that can point at someone: a global unicast address. Loopback (127/8, ::1), unspecified
    (0.0.0.0), broadcast, netmasks, private (10/8, 172.16/12, 192.168/16, fc00::/7), link-local (169.254/16,
    fe80::/10), documentation (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32), shared (100.64/10),
    reserved (240/4) and multicast (224/4, ff00::/8) addresses are nobody's."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return False
    if ip.version == 4 and _netmask(int(ip)):
        return False
    special = (
        ip.is_private
        or ip.is_loopback
        or ip.is_reserved
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )
    return not special and not any(ip in net for net in _NOT_PERSONAL_NETS if net.version == ip.version)


def _ip_ok(text: str) -> bool:
    return (_ipv4_ok(text) if "." in text else _ipv6_ok(text)) and ip_personal(text)


# A dotted quad after a version word or a requirement operator, or before a pre-release tag, is a version.
_VERSION_BEFORE = re.compile(
    r"(?:(?<![A-Za-z0-9])(?:v|ver|version|rev|revision|release|build|firmware|fw)_*[ \t]*(?:number|no\.?)?"
    r"|版本號?|版本号?|版号|版)[ \t]*[:：=]?[ \t]*[\"'(]?[ \t]*$"
    r"|(?:==|>=|<=|~=|!=|===)[ \t]*$",
    re.IGNORECASE,
)
_VERSION_AFTER = re.compile(
    r"(?:[-+~_.]?(?:alpha|beta|rc|dev|pre|post|snapshot|final|release|stable|build|ga|lts)[0-9]*(?![A-Za-z]))"
    r"|[ \t]*版",
    re.IGNORECASE,
)


def _ip_context_ok(text: str, start: int, end: int) -> bool:
    """False where the dotted quad reads as a version: ``version 7.1.4.34``, ``__version__ = "7.1.4.34"``,
    ``v7.1.4.34``, ``pkg==1.2.3.4``, ``7.1.4.34-beta``, ``7.1.4.34 版``."""
    if ":" in text[start:end]:
        return True  # IPv6: no version looks like one
    return not (_VERSION_BEFORE.search(text[max(0, start - 24) : start]) or _VERSION_AFTER.match(text, end))


# RFC 2606 / RFC 6761 example and placeholder domains: addresses there belong to nobody.
_PLACEHOLDER_DOMAIN = re.compile(r"(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid|localhost)\.?$", re.I)


def email_personal(text: str) -> bool:
    """An address at a real domain; ``user@example.com``, ``a@b.test``, ``x@y.invalid`` are placeholders."""
    return not _PLACEHOLDER_DOMAIN.search(text.rsplit("@", 1)[-1])


# Mainland China mobile prefixes (13x, 145-149, 15x but 154, 162/165-167, 170-178, 18x, 19x but 194).
_CN_MOBILE = re.compile(r"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9])[0-9]{8}")


def _phone_ok(text: str) -> bool:
    digits = re.sub(r"[^0-9]", "", text)
    if text.startswith("+"):
        return 8 <= len(digits) <= 15
    if len(digits) == 11:
        return _CN_MOBILE.fullmatch(digits) is not None
    return 9 <= len(digits) <= 10


@dataclass(frozen=True)
class PiiKind:
    name: str
    placeholder: str
    candidate: str  # RE2-compatible, loose: used with Series.str.contains on whole columns
    regex: re.Pattern[str]  # precise, Python re: used only on candidate rows
    validator: Callable[[str], bool] | None = None
    # (text, start, end) -> False where the match's surroundings say it is not this kind (a version number).
    context: Callable[[str, int, int], bool] | None = None


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
            email_personal,
        ),
        PiiKind(
            "phone",
            "[PHONE]",
            # Taiwan mobile 09xx-xxx-xxx, +886 9xx, landline (0x) xxxx-xxxx / 0x-xxxx-xxxx, any E.164 +CC...,
            # mainland China mobile 1[3-9]x xxxx xxxx without +86 (the prefix is checked by the validator)
            r"09[0-9]{2}[- ]?[0-9]{3}[- ]?[0-9]{3}|\+[1-9][0-9]|\(0[2-9]\)|0[2-8]-[0-9]{3,4}-[0-9]{4}"
            r"|1[3-9][0-9][- ]?[0-9]{4}[- ]?[0-9]{4}",
            re.compile(
                _NB + r"(?<![-+])(?:"
                r"\+886[- ]?9[0-9]{2}[- ]?[0-9]{3}[- ]?[0-9]{3}"
                r"|09[0-9]{2}-[0-9]{3}-[0-9]{3}|09[0-9]{2} [0-9]{3} [0-9]{3}|09[0-9]{8}"
                r"|\(0[2-9]\) ?[0-9]{3,4}-?[0-9]{4}|0[2-8]-[0-9]{3,4}-[0-9]{4}"
                r"|\+[1-9][0-9]{0,2}(?:[- ]?\(?[0-9]{1,4}\)?){1,4}[- ]?[0-9]{2,4}"
                r"|1[3-9][0-9](?:[0-9]{8}|-[0-9]{4}-[0-9]{4}| [0-9]{4} [0-9]{4})"
                r")(?![0-9A-Za-z]|[-.:/][0-9])"
            ),
            _phone_ok,
        ),
        PiiKind(
            "card",
            "[CARD]",
            # 4-4-4-4 (Visa, Mastercard...), and 4-6-5 / 4-6-4 as American Express and Diners group theirs
            r"[0-9]{4}[- ]?[0-9]{4}[- ]?[0-9]{4}[- ]?[0-9]|3[0-9]{3}[- ]?[0-9]{6}[- ]?[0-9]{4}",
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
            _ip_context_ok,
        ),
    )
}


def _matches(kind: PiiKind, text: str) -> list[re.Match[str]]:
    return [
        m
        for m in kind.regex.finditer(text)
        if (kind.validator is None or kind.validator(m.group()))
        and (kind.context is None or kind.context(text, m.start(), m.end()))
    ]


def candidates(series: pd.Series, kind: PiiKind) -> pd.Series:
    """Rows that may hold ``kind``: one pyarrow regex pass over the column."""
    return series.str.contains(kind.candidate, regex=True, na=False)


def _check_code_policy(code_policy: Mapping[str, str]) -> None:
    for name, value in code_policy.items():
        if name not in KINDS or value not in CODE_POLICIES:
            raise ValueError(f"code policy {name}: {value!r}: kinds are {', '.join(KINDS)}, values same or off")


def _off_in_code(name: str, code_policy: Mapping[str, str] | None) -> bool:
    """Whether matches of kind ``name`` inside code are left alone."""
    table = CODE_POLICY if code_policy is None else code_policy
    return table.get(name, "same") == "off"


def _inside(m: re.Match[str], spans: Sequence[tuple[int, int]]) -> bool:
    return any(s <= m.start() and m.end() <= e for s, e in spans)


def _task_list(task_types: Sequence[str] | pd.Series | None, n: int) -> list[str]:
    if task_types is None:
        return [""] * n
    values = task_types.tolist() if isinstance(task_types, pd.Series) else list(task_types)
    if len(values) != n:
        raise ValueError(f"task_types has {len(values)} values for {n} rows")
    return [t if isinstance(t, str) else "" for t in values]


def detect(
    series: pd.Series,
    kind: PiiKind,
    *,
    task_types: Sequence[str] | pd.Series | None = None,
    code_policy: Mapping[str, str] | None = None,
) -> pd.Series:
    """Boolean mask of rows that hold at least one validated ``kind`` match outside code, or inside code when the
    code policy of the kind is "same" (``CODE_POLICY`` unless ``code_policy`` is given).

    ``task_types``: each row's task type, aligned with ``series`` by position (a Series is read by position
    too); it helps tell a whole answer that is code (see ``validate.codecheck.looks_like_code``). Without it,
    code is still recognised from fences, inline code, indented blocks and parsing. Code spans are only looked
    for in rows that hold a match of a kind that is off in code.
    """
    found = candidates(series, kind)
    if found.any():
        pos = np.flatnonzero(found.to_numpy(bool))
        tasks = _task_list(task_types, len(series))
        off = _off_in_code(kind.name, code_policy)
        hits = []
        for p, text in zip(pos.tolist(), series.iloc[pos], strict=True):
            ms = _matches(kind, text)
            if ms and off:
                spans = code_spans(text, tasks[p])
                ms = [m for m in ms if not _inside(m, spans)]
            hits.append(bool(ms))
        found.iloc[pos] = hits
    return found


def scrub_text(text: str, kind: PiiKind, *, keep: Sequence[tuple[int, int]] = ()) -> tuple[str, int]:
    """``text`` with each validated match replaced by the placeholder, and how many were replaced. Matches that
    lie inside one of the ``keep`` spans (character offsets into ``text``: its code) are left as they are."""
    count = 0

    def repl(m: re.Match[str]) -> str:
        nonlocal count
        if kind.validator is not None and not kind.validator(m.group()):
            return m.group()
        if kind.context is not None and not kind.context(text, m.start(), m.end()):
            return m.group()
        if keep and _inside(m, keep):
            return m.group()
        count += 1
        return kind.placeholder

    return kind.regex.sub(repl, text), count


def policy_table(
    prose: Mapping[str, str] | None = None, code_policy: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """The effective policy of every kind in prose and in code: ``{"prose": {kind: policy}, "code": {...}}``.

    ``prose``: the gate's ``pii`` setting (default: gate_defaults.yaml's); ``code_policy``: the relative code
    policy (default ``CODE_POLICY``), resolved here ("same" becomes the prose policy)."""
    if prose is None:
        defaults = yaml.safe_load(Path(__file__).with_name("gate_defaults.yaml").read_text(encoding="utf-8"))
        prose = defaults.get("pii", {})
    table = CODE_POLICY if code_policy is None else code_policy
    _check_code_policy(table)
    prose_full = {name: prose.get(name, "off") for name in KINDS}
    code = {name: "off" if table.get(name, "same") == "off" else prose_full[name] for name in KINDS}
    return {"prose": prose_full, "code": code}


def record_id(instruction: str, input_: str, output: str) -> str:
    """Same formula as synth.records.record_id (kept here so validate does not import synth)."""
    return hashlib.sha256("\x1f".join((instruction, input_, output)).encode("utf-8")).hexdigest()


def scrub_changes(
    df: pd.DataFrame,
    policy: dict[str, str],
    screened: dict[str, np.ndarray] | None = None,
    *,
    code_policy: Mapping[str, str] | None = None,
) -> tuple[dict[str, pd.Series], dict[str, int]]:
    """Per text field, the scrubbed text of the rows that scrubbing changes (indexed like ``df``), and per kind
    the number of replaced occurrences. Kinds are applied in ``policy`` order, each on the previous one's output.

    ``screened`` flags, per field, rows that may hold a scrubbed kind: any superset of the rows the kinds'
    candidate patterns match, such as a wider screen the caller already ran. Without it, one pass per field over
    the union of the scrubbed kinds' candidates finds them. Only flagged rows are touched by Python.

    Matches inside code are kept for the kinds that ``code_policy`` (default ``CODE_POLICY``) turns off there;
    the code spans of a text come from ``validate.codecheck.code_spans`` with the row's ``task_type`` (when
    ``df`` has that column), and are only computed for rows that hold such a match.
    """
    counts = {name: 0 for name, p in policy.items() if p == "scrub"}
    changes: dict[str, pd.Series] = {}
    if not counts or df.empty:
        return changes, counts
    if screened is None:
        union = "|".join(f"(?:{KINDS[name].candidate})" for name in counts)
        screened = {f: df[f].str.contains(union, regex=True, na=False).to_numpy(bool) for f in TEXT_FIELDS}
    if code_policy is not None:
        _check_code_policy(code_policy)
    task_col = df["task_type"] if "task_type" in df.columns else None
    for f in TEXT_FIELDS:
        if not screened[f].any():
            continue
        original = df[f][screened[f]]
        current = original.copy()
        rows = np.flatnonzero(screened[f])
        row_tasks = _task_list(None if task_col is None else task_col.iloc[rows], len(rows))
        for name in counts:
            kind = KINDS[name]
            cand = candidates(current, kind)
            if not cand.any():
                continue
            off = _off_in_code(name, code_policy)
            pos = np.flatnonzero(cand.to_numpy(bool)).tolist()
            new = []
            for p, text in zip(pos, current.iloc[pos], strict=True):
                keep = code_spans(text, row_tasks[p]) if off and _matches(kind, text) else ()
                out, n = scrub_text(text, kind, keep=keep)
                new.append(out)
                counts[name] += n
            current.iloc[pos] = new
        changed = (current != original).to_numpy(bool)
        if changed.any():
            changes[f] = current[changed]
    return changes, counts
