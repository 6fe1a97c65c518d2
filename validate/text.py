"""Text helpers shared by every stage: normalisation, hashing, language tags, timestamps."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime

import hanzidentifier
import py3langid

_WS = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def normalize_text(text: str) -> str:
    """NFKC + whitespace collapse + casefold: two copies of a page differing only in layout hash alike."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def weighted_length(text: str) -> int:
    """Length in characters with each Han character counted three times.

    A length threshold in plain characters is unfair to Chinese, which carries about
    three English characters' worth of text per character; weighting keeps one
    ``min_chars`` meaningful for pages in either script.
    """
    norm = normalize_text(text)
    return len(norm) + 2 * len(_HAN.findall(norm))


def content_hash(*parts: str) -> str:
    """sha256 over the normalised parts, separated so ('ab','c') != ('a','bc')."""
    h = hashlib.sha256()
    for part in parts:
        h.update(normalize_text(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


def detect_language(text: str) -> str:
    """A BCP 47 tag: zh-Hant / zh-Hans for Chinese (py3langid alone says only 'zh'), else py3langid's code.

    Han characters decide first because a Chinese page full of English product names
    or code still reads as Chinese to a user, and py3langid tends to call it English.
    """
    sample = text[:4000]
    if not sample.strip():
        return "und"
    han = _HAN.findall(sample)
    letters = sum(ch.isalpha() for ch in sample)
    if han and len(han) >= 0.2 * max(letters, 1):
        script = hanzidentifier.identify("".join(han))
        if script == hanzidentifier.SIMPLIFIED:
            return "zh-Hans"
        # TRADITIONAL, BOTH (shared characters only) and MIXED lean Traditional:
        # our users write zh-TW and shared characters carry no evidence either way.
        return "zh-Hant"
    code, _ = py3langid.classify(sample)
    return code or "und"


def utc_now() -> str:
    """Current UTC time in the contracts' ISO format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
