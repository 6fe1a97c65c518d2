"""tree-sitter extraction of functions, methods and classes with their docs.

Hand-written because no library maps tree-sitter trees to (unit, docstring) pairs
across languages: CodeSearchNet's function_parser did, on a py-tree-sitter API that
has since been removed. One table row per language says which nodes are units.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from tree_sitter import Node
from tree_sitter_language_pack import get_parser


@dataclass(frozen=True)
class LangSpec:
    name: str
    functions: frozenset[str]
    classes: frozenset[str] = frozenset()
    # Nodes that wrap a unit and carry its leading comment (export, decorators, const x = () => ...).
    wrappers: frozenset[str] = frozenset()
    # For `const name = () => ...`: declarator types whose `value` may be a function.
    declarators: frozenset[str] = frozenset()
    python_docstrings: bool = False
    name_field: str = "name"
    extra: dict = field(default_factory=dict)


SPECS: dict[str, LangSpec] = {
    "python": LangSpec(
        "python",
        functions=frozenset({"function_definition"}),
        classes=frozenset({"class_definition"}),
        wrappers=frozenset({"decorated_definition"}),
        python_docstrings=True,
    ),
    "javascript": LangSpec(
        "javascript",
        functions=frozenset({"function_declaration", "generator_function_declaration", "method_definition"}),
        classes=frozenset({"class_declaration"}),
        wrappers=frozenset({"export_statement", "lexical_declaration", "variable_declaration"}),
        declarators=frozenset({"variable_declarator"}),
    ),
    "go": LangSpec(
        "go",
        functions=frozenset({"function_declaration", "method_declaration"}),
    ),
}

EXTENSIONS = {".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".go": "go"}
_FUNCTION_VALUES = {"arrow_function", "function_expression", "function", "generator_function"}


@dataclass
class Unit:
    kind: str
    symbol: str
    qualified_name: str
    signature: str
    docstring: str
    code: str
    start_line: int
    end_line: int


def extract_units(source: bytes, language: str) -> Iterator[Unit]:
    """Yield every function, method and class in ``source``; a partial tree still yields its good parts."""
    spec = SPECS[language]
    tree = get_parser(language).parse(source)
    yield from _walk(tree.root_node, spec, source, scope=[], in_class=False)


def _walk(node: Node, spec: LangSpec, src: bytes, scope: list[str], in_class: bool) -> Iterator[Unit]:
    for child in node.named_children:
        if child.has_error and child.type in spec.functions | spec.classes:
            # Units with syntax errors inside are skipped, their well-formed siblings kept.
            continue
        if child.type in spec.classes:
            name = _name(child, spec, src)
            if name:
                yield _unit("class", child, child, name, scope, spec, src)
                yield from _walk(_body(child) or child, spec, src, [*scope, name], in_class=True)
            continue
        if child.type in spec.functions:
            name = _name(child, spec, src)
            if name:
                kind = "method" if in_class or child.type == "method_declaration" else "function"
                qual_scope = scope
                if child.type == "method_declaration":  # Go: the receiver type is the class
                    qual_scope = [*scope, _go_receiver(child, src)]
                yield _unit(kind, child, child, name, qual_scope, spec, src)
                yield from _walk(_body(child) or child, spec, src, [*scope, name], in_class=False)
            continue
        if child.type in spec.declarators:
            value = child.child_by_field_name("value")
            name_node = child.child_by_field_name("name")
            if value is not None and value.type in _FUNCTION_VALUES and name_node is not None:
                name = _text(name_node, src)
                yield _unit("method" if in_class else "function", child, value, name, scope, spec, src)
                continue
        yield from _walk(child, spec, src, scope, in_class)


def _unit(kind: str, node: Node, fn: Node, name: str, scope: list[str], spec: LangSpec, src: bytes) -> Unit:
    body = _body(fn)
    sig_end = body.start_byte if body is not None else node.end_byte
    signature = src[node.start_byte : sig_end].decode("utf-8", "replace").strip()
    doc = _python_docstring(body, src) if spec.python_docstrings else None
    if doc is None:
        doc = _leading_comment(node, spec, src)
    return Unit(
        kind=kind,
        symbol=name,
        qualified_name=".".join([*scope, name]),
        signature=signature.splitlines()[0] if spec.python_docstrings is False else signature,
        docstring=doc,
        code=_text(node, src),
        start_line=node.start_point[0] + 1,
        end_line=node.end_point[0] + 1,
    )


def _name(node: Node, spec: LangSpec, src: bytes) -> str:
    name = node.child_by_field_name(spec.name_field)
    return _text(name, src) if name is not None else ""


def _body(node: Node) -> Node | None:
    return node.child_by_field_name("body")


def _go_receiver(node: Node, src: bytes) -> str:
    receiver = node.child_by_field_name("receiver")
    text = _text(receiver, src) if receiver is not None else ""
    match = re.search(r"([A-Za-z_]\w*)\s*(\[.*\])?\)\s*$", text)
    return match.group(1) if match else "receiver"


def _text(node: Node, src: bytes) -> str:
    return src[node.start_byte : node.end_byte].decode("utf-8", "replace")


def _python_docstring(body: Node | None, src: bytes) -> str | None:
    """First statement of the body if it is a string literal; cleaned as ``ast.get_docstring`` does.

    Grammar versions differ: older ones wrap the literal in an expression_statement,
    newer ones put the ``string`` directly in the block. Both are accepted.
    """
    if body is None or body.named_child_count == 0:
        return None
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_child_count == 1:
        first = first.named_children[0]
    if first.type == "comment":
        return None
    if first.type not in ("string", "concatenated_string"):
        return None
    try:
        value = ast.literal_eval(_text(first, src))
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return inspect.cleandoc(value) if isinstance(value, str) else None


_COMMENT_MARKERS = re.compile(r"^\s*(/\*\*+|/\*|\*/|\*|///|//!|//|#)\s?")


def _leading_comment(node: Node, spec: LangSpec, src: bytes) -> str:
    """Comments directly above the unit (or its export/decorator wrapper), with no blank line between."""
    anchor = node
    while anchor.parent is not None and anchor.parent.type in spec.wrappers | spec.declarators:
        anchor = anchor.parent
    lines: list[str] = []
    expected_end = anchor.start_point[0]
    prev = anchor.prev_named_sibling
    while prev is not None and prev.type == "comment" and prev.end_point[0] >= expected_end - 1:
        lines[:0] = _text(prev, src).splitlines()
        expected_end = prev.start_point[0]
        prev = prev.prev_named_sibling
    cleaned = []
    for line in lines:
        line = line.rstrip()
        if line.endswith("*/"):
            line = line[:-2]
        cleaned.append(_COMMENT_MARKERS.sub("", line, count=1).rstrip())
    return "\n".join(cleaned).strip()
