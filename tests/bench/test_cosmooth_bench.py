"""Tests of the ``cosmooth`` benchmark's parts on small inputs (the full run is ``neuralign bench cosmooth``)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from neuralign.bench import BENCHMARKS, benchmark_rows, cosmooth, describe_seeds, seed_values


@pytest.fixture(scope="module")
def cases():
    return cosmooth.datasets()


def test_registered_with_every_method():
    assert BENCHMARKS["cosmooth"] == "neuralign.bench.cosmooth"
    assert list(cosmooth.METHODS) == ["smoothing + GLM", "GPFA (elephant) + GLM", "SeqVAE + GLM", "LFADS + GLM"]


def test_seed_sets():
    assert seed_values("tuning", 3) == [0, 1, 2] and seed_values("reporting", 5) == [100, 101, 102, 103, 104]
    assert describe_seeds("reporting", [100, 101]) == "reporting seeds 100-101"
    assert describe_seeds("tuning", [0]) == "tuning seed 0"
    with pytest.raises(ValueError, match="seed_set"):
        seed_values("final", 2)


def test_datasets_drop_silent_units_and_join_the_maze_halves(cases):
    _, monkey, monkey_metric = cases["monkey"]
    _, maze, maze_metric = cases["nlb"]
    assert monkey.n_units == 151 and monkey.n_trials == 168 and (monkey.counts.sum(axis=(0, 1)) > 0).all()
    assert monkey.labels is not None and monkey_metric == "velocity R2 %"
    assert (maze.n_trials, maze.n_time, maze.n_units) == (80, 35, 35) and maze.labels is None
    assert maze_metric == "intent R2 %"


def test_smoothing_on_the_maze_predicts_held_out_neurons(cases):
    _, maze, _ = cases["nlb"]
    started = time.perf_counter()
    result = cosmooth.evaluate(cosmooth.smoothing, maze, dataset="nlb", seed=0, quick=True)
    wall = time.perf_counter() - started
    assert set(result) == {"co_bps", "velocity_r2_percent", "fit_seconds", "seconds"}
    # the fit's time is part of the run's, and the run's is this call's (not another clock, not a total)
    assert np.isfinite(result["co_bps"]) and 0 < result["fit_seconds"] <= result["seconds"] <= wall
    assert result["seconds"] >= 0.5 * wall


def test_run_reports_rows_per_method_and_skips_missing_ones(cases, monkeypatch):
    _, monkey, _ = cases["monkey"]
    small = monkey.subset(trials=np.arange(48), units=np.arange(40))  # 6 trials per direction

    def missing(*args, **kwargs):
        raise ImportError("No module named 'neuralign.models.not_yet'")

    monkeypatch.setattr(cosmooth, "datasets", lambda: {"monkey": ("small monkey", small, "velocity R2 %")})
    monkeypatch.setitem(cosmooth.SMOOTHING, "monkey", {"sigma_bins": 1.0, "log": True, "standardize": True})
    monkeypatch.setattr(cosmooth, "METHODS", {"smoothing + GLM": cosmooth.smoothing, "not yet": missing,
                                              "smoothing again": cosmooth.smoothing})
    messages: list[str] = []
    rows = benchmark_rows("cosmooth", quick=True, seeds=2, progress=messages.append, seed_set="tuning")
    assert any("not yet skipped" in message for message in messages)
    assert {row.method for row in rows} == {"smoothing + GLM", "smoothing again"}
    assert {row.metric for row in rows if row.method == "smoothing + GLM"} == {
        "co-bps", "velocity R2 %", "psth R2", "fit seconds"}
    difference = [row for row in rows if row.metric == "co-bps minus smoothing's (same seed)"]
    assert len(difference) == 1 and difference[0].values == pytest.approx([0.0, 0.0])
    assert all(row.n == 2 and row.setting.endswith("tuning seeds 0-1") and "25 % of units held out" in row.setting
               for row in rows)
