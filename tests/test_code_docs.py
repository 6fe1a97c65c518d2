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
