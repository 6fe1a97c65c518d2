"""JavaScript and TypeScript naming for ``crawlers.code.units``: which name a function value takes.

Most JavaScript functions are values, not declarations: ``exports.parse = function () {}``,
``Foo.prototype.render = function () {}``, ``{ onClick: () => {} }``, ``class A { handle = () => {} }``.
A function value is a unit when it is named by what it is assigned to, with the same convention the
TypeScript compiler's view of a file gives (``bench/truth_js.py`` measures it that way):

* the name is the last property of the assignment target (``a.b.c = function`` -> ``c``), the key of an
  object-literal pair or class field, or the declared variable;
* ``module.exports = function name() {}`` takes the function's own name (``exports`` when it has none),
  because the target names the module, not the function;
* the owner in front of the qualified name is the rest of the target with ``prototype``, ``this`` and
  ``module.exports``/``exports`` left out (``Foo.prototype.m`` -> ``Foo.m``, ``exports.x`` -> ``x``);
  members of an object literal are qualified by the name the object is assigned to.

Anonymous callbacks (``arr.map(function () {})``), IIFEs and returned functions are not units: nothing
names them. Their bodies are still walked, so named functions inside them are found.
"""

from __future__ import annotations

import bisect
import re

from tree_sitter import Node, Parser, Tree

from crawlers.code.nodes import FUNCTION_VALUES, reparse
from crawlers.code.nodes import error_bytes as _error_bytes
from crawlers.code.nodes import text as _text

# Values whose members are qualified by the name the value is assigned to.
SCOPE_VALUES = frozenset({"object"})
# Nodes that name the value they hold: `const f = ...`, `k: ...`, class fields, `a.b = ...`.
DECLARATORS = frozenset(
    {"variable_declarator", "pair", "field_definition", "public_field_definition", "assignment_expression"}
)
# Nodes that carry the leading comment of the unit inside them; expression_statement holds `a.b = function`.
WRAPPERS = frozenset({"export_statement", "lexical_declaration", "variable_declaration", "expression_statement"})
# Parts of a class outside its body that hold code: `class A extends mixin({ f() {} })`, `@dec({...}) class A`.
CLASS_HEADERS = frozenset({"class_heritage", "decorator"})
_SILENT_OWNERS = frozenset({"prototype", "this"})
_IDENTIFIERS = frozenset(
    {"identifier", "property_identifier", "private_property_identifier", "shorthand_property_identifier"}
)


def property_name(node: Node | None, src: bytes) -> str:
    """A key as written, string keys without their quotes: ``'a-b'() {}`` -> ``a-b``, ``[Symbol.x]`` kept."""
    if node is None:
        return ""
    text = _text(node, src)
    if node.type == "string" and len(text) >= 2:
        return text[1:-1]
    return text


def function_name(node: Node, src: bytes) -> tuple[str, str]:
    """Name of a declared function or method (``namer`` of the JS/TS specs); never an owner."""
    return property_name(node.child_by_field_name("name"), src), ""


def _path(node: Node, src: bytes) -> list[str] | None:
    """``a.b['c']`` -> [a, b, c]; None when a part is computed (a call, ``a[i]``)."""
    if node.type in _IDENTIFIERS or node.type == "this":
        return [_text(node, src)]
    if node.type == "non_null_expression" and node.named_child_count == 1:  # TypeScript `a!.b`
        return _path(node.named_children[0], src)
    if node.type == "member_expression":
        obj, prop = node.child_by_field_name("object"), node.child_by_field_name("property")
        head = _path(obj, src) if obj is not None else None
        return None if head is None or prop is None else [*head, _text(prop, src)]
    if node.type == "subscript_expression":
        obj, index = node.child_by_field_name("object"), node.child_by_field_name("index")
        if index is None or index.type != "string":
            return None
        head = _path(obj, src) if obj is not None else None
        return None if head is None else [*head, property_name(index, src)]
    return None


def _target_name(node: Node, src: bytes) -> str:
    """The last name of an assignment target (``a.b[i].c`` -> ``c``), "" when it is computed."""
    if node.type in _IDENTIFIERS:
        return _text(node, src)
    if node.type == "member_expression":
        return property_name(node.child_by_field_name("property"), src)
    if node.type == "subscript_expression":
        index = node.child_by_field_name("index")
        return property_name(index, src) if index is not None and index.type == "string" else ""
    return ""


def _owner(parts: list[str] | None) -> list[str]:
    """The parts of a target that say whose member it is (module.exports, this, prototype say nothing)."""
    if not parts:
        return []
    if parts[:2] == ["module", "exports"]:
        parts = parts[2:]
    elif parts[0] == "exports":
        parts = parts[1:]
    return [p for p in parts if p not in _SILENT_OWNERS]


def _generic_arrow(value: Node) -> Node:
    """``<A>(a: A) => a``, which the grammar sometimes reads as the assertion ``<A>`` of an arrow function:
    TypeScript reads it as a generic arrow function in a .ts file, so the arrow is the value."""
    kinds = [c.type for c in value.named_children]
    if value.type == "type_assertion" and kinds == ["type_arguments", "arrow_function"]:
        return value.named_children[1]
    return value


def value_name(node: Node, src: bytes) -> tuple[str, str, Node] | None:
    """(name, owner, value) for a declarator holding a function or an object literal, else None.

    For an object the name and owner are the scope its members are qualified by; either may be "".
    """
    if node.type == "assignment_expression":
        left, value = node.child_by_field_name("left"), node.child_by_field_name("right")
    elif node.type == "pair":
        left, value = node.child_by_field_name("key"), node.child_by_field_name("value")
    elif node.type == "field_definition":
        left, value = node.child_by_field_name("property"), node.child_by_field_name("value")
    else:  # variable_declarator, public_field_definition
        left, value = node.child_by_field_name("name"), node.child_by_field_name("value")
    value = _generic_arrow(value) if value is not None else None
    if left is None or value is None or value.type not in FUNCTION_VALUES | SCOPE_VALUES:
        return None
    if node.type == "variable_declarator":
        if left.type != "identifier":  # destructuring: `const { a } = ...` names no value
            return None
        name, owner = _text(left, src), []
    elif node.type == "assignment_expression":
        name, parts = _target_name(left, src), _path(left, src)
        owner = _owner(parts)[:-1] if parts else []
        if parts == ["module", "exports"] and value.type in FUNCTION_VALUES:
            own = value.child_by_field_name("name")
            name = _text(own, src) if own is not None else name
    else:
        name, owner = property_name(left, src), []
    if value.type in SCOPE_VALUES:
        # `Foo.prototype = {...}` qualifies its members as Foo's, `module.exports = {...}` as nobody's.
        scope = _owner([*(_path(left, src) or [name])]) if node.type == "assignment_expression" else [name]
        return (scope[-1] if scope else ""), ".".join(scope[:-1]), value
    if not name:
        return None
    return name, ".".join(owner), value


# Grammar gaps of tree-sitter-typescript that TypeScript itself parses; each can lose a whole file or
# misplace a function, and each has a same-length rewrite that the grammar reads (see ``repair``):
# * type arguments of a tagged template (sql<Row>`SELECT ...`): read as `(x) => sql` called with a template,
#   or as an error. Blanked: `sql      `SELECT` is the same tag.
_TAG_END = re.compile(rb">`")
_TYPE_TEXT = re.compile(rb"[\w$\s.,:;|&{}\[\]()<>'\"?=-]*")
_NOT_TYPE = re.compile(rb"&&|\|\||==|!=|<=|>=")
# * a type member, then a generic call signature on the next line (`f(): A` / `<B>(b: B): B`): TypeScript
#   ends the member at the newline, the grammar reads `A <B> (b...` on. A `;` before the `<` separates them.
_GENERIC_LINE = re.compile(rb"\n[ \t]*[ \t](?=<\s*((const|in|out)\s+)*[A-Za-z_$][\w$]*(\s+extends\b|\s*[,=>]))")
# * an escaped backtick in a template literal type (`Missing \`Self\``): blanked.
_ESCAPED_BACKTICK = re.compile(rb"\\`")
# What a line may end with when the next one still continues it: the `<` there is a type argument list
# or an operator, not the start of a new member.
_CONTINUES = frozenset(b"{([,;=:|&?+-*/%!~^<.")
_MAX_REPAIRS = 3
_MAX_TYPE_ARGS = 2000  # bytes scanned back for the `<` that opens a tag's type arguments


def _error_spans(node: Node) -> list[tuple[int, int]]:
    """Byte spans of the outermost ERROR and MISSING nodes, in order."""
    if node.type == "ERROR" or node.is_missing:
        return [(node.start_byte, node.end_byte)]
    return [span for child in node.children if child.has_error or child.is_missing for span in _error_spans(child)]


def _ends_member(source: bytes, pos: int) -> bool:
    """Whether the code before ``pos`` (comments and blank lines skipped) ends a member, not an expression."""
    end = pos
    in_block = False
    while end > 0:
        start = source.rfind(b"\n", 0, end) + 1
        line = source[start:end].strip()
        end = start - 1
        if in_block:  # inside a block comment, read backwards until its opening line
            in_block = b"/*" not in line
            continue
        if not line or line.startswith(b"//"):
            continue
        if line.endswith(b"*/"):
            in_block = b"/*" not in line
            continue
        return line[-1] not in _CONTINUES and not line.endswith(b"=>")
    return False


def _tag_type_args(source: bytes) -> list[tuple[int, bytes]]:
    """Blanking edits for the type arguments of tagged templates: ``sql<{ a: number }>`...```."""
    edits = []
    for m in _TAG_END.finditer(source):
        depth, i = 0, m.start()
        while i >= max(0, m.start() - _MAX_TYPE_ARGS):
            c = source[i]
            if c == 0x3E and source[i - 1] != 0x3D:  # `>`, but not the one of `=>`
                depth += 1
            elif c == 0x3C:  # `<`
                depth -= 1
                if depth == 0:
                    break
            elif c == 0x60:  # a backtick: inside another template, not type arguments
                i = -1
                break
            i -= 1
        args = source[i : m.start() + 1] if i > 0 else b""
        # `a < b && c > `x`` compares: TypeScript takes `<` as type arguments only when a type follows.
        tagged = i > 0 and (chr(source[i - 1]).isalnum() or source[i - 1] in b"_$")
        if tagged and _TYPE_TEXT.fullmatch(args) and not _NOT_TYPE.search(args):
            edits.append((i, bytes(b if b == 0x0A else 0x20 for b in args)))
    return edits


def _edits(text: bytes, tree: Tree) -> list[tuple[int, bytes]]:
    """(offset, same-length replacement) for each place near an error one of the rewrites applies to."""
    spans = _error_spans(tree.root_node)
    ends = [end for _, end in spans]

    def near(lo: int, hi: int) -> bool:
        """Whether an error overlaps the lines from ``lo`` to ``hi``."""
        lo, hi = text.rfind(b"\n", 0, lo) + 1, text.find(b"\n", hi) % (len(text) + 1)
        i = bisect.bisect_left(ends, lo)  # spans are disjoint and ordered: the first ending at or after lo
        return i < len(spans) and spans[i][0] <= hi

    edits = []
    for m in _GENERIC_LINE.finditer(text):
        if near(m.end(), m.end()) and _ends_member(text, m.start()):
            edits.append((m.end() - 1, b";"))  # over the indentation character before `<`
    for m in _ESCAPED_BACKTICK.finditer(text):
        if near(m.start(), m.end()):
            edits.append((m.start(), b"  "))
    return edits


def repair(parser: Parser, source: bytes, tree: Tree) -> Tree:
    """A tree of ``source`` with the grammar's known gaps rewritten away (see the patterns above).

    Every rewrite keeps the length of what it replaces, so byte offsets and lines stay those of ``source``
    and units keep taking their text from ``source`` itself. Tagged-template type arguments are always
    blanked (the grammar misreads them even without an error); the other rewrites touch only places near
    an error, and are kept only when the parser loses less of the file with them.
    """
    text = source
    if b">`" in source:
        tags = _tag_type_args(source)
        if tags:
            text, tree = reparse(parser, source, tree, tags)
    lost = _error_bytes(tree.root_node) if tree.root_node.has_error else 0
    for _ in range(_MAX_REPAIRS):
        if not lost:
            break
        edits = _edits(text, tree)
        if not edits:
            break
        patched, candidate = reparse(parser, text, tree, edits)
        if _error_bytes(candidate.root_node) >= lost:
            break
        text, tree, lost = patched, candidate, _error_bytes(candidate.root_node)
    return tree
