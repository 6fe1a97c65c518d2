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

Phone numbers are matched by numbering plan (Taiwan and mainland China area codes, mobile prefixes, subscriber
lengths; other countries with a +CC prefix), in any common layout and in fullwidth digits, so that dates, times,
versions, ISBNs and tables of numbers are left alone; see ``_PHONE_LAYOUTS`` and ``_phone_ok``.
"""

from __future__ import annotations

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


# --- phone numbers -----------------------------------------------------------------------------------------------
# Taiwan (+886) and mainland China (+86) numbers are matched by their numbering plans, in the layouts people write
# them in; other countries only with a +CC prefix (then 8-15 digits, E.164). CJK text often uses fullwidth digits,
# parentheses, plus and dashes: the patterns take both widths directly (no NFKC pass, so match offsets stay offsets
# into the original text and scrubbing replaces exactly the number) and the validator folds them to ASCII.

_DASHES = "-\u2010\u2011\u2012\u2013\u2014\uff0d"
_SPACES = " \u00a0\u3000"
_PD = "[0-9\uff10-\uff19]"  # one digit, either width
_POPEN, _PCLOSE, _PPLUS = "[(\uff08]", "[)\uff09]", "[+\uff0b]"
_PSP = f"[{_SPACES}]"
# One separator between digit groups: a dash (spaces around it allowed), a dot, or a space.
_PSEP = f"(?:{_PSP}?[{_DASHES}]{_PSP}?|[.\uff0e]|{_PSP})"
_PSEP_OPT = f"{_PSEP}?"
_PHONE_FOLD = str.maketrans(
    {
        **{chr(0xFF10 + i): str(i) for i in range(10)},
        **dict.fromkeys(_DASHES, "-"),
        **dict.fromkeys(_SPACES, " "),
        "\uff0b": "+",
        "\uff08": "(",
        "\uff09": ")",
        "\uff0e": ".",
        "\uff03": "#",
    }
)


def _d(lo: int, hi: int | None = None) -> str:
    """``lo`` (to ``hi``) digits of either width."""
    return f"{_PD}{{{lo}}}" if hi is None else f"{_PD}{{{lo},{hi}}}"


def _lit(digits: str) -> str:
    """The digit string ``digits`` in either width, digit by digit."""
    return "".join(f"[{c}{chr(0xFF10 + int(c))}]" for c in digits)


def _cc(codes: str) -> str:
    """An international prefix for ``codes`` (an alternation of country codes): +886, 00886, (+886), (00886)."""
    return f"(?:{_POPEN}(?:{_PPLUS}|{_lit('00')}){codes}{_PCLOSE}|(?:{_PPLUS}|{_lit('00')}){codes})"


_CC_TW, _CC_CN = _cc(_lit("886")), _cc(_lit("86"))
_CC_TWCN = _cc(f"{_lit('8')}{{1,2}}{_lit('6')}")
# Trunk prefix written after the country code: +886 (0)2..., +886 0912...
_TRUNK = f"(?:{_POPEN}{_lit('0')}{_PCLOSE}{_PSEP_OPT}|{_lit('0')}{_PSEP_OPT})"
_PHONE_LAYOUTS = (
    # mainland mobile 1[3-9]x: 11 digits, 3-4-4, 3-8, 4-3-4, 7-4; optionally after +86, 0086, (+86) or a bare 86-
    f"(?:(?:{_CC_CN}|{_lit('86')}){_PSEP_OPT})?{_lit('1')}[3-9\uff13-\uff19]{_PD}"
    f"(?:{_d(8)}|{_PSEP}{_d(4)}{_PSEP}{_d(4)}|{_PSEP}{_d(8)}|{_PD}{_PSEP}{_d(3)}{_PSEP}{_d(4)}|{_d(4)}{_PSEP}{_d(4)})",
    # Taiwan mobile 09xx-xxx-xxx (any of -, space, dot or nothing between the groups), +886 9xx..., +886 (0)9xx...
    f"(?:{_CC_TW}{_PSEP_OPT}{_TRUNK}?|{_lit('0')})[9\uff19]{_d(2)}(?:{_PSEP}{_d(3)}{_PSEP_OPT}{_d(3)}|{_d(6)})",
    # landline after +886 / +86: area code (bare or in parentheses), then a subscriber number in one or two groups
    f"{_CC_TWCN}{_PSEP_OPT}{_TRUNK}?(?:{_POPEN}{_d(1, 3)}{_PCLOSE}|{_d(1, 3)})"
    f"{_PSEP_OPT}{_d(2, 4)}{_PSEP_OPT}{_d(3, 4)}",
    # domestic landline: (02) 2345-6789, (0755) 8148 4638, 02-2345-6789, 010-85066882, 037-356789
    f"(?:{_POPEN}{_lit('0')}{_d(1, 3)}{_PCLOSE}{_PSEP_OPT}|{_lit('0')}{_d(1, 3)}{_PSEP})"
    f"{_d(2, 4)}{_PSEP_OPT}{_d(3, 4)}",
    # domestic number without separators: 0223456789, 01085066882, 075581484638 (the validator finds the area)
    f"{_lit('0')}{_d(8, 11)}",
    # any other country, only with its +CC prefix: +1 (212) 555-0100, +44 20 7946 0958
    f"(?:{_POPEN}{_PPLUS}{_d(1, 3)}{_PCLOSE}|{_PPLUS}[1-9\uff11-\uff19]{_d(0, 2)})"
    f"(?:{_PSEP_OPT}{_POPEN}?{_d(1, 4)}{_PCLOSE}?){{1,4}}{_PSEP_OPT}{_d(2, 4)}",
    # a local number without area code, 2345-6789 / 234 5678: only after a phone word (see _phone_context)
    f"[2-9\uff12-\uff19]{_d(2, 3)}{_PSEP}{_d(4)}",
)
# An extension belongs to the number it follows: #123, ext. 12, x12, 分機 12, 轉 123.
_PHONE_EXT = f"(?:{_PSP}?(?:[#\uff03]|[Ee][Xx][Tt]\\.?|[Xx]|分機|分机|轉|转|內線|内线){_PSP}?{_d(1, 6)})?"
_PHONE_REGEX = re.compile(
    # A number starts here (checked first: it makes the scan of a long text cheap) ...
    "(?=[0-9+(\uff10-\uff19\uff0b\uff08])"
    # ... not glued to a word or number, nor the tail of "1.", "12:" or "word-" (a version, a time, a part number)
    "(?<![0-9A-Za-z_+@#\uff10-\uff19\uff0b])(?<![0-9A-Za-z_\uff10-\uff19][-/\uff0d])(?<![0-9\uff10-\uff19][.:])"
    f"(?:{'|'.join(_PHONE_LAYOUTS)}){_PHONE_EXT}"
    # nor followed by more digits or letters: 0912-34-5678-001 is an order number, 02-2345-6789.5 no phone
    f"(?![0-9A-Za-z_\uff10-\uff19]|[-.:/\uff0d\u2010-\u2014][0-9\uff10-\uff19])"
)

# Words that say a number is a phone number. A bare local number (2345-6789) counts only right after one.
_PHONE_WORDS = (
    "電話|电话|手機|手机|聯絡|聯繫|联系|联络|致電|致电|撥打|拨打|來電|来电|傳真|传真|專線|专线|市話|座機|座机"
    "|telephone|tel|phone|call|reach|fax|mobile|cell|hotline|contact"
)
_CANDIDATE_SEP = f"[{_DASHES}{_SPACES}.\uff0e]"
_PHONE_CANDIDATE = "|".join(
    (
        f"{_PPLUS}[1-9\uff11-\uff19][{_DASHES}0-9\uff10-\uff19(\uff08{_SPACES}.\uff0e]",  # +CC...
        f"{_lit('00')}{_lit('8')}{{1,2}}{_lit('6')}",  # 0086 / 00886
        f"{_POPEN}{_lit('0')}{_PD}",  # (02) / (0755)
        # 02-2345-6789, 0912 345 678, 0223456789, 037-356789, 0826-22345
        f"{_lit('0')}[1-9\uff11-\uff19]{_d(0, 2)}"
        f"(?:{_CANDIDATE_SEP}{{1,3}}{_d(2, 4)}{_CANDIDATE_SEP}{{0,3}}{_d(3, 4)}|{_d(7, 10)})",
        # 13812345678, 138 1234 5678, 1381 234 5678
        f"{_lit('1')}[3-9\uff13-\uff19]{_d(1, 2)}{_CANDIDATE_SEP}{{0,3}}{_d(3, 4)}{_CANDIDATE_SEP}{{0,3}}{_d(4)}",
        # a phone word, then a local number (_phone_context asks for the same, with word boundaries)
        f"(?i:{_PHONE_WORDS})[^0-9\uff10-\uff19\n]{{0,16}}[2-9\uff12-\uff19]",
    )
)
_PHONE_WORD_BEFORE = re.compile(
    f"(?<![A-Za-z])(?:{_PHONE_WORDS})(?:s|ed|ing)?(?![a-z])[^0-9\uff10-\uff19\n]{{0,12}}\\Z", re.I
)
# Numbers after these are identifiers, not phones: ISBN 957-..., version 0912345678.
_NOT_PHONE_BEFORE = re.compile(
    r"(?<![A-Za-z])(?:isbn(?:-1[03])?|issn|doi|version|ver|serial|s/n|sn|build)"
    r"[ \t]*(?:no\.?|number)?[ \t]*[:：=#]?[ \t]*\Z"
    r"|(?:版本|序號|序号|編號|编号|訂單|订单)[^0-9\n]{0,4}\Z",
    re.I,
)

# Taiwan area codes (without the trunk 0) and the lengths of their subscriber numbers.
_TW_AREAS: dict[str, tuple[int, ...]] = {
    "2": (8,),
    "3": (7,),
    "37": (6,),
    "4": (7, 8),
    "49": (7,),
    "5": (7,),
    "6": (7,),
    "7": (7,),
    "8": (7,),
    "82": (6,),
    "826": (5,),
    "836": (5,),
    "89": (6,),
}
# Mainland China mobile prefixes (13x, 145-149, 15x but 154, 162/165-167, 170-178, 18x, 19x but 194).
_CN_MOBILE = re.compile(r"1(?:3[0-9]|4[5-9]|5[0-35-9]|6[2567]|7[0-8]|8[0-9]|9[0-35-9])[0-9]{8}")
_PHONE_EXT_TAIL = re.compile(r" ?(?:#|ext\.?|x|分機|分机|轉|转|內線|内线) ?[0-9]{1,6}\Z", re.I)
_CC_HEAD = re.compile(r"\(?(?:\+|00)(886|86)\)?|\(?(86)\)?(?=[ .-]?1)")


def _subscriber_ok(sub: str, lengths: tuple[int, ...]) -> bool:
    """A subscriber number of an allowed length; local numbers never start with 0 or 1, and a run of one digit
    (2222222) is a placeholder."""
    return len(sub) in lengths and sub[0] in "23456789" and len(set(sub)) > 1


def _groups_ok(groups: list[str], seps: list[str]) -> bool:
    """Digit groups as a number is written: dots only between all groups (0912.345.678), the subscriber part in
    groups of 3 or more digits (05-10-2023 is a date), not all of them round (150 2000 3000 is a list)."""
    if any("." in s for s in seps) and not all(s == "." for s in seps):
        return False
    if len(groups) >= 3 and all(g.endswith("00") for g in groups[1:]):
        return False
    return all(len(g) >= 3 for g in groups[1:])


def _tw_ok(groups: list[str]) -> bool:
    """Taiwan national number (no trunk 0): mobile 9 + 8 digits, or area code + subscriber number. When the number
    is written in groups the first group is the area code; written solid, any area code that fits will do."""
    nd = "".join(groups)
    if len(nd) == 9 and nd[0] == "9":
        return len(set(nd[3:])) > 1
    areas = [groups[0]] if len(groups) > 1 else [a for a in _TW_AREAS if nd.startswith(a)]
    return any(a in _TW_AREAS and _subscriber_ok(nd[len(a) :], _TW_AREAS[a]) for a in areas)


def _cn_ok(groups: list[str], mobile_only: bool = False) -> bool:
    """Mainland national number (no trunk 0): mobile 1[3-9]x + 8 digits, or area code 10/2x + 8 digits or
    3-digit area code + 7-8 digits."""
    nd = "".join(groups)
    if nd[0] == "1" and len(nd) == 11 and _CN_MOBILE.fullmatch(nd):
        return len(set(nd[3:])) > 1
    if mobile_only:
        return False
    areas = [groups[0]] if len(groups) > 1 else [nd[:2], nd[:3]]
    for a in areas:
        if a == "10" or (len(a) == 2 and a[0] == "2"):
            lengths: tuple[int, ...] = (8,)
        elif len(a) == 3 and a[0] in "3456789":
            lengths = (7, 8)
        else:
            continue
        if _subscriber_ok(nd[len(a) :], lengths):
            return True
    return False


def _split(national: str) -> tuple[list[str], list[str]]:
    """Digit groups of a number and the separators between them (parentheses dropped; a blank one is a space)."""
    groups = re.findall(r"[0-9]+", national)
    seps = re.findall(r"(?<=[0-9])[^0-9]+(?=[0-9])", national)
    return groups, [s.replace("(", "").replace(")", "").strip() or " " for s in seps]


def _phone_ok(text: str) -> bool:
    t = _PHONE_EXT_TAIL.sub("", text.translate(_PHONE_FOLD))
    digits = re.sub(r"[^0-9]", "", t)
    head = _CC_HEAD.match(t)
    if head:  # +886 / +86 / 0086 / (+86) / a bare 86 before a mobile
        national = t[head.end() :].lstrip(" .-")
        if national.startswith("(0)"):
            national = national[3:]
        elif national.startswith("(0"):  # +86 (0755) 8148 4638
            national = "(" + national[2:]
        elif national.startswith("0"):
            national = national[1:]
        groups, seps = _split(national)
        if not groups or not _groups_ok(groups, seps):
            return False
        return _tw_ok(groups) if head.group(1) == "886" else _cn_ok(groups, mobile_only=head.group(2) is not None)
    if t.startswith("+") or t.startswith("(+"):  # any other country: E.164 length
        return 8 <= len(digits) <= 15
    groups, seps = _split(t)
    if t[0] == "1":  # a mainland mobile; never dotted, as versions are (1894.864.4833)
        return "." not in seps and _groups_ok(groups, seps) and _cn_ok(groups, mobile_only=True)
    if t.lstrip("(")[0] == "0":  # trunk 0: Taiwan or mainland area code, or a Taiwan mobile
        groups[0] = groups[0][1:]
        if not groups[0]:
            return False
        return _groups_ok(groups, seps) and (_tw_ok(groups) or _cn_ok(groups))
    # a local number without area code (_phone_context asks for a phone word before it)
    return len(digits) in (7, 8) and len(set(digits)) > 2 and not digits.endswith("000") and _groups_ok([], seps)


# A space between two digits, and a number one space away.
_SPACED = re.compile(f"{_PD}{_PSP}+{_PD}")
_NUMBER_BEFORE = re.compile(f"{_PD}{_PSP}\\Z")
_NUMBER_AFTER = re.compile(f"{_PSP}{_PD}")


def _phone_context(text: str, start: int, end: int) -> bool:
    """False after an identifier word (``ISBN``, ``version``, ``訂單``) and for space-separated groups that run
    on into more numbers (``1 150 2000 3000 4000``: a row of numbers); a local number without area code
    (``2345-6789``) only right after a phone word (``電話：``, ``Tel``, ``call me at``)."""
    before = text[max(0, start - 32) : start]
    if _NOT_PHONE_BEFORE.search(before):
        return False
    if _SPACED.search(text, start, end) and (_NUMBER_BEFORE.search(before) or _NUMBER_AFTER.match(text, end)):
        return False
    if _is_local(text[start:end].translate(_PHONE_FOLD)):
        return _PHONE_WORD_BEFORE.search(before) is not None
    return True


def _is_local(folded: str) -> bool:
    """A number with neither country nor area code (it starts with its subscriber digit, 2-9)."""
    return folded[0] in "23456789" and _CC_HEAD.match(folded) is None


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
        PiiKind("phone", "[PHONE]", _PHONE_CANDIDATE, _PHONE_REGEX, _phone_ok, _phone_context),
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


def _replace(text: str, matches: Sequence[re.Match[str]], placeholder: str) -> str:
    """``text`` with each of ``matches`` (ascending, non-overlapping) replaced by ``placeholder``."""
    parts, at = [], 0
    for m in matches:
        parts += (text[at : m.start()], placeholder)
        at = m.end()
    parts.append(text[at:])
    return "".join(parts)


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
                # scrub_text replaces exactly these matches (minus those in kept code): one regex pass, not two.
                ms = _matches(kind, text)
                if ms and off:
                    spans = code_spans(text, row_tasks[p])
                    ms = [m for m in ms if not _inside(m, spans)]
                if ms:
                    new.append(_replace(text, ms, kind.placeholder))
                    counts[name] += len(ms)
                else:
                    new.append(text)
            current.iloc[pos] = new
        changed = (current != original).to_numpy(bool)
        if changed.any():
            changes[f] = current[changed]
    return changes, counts
