"""Real-site accuracy of the crawler (issue 15): keep every content page, keep the whole text, find the FAQs.

Each site of ``bench/site_truth.SITES`` (real HTML manuals from pinned Debian packages) is served from disk
on loopback and crawled with ``crawlers.run.crawl_site`` exactly as a user would, with no page limit and
only the politeness that would slow a loopback crawl switched off. Then, against the truth that
``site_truth`` documents:

* page recall: kept / reachable content pages, with the crawl log's fate of a few missed ones;
* text F1: mean token F1 of the crawler's text over kept pages, beside trafilatura's own extraction of
  the same pages (default settings, and ``favor_recall=True``) against the same reference;
* FAQ question recall over the pages that have FAQ blocks (n/a where a site has none);
* crashes: ERROR records and tracebacks in the crawl log.

Goals (issue 15): recall >= 0.98, text F1 >= 0.95 and >= trafilatura's default, FAQ recall >= 0.9, no crash.

    OMP_NUM_THREADS=1 .venv/bin/python bench/site_accuracy.py [--sites KEY ...] [--examples N]
        [--show-held-out] [--json out/site_truth/accuracy.json]

Examples (missed pages, lowest-F1 pages) are printed for development sites only, unless ``--show-held-out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from statistics import mean

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import site_truth as st  # noqa: E402

# What makes a loopback crawl fast without changing what is kept: no throttling or delay (robots.txt is
# still obeyed), no HTTP cache (every run measures the crawler, not an earlier crawl), and DEBUG logging
# so the log names each fetched URL for the missed-page report.
CRAWL_SETTINGS = {
    "AUTOTHROTTLE_ENABLED": False,
    "DOWNLOAD_DELAY": 0,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 8,
    "HTTPCACHE_ENABLED": False,
    "LOG_LEVEL": "DEBUG",
}


def _read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _trafilatura(html: str) -> tuple[str, str]:
    import trafilatura

    default = trafilatura.extract(html, output_format="txt") or ""
    recall = trafilatura.extract(html, output_format="txt", favor_recall=True) or ""
    return default, recall


def _crawl(site: st.Site, root: Path, out: Path) -> dict:
    from crawlers.run import crawl_site
    from dataagent.site_server import SiteServer

    shutil.rmtree(out, ignore_errors=True)
    result: dict = {"error": None}
    with SiteServer(root) as server:
        result["base_url"] = server.base_url
        started = time.monotonic()
        try:
            result["summary"] = crawl_site(f"{server.base_url}/{site.start}", out, settings=CRAWL_SETTINGS)
        except Exception as exc:  # noqa: BLE001 - a failed crawl is a result to report, not the end of the run
            result["error"] = f"{type(exc).__name__}: {exc}"
        result["seconds"] = time.monotonic() - started
    return result


def evaluate(site: st.Site, examples: int, show: bool) -> dict:
    """Fetch, crawl and score one site; prints its examples when ``show``."""
    root, version = st.fetch_site(site)
    pages = st.reachable_pages(root, site.start, site.generator)
    content = {k: p for k, p in pages.items() if p.content}
    out = st.CACHE / site.key / "crawl"
    crawl = _crawl(site, root, out)
    base = crawl["base_url"]

    docs: dict[str, dict] = {}
    for record in _read_jsonl(out / "documents.jsonl"):
        key = st.url_to_key(root, record.get("url", ""), base, site.canonical_base)
        key = key or st.url_to_key(root, record.get("canonical_url") or "", base, site.canonical_base)
        if key is not None:
            docs.setdefault(key, record)
    qa_by_page: dict[str, set[tuple[str, ...]]] = {}
    for pair in _read_jsonl(out / "qa.jsonl"):
        key = st.url_to_key(root, pair.get("url", ""), base, site.canonical_base)
        if key is not None:
            qa_by_page.setdefault(key, set()).add(st.question_key(pair.get("question", "")))

    log_text = (out / "crawl.log").read_text(encoding="utf-8", errors="replace") if (out / "crawl.log").exists() else ""
    fates = st.log_fates(log_text)
    dropped = (crawl.get("summary") or {}).get("dropped", {})

    kept = [k for k in content if k in docs]
    missed = [
        {"page": k, "fate": fates.get(f"{base}/{k}", "not fetched")}
        for k in content
        if k not in docs
    ]  # fmt: skip
    scored = []
    for key in kept:
        ref = content[key].reference
        html = (root / key).read_bytes().decode("utf-8", errors="replace")
        default, recall = _trafilatura(html)
        crawler_text = st.markdown_to_text(docs[key].get("text") or "")
        scored.append(
            {
                "page": key,
                "reference_tokens": len(st.tokens(ref)),
                "f1_crawler": st.token_f1(ref, crawler_text),
                "f1_trafilatura": st.token_f1(ref, default),
                "f1_trafilatura_recall": st.token_f1(ref, recall),
            }
        )

    faq_pages, faq_total, faq_found = 0, 0, 0
    faq_missed: list[dict] = []
    for key in content:
        questions = st.faq_questions(st.parse_html((root / key).read_bytes()), site.faq_document)
        if not questions:
            continue
        faq_pages += 1
        got = qa_by_page.get(key, set())
        for q in questions:
            faq_total += 1
            if st.question_key(q) in got:
                faq_found += 1
            else:
                faq_missed.append({"page": key, "question": q})

    result = {
        "site": site.key,
        "set": "dev" if site.dev else "held-out",
        "package": f"{site.package}={version}",
        "what": site.what,
        "start_url": f"{base}/{site.start}",
        "reachable_files": len(pages),
        "reachable": len(content),
        "excluded": sorted(k for k in pages if k not in content),
        "kept": len(kept),
        "page_recall": len(kept) / len(content) if content else None,
        "f1_crawler": mean(s["f1_crawler"] for s in scored) if scored else None,
        "f1_trafilatura": mean(s["f1_trafilatura"] for s in scored) if scored else None,
        "f1_trafilatura_recall": mean(s["f1_trafilatura_recall"] for s in scored) if scored else None,
        "faq_pages": faq_pages,
        "faq_questions": faq_total,
        "faq_found": faq_found,
        "faq_recall": faq_found / faq_total if faq_total else None,
        "crashes": st.count_crashes(log_text) + (1 if crawl["error"] else 0),
        "crawl_error": crawl["error"],
        "crawl_seconds": crawl["seconds"],
        "dropped": dropped,
        "missed": missed,
        "pages": scored,
        "faq_missed": faq_missed,
    }
    if show and examples:
        _print_examples(result, content, docs, examples)
    return result


def _print_examples(result: dict, content: dict[str, st.Page], docs: dict[str, dict], n: int) -> None:
    print(f"\n== {result['site']} ({result['set']}): {result['kept']}/{result['reachable']} kept", file=sys.stderr)
    if result["crawl_error"]:
        print(f"  crawl failed: {result['crawl_error']}", file=sys.stderr)
    if result["dropped"]:
        print(f"  crawl drops: {result['dropped']}", file=sys.stderr)
    for miss in result["missed"][:n]:
        print(f"  missed {miss['page']}: {miss['fate']}", file=sys.stderr)
    for row in sorted(result["pages"], key=lambda r: r["f1_crawler"])[:n]:
        ref = content[row["page"]].reference
        lost, added = st.token_diff(ref, st.markdown_to_text(docs[row["page"]].get("text") or ""))
        print(
            f"  F1 {row['f1_crawler']:.3f} (trafilatura {row['f1_trafilatura']:.3f}) {row['page']}"
            f" [{row['reference_tokens']} ref tokens]\n    missing {lost}\n    extra   {added}",
            file=sys.stderr,
        )
    for miss in result["faq_missed"][:n]:
        print(f"  FAQ question not found on {miss['page']}: {miss['question']}", file=sys.stderr)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def table(results: list[dict]) -> str:
    """The per-site table the issue asks for, one row per site."""
    head = ("site", "set", "reachable", "kept", "recall", "F1 crawler", "F1 trafilatura", "(recall)", "FAQ recall",
            "crashes", "crawl s")  # fmt: skip
    rows = [head]
    for r in results:
        faq = "n/a" if r["faq_recall"] is None else f"{r['faq_recall']:.3f} ({r['faq_pages']} pages)"
        rows.append(
            (r["site"], r["set"], str(r["reachable"]), str(r["kept"]), _fmt(r["page_recall"]), _fmt(r["f1_crawler"]),
             _fmt(r["f1_trafilatura"]), _fmt(r["f1_trafilatura_recall"]), faq, str(r["crashes"]),
             f"{r['crawl_seconds']:.1f}")
        )  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sites", nargs="+", choices=[s.key for s in st.SITES], help="only these sites")
    parser.add_argument("--examples", type=int, default=5, help="missed and lowest-F1 pages shown per site")
    parser.add_argument("--show-held-out", action="store_true", help="also show examples of held-out sites")
    parser.add_argument("--json", type=Path, default=st.CACHE / "accuracy.json", help="where the JSON goes")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sites = [s for s in st.SITES if not args.sites or s.key in args.sites]
    results = [evaluate(s, args.examples, s.dev or args.show_held_out) for s in sites]
    command = " ".join(["python", *sys.argv]) if argv is None else " ".join(["python", "bench/site_accuracy.py", *argv])
    machine = f"{platform.platform()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    print(f"\n$ {command}\nmachine: {machine}\n")
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"command": command, "machine": machine, "sites": results}, indent=1, ensure_ascii=False),
        encoding="utf-8",
    )
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
