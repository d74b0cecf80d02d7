"""Tests of neuralign.models.lfads.LFADS: the estimator interface it shares with SeqVAE (models.sequential),
what is its own (generator, coordinated dropout, controller, initial-condition encoder on ragged trials),
persistence, adaptation and input validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import neuralign.datasets
from neuralign.data.trialdata import TrialData
from neuralign.models import LFADS, LFADSConfig, SeqVAE, load_model
from neuralign.models.base import NotFittedError

TINY = dict(factor_dim=3, read_in_dim=8, encoder_dim=8, ic_dim=4, generator_dim=8, max_epochs=3, batch_size=8,
            kl_warmup_epochs=1, patience=5, verbose=False, device="cpu")


def tiny_data(seed: int = 0, n_units: int = 10) -> TrialData:
    return neuralign.datasets.load("synthetic_reach", n_trials=24, n_time=8, n_units=n_units, latent_dim=2,
                                   seed=seed)


@pytest.fixture(scope="module")
def data() -> TrialData:
    return tiny_data()


@pytest.fixture(scope="module")
def model(data) -> LFADS:
    return LFADS(**TINY).fit(data)


def test_fit_transform_shapes_and_logs(model, data):
    assert model.fitted_ and model.units_ == [10] and model.latent_dim == 3
    assert {"train/loss", "val/loss", "train/kl", "train/reconstruction", "train/l2", "train/behavior"} <= set(
        model.history_.logs)
    factors = model.transform(data)
    assert factors.shape == (24, 8, 3) and factors.dtype == np.float32 and np.isfinite(factors).all()
    assert model.predict_behavior(data).shape == (24, 8, 2)
    rates = model.predict_rates(data)
    assert rates.shape == (24, 8, 10) and (rates > 0).all()
    assert np.isfinite(model.score(data))
    np.testing.assert_allclose(model.decode_behavior(factors), model.predict_behavior(data), rtol=1e-5, atol=1e-5)


def test_fit_is_seeded_and_transform_deterministic(model, data):
    torch.manual_seed(99)  # the global RNG state must not matter
    again = LFADS(**TINY).fit(data)
    np.testing.assert_array_equal(again.transform(data), model.transform(data))
    np.testing.assert_array_equal(model.transform(data), model.transform(data))


def test_factors_follow_the_generator(model, data):
    """The factors are a function of the inferred initial condition alone (no inputs): running the generator from
    g0 reproduces them."""
    network = model.network_
    tensors = model._tensors(data, 0, use_behavior=False)
    with torch.no_grad():
        out = network.dynamics(network.read_in(tensors["counts"], 0))
        _, factors = network.generator(network.ic_to_state(out["g0_mean"]), data.n_time)
    np.testing.assert_allclose(factors.numpy(), model.transform(data), rtol=1e-5, atol=1e-6)


def test_coordinated_dropout_scores_only_the_hidden_entries(data):
    """With coordinated dropout, the reconstruction's gradient reaches only the log-rates of dropped entries."""
    model = LFADS(**{**TINY, "coordinated_dropout": 0.5, "behavior_weight": 0.0}).fit(data)
    network = model.network_.train()
    captured = {}
    original = network.read_out.forward

    def read_out(x, session):
        log_rates = original(x, session)
        log_rates.retain_grad()
        captured["log_rates"] = log_rates
        return log_rates

    network.read_out.forward = read_out
    tensors = model._tensors(data, 0, use_behavior=False)
    torch.manual_seed(0)
    keep = torch.rand_like(tensors["counts"]) >= 0.5
    torch.manual_seed(0)
    out = model._loss({**tensors, "session": 0, "epoch": 0})
    network.read_out.forward = original
    (out["reconstruction"] * tensors["counts"].shape[0]).backward()
    gradient = captured["log_rates"].grad
    assert gradient[keep].abs().max() == 0
    assert gradient[~keep].abs().max() > 0


def test_controller_variant_fits_saves_and_loads(data, tmp_path):
    model = LFADS(**{**TINY, "controller_dim": 2, "controller_encoder_dim": 4, "controller_hidden_dim": 4}).fit(data)
    factors = model.transform(data)
    assert factors.shape == (24, 8, 3) and np.isfinite(factors).all()
    path = tmp_path / "lfads.pt"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded, LFADS) and loaded.config.controller_dim == 2
    np.testing.assert_array_equal(loaded.transform(data), factors)
    sample = loaded.sample(4, n_time=6)
    assert sample.counts.shape == (4, 6, 10) and sample.latents.shape == (4, 6, 3)


def test_save_load_round_trip_and_class_check(model, data, tmp_path):
    path = tmp_path / "lfads.pt"
    model.save(path)
    loaded = LFADS.load(path)
    np.testing.assert_array_equal(loaded.transform(data), model.transform(data))
    np.testing.assert_array_equal(loaded.predict_behavior(data), model.predict_behavior(data))
    with pytest.raises(ValueError, match="holds a LFADS, not a SeqVAE"):
        SeqVAE.load(path)


def test_sample_shapes(model):
    sample = model.sample(5, n_time=7, seed=1)
    assert sample.counts.shape == (5, 7, 10) and sample.behavior.shape == (5, 7, 2)
    assert (sample.counts >= 0).all() and sample.meta["sampled_from"] == "LFADS"
    np.testing.assert_array_equal(model.sample(5, n_time=7, seed=1).counts, sample.counts)


def test_adapt_changes_only_the_new_session(model, data):
    import copy

    adapted = copy.deepcopy(model)
    before = {k: v.clone() for k, v in adapted.network_.state_dict().items()}
    other = tiny_data(seed=1, n_units=7)
    session = adapted.adapt(other, max_epochs=2)
    assert session == 1 and adapted.units_ == [10, 7]
    after = adapted.network_.state_dict()
    for key, value in before.items():
        torch.testing.assert_close(after[key], value, msg=key)
    assert adapted.transform(other, session=1).shape == (24, 8, 3)


def test_ragged_trials_ignore_padding(data):
    """The initial-condition encoder reads each trial up to its length: what lies in the padding is ignored."""
    lengths = np.where(np.arange(data.n_trials) % 2 == 0, 8, 5)
    ragged = dataclasses.replace(data, lengths=lengths, meta=dict(data.meta))
    model = LFADS(**TINY).fit(ragged)
    factors = model.transform(ragged)
    assert np.all(factors[1::2, 5:] == 0)
    noisy_counts = ragged.counts.copy()
    noisy_counts[1::2, 5:] = 9.0
    noisy = dataclasses.replace(ragged, counts=noisy_counts, meta=dict(data.meta))
    np.testing.assert_allclose(model.transform(noisy), factors, rtol=1e-5, atol=1e-6)


def test_not_fitted_and_bad_inputs(model, data):
    with pytest.raises(NotFittedError, match="call fit"):
        LFADS(**TINY).transform(data)
    with pytest.raises(ValueError, match="data: has 7 units but session 0's read-in expects 10"):
        model.transform(tiny_data(n_units=7))
    with pytest.raises(ValueError, match="LFADS has a Poisson decoder"):
        LFADS(**TINY).fit(dataclasses.replace(data, signal="continuous", meta={}))
    with pytest.raises(TypeError, match="data: expected a TrialData"):
        LFADS(**TINY).fit("spikes.npz")


@pytest.mark.parametrize("field, value", [("factor_dim", 0), ("coordinated_dropout", 1.0), ("dropout", -0.1),
                                          ("controller_dim", -1), ("ic_prior_variance", 0.0),
                                          ("l2_weight", -1.0), ("coordinated_dropout", True)])
def test_bad_config_values_name_the_field(field, value):
    with pytest.raises((ValueError, TypeError), match=field):
        LFADSConfig(**{field: value})


def test_unknown_setting_lists_valid_ones():
    with pytest.raises(TypeError, match="valid settings"):
        LFADS(latent_dim=4)
