"""Benchmarks spread over Ray workers (``bench NAME --workers N``): the same figures as in one process."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from neuralign.bench import Plan, benchmark_rows, execute
from neuralign.bench import cosmooth as bench_cosmooth
from neuralign.bench import vae as bench_vae
from neuralign.cli import app


def test_a_bad_address_or_an_address_without_workers_is_refused_before_any_task_runs():
    result = CliRunner().invoke(app, ["bench", "vae", "--quick", "--workers", "2", "--address", "127.0.0.1:9"])
    assert result.exit_code == 2 and "address: no Ray cluster answered at '127.0.0.1:9'" in result.output
    with pytest.raises(ValueError, match="address: a cluster address needs --workers N"):
        benchmark_rows("vae", quick=True, seeds=1, address="127.0.0.1:9")
    with pytest.raises(TypeError, match="workers: expected an integer >= 1"):
        benchmark_rows("vae", quick=True, seeds=1, workers=0.5)


def test_plans_refuse_repeated_task_keys():
    task = bench_vae.plan(quick=True, seeds=1, seed_set="tuning").tasks[0]
    with pytest.raises(ValueError, match="tasks: keys must be unique within a plan"):
        Plan([task, task], lambda results: [])


@pytest.mark.ray
def test_bench_cosmooth_tasks_give_the_same_figures_on_two_ray_workers_as_in_this_process():
    """Three tasks of ``bench cosmooth --quick`` (smoothing on both datasets, SeqVAE trained on NLB tiny), in one
    process and on 2 Ray workers: every number but the timings is the same, bit for bit."""
    full = bench_cosmooth.plan(quick=True, seeds=1, seed_set="tuning")
    keys = ["monkey 0 smoothing + GLM", "nlb 0 smoothing + GLM", "nlb 0 SeqVAE + GLM"]
    plan = Plan([task for task in full.tasks if task.key in keys], lambda results: [results])
    messages = []
    here = execute(plan, progress=messages.append)[0]
    there = execute(plan, progress=messages.append, workers=2)[0]
    assert list(here) == list(there) == keys
    for key in keys:
        figures = {name: value for name, value in here[key].items() if "seconds" not in name}
        assert figures == {name: there[key][name] for name in figures}, key
        assert "co_bps" in figures and there[key]["seconds"] > 0
    assert sum(message.startswith("task ") for message in messages) == 6
