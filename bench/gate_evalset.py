"""Build the quality gate's labelled evaluation set: real clean rows, and defects made from them.

    .venv/bin/python bench/gate_evalset.py [--out out/gate_eval] [--per-class 100] [--seed 20250101]

Writes ``out/gate_eval/{dev,test}.jsonl`` (InstructionRecord rows plus ``label``, ``method``,
``derived_from``, ``source_group`` and ``tags``) and ``manifest.json`` (sources, counts). docs/GATE_EVAL.md
explains the design; in short:

* Clean rows come from outside text fetched from the package registries at build time (cached under
  ``out/gate_eval_src``): the Debian Reference in English, Traditional and Simplified Chinese (parallel pages,
  aligned by section id), the Python documentation, and real code (the Python standard library, PyPI wheels,
  an npm package, Debian Go packages) read by the project's own extractor. The instruction templates, in
  several phrasings per language, are written here; the answers are the real text.
* Defects are made from clean rows by several independent methods per class (the ``method`` column), and are
  never derived from the gate's own patterns: refusals come from a small grammar, mojibake from real
  encode/decode round trips, wrong-language answers from the parallel translation or OpenCC, and so on.
* The split is by source: a documentation section or a code unit, and every row made from it (translations
  and defects included), goes to dev or test by a seeded hash of its key. Tune on dev, report on test.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import unicodedata
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synth.records import make_record  # noqa: E402

CACHE = ROOT / "out" / "gate_eval_src"
OUT = ROOT / "out" / "gate_eval"
SEED = 20250101
CREATED_AT = "2025-01-01T00:00:00Z"  # fixed, so a rebuild from the same sources is byte-identical
LANGS = ("en", "zh-Hant", "zh-Hans")
DEB_LANG = {"en": "en", "zh-Hant": "zh-tw", "zh-Hans": "zh-cn"}
APT = [
    "debian-reference-en",
    "debian-reference-zh-tw",
    "debian-reference-zh-cn",
    "python3.11-doc",
    "golang-github-pkg-errors-dev",
    "golang-github-google-uuid-dev",
]
# Pinned, so the set is the same wherever it is rebuilt (PyPI and npm keep old versions).
PYPI = ["boltons==26.2.0", "more-itertools==11.2.1", "opencc-purepy==1.5.0"]
NPM = ["lodash-es@4.18.1"]
# Standard-library modules read for code rows: good docstrings, and methods nested in classes (deep indents).
STDLIB = [
    "argparse.py", "textwrap.py", "shlex.py", "difflib.py", "fractions.py", "statistics.py", "heapq.py",
    "bisect.py", "fnmatch.py", "glob.py", "configparser.py", "ipaddress.py", "urllib/parse.py", "base64.py",
    "calendar.py", "csv.py", "string.py", "functools.py", "dataclasses.py", "enum.py", "email/utils.py",
    "json/encoder.py", "json/decoder.py", "http/cookies.py", "shutil.py", "tempfile.py", "random.py",
    "unittest/case.py", "unittest/mock.py", "logging/__init__.py", "collections/__init__.py", "contextlib.py",
    "inspect.py", "tarfile.py", "zipfile.py", "pprint.py", "typing.py", "xml/dom/minidom.py", "tokenize.py",
    # methods inside platform branches and nested classes: 8-12 spaces deep at source
    "subprocess.py", "pstats.py", "pydoc.py", "selectors.py", "os.py", "importlib/resources/_adapters.py",
    "multiprocessing/managers.py", "ftplib.py", "imaplib.py", "webbrowser.py", "asyncio/events.py",
]  # fmt: skip
HAN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
LATIN_RE = re.compile(r"[A-Za-z]")


# ================================================================================================ sources


def _run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)


def fetch_sources(cache: Path = CACHE) -> dict[str, list[str]]:
    """Download (once) and unpack every outside source; returns the archive names, versions included."""
    got: dict[str, list[str]] = {"apt": [], "pypi": [], "npm": []}
    deb, pypi, npm, unpacked = cache / "deb", cache / "pypi", cache / "npm", cache / "x"
    for d in (deb, pypi, npm, unpacked):
        d.mkdir(parents=True, exist_ok=True)
    for pkg in APT:
        if not list(deb.glob(f"{pkg}_*.deb")):
            try:
                _run(["apt-get", "download", pkg], deb)
            except (subprocess.CalledProcessError, FileNotFoundError):
                print(f"  (apt-get download {pkg} failed: that source is left out)", file=sys.stderr)
                continue
        for f in deb.glob(f"{pkg}_*.deb"):
            marker = unpacked / f".{f.name}.done"
            if not marker.exists():
                _run(["dpkg-deb", "-x", str(f), str(unpacked)], cache)
                marker.touch()
            got["apt"].append(f.name)
    for spec in PYPI:
        name = spec.split("==")[0].replace("-", "_")
        if not list(pypi.glob(f"{name}-*.whl")):
            _run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(pypi), spec], cache)
        for whl in pypi.glob(f"{name}-*.whl"):
            target = pypi / whl.name.removesuffix(".whl")
            if not target.exists():
                zipfile.ZipFile(whl).extractall(target)
            got["pypi"].append(whl.name)
    for spec in NPM:
        stem = spec.split("@")[0]
        if not list(npm.glob(f"{stem}-*.tgz")):
            _run(["npm", "pack", "--silent", spec], npm)
        for tgz in npm.glob(f"{stem}-*.tgz"):
            target = npm / tgz.name.removesuffix(".tgz")
            if not target.exists():
                target.mkdir()
                _run(["tar", "xzf", str(tgz), "-C", str(target)], npm)
            got["npm"].append(tgz.name)
    return got


# ================================================================================================ passages


@dataclass
class Section:
    """One documentation section in up to three languages: the unit that goes to one split whole."""

    key: str
    url: dict[str, str]
    chapter: dict[str, str]
    title: dict[str, str]
    doc: dict[str, str] = field(default_factory=dict)  # the work's name, as templates cite it
    paras: list[dict[str, tuple[str, list[str]]]] = field(default_factory=list)  # lang -> (text, literals)
    lists: list[dict[str, list[str]]] = field(default_factory=list)
    tables: list[dict[str, tuple[str, list[list[str]]]]] = field(default_factory=list)  # lang -> (caption, rows)
    screens: list[str] = field(default_factory=list)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def in_language(text: str, lang: str) -> bool:
    """True when ``text`` is really written in ``lang`` (the Chinese pages keep some paragraphs untranslated)."""
    han, latin = len(HAN_RE.findall(text)), len(LATIN_RE.findall(text))
    if lang == "en":
        return han == 0 and latin >= 20
    return han >= 10 and han >= 0.3 * (han + latin)


def short_in_language(text: str, lang: str) -> bool:
    """The same test for a title or caption: a few Han characters (Chinese) or none (English)."""
    han = len(HAN_RE.findall(text))
    return han == 0 and bool(LATIN_RE.search(text)) if lang == "en" else han >= 2


def _usable(text: str) -> bool:
    """A paragraph that stands alone as an answer: not one that introduces the block after it."""
    return 30 <= len(text) <= 1500 and not text.endswith((":", "：")) and "[" not in text[:1]


def _title(el) -> str:  # noqa: ANN001 - lxml element
    heads = el.xpath("./div[@class='titlepage']//h1|./div[@class='titlepage']//h2|./div[@class='titlepage']//h3"
                     "|./div[@class='titlepage']//h4|./div[@class='titlepage']//h5")  # fmt: skip
    text = squash(heads[0].text_content()) if heads else ""
    return re.sub(r"^[0-9A-Z]+(\.[0-9]+)*\.\s*", "", text)


def load_debian_reference(root: Path) -> list[Section]:
    """Sections of the Debian Reference aligned across en / zh-tw / zh-cn by their anchor ids.

    Paragraphs and lists are aligned by position inside the section, and only where the three pages have the
    same count (a translator who split a paragraph would otherwise shift every pair after it).
    """
    import lxml.html

    sections: list[Section] = []
    for en_file in sorted(root.glob("*.en.html")):
        stem = en_file.name.removesuffix(".en.html")
        pages = {}
        for lang, suffix in DEB_LANG.items():
            f = root / f"{stem}.{suffix}.html"
            if f.exists():
                pages[lang] = lxml.html.parse(str(f)).getroot()
        if len(pages) < 3:
            continue
        chapter = {lang: squash(p.findtext(".//title") or "") for lang, p in pages.items()}
        by_id = {lang: {_anchor(s): s for s in p.xpath("//div[@class='section']")} for lang, p in pages.items()}
        for sid in by_id["en"]:
            if not sid or not all(sid in by_id[lang] for lang in LANGS):
                continue
            els = {lang: by_id[lang][sid] for lang in LANGS}
            sec = Section(
                key=f"debref:{stem}:{sid}",
                url={
                    lang: f"https://www.debian.org/doc/manuals/debian-reference/{stem}.{DEB_LANG[lang]}.html#{sid}"
                    for lang in LANGS
                },  # fmt: skip
                chapter=chapter,
                title={lang: _title(e) for lang, e in els.items()},
                doc={"en": "the Debian Reference", "zh-Hant": "《Debian 參考手冊》", "zh-Hans": "《Debian 参考手册》"},
            )
            paras = {lang: e.xpath("./p") for lang, e in els.items()}
            if len({len(v) for v in paras.values()}) == 1:
                for i in range(len(paras["en"])):
                    sec.paras.append({lang: _para(paras[lang][i]) for lang in LANGS})
            lists = {lang: e.xpath("./div[@class='itemizedlist' or @class='orderedlist']") for lang, e in els.items()}
            if len({len(v) for v in lists.values()}) == 1:
                for i in range(len(lists["en"])):
                    sec.lists.append({lang: [squash(li.text_content()) for li in lists[lang][i].xpath("./*/li")]
                                      for lang in LANGS})  # fmt: skip
            tables = {lang: {_anchor(t): t for t in e.xpath("./div[@class='table']")} for lang, e in els.items()}
            for tid in tables["en"]:
                if tid and all(tid in tables[lang] for lang in LANGS):
                    sec.tables.append({lang: _table(tables[lang][tid]) for lang in LANGS})
            sec.screens = [p.text_content().strip("\n") for p in els["en"].xpath("./pre[@class='screen']")]
            sections.append(sec)
    return sections


def _anchor(el) -> str:  # noqa: ANN001
    ids = el.xpath("./a[@id]/@id|./div[@class='titlepage']//a[@id]/@id")
    return ids[0] if ids else ""


def _para(p) -> tuple[str, list[str]]:  # noqa: ANN001
    literals = []
    for c in p.xpath(".//code"):
        t = squash(c.text_content())
        if 2 <= len(t) <= 40 and t not in literals:
            literals.append(t)
    return squash(p.text_content()), literals


def _table(div) -> tuple[str, list[list[str]]]:  # noqa: ANN001
    caption = squash(" ".join(div.xpath("./p[@class='title']//text()")))
    caption = re.sub(r"^(Table|表格|表)\s*[0-9.]+\s*", "", caption)
    rows = [[squash(c.text_content()) for c in tr.xpath("./th|./td")] for tr in div.xpath(".//tr")]
    return caption, [r for r in rows if r and any(r)]


def load_python_docs(root: Path, limit: int = 700) -> list[Section]:
    """English-only sections of the Python documentation (curly quotes, ellipses and accented names included)."""
    import lxml.html

    sections = []
    for f in (
        sorted(root.glob("tutorial/*.html"))
        + sorted(root.glob("howto/*.html"))
        + sorted(root.glob("faq/*.html"))
        + sorted(root.glob("whatsnew/3.1*.html"))
    ):
        page = lxml.html.parse(str(f)).getroot()
        rel = f.relative_to(root).as_posix()
        chapter = squash((page.findtext(".//title") or "").split("—")[0])
        for s in page.xpath("//section[@id]"):
            heads = s.xpath("./h1|./h2|./h3|./h4")
            title = squash(heads[0].text_content()).rstrip("¶").strip() if heads else ""
            title = re.sub(r"^[0-9]+(\.[0-9]+)*\.?\s+", "", title)
            sec = Section(
                key=f"pydoc:{rel}#{s.get('id')}",
                url={"en": f"https://docs.python.org/3.11/{rel}#{s.get('id')}"},
                chapter={"en": chapter},
                title={"en": title},
                doc={"en": "the Python documentation"},
            )
            for p in s.xpath("./p"):
                sec.paras.append({"en": _para(p)})
            if sec.paras:
                sections.append(sec)
    sections.sort(key=lambda s: _h(s.key))
    return sections[:limit]


# ================================================================================================ code units


def git_snapshot(src_files: Iterable[tuple[Path, str]], repo: Path) -> Path:
    """A one-commit git repository of the given files (the extractor reads checkouts, not folders)."""
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    for src, rel in src_files:
        dst = repo / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    env = {**os.environ, "GIT_AUTHOR_DATE": CREATED_AT, "GIT_COMMITTER_DATE": CREATED_AT}
    for cmd in (["init", "-q"], ["add", "-A"], ["-c", "user.name=eval", "-c", "user.email=eval@localhost",
                                                  "commit", "-qm", "snapshot"]):  # fmt: skip
        subprocess.run(["git", *cmd], cwd=repo, check=True, env=env, capture_output=True)
    return repo


def code_repos(cache: Path = CACHE) -> dict[str, Path]:
    """label -> git snapshot: stdlib subset, PyPI wheels, an npm package and Debian Go packages."""
    work = cache / "repos"
    repos: dict[str, Path] = {}
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [(stdlib / m, m) for m in STDLIB if (stdlib / m).exists()] + [(stdlib / "LICENSE.txt", "LICENSE.txt")]
    repos[f"python-stdlib-{sys.version.split()[0]}"] = git_snapshot(files, work / "stdlib")
    for spec in PYPI[:2]:
        name = spec.split("==")[0].replace("-", "_")
        for unpacked in (cache / "pypi").glob(f"{name}-*"):
            if unpacked.is_dir():
                files = [(p, p.relative_to(unpacked).as_posix()) for p in unpacked.rglob("*") if p.is_file()]
                repos[f"pypi:{spec}"] = git_snapshot(files, work / name)
    for spec in NPM:
        for unpacked in (cache / "npm").glob(f"{spec.split('@')[0]}-*"):
            if unpacked.is_dir():
                pkg = unpacked / "package"
                files = [(p, p.relative_to(pkg).as_posix()) for p in pkg.rglob("*") if p.is_file()]
                repos[f"npm:{spec}"] = git_snapshot(files, work / "npm")
    gocode = cache / "x" / "usr" / "share" / "gocode" / "src"
    if gocode.exists():
        files = [(p, p.relative_to(gocode).as_posix()) for p in gocode.rglob("*") if p.is_file()]
        repos["deb:golang-github-pkg-errors-dev+golang-github-google-uuid-dev"] = git_snapshot(files, work / "go")
    return repos


def load_code_units(repos: dict[str, Path]) -> list[dict]:
    """CodeUnit rows from the project's extractor, each with its repo label and source indentation."""
    from crawlers.code.extract import extract_repos
    from crawlers.code.filters import FilterConfig

    # Relaxed: two-line bodies and constructors are fine for an eval set; a docstring is still required.
    cfg = FilterConfig(min_body_lines=2, drop_boilerplate=False)
    labels = {str(p): label for label, p in repos.items()}
    units = extract_repos(list(labels), cfg=cfg, workers=1)
    rows = []
    for u in units.to_dict("records"):
        if u["kind"] == "class" or not u["docstring"].strip():
            continue
        lines = (Path(u["repo"]) / u["path"]).read_text("utf-8", "replace").split("\n")
        src_line = lines[u["start_line"] - 1]
        u["indent"] = len(src_line) - len(src_line.lstrip(" \t"))
        u["label"] = labels[u["repo"]]
        # The extractor's unit starts at `def`; the source's decorators above it belong to the function.
        decorators, k = [], u["start_line"] - 2
        while u["language"] == "python" and k >= 0 and lines[k].strip().startswith("@"):
            decorators.insert(0, lines[k][u["indent"] :])
            k -= 1
        u["decorators"] = decorators
        rows.append(u)
    return rows


# ================================================================================================ templates

# Several phrasings per language. "{chapter}", "{title}" etc. are filled from the source.
T: dict[str, dict[str, list[str]]] = {
    "section_qa": {
        "en": [
            'Based on the article "{chapter}", explain: {title}',
            "What does {doc} say about {title}?",
            "Explain {title}, as described in {chapter}.",
        ],
        "zh-Hant": [
            "根據〈{chapter}〉一文，請說明「{title}」。",
            "《{chapter}》中關於「{title}」的說明是什麼？",
            "請解釋「{title}」。",
        ],
        "zh-Hans": [
            "根据〈{chapter}〉一文，请说明「{title}」。",
            "《{chapter}》中关于“{title}”的说明是什么？",
            "请解释“{title}”。",
        ],
    },
    "passage_qa": {
        "en": [
            "According to the passage, what is the main point about {title}?",
            "Read the passage and answer: what does it say first about {title}?",
        ],
        "zh-Hant": [
            "根據這段文字，關於「{title}」最主要的一點是什麼？",
            "閱讀以下段落，回答：它首先說明了「{title}」的哪一點？",
        ],
        "zh-Hans": [
            "根据这段文字，关于“{title}”最主要的一点是什么？",
            "阅读以下段落，回答：它首先说明了“{title}”的哪一点？",
        ],
    },
    "summarize": {
        "en": [
            "Summarize the following section in a few sentences.",
            "Give a short summary of this text.",
            "TL;DR of the passage below, please.",
        ],
        "zh-Hant": ["請用幾句話摘要以下內容。", "為這段文字寫一個簡短摘要。", "請概括下面這一節的重點。"],
        "zh-Hans": ["请用几句话总结以下内容。", "为这段文字写一个简短摘要。", "请概括下面这一节的要点。"],
    },
    "bullets": {
        "en": ["Rewrite the passage as a bulleted list of its key points.", "Turn this paragraph into a list."],
        "zh-Hant": ["把這段文字改寫成條列式重點。", "請將下列段落整理成清單。"],
        "zh-Hans": ["把这段文字改写成条列式要点。", "请将下列段落整理成清单。"],
    },
    "title": {
        "en": ["Give this paragraph a short heading.", "Suggest a title for the following text."],
        "zh-Hant": ["為這段文字下一個簡短的標題。", "請替下列段落擬一個標題。"],
        "zh-Hans": ["为这段文字起一个简短的标题。", "请给下列段落拟一个标题。"],
    },
    "yes_no": {
        "en": [
            "Does the passage mention `{term}`? Answer Yes or No.",
            "Is `{term}` mentioned in the text below? Reply with yes or no.",
        ],
        "zh-Hant": ["這段文字有沒有提到「{term}」？", "下文是否提及 {term}？只需回答是或否。"],
        "zh-Hans": ["这段文字有没有提到“{term}”？", "下文是否提及 {term}？只需回答是或否。"],
    },
    "multiple_choice": {
        "en": ["Which of these appears in the passage?\n{options}\nAnswer with the letter only."],
        "zh-Hant": ["下列哪一項出現在這段文字中？\n{options}\n只回答選項字母。"],
        "zh-Hans": ["下列哪一项出现在这段文字中？\n{options}\n只回答选项字母。"],
    },
    "extract_json": {
        "en": [
            'Extract every command, file name and package name in the passage as JSON: {{"{key}": [...]}}.',
            'List the code literals in the text as a JSON object with the key "{key}".',
        ],
        "zh-Hant": [
            '請把段落中的指令、檔名與套件名稱抽取成 JSON，格式為 {{"{key}": [...]}}。',
            "將文中出現的程式字面值輸出為 JSON 物件，鍵名為 {key}。",
        ],
        "zh-Hans": [
            '请把段落中的命令、文件名与软件包名称抽取成 JSON，格式为 {{"{key}": [...]}}。',
            "将文中出现的代码字面值输出为 JSON 对象，键名为 {key}。",
        ],
    },
    "letter": {
        "en": [
            "Write a short email to {to} recommending the section “{title}” of {doc}. Sign it as {name}.",
            "Draft a brief note to {to} about {title}; end with your name, {name}.",
        ],
        "zh-Hant": [
            "請寫一封簡短的電子郵件給{to}，推薦{doc}的「{title}」一節，署名{name}。",
            "幫我寫封信給{to}，介紹「{title}」，最後署名{name}。",
        ],
        "zh-Hans": [
            "请写一封简短的电子邮件给{to}，推荐{doc}的“{title}”一节，署名{name}。",
            "帮我写封信给{to}，介绍“{title}”，最后署名{name}。",
        ],
    },
    "translate": {  # (instruction language) -> phrasing with {target} / {source}
        "en": ["Translate the following paragraph into {target}.", "Please render this {source} text in {target}."],
        "zh-Hant": ["請將下列段落翻譯成{target}。", "把這段{source}翻成{target}。"],
        "zh-Hans": ["请将下列段落翻译成{target}。", "把这段{source}翻成{target}。"],
    },
    "list_answer": {
        "en": ["List the points made in the section “{title}”.", "What are the items listed under {title}?"],
        "zh-Hant": ["列出「{title}」一節提到的要點。", "「{title}」這一節列了哪些項目？"],
        "zh-Hans": ["列出“{title}”一节提到的要点。", "“{title}”这一节列了哪些项目？"],
    },
    "list_count": {
        "en": ["How many items does the following list have? Reply with a number."],
        "zh-Hant": ["下面的清單共有幾項？請只回答數字。"],
        "zh-Hans": ["下面的清单共有几项？请只回答数字。"],
    },
    "table_md": {
        "en": ["Show {which} of the table “{caption}” as a Markdown table."],
        "zh-Hant": ["請以 Markdown 表格呈現「{caption}」{which}。"],
        "zh-Hans": ["请以 Markdown 表格呈现“{caption}”{which}。"],
    },
    "table_json": {
        "en": ["Convert {which} of the table “{caption}” to a JSON array of objects keyed by the column headers."],
        "zh-Hant": ["把「{caption}」{which}轉成 JSON 陣列，每列一個物件，以欄位標題為鍵。"],
        "zh-Hans": ["把“{caption}”{which}转成 JSON 数组，每行一个对象，以列标题为键。"],
    },
    "table_lookup": {
        "en": ["In the table “{caption}”, what is the {col} for {row}? Give only the value."],
        "zh-Hant": ["在「{caption}」表中，{row} 的「{col}」是什麼？只回答值。"],
        "zh-Hans": ["在“{caption}”表中，{row} 的“{col}”是什么？只回答值。"],
    },
    "screen": {
        "en": ["Show an example terminal session for “{title}”.", "How do I do this from the shell: {title}?"],
        "zh-Hant": ["請示範「{title}」的終端機操作範例。", "在命令列上怎麼做「{title}」？"],
        "zh-Hans": ["请演示“{title}”的终端操作示例。", "在命令行上怎么做“{title}”？"],
    },
    "code_generation": {
        "en": [
            "Implement the {language} {kind} `{signature}`: {doc}",
            "Write {language} code for `{name}`. {doc}",
            "Implement the {language} {kind} `{signature}` as described below.\n\n{doc}",
        ],
        "zh-Hant": [
            "請用 {language} 實作 `{signature}`：{doc}",
            "撰寫一個 {language} {kind}「{name}」，功能如下：{doc}",
        ],
        "zh-Hans": ["请用 {language} 实现 `{signature}`：{doc}", "编写一个 {language} {kind}“{name}”，功能如下：{doc}"],
    },
    "code_explanation": {
        "en": ["Explain what this {language} {kind} does.", "What does the following {language} code do?"],
        "zh-Hant": ["請說明這個 {language} {kind} 的功能。"],
        "zh-Hans": ["请说明这个 {language} {kind} 的功能。"],
    },
}
LANG_NAMES = {
    "en": {"en": "English", "zh-Hant": "Traditional Chinese", "zh-Hans": "Simplified Chinese"},
    "zh-Hant": {"en": "英文", "zh-Hant": "繁體中文", "zh-Hans": "簡體中文"},
    "zh-Hans": {"en": "英文", "zh-Hant": "繁体中文", "zh-Hans": "简体中文"},
}
NAMES = {
    "en": ["Alice Chen", "David Wu", "Maria Lopez", "Tom Becker", "Priya Nair", "Kenji Sato"],
    "zh-Hant": ["陳志明", "林雅婷", "王建宏", "張淑芬", "黃冠宇", "李佩珊"],
    "zh-Hans": ["王小红", "刘建国", "陈静", "赵磊", "孙丽娜", "周杰"],
}
RECIPIENTS = {
    "en": ["a colleague", "the new intern", "my team lead", "a friend who is learning Linux"],
    "zh-Hant": ["同事", "新來的實習生", "組長", "正在學 Linux 的朋友"],
    "zh-Hans": ["同事", "新来的实习生", "组长", "正在学 Linux 的朋友"],
}
LETTER = {
    "en": ("Hi {greet},\n\nI'd recommend reading “{title}” in {doc}. {gist}\n\n{close},\n{name}",
           ["there", "all", "team"], ["Best regards", "Cheers", "Thanks", "Best"]),
    "zh-Hant": ("{greet}您好：\n\n推薦您閱讀{doc}的「{title}」一節。{gist}\n\n{close}\n{name}",
                ["", "各位", "學長"], ["祝 順心", "敬祝 工作順利", "謝謝", "祝好"]),
    "zh-Hans": ("{greet}你好：\n\n推荐你阅读{doc}的“{title}”一节。{gist}\n\n{close}\n{name}",
                ["", "各位", "老师"], ["祝 顺利", "此致\n敬礼", "谢谢", "祝好"]),
}  # fmt: skip
# Per yes/no template (same order as T["yes_no"]): the answer words that template asks for.
YES_NO = {"en": [("Yes", "No"), ("yes", "no")], "zh-Hant": [("有", "沒有"), ("是", "否")],
          "zh-Hans": [("有", "没有"), ("是", "否")]}  # fmt: skip
CODE_LANG = {"python": "Python", "javascript": "JavaScript", "go": "Go"}
KIND = {"en": {"function": "function", "method": "method"}, "zh-Hant": {"function": "函式", "method": "方法"},
        "zh-Hans": {"function": "函数", "method": "方法"}}  # fmt: skip


# ================================================================================================ clean rows


@dataclass
class Row:
    """A record under construction; ``parallel`` holds the same answer in the other languages, if any."""

    instruction: str
    output: str
    task_type: str
    language: str
    source_ref: str
    group: str
    method: str
    input: str = ""
    label: str = "clean"
    derived_from: str = ""
    tags: list[str] = field(default_factory=list)
    parallel: dict[str, str] = field(default_factory=dict)
    family: str = ""
    out_lang: str = ""  # the answer's language where it differs from the instruction's (translations)
    payload: str = ""  # PII rows: the value inserted, so a bench can tell whether scrubbing removed it

    @property
    def answer_lang(self) -> str:
        return self.out_lang or self.language

    def record(self) -> dict:
        rec = make_record(
            self.instruction,
            self.output,
            input=self.input,
            task_type=self.task_type,
            language=self.language,
            generator=f"eval:{self.method}",
            source_ref=self.source_ref,
            created_at=CREATED_AT,
        )
        tags = ",".join(sorted(set(self.tags)))
        return {**rec, "label": self.label, "method": self.method, "derived_from": self.derived_from,
                "source_group": self.group, "tags": tags, "payload": self.payload}  # fmt: skip

    @property
    def id(self) -> str:
        return make_record(self.instruction, self.output, input=self.input, task_type="x", language="en",
                           generator="x", source_ref="x", created_at=CREATED_AT)["id"]  # fmt: skip


def sentences(text: str, lang: str) -> list[str]:
    if lang == "en":
        parts = re.split(r"(?<=[.!?])\s+(?=[A-Z\"“(`])", text)
    else:
        parts = re.split(r"(?<=[。！？])\s*", text)
    return [p.strip() for p in parts if p.strip()]


def text_tags(text: str, lang: str) -> list[str]:
    """Traits of a legitimate answer that a gate might mistake for a defect (reported per tag)."""
    tags = []
    han, latin = len(HAN_RE.findall(text)), len(LATIN_RE.findall(text))
    if lang != "en" and latin and latin >= 0.25 * (han + latin):
        tags.append("mixed_script")
    if text and text.rstrip()[-1] not in '.!?。！？…"”」)）':
        tags.append("no_final_punct")
    if len(text.strip()) <= 12:
        tags.append("short")
    if re.search(r"[À-ɏ]", text):
        tags.append("diacritics")
    if "{" in text and "}" in text:
        tags.append("braces")
    return tags


def _pick(rng: random.Random, options: list[str]) -> str:
    return options[rng.randrange(len(options))]


def _fmt(template: str, **kw: str) -> str:
    return template.format(**kw)


class CleanBuilder:
    """Makes the clean rows of each source; every family is a method returning (instruction, input, output)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.all_literals: list[str] = []

    def rng(self, *key: object) -> random.Random:
        return random.Random(_h(f"{self.seed}|" + "|".join(map(str, key))))

    # --- documentation sections -------------------------------------------------------------------------
    def section_rows(self, sec: Section) -> list[Row]:
        rows: list[Row] = []
        langs = [lang for lang in LANGS if lang in sec.title]
        for i, para in enumerate(sec.paras):
            for lang in langs:
                text, _ = para[lang]
                if not (in_language(text, lang) and _usable(text)):
                    continue
                row = self._para_row(sec, i, lang)
                if row:
                    rows.append(row)
        for lang in langs:
            row = self._summary_row(sec, lang)
            if row:
                rows.append(row)
        for i, items in enumerate(sec.lists):
            for lang in langs:
                if all(items[lang]) and in_language(" ".join(items[lang]), lang) and 2 <= len(items[lang]) <= 15:
                    rows.append(self._list_row(sec, i, lang))
        for i in range(len(sec.tables)):
            for lang in langs:
                row = self._table_row(sec, i, lang)
                if row:
                    rows.append(row)
        for i, screen in enumerate(sec.screens):
            lang = LANGS[self.rng(sec.key, "screen", i).randrange(3)]
            if lang in langs and 20 <= len(screen) <= 1200 and sec.title.get(lang):
                rows.append(self._screen_row(sec, i, lang, screen))
        return rows

    PARA_FAMILIES = [("section_qa", 30), ("passage_qa", 10), ("bullets", 10), ("title", 5), ("yes_no", 7),
                     ("multiple_choice", 5), ("extract_json", 7), ("letter", 6), ("translate", 14)]  # fmt: skip

    def _para_row(self, sec: Section, i: int, lang: str) -> Row | None:
        rng = self.rng(sec.key, "para", i, lang)
        names, weights = zip(*self.PARA_FAMILIES, strict=True)
        order = rng.choices(names, weights, k=4) + ["section_qa"]
        for fam in order:
            v = rng.randrange(1000)
            made = getattr(self, f"p_{fam}")(sec, i, lang, v)
            if made is None:
                continue
            instruction, input_, output, task_type = made
            row = Row(instruction, output, task_type, lang, sec.url[lang], sec.key, f"clean_{fam}", input_,
                      tags=text_tags(output, lang), family=fam)  # fmt: skip
            if fam == "translate":
                row.out_lang = self.translation_pair(sec, i, lang, v)[1]
                row.tags.append("language_switch")
            if fam in ("section_qa", "bullets", "letter"):  # the same answer, built from the other pages
                for other in LANGS:
                    if other != lang and other in sec.title:
                        alt = getattr(self, f"p_{fam}")(sec, i, other, v)
                        if alt and in_language(sec.paras[i][other][0], other):
                            row.parallel[other] = alt[2]
            return row
        return None

    def p_section_qa(self, sec: Section, i: int, lang: str, v: int) -> tuple[str, str, str, str] | None:
        text, _ = sec.paras[i][lang]
        if not sec.title[lang]:
            return None
        title = sec.title[lang]
        if title.endswith(("?", "？")):  # the heading is already a question (the project's section_qa_question)
            return title, "", text, "section_qa"
        t = T["section_qa"][lang][v % len(T["section_qa"][lang])]
        return _fmt(t, chapter=sec.chapter[lang], title=title, doc=sec.doc[lang]), "", text, "section_qa"

    def p_passage_qa(self, sec: Section, i: int, lang: str, v: int) -> tuple[str, str, str, str] | None:
        text, _ = sec.paras[i][lang]
        sents = sentences(text, lang)
        if len(sents) < 3 or not sec.title[lang]:
            return None
        t = T["passage_qa"][lang][v % 2]
        answer = (" " if lang == "en" else "").join(sents[: 1 + v % 2])
        return _fmt(t, title=sec.title[lang].rstrip("?？")), text, answer, "doc_qa"

    def p_bullets(self, sec: Section, i: int, lang: str, v: int) -> tuple[str, str, str, str] | None:
        text, _ = sec.paras[i][lang]
        sents = sentences(text, lang)
        if len(sents) < 2:
            return None
        if v % 3 == 2:  # list items often drop their final stop
            sents = [s.rstrip("。.") for s in sents]
        marks = [f"{k}. " for k in range(1, len(sents) + 1)] if v % 2 else ["- "] * len(sents)
        out = "\n".join(m + s for m, s in zip(marks, sents, strict=True))
        return T["bullets"][lang][v % 2], text, out, "list_answer"

    def p_title(self, sec: Section, i: int, lang: str, v: int) -> tuple[str, str, str, str] | None:
        title = sec.title[lang]
        if not title or len(sec.paras) > 2 or not short_in_language(title, lang):
            return None
        return T["title"][lang][v % 2], sec.paras[i][lang][0], title, "title_generation"

    def p_yes_no(self, sec: Section, i: int, lang: str, v: int) -> tuple[str, str, str, str] | None:
        text, literals = sec.paras[i][lang]
        present = v % 2 == 0
        if present and literals:
            term = literals[v % len(literals)]
        else:
            absent = [t for t in self._distractors(v) if t not in text]
            if not absent:
                return None
            term, present = absent[0], False
        yes, no = YES_NO[lang][v % 2]
        if lang == "en" and v % 3 == 0:
            yes, no = yes + ".", no + "."
        t = T["yes_no"][lang][v % 2]
        return _fmt(t, term=term), text, yes if present else no, "closed_qa"

    def p_multiple_choice(self, sec: Section, i: int, lang: str, v: int) -> tuple[str, str, str, str] | None:
        text, literals = sec.paras[i][lang]
        wrong = [t for t in self._distractors(v) if t not in text][:3]
        if not literals or len(wrong) < 3:
            return None
        right = literals[v % len(literals)]
        options = wrong[:]
        options.insert(v % 4, right)
        letter = "ABCD"[v % 4]
        opts = "\n".join(f"{'ABCD'[k]}. {o}" for k, o in enumerate(options))
        answer = letter if v % 5 or lang == "en" else f"答案：{letter}"
        return _fmt(T["multiple_choice"][lang][0], options=opts), text, answer, "multiple_choice"

    def p_extract_json(self, sec: Section, i: int, lang: str, v: int) -> tuple[str, str, str, str] | None:
        text, literals = sec.paras[i][lang]
        if len(literals) < 2:
            return None
        key = ["terms", "literals", "items"][v % 3]
        body = json.dumps({key: literals}, ensure_ascii=False, indent=2 if v % 2 else None)
        if v % 5 == 0:
            body = f"```json\n{body}\n```"
        return _fmt(T["extract_json"][lang][v % 2], key=key), text, body, "extract_json"

    def p_letter(self, sec: Section, i: int, lang: str, v: int) -> tuple[str, str, str, str] | None:
        text, _ = sec.paras[i][lang]
        sents = sentences(text, lang)
        if not sents or not sec.title[lang] or len(sents[0]) > 400:
            return None
        name = NAMES[lang][v % len(NAMES[lang])]
        to = RECIPIENTS[lang][v % len(RECIPIENTS[lang])]
        body, greets, closes = LETTER[lang]
        out = body.format(greet=greets[v % len(greets)], title=sec.title[lang], gist=sents[0], doc=sec.doc[lang],
                          close=closes[v % len(closes)], name=name)  # fmt: skip
        instr = _fmt(T["letter"][lang][v % 2], to=to, title=sec.title[lang], name=name, doc=sec.doc[lang])
        return instr, "", out, "letter_writing"

    @staticmethod
    def translation_pair(sec: Section, i: int, lang: str, v: int) -> tuple[str, str] | None:
        """(source, target) languages: half the rows translate into the instruction's language, half out of it."""
        others = [o for o in LANGS if o != lang and o in sec.title and in_language(sec.paras[i][o][0], o)]
        if not others:
            return None
        other = others[v % len(others)]
        return (other, lang) if v % 2 else (lang, other)

    def p_translate(self, sec: Section, i: int, lang: str, v: int) -> tuple[str, str, str, str] | None:
        pair = self.translation_pair(sec, i, lang, v)
        if pair is None:
            return None
        source, target = pair
        names = LANG_NAMES[lang]
        t = T["translate"][lang][(v // 2) % 2]
        return (_fmt(t, source=names[source], target=names[target]), sec.paras[i][source][0],
                sec.paras[i][target][0], "translation")  # fmt: skip

    def _distractors(self, v: int) -> list[str]:
        pool = self.all_literals
        rng = random.Random(v)
        return rng.sample(pool, min(12, len(pool))) if pool else []

    def _summary_row(self, sec: Section, lang: str) -> Row | None:
        paras = [p[lang][0] for p in sec.paras if in_language(p[lang][0], lang) and _usable(p[lang][0])]
        rng = self.rng(sec.key, "summary", lang)
        if len(paras) < 2 or rng.random() < 0.5:
            return None
        # A lead summary: the first sentence of each of the first paragraphs (extractive, real sentences).
        leads = [sentences(p, lang)[0] for p in paras[:3]]
        v = rng.randrange(1000)
        out = leads[0]
        for lead in leads[1:]:  # Chinese sentences join without a space, unless one ends in ASCII
            out += (" " if lang == "en" or out[-1].isascii() else "") + lead
        return Row(T["summarize"][lang][v % 3], out, "summarization", lang, sec.url[lang], sec.key,
                   "clean_summarize", "\n\n".join(paras), tags=text_tags(out, lang), family="summarize")  # fmt: skip

    def _list_row(self, sec: Section, i: int, lang: str) -> Row:
        items = sec.lists[i][lang]
        rng = self.rng(sec.key, "list", i, lang)
        v = rng.randrange(1000)
        title = (sec.title[lang] or sec.chapter[lang]).rstrip("?？")
        if v % 4 == 0:
            listed = "\n".join(f"- {it}" for it in items)
            return Row(T["list_count"][lang][0], str(len(items)), "closed_qa", lang, sec.url[lang], sec.key,
                       "clean_list_count", listed, tags=["short", "no_final_punct"], family="list_count")  # fmt: skip
        marks = [f"{k}. " for k in range(1, len(items) + 1)] if v % 2 else ["* " if v % 3 else "- "] * len(items)
        out = "\n".join(m + it for m, it in zip(marks, items, strict=True))
        row = Row(_fmt(T["list_answer"][lang][v % 2], title=title), out, "list_answer", lang, sec.url[lang],
                  sec.key, "clean_list", tags=text_tags(out, lang) + ["list"], family="list")  # fmt: skip
        for other in LANGS:
            if other != lang and in_language(" ".join(sec.lists[i][other]), other):
                row.parallel[other] = "\n".join(m + it for m, it in zip(marks, sec.lists[i][other], strict=True))
        return row

    def _table_row(self, sec: Section, i: int, lang: str) -> Row | None:
        caption, rows = sec.tables[i][lang]
        if len(rows) < 3 or len({len(r) for r in rows}) != 1 or len(rows[0]) < 2 or not caption:
            return None
        if not short_in_language(caption, lang):
            return None
        rng = self.rng(sec.key, "table", i, lang)
        v = rng.randrange(1000)
        header, body = rows[0], rows[1:]
        n = min(len(body), 8)
        which = _which(lang, n, len(body))
        if v % 3 == 0:
            out = _markdown_table(header, body[:n])
            return Row(_fmt(T["table_md"][lang][0], caption=caption, which=which), out, "table", lang,
                       sec.url[lang], sec.key, "clean_table_md", tags=["table", "no_final_punct"],
                       family="table_md")  # fmt: skip
        if v % 3 == 1:
            objs = [dict(zip(header, r, strict=True)) for r in body[:n]]
            out = json.dumps(objs, ensure_ascii=False, indent=2 if v % 2 else None)
            return Row(_fmt(T["table_json"][lang][0], caption=caption, which=which), out, "extract_json", lang,
                       sec.url[lang], sec.key, "clean_table_json", tags=["json"], family="table_json")  # fmt: skip
        r = body[v % len(body)]
        col = 1 + v % (len(header) - 1)
        if not r[0] or not r[col] or len(r[col]) > 200 or sum(x[0] == r[0] for x in body) > 1:
            return None
        out = r[col]
        return Row(_fmt(T["table_lookup"][lang][0], caption=caption, row=r[0], col=header[col]), out, "closed_qa",
                   lang, sec.url[lang], sec.key, "clean_table_lookup", tags=text_tags(out, lang),
                   family="table_lookup")  # fmt: skip

    def _screen_row(self, sec: Section, i: int, lang: str, screen: str) -> Row:
        rng = self.rng(sec.key, "screen", i, lang)
        v = rng.randrange(1000)
        lead = {"en": "For example:\n\n", "zh-Hant": "範例如下：\n\n", "zh-Hans": "示例如下：\n\n"}[lang]
        out = (lead if v % 2 else "") + f"```console\n{screen}\n```"
        instr = _fmt(T["screen"][lang][v % 2], title=sec.title[lang].rstrip("?？"))
        tags = ["code_block", "mixed_script", "no_final_punct"]
        return Row(instr, out, "doc_qa", lang, sec.url[lang], sec.key, "clean_screen", tags=tags, family="screen")

    # --- code units ---------------------------------------------------------------------------------------
    def code_row(self, u: dict) -> Row | None:
        rng = self.rng("code", u["label"], u["path"], u["qualified_name"], u["start_line"])
        lang = LANGS[rng.randrange(3)]
        doc = _doc_summary(u["docstring"])
        if len(doc) < 15:
            return None
        language = CODE_LANG.get(u["language"], u["language"])
        kind = KIND[lang].get(u["kind"], u["kind"])
        sig = u["signature"].strip().splitlines()[0].strip().removeprefix("def ").removeprefix("async def ")
        sig = sig.rstrip(":{ ").strip()
        ref = f"{u['label']}@{u['commit']}:{u['path']}:{u['start_line']}-{u['end_line']}"
        group = f"code:{u['label']}:{u['path']}:{u['qualified_name']}"
        tags = [f"code_{u['language']}"]
        if u["indent"] >= 8:
            tags.append("deep_indent")
        code = "\n".join([*u["decorators"], u["code"]])
        if u["decorators"]:
            tags.append("decorator")
        if u["language"] == "python" and not _parses(code):
            return None  # Python's own parser is the reference: a unit it rejects is no clean example
        v = rng.randrange(1000)
        if v % 3:  # two thirds: docstring -> implementation
            t = T["code_generation"][lang][v % len(T["code_generation"][lang])]
            instr = _fmt(t, language=language, kind=kind, signature=sig, name=u["qualified_name"], doc=doc)
            return Row(instr, code, "code_generation", lang, ref, group, "clean_code_generation",
                       tags=tags + ["no_final_punct"], family="code")  # fmt: skip
        t = T["code_explanation"][lang][v % len(T["code_explanation"][lang])]
        instr = _fmt(t, language=language, kind=kind)
        if lang == "en":
            out = doc
        else:  # the project's rule-based answer: a Chinese frame around the (English) docstring
            frame = "`{n}` 是 `{p}` 中的 {l} {k}。{s}" if lang == "zh-Hant" else "`{n}` 是 `{p}` 中的 {l} {k}。{s}"
            out = frame.format(n=u["qualified_name"], p=u["path"], l=language, k=kind, s=doc)
            tags.append("mixed_script")
        return Row(instr, out, "code_explanation", lang, ref, group, "clean_code_explanation", code,
                   tags=tags + text_tags(out, lang), family="code")  # fmt: skip


def _doc_summary(doc: str) -> str:
    """The docstring's first paragraph, one line, JSDoc/Go tags dropped."""
    first = re.split(r"\n\s*\n", doc.strip())[0]
    first = "\n".join(line for line in first.splitlines() if not line.strip().startswith("@"))
    return squash(first)


def _which(lang: str, n: int, total: int) -> str:
    if n == total:
        return {"en": "all rows", "zh-Hant": "的全部內容", "zh-Hans": "的全部内容"}[lang]
    return {"en": f"the first {n} rows", "zh-Hant": f"的前 {n} 列", "zh-Hans": f"的前 {n} 行"}[lang]


def _markdown_table(header: list[str], body: list[list[str]]) -> str:
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return "\n".join([line(header), "| " + " | ".join("---" for _ in header) + " |", *map(line, body)])


# ================================================================================================ authored tricky rows
# Legitimate rows that look like defects: AI mentioned as a topic, apology letters that say "we are unable to",
# "I cannot stress enough", one-word answers. Built by a small grammar so they vary.

AI_QUESTIONS = {
    "en": ["What is a large language model?", "How do AI assistants decide when to decline a request?",
           "Explain what an AI language model can and cannot do.", "Why do chatbots sometimes apologize?"],
    "zh-Hant": ["什麼是大型語言模型？", "AI 助理為什麼有時會拒絕回答？", "請說明 AI 語言模型能做什麼、不能做什麼。",
                "聊天機器人為什麼常常道歉？"],
    "zh-Hans": ["什么是大型语言模型？", "AI 助手为什么有时会拒绝回答？", "请说明 AI 语言模型能做什么、不能做什么。",
                "聊天机器人为什么常常道歉？"],
}  # fmt: skip
AI_SENTENCES = {
    "en": ["A large language model is a neural network trained on large amounts of text to predict the next word.",
           "Such models can draft emails, summarize documents and answer questions, but they can also state wrong "
           "facts with confidence.",
           "Early chatbots often began answers with the phrase “As an AI language model”, which many users found "
           "repetitive.",
           "When a request is unsafe, an assistant is trained to say that it cannot help and to explain why.",
           "An AI model does not browse the web unless it is connected to a search tool.",
           "Apologies such as “I'm sorry, but I can't do that” are part of how assistants signal a refusal.",
           "Developers evaluate models on held-out test sets before releasing them.",
           "Language models learn statistical patterns; they do not look facts up in a database.",
           "Replies like “I cannot help with that” are how a chatbot declines, and users find them frustrating when "
           "the request was harmless.",
           "Fine-tuning adapts a general model to a narrower task with a few thousand examples.",
           "A model's answer can change if the same question is asked with different wording.",
           "Most assistants cannot remember earlier conversations unless that history is passed back to them."],
    "zh-Hant": ["大型語言模型是以大量文字訓練、用來預測下一個詞的神經網路。",
                "這類模型可以撰寫信件、摘要文件、回答問題，但也可能很有把握地說出錯誤的事實。",
                "早期的聊天機器人常以「作為一個 AI 語言模型」開頭，許多使用者覺得這種句式很制式。",
                "遇到不安全的請求時，助理會被訓練成說明自己無法協助，並解釋原因。",
                "除非連接了搜尋工具，AI 模型並不會自行瀏覽網路。",
                "像「抱歉，我無法回答這個問題」這樣的句子，是助理表示拒絕的常見方式。",
                "開發者在發布模型之前，會先用保留的測試集評估它。",
                "語言模型學到的是統計規律，並不是從資料庫中查詢事實。",
                "「我無法協助這個請求」之類的回覆是聊天機器人婉拒的方式，若請求本身無害，使用者常覺得很挫折。",
                "微調是用幾千筆範例，讓通用模型適應較窄的任務。",
                "同一個問題換個說法，模型的回答就可能不同。",
                "除非把先前的對話內容再傳給它，大多數助理並不記得之前的對話。"],
    "zh-Hans": ["大型语言模型是以大量文本训练、用来预测下一个词的神经网络。",
                "这类模型可以撰写邮件、总结文档、回答问题，但也可能很有把握地说出错误的事实。",
                "早期的聊天机器人常以“作为一个 AI 语言模型”开头，许多用户觉得这种句式很刻板。",
                "遇到不安全的请求时，助手会被训练成说明自己无法协助，并解释原因。",
                "除非连接了搜索工具，AI 模型并不会自行浏览网络。",
                "像“抱歉，我无法回答这个问题”这样的句子，是助手表示拒绝的常见方式。",
                "开发者在发布模型之前，会先用保留的测试集评估它。",
                "语言模型学到的是统计规律，并不是从数据库中查询事实。",
                "“我无法协助这个请求”之类的回复是聊天机器人婉拒的方式，如果请求本身无害，用户常觉得很沮丧。",
                "微调是用几千条示例，让通用模型适应较窄的任务。",
                "同一个问题换个说法，模型的回答就可能不同。",
                "除非把先前的对话内容再传给它，大多数助手并不记得之前的对话。"],
}  # fmt: skip
QUOTED_REFUSAL = {2, 5, 8}  # AI_SENTENCES that quote a refusal or "as an AI language model" phrase
APOLOGY_CASES = {
    "en": [("order", "two weeks late"), ("laptop", "with a cracked screen"), ("parcel", "at the wrong address"),
           ("blender", "without its lid")],
    "zh-Hant": [("訂單", "晚了兩週才送達"), ("筆電", "螢幕有裂痕"), ("包裹", "被送到錯誤的地址"), ("果汁機",
                "少了蓋子")],
    "zh-Hans": [("订单", "晚了两周才送达"), ("笔记本电脑", "屏幕有裂痕"), ("包裹", "被送到错误的地址"), ("榨汁机",
                "少了盖子")],
}  # fmt: skip
APOLOGY_LETTER = {
    "en": ("Write a reply to a customer whose {item} arrived {problem}.",
           "Dear {cust},\n\nThank you for writing to us, and I'm sorry that your {item} arrived {problem}. "
           "Unfortunately, we are unable to {limit}, but we have {remedy}.\n\n{close},\n{name}\nCustomer Care",
           ["refund the shipping fee", "replace it before the holiday", "offer a cash refund"],
           ["sent a replacement today", "added a voucher to your account", "arranged a free pickup"],
           ["Ms. Lin", "Mr. Okafor", "Mrs. Schmidt"], ["Kind regards", "Sincerely", "With apologies"]),
    "zh-Hant": ("客戶反映{item}{problem}，請幫我寫一封回覆信。",
                "{cust}您好：\n\n非常抱歉您的{item}{problem}，造成您的不便。很遺憾，我們無法{limit}，但已經{remedy}。"
                "\n\n{close}\n客服中心 {name}",
                ["退還運費", "在連假前完成更換", "提供現金退款"], ["於今日寄出新品", "在您的帳戶中加入折價券",
                 "安排免費到府收件"],
                ["林小姐", "陳先生", "吳太太"], ["敬祝 順心", "再次致歉", "祝 平安"]),
    "zh-Hans": ("客户反映{item}{problem}，请帮我写一封回复信。",
                "{cust}您好：\n\n非常抱歉您的{item}{problem}，给您带来不便。很遗憾，我们无法{limit}，但已经{remedy}。"
                "\n\n{close}\n客服中心 {name}",
                ["退还运费", "在假期前完成更换", "提供现金退款"], ["于今日寄出新品", "在您的账户中加入优惠券",
                 "安排免费上门取件"],
                ["林女士", "陈先生", "吴太太"], ["祝 顺利", "再次致歉", "此致\n敬礼"]),
}  # fmt: skip
ADVICE = {
    "en": [("backups", "keep a tested backup of /etc and /home", "A backup you have never restored is only a hope."),
           ("updates", "run apt update before installing packages", "Stale package lists cause confusing errors."),
           ("passwords", "use a different password for every service", "One leak should not open every door."),
           ("root access", "use sudo instead of logging in as root", "Mistakes made as root are hard to undo."),
           ("disk space", "check free space with df -h before a big upgrade",
            "A full root file system can leave an upgrade half done."),
           ("logs", "read journalctl -b when a service fails to start",
            "The log usually names the exact file or option at fault."),
           ("SSH", "disable password login and use keys", "Keys cannot be guessed the way passwords can."),
           ("shell scripts", "start every script with set -eu",
            "A script that stops at the first error fails loudly instead of silently.")],
    "zh-Hant": [("備份", "定期備份 /etc 與 /home，並實際測試還原", "從未還原過的備份只是一種希望。"),
                ("更新", "安裝套件前先執行 apt update", "過期的套件清單會造成難以理解的錯誤。"),
                ("密碼", "每個服務都使用不同的密碼", "一次外洩不該讓所有帳號失守。"),
                ("root 權限", "用 sudo 而不是直接以 root 登入", "以 root 犯下的錯很難復原。"),
                ("磁碟空間", "大規模升級前先用 df -h 檢查剩餘空間", "根檔案系統滿了，升級可能只完成一半。"),
                ("日誌", "服務啟動失敗時先看 journalctl -b", "日誌通常會指出出錯的檔案或選項。"),
                ("SSH", "停用密碼登入，改用金鑰", "金鑰不像密碼那樣能被猜中。"),
                ("shell 指令碼", "每個指令碼開頭都加上 set -eu",
                 "遇到第一個錯誤就停下的指令碼，會明確失敗而不是默默出錯。")],
    "zh-Hans": [("备份", "定期备份 /etc 与 /home，并实际测试恢复", "从未恢复过的备份只是一种希望。"),
                ("更新", "安装软件包前先执行 apt update", "过期的软件包列表会造成难以理解的错误。"),
                ("密码", "每个服务都使用不同的密码", "一次泄露不该让所有账号失守。"),
                ("root 权限", "用 sudo 而不是直接以 root 登录", "以 root 犯下的错很难恢复。"),
                ("磁盘空间", "大规模升级前先用 df -h 检查剩余空间", "根文件系统满了，升级可能只完成一半。"),
                ("日志", "服务启动失败时先看 journalctl -b", "日志通常会指出出错的文件或选项。"),
                ("SSH", "禁用密码登录，改用密钥", "密钥不像密码那样能被猜中。"),
                ("shell 脚本", "每个脚本开头都加上 set -eu", "遇到第一个错误就停下的脚本，会明确失败而不是默默出错。")],
}  # fmt: skip
ADVICE_FRAMES = {
    "en": (["Any advice about {topic}?", "What is your top tip on {topic}?"],
           ["I cannot stress enough how important it is to {advice}. {why}",
            "I can't decide for you which tool to use, but whatever you pick, {advice}. {why}",
            "You cannot go wrong if you {advice}. {why}"]),
    "zh-Hant": (["關於{topic}有什麼建議？", "{topic}方面最重要的一點是什麼？"],
                ["再怎麼強調都不為過：{advice}。{why}", "我無法替你決定要用哪個工具，但無論選哪個，都請{advice}。{why}",
                 "不能不提醒的是，{advice}。{why}"]),
    "zh-Hans": (["关于{topic}有什么建议？", "{topic}方面最重要的一点是什么？"],
                ["再怎么强调都不为过：{advice}。{why}", "我无法替你决定要用哪个工具，但无论选哪个，都请{advice}。{why}",
                 "不能不提醒的是，{advice}。{why}"]),
}  # fmt: skip
MATH = {
    "en": ["What is {a} + {b}? Reply with the number only.", "Compute {a} × {b}. Answer with just the result.",
           "Is {n} a prime number? Answer yes or no."],
    "zh-Hant": ["{a} 加 {b} 等於多少？只要回答數字。", "計算 {a} × {b}，只寫答案。", "{n} 是質數嗎？請回答是或否。"],
    "zh-Hans": ["{a} 加 {b} 等于多少？只要回答数字。", "计算 {a} × {b}，只写答案。", "{n} 是质数吗？请回答是或否。"],
}  # fmt: skip


def half(options: list, split: str) -> list:
    """The split's half of a word pool (every other entry), so test phrasings are never seen on dev.

    Pools of fewer than four entries are shared: halving them would leave one or two choices.
    """
    if len(options) < 4:
        return options
    return options[0::2] if split == "dev" else options[1::2]


def authored_rows(seed: int, per_lang: int = 24) -> list[Row]:
    """Legitimate look-alikes from small grammars; each row's split is drawn first, then its wording comes
    from that split's half of every pool."""
    rows: list[Row] = []
    for lang in LANGS:
        for k in range(per_lang):
            for make in (_ai_row, _apology_row, _advice_row, _math_row):
                fam = make.__name__.strip("_").removesuffix("_row")
                split = split_of(f"authored:{fam}:{lang}:{k}", seed)
                rng = random.Random(_h(f"{seed}|authored|{fam}|{lang}|{k}"))
                rows.append(make(lang, k, rng, split))
    return rows


def _authored(instr: str, out: str, task: str, lang: str, fam: str, k: int, tags: list[str]) -> Row:
    short = {"ai_topic": "ai", "apology_letter": "apology", "cannot_legit": "advice", "short_answer": "math"}[fam]
    group = f"authored:{short}:{lang}:{k}"  # the key authored_rows drew the split from
    return Row(instr, out, task, lang, f"eval://authored/{fam}/{lang}/{k}", group, f"clean_{fam}",
               tags=tags + text_tags(out, lang), family=fam)  # fmt: skip


def _ai_row(lang: str, k: int, rng: random.Random, split: str) -> Row:
    pool = half(list(enumerate(AI_SENTENCES[lang])), split)
    picks = sorted(rng.sample(pool, 3))
    out = (" " if lang == "en" else "").join(text for _, text in picks)
    tags = ["ai_mention"] + (["quoted_refusal"] if QUOTED_REFUSAL & {i for i, _ in picks} else [])
    return _authored(AI_QUESTIONS[lang][k % 4], out, "open_qa", lang, "ai_topic", k, tags)


def _apology_row(lang: str, k: int, rng: random.Random, split: str) -> Row:
    ask, body, limits, remedies, custs, closes = APOLOGY_LETTER[lang]
    item, problem = rng.choice(half(APOLOGY_CASES[lang], split))
    out = body.format(item=item, problem=problem, limit=rng.choice(limits), remedy=rng.choice(remedies),
                      cust=rng.choice(custs), close=rng.choice(closes), name=rng.choice(NAMES[lang]))  # fmt: skip
    return _authored(ask.format(item=item, problem=problem), out, "letter_writing", lang, "apology_letter", k,
                     ["apology"])  # fmt: skip


def _advice_row(lang: str, k: int, rng: random.Random, split: str) -> Row:
    topic, advice, why = rng.choice(half(ADVICE[lang], split))
    asks, frames = ADVICE_FRAMES[lang]
    out = rng.choice(frames).format(advice=advice, why=why)
    return _authored(rng.choice(asks).format(topic=topic), out, "open_qa", lang, "cannot_legit", k,
                     ["cannot_legit", "mixed_script" if lang != "en" else "en"])  # fmt: skip


def _math_row(lang: str, k: int, rng: random.Random, split: str) -> Row:
    a, b, n = rng.randrange(11, 99), rng.randrange(3, 40), rng.randrange(20, 200)
    form = k % 3
    if form == 0:
        out = str(a + b)
    elif form == 1:
        out = str(a * b)
    else:
        prime = n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))
        out = ("Yes" if prime else "No") if lang == "en" else ("是" if prime else "否")
    return _authored(MATH[lang][form].format(a=a, b=b, n=n), out, "math", lang, "short_answer", k, ["short"])


# ================================================================================================ defects


class Ctx:
    """What a defect method may use besides its row: a seeded rng, partner rows, OpenCC converters."""

    def __init__(self, rng: random.Random, partners: dict[str, list[Row]], opencc: dict[str, object], split: str):
        self.rng = rng
        self.partners = partners
        self.opencc = opencc
        self.split = split

    def choice(self, options: list):
        """A choice from this split's half of a word pool (see ``half``)."""
        return self.rng.choice(half(options, self.split))

    def partner(self, row: Row) -> Row:
        pool = [r for r in self.partners[row.language] if r.group != row.group and len(r.output) < 600]
        return self.rng.choice(pool)


Method = Callable[[Row, Ctx], "tuple[str, str] | Row | None"]  # new (instruction, output) or a whole row
PROSE = {"section_qa", "passage_qa", "summarize", "letter", "ai_topic", "apology_letter", "cannot_legit", "bullets"}
TERMINAL_CHARS = ".!?。！？…\"'”’」』)）]】}>》*`:：;；|~\n"


def _cut_ok(cut: str, full: str) -> bool:
    """A cut counts as a truncation only if it is really shorter and does not stop where a sentence could."""
    cut_s = cut.rstrip()
    return 0 < len(cut_s) < len(full.rstrip()) - 3 and cut_s[-1] not in TERMINAL_CHARS


# --- truncated -----------------------------------------------------------------------------------------------


def trunc_char(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Cut at a random character (a byte-limit cut, a copy-paste that stopped short)."""
    out = row.output
    if row.family not in PROSE or len(out) < 60:
        return None
    for _ in range(10):
        cut = out[: ctx.rng.randrange(int(len(out) * 0.3), int(len(out) * 0.9))]
        if _cut_ok(cut, out):
            return row.instruction, cut
    return None


def trunc_word(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Cut at a word boundary: before a space in English, before a comma (a clause end) in Chinese."""
    out = row.output
    if row.family not in PROSE or len(out) < 60:
        return None
    marks = [m.start() for m in re.finditer(r" " if row.answer_lang == "en" else r"[，、；]", out)]
    marks = [m for m in marks if 0.25 * len(out) < m < 0.9 * len(out)]
    ctx.rng.shuffle(marks)
    for m in marks:
        if _cut_ok(out[:m], out):
            return row.instruction, out[:m]
    return None


_TOKEN = re.compile(r"[A-Za-z]+|[0-9]+|[\u3400-\u9fff]|\s+|[^\sA-Za-z0-9\u3400-\u9fff]")


def trunc_token(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Cut after k tokens of a rough BPE-like split, as a max_tokens limit does."""
    toks = _TOKEN.findall(row.output)
    if row.family not in PROSE or len(toks) < 25:
        return None
    for _ in range(10):
        cut = "".join(toks[: ctx.rng.randrange(len(toks) // 4, len(toks) * 9 // 10)])
        if _cut_ok(cut, row.output):
            return row.instruction, cut
    return None


def trunc_short_zh(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Short Chinese answers cut at 20-150 characters: too short for a length-only rule to notice."""
    out = row.output
    if row.answer_lang == "en" or row.family not in PROSE or len(out) < 30:
        return None
    for _ in range(10):
        n = ctx.rng.randrange(20, min(150, len(out) - 5))
        if _cut_ok(out[:n], out):
            return row.instruction, out[:n]
    return None


def trunc_list(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Stop inside a later list item."""
    lines = row.output.split("\n")
    if row.family not in ("list", "bullets") or len(lines) < 3:
        return None
    k = ctx.rng.randrange(1, len(lines))
    item = lines[k]
    head = re.match(r"\s*(?:[-*]|\d+\.)\s*", item)
    start = head.end() if head else 0
    if len(item) - start < 6:
        return None
    cut = "\n".join(lines[:k] + [item[: ctx.rng.randrange(start + 2, len(item) - 2)]])
    return (row.instruction, cut) if _cut_ok(cut, row.output) else None


def trunc_code(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Stop mid-function: inside a line or right after a block opener; Python cuts must fail ast.parse."""
    if row.task_type != "code_generation":
        return None
    code = row.output
    lines = code.split("\n")
    if len(lines) < 4:
        return None
    py = "code_python" in row.tags
    for _ in range(20):
        k = ctx.rng.randrange(1, len(lines) - 1)
        if ctx.rng.random() < 0.5 and len(lines[k].strip()) > 6:  # inside line k
            line = lines[k]
            indent = len(line) - len(line.lstrip())
            cut = "\n".join(lines[:k] + [line[: ctx.rng.randrange(indent + 3, len(line) - 2)]])
        elif lines[k].rstrip().endswith((":", "{", "(", "[")):  # after a block opener
            cut = "\n".join(lines[: k + 1])
        else:
            continue
        if py and _parses(cut):
            continue
        if not py and cut.count("{") <= cut.count("}"):
            continue
        return row.instruction, cut
    return None


def trunc_fenced(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """A fenced code block in a prose answer that stops inside the block (the closing fence never comes)."""
    out = row.output
    start = out.find("```")
    body = out.find("\n", start) + 1 if start >= 0 else 0
    end = out.rfind("```")
    if start < 0 or end <= body + 10:
        return None
    for _ in range(10):
        cut = out[: ctx.rng.randrange(body + 5, end - 2)]
        if _cut_ok(cut, out):
            return row.instruction, cut
    return None


def _parses(code: str) -> bool:
    try:
        ast.parse(code)
    except SyntaxError:
        return False
    return True


def trunc_json(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """JSON cut mid-object (checked: no longer parses)."""
    if row.task_type != "extract_json":
        return None
    out = row.output
    for _ in range(10):
        cut = out[: ctx.rng.randrange(len(out) // 3, len(out) - 2)]
        body = cut.removeprefix("```json\n")
        try:
            json.loads(body)
        except json.JSONDecodeError:
            return row.instruction, cut
    return None


def trunc_table(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """A Markdown table that stops inside a row."""
    if row.family != "table_md":
        return None
    lines = row.output.split("\n")
    if len(lines) < 4:
        return None
    k = ctx.rng.randrange(2, len(lines))
    cells = lines[k].split(" | ")
    if len(cells) < 2:
        return None
    partial = " | ".join(cells[: ctx.rng.randrange(1, len(cells))])
    cut = "\n".join(lines[:k] + [partial + " | " + cells[-1][: max(1, len(cells[-1]) // 3)].rstrip("|")])
    return (row.instruction, cut) if _cut_ok(cut, row.output) else None


# --- echo ----------------------------------------------------------------------------------------------------

ECHO_LABELS = {"en": ["Question:", "Q:", "Instruction:", "Task:"], "zh-Hant": ["問題：", "題目：", "問："],
               "zh-Hans": ["问题：", "题目：", "问："]}  # fmt: skip


def echo_verbatim(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, row.instruction


def echo_labelled(row: Row, ctx: Ctx) -> tuple[str, str]:
    label = ctx.choice(ECHO_LABELS[row.language])
    return row.instruction, f"{label}{' ' if label.endswith(':') else ''}{row.instruction}"


def echo_twice(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, row.instruction + ctx.rng.choice(["\n", " ", "\n\n"]) + row.instruction


_PUNCT_SWAP = str.maketrans({"？": "?", "?": "？", "，": ",", ",": "，", "。": ".", ".": "。", "：": ":", ":": "："})


def echo_restyled(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """The instruction again with only punctuation, case or trailing marks changed."""
    s = row.instruction
    choice = ctx.rng.randrange(3)
    if choice == 0:
        out = s.translate(_PUNCT_SWAP)
    elif choice == 1:
        out = s.lower() if s != s.lower() else s.upper()
    else:
        out = s.rstrip("?？.。!！") + ctx.rng.choice(["", " ", "…", "!"])
    return (s, out) if out != s else (s, s.translate(_PUNCT_SWAP))


# --- refusal (a small grammar, per language) ----------------------------------------------------------------

REFUSAL = {
    "en": {
        "apology": ["I'm sorry, but", "I apologize, but", "Sorry, but", "Unfortunately,", "Regrettably,",
                    "I'm afraid"],
        "between": ["", " after looking at your request carefully,", " given the guidelines I follow,",
                    " as much as I would like to help,", " based on the information available to me right now,"],
        "identity": ["As an AI language model, ", "As an AI assistant, ", "Being an artificial intelligence, ",
                     "As a large language model, ", "I'm just an AI, so "],
        "modal": ["I cannot", "I can't", "I am not able to", "I'm unable to", "I won't be able to",
                  "I am unable to", "I'm not able to"],
        "verb": ["help with", "answer", "provide", "complete", "fulfil", "assist with", "respond to"],
        "object": ["this request", "that question", "the information you asked for", "this task", "your request"],
        "reason": ["", " because I do not have access to that information", " as it goes beyond my capabilities",
                   " since I cannot browse the internet", " because I don't have personal experiences"],
        "hedge": ["I don't have real-time data, but here is what I know:", "I don't have personal opinions, but "
                  "generally speaking:", "I cannot verify this, but:"],
    },
    "zh-Hant": {
        "apology": ["抱歉，", "很抱歉，", "對不起，", "非常抱歉，", "不好意思，", "真的很抱歉，"],
        "between": ["", "根據目前的規範，", "經過仔細考慮之後，", "雖然我很想幫忙，但", "基於我目前能取得的資訊，"],
        "identity": ["作為一個人工智慧語言模型，", "身為 AI 助理，", "我只是一個 AI，", "作為AI語言模型，",
                     "我是一個語言模型，"],
        "modal": ["無法", "不能", "沒辦法", "沒有辦法", "恐怕無法", "目前無法"],
        "verb": ["協助", "幫你處理", "回答", "提供", "完成", "處理"],
        "object": ["這個請求", "這個問題", "相關資訊", "這項任務", "你要求的內容"],
        "reason": ["", "，因為我無法存取即時資料", "，這超出了我的能力範圍", "，因為我沒有個人經驗",
                   "，因為這違反使用政策"],
        "hedge": ["我沒有即時資料，但就我所知：", "我沒有個人意見，不過一般來說：", "我無法查證這一點，但："],
    },
    "zh-Hans": {
        "apology": ["抱歉，", "很抱歉，", "对不起，", "非常抱歉，", "不好意思，", "真的很抱歉，"],
        "between": ["", "根据目前的规范，", "经过仔细考虑之后，", "虽然我很想帮忙，但", "基于我目前能获取的信息，"],
        "identity": ["作为一个人工智能语言模型，", "作为 AI 助手，", "我只是一个 AI，", "作为AI语言模型，",
                     "我是一个语言模型，"],
        "modal": ["无法", "不能", "没办法", "没有办法", "恐怕无法", "目前无法"],
        "verb": ["协助", "帮你处理", "回答", "提供", "完成", "处理"],
        "object": ["这个请求", "这个问题", "相关信息", "这项任务", "你要求的内容"],
        "reason": ["", "，因为我无法访问实时数据", "，这超出了我的能力范围", "，因为我没有个人经验",
                   "，因为这违反使用政策"],
        "hedge": ["我没有实时数据，但就我所知：", "我没有个人观点，不过一般来说：", "我无法核实这一点，但："],
    },
}  # fmt: skip


def _refusal_clause(ctx: Ctx, lang: str, apology: bool, identity: bool, between: bool = False) -> str:
    """One refusal sentence from the grammar: [apology [words]] [AI identity] inability + verb + object [reason].
    Each slot draws from this split's half of its pool."""
    g = REFUSAL[lang]
    w = {k: ctx.choice(v) for k, v in g.items()}
    gap = ctx.choice([b for b in g["between"] if b]) if between else ""
    who = w["identity"] if identity else ""
    if lang == "en":
        if apology and who:
            who = who[0].lower() + who[1:]
        lead = f"{w['apology']}{gap} " if apology else ""
        s = f"{lead}{who}{w['modal']} {w['verb']} {w['object']}{w['reason']}."
        return s[0].upper() + s[1:]
    lead = w["apology"] + gap if apology else ""
    return f"{lead}{who}我{w['modal']}{w['verb']}{w['object']}{w['reason']}。"


def refusal_apology(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, _refusal_clause(ctx, row.language, apology=True, identity=False)


def refusal_identity(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, _refusal_clause(ctx, row.language, apology=False, identity=True)


def refusal_words_between(row: Row, ctx: Ctx) -> tuple[str, str]:
    """Apology, several words, then the inability: no fixed phrase spans the two."""
    identity = ctx.rng.random() < 0.5
    return row.instruction, _refusal_clause(ctx, row.language, apology=True, identity=identity, between=True)


def refusal_hedged(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """AI identity and a disclaimer, then part of the real answer."""
    if row.task_type.startswith("code") or len(row.output) < 40:
        return None
    g = REFUSAL[row.language]
    head = ctx.choice(g["identity"]) + ctx.choice(g["hedge"])
    first = sentences(row.output, row.answer_lang)[0]
    return row.instruction, head + (" " if row.answer_lang == "en" else "") + first


def refusal_appended(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """The real answer, then a refusal tacked on (a model that answers and disowns)."""
    if len(row.output) > 1500:
        return None
    identity = ctx.rng.random() < 0.5
    tail = _refusal_clause(ctx, row.language, apology=not identity, identity=identity)
    return row.instruction, row.output + "\n\n" + tail


# --- wrong language ------------------------------------------------------------------------------------------


def wrong_parallel(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """The answer swapped for the human translation of the same answer (Hant<->Hans, en<->zh)."""
    if not row.parallel:
        return None
    other = ctx.rng.choice(sorted(row.parallel))
    return row.instruction, row.parallel[other]


def wrong_opencc(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """The answer machine-converted to the other Chinese script with OpenCC."""
    conv = ctx.opencc.get(row.language)
    skip = row.task_type.startswith(("code", "translation")) or row.family in ("list_count", "short_answer")
    if conv is None or skip:
        return None
    out = conv.convert(row.output)
    # A label only where the script visibly changed: 3+ characters and 5%+ of the Han characters.
    changed = sum(a != b for a, b in zip(out, row.output, strict=False))
    if changed < 3 or changed < 0.05 * len(HAN_RE.findall(row.output)):
        return None
    return row.instruction, out


# --- merged instructions -------------------------------------------------------------------------------------

NEXT_LABELS = {
    "en": [("Next question:", "Answer:"), ("Question 2:", "Answer:"), ("Task 2:", "Response:"),
           ("Instruction:", "Response:"), ("New task:", "Output:")],
    "zh-Hant": [("下一題：", "答："), ("問題二：", "回答："), ("任務 2：", "答案："), ("指令：", "回應："),
                ("下一個問題：", "答：")],
    "zh-Hans": [("下一题：", "答："), ("问题二：", "回答："), ("任务 2：", "答案："), ("指令：", "回应："),
                ("下一个问题：", "答：")],
}  # fmt: skip
ROLE_LABELS = {
    "en": [("User:", "Assistant:"), ("Q:", "A:"), ("Human:", "AI:"), ("User:", "Bot:")],
    "zh-Hant": [("使用者：", "助理："), ("使用者：", "AI："), ("用戶：", "助理："), ("問：", "答：")],
    "zh-Hans": [("用户：", "助手："), ("用户：", "AI："), ("使用者：", "助手："), ("问：", "答：")],
}  # fmt: skip


def merged_numbered(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    p = ctx.partner(row)
    return row.instruction, f"{row.output}\n\n2. {p.instruction}\n{p.output}"


def merged_next_label(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    p = ctx.partner(row)
    q, a = ctx.choice(NEXT_LABELS[row.language])
    sep = "" if q.endswith("：") else " "
    return row.instruction, f"{row.output}\n\n{q}{sep}{p.instruction}\n{a}{sep}{p.output}"


def merged_roles(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    p = ctx.partner(row)
    u, a = ctx.choice(ROLE_LABELS[row.language])
    sep = "" if u.endswith("：") else " "
    return row.instruction, f"{row.output}\n{u}{sep}{p.instruction}\n{a}{sep}{p.output}"


# --- mojibake: real encode/decode round trips -----------------------------------------------------------------

MOJIBAKE_CODECS = [("utf-8", "cp1252"), ("utf-8", "latin-1"), ("utf-8", "gbk"), ("utf-8", "big5"), ("gbk", "big5"),
                   ("big5", "gbk")]  # fmt: skip


def _garble(text: str, enc: str, dec: str) -> str:
    return text.encode(enc, errors="replace").decode(dec, errors="replace")


def _mojibake(row: Row, ctx: Ctx, enc: str, dec: str) -> tuple[str, str] | None:
    out = row.output
    if enc == "gbk" and row.answer_lang != "zh-Hans" or enc == "big5" and row.answer_lang != "zh-Hant":
        return None  # legacy bytes come from text written in that legacy encoding's own script
    if ctx.rng.random() < 0.5:  # the whole answer
        new = _garble(out, enc, dec)
    else:  # one sentence or line of it (a mixed-source file, a bad merge)
        parts = [p for p in re.split(r"(?<=[。！？.!?\n])", out) if any(ord(c) > 127 for c in p)]
        if not parts:
            return None
        part = ctx.rng.choice(parts)
        new = out.replace(part, _garble(part, enc, dec), 1)
    return (row.instruction, new) if new != out else None


def _moji_method(enc: str, dec: str) -> Method:
    def method(row: Row, ctx: Ctx) -> tuple[str, str] | None:
        return _mojibake(row, ctx, enc, dec)

    method.__name__ = f"mojibake_{enc}_as_{dec}".replace("-", "")
    return method


# --- near and exact duplicates (the original stays in the set as a clean row) --------------------------------

SYNONYMS = {
    "en": {"use": "utilize", "system": "machine", "file": "document", "can": "may", "need": "require",
           "important": "essential", "show": "display", "change": "modify", "start": "begin", "small": "little"},
    "zh-Hant": {"使用": "採用", "可以": "能夠", "如果": "假如", "需要": "必須", "重要": "關鍵", "顯示": "呈現",
                "修改": "變更", "開始": "起始", "檔案": "文件", "目錄": "資料夾"},
    "zh-Hans": {"使用": "采用", "可以": "能够", "如果": "假如", "需要": "必须", "重要": "关键", "显示": "呈现",
                "修改": "变更", "开始": "起始", "文件": "档案", "目录": "文件夹"},
}  # fmt: skip
CJK_TO_ASCII = str.maketrans({"，": ", ", "。": ". ", "：": ": ", "；": "; ", "（": " (", "）": ") ", "！": "! ",
                              "？": "? ", "「": '"', "」": '"', "“": '"', "”": '"'})  # fmt: skip
ASCII_TO_CURLY = [(re.compile(r'"([^"]*)"'), r"“\1”"), (re.compile(r"(\w)'(\w)"), r"\1’\2"), (re.compile(" - "), " — ")]


def near_punct_word(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Punctuation style swapped (CJK<->ASCII, straight<->curly) and one word replaced by a synonym."""
    out = row.output
    if len(out) < 60 or row.family not in PROSE | {"list"}:
        return None
    if row.answer_lang == "en":
        for pattern, repl in ASCII_TO_CURLY:
            out = pattern.sub(repl, out)
    else:
        out = re.sub(r" +", " ", out.translate(CJK_TO_ASCII)).strip()
    words = [w for w in SYNONYMS[row.answer_lang] if re.search(rf"\b{w}\b" if row.answer_lang == "en" else w, out)]
    if words:
        w = ctx.rng.choice(words)
        out = re.sub(rf"\b{w}\b" if row.answer_lang == "en" else w, SYNONYMS[row.answer_lang][w], out, count=1)
    return (row.instruction, out) if out != row.output else None


def near_space_case(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Whitespace and letter case only: doubled spaces, re-wrapped lines, a capitalised word."""
    out = row.output
    if len(out) < 60:
        return None
    if row.answer_lang == "en":
        words = out.split(" ")
        for k in ctx.rng.sample(range(len(words)), min(3, len(words))):
            words[k] = words[k].upper() if ctx.rng.random() < 0.3 else words[k].capitalize()
        out = "  ".join(words[:3]) + " " + " ".join(words[3:])
    else:  # pangu spacing on or off between Han and Latin, and a line break
        spaced = re.sub(r"([\u4e00-\u9fff])([A-Za-z0-9/])", r"\1 \2", out)
        out = spaced if spaced != out else re.sub(r"([\u4e00-\u9fff]) ([A-Za-z0-9/])", r"\1\2", out)
        out = out.replace("。", "。\n", 1)
    return (row.instruction, out) if out != row.output else None


def near_reorder(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Two sentences (or list items) swapped."""
    if row.family in ("list", "bullets"):
        parts, joiner = row.output.split("\n"), "\n"
    else:
        parts, joiner = sentences(row.output, row.answer_lang), (" " if row.answer_lang == "en" else "")
    if len(parts) < 3 or row.family not in PROSE | {"list"}:
        return None
    k = ctx.rng.randrange(len(parts) - 1)
    parts[k], parts[k + 1] = parts[k + 1], parts[k]
    out = joiner.join(parts)
    return (row.instruction, out) if out != row.output else None


def exact_verbatim(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, row.output


def exact_other_metadata(row: Row, ctx: Ctx) -> Row:
    """Same text, made again by another generator at another time (only metadata differs)."""
    dup = _derive(row, row.instruction, row.output, "exact_duplicate", "exact_other_metadata")
    dup.source_ref = row.source_ref + ("?rev=2" if "://" in row.source_ref else "#copy")
    return dup


def exact_trailing_space(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, row.output + ctx.rng.choice([" ", "\n", "  \n"])


# --- PII inserted into answers --------------------------------------------------------------------------------

PII_FRAMES = {
    "email": {"en": "For questions, email {v}.", "zh-Hant": "如有問題，請寫信至 {v}。",
        "zh-Hans": "如有问题，请发邮件至 {v}。"},
    "phone": {"en": "You can reach Mr. Chen at {v}.", "zh-Hant": "聯絡電話：{v}。", "zh-Hans": "联系电话：{v}。"},
    "card": {"en": "The card on file is {v}.", "zh-Hant": "信用卡號 {v} 已完成扣款。",
        "zh-Hans": "信用卡号 {v} 已完成扣款。"},
    "id": {"en": "Applicant ID number: {v}.", "zh-Hant": "申請人身分證字號：{v}。", "zh-Hans": "申请人身份证号：{v}。"},
}  # fmt: skip
_TW_LETTERS = dict(zip("ABCDEFGHJKLMNPQRSTUVXYWZIO", range(10, 36), strict=True))
CN_REGIONS = ["110101", "310104", "440305", "510107", "330106", "420111", "610113", "210102"]


def luhn_complete(digits: list[int]) -> list[int]:
    total = 0
    for i, d in enumerate(reversed(digits)):  # the check digit will sit right of these
        total += (2 * d - 9 if 2 * d > 9 else 2 * d) if i % 2 == 0 else d
    return digits + [-total % 10]


def make_card(rng: random.Random, brand: str) -> str:
    if brand == "amex":
        body = [3, rng.choice([4, 7])] + [rng.randrange(10) for _ in range(12)]
        d = "".join(map(str, luhn_complete(body)))
        return f"{d[:4]} {d[4:10]} {d[10:]}" if rng.random() < 0.7 else f"{d[:4]}-{d[4:10]}-{d[10:]}"
    prefix = [4] if brand == "visa" else [5, rng.randrange(1, 6)]
    body = prefix + [rng.randrange(10) for _ in range(15 - len(prefix))]
    d = "".join(map(str, luhn_complete(body)))
    sep = rng.choice([" ", "-", ""])
    return sep.join(d[i : i + 4] for i in range(0, 16, 4))


def make_tw_id(rng: random.Random) -> str:
    letter = rng.choice(sorted(_TW_LETTERS))
    digits = [rng.choice((1, 2))] + [rng.randrange(10) for _ in range(7)]
    n = _TW_LETTERS[letter]
    total = n // 10 + (n % 10) * 9 + sum(d * w for d, w in zip(digits, (8, 7, 6, 5, 4, 3, 2, 1), strict=True))
    return letter + "".join(map(str, digits)) + str(-total % 10)


def make_cn_id(rng: random.Random) -> str:
    year, month, day = rng.randrange(1950, 2005), rng.randrange(1, 13), rng.randrange(1, 29)
    body = f"{rng.choice(CN_REGIONS)}{year}{month:02d}{day:02d}{rng.randrange(1000):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11]
    return body + check


def make_phone(rng: random.Random, kind: str) -> str:
    if kind == "cn_mobile":
        n = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        return rng.choice([n, f"+86 {n[:3]} {n[3:7]} {n[7:]}", f"+86-{n}", f"{n[:3]}-{n[3:7]}-{n[7:]}"])
    if kind == "tw_mobile":
        n = f"09{rng.randrange(10**8):08d}"
        return rng.choice([f"{n[:4]}-{n[4:7]}-{n[7:]}", n, f"+886 {n[1:4]} {n[4:7]} {n[7:]}", f"{n[:4]} {n[4:]}"])
    return rng.choice([f"(02) {rng.randrange(2000, 2999)}-{rng.randrange(10**4):04d}",
                       f"02-{rng.randrange(2000, 2999)}-{rng.randrange(10**4):04d}",
                       f"010-{rng.randrange(6000_0000, 8999_9999)}", f"(0755) {rng.randrange(8000, 8999)} "
                       f"{rng.randrange(10**4):04d}"])  # fmt: skip


EMAIL_USERS = ["wang.xiaoming", "chen_yt88", "alice.lin", "linyating", "zhao.lei1990", "tom.becker"]
EMAIL_DOMAINS = ["gmail.com", "163.com", "qq.com", "yahoo.com.tw", "outlook.com", "ms12.hinet.net", "corp.com.cn"]


def _insert(row: Row, ctx: Ctx, kind: str, value: str) -> tuple[str, str] | None:
    """A sentence carrying the value, in the answer's own language, at its end, start or between sentences."""
    if row.task_type.startswith("code") or row.task_type in ("extract_json", "table") or len(row.output) < 40:
        return None
    lang = row.answer_lang
    sentence = PII_FRAMES[kind][lang].format(v=value)
    where = ctx.rng.randrange(3)
    joiner = " " if lang == "en" else ""
    if where == 0:
        return row.instruction, row.output.rstrip() + ("\n\n" if "\n" in row.output else joiner) + sentence
    if where == 1:
        return row.instruction, sentence + joiner + row.output
    parts = sentences(row.output, lang)
    k = ctx.rng.randrange(len(parts) + 1)
    return row.instruction, joiner.join(parts[:k] + [sentence] + parts[k:])


def _pii_method(name: str, kind: str, make: Callable[[random.Random], str]) -> Method:
    def method(row: Row, ctx: Ctx) -> Row | None:
        value = make(ctx.rng)
        got = _insert(row, ctx, kind, value)
        if got is None:
            return None
        new = _derive(row, got[0], got[1], "pii", f"pii_{name}")
        new.payload = value
        return new

    method.__name__ = f"pii_{name}"
    return method


# --- empty, template leak, control characters ----------------------------------------------------------------


def empty_string(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, ""


def empty_ascii_space(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, ctx.rng.choice([" ", "\n", "\n\n", "\t", "  \n  "])


def empty_unicode_space(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, ctx.rng.choice(["\u3000", "\u00a0", "\u2003", "\u3000\u3000", " \u00a0\n"])


def empty_zero_width(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, ctx.rng.choice(["\u200b", "\ufeff", "\u2060", "\u200b\u200b", "\u200c"])


PLACEHOLDERS = ["{context}", "{question}", "{{input}}", "{passage}", "{answer}", "{{ context }}", "{text}",
                "{document}",
                "${input}", "<no input>", "{instruction}", "{{query}}"]  # fmt: skip
CHAT_WRAPS = [("<|im_start|>assistant\n", "<|im_end|>"), ("[INST] ", " [/INST]"), ("<s>", "</s>"), ("",
              "<|endoftext|>"),
              ("<|assistant|>\n", ""), ("<start_of_turn>model\n", "<end_of_turn>"), ("", "<|eot_id|>"),
              ("<<SYS>>\n", "\n<</SYS>>"), ("### Response:\n", ""), ("<|im_start|>user\n", "<|im_end|>")]  # fmt: skip
PLACEHOLDER_FRAMES = {
    "en": ["Answer using this context: {p}", "{p}", "Based on {p}, the answer is:"],
    "zh-Hant": ["請根據以下內容回答：{p}", "{p}", "參考資料：{p}"],
    "zh-Hans": ["请根据以下内容回答：{p}", "{p}", "参考资料：{p}"],
}  # fmt: skip


def leak_placeholder_output(row: Row, ctx: Ctx) -> tuple[str, str]:
    p = ctx.choice(PLACEHOLDERS)
    frame = ctx.rng.choice(PLACEHOLDER_FRAMES[row.language]).format(p=p)
    return row.instruction, (frame + "\n" + row.output) if ctx.rng.random() < 0.5 else (row.output + "\n" + frame)


def leak_placeholder_instruction(row: Row, ctx: Ctx) -> Row:
    """The prompt template was never filled: the instruction still holds its slot (the output is fine)."""
    p = ctx.choice(PLACEHOLDERS)
    frame = ctx.rng.choice(PLACEHOLDER_FRAMES[row.language][:1]).format(p=p)
    return _derive(row, row.instruction + "\n" + frame, row.output, "template_leak", "leak_placeholder_instruction")


def leak_chat_tokens(row: Row, ctx: Ctx) -> tuple[str, str]:
    head, tail = ctx.choice(CHAT_WRAPS)
    return row.instruction, head + row.output + tail


CONTROLS = ["\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1a", "\x1b", "\x7f", "\x85", "\x9b", "\x90"]


def _at_random(text: str, ins: str, rng: random.Random) -> str:
    k = rng.randrange(1, max(2, len(text)))
    return text[:k] + ins + text[k:]


def control_single(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, _at_random(row.output, ctx.choice(CONTROLS), ctx.rng)


def control_ansi(row: Row, ctx: Ctx) -> tuple[str, str]:
    color = ctx.choice(["\x1b[31m", "\x1b[1;32m", "\x1b[0m", "\x1b[2K"])
    return row.instruction, color + row.output + ("\x1b[0m" if ctx.rng.random() < 0.7 else "")


def control_nul_padding(row: Row, ctx: Ctx) -> tuple[str, str]:
    return row.instruction, row.output + "\x00" * ctx.rng.randrange(1, 8)


def control_lone_cr(row: Row, ctx: Ctx) -> tuple[str, str] | None:
    """Old Mac line ends, or a progress bar's carriage returns, inside the text."""
    if "\n" in row.output:
        return row.instruction, row.output.replace("\n", "\r")
    return row.instruction, _at_random(row.output, "\r", ctx.rng)


def control_backspace(row: Row, ctx: Ctx) -> tuple[str, str]:
    """Terminal overstrike residue: a character, backspace, the character again."""
    out = row.output
    k = ctx.rng.randrange(len(out))
    return row.instruction, out[:k] + out[k] + "\x08" + out[k:]


def _derive(row: Row, instruction: str, output: str, label: str, method: str) -> Row:
    return Row(instruction, output, row.task_type, row.language, row.source_ref, row.group, method, row.input,
               label=label, derived_from=row.id, tags=list(row.tags), family=row.family)  # fmt: skip


DEFECTS: dict[str, list[Method]] = {
    "truncated": [trunc_char, trunc_word, trunc_token, trunc_short_zh, trunc_list, trunc_code, trunc_fenced,
                  trunc_json, trunc_table],
    "echo": [echo_verbatim, echo_labelled, echo_twice, echo_restyled],
    "refusal": [refusal_apology, refusal_identity, refusal_words_between, refusal_hedged, refusal_appended],
    "wrong_language": [wrong_parallel, wrong_opencc],
    "merged": [merged_numbered, merged_next_label, merged_roles],
    "mojibake": [_moji_method(e, d) for e, d in MOJIBAKE_CODECS],
    "near_duplicate": [near_punct_word, near_space_case, near_reorder],
    "exact_duplicate": [exact_verbatim, exact_other_metadata, exact_trailing_space],
    "pii": [_pii_method("email", "email", lambda r: f"{r.choice(EMAIL_USERS)}@{r.choice(EMAIL_DOMAINS)}"),
            _pii_method("cn_mobile", "phone", lambda r: make_phone(r, "cn_mobile")),
            _pii_method("tw_mobile", "phone", lambda r: make_phone(r, "tw_mobile")),
            _pii_method("landline", "phone", lambda r: make_phone(r, "landline")),
            _pii_method("card_visa", "card", lambda r: make_card(r, "visa")),
            _pii_method("card_master", "card", lambda r: make_card(r, "master")),
            _pii_method("card_amex", "card", lambda r: make_card(r, "amex")),
            _pii_method("tw_id", "id", make_tw_id),
            _pii_method("cn_id", "id", make_cn_id)],
    "empty": [empty_string, empty_ascii_space, empty_unicode_space, empty_zero_width],
    "template_leak": [leak_placeholder_output, leak_placeholder_instruction, leak_chat_tokens],
    "control_chars": [control_single, control_ansi, control_nul_padding, control_lone_cr, control_backspace],
}  # fmt: skip
DUPLICATE_CLASSES = ("near_duplicate", "exact_duplicate")


def make_defects(clean: list[Row], split: str, per_class: int, seed: int, opencc: dict[str, object]) -> list[Row]:
    """``per_class`` defects per class: a third per language where the methods allow (the rest from any
    language), methods taken in turn, each clean row used by at most two defects."""
    partners = {lang: [r for r in clean if r.language == lang] for lang in LANGS}
    used: Counter = Counter()
    out: list[Row] = []
    for cls, methods in DEFECTS.items():
        rng = random.Random(_h(f"{seed}|{split}|{cls}"))
        ctx = Ctx(rng, partners, opencc, split)
        made: list[Row] = []
        for i, lang in enumerate(LANGS):
            quota = per_class // 3 + (i < per_class % 3)
            pool = partners[lang][:]
            rng.shuffle(pool)
            made += _apply(cls, methods, pool, quota, ctx, used, len(made))
        rest = [r for r in clean]
        rng.shuffle(rest)
        made += _apply(cls, methods, rest, per_class - len(made), ctx, used, len(made))
        out += made
    return out


def _apply(cls: str, methods: list[Method], pool: list[Row], n: int, ctx: Ctx, used: Counter, turn: int) -> list[Row]:
    """Up to ``n`` defects of class ``cls`` from ``pool``: the methods take turns (from ``turn``), each walking the
    pool for the next row it applies to, so a method that fits few rows still gets its share."""
    made: list[Row] = []
    cursor = dict.fromkeys(range(len(methods)), 0)
    exhausted: set[int] = set()
    k = turn
    while len(made) < n and len(exhausted) < len(methods):
        m = k % len(methods)
        k += 1
        if m in exhausted:
            continue
        new = None
        while new is None and cursor[m] < len(pool):
            row = pool[cursor[m]]
            cursor[m] += 1
            if used[row.id] >= 2:  # spread the defects over many sources
                continue
            got = methods[m](row, ctx)
            if got is None:
                continue
            new = got if isinstance(got, Row) else _derive(row, got[0], got[1], cls, methods[m].__name__)
            if cls != "exact_duplicate" and (new.output, new.instruction) == (row.output, row.instruction):
                new = None
                continue
            used[row.id] += 1
        if new is None:
            exhausted.add(m)
        else:
            made.append(new)
    return made


# ================================================================================================ assembly


def _h(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def split_of(group: str, seed: int) -> str:
    return "dev" if _h(f"{seed}|split|{group}") % 2 == 0 else "test"


def _shingles(text: str) -> set[str]:
    t = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text).casefold())
    return {t[i : i + 4] for i in range(max(1, len(t) - 3))}


def drop_ambiguous(rows: list[Row], threshold: float = 0.75) -> tuple[list[Row], int]:
    """Clean rows that repeat (exactly or nearly) an earlier clean row are not clean examples: drop them.

    Independent of the gate: character 4-gram Jaccard over instruction+input+output, threshold below the
    gate's, so a row the gate could fairly call a duplicate never stands in the set as "clean". Candidates
    are rows sharing rare 4-grams; each candidate pair is then settled on the exact Jaccard.
    """
    sets = [_shingles(r.instruction + "\n" + r.input + "\n" + r.output) for r in rows]
    df: Counter = Counter(s for sh in sets for s in sh)
    index: dict[str, list[int]] = defaultdict(list)
    keep = [True] * len(rows)
    for i, sh in enumerate(sets):
        hits: Counter = Counter(j for s in sh if df[s] <= 40 for j in index.get(s, ()))
        if any(len(sh & sets[j]) / len(sh | sets[j]) >= threshold for j, c in hits.items() if c >= 3):
            keep[i] = False
            continue
        for s in sh:
            if df[s] <= 40:
                index[s].append(i)
    kept = [r for r, k in zip(rows, keep, strict=True) if k]
    return kept, len(rows) - len(kept)


def balance_languages(rows: list[Row], seed: int) -> list[Row]:
    """Documentation rows capped per language at the smallest language's count, so the three weigh the same."""
    doc = [r for r in rows if r.group.startswith(("debref:", "pydoc:"))]
    rest = [r for r in rows if not r.group.startswith(("debref:", "pydoc:"))]
    counts = Counter(r.language for r in doc)
    cap = min(counts.values())
    kept: list[Row] = []
    for lang in LANGS:
        pool = sorted((r for r in doc if r.language == lang), key=lambda r: _h(f"{seed}|bal|{r.id}"))
        kept += pool[:cap]
    return kept + rest


def _opencc() -> dict[str, object]:
    for d in sorted((CACHE / "pypi").glob("opencc_purepy-*")):
        if d.is_dir() and str(d) not in sys.path:
            sys.path.insert(0, str(d))
    try:
        import opencc_purepy
    except ImportError:
        print("  (opencc-purepy unavailable: wrong_opencc method skipped)", file=sys.stderr)
        return {}
    return {"zh-Hant": opencc_purepy.OpenCC("t2s"), "zh-Hans": opencc_purepy.OpenCC("s2t")}


def build(out_dir: Path = OUT, per_class: int = 100, seed: int = SEED, quiet: bool = False) -> dict:
    """Fetch sources, make clean rows and defects, split by source, write the JSONL files and a manifest."""

    def say(msg: str) -> None:
        if not quiet:
            print(msg, flush=True)

    say("fetching sources (cached under out/gate_eval_src) ...")
    fetched = fetch_sources()
    docs = CACHE / "x" / "usr" / "share"
    sections = load_debian_reference(docs / "debian-reference")
    pydocs = [d for d in sorted(docs.glob("doc/python3*/html")) if d.is_dir()]
    sections += load_python_docs(pydocs[0]) if pydocs else []
    say(f"  {len(sections)} documentation sections")
    units = load_code_units(code_repos())
    say(f"  {len(units)} code units with docstrings ({dict(Counter(u['language'] for u in units))})")

    builder = CleanBuilder(seed)
    builder.all_literals = sorted({t for s in sections for p in s.paras for _, lits in p.values() for t in lits})
    clean: list[Row] = []
    for sec in sections:
        clean += builder.section_rows(sec)
    clean = balance_languages(clean, seed)
    clean += [r for r in (builder.code_row(u) for u in _sample_units(units, seed)) if r]
    clean += authored_rows(seed)
    clean, dropped = drop_ambiguous(clean)
    say(f"  {len(clean)} clean rows ({dropped} dropped as duplicates of other clean rows)")

    opencc = _opencc()
    manifest: dict = {"seed": seed, "per_class": per_class, "sources": fetched, "code_repos": sorted(
        {u["label"] for u in units}), "clean_dropped_as_duplicates": dropped, "splits": {}}  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    for split in ("dev", "test"):
        mine = [r for r in clean if split_of(r.group, seed) == split]
        defects = make_defects(mine, split, per_class, seed, opencc)
        records = [r.record() for r in mine + defects]
        path = out_dir / f"{split}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        manifest["splits"][split] = _counts(records)
        say(f"  {split}: {len(records)} rows -> {path.relative_to(ROOT)}")
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
    return manifest


def _sample_units(units: list[dict], seed: int, n_py: int = 330, n_other: int = 100) -> list[dict]:
    """A fixed sample: every deep-indented Python unit, up to 60 decorated ones, the rest by hash."""

    def order(pool: Iterable[dict]) -> list[dict]:
        return sorted(pool, key=lambda u: _h(f"{seed}|unit|{u['label']}|{u['path']}|{u['qualified_name']}"))

    py = order(u for u in units if u["language"] == "python")
    deep = [u for u in py if u["indent"] >= 8]
    decorated = [u for u in py if u["decorators"] and u["indent"] < 8][:60]
    taken = {id(u) for u in deep + decorated}
    plain = [u for u in py if id(u) not in taken][: max(0, n_py - len(deep) - len(decorated))]
    js = order(u for u in units if u["language"] == "javascript")[: n_other // 2]
    go = order(u for u in units if u["language"] == "go")[: n_other // 2]
    return deep + decorated + plain + js + go


def _counts(records: list[dict]) -> dict:
    by = Counter((r["label"], r["language"]) for r in records)
    labels = sorted({r["label"] for r in records})
    return {
        "rows": len(records),
        "by_label_language": {lab: {lang: by[(lab, lang)] for lang in LANGS} for lab in labels},
        "by_method": dict(sorted(Counter(f"{r['label']}/{r['method']}" for r in records).items())),
        "clean_by_task_type": dict(sorted(Counter(r["task_type"] for r in records if r["label"] == "clean").items())),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--per-class", type=int, default=100, help="defect rows per class per split")
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()
    manifest = build(args.out, args.per_class, args.seed)
    for split, c in manifest["splits"].items():
        print(f"\n{split}: {c['rows']} rows")
        print(f"  {'label':<16}" + "".join(f"{lang:>9}" for lang in LANGS) + f"{'total':>8}")
        for lab, per in c["by_label_language"].items():
            print(f"  {lab:<16}" + "".join(f"{per[lang]:>9}" for lang in LANGS) + f"{sum(per.values()):>8}")


if __name__ == "__main__":
    main()
