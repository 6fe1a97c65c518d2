"""Is this text code, in which language, does it parse, and was it cut off? For the quality gate.

The gate judges answers with checks written for prose (final punctuation, balanced brackets) and scrubs PII with
patterns that also match code literals (``127.0.0.1``, ``255.255.255.0``, a version ``7.1.4.34``). This module
tells code apart so both can treat it as code:

- ``code_blocks``: the Markdown fenced blocks of a text (``` or ~~~, an unclosed last fence runs to the end), or
  the whole text when it is code.
- ``looks_like_code``: the language of a text that is code (or of its first fenced code block), else None.
  Python is read with ``ast`` at any indentation (a method cut out of its class keeps its 8-12 spaces, a
  decorated one starts with an unindented ``@``); JavaScript, TypeScript, Java, Go, Rust, C, C++, C# and Kotlin
  (the extractor's languages) with tree-sitter. A text must parse (or parse once completed, when it was cut
  off) *and* show code structure: prose that happens to parse (``Note: see below``, a Markdown list ``- a``,
  ``Paris (France)``) is not code. A code task type is a prior that lowers the structure needed, never a verdict.
- ``code_ok`` / ``code_truncated``: parses; does not parse because it ends early (an open bracket, string or
  block at the end, the parser stopping at the last token, or some ending of closers, ``: pass`` or a missing
  operand making it parse), as opposed to a syntax error inside, which no ending fixes.
- ``code_spans``: the character spans of a text that are code (fenced blocks, inline `code`, Markdown indented
  blocks, or the whole text), so PII scrubbing can apply its code policy there.
- ``truncation_verdict``: True (cut off), False (complete code) or None (not code: the prose checks decide).

Pure functions; the whole-text analysis is cached per text, so calling several of them on one row costs one
parse. Hand-written because no library answers "is this snippet code, and was it cut off": linguist-style
detectors classify files by extension and token statistics, and parsers only say "error".
"""

from __future__ import annotations

import ast
import re
import textwrap
import threading
import warnings
from dataclasses import dataclass
from functools import lru_cache

from tree_sitter import Node, Parser
from tree_sitter_language_pack import get_parser

__all__ = [
    "CODE_TASK_TYPES",
    "LANGUAGES",
    "CodeBlock",
    "code_blocks",
    "code_ok",
    "code_spans",
    "code_truncated",
    "looks_like_code",
    "normalize_language",
    "truncation_verdict",
]

# Task types whose outputs are expected to be code (a prior, not a verdict: code_to_docstring answers are prose).
# RE2-compatible, so the gate can match it over a task_type column in pyarrow; "script", "class" and "sql" only
# as whole parts of a name (not "description", "classification").
CODE_TASK_TYPES = re.compile(
    r"(?i)code|program|function|implement|method|(?:^|[_ -])(?:script|snippet|sql|class)(?:$|[_ -])"
)

# Tree-sitter languages tried on unfenced text, in the order ties are broken.
_TS_LANGUAGES = ("javascript", "typescript", "java", "go", "rust", "c", "cpp", "csharp", "kotlin", "tsx")
LANGUAGES = ("python", *_TS_LANGUAGES)

# Fence info strings -> language names (the extractor's names); other labels are kept lower-cased.
_ALIASES = {
    "py": "python",
    "py3": "python",
    "python3": "python",
    "python": "python",
    "ipython": "python",
    "js": "javascript",
    "jsx": "javascript",
    "mjs": "javascript",
    "cjs": "javascript",
    "node": "javascript",
    "nodejs": "javascript",
    "javascript": "javascript",
    "ts": "typescript",
    "mts": "typescript",
    "typescript": "typescript",
    "tsx": "tsx",
    "go": "go",
    "golang": "go",
    "rs": "rust",
    "rust": "rust",
    "java": "java",
    "c": "c",
    "h": "c",
    "cpp": "cpp",
    "c++": "cpp",
    "cc": "cpp",
    "cxx": "cpp",
    "hpp": "cpp",
    "cs": "csharp",
    "c#": "csharp",
    "csharp": "csharp",
    "kt": "kotlin",
    "kts": "kotlin",
    "kotlin": "kotlin",
}
# Fence labels that announce prose or program output, not code.
_PROSE_LABELS = frozenset({"text", "txt", "plain", "plaintext", "markdown", "md", "none", "output", "log", "quote"})


@dataclass(frozen=True)
class CodeBlock:
    """A block of code in a text: ``text[start:end] == code``. ``fenced`` blocks come from a Markdown fence
    (``language`` from its info string, None without one); an unfenced block is the whole text, recognised as
    code. ``closed`` is False for a fence that is never closed (the block runs to the end of the text)."""

    language: str | None
    code: str
    start: int
    end: int
    fenced: bool
    closed: bool = True


@dataclass(frozen=True)
class _Verdict:
    language: str | None
    status: str  # "ok", "truncated", "error" (code with a syntax error inside), "" (not code)


@dataclass(frozen=True)
class _Fence:
    outer_start: int  # the opening fence's first character
    outer_end: int  # after the closing fence (or the end of the text)
    start: int  # the code inside
    end: int
    label: str | None
    closed: bool


def normalize_language(label: str | None) -> str | None:
    """A fence info string's language in the extractor's names (``py`` -> python, ``c++`` -> cpp); other
    labels lower-cased, an empty one None."""
    if not label:
        return None
    m = re.match(r"\{?\.?([\w+#.-]+)", label.strip())
    if not m:
        return None
    word = m.group(1).lower()
    return _ALIASES.get(word, word)


# --- fences, inline code, indented blocks -------------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\n`]*?)[ \t]*$", re.M)


def _fences(text: str) -> list[_Fence]:
    out: list[_Fence] = []
    pos = 0
    while "```" in text[pos:] or "~~~" in text[pos:]:
        m = _FENCE_OPEN.search(text, pos)
        if m is None:
            break
        fence, info = m.group(1), m.group(2)
        start = min(m.end() + 1, len(text))
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.M)
        close = closing.search(text, start)
        if close is None:
            out.append(_Fence(m.start(), len(text), start, len(text), normalize_language(info), False))
            break
        end = close.start() - 1 if close.start() > start else start  # drop the newline before the closing fence
        out.append(_Fence(m.start(), close.end(), start, end, normalize_language(info), True))
        pos = close.end()
    return out


_INLINE = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*+•]|[0-9]+[.)、]|（[0-9]+）|[一二三四五六七八九十]+、)[ \t]")
_SENTENCE_END = re.compile(r"[.!?。！？]$|[，。；：！？、]")


def _indent_width(line: str) -> int:
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += 4 - width % 4
        else:
            break
    return width


def _prose_line(line: str) -> bool:
    s = line.strip()
    return len(s.split()) >= 5 and not s.startswith(("#", "//", "/*", "*", "--")) and bool(_SENTENCE_END.search(s))


def _indented_blocks(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    """Markdown indented code blocks (4+ columns, after a blank line or the start, not a list continuation)
    between ``lo`` and ``hi``; blocks that read as prose sentences are left out unless they parse as code."""
    spans: list[tuple[int, int]] = []
    lines = text[lo:hi].split("\n")
    offsets, o = [], lo
    for line in lines:
        offsets.append(o)
        o += len(line) + 1
    prev_blank, in_list = True, False
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            prev_blank = True
            i += 1
            continue
        width = _indent_width(line)
        if width >= 4 and prev_blank:
            j = i
            last = i
            while j < len(lines) and (not lines[j].strip() or _indent_width(lines[j]) >= 4):
                if lines[j].strip():
                    last = j
                j += 1
            block = lines[i : last + 1]
            code = "\n".join(block)
            content = [b for b in block if b.strip()]
            prose = sum(map(_prose_line, content))
            listy = sum(bool(_LIST_ITEM.match(b)) for b in content)
            if (not in_list and prose * 2 <= len(content) and listy * 2 < len(content)) or looks_like_code(code):
                spans.append((offsets[i], offsets[last] + len(lines[last])))
            i = last + 1
            prev_blank = False
            continue
        if width < 4:
            in_list = bool(_LIST_ITEM.match(line)) or (in_list and not prev_blank)
        prev_blank = False
        i += 1
    return spans


def _inline_spans(text: str, lo: int, hi: int) -> list[tuple[int, int]]:
    return [
        (lo + m.start(), lo + m.end())
        for m in _INLINE.finditer(text[lo:hi])
        if not _BLANK_LINE.search(m.group(2)) and m.group(2).strip()
    ]


# --- Python -------------------------------------------------------------------------------------------------------

_LEADING_BLANK = re.compile(r"\A(?:[ \t]*\n)+")
_NO_SPACE_CALL = re.compile(r"[\w\])]\(")
_NO_SPACE_INDEX = re.compile(r"[\w\])]\[")
# Statements and expressions prose does not produce (a parse with one of them is code).
_PY_STRONG = (
    ast.FunctionDef,
    ast.AsyncFunctionDef,
    ast.ClassDef,
    ast.For,
    ast.AsyncFor,
    ast.While,
    ast.With,
    ast.AsyncWith,
    ast.Try,
    ast.TryStar,
    ast.Match,
    ast.If,
    ast.Import,
    ast.ImportFrom,
    ast.Assign,
    ast.AugAssign,
    ast.Lambda,
    ast.ListComp,
    ast.SetComp,
    ast.DictComp,
    ast.GeneratorExp,
    ast.Await,
    ast.Yield,
    ast.YieldFrom,
    ast.NamedExpr,
    ast.JoinedStr,
)
# Code-like, but a sentence can parse as one ("return home"; "Node.js" is an attribute). Calls and subscripts
# count only when written without a space before the bracket: "Paris (France)" parses as a call.
_PY_WEAK = (
    ast.Attribute,
    ast.Return,
    ast.Raise,
    ast.Assert,
    ast.Delete,
    ast.Global,
    ast.Nonlocal,
    ast.Pass,
    ast.Break,
    ast.Continue,
)
# Errors that mean "the text ended early" when they are reported on its last lines.
_PY_EOF = re.compile(r"unexpected EOF|expected an indented block|expected 'except' or 'finally'|incomplete input")
# A line that starts with a name or decorator: after an unclosed bracket, one at the bracket line's level (not
# deeper, as continuation lines are) is a new statement, so the bracket was left open mid-code, not cut.
_PY_STATEMENT = re.compile(r"[ \t]*[A-Za-z_@]")
# A line that opens a function or class (a decorator counts when a line follows it).
_PY_SHAPE = re.compile(r"(?m)^[ \t]*(?:@[\w.]+(?:\(.*\))?[ \t]*\n|async def \w|def \w+\s*\(|class \w+\s*[:(])")


def _lead(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _unindent(lines: list[str], k: int) -> list[str]:
    """Lines without their first ``k`` whitespace characters; lines indented less (string contents written at
    column 0) are left as they are."""
    return [ln[k:] if ln[:k].isspace() and len(ln) >= k else ln for ln in lines]


def _py_variants(code: str) -> list[str]:
    """Readings of ``code`` at its own indentation: dedented; when its first line is indented more than others
    (string contents at column 0), that line's indentation taken off every line that has it; when its first line
    is unindented and the rest are not (a member cut from its class at its first character), the rest's."""
    text = _LEADING_BLANK.sub("", code).rstrip()
    ded = textwrap.dedent(text)
    out = [ded]
    lines = ded.split("\n")
    if len(lines) < 2:
        return out
    k = len(_lead(lines[0]))
    if k:
        out.append("\n".join([lines[0][k:], *_unindent(lines[1:], k)]))
    else:
        leads = [len(_lead(ln)) for ln in lines[1:] if ln.strip() and not ln.lstrip().startswith("#")]
        indented = [n for n in leads if n]
        if indented:
            out.append("\n".join([lines[0], *_unindent(lines[1:], min(indented))]))
            if lines[0].startswith("@"):
                out.reverse()  # a decorator's def sits at the decorator's level: try that first
    return out


def _py_parse(src: str) -> tuple[ast.Module | None, SyntaxError | None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return ast.parse(src), None
        except SyntaxError as exc:
            return None, exc
        except (ValueError, RecursionError, MemoryError):
            return None, SyntaxError("unparseable")


def _py_strength(tree: ast.Module, text: str) -> int:
    """2: code structure no prose has; 1: code-like nodes a sentence can also give; 0: nothing but names,
    constants and operators (``- item``, ``Note: see``, ``hello``)."""
    best = 0
    multiline = "\n" in text.strip()
    for node in ast.walk(tree):
        if isinstance(node, _PY_STRONG):
            if not isinstance(node, ast.Assign) or not isinstance(node.value, ast.Name) or multiline:
                return 2
            best = 1  # `Answer = yes`
        elif isinstance(node, ast.AnnAssign):
            if node.value is not None:
                return 2
        elif isinstance(node, ast.Call):
            if _NO_SPACE_CALL.search(text):
                return 2  # `Paris (France)` and `Return (a // b, a % b)` parse as calls too
        elif isinstance(node, ast.Subscript):
            if _NO_SPACE_INDEX.search(text):
                best = 1
        elif isinstance(node, _PY_WEAK):
            best = 1
    return best


_PAIRS = {"(": ")", "[": "]", "{": "}"}


def _py_scan(src: str) -> tuple[str, list[str]] | None:
    """(what closes the string open at the end, open brackets) of Python source; None when brackets mismatch."""
    stack: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "#":
            j = src.find("\n", i)
            if j < 0:
                return "", stack
            i = j
        elif c in "'\"":
            q = src[i : i + 3] if src[i : i + 3] in ('"""', "'''") else c
            j = i + len(q)
            while j < n:
                if src[j] == "\\":
                    j += 2
                    continue
                if src.startswith(q, j):
                    break
                if src[j] == "\n" and len(q) == 1:
                    return None
                j += 1
            if j >= n:
                closer = q
                if "f" in src[max(0, i - 2) : i].lower():  # an f-string cut inside a replacement field
                    body = src[i + len(q) :].replace("{{", "").replace("}}", "")
                    closer = "}" * max(0, body.count("{") - body.count("}")) + q
                return closer, stack
            i = j + len(q)
            continue
        elif c in "([{":
            stack.append(c)
        elif c in ")]}":
            if not stack or _PAIRS[stack[-1]] != c:
                return None
            stack.pop()
        i += 1
    return "", stack


def _py_quoted_lines(src: str) -> set[int]:
    """Indexes of the lines that start inside a string literal (their text is no statement)."""
    quoted: set[int] = set()
    i, n, line = 0, len(src), 0
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
        elif c == "#":
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        elif c in "'\"":
            q = src[i : i + 3] if src[i : i + 3] in ('"""', "'''") else c
            j = i + len(q)
            while j < n and not src.startswith(q, j) and not (len(q) == 1 and src[j] == "\n"):
                j += 2 if src[j] == "\\" else 1
            j = min(j, n)
            for _ in range(src.count("\n", i, j)):
                line += 1
                quoted.add(line)
            i = j + len(q) if src.startswith(q, j) else j
            continue
        i += 1
    return quoted


def _py_completions(src: str) -> list[str]:
    """Endings that close what a cut left open: the string, a missing operand, the brackets, a block."""
    state = _py_scan(src)
    if state is None:
        return []
    quote, stack = state
    closers = "".join(_PAIRS[b] for b in reversed(stack))
    tails = ("", " _", " _ else _")
    return [quote + tail + closers + block for tail in tails for block in ("", ": pass", " pass")]


def _py_cut(src: str, err: SyntaxError) -> bool:
    """The parse of ``src`` failed (``err``) because the text ends early: an open bracket or string, a block
    header without its body, an error at the last token, or some ending that makes it parse."""
    lines = src.split("\n")
    nlines = len(lines)
    msg = str(err.msg or "")
    lineno, end_lineno = err.lineno or 0, err.end_lineno or err.lineno or 0
    if "unterminated triple-quoted" in msg:
        return True
    if _PY_EOF.search(msg):
        return lineno >= nlines - 1
    if "unterminated string literal" in msg:
        return lineno >= nlines
    if "was never closed" in msg:
        if not 1 <= lineno <= nlines:
            return False
        level = len(_lead(lines[lineno - 1]))
        quoted = _py_quoted_lines(src)
        return not any(
            _PY_STATEMENT.match(ln) and len(_lead(ln)) <= level and i not in quoted
            for i, ln in enumerate(lines[lineno:], lineno)
            if ln.strip()
        )
    if max(lineno, end_lineno) < nlines:
        return False  # an error before the last line: a syntax error, not a cut
    # The parser stopped within the last token: what follows the error on the last line is one word at most.
    col = max(err.offset or 0, (err.end_offset or 0) if end_lineno == nlines else 0)
    rest = lines[-1][max(col - 1, 0) :].split()
    if len(rest) <= 1:
        return True
    # A few words after the error (`x if y is not`): some ending may still complete it. Further from the end
    # (a sentence that fails at its second word), no ending could.
    return len(rest) <= 3 and any(_py_parse(src + suffix)[0] is not None for suffix in _py_completions(src))


def _py_cut_strength(src: str) -> int:
    """The structure of cut-off code: of its completion, or of the code before its last line."""
    if _PY_SHAPE.search(src):
        return 2
    for suffix in _py_completions(src):
        tree, _ = _py_parse(src + suffix)
        if tree is not None:
            return _py_strength(tree, src)
    if "\n" in src:
        head = src[: src.rfind("\n")]
        tree, _ = _py_parse(head)
        if tree is not None:
            return _py_strength(tree, head)
        for suffix in _py_completions(head):
            tree, _ = _py_parse(head + suffix)
            if tree is not None:
                return _py_strength(tree, head)
    return 0


def _py_analyze(text: str) -> tuple[str, int]:
    """("ok" | "truncated" | "", structure strength) for Python."""
    errors: list[tuple[str, SyntaxError]] = []
    for src in _py_variants(text):
        tree, err = _py_parse(src)
        if tree is not None:
            return "ok", _py_strength(tree, src)
        errors.append((src, err or SyntaxError("")))
    for src, err in errors:
        if _py_cut(src, err):
            return "truncated", _py_cut_strength(src)
    return "", 0


def _py_ok(code: str) -> bool:
    return any(_py_parse(src)[0] is not None for src in _py_variants(code))


def _py_code_truncated(code: str) -> bool:
    errors = []
    for src in _py_variants(code):
        tree, err = _py_parse(src)
        if tree is not None:
            return False
        errors.append((src, err or SyntaxError("")))
    return any(_py_cut(src, err) for src, err in errors)


# --- tree-sitter languages ----------------------------------------------------------------------------------------

_PARSERS = threading.local()  # a tree-sitter Parser is not for concurrent use: one set per thread


def _parser(language: str) -> Parser:
    cache = getattr(_PARSERS, "by_language", None)
    if cache is None:
        cache = _PARSERS.by_language = {}
    p = cache.get(language)
    if p is None:
        p = cache[language] = get_parser(language)
    return p


# Hints that rank the languages for an unfenced text (the first clean parse wins, so the order matters where
# grammars overlap: JavaScript parses in TypeScript, a C function in C++ and Java): words a language uses and
# the others rarely do, and marks (one word set per text and a few substring tests: regexes cost milliseconds).
_HINT_WORDS = {
    lang: frozenset(words.split())
    for lang, words in {
        "go": "func defer chan nil fmt goroutine rune fallthrough select",
        "rust": "fn impl mut pub Some Ok Err usize i32 u8 u32 u64 i64 crate trait Vec Self mod unwrap loop",
        "java": "public private protected extends implements throws final Override System boolean ArrayList HashMap"
        " instanceof synchronized",
        "csharp": "using namespace Console foreach Task async await readonly string List Dictionary var",
        "kotlin": "fun val when companion override data object lateinit Unit",
        "typescript": "interface type number boolean readonly enum unknown never keyof implements string",
        "javascript": "function const let var console require export document undefined async await module prototype",
        "c": "int char void unsigned size_t sizeof NULL struct malloc free printf typedef uint8_t uint32_t",
        "cpp": "std template typename nullptr cout auto namespace virtual class const vector constexpr noexcept",
        "tsx": "",
    }.items()
}
_HINT_MARKS = {
    "go": (":=", "func ("),
    "rust": ("println!", "vec!", "#[", "&self", "&mut ", "-> Self", "::new("),
    "java": ("System.out", "@Override", "String[]", "import java."),
    "csharp": ("{ get;", "using System", "Console.Write"),
    "kotlin": ("?:", "fun ", "val "),
    "typescript": (": string", ": number", ": boolean", ": void", "<T>", "as const"),
    "javascript": ("=>", "===", "console.", "module.exports", "function("),
    "c": ("#include <", ".h>", "->", "printf(", "(void)", " *self", "NULL;", "static void", "static int"),
    "cpp": ("std::", "template <", "template<", "#include <", "::"),
    "tsx": ("/>", "</"),
}
_IDENT = re.compile(r"[A-Za-z_]\w*")


def _hint_scores(text: str) -> dict[str, int]:
    words = set(_IDENT.findall(text))
    return {
        lang: len(words & _HINT_WORDS[lang]) + 2 * sum(mark in text for mark in _HINT_MARKS[lang])
        for lang in _TS_LANGUAGES
    }


# Nodes prose does not parse into (searched in the top three levels of the tree).
_TS_STRUCTURE = frozenset(
    {
        "function_definition",
        "function_declaration",
        "function_item",
        "function_signature_item",
        "generator_function_declaration",
        "method_declaration",
        "method_definition",
        "constructor_declaration",
        "class_declaration",
        "class_definition",
        "class_specifier",
        "struct_specifier",
        "struct_item",
        "enum_item",
        "impl_item",
        "trait_item",
        "mod_item",
        "interface_declaration",
        "type_declaration",
        "type_alias_declaration",
        "enum_declaration",
        "object_declaration",
        "namespace_definition",
        "namespace_declaration",
        "template_declaration",
        "package_clause",
        "package_declaration",
        "import_declaration",
        "import_statement",
        "using_directive",
        "use_declaration",
        "preproc_include",
        "preproc_def",
        "short_var_declaration",
        "local_function_statement",
        "init_declarator",
        "function_declarator",
        "call_expression",
        "method_invocation",
        "invocation_expression",
        "macro_invocation",
        "assignment_expression",
        "assignment_statement",
        "augmented_assignment_expression",
        "arrow_function",
        "if_statement",
        "for_statement",
        "for_in_statement",
        "while_statement",
        "export_statement",
    }
)
_CODE_END = re.compile(r"[{};,(\[]$|^[}\])]|^(?://|/\*|#include|#define|#\[)|^@[\w.]+(?:\(.*\))?$")
_CODE_START = re.compile(
    r"^(?:return|if|for|while|switch|case|break|continue|defer|go|let|var|const|val|fn|func|fun|import|package|use"
    r"|public|private|protected|static|class|struct|impl|type|interface|else|try|catch|throw)\b"
    r"|^[\w.\[\]*&]+\s*(?:[-+*/|&]?=(?!=)|\+\+|--)|:=|^[\w.*&]+\(.*\)$"
)


_PY_HEADER = re.compile(
    r"(?m)^[ \t]*(?:async[ \t]+)?(?:def|class|elif|else|for|while|with|try|except|finally)\b.*:[ \t]*$"
)


# A function declared without braces (Kotlin `fun f() = 1`, a TypeScript overload signature).
_DECLARATION = re.compile(
    r"(?m)^[ \t]*(?:(?:public|private|protected|internal|override|suspend|inline|static|export|async)[ \t]+)*"
    r"(?:fun|fn|func|function)[ \t]+\w"
)


def _braced(text: str) -> bool:
    """Braces, semicolons, an arrow or a function declaration, and no Python block header (``def f():``)."""
    if "{" not in text and ";" not in text and "=>" not in text and not _DECLARATION.search(text):
        return False
    return not _PY_HEADER.search(text)


def _c_like(text: str) -> bool:
    """Worth parsing with the brace languages: braces, semicolons or a function declaration, no Python block
    header (``def f():``), and most lines shaped like code lines (whatever the task: permissive grammars such as
    Kotlin's parse a sentence with semicolons, `Compute totals; return them`, as code)."""
    if not _braced(text):
        return False
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    comment_block = "/*" in text
    codey = 0
    for ln in lines:
        if _CODE_END.search(ln) or _CODE_START.match(ln) or _DECLARATION.match(ln) or (comment_block and ln[:1] == "*"):
            codey += 1
    return codey * 2 >= len(lines)


# Declarations count only with an initializer: `Compute totals; return them;` declares a `Compute` in Java.
_TS_DECLARATIONS = frozenset(
    {
        "lexical_declaration",
        "variable_declaration",
        "let_declaration",
        "local_variable_declaration",
        "local_declaration_statement",
        "property_declaration",
        "field_declaration",
    }
)


def _ts_structured(root: Node, framed: bool = False) -> bool:
    """Code structure in the top three levels of the tree (below the wrapper class when ``framed``)."""
    level = [root]
    for depth in range(4 if framed else 3):
        nxt: list[Node] = []
        for node in level:
            for child in node.named_children:
                if not (framed and depth == 0) and (
                    child.type in _TS_STRUCTURE or (child.type in _TS_DECLARATIONS and b"=" in (child.text or b""))
                ):
                    return True
                nxt.append(child)
        level = nxt
        if not level:
            break
    return False


# A class member (a method cut from its class, as the extractor gives them) parses only inside a class body.
_MEMBER_FRAMES = {
    lang: ("class C_ {\n", "\n}") for lang in ("javascript", "typescript", "tsx", "java", "csharp", "kotlin")
} | {"cpp": ("struct C_ {\n", "\n};")}


def _frames(language: str) -> list[tuple[str, str]]:
    member = _MEMBER_FRAMES.get(language)
    return [("", ""), member] if member else [("", "")]


def _ts_error_bytes(root: Node) -> int:
    """Bytes inside ERROR nodes (outermost only), plus one per MISSING node."""
    total = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error:
            total += max(1, node.end_byte - node.start_byte)
            continue
        if node.is_missing:
            total += 1
            continue
        stack.extend(c for c in node.children if c.has_error)
    return total


def _ts_scan(src: str, language: str) -> tuple[str, list[str]] | None:
    """(what closes an open string or comment, open brackets) at the end of brace-language source; None when
    brackets mismatch."""
    stack: list[str] = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if c == "/" and src.startswith("//", i):
            j = src.find("\n", i)
            if j < 0:
                return "\n", stack
            i = j
            continue
        if c == "/" and src.startswith("/*", i):
            j = src.find("*/", i + 2)
            if j < 0:
                return " */", stack
            i = j + 2
            continue
        if c == "#" and language in ("c", "cpp", "csharp") and (i == 0 or src[i - 1] == "\n"):
            j = src.find("\n", i)  # preprocessor lines: <stdio.h> is no bracket
            if j < 0:
                return "\n", stack
            i = j
            continue
        if c in "\"'`":
            if c == "'" and language in ("rust", "go", "c", "cpp", "java", "csharp", "kotlin"):
                # A char literal is 'x' or '\n'; anything else (a Rust lifetime 'a) is not a quote.
                if not (src[i + 1 : i + 2] == "\\" or src[i + 2 : i + 3] == "'"):
                    i += 1
                    continue
            q = '"""' if src.startswith('"""', i) and language in ("kotlin", "java") else c
            raw = c == "`" and language == "go"
            j = i + len(q)
            while j < n:
                if src[j] == "\\" and not raw:
                    j += 2
                    continue
                if src.startswith(q, j):
                    break
                if src[j] == "\n" and q in ("'", '"'):
                    return None
                j += 1
            if j >= n:
                return q, stack
            i = j + len(q)
            continue
        if c in "([{":
            stack.append(c)
        elif c in ")]}":
            if not stack or _PAIRS[stack[-1]] != c:
                return None
            stack.pop()
        i += 1
    return "", stack


def _ts_completions(src: str, language: str) -> list[str]:
    state = _ts_scan(src, language)
    if state is None:
        return []
    pre, stack = state
    plain = "".join(_PAIRS[b] for b in reversed(stack))
    semi = ""  # the same with `;` before each `}` that does not follow a block: `if (x` -> `if (x);}`
    for b in reversed(stack):
        if b == "{" and semi[-1:] not in ("{", "}", ";"):
            semi += ";"
        semi += _PAIRS[b]
    endings = (plain, semi, plain + ";", semi + ";") if language == "cpp" else (plain, semi)  # `struct {...};`
    if stack[-1:] == ["("] and "{" not in stack:
        endings += (plain + " {}",)  # a signature cut before its body: `Ledger(std::string n) : name_(std::mo`
    return [pre + tail + closers for tail in ("", ";", " z", " z;", " z)") for closers in dict.fromkeys(endings)]


def _ts_ranked(text: str) -> list[str]:
    scores = _hint_scores(text)
    return sorted(_TS_LANGUAGES, key=lambda lang: (-scores[lang], _TS_LANGUAGES.index(lang)))


def _ts_analyze(text: str, languages: list[str], min_strength: int, complete: bool = True) -> _Verdict:
    """The first language that parses cleanly; with ``complete``, else the first that parses once completed, and
    with a prior (min_strength 1), code with few errors (at most 10% of its bytes) in a language it hints at."""
    src = textwrap.dedent(_LEADING_BLANK.sub("", text)).rstrip()
    if not src:
        return _Verdict(None, "")
    data = src.encode("utf-8", "surrogatepass")
    trees = {}
    for lang in languages:
        for head, tail in _frames(lang):
            tree = _parser(lang).parse(data if not head else (head + src + tail).encode("utf-8", "surrogatepass"))
            if not head:
                trees[lang] = tree
            if not tree.root_node.has_error and _ts_structured(tree.root_node, framed=bool(head)):
                return _Verdict(lang, "ok")
    if not complete:
        return _Verdict(None, "")
    # Completions are tried in the three best-hinted languages and the two whose parse came closest.
    errors = {lang: _ts_error_bytes(trees[lang].root_node) for lang in languages}
    closest = sorted(languages, key=lambda lang: (errors[lang], languages.index(lang)))[:2]
    hinted_any = any(_hint_scores(src).values())
    for lang in dict.fromkeys([*languages[:3], *closest]) if hinted_any else languages:
        if any(_ts_completes(head + src, lang, True, bool(head)) for head, _ in _frames(lang)):
            return _Verdict(lang, "truncated")
    scores = _hint_scores(src)
    hinted = [lang for lang in languages if scores[lang]]
    if min_strength <= 1 and hinted:
        # Code with a syntax error inside: a language its text names, few errors, and code structure.
        best = min(hinted, key=lambda lang: (errors[lang], hinted.index(lang)))
        root = trees[best].root_node
        if errors[best] * 10 <= len(data) and _ts_structured(root):
            return _Verdict(best, "error")
    return _Verdict(None, "")


def _ts_clean(src: str, language: str) -> bool:
    """``src`` parses without an ERROR or MISSING node, as it is or as a class member."""
    return any(
        not _parser(language).parse((head + src + tail).encode("utf-8", "surrogatepass")).root_node.has_error
        for head, tail in _frames(language)
    )


def _ts_ok(code: str, language: str) -> bool:
    return _ts_clean(textwrap.dedent(_LEADING_BLANK.sub("", code)).rstrip(), language)


def _ts_truncated(code: str, language: str) -> bool:
    src = textwrap.dedent(_LEADING_BLANK.sub("", code)).rstrip()
    if _ts_clean(src, language):
        return False
    return any(_ts_completes(head + src, language, False, bool(head)) for head, _ in _frames(language))


def _ts_completes(src: str, language: str, structured: bool, framed: bool = False) -> bool:
    """Some ending makes ``src`` parse cleanly, or makes it parse without its last line or two: a cut stops in
    the middle of a construct (``for (const it``, ``Record<str``) that only more of its own text could end.
    ``framed``: ``src`` starts with a class header that the ending closes."""
    head = src
    for _ in range(3):
        for suffix in _ts_completions(head, language):
            root = _parser(language).parse((head + suffix).encode("utf-8", "surrogatepass")).root_node
            if not root.has_error and (not structured or _ts_structured(root, framed)):
                return True
        cut = head.rfind("\n")
        if cut <= 0 or (framed and head.count("\n") <= 1):
            break
        head = head[:cut].rstrip()
    return False


# --- the whole-text verdict ---------------------------------------------------------------------------------------

_SEMI_BRACE_LINE = re.compile(r"[;{}]\s*$")


@lru_cache(maxsize=2048)
def _analyze(text: str, prior: bool) -> _Verdict:
    """Language and parse status of an unfenced text; ``prior``: the task type expects code."""
    if not text.strip():
        return _Verdict(None, "")
    need = 1 if prior else 2
    py_status, py_strength = _py_analyze(text)
    c_like = _c_like(text)
    ranked = _ts_ranked(text) if c_like else []
    if py_status == "ok" and py_strength >= need:
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if c_like and sum(bool(_SEMI_BRACE_LINE.search(ln)) for ln in lines) * 2 >= len(lines):
            v = _ts_analyze(text, ranked, 2, complete=False)
            if v.status == "ok":
                return v  # `foo(bar);` parses as Python too: a brace language that parses it wins
        return _Verdict("python", "ok")
    if c_like:
        v = _ts_analyze(text, ranked, need, complete=False)
        if v.status == "ok":
            return v
    elif prior and _braced(text):
        # A code task's answer whose lines are not shaped like code lines (a ternary chain, a minified line, a
        # long string literal): a clean parse with code structure still makes it code.
        v = _ts_analyze(text, _ts_ranked(text), need, complete=False)
        if v.status == "ok":
            return v
    # A cut needs code structure whatever the task, and more than one line unless it opens a def or class:
    # `See [CHANGELOG.md](CHANGELOG.md).` parses up to its final period.
    if py_status == "truncated" and py_strength >= 2 and ("\n" in text.strip() or _PY_SHAPE.search(text)):
        return _Verdict("python", "truncated")
    if c_like:
        v = _ts_analyze(text, ranked, need)
        if v.status:
            return v
    if _looks_pythonic(text) and _py_with_errors(text):
        return _Verdict("python", "error")
    return _Verdict(None, "")


_PY_DEF = re.compile(r"(?m)^[ \t]*(?:async def \w|def \w+\s*\(|class \w+\s*[:(])")


def _looks_pythonic(text: str) -> bool:
    return _PY_DEF.search(text) is not None


def _py_with_errors(text: str) -> bool:
    """Python with a syntax error inside (Python 2 ``print x``, a stray token): it parses, with code structure,
    once at most three of its lines (and at most a tenth of them) are dropped or replaced by ``pass``."""
    for src in _py_variants(text):
        lines = src.split("\n")
        _, err = _py_parse(src)
        for _ in range(min(3, max(1, len(lines) // 10))):
            n = err.lineno if err is not None else None
            if not n or not 1 <= n <= len(lines):
                break
            tries = []
            for fixed in (lines[: n - 1] + lines[n:], [*lines[: n - 1], _lead(lines[n - 1]) + "pass", *lines[n:]]):
                tree, new_err = _py_parse("\n".join(fixed))
                if tree is not None:
                    return _py_strength(tree, text) >= 2
                tries.append(((new_err.lineno or 0) if new_err else 0, fixed, new_err))
            _, lines, err = max(tries, key=lambda t: t[0])
    return False


def _prior(task_type: str) -> bool:
    return bool(task_type) and CODE_TASK_TYPES.search(task_type) is not None


# --- public API ---------------------------------------------------------------------------------------------------


def code_blocks(text: str, task_type: str = "") -> list[CodeBlock]:
    """The fenced code blocks of ``text`` (``` or ~~~, any info string; an unclosed last fence is a block to the
    end with ``closed=False``), or, without a fence, ``[the whole text]`` when it is code (``looks_like_code``),
    else ``[]``. ``start``/``end`` are character offsets of the code itself (``text[start:end] == code``)."""
    if not text:
        return []
    fences = _fences(text)
    if fences:
        return [CodeBlock(f.label, text[f.start : f.end], f.start, f.end, True, f.closed) for f in fences]
    language = looks_like_code(text, task_type)
    return [CodeBlock(language, text, 0, len(text), False, True)] if language else []


def looks_like_code(text: str, task_type: str = "") -> str | None:
    """The language of ``text`` when it is code, else None.

    With fences: the language of the first fenced block that holds code (its label, or, unlabelled, the
    language it parses in; ``text``/``markdown``/``output`` blocks are not code). Without: the whole text must
    parse (or parse once completed: cut-off code is code) in Python or a brace language, and show code
    structure. A code ``task_type`` (see ``CODE_TASK_TYPES``) lowers the structure needed and admits code with a
    syntax error, but prose stays prose.
    """
    if not text or not text.strip():
        return None
    fences = _fences(text)
    if fences:
        for f in fences:
            if f.label in _PROSE_LABELS:
                continue
            if f.label:
                return f.label
            v = _analyze(text[f.start : f.end], True)
            if v.language:
                return v.language
        return None
    return _analyze(text, _prior(task_type)).language


def code_ok(code: str, language: str | None = None) -> bool:
    """``code`` parses: Python with ``ast`` (dedented, at any indentation), the brace languages with tree-sitter
    (no ERROR or MISSING node). ``language`` None: parses cleanly in some supported language. A language this
    module cannot parse (``bash``, ``sql``...) is not judged: True."""
    language = normalize_language(language) if language else None
    if language == "python":
        return _py_ok(code)
    if language in _TS_LANGUAGES:
        return _ts_ok(code, language)
    if language is not None:
        return True
    return _analyze(code, True).status == "ok"


def code_truncated(code: str, language: str | None = None) -> bool:
    """``code`` does not parse because it ends early: an unclosed bracket, string, comment or block at the end,
    i.e. some ending (closers, a missing operand, ``: pass``) makes it parse, or Python reports an EOF error on
    the last line. A syntax error in the middle is not truncation (False), nor is code that parses.
    ``language`` None: the language is detected first; languages this module cannot parse give False."""
    language = normalize_language(language) if language else None
    if language == "python":
        return _py_code_truncated(code)
    if language in _TS_LANGUAGES:
        return _ts_truncated(code, language)
    if language is not None:
        return False
    return _analyze(code, True).status == "truncated"


def code_spans(text: str, task_type: str = "") -> list[tuple[int, int]]:
    """Sorted, disjoint ``(start, end)`` character spans of ``text`` that are code: the whole text when it is code
    (``looks_like_code``); else fenced blocks with their fences (not ``text``/``markdown`` ones), inline
    `code` spans, and Markdown indented blocks (4+ columns after a blank line, not list continuations, not
    prose sentences)."""
    if not text:
        return []
    fences = _fences(text)
    if not fences:
        if looks_like_code(text, task_type):
            return [(0, len(text))]
    spans: list[tuple[int, int]] = []
    gaps, pos = [], 0
    for f in fences:
        gaps.append((pos, f.outer_start))
        if f.label not in _PROSE_LABELS:
            spans.append((f.outer_start, f.outer_end))
        pos = f.outer_end
    gaps.append((pos, len(text)))
    for lo, hi in gaps:
        if hi <= lo:
            continue
        blocks = _indented_blocks(text, lo, hi) if "\n" in text[lo:hi] or text[lo:hi][:1] in (" ", "\t") else []
        spans.extend(blocks)
        for s, e in _inline_spans(text, lo, hi):
            if not any(bs <= s < be for bs, be in blocks):
                spans.append((s, e))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def truncation_verdict(text: str, task_type: str = "") -> bool | None:
    """For the gate's truncation check on code answers: True when ``text`` is cut off (an unclosed final fence,
    or unfenced code that ``code_truncated``), False when it is complete code (closed fences with nothing after
    the last one, or unfenced code that parses or has a syntax error inside), None when it is not code, or has
    prose after its last fence: the prose checks decide."""
    if not text or not text.strip():
        return None
    fences = _fences(text)
    if fences:
        if not fences[-1].closed:
            return True
        if all(f.label in _PROSE_LABELS for f in fences):
            return None
        if text[fences[-1].outer_end :].strip():
            return None
        return False
    v = _analyze(text, _prior(task_type))
    if v.language is None:
        return None
    return v.status == "truncated"
