"""CJK-aware chunking of Markdown documents for LLM generators.

Sizes are in approximate tokens, not characters: a Han character is about one token
in common tokenizers while an English character is about a quarter of one, so a
character budget would give Chinese chunks four times the tokens of English ones.
Chunks never straddle two Markdown sections unless whole small sections are merged,
and each chunk carries the heading path it sits under.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from langchain_text_splitters import RecursiveCharacterTextSplitter

from validate.text import HAN_CLASS, MD_HEADING

# Paragraphs, lines, then sentences (Chinese full-width punctuation has no trailing
# space, so it needs its own separators), then clauses, then words, then characters.
SEPARATORS = [
    "\n\n",
    "\n",
    "。",
    "！",
    "？",
    "；",
    ". ",
    "! ",
    "? ",
    "; ",
    "，",
    "、",
    ", ",
    " ",
    "",
]
_FENCE = re.compile(r"^\s*(```|~~~)")
# Han, kana, hangul, CJK punctuation and full-width forms: each is about one token.
_WIDE = re.compile(
    "[\u1100-\u11ff\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u31ff\uac00-\ud7af\uff00-\uffef" + HAN_CLASS + "]"
)


def token_length(text: str) -> float:
    """Approximate token count: 1 per CJK character, 0.25 per ASCII character, 0.5 otherwise.

    A float on purpose: the splitter sums piece lengths, and rounding every short
    piece (a single space is 0.25) up to a whole token would shrink English chunks.
    """
    wide = len(_WIDE.findall(text))
    ascii_ = sum(1 for ch in text if ch < "\x80")
    return wide + 0.25 * ascii_ + 0.5 * (len(text) - wide - ascii_)


@dataclass(frozen=True)
class Chunk:
    text: str
    heading_path: tuple[str, ...]
    index: int
    tokens: float

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)


def _splitter(chunk_size: float, chunk_overlap: float) -> RecursiveCharacterTextSplitter:
    # keep_separator="end" leaves "。" on the sentence it closes; the default ("start")
    # would move every full stop to the front of the next piece.
    return RecursiveCharacterTextSplitter(
        separators=SEPARATORS,
        keep_separator="end",
        chunk_size=chunk_size,
        chunk_overlap=chunk_overlap,
        length_function=token_length,
    )


def sections(markdown: str) -> Iterator[tuple[tuple[str, ...], str, str]]:
    """(heading path, heading line or '', body) for each Markdown section, in order.

    '#' lines inside fenced code blocks are code comments, not headings.
    """
    path: list[tuple[int, str]] = []
    heading_line, body, in_fence = "", [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else MD_HEADING.match(line)
        if match is None:
            body.append(line)
            continue
        yield tuple(t for _, t in path), heading_line, "\n".join(body).strip()
        level = len(match.group(1))
        path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, match.group(2))]
        heading_line, body = line.strip(), []
    yield tuple(t for _, t in path), heading_line, "\n".join(body).strip()


def _common_prefix(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def chunk_document(text: str, chunk_size: int = 600, chunk_overlap: int = 0) -> list[Chunk]:
    """Split Markdown ``text`` into chunks of at most ``chunk_size`` tokens with their heading paths.

    A section that fits is one chunk, its heading line first. A longer one is split at
    paragraph, then sentence, then clause boundaries, and its heading line stays with
    the first piece. Consecutive whole sections that fit together are merged (so tiny
    sections do not become tiny chunks); the merged chunk's path is their common ancestor.
    """
    pieces: list[tuple[tuple[str, ...], str, bool]] = []  # (path, text, whole section?)
    for path, heading_line, body in sections(text):
        if not body:
            continue  # a heading with no text of its own lives on in its subsections' paths
        whole = f"{heading_line}\n\n{body}" if heading_line else body
        if token_length(whole) <= chunk_size:
            pieces.append((path, whole, True))
            continue
        head_tokens = token_length(heading_line) + 0.5 if heading_line else 0
        parts = _splitter(max(chunk_size - head_tokens, 1), chunk_overlap).split_text(body)
        for i, part in enumerate(parts):
            pieces.append((path, f"{heading_line}\n\n{part}" if heading_line and i == 0 else part, False))

    merged: list[tuple[tuple[str, ...], str]] = []
    can_extend = False
    for path, piece, whole in pieces:
        if can_extend and whole:
            prev_path, prev_text = merged[-1]
            joined = f"{prev_text}\n\n{piece}"
            if token_length(joined) <= chunk_size:
                merged[-1] = (_common_prefix(prev_path, path), joined)
                continue
        merged.append((path, piece))
        can_extend = whole
    return [Chunk(t, p, i, token_length(t)) for i, (p, t) in enumerate(merged)]


def truncate_tokens(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` tokens, at a paragraph or sentence boundary where possible."""
    if token_length(text) <= limit:
        return text
    parts = _splitter(limit, 0).split_text(text)
    return parts[0] if parts else ""
