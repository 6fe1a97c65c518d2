"""Text helpers used for report generation."""

from __future__ import annotations

import re
import unicodedata

_SLUG_STRIP = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    """Convert ``text`` into a lowercase, dash-separated ASCII slug.

    Example:
        >>> slugify("Q3 Report: Cash Flow!")
        'q3-report-cash-flow'
    """
    normalized = unicodedata.normalize("NFKD", text)
    ascii_text = normalized.encode("ascii", "ignore").decode("ascii").lower()
    return _SLUG_STRIP.sub("-", ascii_text).strip("-")


def truncate(text: str, width: int, suffix: str = "...") -> str:
    """Shorten ``text`` to at most ``width`` characters, appending ``suffix``."""
    if width < len(suffix):
        raise ValueError("width must be at least len(suffix)")
    if len(text) <= width:
        return text
    return text[: width - len(suffix)] + suffix


def to_fullwidth(text: str) -> str:
    """Convert half-width ASCII characters to their full-width forms."""
    chars = []
    for ch in text:
        code = ord(ch)
        if ch == " ":
            chars.append("\u3000")
        elif 0x21 <= code <= 0x7E:
            chars.append(chr(code + 0xFEE0))
        else:
            chars.append(ch)
    return "".join(chars)


# Count words, treating each CJK character as its own word.
def word_count(text: str) -> int:
    count = 0
    in_word = False
    for ch in text:
        if "\u4e00" <= ch <= "\u9fff":
            count += 1
            in_word = False
        elif ch.isalnum():
            if not in_word:
                count += 1
            in_word = True
        else:
            in_word = False
    return count


def mask_account(number: str, visible: int = 4) -> str:
    """Mask all but the last ``visible`` digits of an account number.

    Non-digit separators such as spaces and dashes are preserved.

    Args:
        number: The account or card number to mask.
        visible: How many trailing digits to keep readable.

    Returns:
        The masked string, e.g. ``"****-****-1234"``.
    """
    total_digits = sum(ch.isdigit() for ch in number)
    seen = 0
    out = []
    for ch in number:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total_digits - visible else "*")
        else:
            out.append(ch)
    return "".join(out)
