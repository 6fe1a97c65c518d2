"""The verdict's decision on per-record pairing gains (train.verdict.decide): fast, synthetic gains whose answer is
known — a set that teaches the pairing passes, one that does not fails, a run too weak or too noisy to tell is
inconclusive — and the bootstrap resamples whole sources."""

import numpy as np

from train.config import VerdictThresholds
from train.verdict import bootstrap_mean, decide

T = VerdictThresholds()


def gains(effect: float, noise: float, sources: int = 20, per_source: int = 10, seed: int = 0):
    """Per-record gains of base, real and control runs; real exceeds control by ``effect`` on average."""
    rng = np.random.default_rng(seed)
    n = sources * per_source
    groups = [f"page-{i // per_source}" for i in range(n)]
    base = rng.normal(0.01, noise, n)
    control = base + rng.normal(0.0, noise, n)
    real = control + effect + rng.normal(0.0, noise, n)
    return {"base": base.tolist(), "real": real.tolist(), "control": control.tolist()}, groups


def test_a_set_that_teaches_the_pairing_passes():
    g, groups = gains(effect=0.08, noise=0.05)
    out = decide(3.0, 2.5, g, groups, T)
    assert out["verdict"] == "pass", out
    lo, hi = out["interval"]
    assert 0 < lo < out["margin"] < hi and out["sources"] == 20


def test_a_shuffled_set_fails_when_the_run_learned():
    g, groups = gains(effect=0.0, noise=0.03)
    out = decide(3.0, 2.5, g, groups, T)
    assert out["verdict"] == "fail", out
    assert out["interval"][1] < T.min_effect and "check that answers belong" in out["advice"]


def test_a_run_that_barely_moved_the_loss_is_inconclusive_not_fail():
    g, groups = gains(effect=0.0, noise=0.03)
    out = decide(3.0, 2.99, g, groups, T)  # 0.3 % drop
    assert out["verdict"] == "inconclusive" and "too weak" in out["reason"], out
    assert "--token-budget" in out["advice"]


def test_a_wide_interval_is_inconclusive():
    g, groups = gains(effect=0.03, noise=0.6, sources=4)
    out = decide(3.0, 2.5, g, groups, T)
    lo, hi = out["interval"]
    assert lo <= 0 < T.min_effect <= hi
    assert out["verdict"] == "inconclusive" and "too wide" in out["reason"], out


def test_no_control_is_inconclusive():
    g, groups = gains(effect=0.1, noise=0.01)
    del g["control"]
    assert decide(3.0, 2.5, g, groups, T)["verdict"] == "inconclusive"


def test_thresholds_are_settable():
    g, groups = gains(effect=0.03, noise=0.02)
    assert decide(3.0, 2.5, g, groups, T)["verdict"] == "pass"
    strict = VerdictThresholds(min_effect=0.2)
    assert decide(3.0, 2.5, g, groups, strict)["verdict"] == "fail"


def test_the_bootstrap_resamples_sources_not_records():
    # Two sources of 100 identical records each: record-level resampling would give a near-zero-width
    # interval; source-level resampling sees only two independent values.
    values = [0.0] * 100 + [1.0] * 100
    groups = ["a"] * 100 + ["b"] * 100
    mean, lo, hi = bootstrap_mean(values, groups, n=2000, seed=1)
    assert mean == 0.5 and lo == 0.0 and hi == 1.0
    assert bootstrap_mean(values, groups, seed=1) == bootstrap_mean(values, groups, seed=1)


def test_the_loss_drop_floor_follows_the_base():
    """The tiny base must move its held-out loss 5 % before its pairing is judged; a real base 2 %."""
    from train.config import TrainConfig

    tiny, real = TrainConfig(dataset="d", out_dir="o"), TrainConfig(dataset="d", out_dir="o", model="m")
    assert tiny.thresholds.min_relative_loss_drop == 0.05 and real.thresholds.min_relative_loss_drop == 0.02
    g, groups = gains(effect=0.0, noise=0.002)
    assert decide(3.0, 2.9, g, groups, tiny.thresholds)["verdict"] == "inconclusive"  # fell 3.3 %
    assert decide(3.0, 2.9, g, groups, real.thresholds)["verdict"] == "fail"
