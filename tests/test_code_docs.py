"""Doc comments attach as each language's own tools attach them (issue 14): across blank lines for doc
markers (JSDoc, rustdoc, javadoc, Doxygen), never for plain comments, never in Go."""

from __future__ import annotations

import pytest

from crawlers.code.units import extract_units


def docs(source: str, language: str) -> dict[str, str]:
    return {u.symbol: u.docstring for u in extract_units(source.encode(), language) if u.kind != "class"}


@pytest.mark.parametrize(
    ("language", "source"),
    [
        ("javascript", "/**\n * Sum the ledger.\n */\n\nfunction total(xs) {\n  return 0;\n}\n"),
        ("typescript", "/** Sum the ledger. */\n\n\nexport function total(xs: number[]): number {\n  return 0;\n}\n"),
        ("rust", "/// Sum the ledger.\n\nfn total() -> i32 {\n    0\n}\n"),
        ("java", "class A {\n  /** Sum the ledger. */\n\n  int total() {\n    return 0;\n  }\n}\n"),
        ("c", "/** Sum the ledger. */\n\nint total(void) {\n    return 0;\n}\n"),
        ("cpp", "//! Sum the ledger.\n\nint total() {\n    return 0;\n}\n"),
    ],
)
def test_doc_comments_attach_across_blank_lines(language, source):
    assert docs(source, language)["total"] == "Sum the ledger."


@pytest.mark.parametrize(
    ("language", "source"),
    [
        ("javascript", "// Sum the ledger.\n\nfunction total(xs) {\n  return 0;\n}\n"),
        ("c", "/* Sum the ledger. */\n\nint total(void) {\n    return 0;\n}\n"),
        ("go", "package p\n\n// Total sums the ledger.\n\nfunc Total() int {\n\treturn 0\n}\n"),
        ("rust", "// Sum the ledger.\n\nfn total() -> i32 {\n    0\n}\n"),
    ],
)
def test_plain_comments_and_go_docs_need_to_touch_the_unit(language, source):
    assert all(doc == "" for doc in docs(source, language).values())


def test_only_the_nearest_doc_block_across_a_gap():
    source = "/** The file's own note. */\n\n/** Sum the ledger. */\n\nfunction total() {\n  return 0;\n}\n"
    assert docs(source, "javascript")["total"] == "Sum the ledger."


def test_rust_attribute_with_a_trailing_comment_keeps_the_doc():
    source = "/// Sum the ledger.\n#[inline] // hot path\n#[must_use]\nfn total() -> i32 {\n    0\n}\n"
    assert docs(source, "rust")["total"] == "Sum the ledger."


def test_code_between_a_doc_and_a_unit_still_breaks_it():
    source = "/** Sum the ledger. */\nconst rate = 2;\n\nfunction total() {\n  return rate;\n}\n"
    assert docs(source, "javascript")["total"] == ""


@pytest.mark.parametrize(
    ("language", "source"),
    [
        ("java", "class A {\n  // TODO: rename\n  int total() {\n    return 0;\n  }\n}\n"),
        ("rust", "// Like total, without checks.\nfn total() -> i32 {\n    0\n}\n"),
        ("rust", "//// not a doc either\nfn total() -> i32 {\n    0\n}\n"),
    ],
)
def test_languages_with_a_doc_syntax_read_only_their_doc_comments(language, source):
    assert docs(source, language)["total"] == ""


def test_a_plain_comment_between_a_doc_and_its_unit_is_passed_over():
    source = "/// Sum the ledger.\n// Alias for the old name.\n#[inline]\nfn total() -> i32 {\n    0\n}\n"
    assert docs(source, "rust")["total"] == "Sum the ledger."
    java = "class A {\n  /** Sum the ledger. */\n  // <editor-fold>\n  int total() {\n    return 0;\n  }\n}\n"
    assert docs(java, "java")["total"] == "Sum the ledger."


def test_go_directives_are_not_doc_text():
    source = (
        "package p\n\n// Add adds.\n//go:noinline\nfunc Add(a, b int) int {\n\treturn a + b\n}\n\n"
        "//go:nosplit\nfunc Sub(a, b int) int {\n\treturn a - b\n}\n"
    )
    assert docs(source, "go") == {"Add": "Add adds.", "Sub": ""}


def test_a_java_nul_escape_does_not_end_the_file():
    source = "class A {\n  void clear(char[] a) { java.util.Arrays.fill(a, '\\u0000'); }\n  void ok() {}\n}\n"
    assert set(docs(source, "java")) == {"clear", "ok"}


def test_the_nearest_doc_block_is_the_whole_doc():
    source = "// TODO remove in v6\n/**\n * Sum the ledger.\n */\nfunction total() {\n  return 0;\n}\n"
    assert docs(source, "javascript")["total"] == "Sum the ledger."
    rust = "/// Sum the ledger.\n///\n/// In cents.\nfn total() -> i32 {\n    0\n}\n"
    assert docs(rust, "rust")["total"] == "Sum the ledger.\n\nIn cents."


def test_a_later_declarator_does_not_take_the_statements_comment():
    source = "// The base rate.\nvar rate = 1,\n  total = function () {\n    return rate;\n  };\n"
    assert docs(source, "javascript")["total"] == ""
