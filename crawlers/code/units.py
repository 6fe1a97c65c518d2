"""tree-sitter extraction of functions, methods and classes with their docs.

Hand-written because no library maps tree-sitter trees to (unit, docstring) pairs
across languages: CodeSearchNet's function_parser did, on a py-tree-sitter API that
has since been removed. One table row per language says which nodes are units.

Qualified names are relative to the file, as Python's are to its module: packages,
namespaces and modules (Java ``package``, C++/C# ``namespace``, Rust ``mod``) are not
part of them, so C++ ``void ns::Ledger::post()`` and ``post`` written inside ``class
Ledger`` both come out as ``Ledger.post``, and a C# file-scoped namespace names
nothing differently from a block one.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tree_sitter import Node, Parser, Query, QueryCursor, Tree
from tree_sitter_language_pack import get_language, get_parser

from crawlers.code import lang_c, lang_js
from crawlers.code.nodes import FUNCTION_VALUES
from crawlers.code.nodes import base as _base
from crawlers.code.nodes import text as _text

# (node, source) -> (name, owner): ``owner`` is the class of a method declared outside it.
Namer = Callable[[Node, bytes], tuple[str, str]]


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
    # Comment node types; grammars split them (line_comment/block_comment, multiline_comment).
    comments: frozenset[str] = frozenset({"comment"})
    # Siblings that may sit between a doc comment and its unit (Rust #[...], TS member decorators).
    attributes: frozenset[str] = frozenset()
    # Nodes that swallow the comment after them as their last child (Kotlin package/import headers).
    absorbers: frozenset[str] = frozenset()
    # Unit types that are skipped without a body: prototypes, abstract methods, `struct x;` forward uses.
    body_required: frozenset[str] = frozenset()
    # Unit types that are methods even outside a class body (Java/C# have no free functions).
    methods: frozenset[str] = frozenset()
    # Class-like nodes that give their members a scope but are not units themselves (Rust `impl`).
    scope_only: frozenset[str] = frozenset()
    # Where a grammar has no `name`/`body` field: fields, then child node types, that stand in.
    name_fallback: tuple[str, ...] = ()
    body_types: frozenset[str] = frozenset()
    # Languages whose name (and owner class) is found elsewhere: Go receivers, C declarators.
    namer: Namer | None = None
    # (declarator, source) -> (name, owner, value) for a declarator holding a function or a scope value
    # (an object literal whose members it names), else None: ``a.b = function``, ``{k: () => 1}`` (lang_js).
    value_namer: Callable[[Node, bytes], tuple[str, str, Node] | None] | None = None
    # (parser, source, tree) -> a tree of the same byte offsets without the grammar's known misreadings.
    repair: Callable[[Parser, bytes, Tree], Tree] | None = None
    # Parts of a class outside its body that may hold units of the enclosing scope (`extends mixin({...})`).
    class_headers: frozenset[str] = frozenset()
    # Node types that can hold a unit somewhere below; None means search every node. Walking
    # only these keeps the Python walk off the expression trees that make up most of a file.
    descend: frozenset[str] | None = None
    # (function node, source) -> True to keep a function with a syntax error (C macros tree-sitter misreads).
    tolerate: Callable[[Node, bytes], bool] | None = None
    # named children -> the children to walk, where dead code is skipped (C/C++ `#if 0`); None: all of them.
    children: Callable[[list[Node]], list[Node]] | None = None


def _go_name(node: Node, src: bytes) -> tuple[str, str]:
    name = node.child_by_field_name("name")
    owner = _go_receiver(node, src) if node.type == "method_declaration" else ""
    return (_text(name, src) if name is not None else ""), owner


_C_LIKE = {
    "functions": frozenset({"function_definition"}),
    "wrappers": frozenset({"template_declaration", "type_definition", "friend_declaration"}),  # friend T f() {}
    # `= default` members, `struct x *p;` uses and `class X;` forward declarations have no body.
    "body_required": frozenset(
        {"function_definition", "struct_specifier", "union_specifier", "enum_specifier", "class_specifier"}
    ),
    "namer": lang_c.function_name,  # the name sits in the declarator, qualified out of line
    "tolerate": lang_c.tolerable,
    "children": lang_c.live_children,
    "repair": lang_c.repair,
    # `private:` in a class body tree-sitter could not read as one is a label whose statement runs on, with the
    # next function's doc comment inside it as its last child (see also _absorbs).
    "absorbers": frozenset({"labeled_statement"}),
}
_TYPESCRIPT = {
    "functions": frozenset({"function_declaration", "generator_function_declaration", "method_definition"}),
    # Overloads (function_signature) and abstract/interface methods (*_signature) are other node types.
    "classes": frozenset(
        {"class_declaration", "abstract_class_declaration", "interface_declaration", "enum_declaration"}
    ),
    "wrappers": lang_js.WRAPPERS,
    "declarators": lang_js.DECLARATORS,  # handler = () => ..., exports.x = function, {key: () => ...}
    "attributes": frozenset({"decorator"}),  # member decorators are class_body siblings
    "namer": lang_js.function_name,
    "value_namer": lang_js.value_name,
    "repair": lang_js.repair,
    "class_headers": lang_js.CLASS_HEADERS,
}

SPECS: dict[str, LangSpec] = {
    "python": LangSpec(
        "python",
        functions=frozenset({"function_definition"}),
        classes=frozenset({"class_definition"}),
        wrappers=frozenset({"decorated_definition"}),
        python_docstrings=True,
        descend=frozenset(
            {
                "module",
                "block",
                "decorated_definition",
                "if_statement",
                "elif_clause",
                "else_clause",
                "for_statement",
                "while_statement",
                "try_statement",
                "except_clause",
                "except_group_clause",
                "finally_clause",
                "with_statement",
                "match_statement",
                "case_clause",
                "ERROR",
            }
        ),
    ),
    "javascript": LangSpec(
        "javascript",
        functions=frozenset({"function_declaration", "generator_function_declaration", "method_definition"}),
        classes=frozenset({"class_declaration"}),
        wrappers=lang_js.WRAPPERS,
        declarators=lang_js.DECLARATORS,
        namer=lang_js.function_name,
        value_namer=lang_js.value_name,
        class_headers=lang_js.CLASS_HEADERS,
    ),
    "go": LangSpec(
        "go",
        functions=frozenset({"function_declaration", "method_declaration"}),
        body_required=frozenset({"function_declaration", "method_declaration"}),  # assembly stubs
        namer=_go_name,
        # Go declares functions and methods only at the top of a file (a func literal is a value, not a
        # declaration go/ast or godoc lists), so nothing below it is walked: the walk was 3x the parse.
        descend=frozenset(),
    ),
    "typescript": LangSpec("typescript", **_TYPESCRIPT),
    "tsx": LangSpec("tsx", **_TYPESCRIPT),
    "java": LangSpec(
        "java",
        functions=frozenset({"method_declaration", "constructor_declaration", "compact_constructor_declaration"}),
        classes=frozenset(
            {
                "class_declaration",
                "interface_declaration",
                "enum_declaration",
                "record_declaration",
                "annotation_type_declaration",
            }
        ),
        comments=frozenset({"line_comment", "block_comment"}),
        body_required=frozenset({"method_declaration"}),
        methods=frozenset({"method_declaration", "constructor_declaration", "compact_constructor_declaration"}),
    ),
    "csharp": LangSpec(
        "csharp",
        functions=frozenset({"method_declaration", "constructor_declaration"}),
        classes=frozenset(
            {
                "class_declaration",
                "struct_declaration",
                "interface_declaration",
                "enum_declaration",
                "record_declaration",
            }
        ),
        body_required=frozenset({"method_declaration", "constructor_declaration"}),  # abstract, extern, partial
        methods=frozenset({"method_declaration", "constructor_declaration"}),
    ),
    "kotlin": LangSpec(
        "kotlin",
        # companion objects are walked through, so their members belong to the outer class.
        functions=frozenset({"function_declaration", "secondary_constructor"}),
        classes=frozenset({"class_declaration", "object_declaration"}),  # class, interface, enum class
        comments=frozenset({"line_comment", "multiline_comment"}),
        absorbers=frozenset({"package_header", "import_list", "import_header"}),
        body_required=frozenset({"function_declaration"}),
        # No fields in this grammar; a secondary constructor is named by its `constructor` keyword.
        name_fallback=("simple_identifier", "type_identifier", "constructor"),
        body_types=frozenset({"function_body", "class_body", "enum_class_body"}),
    ),
    "rust": LangSpec(
        "rust",
        # Trait methods without a default body are function_signature_item, not a unit.
        functions=frozenset({"function_item"}),
        classes=frozenset({"struct_item", "enum_item", "union_item", "trait_item", "impl_item"}),
        comments=frozenset({"line_comment", "block_comment"}),
        attributes=frozenset({"attribute_item"}),
        scope_only=frozenset({"impl_item"}),
        name_fallback=("type",),  # impl<T> Trait for Ledger<T> -> Ledger
    ),
    "c": LangSpec("c", classes=frozenset({"struct_specifier", "union_specifier", "enum_specifier"}), **_C_LIKE),
    "cpp": LangSpec(
        "cpp",
        classes=frozenset({"class_specifier", "struct_specifier", "union_specifier", "enum_specifier"}),
        **_C_LIKE,
    ),
}

EXTENSIONS = {
    ".py": "python",
    ".js": "javascript",
    ".jsx": "javascript",  # the javascript grammar parses JSX
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".go": "go",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".java": "java",
    ".cs": "csharp",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".rs": "rust",
    ".c": "c",
    ".h": "c",  # by default; language_for reads a header's content and makes it cpp when it holds C++
    ".cc": "cpp",
    ".cpp": "cpp",
    ".cxx": "cpp",
    ".c++": "cpp",
    ".hpp": "cpp",
    ".hh": "cpp",
    ".hxx": "cpp",
    # Template and inline implementations a header includes (GLM's .inl, Boost's .ipp, libstdc++'s .tcc).
    ".inl": "cpp",
    ".ipp": "cpp",
    ".tcc": "cpp",
    ".tpp": "cpp",
}


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
    has_error: bool = False  # kept although tree-sitter found a syntax error in it (C/C++ macros, lang_c)


# JLS 3.3: a backslash preceded by an even number of backslashes, one or more `u`, four hex digits.
_JAVA_ESCAPE = re.compile(rb"(\\+)u+([0-9a-fA-F]{4})")


def java_unicode_escapes(source: bytes) -> bytes:
    """Translate Java's ``\\uXXXX`` escapes as javac does before lexing: ``caf\\u00e9`` is ``café``.

    Kept as written: \\u000a and \\u000d, which javac reads as line terminators, because
    translating them would shift every later line number away from the file's own; \\u0000,
    because tree-sitter reads a NUL byte as the end of the input (``'\\u0000'`` in a char
    literal lost every unit after it); and surrogate halves, which are no text on their own
    (a pair is nearly always inside a string literal, where the grammar reads the escape anyway).
    """
    if b"\\u" not in source:
        return source

    def translate(match: re.Match[bytes]) -> bytes:
        slashes, code = match.group(1), int(match.group(2), 16)
        if len(slashes) % 2 == 0 or code in (0x00, 0x0A, 0x0D) or 0xD800 <= code <= 0xDFFF:
            return match.group(0)  # `\\u0041` is an escaped backslash and the letters u0041
        return slashes[:-1] + chr(code).encode("utf-8")

    return _JAVA_ESCAPE.sub(translate, source)


def extract_units(source: bytes, language: str) -> Iterator[Unit]:
    """Yield every function, method and class in ``source``; a partial tree still yields its good parts."""
    spec = SPECS[language]
    if language == "java":
        source = java_unicode_escapes(source)
    tree = get_parser(language).parse(source)
    if spec.repair is not None:
        tree = spec.repair(get_parser(language), source, tree)
    yield from _walk(tree.root_node, spec, source, scope=[], in_class=False, keep=_unit_paths(tree.root_node, spec))


def _candidate_query(spec: LangSpec) -> Query:
    """One query for every node type that is, or may hold, a unit (cached per language)."""
    if spec.name not in _QUERIES:
        language = get_language(spec.name)
        if spec.name in _BODIED_ONLY:
            # A class without a body is no unit and holds none (`struct x *p`, written all over C code), and an
            # ERROR only holds a unit that is a capture of its own: neither needs a path, and leaving both
            # out of the query saved a quarter of its time.
            bodied = spec.body_required & spec.classes
            known = sorted(k for k in spec.functions | spec.classes if language.id_for_node_kind(k, True) is not None)
            patterns = [f"({k} body: (_))" if k in bodied else f"({k})" for k in known]
        else:
            kinds = spec.functions | spec.classes | {"ERROR"}
            patterns = [
                f"({k})" for k in sorted(kinds) if k == "ERROR" or language.id_for_node_kind(k, True) is not None
            ]
        source = "[" + " ".join(patterns) + "] @unit"
        values = sorted(k for k in FUNCTION_VALUES if spec.declarators and language.id_for_node_kind(k, True))
        if values:
            source += " [" + " ".join(f"({k})" for k in values) + "] @value"
        _QUERIES[spec.name] = Query(language, source)
    return _QUERIES[spec.name]


_QUERIES: dict[str, Query] = {}
# Languages whose candidate query leaves out ERROR nodes and classes without a body (their units come out the
# same, checked on every file of the C/C++ harness projects).
_BODIED_ONLY = frozenset({"c", "cpp"})


def _unit_paths(root: Node, spec: LangSpec) -> set[int]:
    """Ids of the nodes at or above a possible unit: the only subtrees the walk needs to enter.

    Hand-made because the walk is Python and a tree is mostly expressions: visiting every node cost 3x the
    parse itself in Java, Rust and JavaScript. tree-sitter's query engine finds the candidates in C, and the
    walk then skips every subtree that holds none (a function body with no nested function or class).
    """
    query = _candidate_query(spec)
    keep: set[int] = set()
    for capture, nodes in QueryCursor(query).captures(root).items():
        for node in nodes:
            # A function value is a unit only as a declarator's value (`const f = () => ...`, `a.b = function`,
            # `{k: () => 1}`), possibly in parentheses or a type assertion; an anonymous callback is not, and a
            # named function inside one is a capture of its own, which keeps the path through the callback.
            if capture == "value" and not _declared(node, spec):
                continue
            while node is not None and node.id not in keep:
                keep.add(node.id)
                node = node.parent
    return keep


def _declared(value: Node, spec: LangSpec) -> bool:
    node = value.parent
    for _ in range(3):  # the value itself, `(value)`, `(value) as T`
        if node is None:
            return False
        if node.type in spec.declarators:
            return True
        node = node.parent
    return False


def _walk(
    node: Node, spec: LangSpec, src: bytes, scope: list[str], in_class: bool, keep: set[int] | None = None
) -> Iterator[Unit]:
    if keep is not None and node.id not in keep:
        return  # nothing below can be a unit
    children = node.named_children
    if keep is not None:
        # No unit at or below them: not even a call to find that out (most children of a body).
        children = [child for child in children if child.id in keep]
    for child in spec.children(children) if spec.children else children:
        if keep is not None and child.id not in keep:
            continue  # a dead branch's `#else` or a macro-made function's body without a unit in it
        ctype = child.type  # each read of a node's type is a call into tree-sitter
        if child.has_error and ctype in spec.functions and not (spec.tolerate and spec.tolerate(child, src)):
            # Units with syntax errors inside are skipped, their well-formed siblings kept.
            continue
        if ctype in spec.classes:
            name = _name(child, spec, src)
            body = _body(child, spec)
            if name and (body is not None or ctype not in spec.body_required):
                # A class with a broken member is not a unit, but its well-formed members still are:
                # in Java, C# and Kotlin one bad method would otherwise lose the whole file.
                if not child.has_error and ctype not in spec.scope_only:
                    yield _unit("class", child, child, name, scope, spec, src, body)
                inner = body if body is not None else child
                yield from _walk(inner, spec, src, [*scope, name], in_class=True, keep=keep)
                for header in (c for c in child.named_children if c.type in spec.class_headers):
                    yield from _walk(header, spec, src, scope, in_class, keep=keep)
            continue
        if ctype in spec.functions:
            name, owner = spec.namer(child, src) if spec.namer else (_name(child, spec, src), "")
            body = _body(child, spec)
            if name and (body is not None or ctype not in spec.body_required):
                kind = "method" if in_class or owner or ctype in spec.methods else "function"
                qual_scope = [*scope, owner] if owner else scope
                yield _unit(kind, child, child, name, qual_scope, spec, src, body)
                inner = body if body is not None else child
                yield from _walk(inner, spec, src, [*qual_scope, name], in_class=False, keep=keep)
            continue
        if ctype in spec.declarators and spec.value_namer is not None:
            named = spec.value_namer(child, src)
            if named is not None:
                name, owner, value = named
                qual_scope = [*scope, owner] if owner else scope
                if value.type in FUNCTION_VALUES:
                    kind = "method" if in_class or owner else "function"
                    if not child.has_error:  # a broken function value is skipped as a broken function is
                        yield _unit(kind, child, value, name, qual_scope, spec, src)
                    # Functions nested in a function value, at any depth, are units too.
                    yield from _walk(value, spec, src, [*qual_scope, name], in_class=False, keep=keep)
                else:  # an object literal: its members are qualified by the name it is assigned to
                    members = [*qual_scope, name] if name else qual_scope
                    yield from _walk(value, spec, src, members, in_class=True, keep=keep)
                continue
        if spec.descend is None or ctype in spec.descend:
            yield from _walk(child, spec, src, scope, in_class, keep=keep)


def _unit(
    kind: str, node: Node, fn: Node, name: str, scope: list[str], spec: LangSpec, src: bytes, body: object = ...
) -> Unit:
    if body is ...:
        body = _body(fn, spec)
    sig_end = body.start_byte if body is not None else node.end_byte
    signature = src[node.start_byte : sig_end].decode("utf-8", "replace").strip()
    doc = _python_docstring(body, src) if spec.python_docstrings else None
    if doc is None:
        doc = _leading_comment(node, spec, src)
    return Unit(
        kind=kind,
        symbol=name,
        qualified_name=".".join([*scope, name]),
        signature=signature if spec.python_docstrings else _first_line(signature, name),
        docstring=doc,
        code=_text(node, src),
        start_line=node.start_point[0] + 1,
        end_line=node.end_point[0] + 1,
        has_error=node.has_error,
    )


def _first_line(header: str, name: str) -> str:
    """One line of the declaration that names the unit: annotation lines dropped, a lone return type joined.

    ``@Override`` / ``[Obsolete]`` / ``#[inline]`` on their own lines come before the declaration;
    GNU-style C puts ``static int`` on the line above ``name(void)``; Kotlin's constructor body has no node.
    """
    lines = header.splitlines() or [""]
    if len(lines) == 1:
        return lines[0].strip().removesuffix("{").rstrip()

    def named(line: str) -> bool:
        return _has_word(line, name)

    while len(lines) > 1 and lines[0].lstrip()[:1] in ("@", "[", "#") and any(map(named, lines[1:])):
        del lines[0]
    while len(lines) > 1 and not named(lines[0]):
        lines[:2] = [f"{lines[0].rstrip()} {lines[1].strip()}"]
    return lines[0].strip().removesuffix("{").rstrip()


def _has_word(text: str, word: str) -> bool:
    """``word`` in ``text`` as a whole word (re's ``\\w`` boundaries), without compiling a pattern per name:
    a regex per unit overflowed re's cache and was a third of the extraction time on the JDK."""
    at = text.find(word)
    while at >= 0:
        before = text[at - 1] if at else " "
        after = text[at + len(word)] if at + len(word) < len(text) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        at = text.find(word, at + 1)
    return False


def _name(node: Node, spec: LangSpec, src: bytes) -> str:
    name = node.child_by_field_name(spec.name_field)
    for fallback in spec.name_fallback if name is None else ():
        name = node.child_by_field_name(fallback) or next((c for c in node.children if c.type == fallback), None)
        if name is not None:
            break
    return _text(_base(name), src) if name is not None else ""


def _body(node: Node, spec: LangSpec) -> Node | None:
    body = node.child_by_field_name("body")
    if body is None and spec.body_types:
        body = next((c for c in node.named_children if c.type in spec.body_types), None)
    return body


def _go_receiver(node: Node, src: bytes) -> str:
    receiver = node.child_by_field_name("receiver")
    text = _text(receiver, src) if receiver is not None else ""
    match = re.search(r"([A-Za-z_]\w*)\s*(\[.*\])?\)\s*$", text)
    return match.group(1) if match else "receiver"


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


# /*! is Doxygen's /**; `**` is SQLite's line prefix inside a block comment.
_COMMENT_MARKERS = re.compile(r"^\s*(/\*\*+|/\*!?|\*/|\*+|///|//!|//|#)\s?")


def _leading_comment(node: Node, spec: LangSpec, src: bytes) -> str:
    """Comments directly above the unit (or its export/decorator wrapper), as the language's own tools attach them.

    A plain comment must touch the unit (no blank line between). A doc comment (``/** */``, ``///``, and
    Doxygen's ``/*!``/``//!`` in C/C++) is attached across blank lines, as JSDoc/TypeScript, rustdoc, javadoc,
    KDoc and Doxygen all do; Go (go/ast) and Python never do. Attributes between the doc and the unit (Rust
    ``#[...]``, TS member decorators) are stepped over, with any comment trailing them on their line.
    """
    anchor = node
    wrapping = spec.wrappers | spec.declarators
    parent = anchor.parent
    while parent is not None and parent.type in wrapping:
        before = anchor.prev_named_sibling
        if anchor.type in spec.declarators and before is not None and before.type == anchor.type:
            break  # `var a = 1, b = function () {}`: the comment above `var` is a's, not b's
        anchor, parent = parent, parent.parent
    lines: list[str] = []
    doc_kind = ""  # "block" once a /** */ doc is taken, "line" for /// lines: the doc tools take one block
    expected_end = anchor.start_point[0]
    prev = anchor.prev_named_sibling
    across_blank = spec.name not in ("go", "python")
    c_like = spec.name in ("c", "cpp")
    while prev is not None:
        ptype = prev.type  # each read of a node's type, row or text is a call into tree-sitter
        last_row = _last_row(prev)
        if last_row < expected_end - 1:  # a blank line between
            if lines or not across_blank or ptype not in spec.comments or not _is_doc(_text(prev, src), spec):
                break
        if _absorbs(prev, spec):
            prev = prev.named_children[-1]
            continue
        start_row = prev.start_point[0]
        if ptype not in spec.attributes:
            if ptype not in spec.comments:
                if c_like and lang_c.macro_prefix(prev, src):
                    # `MEM_STATIC FORCE_INLINE_ATTR` on the line above the function: tree-sitter reads the
                    # macro words as a declaration of their own; to the preprocessor they are its header.
                    expected_end, prev = start_row, prev.prev_named_sibling
                    continue
                break  # code
            before = prev.prev_sibling
            if before is not None and _last_row(before) == start_row and not before.type.endswith("comment"):
                # A comment on the end of a line of code (`_trails_code`).
                if before.type not in spec.attributes:
                    break  # `x = 1; // note`
                # `#[inline] // why`: a remark on the attribute, not part of the doc above it.
                expected_end, prev = start_row, prev.prev_named_sibling
                continue
            text = _text(prev, src)
            if spec.name == "rust" and text.startswith(("//!", "/*!")):
                break  # a Rust inner doc documents the item that encloses it
            if spec.name in DOC_SYNTAX_ONLY and not _is_doc(text, spec):
                # javadoc, rustdoc and C#'s compiler read only their doc comments: a `// TODO` or an
                # `// <editor-fold>` line above a method is a note to the next maintainer, not its doc.
                expected_end, prev = start_row, prev.prev_named_sibling
                continue
            is_doc = _is_doc(text, spec)
            if c_like and doc_kind and is_doc and last_row >= expected_end - 1:
                # clang merges doc comments with nothing but one line break between them into one
                # (`/*! @ingroup X */` on the line above `/*! @brief ... */`); Doxygen reads both.
                pass
            elif doc_kind == "block" or (doc_kind and not is_doc):
                # JSDoc, javadoc and Doxygen read the nearest doc block alone: a `// TODO` or an
                # `/* istanbul ignore next */` above it is not part of it.
                break
            if is_doc:
                doc_kind = "line" if text.startswith(("///", "//!")) else "block"
            lines[:0] = [ln for ln in text.splitlines() if not (spec.name == "go" and _GO_DIRECTIVE.match(ln))]
        expected_end = start_row
        prev = prev.prev_named_sibling
    cleaned = []
    for line in lines:
        line = line.rstrip()
        if line.endswith("*/"):
            line = line[:-2]
        line = _COMMENT_MARKERS.sub("", line, count=1).rstrip()
        if spec.name in ("c", "cpp") and line.strip("*") == "":
            line = ""  # a `/****** Name ******/` banner's rule line is decoration, not doc text
        cleaned.append(line)
    return "\n".join(cleaned).strip()


# Languages whose own tools attach only doc comments (javadoc, KDoc, rustdoc, C# XML docs); elsewhere a plain
# comment block above a unit is what its authors wrote as its doc (C, Go, JavaScript without JSDoc).
DOC_SYNTAX_ONLY = frozenset({"java", "kotlin", "rust", "csharp"})
# go/ast's CommentGroup.Text drops directives (`//go:noinline`, `//line f:1`, `//export f`) from a doc.
_GO_DIRECTIVE = re.compile(r"^//(line |extern |export |[a-z0-9]+:[a-z0-9])")


def _absorbs(node: Node, spec: LangSpec) -> bool:
    """Whether the comments right above a unit may sit inside ``node``, as its last child.

    tree-sitter puts the comments that follow a node it could not close inside it: a misread C/C++ function
    (a macro in its body) is a declaration with an error that ends with the next function's doc comment.
    """
    if not node.named_child_count or node.type in spec.comments:
        return False
    if node.type in spec.absorbers:
        return True
    last = node.named_children[-1]
    return spec.name in ("c", "cpp") and node.has_error and (last.type in spec.comments or _absorbs(last, spec))


def _is_doc(text: str, spec: LangSpec) -> bool:
    """A doc comment by its marker: ``/**`` and ``///`` everywhere, Doxygen's ``/*!`` and ``//!`` in C/C++."""
    if text.startswith("/**") and not text.startswith("/**/"):
        return True
    if text.startswith("///") and not text.startswith("////"):
        return True
    return spec.name in ("c", "cpp") and text.startswith(("/*!", "//!"))


def _last_row(node: Node) -> int:
    """Last line a node is on; Rust line comments end at column 0 of the next line (they own the newline)."""
    row, column = node.end_point
    return row - 1 if column == 0 and row > node.start_point[0] else row


def _trails_code(comment: Node) -> bool:
    """``x = 1; // note``: a comment on the same line as code before it belongs to that code."""
    before = comment.prev_sibling
    return before is not None and _last_row(before) == comment.start_point[0] and not before.type.endswith("comment")
