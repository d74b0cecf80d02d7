"""Tests of neuralign.models.neat: the estimator interface, both input forms, the alignment effect of lambda,
likelihood choice, persistence, sweeps and input validation."""

from __future__ import annotations

import numpy as np
import pytest

import neuralign.datasets
from neuralign.data.trialdata import TrialData
from neuralign.models.base import NotFittedError, load_model
from neuralign.models.neat import NEAT, NEATConfig, region_samples, sweep

TINY = dict(hidden_size=16, n_hidden_layers=1, max_epochs=3, batch_size=64, verbose=False, device="cpu")


@pytest.fixture(scope="module")
def regions() -> dict[str, TrialData]:
    return neuralign.datasets.load("synthetic_regions", n_samples=160, n_regions=3, n_units=8, seed=0)


@pytest.fixture(scope="module")
def model(regions) -> NEAT:
    return NEAT(latent_dims=(3, 2, 2), lam=1.0, **TINY).fit(regions)


def test_fit_transform_reconstruct_score(model, regions):
    latents = model.transform(regions)
    assert list(latents) == ["region1", "region2", "region3"]
    assert [z.shape for z in latents.values()] == [(160, 3), (160, 2), (160, 2)]
    assert {k: v.shape for k, v in model.reconstruct(regions).items()} == {k: (160, 8) for k in regions}
    assert np.isfinite(model.score(regions))
    assert set(model.alignment(regions)) == {"region1->region2", "region2->region3"}
    assert {"train/loss", "train/alignment", "val/reconstruction"} <= set(model.history_.logs)
    assert model.likelihoods_ == ["gaussian"] * 3 and model.pairs_ == [(0, 1), (1, 2)]
    assert {k: v.shape for k, v in model.sample(5).items()} == {k: (5, 8) for k in regions}


def test_plain_arrays_and_lists_are_accepted(regions):
    arrays = [data.counts[:, 0, :] for data in regions.values()]
    fitted = NEAT(latent_dims=2, **TINY).fit(arrays)
    assert fitted.names_ == ["region1", "region2", "region3"]
    assert fitted.transform(arrays)["region2"].shape == (160, 2)


def test_trialdata_bins_become_samples():
    data = {"a": TrialData(np.random.default_rng(0).poisson(2.0, (6, 5, 4))),
            "b": TrialData(np.random.default_rng(1).poisson(2.0, (6, 5, 3)))}
    samples = region_samples("regions", data)
    assert [a.shape for a in samples.arrays] == [(30, 4), (30, 3)] and samples.signals == ["counts", "counts"]
    fitted = NEAT(latent_dims=2, **TINY).fit(data)
    assert fitted.likelihoods_ == ["poisson", "poisson"]
    assert fitted.transform(data)["b"].shape == (30, 2)


def test_alignment_weight_aligns_neighbourhoods(regions):
    settings = dict(TINY, max_epochs=15, hidden_size=32, learning_rate=1e-2, seed=0)
    independent = NEAT(latent_dims=2, lam=0.0, **settings).fit(regions)
    aligned = NEAT(latent_dims=2, lam=100.0, **settings).fit(regions)
    kl_independent = sum(independent.alignment(regions).values())
    kl_aligned = sum(aligned.alignment(regions).values())
    assert kl_aligned < 0.5 * kl_independent
    assert min(independent.reconstruction_r2(regions).values()) > 0.2  # it learned something


def test_save_load_round_trip(model, regions, tmp_path):
    path = tmp_path / "neat.pt"
    model.save(path)
    loaded = NEAT.load(path)
    assert isinstance(load_model(path), NEAT)
    for name, latents in model.transform(regions).items():
        np.testing.assert_allclose(loaded.transform(regions)[name], latents, atol=1e-6)
    assert loaded.config.latent_dims == (3, 2, 2) and loaded.pairs_ == model.pairs_


def test_pairs_by_name_and_likelihood_per_region(regions):
    fitted = NEAT(latent_dims=2, pairs=[("region1", "region3")], likelihood=["gaussian"] * 3, **TINY).fit(regions)
    assert fitted.pairs_ == [(0, 2)]
    assert list(fitted.alignment(regions)) == ["region1->region3"]


def test_sweep_fits_one_model_per_lambda(regions):
    models = sweep([0, 10], regions, latent_dims=2, **{k: v for k, v in TINY.items() if k != "verbose"})
    assert list(models) == [0.0, 10.0] and [m.config.lam for m in models.values()] == [0.0, 10.0]
    with pytest.raises(TypeError, match="lambdas"):
        sweep([0], regions, lam=1.0)
    with pytest.raises(ValueError, match="lambdas"):
        sweep([], regions)
    with pytest.raises(ValueError, match="lambdas"):
        sweep([-1.0], regions)


@pytest.mark.parametrize("settings, match", [
    (dict(lam=-1.0), "lam"),
    (dict(latent_dims=0), "latent_dims"),
    (dict(latent_dims="2"), "latent_dims"),
    (dict(sigma=0.0), "sigma"),
    (dict(perplexity=1.0), "perplexity"),
    (dict(pairs=[1, 2]), "pairs"),
    (dict(likelihood="bernoulli"), "likelihood"),
    (dict(lr_schedule="step"), "lr_schedule"),
    (dict(bogus=1), "valid settings"),
])
def test_bad_settings_name_the_argument(settings, match):
    with pytest.raises((ValueError, TypeError), match=match):
        NEAT(**settings)


def test_bad_data_names_the_argument(regions, model):
    with pytest.raises(ValueError, match="latent_dims"):
        NEAT(latent_dims=(2, 2), **TINY).fit(regions)
    with pytest.raises(ValueError, match="same samples"):
        NEAT(**TINY).fit({"a": np.zeros((10, 3)), "b": np.zeros((9, 3))})
    with pytest.raises(TypeError, match="regions"):
        NEAT(**TINY).fit(np.zeros((10, 3)))
    with pytest.raises(ValueError, match="pairs"):
        NEAT(pairs=[("region1", "nowhere")], **TINY).fit(regions)
    with pytest.raises(ValueError, match="Poisson"):
        NEAT(likelihood="poisson", **TINY).fit(regions)
    with pytest.raises(ValueError, match="units"):
        model.transform({k: v.counts[:, 0, :4] for k, v in regions.items()})
    with pytest.raises(ValueError, match="regions"):
        model.transform({"other": regions["region1"]})
    with pytest.raises(NotFittedError, match="fit"):
        NEAT().transform(regions)
    assert isinstance(NEAT(config=NEATConfig(latent_dims=[2, 3])).config.latent_dims, tuple)


def test_lr_schedule_reaches_the_training_loop():
    assert NEAT(lr_schedule="cosine").config.train_config().lr_schedule == "cosine"
    assert NEAT().config.train_config().lr_schedule == "constant"
