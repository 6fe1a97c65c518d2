"""validate.codecheck on real code: functions, methods and classes of the Python standard library on this machine,
taken as they sit in their files (methods indented 8-12 spaces, decorated, async), whole and cut off; small
real-shaped snippets in the brace languages; and prose in English (the standard library's docstrings) and
Chinese that must never be taken for code."""

from __future__ import annotations

import ast
import random
import re
import sysconfig
import textwrap
from functools import lru_cache
from pathlib import Path

import pytest

from validate import codecheck
from validate.codecheck import (
    CodeBlock,
    code_blocks,
    code_ok,
    code_spans,
    code_truncated,
    looks_like_code,
    truncation_verdict,
)

STDLIB = Path(sysconfig.get_paths()["stdlib"])
CODE_TASKS = ("docstring_to_code", "method_with_context")
PROSE_TASKS = ("", "faq_qa", "code_to_docstring", "explain_code", "docstring_to_code")

# --- the standard library ------------------------------------------------------------------------------------------


def _segment(lines: list[str], start: ast.AST, node: ast.AST, padded: bool) -> str:
    """The source from ``start`` to the end of ``node``, as ``ast.get_source_segment`` cuts it (which re-splits
    the whole file on each call: too slow for thousands of units). Offsets are UTF-8 byte columns."""
    first = start.lineno - 1
    last = node.end_lineno - 1
    head = lines[first].encode()
    if first == last:
        body = head[start.col_offset : node.end_col_offset].decode()
    else:
        tail = lines[last].encode()[: node.end_col_offset].decode()
        body = "".join([head[start.col_offset :].decode(), *lines[first + 1 : last], tail])
    return " " * len(head[: start.col_offset].decode()) + body if padded else body


@lru_cache(maxsize=1)
def _units() -> list[dict]:
    """Every function, method and class of the top-level stdlib modules, in the forms a unit can take."""
    units = []
    for path in sorted(STDLIB.glob("*.py")):
        try:
            src = path.read_text(encoding="utf-8")
            tree = ast.parse(src)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        lines = src.splitlines(keepends=True)
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            in_file = _segment(lines, node, node, padded=True)  # the first line indented as in the file
            forms = {
                "raw": _segment(lines, node, node, padded=False),  # from `def`, later lines as in the file
                "in_file": in_file,
                "dedented": textwrap.dedent(in_file),
            }
            if node.decorator_list:
                first = node.decorator_list[0]
                at = ast.Name(lineno=first.lineno, col_offset=first.col_offset - 1)  # the `@`
                forms["decorated_in_file"] = _segment(lines, at, node, padded=True)
                forms["decorated_raw"] = _segment(lines, at, node, padded=False)
            units.append(
                {
                    "where": f"{path.name}:{node.lineno}",
                    "col": node.col_offset,
                    "async": isinstance(node, ast.AsyncFunctionDef),
                    "decorated": bool(node.decorator_list),
                    "class": isinstance(node, ast.ClassDef),
                    "forms": forms,
                }
            )
    return units


@lru_cache(maxsize=1)
def _sample() -> list[dict]:
    """600 units (seeded), with every async one and enough deep methods, decorated ones and classes."""
    units = _units()
    rng = random.Random(20240611)
    special = [u for u in units if u["async"]] + rng.sample([u for u in units if u["col"] >= 8], 60)
    special += rng.sample([u for u in units if u["decorated"]], 60)
    taken = {id(u) for u in special}
    rest = [u for u in units if id(u) not in taken]
    return special + rng.sample(rest, 600 - len(special))


def test_sample_covers_methods_decorators_async_and_classes():
    sample = _sample()
    # The forms are the file's own text: the same as ast.get_source_segment gives.
    path = STDLIB / "contextlib.py"
    src = path.read_text(encoding="utf-8")
    lines = src.splitlines(keepends=True)
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            assert _segment(lines, node, node, padded=False) == ast.get_source_segment(src, node)
            assert _segment(lines, node, node, padded=True) == ast.get_source_segment(src, node, padded=True)
    assert len(sample) == 600
    assert sum(u["col"] >= 4 for u in sample) >= 150  # methods
    assert sum(u["col"] >= 8 for u in sample) >= 60  # nested classes' methods, functions inside methods
    assert sum(u["decorated"] for u in sample) >= 60
    assert all(u["forms"]["decorated_raw"].startswith("@") for u in sample if u["decorated"])
    assert sum(u["async"] for u in sample) >= 5
    assert sum(u["class"] for u in sample) >= 30


def test_every_stdlib_unit_is_python_parses_and_is_complete():
    failures, analyses = [], []
    for unit in _sample():
        for name, text in unit["forms"].items():
            before = codecheck._analyze.cache_info().misses
            got = (
                looks_like_code(text),
                looks_like_code(text, "docstring_to_code"),
                code_ok(text, "python"),
                code_ok(text),
                code_truncated(text, "python"),
                truncation_verdict(text, "docstring_to_code"),
                truncation_verdict(text),
            )
            analyses.append(codecheck._analyze.cache_info().misses - before)
            if got != ("python", "python", True, True, False, False, False):
                failures.append((unit["where"], name, got))
    assert not failures, failures[:5]
    # Seven calls on one text cost one analysis per task-type prior (with and without), never seven.
    assert max(analyses) <= 2, max(analyses)


def test_stdlib_whole_unit_is_one_unfenced_block():
    unit = next(u for u in _sample() if u["col"] >= 8)
    text = unit["forms"]["in_file"]
    assert code_blocks(text) == [CodeBlock("python", text, 0, len(text), False, True)]
    assert code_spans(text) == [(0, len(text))]


def test_stdlib_units_cut_in_their_last_third_are_truncated():
    """A cut that still parses (after a complete statement, inside a comment, mid-name) is complete code; every
    other cut is truncated, never a syntax error, and is still recognised as Python."""
    rng = random.Random(7)
    truncated = parses = wrong = 0
    examples = []
    for unit in _sample():
        forms = unit["forms"]
        text = forms.get("decorated_in_file") or forms["in_file"]
        cut = text[: rng.randrange(len(text) * 2 // 3, len(text))]
        verdict = truncation_verdict(cut, "docstring_to_code")
        if code_ok(cut, "python"):
            parses += 1
            ok = verdict is False and not code_truncated(cut, "python")
        else:
            truncated += 1
            ok = verdict is True and code_truncated(cut, "python") and looks_like_code(cut) == "python"
        if not ok:
            wrong += 1
            examples.append((unit["where"], cut[-80:], verdict))
    assert wrong <= 6, examples  # at most 1% (none measured)
    assert truncated / (truncated + parses) > 0.4  # about 55% of cuts no longer parse


def test_stdlib_syntax_errors_in_the_middle_are_not_truncation():
    rng = random.Random(11)
    units = [u for u in _sample() if u["forms"]["raw"].count("\n") >= 6][:250]
    flagged, tried = [], 0
    for unit in units:
        lines = unit["forms"]["raw"].split("\n")
        i = rng.randrange(1, len(lines) // 2)
        indent = re.match(r"[ \t]*", next(ln for ln in lines[i:] if ln.strip())).group()
        broken = "\n".join([*lines[:i], indent + "total = = 1", *lines[i:]])
        if code_ok(broken, "python"):
            continue  # the line went into a docstring
        tried += 1
        if code_truncated(broken, "python") or truncation_verdict(broken, "docstring_to_code") is not False:
            flagged.append(unit["where"])
    assert tried >= 150 and not flagged


# --- prose ------------------------------------------------------------------------------------------------------


def _is_plain_prose(paragraph: str) -> bool:
    """A docstring paragraph with no code in it: no indented lines (examples), no doctest, no operators."""
    if any(line[:1] in (" ", "\t") for line in paragraph.split("\n")):
        return False
    if re.search(r">>>|^\.\.\.|[=;{}`]|\bdef |\bclass |\bimport |^@|^#|\w\(|\w\[|->", paragraph, re.M):
        return False
    return len(paragraph.split()) >= 4


@lru_cache(maxsize=1)
def _docstring_prose() -> list[str]:
    paragraphs = []
    for path in sorted(STDLIB.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                doc = ast.get_docstring(node)
                if doc:
                    paragraphs += [p.strip() for p in re.split(r"\n\s*\n", doc) if _is_plain_prose(p.strip())]
    return random.Random(3).sample(paragraphs, 300)


CHINESE = [
    "複利是指利息再計入本金，下一期一併計息。",
    "请按以下步骤操作：\n1. 打开设置\n2. 选择账户\n3. 点击保存",
    "注意：本基金不保证收益，投资前请详阅公开说明书。",
    "步骤如下:\n- 填写申请表\n- 上传身份证明\n- 等待审核",
    "第一步，登录网站；第二步，选择产品；第三步，确认付款。",
    "這個函數會回傳兩個數的和。",
    "结论：该方法在大多数情况下有效，但在边界条件下需要额外处理。",
    "問：什麼是指數型基金？\n答：指數型基金追蹤特定指數的表現。",
    "（一）申请人资格\n（二）申请流程\n（三）注意事项",
    "一、总则\n二、适用范围\n三、附则",
    "價格:新台幣 1,200 元(含稅)",
    "版本說明: 本次更新修正了登入問題。",
    "用法: 在命令行输入程序名称即可运行。",
    "参数说明:\n  name: 用户名称\n  age: 用户年龄",
    "返回值：如果成功则返回 True，否则返回 False。",
    "该函数接受两个参数(a 和 b)，并返回它们的乘积。",
    "例如: x = 3 时，结果为 9。",
    "今天天氣很好，我們去公園散步吧！",
    "请注意以下三点：第一，保持冷静；第二，及时报警；第三，保护现场。",
    "A：我想开户。\nB：好的，请出示证件。",
    "1）打开电脑 2）登录系统 3）导出报表",
    "如果你有任何问题，请联系客服；我们会尽快回复。",
    "該演算法的時間複雜度為 O(n log n)，空間複雜度為 O(n)。",
    "配置文件路径：/etc/app/config.yaml",
    "错误代码 404 表示页面不存在。",
    "表格如下：\n| 名称 | 数量 |\n| --- | --- |\n| 苹果 | 3 |",
    "首先{打开}应用，然后选择“设置”。",
    "小提示；可以使用快捷键 Ctrl+S 保存。",
    "总结:\n* 优点: 速度快\n* 缺点: 占用内存",
    "本产品适用于：家庭、办公室、学校。",
    "def 是 Python 中定义函数的关键字。",
    "答案是 42",
]

ENGLISH = [
    "Note: this is important.",
    "Note: important",
    "Steps:\n- open the app\n- click save",
    "1. Fill in the form\n2. Upload your ID\n3. Wait for approval",
    "Paris (France)",
    "Return (a // b, a % b).",
    "Warning: do not run this as root; it will fail.",
    "# Installation\n\nRun the installer and follow the prompts.",
    "| Name | Qty |\n|------|-----|\n| Apple | 3 |",
    "Hello world; the end",
    "The function returns x; otherwise it raises an error.",
    "In summary: yes.",
    "Answer: 42",
    "not bad",
    "hello",
    "Q: What is an index fund?\nA: A fund that tracks an index.",
    "Args:\n    x: the value\n    y: the other value",
    "Returns:\n    The sum of x and y.",
    "- a\n- b\n- c",
    "* one\n* two",
    "Example: foo(1, 2) returns 3.",
    "First {do this}; then {do that}; finally {stop}.",
    "If in doubt: ask. While waiting: relax.",
    "See [CHANGELOG.md](CHANGELOG.md).",
    "See the docs (below) for details.",
    "The ratio a/b (when b > 0) is defined; see section 2.",
]


def test_prose_is_never_code():
    prose = _docstring_prose() + CHINESE + ENGLISH
    assert len(prose) >= 350
    false_positives = [
        (task, text[:80])
        for text in prose
        for task in PROSE_TASKS
        if looks_like_code(text, task) is not None or truncation_verdict(text, task) is not None
    ]
    assert not false_positives  # 0 of 358 texts x 5 task types
    assert all(code_blocks(text) == [] for text in prose)
    assert all(code_spans(text) == [] for text in CHINESE + _docstring_prose())


# --- brace languages --------------------------------------------------------------------------------------------

SNIPPETS = {
    "javascript": """function debounce(fn, wait) {
  let timer = null;
  return function (...args) {
    clearTimeout(timer);
    timer = setTimeout(() => fn.apply(this, args), wait);
  };
}""",
    "typescript": """export function groupBy<T>(items: T[], key: (item: T) => string): Record<string, T[]> {
  const out: Record<string, T[]> = {};
  for (const item of items) {
    const k = key(item);
    (out[k] ??= []).push(item);
  }
  return out;
}""",
    "go": """func (s *Store) Get(key string) (string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.items[key]
	if !ok {
		return "", false
	}
	return v.value, true
}""",
    "java": """public static int binarySearch(int[] a, int key) {
    int lo = 0, hi = a.length - 1;
    while (lo <= hi) {
        int mid = (lo + hi) >>> 1;
        if (a[mid] < key) {
            lo = mid + 1;
        } else if (a[mid] > key) {
            hi = mid - 1;
        } else {
            return mid;
        }
    }
    return -(lo + 1);
}""",
    "rust": """pub fn word_count(text: &str) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_lowercase()).or_insert(0) += 1;
    }
    counts
}""",
    "c": """static size_t str_hash(const char *s) {
    size_t h = 5381;
    while (*s) {
        h = ((h << 5) + h) + (unsigned char)*s++;
    }
    return h;
}""",
    "cpp": """template <typename T>
std::vector<T> unique_sorted(std::vector<T> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
}""",
    "csharp": """public class Account
{
    public decimal Balance { get; private set; }

    public void Deposit(decimal amount)
    {
        if (amount <= 0) throw new ArgumentException("amount");
        Balance += amount;
    }
}""",
    "kotlin": """fun fizzBuzz(n: Int): List<String> {
    val out = mutableListOf<String>()
    for (i in 1..n) {
        out += when {
            i % 15 == 0 -> "FizzBuzz"
            i % 3 == 0 -> "Fizz"
            else -> i.toString()
        }
    }
    return out
}""",
}


@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_brace_language_snippets(language):
    code = SNIPPETS[language]
    nested = textwrap.indent(code, "        ")  # a member as it sits in its class
    for text in (code, nested):
        assert looks_like_code(text) == language
        assert code_ok(text, language) and code_ok(text)
        assert truncation_verdict(text) is False and truncation_verdict(text, "docstring_to_code") is False
    fenced = f"Here it is:\n\n```{language}\n{code}\n```\n"
    assert looks_like_code(fenced) == language and truncation_verdict(fenced, "faq_qa") is False
    assert truncation_verdict(fenced[: fenced.rindex("```")], "faq_qa") is True  # the closing fence is missing
    # Every cut in the last third is truncated; a syntax error inside is not.
    for end in range(len(code) * 2 // 3, len(code) - 1, 3):
        cut = code[:end]
        assert truncation_verdict(cut, "docstring_to_code") is True, cut[-40:]
        assert code_truncated(cut, language) and not code_ok(cut, language)
    lines = code.split("\n")
    for i in range(1, len(lines) // 2 + 1):
        for bad in ("  x = = 1;", "  @@ ;"):
            broken = "\n".join([*lines[:i], bad, *lines[i:]])
            assert not code_ok(broken, language) and not code_truncated(broken, language)
            assert truncation_verdict(broken, "docstring_to_code") is not True


# Class members as the extractor cuts them out of their class: they parse only inside a class body.
MEMBERS = {
    "typescript": "async fetchUser(id: string): Promise<User> {\n    const res = await this.http.get<User>(`/u/${id}`);"
    "\n    return res.data;\n  }",
    "javascript": "static from(obj) {\n    return new Point(obj.x, obj.y);\n  }",
    "java": '@Override\n    public String toString() {\n        return "Point(" + x + ", " + y + ")";\n    }',
    "csharp": 'public override string ToString()\n        {\n            return $"{X}, {Y}";\n        }',
    "kotlin": 'override fun toString(): String = "Point($x, $y)"',
    "cpp": "int size() const noexcept {\n        return static_cast<int>(items_.size());\n    }",
}


@pytest.mark.parametrize("language", sorted(MEMBERS))
def test_class_members_are_complete_code(language):
    code = MEMBERS[language]
    assert looks_like_code(code, "method_with_context") == language
    assert code_ok(code, language) and truncation_verdict(code, "method_with_context") is False
    cut = code[: len(code) - 8]
    assert code_truncated(cut, language) and not code_ok(cut, language)


# --- blocks, spans, verdicts --------------------------------------------------------------------------------------


def test_code_blocks_fences():
    text = "Intro\n```python\nx = 1\n```\nand\n~~~js\nlet a = 1;\n~~~\nthen\n```\nplain\n```\n"
    blocks = code_blocks(text)
    assert [(b.language, b.code, b.fenced, b.closed) for b in blocks] == [
        ("python", "x = 1", True, True),
        ("javascript", "let a = 1;", True, True),
        (None, "plain", True, True),
    ]
    assert all(text[b.start : b.end] == b.code for b in blocks)
    unclosed = "Try:\n```py\nfor i in range(3):\n    print(i)\n"
    (block,) = code_blocks(unclosed)
    assert (block.language, block.closed, block.end) == ("python", False, len(unclosed))
    assert block.code == "for i in range(3):\n    print(i)\n"
    nested = "````md\n```python\nx = 1\n```\n````"
    assert [(b.language, b.code) for b in code_blocks(nested)] == [("md", "```python\nx = 1\n```")]
    assert code_blocks("A sentence about code.") == []


def test_code_spans():
    inline = "Run `ping 8.8.8.8` and wait."
    assert [inline[s:e] for s, e in code_spans(inline)] == ["`ping 8.8.8.8`"]
    fenced = "See:\n```python\nHOST = '8.8.8.8'\n```\nDone."
    assert [fenced[s:e] for s, e in code_spans(fenced)] == ["```python\nHOST = '8.8.8.8'\n```"]
    indented = "Config:\n\n    server = 8.8.8.8\n    port = 53\n\nDone."
    assert [indented[s:e] for s, e in code_spans(indented)] == ["    server = 8.8.8.8\n    port = 53"]
    listed = "- call the office\n\n    then ask the front desk for the visitor badge, please."
    assert code_spans(listed) == []
    assert code_spans("```text\nplain words 8.8.8.8\n```") == []
    short = "return '8.8.8.8'"  # code only for a code task
    assert code_spans(short) == [] and code_spans(short, "docstring_to_code") == [(0, len(short))]


def test_truncation_verdicts():
    assert truncation_verdict("```python\nx = 1\n```", "faq_qa") is False
    assert truncation_verdict("Here:\n```python\nx = 1\n```\nThis sets x", "faq_qa") is None  # prose decides
    assert truncation_verdict("```python\nx = compute(1,\n", "faq_qa") is True
    assert truncation_verdict("```text\nhello\n```", "faq_qa") is None
    assert truncation_verdict("An index fund tracks an index.", "docstring_to_code") is None
    method = "def area(self):\n        return self.width * self.height"
    assert truncation_verdict(method, "docstring_to_code") is False
    assert truncation_verdict("def area(self):\n        return self.width * self.", "docstring_to_code") is True
    assert truncation_verdict("def area(self):\n        return self.width * se", "docstring_to_code") is False
    assert truncation_verdict("def area(self):\n        return (self.width", "docstring_to_code") is True
    assert truncation_verdict('def doc(self):\n        """Return the', "docstring_to_code") is True
    assert truncation_verdict("    @property\n    def area(self):\n        return 1", "method_with_context") is False
    assert truncation_verdict("    @property\n    async def area(self):", "method_with_context") is True
