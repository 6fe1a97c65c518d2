"""Text helpers shared by every stage: normalisation, hashing, language tags, timestamps."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime

import hanzidentifier
import py3langid

_WS = re.compile(r"\s+")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")

# Weights for weighted_length, in quarter characters (integer arithmetic keeps ASCII text at exactly len()).
# The weight of a character is roughly how many Latin letters it takes to write the same thing, i.e. its length in
# romanisation, plus a little where the script writes words without the spaces a Latin text would count:
# - Han: one syllable and usually a whole morpheme (pinyin zhong/guo/de, on'yomi kan/gaku) -> 3, as before, so
#   the Chinese calibration of every min_chars stays as it was.
# - Hangul syllable blocks: an initial, a vowel and often a final consonant (han-guk-eo, it-seum-ni-da: ~2.7
#   letters each); Korean spaces its words, so nothing is added for them -> 2.5.
# - Hiragana/Katakana: one mora (ka, shi, n; about 2 letters), and Japanese does not space its words -> 2.
# - Hangul jamo stay 1: they are letters, not syllables. NFKC already composes well-formed jamo sequences into
#   syllable blocks, so what remains is a stray letter (ㅋㅋ laughter, a spelled-out consonant).
# - Thai, Lao, Khmer, Myanmar, Tibetan: alphabetic, each code point about one Latin letter, but no spaces between
#   words (~1 in 5 characters of a Latin text) -> 1.25.
# Everything else (Latin, Cyrillic, Arabic, Devanagari, spaces, punctuation) counts 1.
_EXTRA_QUARTERS = (
    (_HAN, 8),
    (re.compile(r"[\uac00-\ud7a3]"), 6),
    (re.compile(r"[\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff]"), 4),
    (re.compile(r"[\u0e00-\u0fff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff]"), 1),
)
# Han beside Kana is Japanese, beside (more) Hangul it is Korean hanja. Japanese prose is about two thirds kana;
# Chinese never has more than a stray の in a shop name, so a fifth of the CJK characters being kana is Japanese.
_KANA = re.compile(r"[\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff]")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_KANA_SHARE_JAPANESE = 0.2
# Characters that written Cantonese uses and Standard Written Chinese does not (嘅 for 的, 咗 for 了, 佢 for 他,
# 冇 for 沒有, 唔 for 不, 喺 for 在, 哋 for 們, ...). One of them alone can be a quoted word or an interjection (唔 is
# also a Mandarin "hmm"), so it takes two different ones, making up at least 1% of the Han characters.
_CANTONESE = frozenset("嘅咗佢冇唔喺哋啲嘢嚟睇乜㗎噉嗰")
_CANTONESE_MIN_DISTINCT = 2
_CANTONESE_MIN_SHARE = 0.01
# When Han text makes a page Chinese even though py3langid, counting letters, would call it something else:
# a Han character carries several letters' worth of text, so 30 of them are a paragraph, and 10% of the letters is
# a substantial share when at least a few words' worth (8 characters) are Han. The old 20% rule keeps short mixed
# snippets ("什麼是 API？") Chinese. Two Chinese words in an English page stay below all three.
_HAN_MIN_CHARS = 30
_HAN_MIN_SHARE = 0.2
_HAN_MIN_SHARE_WITH_COUNT = (0.1, 8)
# py3langid codes that only say "Chinese" without the script (its Cantonese model wins on many mixed
# Chinese/English pages): the script-aware decision of _chinese replaces them. It also calls some kana-less Han
# text ja, which Japanese without a single kana is not.
_CHINESE_CODES = frozenset({"zh", "yue", "wuu"})


def normalize_text(text: str) -> str:
    """NFKC + whitespace collapse + casefold: two copies of a page differing only in layout hash alike."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def weighted_length(text: str) -> int:
    """Length of the normalised text in Latin-letter equivalents (see ``_EXTRA_QUARTERS``).

    A length threshold in plain characters is unfair to scripts that pack more into a character: a Chinese
    character carries about three English characters' worth of text, a Hangul syllable or a kana two or more.
    Weighting keeps one ``min_chars`` meaningful for pages in any script. ASCII text counts exactly ``len``.
    """
    norm = normalize_text(text)
    if norm.isascii():
        return len(norm)
    quarters = 4 * len(norm) + sum(extra * len(rx.findall(norm)) for rx, extra in _EXTRA_QUARTERS)
    return quarters // 4


def content_hash(*parts: str) -> str:
    """sha256 over the normalised parts, separated so ('ab','c') != ('a','bc')."""
    h = hashlib.sha256()
    for part in parts:
        h.update(normalize_text(part).encode("utf-8"))
        h.update(b"\x1f")
    return h.hexdigest()


def detect_language(text: str) -> str:
    """A BCP 47 tag: zh-Hant / zh-Hans for Chinese (py3langid alone says only 'zh'), yue for written Cantonese,
    else py3langid's code.

    Han characters decide first because a Chinese page full of English product names or code still reads as
    Chinese to a user, and py3langid tends to call it English, or Cantonese (yue) when it is a mix.
    """
    sample = text[:4000]
    if not sample.strip():
        return "und"
    han = _HAN.findall(sample)
    kana = len(_KANA.findall(sample)) if han else 0
    # Japanese writes Han with kana, and Korean can write hanja between Hangul: neither is Chinese.
    chinese_script = bool(han) and kana <= _KANA_SHARE_JAPANESE * (len(han) + kana)
    if chinese_script and len(_HANGUL.findall(sample)) >= len(han):
        chinese_script = False
    if chinese_script:
        letters = max(sum(ch.isalpha() for ch in sample), 1)
        share, count = _HAN_MIN_SHARE_WITH_COUNT
        if (
            len(han) >= _HAN_MIN_CHARS
            or len(han) >= _HAN_MIN_SHARE * letters
            or (len(han) >= count and len(han) >= share * letters)
        ):
            return _chinese(han)
    code, _ = py3langid.classify(sample)
    if chinese_script and (code in _CHINESE_CODES or (code == "ja" and not kana)):
        return _chinese(han)
    return code or "und"


def _chinese(han: list[str]) -> str:
    """yue for written Cantonese, else zh-Hans or zh-Hant by the characters' script."""
    markers = [ch for ch in han if ch in _CANTONESE]
    if len(set(markers)) >= _CANTONESE_MIN_DISTINCT and len(markers) >= _CANTONESE_MIN_SHARE * len(han):
        return "yue"
    script = hanzidentifier.identify("".join(han))
    if script == hanzidentifier.SIMPLIFIED:
        return "zh-Hans"
    # TRADITIONAL, BOTH (shared characters only) and MIXED lean Traditional:
    # our users write zh-TW and shared characters carry no evidence either way.
    return "zh-Hant"


def utc_now() -> str:
    """Current UTC time in the contracts' ISO format."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
