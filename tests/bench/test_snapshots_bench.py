"""The ``snapshots`` benchmark on a tiny configuration (the full run is ``neuralign bench snapshots``)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.bench import BENCHMARKS, run_benchmark
from neuralign.bench import snapshots as bench
from neuralign.data import snapshot_systems as systems


def test_registered_and_methods_come_from_the_registry():
    from neuralign.snapshots import METHODS, ActionMatching, McCannInterpolation

    assert BENCHMARKS["snapshots"] == "neuralign.bench.snapshots"
    assert METHODS["am"] is ActionMatching and METHODS["mccann"] is McCannInterpolation
    assert "mccann" not in bench.MOVES_PARTICLES


def test_holdouts_are_interior():
    system = systems.rotating_cloud(n=10)
    assert bench.holdouts(system, quick=False) == [1, 2, 3, 4] and bench.holdouts(system, quick=True) == [3]
    monkey_like = systems.latent_system(np.zeros((3, 14, 2)) + np.arange(14)[None, :, None], name="m")
    assert bench.holdouts(monkey_like, quick=False) == [3, 7, 11]


def test_parts_of_the_protocol_on_a_small_rotating_cloud():
    system = systems.rotating_cloud(n=60, seed=0)
    results, curves, models, skipped = bench.Results(), {}, {}, set()
    bench.leave_one_out(system, ["mccann"], results, seed=0, quick=True, curves=curves, progress=lambda _: None)
    bench.forecast(system, ["mccann"], results, seed=0, quick=True, skipped=skipped, progress=lambda _: None)
    bench.paths(system, ["mccann"], results, seed=0, quick=True, models=models, progress=lambda _: None)
    rows = {(row.method, row.metric): row for row in results.rows("tuning seed 0")}
    floor = rows["truth (two exact samples)", "sampling floor W2"].mean
    assert rows["mccann", "W2"].mean < rows["no movement (start cloud)", "W2"].mean
    assert rows["mccann", "W2 / sampling floor"].mean == pytest.approx(rows["mccann", "W2"].mean / floor)
    assert skipped == {"mccann"}  # McCann does not forecast
    assert 0.5 < rows["OT chain (exact plans)", "path R2"].mean <= 1.0  # a rigid rotation: OT pairs nearly right
    assert ("mccann", "path R2") not in rows and not models  # McCann does not move particles
    assert all(row.setting.endswith("tuning seed 0") for row in rows.values())


@pytest.mark.slow
def test_quick_run_writes_json_and_figures(tmp_path, monkeypatch):
    monkeypatch.setattr(bench, "REPORT", tmp_path / "figures")
    monkeypatch.setitem(bench.QUICK, "n", 60)
    monkeypatch.setitem(bench.QUICK, "monkey_epochs", 5)
    monkeypatch.setitem(bench.QUICK_SETTINGS, "am", {"max_epochs": 1, "steps_per_epoch": 3, "batch_size": 32,
                                                     "hidden_size": 16, "n_layers": 1})
    result = run_benchmark("snapshots", quick=True, seed_set="tuning", out=str(tmp_path / "s.json"),
                           progress=lambda _: None)
    metrics = {(row["method"], row["metric"]) for row in result["rows"]}
    assert {("am", "velocity rel. L2 (probability flow)"), ("am", "path R2"), ("mccann", "W1"),
            ("OT chain (exact plans)", "path R2"), ("am", "fit seconds")} <= metrics
    assert result["seed_set"] == "tuning" and (tmp_path / "s.json").is_file()
    assert {"w1_vs_time.png", "rotation_curl.png", "clouds_ou_d_2.png"} <= {p.name for p in (tmp_path / "figures").iterdir()}
