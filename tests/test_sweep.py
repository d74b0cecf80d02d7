"""neuralign.sweep: the spec's checks (before Ray starts), the selection metric, the training loop's epoch hook,
and (marked ``ray``) sweeps on a local Ray cluster: PBT end to end, and a sweep whose driver is killed resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from neuralign.sweep import SweepSpec, load_spec, sample_validation

TINY = {"factor_dim": 3, "read_in_dim": 8, "encoder_dim": 8, "ic_dim": 4, "generator_dim": 8, "max_epochs": 4,
        "kl_warmup_epochs": 1, "batch_size": 16}
SEARCH = {"learning_rate": {"loguniform": [1e-3, 1e-2]}, "coordinated_dropout": {"uniform": [0.1, 0.4]}}


def spec(**changes):
    return SweepSpec(**{"model": "LFADS", "data": "synthetic_reach", "settings": TINY, "search": SEARCH,
                        "trials": 2, "concurrent": 2, "checkpoint_every": 2, **changes})


@pytest.fixture(scope="module")
def small():
    from neuralign.data.datasets import load

    return load("synthetic_reach", n_trials=40, n_time=10, n_units=12, seed=0)


@pytest.mark.parametrize("search, message", [
    ({"learning_rat": {"uniform": [0.001, 0.01]}}, "search: LFADS has no setting 'learning_rat'; its settings:"),
    ({"dropout": {"uniform": [0.5, 0.2]}}, r"search.dropout.uniform: invalid range \[0.5, 0.2\]: low must be below"),
    ({"learning_rate": {"loguniform": [0, 0.01]}}, "search.learning_rate.loguniform: invalid range .* low must be > 0"),
    ({"dropout": {"choice": [0.1, 1.5]}}, r"search.dropout: the value 1.5 is not a valid dropout of LFADS: .*\[0, 1\)"),
    ({"factor_dim": {"randint": [2.5, 8]}}, "search.factor_dim.randint: expected two integers"),
    ({"dropout": {"between": [0.1, 0.2]}}, "search.dropout: expected one of {grid: ..., choice: ..."),
    ({"dropout": {"grid": []}}, r"search.dropout.grid: expected a non-empty list, got \[\]"),
])
def test_a_bad_search_space_is_refused_naming_the_setting(search, message):
    with pytest.raises(ValueError, match=message):
        spec(search=search)


def test_unknown_scheduler_model_option_and_setting_are_refused():
    with pytest.raises(ValueError, match=r"scheduler: 'hyperbandit' is not a Ray Tune scheduler this sweep runs; "
                                         r"choose one of \['asha', 'async_hyperband', 'fifo'"):
        spec(scheduler={"name": "hyperbandit"})
    with pytest.raises(ValueError, match=r"scheduler: pbt takes no option \['grace_period'\]"):
        spec(scheduler={"name": "pbt", "grace_period": 3})
    with pytest.raises(ValueError, match="model: unknown model 'LFADZ'; registered models:"):
        spec(model="LFADZ")
    with pytest.raises(ValueError, match="settings: LFADS has no setting 'epochs'"):
        spec(settings={"epochs": 3})
    with pytest.raises(ValueError, match="resources: expected"):
        spec(resources={"cpus": 1})


def test_yaml_spec_reads_exponents_as_numbers_and_refuses_unknown_keys(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text("model: LFADS\ndata: erdiff_miller_co:source\nsearch:\n  learning_rate: {loguniform: [1e-3, 1e-2]}"
                    "\nscheduler: {name: pbt, perturbation_interval: 10}\ntrials: 8\nconcurrent: 2\n")
    loaded = load_spec(path)
    assert loaded.search["learning_rate"]["loguniform"] == [0.001, 0.01] and loaded.metric == ("sv_bps", "max")
    path.write_text("model: LFADS\ndata: x\nsearch: {dropout: {grid: [0.1]}}\nworkers: 3\n")
    with pytest.raises(ValueError, match=r"config: .* needs model, data and search, and takes .*; got .*'workers'"):
        load_spec(path)


def test_an_address_that_does_not_answer_is_a_clear_error_before_ray_starts():
    from neuralign._ray import check_address

    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"address: no Ray cluster answered at '127.0.0.1:9' .* `ray start --head`"):
        check_address("127.0.0.1:9")
    with pytest.raises(ValueError, match="address: expected 'auto', 'HOST:PORT'"):
        check_address("nowhere")
    assert time.perf_counter() - started < 15


def test_without_ray_sweep_and_bench_workers_say_what_to_install(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from neuralign.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError, as without the extra
    path = tmp_path / "sweep.yaml"
    path.write_text("model: LFADS\ndata: erdiff_miller_co:source\nsearch: {dropout: {grid: [0.1]}}\n")
    result = CliRunner().invoke(app, ["sweep", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "pip install 'neuralign[scale]'" in result.output
    assert "neuralign sweep needs Ray Tune" in result.output and not (tmp_path / "out").exists()
    result = CliRunner().invoke(app, ["bench", "vae", "--quick", "--workers", "2"])
    assert result.exit_code == 2 and "bench --workers needs Ray Tune" in result.output
    assert "pip install 'neuralign[scale]'" in result.output


def test_sample_validation_scores_hidden_entries_against_each_units_mean():
    from neuralign.metrics import heldout_entries_bits_per_spike

    rng = np.random.default_rng(0)
    rates = rng.uniform(0.2, 3.0, size=(30, 10, 5))
    counts = rng.poisson(rates).astype(float)
    held = rng.random(counts.shape) < 0.3
    assert heldout_entries_bits_per_spike(rates, counts, held) > 0.1  # the true rates beat each unit's mean
    means = (counts * held).sum((0, 1)) / held.sum((0, 1))
    assert heldout_entries_bits_per_spike(np.broadcast_to(means, counts.shape), counts, held) == pytest.approx(0)
    with pytest.raises(ValueError, match="held: expected a boolean array shaped like counts"):
        heldout_entries_bits_per_spike(rates, counts, held.astype(int))


def test_sample_validation_of_a_model_and_the_epoch_hook(small):
    from neuralign.models import LFADS
    from neuralign.train import epoch_hook

    seen = []
    with epoch_hook(lambda epoch, history: seen.append((epoch, history.epochs_run))):
        model = LFADS(**TINY, seed=0, verbose=False).fit(small)
    assert seen == [(0, 1), (1, 2), (2, 3), (3, 4)]
    model.fit(small)  # outside the block the hook is gone
    assert len(seen) == 4
    value = sample_validation(model, small, sample_fraction=0.2, seed=0)
    assert np.isfinite(value) and value == sample_validation(model, small, sample_fraction=0.2, seed=0)
    with pytest.raises(TypeError, match="hook: expected a function"):
        with epoch_hook("not a function"):
            pass


def test_a_resumed_fit_takes_the_new_learning_rate_not_the_checkpointed_one(small, tmp_path):
    """PBT restarts a trial from another's checkpoint with perturbed settings: the optimiser must use them."""
    import torch

    from neuralign.models import LFADS

    path = tmp_path / "train.checkpoint"
    LFADS(**{**TINY, "max_epochs": 2}, learning_rate=1e-3, seed=0, verbose=False).fit(small, checkpoint_path=str(path))
    rates = []
    original = torch.optim.AdamW.step

    def step(self, *args, **kwargs):
        rates.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    torch.optim.AdamW.step = step
    try:
        LFADS(**{**TINY, "max_epochs": 3}, learning_rate=5e-3, seed=0, verbose=False).fit(
            small, checkpoint_path=str(path), resume=True)
    finally:
        torch.optim.AdamW.step = original
    assert rates and set(rates) == {5e-3}


@pytest.mark.ray
def test_pbt_sweep_writes_a_table_the_best_model_and_figures(small, tmp_path):
    from neuralign.models.base import load_model
    from neuralign.sweep import run_sweep

    sweep = spec(trials=2, scheduler={"name": "pbt", "perturbation_interval": 2, "quantile_fraction": 0.5})
    rows = run_sweep(sweep, tmp_path, data=small, progress=lambda message: None)
    assert len(rows) == 2 and sum(row["selected"] for row in rows) == 1
    assert all(row["status"] == "done" and row["epochs"] == 4 and np.isfinite(row["sv_bps"]) for row in rows)
    best = next(row for row in rows if row["selected"])
    assert best["sv_bps"] == max(row["sv_bps"] for row in rows)
    table = json.loads((tmp_path / "results.json").read_text())
    assert [row["trial"] for row in table] == [row["trial"] for row in rows] == sorted(row["trial"] for row in rows)
    assert (tmp_path / "results.csv").read_text().splitlines()[0].startswith("trial,status,learning_rate,")
    model = load_model(tmp_path / "best_model.pt")
    assert model.config.learning_rate == pytest.approx(best["learning_rate"])
    assert (tmp_path / "metric_over_time.png").stat().st_size > 0 and load_spec(tmp_path / "sweep.yaml") == sweep
    with pytest.raises(ValueError, match="out: .* holds another sweep"):
        run_sweep(spec(trials=5), tmp_path, data=small)


KILLED = """
import sys
from neuralign.data.datasets import load
from neuralign.sweep import SweepSpec, run_sweep
small = load("synthetic_reach", n_trials=40, n_time=10, n_units=12, seed=0)
spec = SweepSpec(model="LFADS", data="synthetic_reach", settings={settings!r},
                 search={{"learning_rate": {{"grid": [0.002, 0.006]}}}}, trials=1, concurrent=1,
                 checkpoint_every=2)
run_sweep(spec, sys.argv[1], data=small)
"""


@pytest.mark.ray
def test_a_sweep_whose_driver_is_killed_resumes_and_keeps_every_finished_trial(tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(textwrap.dedent(KILLED.format(settings={**TINY, "max_epochs": 6})))
    out = tmp_path / "out"
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    driver = subprocess.Popen([sys.executable, str(script), str(out)], env=environment, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 50
    finished: list[Path] = []
    while time.monotonic() < deadline and driver.poll() is None and not finished:
        time.sleep(0.5)
        finished = [p for p in out.glob("experiment/*/result.json") if '"final": 1.0' in p.read_text()]
    os.killpg(driver.pid, signal.SIGKILL)  # the driver and the local cluster it started
    driver.wait()
    assert finished and not (out / "results.csv").exists()
    first = [json.loads(line) for line in finished[0].read_text().splitlines()]
    result = subprocess.run([sys.executable, str(script), str(out)], env=environment, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((out / "results.json").read_text())
    assert len(rows) == 2 and all(row["status"] == "done" and row["epochs"] == 6 for row in rows)
    kept = [json.loads(line) for line in finished[0].read_text().splitlines()]
    assert kept[:len(first)] == first  # the trial finished before the kill was not run again


def test_figures_show_every_trial_and_the_lineage_only_when_pbt_copied_weights(tmp_path):
    from neuralign.plot.sweep import save_sweep_figures

    curves = {"a_00000": ([1, 2, 3, 3], [0.1, 0.2, 0.3, 0.25]), "a_00001": ([1, 2, 3, 2, 3], [0.0, 0.1, 0.1, 0.2, 0.3])}
    save_sweep_figures(curves, [], "sv_bps", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metric_over_time.png"]
    save_sweep_figures(curves, [("a_00001", "a_00000", 2)], "sv_bps", tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metric_over_time.png", "pbt_lineage.png"]


def test_pbt_perturbations_stay_inside_the_searched_ranges():
    """Tune's PBT multiplies a continuous setting by 0.8 or 1.2 without bounds: a coordinated dropout of 0.45 could
    become 0.54, then 0.65, ... 1.0, which LFADS refuses (the measured sweep reached 0.70 before this)."""
    from neuralign.sweep import Clip

    clip = Clip({"coordinated_dropout": {"uniform": [0.1, 0.5]}, "factor_dim": {"randint": [2, 8]},
                 "dropout": {"choice": [0.1, 0.2]}})
    assert clip({"coordinated_dropout": 0.6, "factor_dim": 9, "dropout": 0.2}) == {
        "coordinated_dropout": 0.5, "factor_dim": 7, "dropout": 0.2}
    assert clip({"coordinated_dropout": 0.05, "factor_dim": 2.4}) == {"coordinated_dropout": 0.1, "factor_dim": 2}
    assert clip({"coordinated_dropout": 0.3}) == {"coordinated_dropout": 0.3}
