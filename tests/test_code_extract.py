"""Real tree-sitter parsing of a real git repository."""

import ast
import inspect

from crawlers.code.extract import extract_repo
from crawlers.code.filters import FilterConfig
from crawlers.code.units import extract_units
from validate.contracts import CodeUnit
from validate.gate import split_by_contract


def test_repo_extraction_yields_valid_units_with_commit_and_license(sample_repo):
    units = extract_repo(str(sample_repo), cfg=FilterConfig.off())
    accepted, quarantined = split_by_contract(units, CodeUnit)
    assert len(quarantined) == 0
    assert set(units["language"]) == {"python", "javascript", "go"}
    assert units["commit"].str.fullmatch(r"[0-9a-f]{40}").all()
    assert set(units["license"]) == {"Apache-2.0"}


def test_python_docstrings_match_ast(sample_repo):
    units = extract_repo(str(sample_repo), cfg=FilterConfig.off())
    py = units[units["language"] == "python"]
    got = {(r.path, r.qualified_name, r.docstring) for r in py.itertuples() if r.kind != "class"}
    want = set()
    for path in {r.path for r in py.itertuples()}:
        tree = ast.parse((sample_repo / path).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        want.add((path, f"{node.name}.{item.name}", ast.get_docstring(item) or ""))
            elif isinstance(node, ast.FunctionDef) and node.col_offset == 0:
                want.add((path, node.name, ast.get_docstring(node) or ""))
    # Names must match exactly; docs must match wherever Python itself sees a docstring
    # (elsewhere the extractor may fall back to a leading '#' comment).
    assert {(p, n) for p, n, _ in got} == {(p, n) for p, n, _ in want}
    got_docs = {(p, n): d for p, n, d in got}
    for path, name, doc in want:
        if doc:
            assert got_docs[(path, name)] == doc, (path, name)
    assert got_docs[("finkit/text.py", "word_count")].startswith("Count words")  # from the '#' comment


def test_method_in_class_has_qualified_name_and_lines():
    src = inspect.cleandoc('''
        class Ledger:
            """Keeps entries."""

            # not the docstring
            @property
            def total(self) -> float:
                """Sum of balances."""
                return 0.0
    ''').encode()
    units = {u.qualified_name: u for u in extract_units(src, "python")}
    assert units["Ledger"].kind == "class"
    total = units["Ledger.total"]
    assert (total.kind, total.docstring, total.start_line, total.end_line) == ("method", "Sum of balances.", 6, 8)


def test_jsdoc_and_go_comments_are_leading_docs():
    js = (
        b"/**\n * Format money.\n * @param {number} x\n */\nexport function fmt(x) {\n  return x;\n}\n"
        b"// add two\nconst add = (a, b) => a + b;\n\nconst bare = () => 1;\n"
    )
    units = {u.symbol: u for u in extract_units(js, "javascript")}
    assert units["fmt"].docstring == "Format money.\n@param {number} x"
    assert units["add"].docstring == "add two"
    assert units["bare"].docstring == ""
    go = (
        b"package a\n\n// Pay computes the payment.\n// Second line.\nfunc Pay(a int) int { return a }\n\n"
        b"func (s *Loan) Due() int { return 0 }\n"
    )
    units = {u.qualified_name: u for u in extract_units(go, "go")}
    assert units["Pay"].docstring == "Pay computes the payment.\nSecond line."
    assert units["Loan.Due"].kind == "method"


def test_syntax_error_keeps_the_well_formed_units():
    src = b'def good():\n    """Fine."""\n    return 1\n\ndef broken(:\n    pass\n'
    names = [u.symbol for u in extract_units(src, "python")]
    assert "good" in names
