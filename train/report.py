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


def plot(report: dict, path: Path) -> None:
    """Held-out response loss against tokens for the real and the control run, and the pairing gains."""
    import matplotlib

    matplotlib.use("Agg")  # no display on servers and CI
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for name, style in (("real", "-"), ("control", "--")):
        run = report.get("runs", {}).get(name)
        if not run:
            continue
        curve = [(0, report["heldout_response_loss_before"]), *run["eval_curve"]]
        left.plot([t for t, _ in curve], [v for _, v in curve], style, marker="o", label=f"{name}: held-out")
        train = run["train_curve"]
        left.plot([t for t, _ in train], [v for _, v in train], style, alpha=0.3, label=f"{name}: train")
    left.set_xlabel("tokens seen")
    left.set_ylabel("response loss (nats/token)")
    left.set_title("loss")
    left.legend(fontsize=8)
    v = report["verdict"]
    names = ["base", "after real", "after control"]
    gains = [report["pairing_gain_before"], v["pairing_gain"], v.get("control_pairing_gain", 0.0)]
    right.bar(names, gains, color=["#999999", "#2a7", "#c63"])
    right.axhline(0, color="black", linewidth=0.5)
    right.set_ylabel("pairing gain (nats/token)")
    right.set_title(f"verdict: {v['verdict']} (margin {v.get('margin', float('nan')):.3f})")
    fig.tight_layout()
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
        ("pairing gain (real / shuffled control)", f"{v['pairing_gain']} / {v.get('control_pairing_gain', 'n/a')}"),
    ]
    table = "\n".join(f"| {k} | {str(val).replace('|', '/')} |" for k, val in rows)
    return (
        f"{CARD_BEGIN}\n## Usefulness verdict (dataagent train)\n\n| | |\n|---|---|\n{table}\n\n"
        "The pairing gain is held-out response loss under another record's prompt minus under its own; the "
        "control trains on the same set with responses shuffled across records.\n"
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
