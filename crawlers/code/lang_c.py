"""C and C++ specifics of the extractor: header language, names in declarators, macros tree-sitter misreads.

tree-sitter parses C and C++ without a preprocessor, so every macro is a bare identifier to it. Real code
is full of them (``ZSTDLIB_API size_t f(void)``, ``static void * CC name(...)``, ``int f() LOCKS_EXCLUDED(mu)
{``, statement macros without a ``;``), and each leaves an ERROR node somewhere in a function. This module
decides which of those functions are still read right:

* an error inside the body costs nothing but the flag: the name, signature and doc are outside it;
* an error in the header is tolerated when it holds nothing but identifiers (a macro word tree-sitter
  could not place) and the name is still found in a function declarator;
* anything else in the header (``int f(int x +)``) drops the function, never naming it wrongly.

Dead code is skipped: ``#if 0`` (and ``#if false``) branches, keeping their ``#else``. Functions a macro
makes (``TEST(Suite, Name) { ... }``: no return type and an ALL-CAPS "name") are not units, since their
real name is not in the text.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

from tree_sitter import Node, Parser, Tree

from crawlers.code.nodes import base as _base
from crawlers.code.nodes import reparse
from crawlers.code.nodes import text as _text

# Node types that name a function in a declarator.
_NAMES = frozenset(
    {
        "identifier",
        "field_identifier",
        "qualified_identifier",
        "destructor_name",
        "operator_name",
        "template_function",
        "template_method",
        "operator_cast",
    }
)
_WRAPPING = frozenset(
    {"pointer_declarator", "reference_declarator", "parenthesized_declarator", "attributed_declarator"}
)
# Leaves an ERROR in a function's header may hold and still be a misplaced macro word.
_WORDS = frozenset({"identifier", "type_identifier", "primitive_type", "field_identifier", "ERROR"})
_KEYWORDS = frozenset(
    "if else switch case while do for return sizeof alignof decltype typeof catch try throw new delete "
    "static_assert defined goto".split()
)
_MACRO_NAME = re.compile(r"[A-Z][A-Z0-9_]*\Z")
_NOT_WORD_SPACE = re.compile(r"\s*([^\w\s])\s*")
_DEAD = frozenset({"0", "false", "0L", "0U"})

# Headers are C unless they hold a construct C does not have. Anchored at the start of a line so that
# prose in comments (``::BrotliDecoderState``) does not count.
_CPP_HEADER = re.compile(
    r"^[ \t]*(?:template\s*<|namespace\s+[\w:]*\s*\{|inline\s+namespace\s|using\s+(?:namespace\s|\w+\s*=)"
    r"|class\s+(?:\w+\s+)*\w+\s*(?:final\s*)?(?::(?!:)|\{|$)|struct\s+(?:\w+\s+)*\w+\s*(?:final\s*)?:(?!:)"
    r"|(?:public|private|protected)\s*:|extern\s+\"C\+\+\"|#\s*include\s*<[a-z_]+>|virtual\s)"
    r"|\bstd::\w|\b\w+::~?\w+\s*\(",
    re.MULTILINE,
)
# Comments and strings are blanked before that search; C headers often talk about C++ in them.
_COMMENTS_AND_STRINGS = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"', re.DOTALL)
_HEADER_SUFFIXES = frozenset({".h"})


def language_for(path: str, text: str, default: str = "c") -> str:
    """``c`` or ``cpp`` for a header (``.h``) by what it holds; other suffixes as the extension table says."""
    suffix = PurePosixPath(path).suffix
    if suffix not in _HEADER_SUFFIXES:
        from crawlers.code.units import EXTENSIONS  # units imports this module: a late import breaks the cycle

        return EXTENSIONS.get(suffix, default)
    code = _COMMENTS_AND_STRINGS.sub(" ", text)
    return "cpp" if _CPP_HEADER.search(code) else "c"


def function_name(node: Node, src: bytes) -> tuple[str, str]:
    """(name, owner class) of a function definition; ("", "") when it is not safely named.

    The name sits inside the declarator (``char *name(void)``, ``int &get()``, ``void (*signal(int,
    void (*)(int)))(int)``), qualified out of line (``ns::Ledger<T>::post`` -> owner ``Ledger``).
    """
    decl = node.child_by_field_name("declarator")
    misread = _misread_conversion(node, decl, src)
    if misread is not None:
        return misread
    target = _declared_name(decl)
    if target is None:
        return "", ""
    owner = ""
    while target.type == "qualified_identifier":
        scope = target.child_by_field_name("scope")
        if scope is not None and not any(c.is_missing for c in target.children):  # `API_ Type f()`: no `::`
            owner = _text(_base(scope), src)
        inner = target.child_by_field_name("name")
        if inner is None:
            return "", ""
        target = inner
    if target.type in ("template_function", "template_method"):  # explicit specialisation: f<int>
        target = target.child_by_field_name("name") or target
    if target.type in ("operator_name", "operator_cast"):
        return operator_spelling(_operator_text(target, src)), owner
    if target.type not in ("identifier", "field_identifier", "destructor_name"):
        return "", ""
    name = _text(target, src)
    if name in _KEYWORDS or (not owner and _made_by_macro(node, decl, name)):
        return "", ""  # `switch (x) {` misread in a broken region is no function
    return name, owner


def _misread_conversion(node: Node, decl: Node | None, src: bytes) -> tuple[str, str] | None:
    """``inline Env::operator napi_env() const {``: the grammar reads ``Env::operator`` as the return type and
    ``napi_env()`` as the declarator; that is the conversion ``operator napi_env`` of ``Env``."""
    kind = node.child_by_field_name("type")
    if kind is None or decl is None or decl.type != "function_declarator":
        return None
    word = kind.child_by_field_name("name") if kind.type == "qualified_identifier" else kind
    if word is None or word.type != "type_identifier" or _text(word, src) != "operator":
        return None
    inner = decl.child_by_field_name("declarator")
    if inner is None or inner.type not in ("identifier", "type_identifier"):
        return None
    scope = kind.child_by_field_name("scope") if kind.type == "qualified_identifier" else None
    owner = _text(_base(scope), src) if scope is not None else ""
    return operator_spelling(f"operator {_text(inner, src)}"), owner


def operator_spelling(text: str) -> str:
    """Spaces only between words: ``operator ==`` -> ``operator==``, ``operator char *`` -> ``operator char*``."""
    return _NOT_WORD_SPACE.sub(r"\1", " ".join(text.split()))


def _operator_text(target: Node, src: bytes) -> str:
    if target.type == "operator_cast":  # `operator const Impl&() const`: the words before the parameters
        return _before_parameters(_text(target, src))
    return _text(target, src)


def _before_parameters(text: str) -> str:
    """Up to the first ``(`` outside ``<>``: ``operator Action<R(Args...)>() const`` -> ``operator Action<R(...)>``."""
    depth = 0
    for i, ch in enumerate(text):
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "(" and depth == 0:
            return text[:i]
    return text


def _declared_name(decl: Node | None) -> Node | None:
    """The name node of the function's own declarator (see ``_function_declarator``)."""
    if decl is not None and _operator_cast(decl) is not None:
        return decl  # `operator bool() const`, `Foo::operator bool() const`: the declarator is the name
    fn = _function_declarator(decl)
    if fn is None:
        return None
    params = fn.child_by_field_name("parameters")
    before = params.prev_sibling if params is not None else None
    if before is not None and before.type == "ERROR" and [c.type for c in before.children] == ["identifier"]:
        # `XXH_PUBLIC_API XXH32_hash_t XXH32 (...)`: one macro word too many shifts the name into an ERROR
        # right before the parameters; the identifier written there is the name.
        return before.children[0]
    return fn.child_by_field_name("declarator")


def _function_declarator(decl: Node | None) -> Node | None:
    """The innermost function declarator whose declarator is a name.

    A function returning a function pointer nests function declarators (``void (*signal(int sig, void
    (*func)(int)))(int)``); the function's own name is the one written right before its own parameters.
    """
    while decl is not None:
        if decl.type == "function_declarator":
            inner = decl.child_by_field_name("declarator")
            if inner is not None and inner.type in _NAMES:
                return decl
            if inner is not None and inner.type == "function_declarator":
                return None  # FN(Suffix)(int a): a macro pastes the name together
            decl = inner
        elif decl.type in _WRAPPING:
            decl = decl.child_by_field_name("declarator") or next(
                (c for c in decl.named_children if c.type not in ("type_qualifier", "ms_pointer_modifier")), None
            )
        else:
            return None
    return None


def _operator_cast(node: Node | None) -> Node | None:
    while node is not None and node.type == "qualified_identifier":
        node = node.child_by_field_name("name")
    return node if node is not None and node.type == "operator_cast" else None


def _made_by_macro(node: Node, decl: Node | None, name: str) -> bool:
    """``TEST(Suite, Name) {}``, ``PHP_FUNCTION(x) {}``: an ALL-CAPS call with a body and no return type."""
    if node.child_by_field_name("type") is not None or not _MACRO_NAME.match(name):
        return False
    parent = node.parent
    in_class = parent is not None and parent.type == "field_declaration_list"  # a constructor FOO() {}
    return not in_class and decl is not None and decl.type == "function_declarator"


def tolerable(node: Node, src: bytes) -> bool:
    """A function definition with a syntax error that is still read right (see the module docstring)."""
    body = node.child_by_field_name("body")
    if body is None:
        return False
    for child in node.children:
        if child.id == body.id or not (child.has_error or child.is_missing):
            continue
        if not _only_words(child):
            return False
    fn = _function_declarator(node.child_by_field_name("declarator"))
    params = fn.child_by_field_name("parameters") if fn is not None else None
    if params is not None and any(c.type in _STRAY or (c.has_error and c.type not in _TAIL) for c in _after(params)):
        return False  # `MACRO(x)` then the next function's header read as one declarator
    return bool(function_name(node, src)[0])


# After a parameter list: qualifiers, noexcept, attributes, an annotation call; never a lone word.
_STRAY = frozenset({"identifier", "type_identifier", "primitive_type", "ERROR"})
# Parts after the parameters whose expressions the grammar may not read (`-> decltype(::ns::f(x), void())`)
# without the name or the parameters being in doubt.
_TAIL = frozenset({"trailing_return_type", "noexcept", "requires_clause", "throw_specifier"})


def _after(node: Node) -> list[Node]:
    out = []
    sibling = node.next_named_sibling
    while sibling is not None:
        out.append(sibling)
        sibling = sibling.next_named_sibling
    return out


def _only_words(node: Node) -> bool:
    """Every ERROR below ``node`` holds only identifiers, and nothing is MISSING but a ``::`` (the C++ grammar
    reads ``GTEST_API_ Cardinality AtLeast(int n)`` as ``GTEST_API_::Cardinality`` with the ``::`` missing) or
    the type of a braced default argument."""
    stack = [node]
    while stack:
        n = stack.pop()
        if n.is_missing:
            # `f(init_list l = {})`: a braced default argument reads as a compound literal without its type.
            braced = (
                n.type == "type_identifier" and n.parent is not None and n.parent.type == "compound_literal_expression"
            )
            if n.type != "::" and not braced:
                return False
            continue
        if n.type == "ERROR":
            if any(c.type not in _WORDS or (c.type == "ERROR" and not _only_words(c)) for c in n.children):
                return False
            continue
        if n.has_error and n.type not in _TAIL:
            stack.extend(n.children)
    return True


def live_children(children: list[Node]) -> list[Node]:
    """A node's named children (or those of them the walk enters), with ``#if 0`` branches replaced by their
    ``#else``/``#elif`` (if any), and a function a macro makes (``TEST(Suite, Name) {...}``) by its body, which
    may hold local classes."""
    if not any(c.type == "preproc_if" or (c.type == "function_definition" and _typeless(c)) for c in children):
        return children
    out = []
    for child in children:
        while child is not None and child.type in ("preproc_if", "preproc_elif") and _dead(child):
            child = child.child_by_field_name("alternative")
        if child is not None and child.type == "function_definition" and _typeless(child) and _macro_made(child):
            child = child.child_by_field_name("body")
        if child is not None:
            out.append(child)
    return out


def _typeless(node: Node) -> bool:
    return node.child_by_field_name("type") is None


def _macro_made(node: Node) -> bool:
    decl = node.child_by_field_name("declarator")
    inner = decl.child_by_field_name("declarator") if decl is not None else None
    if inner is None or node.child_by_field_name("body") is None:
        return False
    return inner.type == "identifier" and _made_by_macro(node, decl, (inner.text or b"").decode())


# Words a C/C++ function header may start with before its type: storage classes, qualifiers and macros
# (upper case, optionally called: `ZSTD_ALLOW_POINTER_OVERFLOW_ATTR`, `ATTR(pure)`).
_HEADER_WORDS = re.compile(
    rb"(?:\s*(?:static|inline|extern|const|volatile|__inline|__inline__|[A-Z_][A-Z0-9_]{2,}(?:\s*\([^()\n]*\))?))+\s*"
)


def macro_prefix(node: Node, src: bytes) -> bool:
    """A declaration of nothing but macro words and storage classes, without a `;`: the head of the next function."""
    if node.type not in ("declaration", "ERROR", "expression_statement") or node.end_byte - node.start_byte > 200:
        return False
    text = src[node.start_byte : node.end_byte]
    return b";" not in text and _HEADER_WORDS.fullmatch(text) is not None


# Macro words the grammar misreads, each blanked (same length, so every offset stays) where the parse broke:
# * an annotation after a parameter list (``int f() LOCKS_EXCLUDED(mu) {``, ``~Lock() UNLOCK_FUNCTION() {``,
#   ``explicit Lock(Mutex* mu) EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {``), read as a function of its own;
# * a macro call on a line of its own (``BINARY_OP(IsEq, ==)`` in a class body, ``NAMESPACE_BEGIN`` or
#   ``DEFINE_DEFAULT(unsigned char, '\\0');`` at file scope), which runs into the next declaration or reads
#   as a broken one;
# * an export or attribute macro between ``class`` and the name (``class SCOPED_LOCKABLE MutexLock {``).
#   Never valid C++ otherwise, and the parse breaks far from it, so it is blanked wherever the file has errors.
_ARGS = rb"\((?:[^()]|\((?:[^()]|\([^()]*\))*\))*\)"
_MACRO = rb"[A-Z][A-Z0-9_]{2,}\b"
_AFTER_PARAMS = re.compile(
    rb"\)(?:\s|const\b|noexcept\b|override\b|final\b|volatile\b|&)*\b(?P<mask>%s(?:\s*%s)?)"
    rb"(?=\s*(?:\{|:(?!:)|;|=|->|const\b|override\b|final\b|noexcept\b|try\b|%s))" % (_MACRO, _ARGS, _MACRO)
)
_OWN_LINE = re.compile(
    rb"^[ \t]*(?P<mask>(?:%s[ \t]+)*%s(?:[ \t]*%s)?)[ \t]*;?[ \t]*(?://[^\n]*)?$(?!\s*(?:[{:;,)=.?&|+\-*<>\[]|/(?![/*])))"
    % (_MACRO, _MACRO, _ARGS),
    re.M,
)
# * a bare macro word on a line of its own that opens a block (``JSON_TRY`` / ``{``, a ``try`` to the compiler):
#   the grammar reads ``JSON_TRY {`` as an initialiser list and loses the class around the function.
_BLOCK_MACRO = re.compile(rb"^[ \t]*(?P<mask>%s)[ \t]*(?://[^\n]*)?\n[ \t]*\{" % _MACRO, re.M)
# * an access specifier written as a macro (``JSON_PRIVATE_UNLESS_TESTED:``, ``Q_SLOTS:``) on a line of its own.
_ACCESS_MACRO = re.compile(rb"^[ \t]*(?P<mask>%s[ \t]*:)(?!:)[ \t]*(?://[^\n]*)?$" % _MACRO, re.M)
_CLASS_MACRO = re.compile(
    rb"\b(?:class|struct|union)\s+(?P<mask>(?:%s(?:\s*%s)?\s+)+)(?=[A-Za-z_]\w*\s*(?:final\b\s*)?(?:[:{]|$))"
    % (_MACRO, _ARGS),
    re.M,
)
# * a brace opened or closed only under a condition (``#ifdef NAPI_CPP_CUSTOM_NAMESPACE`` / ``namespace
#   NAPI_CPP_CUSTOM_NAMESPACE {`` / ``#endif``, and its ``}`` in another such block at the end): tree-sitter
#   reads both branches, so the braces do not pair and the whole file becomes one ERROR.
_COND_OPEN = re.compile(
    rb"^[ \t]*(?P<mask>namespace\b[^\n{};]*\{)[ \t]*(?://[^\n]*)?\n(?:[ \t]*\n)*[ \t]*#[ \t]*endif\b", re.M
)
_COND_CLOSE = re.compile(rb"^[ \t]*#[ \t]*if[^\n]*\n[ \t]*(?P<mask>\})[ \t]*(?://[^\n]*)?\n[ \t]*#[ \t]*endif\b", re.M)
# * a function header written twice, once per branch (``#ifdef X`` / ``f(napi_env env, ...) {`` / ``#else`` /
#   ``f(napi_env, ...) {`` / ``#endif``): the second one, which opens a second brace, is blanked.
#   The directives go too (the function's body runs on past the ``#endif``, which the grammar cannot nest).
_ALT_HEADER = re.compile(
    rb"^(?P<mask>[ \t]*#[ \t]*if[^\n]*)\n[^#\n][^\n]*\{[ \t]*\n"
    rb"(?P<mask2>[ \t]*#[ \t]*else\b[^\n]*\n[^#\n][^\n]*\{[ \t]*\n[ \t]*#[ \t]*endif\b[^\n]*)",
    re.M,
)
# * a conditional that holds only part of a construct (``#ifdef X`` / ``template <typename F = T>`` / ``#endif``
#   above the method it templates; ``if (status == busy) {`` in one ``#ifndef`` and its ``}`` in the next;
#   ``Maybe<bool> r =`` / ``#endif`` / ``f();``): the grammar cannot end a branch mid-construct, so the file
#   is read as if the condition held: the directives go, the code stays. Only a branch without ``#else`` and
#   without directives inside it, whose brackets do not pair or whose last line leaves a declaration open.
_FLAT_BRANCH = re.compile(
    rb"^(?P<mask>[ \t]*#[ \t]*if[^\n]*)\n(?P<body>(?:(?![ \t]*#)[^\n]*\n)*?)(?P<mask2>[ \t]*#[ \t]*endif\b[^\n]*)",
    re.M,
)
_CODE_ONLY = re.compile(rb"//[^\n]*|/\*.*?\*/|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'", re.S)
_OPEN_ENDS = frozenset(b">=,(&|{")


def _partial(m: re.Match[bytes]) -> bool:
    code = _CODE_ONLY.sub(b" ", m.group("body")).rstrip()
    if not code:
        return False
    return code[-1] in _OPEN_ENDS or code.count(b"{") != code.count(b"}") or code.count(b"(") != code.count(b")")


_MISREAD = (
    (_ALT_HEADER, True),
    (_AFTER_PARAMS, True),
    (_OWN_LINE, True),
    (_ACCESS_MACRO, True),
    (_BLOCK_MACRO, True),
    (_CLASS_MACRO, False),
    (_COND_OPEN, True),
    (_COND_CLOSE, True),
    (_FLAT_BRANCH, True),
)  # (pattern, only next to an error)
_WHEN = {_FLAT_BRANCH: _partial}  # patterns whose matches are blanked only when this says so
_MAX_REPAIRS = 3


def repair(parser: Parser, source: bytes, tree: Tree) -> Tree:
    """A tree of the same byte offsets with misread macro words blanked, if that loses less to errors."""
    starts, ends, lost = _error_spans(tree.root_node)
    for attempt in range(_MAX_REPAIRS):
        has_error = tree.root_node.has_error
        edits: dict[int, bytes] = {}  # offset -> same-length blanks
        windows = _windows(source, starts, ends)
        for pattern, near_error in _MISREAD:
            if near_error and not has_error:
                continue  # no error for it to be next to: scanning the file for it was a third of the time
            if not near_error and attempt:
                continue  # what it matches anywhere was blanked in the first attempt
            for m in _matches(pattern, source, windows if near_error else [(0, len(source))]):
                after = _next_code_line_end(source, m.end())
                if (not near_error or _overlaps(starts, ends, m.start(), after)) and _WHEN.get(pattern, bool)(m):
                    for group in ("mask", "mask2") if "mask2" in pattern.groupindex else ("mask",):
                        edits[m.start(group)] = re.sub(rb"[^\n]", b" ", m.group(group))
        if not edits:
            break
        masked, better = reparse(parser, source, tree, sorted(edits.items()))
        better_starts, better_ends, left = _error_spans(better.root_node)
        if left >= lost:
            break
        source, tree, lost, starts, ends = masked, better, left, better_starts, better_ends
    return tree


_GAP = re.compile(rb"(?:\s+|//[^\n]*|/\*(?:[^*]|\*(?!/)){0,2000}\*/)*")


def _next_code_line_end(source: bytes, at: int) -> int:
    """End of the first line after ``at`` that holds code: the parse may break only there (``NAMESPACE_BEGIN``,
    then the doc comment of the class below it, then the ``template<...>`` line the grammar stops at)."""
    start = _GAP.match(source, at, at + 4000).end()
    end = source.find(b"\n", start)
    return len(source) if end < 0 else end


_CONTEXT = 2000  # bytes around an error that a misread macro next to it may start or end in


def _windows(source: bytes, starts: list[int], ends: list[int]) -> list[tuple[int, int]]:
    """Line-aligned stretches of the source around the errors, merged: a match that touches an error lies in one.

    Scanning only these instead of the whole file halves the extraction time on headers with a few errors;
    each starts at a line start, so the patterns' ``^`` means what it means on the whole file.
    """
    windows: list[tuple[int, int]] = []
    for start, end in zip(starts, ends, strict=True):
        lo = source.rfind(b"\n", 0, max(0, start - _CONTEXT)) + 1
        hi = source.find(b"\n", min(len(source), end + _CONTEXT))
        hi = len(source) if hi < 0 else hi
        if windows and lo <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(windows[-1][1], hi))
        else:
            windows.append((lo, hi))
    return windows


def _matches(pattern: re.Pattern[bytes], source: bytes, windows: list[tuple[int, int]]) -> Iterator[re.Match[bytes]]:
    """``pattern.finditer`` over each window, the same matches, found faster where the pattern has a hint."""
    line_hint = _LINE_HINTS.get(pattern)
    word_hint = _WORD_HINTS.get(pattern)
    for lo, hi in windows:
        if line_hint is not None:
            yield from _at_line_starts(pattern, line_hint, source, lo, hi)
        elif word_hint is not None:
            yield from _at_words(pattern, word_hint, source, lo, hi)
        else:
            yield from pattern.finditer(source, lo, hi)


# A pattern that starts with ``^`` (re.M) is tried by ``finditer`` at every byte, where it fails at once but
# costs a call of re's matcher each time: a tenth of the parse per pattern on a header with errors all over.
# Its hint finds the newlines before the lines it can match at (a necessary condition on the line's start);
# re searches for a leading ``\n`` at C speed, and the pattern is tried only there.
# Lines that start with a macro word (upper case, as the patterns' own): before `(`, `;`, a comment or the line's
# end for a macro on its own line; before `:` for an access specifier; before the line that opens a block.
_MACRO_LINE = re.compile(rb"\n(?=[ \t]*%s(?:[ \t(;/\n]|\Z))" % _MACRO)
_ACCESS_LINE = re.compile(rb"\n(?=[ \t]*%s[ \t]*:(?!:))" % _MACRO)
_BLOCK_LINE = re.compile(rb"\n(?=[ \t]*%s[ \t]*(?://[^\n]*)?\n[ \t]*\{)" % _MACRO)
_IF_LINE = re.compile(rb"\n(?=[ \t]*#[ \t]*if)")
_LINE_HINTS = {
    _OWN_LINE: _MACRO_LINE,
    _BLOCK_MACRO: _BLOCK_LINE,
    _ACCESS_MACRO: _ACCESS_LINE,
    _COND_OPEN: re.compile(rb"\n(?=[ \t]*namespace\b)"),
    _COND_CLOSE: _IF_LINE,
    _ALT_HEADER: _IF_LINE,
    _FLAT_BRANCH: _IF_LINE,
}
# A pattern that starts with ``\b`` and a keyword: the keywords are found with ``bytes.find`` (three times
# faster than re's search for any of them), and the pattern is tried where one starts.
_WORD_HINTS = {_CLASS_MACRO: (b"class", b"struct", b"union")}


def _at_line_starts(
    pattern: re.Pattern[bytes], hint: re.Pattern[bytes], source: bytes, lo: int, hi: int
) -> Iterator[re.Match[bytes]]:
    """``pattern.finditer(source, lo, hi)`` for a pattern that matches only at line starts (never empty)."""
    at = lo
    while True:
        if at == 0 or source[at - 1] == 10:  # a line start: where finditer's search would try next
            m = pattern.match(source, at, hi)
            if m is not None:
                yield m
                at = m.end()
                continue
        found = hint.search(source, at, hi)
        if found is None:
            return
        at = found.end()


def _at_words(
    pattern: re.Pattern[bytes], words: tuple[bytes, ...], source: bytes, lo: int, hi: int
) -> Iterator[re.Match[bytes]]:
    """``pattern.finditer(source, lo, hi)`` for a pattern that matches only where one of ``words`` starts."""
    starts = []
    for word in words:
        at = source.find(word, lo, hi)
        while at >= 0:
            starts.append(at)
            at = source.find(word, at + 1, hi)
    end = lo
    for at in sorted(starts):
        if at >= end:
            m = pattern.match(source, at, hi)
            if m is not None:
                yield m
                end = m.end()


def _error_spans(root: Node) -> tuple[list[int], list[int], int]:
    """Starts (sorted) of the outermost ERROR and MISSING nodes, the running maximum of their ends, and the
    bytes they cover (one for each MISSING node): how much of the file the parser lost (``nodes.error_bytes``).

    A match is checked against these with a bisection: searching the tree from the root for every match
    was a fifth of the extraction time on headers with many macro candidates.
    """
    spans, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            spans.append((node.start_byte, node.end_byte))
            continue
        # A MISSING node has an error too (tree-sitter counts it in the error cost `has_error` reads).
        stack.extend(c for c in node.children if c.has_error)
    spans.sort()
    lost = sum(max(end - start, 1) for start, end in spans)
    return [s for s, _ in spans], list(itertools.accumulate((e for _, e in spans), max)), lost


def _overlaps(starts: list[int], ends: list[int], lo: int, hi: int) -> bool:
    """Whether an ERROR or MISSING node overlaps bytes ``lo..hi``."""
    i = bisect.bisect_right(starts, hi)  # the spans that start at or before hi
    return i > 0 and ends[i - 1] >= lo


def _dead(node: Node) -> bool:
    condition = node.child_by_field_name("condition")
    return condition is not None and condition.text is not None and condition.text.decode().strip() in _DEAD
