"""Rule-based synthesis: no model, no key. FAQ, heading+section and code/docstring pairs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

from synth.records import make_record
from validate.text import MD_HEADING, detect_language

TEMPLATES = Path(__file__).parent / "templates" / "rules.yaml"
MIN_SECTION_CHARS = 40
MIN_DOC_WORDS = 3
_PY_DOCSTRING = re.compile(r'(:[ \t]*\n)([ \t]*)[rRuU]?("""|\'\'\')[\s\S]*?\3[ \t]*\n')


@cache
def _templates() -> dict:
    return yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))


def template(name: str, language: str) -> str:
    """The template for ``language``, falling back to English for languages without one."""
    table = _templates()[name]
    return table.get(language) or table["en"]


def faq_records(qa: pd.DataFrame) -> Iterator[dict]:
    """Published FAQ pairs pass through as they are: the site already wrote the answer."""
    for row in qa.itertuples(index=False):
        yield make_record(
            row.question,
            row.answer,
            task_type="faq_qa",
            language=row.language,
            generator="rule:faq",
            source_ref=row.url,
        )


def split_sections(markdown: str) -> Iterator[tuple[str, str]]:
    """(heading, body) for every heading of level 2 or deeper that has a body."""
    heading, body = None, []
    for line in markdown.splitlines():
        match = MD_HEADING.match(line)
        if match:
            if heading and "".join(body).strip():
                yield heading, "\n".join(body).strip()
            heading = match.group(2) if len(match.group(1)) >= 2 else None
            body = []
        elif heading:
            body.append(line)
    if heading and "".join(body).strip():
        yield heading, "\n".join(body).strip()


def section_records(docs: pd.DataFrame) -> Iterator[dict]:
    """Each section under a heading becomes 'explain <heading>' -> section text."""
    for doc in docs.itertuples(index=False):
        title = doc.title or doc.canonical_url
        for heading, body in split_sections(doc.text):
            if len(body) < MIN_SECTION_CHARS:
                continue
            is_question = heading.rstrip().endswith(("?", "？"))
            name = "section_qa_question" if is_question else "section_qa"
            instruction = template(name, doc.language).format(title=title, heading=heading)
            yield make_record(
                instruction,
                body,
                task_type="section_qa",
                language=doc.language,
                generator="rule:section",
                source_ref=doc.canonical_url,
            )


def code_records(units: pd.DataFrame) -> Iterator[dict]:
    """docstring -> implement the code, and code -> write the docstring; the real code is the gold side."""
    for unit in units.itertuples(index=False):
        doc = unit.docstring.strip()
        if unit.kind == "class" or (len(doc.split()) < MIN_DOC_WORDS and len(doc) < 12):
            continue
        language = detect_language(doc)
        ref = _ref(unit)
        fields = {"language": unit.language, "kind": unit.kind, "signature": unit.signature.splitlines()[0]}
        common = {"language": language, "source_ref": ref}
        yield make_record(
            template("docstring_to_code", language).format(**fields),
            unit.code,
            input=doc,
            task_type="docstring_to_code",
            generator="rule:docstring_to_code",
            **common,
        )
        yield make_record(
            template("code_to_docstring", language).format(**fields),
            doc,
            input=strip_docstring(unit),
            task_type="code_to_docstring",
            generator="rule:code_to_docstring",
            **common,
        )


def class_contexts(units: pd.DataFrame) -> dict[tuple[str, str, str], object]:
    """(repo, path, class qualified name) -> the class unit, for method-in-context tasks."""
    classes = units[units["kind"] == "class"]
    return {(c.repo, c.path, c.qualified_name): c for c in classes.itertuples(index=False)}


def method_context(cls: object, method: object, siblings: list[object]) -> str:
    """The class's code without the target method, sibling methods cut to their signatures.

    Fields and the constructor stay whole (the extractor filters constructors out as units,
    so they are never cut): they are what tells a model how the method must use the object.
    """
    lines = cls.code.splitlines()
    keep = [True] * len(lines)
    replace: dict[int, str] = {}
    for unit in [method, *siblings]:
        a, b = unit.start_line - cls.start_line, unit.end_line - cls.start_line
        if not (0 <= a <= b < len(lines)):
            continue
        for i in range(a, b + 1):
            keep[i] = False
        if unit is not method:
            indent = lines[a][: len(lines[a]) - len(lines[a].lstrip())]
            replace[a] = f"{indent}{unit.signature.splitlines()[0].strip()} ..."
    return "\n".join(replace.get(i, line) for i, line in enumerate(lines) if keep[i] or i in replace)


def context_records(units: pd.DataFrame) -> Iterator[dict]:
    """signature + class context (fields, constructor, sibling signatures) -> implement the method."""
    classes = class_contexts(units)
    methods = units[units["kind"] == "method"]
    by_class: dict[tuple[str, str, str], list[object]] = {}
    for m in methods.itertuples(index=False):
        by_class.setdefault((m.repo, m.path, m.qualified_name.rsplit(".", 1)[0]), []).append(m)
    for key, members in by_class.items():
        cls = classes.get(key)
        if cls is None:
            continue
        for method in members:
            doc = method.docstring.strip()
            language = detect_language(doc) if doc else "en"
            context = method_context(cls, method, [m for m in members if m is not method])
            yield make_record(
                template("method_with_context", language).format(
                    signature=method.signature.splitlines()[0].strip(), language=method.language, cls=cls.symbol
                ),
                method.code,
                input=context,
                task_type="method_with_context",
                generator="rule:method_with_context",
                language=language,
                source_ref=_ref(method),
            )


def explain_records(units: pd.DataFrame) -> Iterator[dict]:
    """code -> explain what it does; the answer is built from the unit's own doc (rule-based)."""
    for unit in units.itertuples(index=False):
        summary = unit.docstring.strip().split("\n\n")[0].strip()
        if unit.kind == "class" or not summary:
            continue
        language = detect_language(summary)
        fields = {
            "language": unit.language,
            "kind": unit.kind,
            "name": unit.qualified_name,
            "path": unit.path,
            "signature": unit.signature.splitlines()[0].strip(),
            "summary": " ".join(summary.split()),
        }
        yield make_record(
            template("explain_code", language).format(**fields),
            template("explain_code_answer", language).format(**fields),
            input=strip_docstring(unit),
            task_type="explain_code",
            generator="rule:explain_code",
            language=language,
            source_ref=_ref(unit),
        )


def _ref(unit: object) -> str:
    return f"{unit.repo}@{unit.commit}:{unit.path}:{unit.start_line}-{unit.end_line}"


def strip_docstring(unit: object) -> str:
    """The unit's code without its docstring, so the input does not contain the answer."""
    if unit.language == "python":
        return _PY_DOCSTRING.sub(r"\1", unit.code, count=1)
    return unit.code  # leading comments sit outside the unit's code for other languages


def synthesize(docs: pd.DataFrame, qa: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """All rule-based records from the three inputs, in a stable order."""
    rows = [
        *faq_records(qa),
        *section_records(docs),
        *code_records(units),
        *context_records(units),
        *explain_records(units),
    ]
    return pd.DataFrame(rows)
