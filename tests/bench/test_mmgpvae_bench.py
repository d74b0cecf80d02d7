"""Tests of the ``mmgpvae`` benchmark's parts on tiny inputs (the full run is ``neuralign bench mmgpvae``)."""

from __future__ import annotations

import numpy as np
import pytest

import neuralign.datasets
from neuralign.bench import BENCHMARKS
from neuralign.bench.mmgpvae import plot_blocks, prior_step_ms, recovery_by_block, ridge_smoothed
from neuralign.models import MMGPVAE
from neuralign.nn import FourierGPPrior, TimeDomainGPPrior


@pytest.fixture(scope="module")
def split():
    data = neuralign.datasets.load("synthetic_mmgpvae", n_trials=20, n_time=16, n_units=10, behavior="low_dim",
                                   length_scale=4.0, seed=0)
    return data.split(0.25, seed=0)


@pytest.fixture(scope="module")
def model(split):
    return MMGPVAE(max_epochs=2, batch_size=8, kl_warmup_epochs=1, encoder_hidden=8, decoder_hidden=8,
                   verbose=False, device="cpu").fit(split[0])


def test_registered():
    assert BENCHMARKS["mmgpvae"] == "neuralign.bench.mmgpvae"


def test_recovery_by_block_scores_each_block_from_its_own_latents(model, split):
    train, test = split
    scores = recovery_by_block(model, train, test)
    assert set(scores) == {"shared", "neural", "behavior"} and all(np.isfinite(list(scores.values())))
    assert all(score <= 1.0 for score in scores.values())
    knn = recovery_by_block(model, train, test, mapping="knn")
    assert set(knn) == set(scores) and knn != scores
    with pytest.raises(ValueError, match="mapping"):
        recovery_by_block(model, train, test, mapping="cubic")


def test_recovery_by_block_uses_given_latents(model, split):
    train, test = split
    inferred = model.transform(train), model.transform(test)
    assert recovery_by_block(model, train, test, inferred=inferred) == recovery_by_block(model, train, test)
    blank = inferred[0], {block: np.zeros_like(value) for block, value in inferred[1].items()}
    assert all(score <= 1e-6 for score in recovery_by_block(model, train, test, inferred=blank).values())


@pytest.mark.parametrize("prior_class", [FourierGPPrior, TimeDomainGPPrior])
def test_prior_step_time_is_measured(prior_class):
    assert prior_step_ms(prior_class(2, length_scale_init=4.0), 30, n_trials=2, repeats=1) > 0
    with pytest.raises(ValueError, match="device: expected 'cpu', 'cuda'"):
        prior_step_ms(prior_class(2, length_scale_init=4.0), 30, device="tpu")


def test_ridge_baseline_picks_a_smoothing_width(split):
    score, sigma = ridge_smoothed(*split, seed=0)
    assert np.isfinite(score) and sigma in (1.0, 2.0, 3.0, 4.0)


def test_block_figure_is_written(model, split, tmp_path):
    path = tmp_path / "blocks.png"
    plot_blocks(model, *split, path, "test")
    assert path.stat().st_size > 1000
