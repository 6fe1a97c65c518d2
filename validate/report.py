"""Quality report: ``quality_report.json`` plus a self-contained ``quality_report.html``.

The HTML has no external assets: CSS is inline and plots are matplotlib PNGs embedded as base64 data
URIs, so the file can be attached to an issue or opened offline. Plots are drawn on a bare
``matplotlib.figure.Figure`` (Agg canvas, no pyplot global state) with a CJK-capable font fallback list;
missing-glyph warnings are silenced so a machine without CJK fonts still writes the report.

Built from the FINAL decisions: ``accepted_df`` and ``quarantined_df`` are what accepted.* and quarantine.*
hold, so every count in the report is a count of those files. ``clusters`` and
``decontam_hits["records"][*]["row"]`` are row positions in ``judged_df``: the accepted frame that
``near_duplicates`` / ``contaminated`` ran on, before their rows were moved to quarantine (default:
``accepted_df``, for callers that remove nothing).

Numbers shown are rounded: rates to 4 decimals in JSON and as percentages with 1 decimal in HTML and
Markdown, lengths to 1 decimal. Failure examples (``EXAMPLES_PER_CHECK`` per reason, each field cut
to ``SNIPPET`` characters) go to the JSON and HTML only, never to the dataset card, and every PII
match the gate's detectors know is masked in them (``[CARD]``, ``[EMAIL]``, ...) before cutting, so a
record quarantined as ``pii:*`` shows its placeholder, not the number.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import warnings
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from validate.gate import REASONS
from validate.io import strict_json
from validate.pii import KINDS, scrub_text
from validate.text import weighted_length

FONTS = ["Noto Sans CJK TC", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "WenQuanYi", "DejaVu Sans"]
FIELDS = ("instruction", "input", "output")
EXAMPLES_PER_CHECK = 3
TOP_CLUSTERS = 10
SNIPPET = 200
CARD_ROWS = 10  # languages / task types in the card's rejection tables
MISSING = "(missing)"

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
        "p50": round(float(s.quantile(0.5)), 1),
        "p95": round(float(s.quantile(0.95)), 1),
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


def reason_key(reason: str) -> str:
    """What a quarantine reason is counted under: ``near_duplicate_of:<id>`` is ``near_duplicate``."""
    return "near_duplicate" if str(reason).startswith("near_duplicate_of:") else str(reason)


def reason_counts(quarantined_df: pd.DataFrame) -> dict[str, int]:
    """Rows of ``quarantined_df`` per reason (:func:`reason_key`), most frequent first."""
    if not len(quarantined_df) or REASONS not in quarantined_df.columns:
        return {}
    keys = quarantined_df[REASONS].explode().dropna().map(reason_key)
    pairs = pd.DataFrame({"row": keys.index, "reason": keys.to_numpy()}).drop_duplicates()
    counts = pairs["reason"].value_counts()
    return dict(sorted(((str(k), int(v)) for k, v in counts.items()), key=lambda kv: (-kv[1], kv[0])))


def value_label(value: object) -> str:
    """A category value as the report counts it: the text, or the missing label for None, NaN and ''."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return MISSING
    return str(value) or MISSING


def _mask(text: str) -> str:
    """``text`` with every match of the gate's PII detectors replaced by its placeholder."""
    for kind in KINDS.values():
        text, _ = scrub_text(text, kind)
    return text


def _shown(value: object, limit: int = SNIPPET) -> str:
    """A text as the report shows it: PII masked first, then cut to ``limit`` characters."""
    return _snip(_mask(_snip(value, 100_000)), limit)


def _line_column(df: pd.DataFrame) -> str | None:
    # gate_file names it input_line when the records have a 'line' field of their own
    return next((c for c in ("input_line", "line") if c in df.columns), None)


def _examples(quarantined_df: pd.DataFrame, counts: dict[str, int]) -> dict[str, list[dict]]:
    """Up to ``EXAMPLES_PER_CHECK`` quarantined rows per reason, in quarantine order, texts masked and cut."""
    examples: dict[str, list[dict]] = {}
    if not counts:
        return examples
    need = sum(min(EXAMPLES_PER_CHECK, c) for c in counts.values())
    line_col = _line_column(quarantined_df)
    wanted = [c for c in dict.fromkeys([REASONS, line_col, "id", *FIELDS, "raw"]) if c in quarantined_df.columns]
    columns = {c: quarantined_df[c].tolist() for c in wanted}
    for pos in range(len(quarantined_df)):
        row = {c: v[pos] for c, v in columns.items()}
        reasons = row.get(REASONS)
        reasons = [] if reasons is None or (isinstance(reasons, float) and pd.isna(reasons)) else list(reasons)
        keys = list(dict.fromkeys(reason_key(r) for r in reasons))
        if not any(len(examples.get(k, [])) < EXAMPLES_PER_CHECK for k in keys):
            continue
        example: dict = {"quarantine_row": pos}
        line = row.get(line_col) if line_col else None
        if isinstance(line, int | float | np.integer | np.floating) and not pd.isna(line):
            example["line"] = int(line)
        example["id"] = _shown(row.get("id"), 64)
        example["reasons"] = [_snip(r, 120) for r in reasons]
        example.update({f: _shown(row.get(f)) for f in FIELDS})
        if isinstance(row.get("raw"), str):  # a JSONL line that held no record: its text is the example
            example["raw"] = _shown(row["raw"])
        for k in keys:
            ex = examples.setdefault(k, [])
            if len(ex) < EXAMPLES_PER_CHECK:
                ex.append(example)
                need -= 1
        if need <= 0:
            break
    return {k: examples.get(k, []) for k in counts}


def _rejection(accepted_df: pd.DataFrame, quarantined_df: pd.DataFrame, column: str) -> dict[str, dict]:
    """Per value of ``column`` over the input rows (accepted + quarantined): input, quarantined, rate."""

    def labels(df: pd.DataFrame) -> pd.Series:
        if column not in df.columns:
            return pd.Series([MISSING] * len(df), dtype=object)
        return pd.Series([value_label(v) for v in df[column].tolist()], dtype=object)

    acc, rej = labels(accepted_df), labels(quarantined_df)
    total = pd.concat([acc, rej], ignore_index=True).value_counts()
    bad = rej.value_counts()
    rows = {
        str(k): {"input": int(n), "quarantined": int(bad.get(k, 0)), "rate": round(int(bad.get(k, 0)) / int(n), 4)}
        for k, n in total.items()
    }
    return dict(sorted(rows.items(), key=lambda kv: (-kv[1]["input"], kv[0])))


def _mix(df: pd.DataFrame, column: str) -> dict[str, int]:
    if column not in df.columns or not len(df):
        return {}
    return _counts(pd.Series([value_label(v) for v in df[column].tolist()], dtype=object))


def pct(rate: float) -> str:
    """A rate as a percentage: 1 decimal, 2 below 1% so a small non-zero rate never reads 0.0%."""
    return f"{100 * rate:.2f}%" if 0 < rate < 0.01 else f"{100 * rate:.1f}%"


def _num(value: object) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.1f}"
    return str(value)


def threshold_rows(thresholds: dict | None) -> dict[str, str]:
    """The gate report's ``thresholds`` as flat {setting: value} strings, gate settings under their own names
    (mappings as ``pii.email``), the rest prefixed by their section."""
    rows: dict[str, str] = {}

    def put(name: str, value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                put(f"{name}.{k}" if name else str(k), v)
        elif value is None:
            rows[name] = "none"
        elif isinstance(value, list | tuple):
            rows[name] = ", ".join(str(v) for v in value) or "none"
        else:
            rows[name] = str(value)

    thresholds = thresholds or {}
    put("", thresholds.get("gate") or {})
    for section in ("near_duplicate", "decontamination"):
        if section in thresholds:
            value = thresholds[section]
            put(section, value if value is not None else "not run")
    for section, value in thresholds.items():
        if section not in ("gate", "near_duplicate", "decontamination"):
            put(section, value)
    return rows


def build_report(
    accepted_df: pd.DataFrame,
    quarantined_df: pd.DataFrame,
    gate_report: dict,
    clusters: list[list[int]] | None,
    decontam_hits: dict | None,
    out_dir: str | Path,
    *,
    judged_df: pd.DataFrame | None = None,
) -> dict:
    """Write quality_report.json and quality_report.html into ``out_dir``; return the report dict.

    ``accepted_df`` / ``quarantined_df``: the final accepted and quarantined rows (what the gate writes).
    ``judged_df``: the frame ``clusters`` and the decontamination rows index (default ``accepted_df``).
    ``decontam_hits``: what ``contaminated`` returned, or None / {} when no eval set was given.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clusters = clusters or []
    judged = accepted_df if judged_df is None else judged_df
    n_acc, n_q = len(accepted_df), len(quarantined_df)
    n_in = int(gate_report.get("input", n_acc + n_q))

    failures = reason_counts(quarantined_df)
    if not failures and REASONS not in quarantined_df.columns:
        failures = dict(gate_report.get("failures_by_check") or {})
    lengths = _lengths(accepted_df)
    langs, tasks = _mix(accepted_df, "language"), _mix(accepted_df, "task_type")

    top = []
    for members in clusters[:TOP_CLUSTERS]:
        recs = []
        for pos in members:
            if 0 <= pos < len(judged):
                r = judged.iloc[pos]
                recs.append(
                    {"row": int(pos), "id": _snip(r.get("id", ""), 64), **{f: _shown(r.get(f)) for f in FIELDS}}
                )
            else:
                recs.append({"row": int(pos)})
        top.append({"size": len(members), "kept_row": int(members[0]), "records": recs})

    ran = bool(decontam_hits)
    hits = decontam_hits or {}
    hit_records = hits.get("records", [])
    report = {
        "records_in": n_in,
        "accepted": n_acc,
        "quarantined": n_q,
        "failures_by_check": failures,
        "failure_rate_by_check": {k: round(v / n_in, 4) if n_in else 0.0 for k, v in failures.items()},
        "failure_examples": _examples(quarantined_df, failures),
        "failure_examples_note": f"up to {EXAMPLES_PER_CHECK} rows per reason, fields cut to {SNIPPET} characters; "
        "PII the gate detects (pii:* reasons included) is masked with its placeholder",
        "lengths": {f: _stats(v) for f, v in lengths.items()},
        "languages": langs,
        "task_types": tasks,
        "rejection_by_language": _rejection(accepted_df, quarantined_df, "language"),
        "rejection_by_task_type": _rejection(accepted_df, quarantined_df, "task_type"),
        "duplicates": {
            "clusters": len(clusters),
            "removed": int(sum(len(c) - 1 for c in clusters)),
            "top_clusters": top,
        },
        "decontamination": {
            "run": ran,
            "n": hits.get("n"),
            "min_tokens": hits.get("min_tokens"),
            "removed": len(hit_records),
            "records": hit_records[:100],
            "items_hit": hits.get("items_hit", []),
            "by_set": hits.get("by_set", {}),
        },
        "thresholds": gate_report.get("thresholds", {}),
        "gate": {k: v for k, v in gate_report.items() if k not in ("failures_by_check", "thresholds")},
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


def _rejection_rows(rates: dict[str, dict]) -> list[tuple]:
    return [(k, v["input"], v["quarantined"], pct(v["rate"])) for k, v in rates.items()]


def _decontam_text(dc: dict) -> str:
    """One sentence on what decontamination did (shared by the HTML and the card)."""
    if not dc.get("run"):
        return "No eval set was given, so decontamination was not run."
    n = dc.get("n") or "?"
    short = f"; eval items under {dc['min_tokens']} tokens are skipped" if dc.get("min_tokens") else ""
    return (
        f"{_n(dc['removed'], 'record')} shared a {n}-token window (words, or Han characters in Chinese text) with "
        f"an eval item and were removed. Eval items shorter than {n} tokens are matched whole{short}."
    )


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _near_dup_rule(thresholds: dict | None) -> str:
    """One sentence on the near-duplicate rule the gate ran with, or "" when it is not recorded."""
    nd = (thresholds or {}).get("near_duplicate")
    if not isinstance(nd, dict):
        return ""
    rule = f"Rule: exact Jaccard of the records' shingles >= {nd.get('jaccard_threshold')}"
    short = nd.get("one_edit_rule_below")
    if isinstance(short, dict):
        rule += (
            f", or, for records under {short.get('words')} words / {short.get('han_chars')} Han characters, "
            f"one edit of at most {short.get('edit_words')} word / {short.get('edit_han_chars')} Han characters"
        )
    moved = nd.get("reorder_rule")
    if isinstance(moved, dict):
        rule += (
            ", or the same sentences and lines in another order (only those of at least "
            f"{moved.get('min_moved_words')} words / {moved.get('min_moved_han_chars')} Han characters may move)"
        )
    return rule + " (CJK and full-width punctuation folded to ASCII, spacing and case ignored first)."


def _html(rep: dict, plots: dict[str, str]) -> str:
    e = html.escape
    n_in = rep["records_in"]
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Quality report</title>',
        f"<style>{_CSS}</style></head><body><h1>Quality report</h1>",
        '<h2 id="summary">Summary</h2>',
        '<p class="muted">Counts of the final accepted.* and quarantine.* files.</p>',
        _table(
            [
                ("records in", n_in),
                ("accepted", rep["accepted"]),
                ("quarantined", rep["quarantined"]),
                ("near-duplicates removed", rep["duplicates"]["removed"]),
                (
                    "contaminated removed",
                    rep["decontamination"]["removed"] if rep["decontamination"]["run"] else "not run",
                ),
            ],
            ("metric", "value"),
        ),
        '<h2 id="lengths">Length histograms</h2>'
        '<p class="muted">Accepted records; characters, each Han character counted 3x.</p>',
        _img(plots, "lengths"),
        _table(
            [
                (f, *(_num(s.get(k, "")) for k in ("count", "mean", "p50", "p95", "max")))
                for f, s in rep["lengths"].items()
            ],
            ("field", "count", "mean", "p50", "p95", "max"),
        ),
        '<h2 id="languages">Language mix</h2><p class="muted">Accepted records.</p>',
        _img(plots, "languages"),
        _table(list(rep["languages"].items()), ("language", "records")),
        '<h3>Rejection rate per language</h3><p class="muted">Quarantined / input records with that language tag.</p>',
        _table(_rejection_rows(rep["rejection_by_language"]), ("language", "input", "quarantined", "rejected")),
        '<h2 id="task-types">Task-type mix</h2><p class="muted">Accepted records.</p>',
        _img(plots, "task_types"),
        _table(list(rep["task_types"].items()), ("task_type", "records")),
        "<h3>Rejection rate per task type</h3>",
        _table(_rejection_rows(rep["rejection_by_task_type"]), ("task_type", "input", "quarantined", "rejected")),
        '<h2 id="failures">Failures per check</h2>',
        '<p class="muted">Quarantined rows per reason (a row can fail several). Examples: '
        f"{e(rep['failure_examples_note'])}.</p>",
        _img(plots, "failures"),
        _table(
            [(k, v, pct(rep["failure_rate_by_check"].get(k, 0.0))) for k, v in rep["failures_by_check"].items()],
            ("reason", "records", "of input"),
        ),
    ]
    for check, count in rep["failures_by_check"].items():
        parts.append(f"<h3>{e(check)} <span class='muted'>({count})</span></h3>")
        for ex in rep["failure_examples"].get(check, []):
            where = f"quarantine row {ex['quarantine_row']}" + (f", input line {ex['line']}" if "line" in ex else "")
            body = "".join(
                f"<b>{e(k)}</b><pre>{e(', '.join(v) if isinstance(v, list) else str(v))}</pre>"
                for k, v in ex.items()
                if v and k not in ("quarantine_row", "line")
            )
            parts.append(f"<div><p class='muted'>{e(where)}</p>{body}</div><hr>")
    dup = rep["duplicates"]
    parts.append(
        f'<h2 id="duplicates">Near-duplicate clusters</h2><p>{_n(dup["clusters"], "cluster")}, '
        f"{_n(dup['removed'], 'record')} removed. {e(_near_dup_rule(rep.get('thresholds')))}</p>"
    )
    if dup["top_clusters"]:
        parts.append(
            f"<p>Top {len(dup['top_clusters'])}, kept record first; rows are positions in the accepted set before "
            "near-duplicates and contaminated records were removed.</p>"
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
    parts.append(f'<h2 id="decontamination">Decontamination</h2><p>{e(_decontam_text(dc))}</p>')
    if dc["run"]:
        parts.append(
            _table(
                [(s, v.get("items", 0), v.get("hit", 0), v.get("skipped_short", 0)) for s, v in dc["by_set"].items()],
                ("eval set", "items", "items hit", "skipped (too short)"),
            )
        )
        if dc["items_hit"]:
            parts.append(
                _table(
                    [(h["set"], h["index"], h["records"]) for h in dc["items_hit"][:200]],
                    ("eval set", "item index", "records hit"),
                )
            )
        else:
            parts.append('<p class="muted">No eval item was hit.</p>')
    rows = threshold_rows(rep.get("thresholds"))
    parts.append('<h2 id="thresholds">Thresholds</h2>')
    if rows:
        parts.append(
            f"<details><summary>{len(rows)} settings the gate ran with</summary>"
            + _table(list(rows.items()), ("setting", "value"))
            + "</details>"
        )
    else:
        parts.append('<p class="muted">Not recorded.</p>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _md(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def summary_table_markdown(report: dict) -> str:
    """The card's "Quality gate" section: counts, then rejection rates per language and task type.

    Only counts and rates: never example rows (a public card must not carry rejected text or PII).
    """
    top = list(report.get("failures_by_check", {}).items())[:3]
    reasons = ", ".join(f"{k} ({v})" for k, v in top) or "none"
    dc = report.get("decontamination", {})
    rows = [
        ("Records in", report.get("records_in", 0)),
        ("Accepted", report.get("accepted", 0)),
        ("Quarantined", report.get("quarantined", 0)),
        ("Top failure reasons", reasons),
        ("Near-duplicates removed", report.get("duplicates", {}).get("removed", 0)),
        ("Contaminated removed", dc.get("removed", 0) if dc.get("run", True) else "not run (no eval set)"),
    ]
    lines = ["| Metric | Value |", "|---|---|"]
    lines += [f"| {k} | {_md(v)} |" for k, v in rows]
    for column, title in (("rejection_by_language", "language"), ("rejection_by_task_type", "task_type")):
        rates = report.get(column) or {}
        if not rates:
            continue
        lines += ["", f"| {title} | input | quarantined | rejected |", "|---|---|---|---|"]
        items = list(rates.items())
        lines += [f"| {_md(k)} | {v['input']} | {v['quarantined']} | {pct(v['rate'])} |" for k, v in items[:CARD_ROWS]]
        if len(items) > CARD_ROWS:
            rest = items[CARD_ROWS:]
            lines.append(
                f"| {len(rest)} more | {sum(v['input'] for _, v in rest)} | "
                f"{sum(v['quarantined'] for _, v in rest)} | |"
            )
    return "\n".join(lines) + "\n"
