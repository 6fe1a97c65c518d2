"""Quality report: ``quality_report.json`` plus a self-contained ``quality_report.html``.

The HTML has no external assets: CSS is inline and plots are matplotlib PNGs embedded as base64 data
URIs, so the file can be attached to an issue or opened offline. Plots are drawn on a bare
``matplotlib.figure.Figure`` (Agg canvas, no pyplot global state) with a CJK-capable font fallback list;
missing-glyph warnings are silenced so a machine without CJK fonts still writes the report.

``clusters`` and ``decontam_hits["records"][*]["row"]`` are row positions in ``accepted_df`` (run
``near_duplicates`` / ``contaminated`` on the accepted frame before removing anything).
"""

from __future__ import annotations

import base64
import html
import io
import logging
import warnings
from pathlib import Path

import matplotlib
import pandas as pd
from matplotlib.figure import Figure

from validate.gate import REASONS
from validate.io import strict_json
from validate.text import weighted_length

FONTS = ["Noto Sans CJK TC", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "WenQuanYi", "DejaVu Sans"]
FIELDS = ("instruction", "input", "output")
EXAMPLES_PER_CHECK = 3
TOP_CLUSTERS = 10
SNIPPET = 300

_CSS = """
body{font-family:"Noto Sans CJK TC","Noto Sans CJK SC","PingFang TC","Microsoft JhengHei",sans-serif;
margin:2em auto;max-width:1100px;color:#222;line-height:1.45}
h1{border-bottom:2px solid #444}h2{margin-top:1.8em;border-bottom:1px solid #bbb}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}
th{background:#f1f1f1;text-align:left}pre{white-space:pre-wrap;background:#f7f7f7;padding:.4em;margin:.2em 0;
font-size:.9em}img{max-width:100%}.muted{color:#777}
"""


def _snip(text: object, limit: int = SNIPPET) -> str:
    s = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
    return s if len(s) <= limit else s[:limit] + "…"


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.astype(str).value_counts().items()} if len(series) else {}


def _lengths(df: pd.DataFrame) -> dict[str, list[int]]:
    return {f: [weighted_length(str(t)) for t in df[f]] if f in df.columns else [] for f in FIELDS}


def _stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0}
    s = pd.Series(values)
    return {
        "count": int(s.size),
        "mean": round(float(s.mean()), 1),
        "p50": float(s.quantile(0.5)),
        "p95": float(s.quantile(0.95)),
        "max": int(s.max()),
    }


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(lengths: dict[str, list[int]], langs: dict, tasks: dict, failures: dict) -> dict[str, str]:
    """Base64 PNG data URIs, drawn with the CJK font fallback; glyph warnings suppressed."""
    out: dict[str, str] = {}
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    with warnings.catch_warnings(), matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": FONTS}):
        warnings.simplefilter("ignore")
        fig = Figure(figsize=(12, 3.2))
        for k, field in enumerate(FIELDS):
            ax = fig.add_subplot(1, 3, k + 1)
            vals = lengths.get(field) or [0]
            ax.hist(vals, bins=40, color="#4c72b0")
            ax.set_title(f"{field} length (Han x3)")
            ax.set_yscale("log")
        out["lengths"] = _png(fig)
        for key, data, title in (
            ("languages", langs, "language mix"),
            ("task_types", tasks, "task-type mix"),
            ("failures", failures, "failures per check"),
        ):
            if not data:
                continue
            items = sorted(data.items(), key=lambda kv: -kv[1])[:20]
            fig = Figure(figsize=(7, 0.35 * len(items) + 1))
            ax = fig.add_subplot(1, 1, 1)
            ax.barh([k for k, _ in items][::-1], [v for _, v in items][::-1], color="#55a868")
            ax.set_title(title)
            out[key] = _png(fig)
    return out


def build_report(
    accepted_df: pd.DataFrame,
    quarantined_df: pd.DataFrame,
    gate_report: dict,
    clusters: list[list[int]] | None,
    decontam_hits: dict | None,
    out_dir: str | Path,
) -> dict:
    """Write quality_report.json and quality_report.html into ``out_dir``; return the report dict."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clusters = clusters or []
    decontam_hits = decontam_hits or {}
    n_acc, n_q = len(accepted_df), len(quarantined_df)

    failures: dict[str, int] = dict(gate_report.get("failures_by_check") or {})
    examples: dict[str, list[dict]] = {}
    if n_q and REASONS in quarantined_df.columns:
        for row in quarantined_df.itertuples(index=False):
            reasons = getattr(row, REASONS)
            for reason in [] if reasons is None else list(reasons):
                if not gate_report.get("failures_by_check"):
                    failures[reason] = failures.get(reason, 0) + 1
                ex = examples.setdefault(reason, [])
                if len(ex) < EXAMPLES_PER_CHECK:
                    example = {f: _snip(getattr(row, f, "")) for f in ("id", *FIELDS)}
                    raw = getattr(row, "raw", None)  # a JSONL line that held no record: its text is the example
                    if isinstance(raw, str):
                        example["raw"] = _snip(raw)
                    ex.append(example)

    lengths = _lengths(accepted_df)
    langs = _counts(accepted_df["language"]) if "language" in accepted_df.columns else {}
    tasks = _counts(accepted_df["task_type"]) if "task_type" in accepted_df.columns else {}

    top = []
    for members in clusters[:TOP_CLUSTERS]:
        recs = []
        for pos in members:
            if 0 <= pos < n_acc:
                r = accepted_df.iloc[pos]
                recs.append({"row": int(pos), "id": str(r.get("id", "")), **{f: _snip(r.get(f, "")) for f in FIELDS}})
            else:
                recs.append({"row": int(pos)})
        top.append({"size": len(members), "kept_row": int(members[0]), "records": recs})

    hit_records = decontam_hits.get("records", [])
    report = {
        "records_in": int(gate_report.get("input", n_acc + n_q)),
        "accepted": n_acc,
        "quarantined": n_q,
        "failures_by_check": dict(sorted(failures.items(), key=lambda kv: (-kv[1], kv[0]))),
        "failure_examples": examples,
        "lengths": {f: _stats(v) for f, v in lengths.items()},
        "languages": langs,
        "task_types": tasks,
        "duplicates": {
            "clusters": len(clusters),
            "removed": int(sum(len(c) - 1 for c in clusters)),
            "top_clusters": top,
        },
        "decontamination": {
            "n": decontam_hits.get("n"),
            "removed": len(hit_records),
            "records": hit_records[:100],
            "items_hit": decontam_hits.get("items_hit", []),
            "by_set": decontam_hits.get("by_set", {}),
        },
        "gate": {k: v for k, v in gate_report.items() if k != "failures_by_check"},
    }
    (out / "quality_report.json").write_text(strict_json(report, ensure_ascii=False, indent=2), "utf-8")
    plots = _plots(lengths, langs, tasks, report["failures_by_check"])
    (out / "quality_report.html").write_text(_html(report, plots), "utf-8")
    return report


def _table(rows: list[tuple], head: tuple) -> str:
    e = html.escape
    h = "".join(f"<th>{e(str(c))}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><tr>{h}</tr>{b}</table>"


def _img(plots: dict, key: str) -> str:
    return f'<img alt="{key}" src="{plots[key]}">' if key in plots else '<p class="muted">no data</p>'


def _html(rep: dict, plots: dict[str, str]) -> str:
    e = html.escape
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Quality report</title>',
        f"<style>{_CSS}</style></head><body><h1>Quality report</h1>",
        '<h2 id="summary">Summary</h2>',
        _table(
            [
                ("records in", rep["records_in"]),
                ("accepted", rep["accepted"]),
                ("quarantined", rep["quarantined"]),
                ("near-duplicates removed", rep["duplicates"]["removed"]),
                ("contaminated removed", rep["decontamination"]["removed"]),
            ],
            ("metric", "value"),
        ),
        '<h2 id="lengths">Length histograms</h2><p class="muted">Characters, each Han character counted 3x.</p>',
        _img(plots, "lengths"),
        _table(
            [(f, *(s.get(k, "") for k in ("count", "mean", "p50", "p95", "max"))) for f, s in rep["lengths"].items()],
            ("field", "count", "mean", "p50", "p95", "max"),
        ),
        '<h2 id="languages">Language mix</h2>',
        _img(plots, "languages"),
        _table(list(rep["languages"].items()), ("language", "records")),
        '<h2 id="task-types">Task-type mix</h2>',
        _img(plots, "task_types"),
        _table(list(rep["task_types"].items()), ("task_type", "records")),
        '<h2 id="failures">Failures per check</h2>',
        _img(plots, "failures"),
    ]
    for check, count in rep["failures_by_check"].items():
        parts.append(f"<h3>{e(check)} <span class='muted'>({count})</span></h3>")
        for ex in rep["failure_examples"].get(check, []):
            parts.append(
                "<div>" + "".join(f"<b>{e(k)}</b><pre>{e(str(v))}</pre>" for k, v in ex.items() if v) + "</div><hr>"
            )
    dup = rep["duplicates"]
    parts.append(
        f'<h2 id="duplicates">Near-duplicate clusters</h2><p>{dup["clusters"]} clusters, '
        f"{dup['removed']} records removed. Top {len(dup['top_clusters'])} (kept record first):</p>"
    )
    for k, c in enumerate(dup["top_clusters"], 1):
        parts.append(f"<h3>Cluster {k} <span class='muted'>(size {c['size']})</span></h3>")
        rows = [
            (
                r["row"],
                "kept" if r["row"] == c["kept_row"] else "dropped",
                _snip(r.get("instruction", ""), 120),
                _snip(r.get("output", ""), 200),
            )
            for r in c["records"]
        ]
        parts.append(_table(rows, ("row", "", "instruction", "output")))
    dc = rep["decontamination"]
    parts.append(
        f'<h2 id="decontamination">Decontamination</h2><p>{dc["removed"]} records share a '
        f"{dc['n'] or '-'}-gram with an eval item.</p>"
    )
    parts.append(
        _table(
            [(s, v.get("items", 0), v.get("hit", 0), v.get("skipped_short", 0)) for s, v in dc["by_set"].items()],
            ("eval set", "items", "items hit", "skipped (too short)"),
        )
    )
    parts.append(
        _table(
            [(h["set"], h["index"], h["records"]) for h in dc["items_hit"][:200]],
            ("eval set", "item index", "records hit"),
        )
    )
    parts.append("</body></html>")
    return "\n".join(parts)


def summary_table_markdown(report: dict) -> str:
    """A short Markdown table for the dataset card."""
    top = list(report.get("failures_by_check", {}).items())[:3]
    reasons = ", ".join(f"{k} ({v})" for k, v in top) or "none"
    rows = [
        ("Records in", report.get("records_in", 0)),
        ("Accepted", report.get("accepted", 0)),
        ("Quarantined", report.get("quarantined", 0)),
        ("Top failure reasons", reasons),
        ("Near-duplicates removed", report.get("duplicates", {}).get("removed", 0)),
        ("Contaminated removed", report.get("decontamination", {}).get("removed", 0)),
    ]
    lines = ["| Metric | Value |", "|---|---|"]
    lines += ["| {} | {} |".format(k, str(v).replace("|", "\\|")) for k, v in rows]
    return "\n".join(lines) + "\n"
