"""Benchmarks spread over Ray workers (``bench NAME --workers N``): the same figures as in one process."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from neuralign.bench import Plan, benchmark_rows, execute
from neuralign.bench import mmd as bench_mmd
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
def test_bench_tasks_give_the_same_figures_on_two_ray_workers_as_in_this_process():
    """Tasks of ``bench vae --quick`` (SeqVAE trained on synthetic_reach) and ``bench mmd --quick`` (permutation
    tests), in one process and on 2 Ray workers: every number but the timings is the same, bit for bit. The
    workers run at this process's priority (Ray's default nice 15 made them several times slower on a busy
    machine)."""
    import os

    from neuralign._ray import ray_session

    vae_tasks = bench_vae.plan(quick=True, seeds=1, seed_set="tuning").tasks
    mmd_tasks = bench_mmd.plan(quick=True, seeds=1).tasks
    keys = ["synthetic SeqVAE 0", "type-I rbf 100", "type-I multi_rbf 100", "golub"]
    plan = Plan([task for task in vae_tasks + mmd_tasks if task.key in keys], lambda results: [results])
    messages = []
    here = execute(plan, progress=messages.append)[0]
    with ray_session(num_cpus=2) as ray:
        there = execute(plan, progress=messages.append, workers=2)[0]
        assert ray.get(ray.remote(lambda: os.nice(0)).remote()) == os.nice(0)
    assert list(here) == list(there) == keys
    assert here["synthetic SeqVAE 0"]["recovery"] == there["synthetic SeqVAE 0"]["recovery"]
    assert here["type-I rbf 100"][0] == there["type-I rbf 100"][0]  # the rejections; [1] is seconds per test
    assert here["type-I multi_rbf 100"][0] == there["type-I multi_rbf 100"][0]
    assert [row.values for row in here["golub"]] == [row.values for row in there["golub"]]
    assert sum(message.startswith("task ") for message in messages) == 8
