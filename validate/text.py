"""Text helpers shared by every stage: script classes, normalisation, lengths, token estimates, hashing, ids,
language tags, timestamps. Every stage imports these instead of writing its own (issue 17, item 4)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from datetime import UTC, datetime

import hanzidentifier
import py3langid

_WS = re.compile(r"\s+")
# Han ideographs: Extension A, the Unified block, the compatibility ideographs, and the supplementary planes
# (Extensions B-I and the compatibility supplement) where Cantonese and Taiwanese names keep characters such as 𠝹.
# U+4DC0-4DFF between A and the Unified block are Yijing hexagram symbols, not Han.
HAN_RANGES: tuple[tuple[int, int], ...] = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x323AF))
HAN_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in HAN_RANGES)  # inside [...]; RE2 and Python re read it alike
HAN = "[" + HAN_CLASS + "]"
_HAN = re.compile(HAN)
# Scripts other than Han that share its lack of word spaces or its density; for callers that need "CJK".
KANA_CLASS = "\u3041-\u309f\u30a0-\u30ff\u31f0-\u31ff"
HANGUL_CLASS = "\uac00-\ud7a3"
# Markdown ATX heading: level marks, the title, optional closing marks.
MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")

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
# WEIGHT_CLASSES is the one table: the gate's vectorised column lengths (validate.arrowtext.weighted_lengths) read
# it too, so a row measures the same in a column as on its own.
WEIGHT_CLASSES: tuple[tuple[str, int], ...] = (
    (HAN, 8),
    ("[" + HANGUL_CLASS + "]", 6),
    ("[" + KANA_CLASS + "]", 4),
    ("[\u0e00-\u0fff\u1000-\u109f\u1780-\u17ff\u19e0-\u19ff]", 1),
)
_EXTRA_QUARTERS = tuple((re.compile(cls), extra) for cls, extra in WEIGHT_CLASSES)
# Han beside Kana is Japanese, beside (more) Hangul it is Korean hanja. Japanese prose is about two thirds kana;
# Chinese never has more than a stray の in a shop name, so a fifth of the CJK characters being kana is Japanese.
_KANA = re.compile("[" + KANA_CLASS + "]")
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


def han_count(text: str) -> int:
    """How many Han characters (``HAN``) ``text`` holds."""
    return len(_HAN.findall(text))


def weighted_length(text: str, *, normalize: bool = True) -> int:
    """Length of the text in Latin-letter equivalents (see ``WEIGHT_CLASSES``).

    A length threshold in plain characters is unfair to scripts that pack more into a character: a Chinese
    character carries about three English characters' worth of text, a Hangul syllable or a kana two or more.
    Weighting keeps one ``min_chars`` meaningful for pages in any script. ASCII text counts exactly ``len``.
    ``normalize=False`` measures the text as it will be written (the gate's bounds), not its normalised form.
    """
    norm = normalize_text(text) if normalize else text
    if norm.isascii():
        return len(norm)
    quarters = 4 * len(norm) + sum(extra * len(rx.findall(norm)) for rx, extra in _EXTRA_QUARTERS)
    return quarters // 4


def estimate_tokens(text: str) -> int:
    """A tokenizer-free token count: one per Han character, one per 4 other characters (rounded up).

    The stages only size budgets, rate-limit reservations and the gate's token bounds with it; the real tokenizer
    differs per model (and tiktoken fetches its tables on first use), and actual usage comes from the server.
    """
    han = han_count(text)
    return han + (len(text) - han + 3) // 4


def record_id(instruction: str, input_: str, output: str) -> str:
    """sha256 of the exact texts, so the same example gets the same id in every stage and on every run."""
    return hashlib.sha256("\x1f".join((instruction, input_, output)).encode("utf-8")).hexdigest()


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
