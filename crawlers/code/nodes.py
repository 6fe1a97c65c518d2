"""tree-sitter helpers that units.py and the language modules (lang_c, lang_js) all need, in one place."""

from __future__ import annotations

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


def reparse(parser: Parser, src: bytes, tree: Tree, edits: list[tuple[int, bytes]]) -> tuple[bytes, Tree]:
    """``src`` with same-length ``(offset, replacement)`` edits made, and its tree parsed again incrementally.

    The repairs of grammar gaps keep every length and newline, so the old tree, told where the text changed,
    lets tree-sitter reuse the rest (a full parse of sqlite3.c per repair was most of its extraction time).
    Rows are counted from one edit to the next (in C, ``bytes.count``) for edits in order: a list of every
    newline's offset, built in Python, cost a tenth of the parse on a large header with a handful of edits.
    """
    out = bytearray(src)
    old = tree.copy()
    row = counted = 0  # newlines in src[:counted]
    for at, replacement in edits:
        end_at = at + len(replacement)
        out[at:end_at] = replacement
        if at < counted:
            row = counted = 0
        row += src.count(b"\n", counted, at)
        counted = at
        start = (row, at - (src.rfind(b"\n", 0, at) + 1))
        end = (row + src.count(b"\n", at, end_at), end_at - (src.rfind(b"\n", 0, end_at) + 1))
        old.edit(at, end_at, end_at, start, end, end)
    return bytes(out), parser.parse(bytes(out), old)
