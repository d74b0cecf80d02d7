"""Tests of the ``pretrain`` benchmark's parts on small inputs (the full run is ``neuralign bench pretrain``)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.bench import BENCHMARKS, execute, pretrain
from neuralign.data.datasets import load

TINY = dict(patch_size=8, d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1, max_epochs=2, batch_size=16,
            tuning_epochs=2)


@pytest.fixture(scope="module")
def small_sessions():
    """Three liu_pfc8a sessions (two of monkey B, one of K), 24 trials and 20 units each."""
    return [session.subset(trials=np.arange(24), units=np.arange(20))
            for session in load("liu_pfc8a", session=["B020917", "B030917", "K070217"])]


def test_registered():
    assert BENCHMARKS["pretrain"] == "neuralign.bench.pretrain"


def test_cue_epoch_keeps_the_window_in_120_ms_bins(small_sessions):
    session = small_sessions[0]
    epoch = pretrain.cue_epoch(session)
    assert (epoch.n_time, epoch.bin_size) == (17, pytest.approx(0.12))
    start = pretrain.CUE_EPOCH[0]
    np.testing.assert_allclose(epoch.counts[:, 0], session.counts[:, start:start + 4].sum(1))
    np.testing.assert_array_equal(epoch.labels, session.labels)
    assert epoch.meta["session"] == "B020917"


def test_pca_logistic_decodes_the_cue_above_chance():
    session = pretrain.cue_epoch(load("liu_pfc8a", session="B250817"))
    pool, test = session.split(0.5, seed=0)
    assert pretrain.pca_logistic(pool, test, np.arange(pool.n_trials)) > 50  # chance is 25 %


def test_run_gives_every_row_of_the_protocol(small_sessions, monkeypatch):
    monkeypatch.setattr(pretrain, "load", lambda name: small_sessions)
    monkeypatch.setattr(pretrain, "QUICK_TARGETS", ("K070217",))
    monkeypatch.setattr(pretrain, "QUICK_N", (8, None))
    monkeypatch.setattr(pretrain, "FEW", 8)
    monkeypatch.setattr(pretrain, "SCALING", (1, 2))
    monkeypatch.setattr(pretrain, "SYNTHETIC_SCALING", (1, 2))
    monkeypatch.setattr(pretrain, "SYNTHETIC_TRIALS", 16)
    original = pretrain.settings
    monkeypatch.setattr(pretrain, "settings", lambda seed, quick, **extra: {**original(seed, quick, **extra), **TINY})
    messages: list[str] = []
    plan = pretrain.plan(quick=True, seeds=1, seed_set="tuning")
    assert [task.key for task in plan.tasks] == ["seed 0 K070217", "seed 0 synthetic"]
    rows = execute(plan, progress=messages.append)
    methods = {"from scratch", "pretrained + decoder", "pretrained + context tuning + decoder",
               "pretrained + fine-tuning", "PCA + logistic"}
    accuracy = [row for row in rows if row.metric == "cue accuracy %" and "target K070217" in row.setting]
    assert {row.method for row in accuracy} == methods and len(accuracy) == 2 * len(methods)
    assert all(0 <= row.mean <= 100 and row.n == 1 for row in accuracy)
    scaling = [row.setting for row in rows if "pretraining sessions" in row.setting and "synthetic" not in row.setting]
    assert scaling == ["1 pretraining sessions, N = 8, tuning seed 0", "2 pretraining sessions, N = 8, tuning seed 0"]
    cross = {row.method for row in rows if row.setting.startswith("B -> K")}
    assert cross == {"pretrained on the other monkey + fine-tuning", "from scratch"}
    assert sum("synthetic" in row.setting for row in rows) == 2
    bits = {row.method: row.mean for row in rows if row.metric == "masked bits/spike"}
    assert set(bits) == {"from scratch", "pretrained + context tuning"} and all(np.isfinite(list(bits.values())))
    seconds = [row for row in rows if row.metric == "seconds"]
    assert len(seconds) == 2 and all(row.mean > 0 for row in seconds)
    assert any("target K070217" in message for message in messages)


def test_synthetic_scaling_one_count_at_a_time_matches_the_whole_curve(monkeypatch):
    """The GPU runner fits each synthetic session count in its own process: the same data and the same score."""
    monkeypatch.setattr(pretrain, "SYNTHETIC_SCALING", (1, 2))
    monkeypatch.setattr(pretrain, "SYNTHETIC_TRIALS", 16)
    original = pretrain.settings
    monkeypatch.setattr(pretrain, "settings", lambda seed, quick, **extra: {**original(seed, quick, **extra), **TINY})
    monkeypatch.setattr(pretrain, "FEW", 4)
    whole = pretrain.synthetic_scaling(0, True, lambda message: None)
    assert list(whole) == ["1", "2"]
    assert pretrain.synthetic_scaling(0, True, lambda message: None, counts=(2,)) == {"2": whole["2"]}
    with pytest.raises(ValueError, match="counts"):
        pretrain.synthetic_scaling(0, True, lambda message: None, counts=(3,))
