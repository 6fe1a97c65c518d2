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


# The tiny base (built here when no --model is given) learns a set's pairing only with every weight training
# and large steps; these are what bench/verdict_calibration.py settled on (docs/TRAINING.md, "Calibration").
TINY_TOKEN_BUDGET = 600_000
TINY_LR = {"full": 1e-3, "lora": 3e-3, "ia3": 3e-2, "prefix": 3e-2, "prompt": 1e-1, "ptuning": 3e-2}
TINY_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
REAL_TOKEN_BUDGET = 1_000_000
# A default budget is also capped at this many passes over a small set: past a few epochs a run memorises its
# rows, held-out loss climbs, and what the verdict sees is over-fitting, not what the data teaches.
DEFAULT_MAX_EPOCHS = 4.0
# A run whose held-out response loss fell less than this is too weak to judge: its pairing figures say nothing
# about the data. The tiny base needs a clear fall: on the Debian Reference QA sets (~200 training rows) it fell
# 2 % and its pairing sat at the control's, though the pairs are real; every code set, real or shuffled, fell
# 7-34 %. A real base model starts near the data and moves less, so its floor is lower.
TINY_MIN_LOSS_DROP = 0.05
REAL_MIN_LOSS_DROP = 0.02


@dataclass
class AdapterSettings:
    """Which PEFT method and its hyper-parameters. ``method`` and ``target_modules`` left as None follow the
    base (TrainConfig): full fine-tuning for the tiny base, LoRA r=16 on every linear layer for a real one."""

    method: str | None = field(
        default=None,
        metadata={"help": "PEFT method (prefix is P-Tuning v2). Default: full (tiny base), lora (--model)."},
    )
    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    dropout: float = field(default=0.05, metadata={"help": "LoRA dropout."})
    target_modules: list[str] | str | None = field(
        default=None,
        metadata={"help": "LoRA targets, comma-separated. Default: every projection (tiny), all-linear (--model)."},
    )
    num_virtual_tokens: int = field(default=16, metadata={"help": "Virtual tokens for prefix/prompt/ptuning."})


@dataclass
class VerdictThresholds:
    """pass / fail / inconclusive from per-record pairing gains (real run minus shuffled control).

    The statistic is each held-out record's pairing gain over its first ``gain_tokens`` response tokens (mean
    nats per token), real minus control; a paired bootstrap over held-out *sources* gives its mean and a
    ``confidence`` interval. ``pass``: the interval's lower end is above 0 and the mean reaches ``min_effect``.
    ``fail``: the run learned (held-out loss fell by ``min_relative_loss_drop``) and the interval's upper end
    is below ``min_effect``, or the interval reaches 0 and stays under twice ``min_effect``: no pairing beyond
    the control is shown, and a large one is ruled out. Anything else is ``inconclusive``: the run was
    too weak to judge, or the interval is too wide. Calibrated with bench/verdict_calibration.py on real sets
    of several kinds and their shuffled twins (docs/TRAINING.md).
    """

    gain_tokens: int = field(default=32, metadata={"help": "Response tokens the pairing gain is measured on."})
    min_effect: float = field(
        default=0.01, metadata={"help": "Pairing gain (real minus control, nats/token) that counts as useful."}
    )
    # None follows the base (TrainConfig._fill_defaults): TINY_MIN_LOSS_DROP for the tiny base, else
    # REAL_MIN_LOSS_DROP.
    min_relative_loss_drop: float | None = field(
        default=None,
        metadata={
            "help": f"Relative held-out loss drop below which a run is too weak to judge (default: "
            f"{TINY_MIN_LOSS_DROP:g} for the tiny base, {REAL_MIN_LOSS_DROP:g} with --model)."
        },
    )
    confidence: float = field(default=0.95, metadata={"help": "Confidence of the bootstrap interval."})
    bootstrap: int = 2000


@dataclass
class TrainConfig:
    """Every setting of a run, with the help text `dataagent train --help` shows (field metadata, as peft does)."""

    dataset: str = field(metadata={"help": "Published folder or hub id (any split names)."})
    out_dir: str = field(metadata={"help": "Folder for the adapter, train_report.json and .png."})
    model: str | None = field(
        default=None,
        metadata={"help": "Base model: local path or hub id. Default: a tiny Llama built here (smoke only)."},
    )
    documents: str | None = field(
        default=None,
        metadata={
            "help": "Text for the tiny base's pretraining: Document records, a CodeUnit file, or a source folder "
            "or repository (held-out records' lines left out)."
        },
    )
    template: str = field(
        default="auto", metadata={"help": "Prompt format; auto: the model's chat template if it has one, else alpaca."}
    )
    adapter: AdapterSettings = field(default_factory=AdapterSettings)
    quant: str = field(default="none", metadata={"help": "Base weights: 8bit is LLM.int8, 4bit is NF4."})
    precision: str = field(
        default="auto", metadata={"help": "Mixed precision; auto: bf16 (or fp16) on GPU, fp32 on CPU."}
    )
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda."})
    # Tokens are prompt + response, no padding. None: the base's default.
    token_budget: int | None = field(
        default=None,
        metadata={
            "help": f"Tokens per run (real and control). Default: {TINY_TOKEN_BUDGET // 1000}k tiny base, "
            f"{REAL_TOKEN_BUDGET // 1_000_000}M --model."
        },
    )
    max_epochs: float | None = None  # cap the budget at this many passes over the training rows (None: no cap)
    lr: float | None = field(default=None, metadata={"help": "Learning rate; default depends on --method."})
    batch_size: int = field(
        default=8, metadata={"help": "Records per optimiser step, all processes together (each takes its share)."}
    )
    # Whole prompts: docstrings and passages are long; a held-out row that does not fit is skipped.
    max_len: int = field(
        default=512, metadata={"help": "Tokens per record: the prompt is kept whole, a long response's tail is cut."}
    )
    warmup_ratio: float = 0.05
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for memory."})
    seed: int = field(default=0, metadata={"help": "Seed for init, order and the control shuffle."})
    heldout_fraction: float = 0.1
    control: bool = field(default=True, metadata={"help": "Run the shuffled-response control the verdict needs."})
    samples: int = 3  # held-out prompts generated before and after
    max_new_tokens: int = 48
    card: bool = field(default=False, metadata={"help": "Also write the verdict into the dataset card."})
    pretrain_steps: int = field(default=300, metadata={"help": "Causal-LM steps on documents (tiny base only)."})
    pretrain_lr: float = 3e-3
    thresholds: VerdictThresholds = field(default_factory=VerdictThresholds)

    def __post_init__(self) -> None:
        from validate.errors import DataAgentError

        self._fill_defaults()

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

    def _fill_defaults(self) -> None:
        """Settings left unset follow the base: the calibrated ones for the tiny base built here (a model that
        small learns the pairing only when all of it trains), common practice for a real one."""
        tiny = self.model is None
        a = self.adapter
        if a.method is None:
            a.method = "full" if tiny and self.quant == "none" else "lora"  # quantised weights cannot train in full
        if a.target_modules is None:
            a.target_modules = "all-linear" if not tiny else list(TINY_LORA_TARGETS)  # peft's keyword for every linear
        if self.token_budget is None:
            self.token_budget = TINY_TOKEN_BUDGET if tiny else REAL_TOKEN_BUDGET
            if self.max_epochs is None:
                self.max_epochs = DEFAULT_MAX_EPOCHS
        if self.lr is None and tiny:
            self.lr = TINY_LR.get(a.method)
        if self.thresholds.min_relative_loss_drop is None:
            self.thresholds.min_relative_loss_drop = TINY_MIN_LOSS_DROP if tiny else REAL_MIN_LOSS_DROP

    @property
    def learning_rate(self) -> float:
        return self.lr if self.lr is not None else DEFAULT_LR[self.adapter.method]
