"""The smoke-train: does this published set teach a model what it claims? `smoke_train` runs these steps in order.

1. Load and split (`load_and_split`): the published set (folder or hub id, any split names); whole source
   documents held out. Read by the main process and sent to the others when several train together.
2. The base (`prepare_base`, `encode_heldout`, `measure`): the given model, or (demo/tests) a tiny Llama with
   a tokenizer trained here and a short causal-LM pass on raw documents; measured on the held-out records:
   response loss, and the pairing gain (train/verdict.py).
3. Train real (`train_run`): adapter (or full fine-tune) on the training rows for a token budget.
4. Verify the adapter (`save_adapter`, `check_integrity`): saved, non-empty, and reloads to the same loss.
5. Train control (`train_run` again): same base, budget and seed, responses shuffled across training rows.
6. Judge (train/verdict.py `decide`): per-record pairing gains bootstrapped over sources, and the loss drop.
7. Report: JSON + PNG + sample generations, and the card's training section when asked.

Launched on several processes (torchrun, accelerate launch; docs/SCALEOUT.md), every process runs every step:
the training is data-parallel with the same global batch as one process (train/loop.py), every process
measures the same model on all held-out records (so the verdict is the same everywhere), and only the main
process writes a file (the tiny base, the adapter, the report); the others wait for it where they read them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from transformers import set_seed

from train import adapters, data, distributed, loop, report, samples
from train.config import TrainConfig
from train.documents import load_documents
from train.model import load_base, load_tokenizer, mixed_precision, pick_device
from train.tiny import build_tiny_base
from train.verdict import decide, record_source, train_heldout_split
from validate.errors import DataAgentError
from validate.progress import bar as progress_bar


def fresh_load_kwargs(path: str) -> dict:
    """For a local folder, rebuild the Arrow cache instead of reusing it.

    datasets 5.2 keys the cache of a folder whose card has YAML configs by the folder's
    basename and metadata, not by file contents: a re-published folder (or another one
    with the same name and split sizes) silently loads the old rows. Cheap to avoid.
    """
    return {"download_mode": "force_redownload"} if Path(path).is_dir() else {}


def load_published(path: str) -> dict[str, list[dict]]:
    """Every split of a published folder or hub id, as records."""
    # A path, not a hub id ("name" or "owner/name"): say so plainly instead of "couldn't reach it on the Hub".
    looks_local = path.startswith((".", "/", "~")) or path.count("/") > 1
    if looks_local and not Path(path).expanduser().is_dir():
        raise DataAgentError("no such dataset folder", path)
    try:
        ds = datasets.load_dataset(path, **fresh_load_kwargs(path))
    except Exception as exc:  # datasets raises many types for a missing or malformed set
        raise DataAgentError(f"cannot load the dataset: {exc.__class__.__name__}: {exc}", path) from exc
    missing = {"instruction", "output"} - set(next(iter(ds.values())).column_names)
    if missing:
        raise DataAgentError(f"records lack the field '{sorted(missing)[0]}' the trainer needs", path)
    return {name: list(split) for name, split in ds.items()}


def _saved_tensors(folder: Path) -> dict[str, torch.Tensor]:
    files = sorted(folder.glob("*.safetensors"))
    return {k: v for f in files for k, v in load_file(str(f)).items()}


def _adapter_state(model: torch.nn.Module, method: str) -> dict[str, torch.Tensor]:
    """The tensors save_pretrained writes, under the names it writes them, detached and copied."""
    if method == "full":
        state = {n: p for n, p in model.named_parameters() if p.requires_grad}
    else:
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(model)
    return {k: v.detach().float().cpu().clone() for k, v in state.items()}


@dataclass
class HeldOut:
    """The held-out records a model is measured on, each encoded with its own prompt and with a swapped one."""

    rows: list[dict]
    own: list[dict]
    swapped: list[dict]
    groups: list[str]  # each record's source: the verdict bootstraps over sources, not records
    prompt_too_long: int
    response_cut: int


@dataclass
class Run:
    """One training run: its `runs[label]` entry in the report, and what the verify and judge steps need."""

    summary: dict
    gains: list[float]
    init: dict[str, torch.Tensor]  # the adapter before training, so verify can tell a trained save from an empty one
    prompt_too_long: int
    response_cut: int
    token_budget: int


def load_and_split(cfg: TrainConfig, acc: Accelerator) -> tuple[list[dict], list[dict], str]:
    """Step 1: the published records, split into training rows and held-out rows by whole source document."""
    splits = distributed.on_main(acc, load_published, cfg.dataset)
    train_rows, held_rows, how = train_heldout_split(splits, cfg.heldout_fraction)
    if not train_rows or not held_rows:
        raise DataAgentError("need records from at least two source documents to hold one out", cfg.dataset)
    return train_rows, held_rows, how


def make_accelerator(cfg: TrainConfig) -> Accelerator:
    device = pick_device(cfg.device)
    return Accelerator(mixed_precision=mixed_precision(cfg.precision, device), cpu=device == "cpu")


def prepare_base(
    cfg: TrainConfig,
    train_rows: list[dict],
    held_rows: list[dict],
    out: Path,
    acc: Accelerator,
    show_progress: bool,
) -> tuple[str, dict | None]:
    """Step 2: the base's path, and the pretraining summary when a tiny base had to be built here.

    The tiny base (demo and tests) never sees the held-out documents, or the pairing gain would measure recall.
    """
    if cfg.model is not None:
        return cfg.model, None
    base_path = str(out / "base")
    held_refs = {str(r.get("source_ref") or "") for r in held_rows}
    docs = distributed.on_main(acc, load_documents, cfg.documents, exclude_refs=held_refs) if cfg.documents else []
    rows_text = [r["instruction"] + "\n" + (r.get("input") or "") + "\n" + r["output"] for r in train_rows]
    pretrain = build_tiny_base(
        docs, rows_text, base_path, steps=cfg.pretrain_steps, lr=cfg.pretrain_lr, block=cfg.max_len,
        batch_size=cfg.batch_size, seed=cfg.seed, progress=show_progress and acc.is_main_process, accelerator=acc,
    )  # fmt: skip
    return base_path, pretrain


def encode_heldout(cfg: TrainConfig, tokenizer: object, template: str, held_rows: list[dict]) -> HeldOut:
    """The held-out rows whose own and swapped prompts both fit, encoded both ways."""
    # A held-out prompt is never cut (its instruction is what the pairing is about): rows whose own or swapped
    # prompt leaves no room for the response are left out of the measurement, and counted.
    swapped = data.swapped_prompts(held_rows)
    fits = [
        all(data.prompt_fits(tokenizer, r, cfg.max_len, template) for r in pair)
        for pair in zip(held_rows, swapped, strict=True)
    ]
    rows = [r for r, ok in zip(held_rows, fits, strict=True) if ok]
    swapped = [r for r, ok in zip(swapped, fits, strict=True) if ok]
    if not rows:
        raise DataAgentError(
            f"train: no held-out record fits --max-len {cfg.max_len} with its whole prompt; raise --max-len",
            cfg.dataset,
        )
    stats: dict = {}
    own = data.encode_records(tokenizer, rows, cfg.max_len, template, stats=stats)
    swap = data.encode_records(tokenizer, swapped, cfg.max_len, template)
    groups = [record_source(r) for r in rows]
    return HeldOut(rows, own, swap, groups, fits.count(False), stats.get("response_cut", 0))


def load_seeded_base(cfg: TrainConfig, base_path: str, device: str) -> torch.nn.Module:
    # Reseeding before every load gives the real and control runs the same adapter init and batch order.
    set_seed(cfg.seed)
    return load_base(base_path, cfg.quant, device, cfg.gradient_checkpointing)


def measure(model: torch.nn.Module, held: HeldOut, pad: int, gain_tokens: int) -> tuple[float, list[float]]:
    """Held-out response loss (pooled per token), and each record's pairing gain (train/verdict.py)."""
    own = loop.record_losses(model, held.own, pad, gain_tokens)
    alt = loop.record_losses(model, held.swapped, pad, gain_tokens)
    gains = [a - o for a, o in zip(alt, own, strict=True)]
    return loop.eval_loss(model, held.own, pad), gains


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def token_budget(cfg: TrainConfig, examples: list[dict]) -> int:
    """The token budget, capped at max_epochs passes over the examples when that is smaller."""
    if not cfg.max_epochs:
        return cfg.token_budget
    return min(cfg.token_budget, max(1, int(cfg.max_epochs * sum(len(e["input_ids"]) for e in examples))))


def train_run(
    cfg: TrainConfig,
    model: torch.nn.Module,
    rows: list[dict],
    label: str,
    tokenizer: object,
    template: str,
    held: HeldOut,
    acc: Accelerator,
    show_progress: bool,
) -> tuple[torch.nn.Module, Run]:
    """Steps 3 and 5: wrap the base in the adapter, train it on `rows` for the token budget, measure it."""
    model = adapters.wrap(model, cfg.adapter)
    init = _adapter_state(model, cfg.adapter.method)
    # Rows whose prompt would be cut are left out and counted: a cut prompt teaches nothing true.
    fitting = [r for r in rows if data.prompt_fits(tokenizer, r, cfg.max_len, template)]
    if not fitting:
        raise DataAgentError(
            f"train: no training record fits --max-len {cfg.max_len} with its whole prompt", cfg.dataset
        )
    stats: dict = {}
    examples = data.encode_records(tokenizer, fitting, cfg.max_len, template, stats=stats)
    budget = token_budget(cfg, examples)
    pad = tokenizer.pad_token_id
    bar = progress_bar(budget, f"{label} run", unit="tok", disable=not (show_progress and acc.is_main_process))
    result = loop.run(
        model,
        data.batches(examples, cfg.batch_size, pad, cfg.seed + 1, acc.process_index, acc.num_processes),
        token_budget=budget,
        lr=cfg.learning_rate,
        accelerator=acc,
        warmup_ratio=cfg.warmup_ratio,
        eval_every_tokens=max(1, budget // 5),
        eval_fn=partial(loop.eval_loss, model, held.own, pad),
        progress=bar,
    )
    bar.close()
    model = acc.unwrap_model(model)
    loss, gains = measure(model, held, pad, cfg.thresholds.gain_tokens)
    stride = max(1, len(result.train_losses) // 100)
    summary = {
        "steps": result.steps,
        "tokens": result.tokens,
        "seconds": round(result.seconds, 2),
        "tokens_per_second": round(result.tokens_per_second, 1),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "heldout_loss": round(loss, 4),
        "pairing_gain": round(mean(gains), 4),
        "eval_curve": [(t, round(v, 4)) for t, v in result.eval_losses],
        "train_curve": [(t, round(v, 4)) for t, v in result.train_losses[::stride]],
    }
    return model, Run(summary, gains, init, len(rows) - len(fitting), stats.get("response_cut", 0), budget)


def run_counts(run: Run, label: str) -> dict:
    """What a run left out or cut, under the report's names."""
    # token_budget_used is shared: the last run's budget stands, the one its token count is checked against.
    return {
        f"{label}_train_prompt_too_long": run.prompt_too_long,
        f"{label}_train_response_cut": run.response_cut,
        "token_budget_used": run.token_budget,
    }


def save_adapter(model: torch.nn.Module, tokenizer: object, out: Path, acc: Accelerator) -> Path:
    """Step 4a: the real run's adapter (or full weights) and tokenizer, written once by the main process."""
    adapter_dir = out / "adapter"
    if acc.is_main_process:
        model.save_pretrained(adapter_dir)
        tokenizer.save_pretrained(adapter_dir)
    acc.wait_for_everyone()
    return adapter_dir


def smoke_train(cfg: TrainConfig, show_progress: bool = True) -> dict:
    """The steps in order; returns the report, which the main process also writes into cfg.out_dir."""
    # 1. Load and split.
    set_seed(cfg.seed)
    acc = make_accelerator(cfg)  # starts the process group when launched on several processes
    train_rows, held_rows, how = load_and_split(cfg, acc)
    out = Path(cfg.out_dir)
    device = str(acc.device)
    main = acc.is_main_process
    if main:
        out.mkdir(parents=True, exist_ok=True)
    rep: dict = {
        "config": asdict(cfg),
        "model": cfg.model or "tiny Llama built locally (pipeline smoke test, not a real base)",
        "heldout_split": how,
        "train_records": len(train_rows),
        "heldout_records": len(held_rows),
        "mixed_precision": acc.mixed_precision,
        "device": device,
        "processes": acc.num_processes,
    }

    # 2. The base, and the held-out records it is measured on.
    base_path, pretrain = prepare_base(cfg, train_rows, held_rows, out, acc, show_progress)
    if pretrain is not None:
        rep["pretrain"] = pretrain
    tokenizer = load_tokenizer(base_path)
    pad = tokenizer.pad_token_id
    template = data.resolve_template(cfg.template, tokenizer)
    held = encode_heldout(cfg, tokenizer, template, held_rows)
    rep["template"] = template
    rep["heldout_prompt_too_long"] = held.prompt_too_long
    rep["heldout_records_measured"] = len(held.rows)
    rep["heldout_response_cut"] = held.response_cut
    sample_rows = held.rows[: cfg.samples]
    model = load_seeded_base(cfg, base_path, device)
    base_loss, base_gains = measure(model, held, pad, cfg.thresholds.gain_tokens)
    rep["heldout_response_loss_before"] = round(base_loss, 4)
    rep["pairing_gain_before"] = round(mean(base_gains), 4)
    samples_before = samples.generate(model, tokenizer, sample_rows, template, cfg.max_new_tokens)

    # 3. The real run.
    model, real = train_run(cfg, model, train_rows, "real", tokenizer, template, held, acc, show_progress)
    rep.update(run_counts(real, "real"))
    rep["heldout_response_loss_after"] = real.summary["heldout_loss"]
    samples_after = samples.generate(model, tokenizer, sample_rows, template, cfg.max_new_tokens)

    # 4. Its adapter, saved and verified.
    adapter_dir = save_adapter(model, tokenizer, out, acc)
    rep["adapter"] = str(adapter_dir)
    rep["adapter_integrity"] = check_integrity(
        cfg, base_path, adapter_dir, real.init, held.own, pad, real.summary["heldout_loss"], device
    )
    del model  # frees the real run's weights before the control loads its own

    # 5. The control run: same base, budget and seed, responses shuffled across the training rows.
    runs = {"real": real}
    if cfg.control:
        shuffled = data.shuffled_responses(train_rows, cfg.seed)
        base = load_seeded_base(cfg, base_path, device)
        runs["control"] = train_run(cfg, base, shuffled, "control", tokenizer, template, held, acc, show_progress)[1]
        del base
        rep.update(run_counts(runs["control"], "control"))
    rep["runs"] = {label: run.summary for label, run in runs.items()}
    rep["peak_memory_mb"] = round(loop.peak_memory_mb(device), 1)

    # 6. The verdict.
    gains = {"base": base_gains, **{label: run.gains for label, run in runs.items()}}
    before, after = rep["heldout_response_loss_before"], rep["heldout_response_loss_after"]
    rep["verdict"] = decide(before, after, gains, held.groups, cfg.thresholds, cfg.seed)
    rep["record_gains"] = {k: [round(x, 4) for x in v] for k, v in gains.items()}
    rep["loss_drop"] = rep["verdict"]["loss_drop"]
    rep["samples"] = [
        {"instruction": r["instruction"], "reference": r["output"], "before": b, "after": a}
        for r, b, a in zip(sample_rows, samples_before, samples_after, strict=True)
    ]

    # 7. The report.
    if main:
        report.plot(rep, out / "train_report.png")
        if cfg.card:
            rep["card"] = report.update_card(cfg.dataset, rep)
        report.write_json(rep, out / "train_report.json")
    distributed.finish(acc)
    return rep


def check_integrity(
    cfg: TrainConfig,
    base_path: str,
    adapter_dir: Path,
    init: dict[str, torch.Tensor],
    held_ex: list[dict],
    pad: int,
    final_loss: float,
    device: str = "cpu",
) -> dict:
    """The saved adapter holds trained tensors, and a fresh reload scores the final held-out loss again.

    Guards the failure alpaca-lora users hit with newer peft: an adapter file that saves but is empty
    or still at its initial values, so the "trained" model is the base model.
    """
    saved = _saved_tensors(adapter_dir)
    shared = [k for k in init if k in saved]
    changed = [k for k in shared if not torch.equal(saved[k].float(), init[k])]
    if cfg.adapter.method == "full":
        reloaded = load_base(str(adapter_dir), "none", device)
    else:
        from peft import PeftModel

        reloaded = PeftModel.from_pretrained(load_base(base_path, cfg.quant, device), adapter_dir)
    reload_loss = loop.eval_loss(reloaded, held_ex, pad)
    tolerance = 1e-3 if cfg.quant == "none" else 1e-2
    result = {
        "tensors": len(saved),
        "parameters": int(sum(v.numel() for v in saved.values())),
        "compared": len(shared),
        "changed_from_init": len(changed),
        "reload_heldout_loss": round(reload_loss, 5),
        "final_heldout_loss": round(final_loss, 5),
        "tolerance": tolerance,
    }
    result["ok"] = bool(saved) and bool(changed) and abs(reload_loss - final_loss) <= tolerance
    if not result["ok"]:
        raise DataAgentError(f"train: the saved adapter in {adapter_dir} failed its integrity check: {result}")
    return result
