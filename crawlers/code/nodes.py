"""tree-sitter helpers that units.py and the language modules (lang_c, lang_js) all need, in one place."""

from __future__ import annotations

import bisect
import re

from tree_sitter import Node, Parser, Tree

# Values that define a function where they are assigned: `const f = () => ...`, `a.b = function () {}`.
FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function"})


def text(node: Node, src: bytes) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def base(node: Node) -> Node:
    """The bare name inside a generic or qualified one: ``Ledger<T>``, ``fmt::Ledger``, ``&'a Ledger`` -> Ledger."""
    while node.named_child_count:
        inner = node.child_by_field_name("name") or node.child_by_field_name("type")
        if inner is None:
            break
        node = inner
    return node


def error_bytes(node: Node) -> int:
    """Bytes under ERROR nodes, plus one per MISSING node: how much of the file the parser lost."""
    if node.type == "ERROR" or node.is_missing:
        return max(node.end_byte - node.start_byte, 1)
    return sum(error_bytes(child) for child in node.children if child.has_error or child.is_missing)


def _point(newlines: list[int], at: int) -> tuple[int, int]:
    """(row, column) of byte ``at``, from the sorted offsets of the text's newlines (a count per edit was a
    tenth of the extraction time on files with many edits)."""
    row = bisect.bisect_left(newlines, at)
    return row, at - (newlines[row - 1] + 1 if row else 0)


def reparse(parser: Parser, src: bytes, tree: Tree, edits: list[tuple[int, bytes]]) -> tuple[bytes, Tree]:
    """``src`` with same-length ``(offset, replacement)`` edits made, and its tree parsed again incrementally.

    The repairs of grammar gaps keep every length and newline, so the old tree, told where the text changed,
    lets tree-sitter reuse the rest (a full parse of sqlite3.c per repair was most of its extraction time).
    """
    out = bytearray(src)
    old = tree.copy()
    newlines = [m.start() for m in re.finditer(b"\n", src)]
    for at, replacement in edits:
        out[at : at + len(replacement)] = replacement
        start, end = _point(newlines, at), _point(newlines, at + len(replacement))
        old.edit(at, at + len(replacement), at + len(replacement), start, end, end)
    return bytes(out), parser.parse(bytes(out), old)
