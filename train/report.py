"""The verdict report: JSON and a PNG beside the adapter, and optionally a section in the dataset card."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

CARD_BEGIN = "<!-- dataagent:train-verdict:begin -->"
CARD_END = "<!-- dataagent:train-verdict:end -->"


def write_json(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def _smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average: per-step losses of small batches are too noisy to read."""
    out, level = [], None
    for v in values:
        level = v if level is None else weight * level + (1 - weight) * v
        out.append(level)
    return out


def plot(report: dict, path: Path) -> None:
    """Left: held-out response loss and smoothed training loss of both runs. Right: the decision: mean per-record
    pairing gains (base, real, control) and real minus control with its interval, against 0 and the
    useful-effect line, with the verdict and its reason written out."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for name, style in (("real", "-"), ("control", "--")):
        run = report.get("runs", {}).get(name)
        if not run:
            continue
        curve = [(0, report["heldout_response_loss_before"]), *run["eval_curve"]]
        left.plot([t for t, _ in curve], [v for _, v in curve], style, marker="o", label=f"{name}: held-out")
        train = run["train_curve"]
        left.plot([t for t, _ in train], _smooth([v for _, v in train]), style, alpha=0.5, label=f"{name}: train")
    left.set_xlabel("tokens seen")
    left.set_ylabel("response loss (nats/token)")
    left.set_title("loss (training loss smoothed)")
    left.legend(fontsize=8)

    v = report["verdict"]
    names = ["base", "real", "control", "real - control"]
    values = [v.get("pairing_gain_base", 0.0), v.get("pairing_gain", 0.0), v.get("control_pairing_gain", 0.0)]
    values.append(v.get("margin", 0.0))
    colors = ["#999999", "#2a7", "#c63", {"pass": "#2a7", "fail": "#c33"}.get(v["verdict"], "#d90")]
    bars = right.bar(names, values, color=colors)
    if "interval" in v:
        lo, hi = v["interval"]
        m = v["margin"]
        right.errorbar([3], [m], yerr=[[m - lo], [hi - m]], fmt="none", ecolor="black", capsize=6)
    right.axhline(0, color="black", linewidth=0.6)
    right.axhline(v.get("min_effect", 0.0), color="#2a7", linestyle=":", label=f"useful effect {v.get('min_effect')}")
    for bar, value in zip(bars, values, strict=True):
        right.annotate(f"{value:.3f}", (bar.get_x() + bar.get_width() / 2, value), ha="center",
                       va="bottom" if value >= 0 else "top", fontsize=8)  # fmt: skip
    right.set_ylabel("pairing gain, first response tokens (nats/token)")
    right.legend(fontsize=8, loc="upper left")
    right.set_title(f"verdict: {v['verdict'].upper()}", fontweight="bold")
    fig.text(0.5, 0.01, "\n".join(textwrap.wrap(v.get("reason", ""), 150)), ha="center", va="bottom", fontsize=8)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)


def card_section(report: dict) -> str:
    v = report["verdict"]
    rows = [
        ("verdict", f"**{v['verdict']}** ({v['reason']})"),
        ("base model", report["model"]),
        ("method", report["config"]["adapter"]["method"]),
        ("token budget", f"{report['config']['token_budget']:,}"),
        ("held-out split", report["heldout_split"]),
        (
            "held-out response loss",
            f"{report['heldout_response_loss_before']} -> {report['heldout_response_loss_after']}",
        ),
        ("pairing gain (base / real / shuffled control)",
         f"{v.get('pairing_gain_base')} / {v['pairing_gain']} / {v.get('control_pairing_gain', 'n/a')}"),
        ("real minus control", f"{v.get('margin', 'n/a')} ({v.get('confidence', 0.95):.0%} interval "
         f"{v.get('interval', 'n/a')}, useful from {v.get('min_effect')})"),
    ]  # fmt: skip
    table = "\n".join(f"| {k} | {str(val).replace('|', '/')} |" for k, val in rows)
    return (
        f"{CARD_BEGIN}\n## Usefulness verdict (dataagent train)\n\n| | |\n|---|---|\n{table}\n\n"
        "The pairing gain is a held-out record's loss on its first response tokens under another record's prompt "
        "minus under its own; the control trains on the same set with responses shuffled across records; the "
        "interval is a bootstrap over held-out sources.\n"
        f"{CARD_END}"
    )


def update_card(dataset: str, report: dict) -> str:
    """Put the verdict section into the dataset card (replacing an earlier one); returns where.

    A local published folder gets its README.md rewritten; a hub id is pushed with the HF_TOKEN of
    the environment through huggingface_hub.
    """
    from huggingface_hub import DatasetCard

    local = Path(dataset)
    card = DatasetCard.load(local / "README.md" if local.is_dir() else dataset, repo_type="dataset")
    pattern = re.compile(re.escape(CARD_BEGIN) + ".*?" + re.escape(CARD_END), re.DOTALL)
    section = card_section(report)
    text = card.text
    card.text = pattern.sub(lambda _: section, text) if pattern.search(text) else f"{text.rstrip()}\n\n{section}\n"
    if local.is_dir():
        card.save(local / "README.md")
        return str(local / "README.md")
    card.push_to_hub(
        dataset, repo_type="dataset", token=os.environ.get("HF_TOKEN"), commit_message="Add usefulness verdict"
    )
    return f"hub:{dataset}"
