"""CodeSearchNet-style unit filters: which extracted units make good instruction data.

Each filter returns a reason string (counted in the stats) or None to keep the unit.
Thresholds live in one dataclass so `dataagent extract-code` can expose them as flags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from crawlers.code.units import Unit
from validate.text import HAN, han_count

# Names that are boilerplate in most languages: the code is predictable from the name.
BOILERPLATE = frozenset(
    {
        "__repr__",
        "__str__",
        "__eq__",
        "__ne__",
        "__hash__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__len__",
        "__iter__",
        "__enter__",
        "__exit__",
        "__getattr__",
        "__setattr__",
        "__del__",
        "toString",
        "equals",
        "hashCode",
        "compareTo",
        "clone",
        "finalize",
        "String",
        "fmt",
        "Equals",
        "GetHashCode",
        "ToString",
        "main",
    }
)
CONSTRUCTORS = frozenset({"__init__", "__new__", "constructor", "new", "init"})
_ACCESSOR = re.compile(r"^(get|set|is|has)(_[a-z0-9]|[A-Z])")
_TEST_NAME = re.compile(r"^(test|Test)|(Test|_test|Tests)$")
TEST_PATH = re.compile(
    r"(^|/)(tests?|testing|__tests__|spec|specs)/|(^|/)(test_[^/]*|[^/]*_test\.\w+|[^/]*Test\.\w+"
    r"|[^/]*\.(test|spec)\.\w+|conftest\.py)$"
)
VENDOR_PATH = re.compile(
    r"(^|/)(vendor|vendored|third_party|thirdparty|external|node_modules|site-packages|"
    r"dist|build|_vendor)/"
)


DEDUP_MODES = ("none", "repos", "all")


@dataclass
class FilterConfig:
    # CJK docs count characters / 2 as words.
    min_doc_words: int = field(default=3, metadata={"help": "Words the doc's first line needs (0 keeps undocumented)."})
    # Units of fewer lines are one-liners with nothing to learn.
    min_body_lines: int = field(default=3, metadata={"help": "Lines a unit needs."})
    drop_tests: bool = field(default=True, metadata={"help": "Drop test functions and test paths, or keep them."})
    drop_boilerplate: bool = field(
        default=True, metadata={"help": "Drop constructors, __repr__/toString, accessors, or keep them."}
    )
    max_accessor_lines: int = 4  # get_x/setX/isY at most this long count as accessors
    # Lines longer than this are machine-made (minified, inlined data); units holding one are dropped. 0: off.
    max_line_chars: int = 1000
    # Which exact copies the dedup step drops (extract.deduplicate).
    dedup: str = field(
        default="repos",
        metadata={
            "help": "Exact copies dropped: 'repos' (a unit an earlier repository already gave: forks, vendored "
            "copies), 'all' (copies inside a repository too) or 'none'."
        },
    )

    @classmethod
    def off(cls) -> FilterConfig:
        """Keep every unit (used by accuracy checks against a parser)."""
        return cls(
            min_doc_words=0, min_body_lines=0, drop_tests=False, drop_boilerplate=False, max_line_chars=0, dedup="none"
        )


def doc_words(doc: str) -> int:
    """Words in the doc's first line; Han characters count half a word each (no spaces in Chinese)."""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    han = han_count(first)
    return len(re.sub(HAN, " ", first).split()) + han // 2


def path_reason(path: str, cfg: FilterConfig) -> str | None:
    if VENDOR_PATH.search(path):
        return "vendor_path"
    if cfg.drop_tests and TEST_PATH.search(path):
        return "test_path"
    return None


def unit_reason(unit: Unit, cfg: FilterConfig) -> str | None:
    """Why this unit is not worth keeping, or None."""
    if cfg.drop_tests and _TEST_NAME.search(unit.symbol) and unit.kind != "class":
        return "test_function"
    if cfg.drop_boilerplate and unit.kind != "class":
        scope = unit.qualified_name.split(".")
        # Java/C#/C++/Kotlin constructors are named after their class.
        if unit.symbol in CONSTRUCTORS or (unit.kind == "method" and len(scope) >= 2 and scope[-2] == unit.symbol):
            return "constructor"
        if unit.symbol in BOILERPLATE:
            return "boilerplate"
        if _ACCESSOR.match(unit.symbol) and unit.end_line - unit.start_line + 1 <= cfg.max_accessor_lines:
            return "accessor"
    if cfg.min_body_lines and unit.end_line - unit.start_line + 1 < cfg.min_body_lines:
        return "short_body"
    if cfg.min_doc_words and doc_words(unit.docstring) < cfg.min_doc_words:
        return "no_doc" if not unit.docstring.strip() else "short_doc"
    return None
