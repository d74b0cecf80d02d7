"""Tests of neuralign.bench.neat helpers (the full benchmark runs from the command line)."""

from __future__ import annotations

import numpy as np

from neuralign.bench import BENCHMARKS
from neuralign.bench.neat import correspondence_scores, penalty_milliseconds
from neuralign.data.datasets import load


def test_registered_and_penalty_timing_positive():
    assert BENCHMARKS["neat"] == "neuralign.bench.neat"
    times = penalty_milliseconds(batch=64, dim=4, threads=1, repeats=2)
    assert len(times) == 2 and all(t > 0 for t in times)


def test_true_latents_score_better_than_unrelated_ones():
    regions = load("synthetic_regions", n_samples=300, n_regions=3, seed=0)
    truth = {name: data.latents[:, 0] for name, data in regions.items()}
    rng = np.random.default_rng(0)
    noise = {name: rng.standard_normal((300, 2)) for name in regions}
    good, bad = correspondence_scores(truth, regions), correspondence_scores(noise, regions)
    assert good["displacement_spearman"] > 0.5 > bad["displacement_spearman"]
    assert good["class_displacement_pearson"] > bad["class_displacement_pearson"]


def test_timings_take_a_device_and_reject_a_bad_one():
    import pytest

    from neuralign.bench import device_sync

    device_sync("cpu")()  # nothing to wait for on the CPU
    assert len(penalty_milliseconds(batch=16, dim=2, threads=1, repeats=1, device="cpu")) == 1
    with pytest.raises(ValueError, match="device: expected 'cpu', 'cuda'"):
        device_sync("tpu")
    with pytest.raises(ValueError, match="device: expected 'cpu', 'cuda'"):
        penalty_milliseconds(batch=16, dim=2, repeats=1, device="tpu")


def test_torch_threads_sets_and_restores_and_rejects_a_bad_count():
    import pytest
    import torch

    from neuralign.bench import torch_threads

    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"):
        with torch_threads(before + 1):
            raise RuntimeError("inside")
    assert torch.get_num_threads() == before  # restored after an error too
    with pytest.raises(ValueError, match="threads"):
        with torch_threads(0):
            pass
