"""Every knob of a training run in one dataclass, peft-style: the CLI fills it, the trainer reads it."""

from __future__ import annotations

from dataclasses import dataclass, field

METHODS = ("lora", "prefix", "prompt", "ptuning", "ia3", "full")
QUANTS = ("none", "8bit", "4bit")
TEMPLATES = ("auto", "alpaca", "chat")
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

# Learning rates that work for each method on real models; prompt-learning methods train a few
# thousand parameters and need far larger steps than LoRA, full fine-tuning far smaller ones.
DEFAULT_LR = {"lora": 2e-4, "ia3": 3e-3, "prefix": 1e-2, "prompt": 3e-2, "ptuning": 1e-2, "full": 2e-5}


@dataclass
class AdapterSettings:
    """Which PEFT method and its hyper-parameters (LoRA defaults: r=8, alpha=16, dropout 0.05, q/v)."""

    method: str = "lora"
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"])
    num_virtual_tokens: int = 16  # prefix / prompt / P-tuning


@dataclass
class VerdictThresholds:
    """Pass/warn/fail on the pairing gain margin (real minus shuffled control, nats per response token).

    Calibrated with bench/verdict_calibration.py (docs/TRAINING.md): on the demo set the margin was
    0.088 / 0.029 / 0.085 over seeds 0-2; on the same set with shuffled responses 0.0013 / 0.0030 /
    0.0007. Warn sits at over 3x the largest control margin seen, pass at twice warn, below the
    weakest real seed.
    """

    pass_margin: float = 0.02
    warn_margin: float = 0.01
    min_loss_drop: float = 0.0  # the real run must also lower held-out response loss by more than this


@dataclass
class TrainConfig:
    dataset: str
    out_dir: str
    model: str | None = None  # local path or hub id; None builds a tiny Llama (pipeline smoke only)
    documents: str | None = None  # Document records for the tiny base's causal-LM pass
    template: str = "auto"
    adapter: AdapterSettings = field(default_factory=AdapterSettings)
    quant: str = "none"
    precision: str = "auto"
    device: str = "auto"
    token_budget: int = 150_000  # tokens (prompt + response, no padding) seen by each training run
    lr: float | None = None  # None: DEFAULT_LR of the method
    batch_size: int = 8
    max_len: int = 256
    warmup_ratio: float = 0.05
    gradient_checkpointing: bool = False
    seed: int = 0
    heldout_fraction: float = 0.1
    control: bool = True  # the shuffled-response control run the verdict needs
    samples: int = 3  # held-out prompts generated before and after
    max_new_tokens: int = 48
    card: bool = False  # also write the verdict into the dataset card
    pretrain_steps: int = 300  # tiny base only
    pretrain_lr: float = 3e-3
    thresholds: VerdictThresholds = field(default_factory=VerdictThresholds)

    def __post_init__(self) -> None:
        from validate.errors import DataAgentError

        for name, value, allowed in (
            ("method", self.adapter.method, METHODS),
            ("quant", self.quant, QUANTS),
            ("template", self.template, TEMPLATES),
            ("precision", self.precision, PRECISIONS),
        ):
            if value not in allowed:
                raise DataAgentError(f"train: --{name} must be one of {', '.join(allowed)}, got {value!r}")
        if self.quant != "none" and self.adapter.method == "full":
            raise DataAgentError("train: quantised base weights cannot be fully fine-tuned; use an adapter method")
        if self.token_budget <= 0:
            raise DataAgentError("train: --token-budget must be positive")

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.adapter.method]
