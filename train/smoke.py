"""The smoke-train: does this published set teach a model what it claims? Read top to bottom.

1. Load the published set (folder or hub id, any split names); hold out whole source documents.
2. The base: the given model, or (demo/tests) a tiny Llama with a tokenizer trained here and a short
   causal-LM pass on raw documents.
3. Measure the base on held-out records: response loss, and the pairing gain (train/verdict.py).
4. Real run: adapter (or full fine-tune) on the training rows for a token budget; save; check the
   adapter is non-empty and reloads to the same loss.
5. Control run: same base, budget and seed, responses shuffled across training rows.
6. Verdict from the per-record pairing gains (bootstrapped over sources) and the loss drop; report JSON + PNG +
   sample generations.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator
from safetensors.torch import load_file
from tqdm import tqdm
from transformers import set_seed

from train import adapters, data, loop, report, samples
from train.config import TrainConfig
from train.documents import load_documents
from train.model import load_base, load_tokenizer, mixed_precision, pick_device
from train.tiny import build_tiny_base
from train.verdict import decide, record_source, split_by_source
from validate.errors import DataAgentError


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


def smoke_train(cfg: TrainConfig, show_progress: bool = True) -> dict:
    set_seed(cfg.seed)
    splits = load_published(cfg.dataset)
    train_rows, held_rows, how = split_by_source(splits, cfg.heldout_fraction)
    if not train_rows or not held_rows:
        raise DataAgentError("need records from at least two source documents to hold one out", cfg.dataset)
    out = Path(cfg.out_dir)
    device = pick_device(cfg.device)
    acc = Accelerator(mixed_precision=mixed_precision(cfg.precision, device), cpu=device == "cpu")
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
    }

    # 2. The base.
    base_path = cfg.model
    if base_path is None:
        base_path = str(out / "base")
        held_refs = {str(r.get("source_ref") or "") for r in held_rows}
        docs = load_documents(cfg.documents, exclude_refs=held_refs) if cfg.documents else []
        if main:
            rows_text = [r["instruction"] + "\n" + (r.get("input") or "") + "\n" + r["output"] for r in train_rows]
            rep["pretrain"] = build_tiny_base(
                docs, rows_text, base_path, steps=cfg.pretrain_steps, lr=cfg.pretrain_lr,
                block=cfg.max_len, batch_size=cfg.batch_size, seed=cfg.seed, progress=show_progress,
            )  # fmt: skip
        acc.wait_for_everyone()
    tokenizer = load_tokenizer(base_path)
    template = data.resolve_template(cfg.template, tokenizer)
    rep["template"] = template
    pad = tokenizer.pad_token_id
    # A held-out prompt is never cut (its instruction is what the pairing is about): rows whose own or swapped
    # prompt leaves no room for the response are left out of the measurement, and counted.
    swapped = data.swapped_prompts(held_rows)
    fits = [
        all(data.prompt_fits(tokenizer, r, cfg.max_len, template) for r in pair)
        for pair in zip(held_rows, swapped, strict=True)
    ]
    rep["heldout_prompt_too_long"] = fits.count(False)
    held_rows = [r for r, ok in zip(held_rows, fits, strict=True) if ok]
    swapped = [r for r, ok in zip(swapped, fits, strict=True) if ok]
    if not held_rows:
        raise DataAgentError(
            f"train: no held-out record fits --max-len {cfg.max_len} with its whole prompt; raise --max-len",
            cfg.dataset,
        )
    held_stats: dict = {}
    held_ex = data.encode_records(tokenizer, held_rows, cfg.max_len, template, stats=held_stats)
    swap_ex = data.encode_records(tokenizer, swapped, cfg.max_len, template)
    rep["heldout_records_measured"] = len(held_rows)
    rep["heldout_response_cut"] = held_stats.get("response_cut", 0)
    groups = [record_source(r) for r in held_rows]
    gains: dict[str, list[float]] = {}

    def measure(model: torch.nn.Module, label: str) -> tuple[float, float]:
        """Held-out response loss (pooled per token), and the mean per-record pairing gain, which it keeps."""
        own = loop.record_losses(model, held_ex, pad, cfg.thresholds.gain_tokens)
        alt = loop.record_losses(model, swap_ex, pad, cfg.thresholds.gain_tokens)
        gains[label] = [a - o for a, o in zip(alt, own, strict=True)]
        return loop.eval_loss(model, held_ex, pad), sum(gains[label]) / len(gains[label])

    sample_rows = held_rows[: cfg.samples]

    def train_once(rows: list[dict], label: str) -> tuple[torch.nn.Module, dict, dict[str, torch.Tensor]]:
        set_seed(cfg.seed)
        model = load_base(base_path, cfg.quant, device, cfg.gradient_checkpointing)
        if label == "real":
            before = measure(model, "base")
            rep["heldout_response_loss_before"], rep["pairing_gain_before"] = (round(x, 4) for x in before)
            rep["samples_before"] = samples.generate(model, tokenizer, sample_rows, template, cfg.max_new_tokens)
        model = adapters.wrap(model, cfg.adapter)
        init = _adapter_state(model, cfg.adapter.method)
        fitting = [r for r in rows if data.prompt_fits(tokenizer, r, cfg.max_len, template)]
        rep[f"{label}_train_prompt_too_long"] = len(rows) - len(fitting)  # left out: a cut prompt teaches nothing true
        if not fitting:
            raise DataAgentError(
                f"train: no training record fits --max-len {cfg.max_len} with its whole prompt", cfg.dataset
            )
        train_stats: dict = {}
        examples = data.encode_records(tokenizer, fitting, cfg.max_len, template, stats=train_stats)
        rep[f"{label}_train_response_cut"] = train_stats.get("response_cut", 0)
        budget = cfg.token_budget
        if cfg.max_epochs:
            budget = min(budget, max(1, int(cfg.max_epochs * sum(len(e["input_ids"]) for e in examples))))
        rep["token_budget_used"] = budget
        bar = tqdm(total=budget, desc=f"{label} run", unit="tok", disable=not (show_progress and main))
        result = loop.run(
            model,
            data.batches(examples, cfg.batch_size, pad, cfg.seed + 1, acc.process_index, acc.num_processes),
            token_budget=budget,
            lr=cfg.learning_rate,
            accelerator=acc,
            warmup_ratio=cfg.warmup_ratio,
            eval_every_tokens=max(1, budget // 5),
            eval_fn=lambda: loop.eval_loss(model, held_ex, pad),
            progress=bar,
        )
        bar.close()
        model = acc.unwrap_model(model)
        loss, gain = measure(model, label)
        stride = max(1, len(result.train_losses) // 100)
        run = {
            "steps": result.steps,
            "tokens": result.tokens,
            "seconds": round(result.seconds, 2),
            "tokens_per_second": round(result.tokens_per_second, 1),
            "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "heldout_loss": round(loss, 4),
            "pairing_gain": round(gain, 4),
            "eval_curve": [(t, round(v, 4)) for t, v in result.eval_losses],
            "train_curve": [(t, round(v, 4)) for t, v in result.train_losses[::stride]],
        }
        return model, run, init

    # 3-4. The real run, its adapter and its integrity.
    model, real, init = train_once(train_rows, "real")
    rep["heldout_response_loss_after"] = real["heldout_loss"]
    rep["samples_after"] = samples.generate(model, tokenizer, sample_rows, template, cfg.max_new_tokens)
    adapter_dir = out / "adapter"
    if main:
        model.save_pretrained(adapter_dir)
        tokenizer.save_pretrained(adapter_dir)
    acc.wait_for_everyone()
    rep["adapter"] = str(adapter_dir)
    rep["adapter_integrity"] = check_integrity(
        cfg, base_path, adapter_dir, init, held_ex, pad, real["heldout_loss"], device
    )
    del model

    # 5. The control run.
    runs = {"real": real}
    if cfg.control:
        runs["control"] = train_once(data.shuffled_responses(train_rows, cfg.seed), "control")[1]
    rep["runs"] = runs
    rep["peak_memory_mb"] = round(loop.peak_memory_mb(device), 1)

    # 6. The verdict and the report.
    rep["verdict"] = decide(
        rep["heldout_response_loss_before"], rep["heldout_response_loss_after"], gains, groups, cfg.thresholds, cfg.seed
    )
    rep["record_gains"] = {k: [round(x, 4) for x in v] for k, v in gains.items()}
    rep["loss_drop"] = rep["verdict"]["loss_drop"]
    rep["samples"] = [
        {"instruction": r["instruction"], "reference": r["output"], "before": b, "after": a}
        for r, b, a in zip(sample_rows, rep.pop("samples_before"), rep.pop("samples_after"), strict=True)
    ]
    if main:
        report.plot(rep, out / "train_report.png")
        if cfg.card:
            rep["card"] = report.update_card(cfg.dataset, rep)
        report.write_json(rep, out / "train_report.json")
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
