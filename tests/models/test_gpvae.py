"""Tests of neuralign.models.gpvae: GPVAE and MMGPVAE (interface, product-of-experts posterior, the closed-form
Poisson expectation, cross-modal prediction, persistence, input validation) and (slow) latent recovery."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import neuralign.datasets
from neuralign.data.trialdata import TrialData
from neuralign.metrics.recovery import latent_recovery
from neuralign.models import GPVAE, MMGPVAE, MMGPVAEConfig, NotFittedError, load_model

TINY = dict(max_epochs=3, batch_size=8, kl_warmup_epochs=1, encoder_hidden=8, decoder_hidden=8, patience=5,
            verbose=False, device="cpu")


def tiny_data(seed: int = 0, behavior: str = "low_dim") -> TrialData:
    return neuralign.datasets.load("synthetic_mmgpvae", n_trials=20, n_time=16, n_units=12, behavior=behavior,
                                   image_size=8, length_scale=4.0, seed=seed)


@pytest.fixture(scope="module")
def data() -> TrialData:
    return tiny_data()


@pytest.fixture(scope="module")
def model(data) -> MMGPVAE:
    return MMGPVAE(shared_dim=1, private_dim=1, **TINY).fit(data)


# ------------------------------------------------------------------------------------------- interface
def test_fit_returns_self_and_transform_gives_every_block(model, data):
    assert model.fitted_ and {"train/loss", "val/loss", "train/kl"} <= set(model.history_.logs)
    latents = model.transform(data)
    assert set(latents) == {"shared", "neural", "behavior"}
    assert all(value.shape == (20, 16, 1) for value in latents.values())
    assert model.length_scales_.shape == (3,)


def test_cross_modal_prediction_shapes_and_absent_private_block_is_prior_mean(model, data):
    assert model.predict_behavior(data).shape == (20, 16, 6)
    rates = model.predict_rates(data, using="behavior")
    assert rates.shape == (20, 16, 12) and (rates > 0).all()
    from_neural = model.transform(data, using="neural")
    np.testing.assert_array_equal(from_neural["behavior"], 0.0)
    assert np.abs(from_neural["neural"]).sum() > 0
    without_behavior = dataclasses.replace(data, behavior=None, meta=dict(data.meta))
    np.testing.assert_allclose(model.predict(without_behavior, "behavior"), model.predict_behavior(data), atol=1e-5)


def test_shared_posterior_is_a_product_of_experts_not_an_average(model, data):
    network = model.network_
    batch = model._inputs(data, None)
    experts, frame = network.experts(model._encoder_inputs(batch), batch["mask"])
    both = network.posterior(experts, frame)
    alone = {name: network.posterior({name: experts[name]}, frame) for name in experts}
    prior_precision = frame.prior_precision[0]
    expected = 1 / alone["neural"].variance[:, 0] + 1 / alone["behavior"].variance[:, 0] - prior_precision
    torch.testing.assert_close(1 / both.variance[:, 0], expected)
    assert bool((both.variance[:, 0] <= torch.minimum(alone["neural"].variance[:, 0],
                                                      alone["behavior"].variance[:, 0]) + 1e-9).all())
    expected_mean = (alone["neural"].mean[:, 0] / alone["neural"].variance[:, 0]
                     + alone["behavior"].mean[:, 0] / alone["behavior"].variance[:, 0]) * both.variance[:, 0]
    torch.testing.assert_close(both.mean[:, 0], expected_mean, rtol=1e-4, atol=1e-5)


def test_closed_form_poisson_expectation_matches_monte_carlo(model, data):
    network, modality = model.network_, model.modalities_[0]
    batch = model._inputs(data, None)
    experts, frame = network.experts(model._encoder_inputs(batch), batch["mask"])
    posterior = network.posterior(experts, frame)
    block = network.block("neural")
    with torch.no_grad():
        mean, variance = posterior.time_mean()[..., block], posterior.time_variance()[..., block]
        closed = network.expected_log_likelihood(modality, batch["x/neural"], batch["mask"], mean, variance, mean)
        generator = torch.Generator().manual_seed(0)
        draws = []
        for _ in range(2000):
            z = posterior.time_sample(generator)[..., block]
            log_rates = network.decode("neural", z)
            x = batch["x/neural"]
            draws.append((x * log_rates - torch.exp(log_rates) - torch.lgamma(x + 1)).sum(dim=(1, 2)))
        monte_carlo = torch.stack(draws).mean(0)
    torch.testing.assert_close(closed, monte_carlo, rtol=2e-3, atol=0.5)


def test_score_is_a_finite_elbo_and_deterministic(model, data):
    first, second = model.score(data), model.score(data)
    assert np.isfinite(first) and first == second and first < 0


def test_sample_draws_every_modality(model):
    drawn = model.sample(5, n_time=16, seed=1)
    assert drawn["latents"].shape == (5, 16, 3) and drawn["neural"].shape == (5, 16, 12)
    assert drawn["behavior"].shape == (5, 16, 6)
    np.testing.assert_array_equal(drawn["neural"], np.round(drawn["neural"]))


def test_save_load_round_trip(model, data, tmp_path):
    path = tmp_path / "mmgpvae.pt"
    model.save(path)
    loaded = MMGPVAE.load(path)
    assert isinstance(load_model(path), MMGPVAE) and loaded.config == model.config
    np.testing.assert_allclose(loaded.transform(data)["shared"], model.transform(data)["shared"], atol=1e-6)
    np.testing.assert_allclose(loaded.predict_behavior(data), model.predict_behavior(data), atol=1e-5)
    with pytest.raises(ValueError, match="GPVAE"):
        GPVAE.load(path)


def test_dict_of_modalities_with_bernoulli_images():
    data = tiny_data(behavior="images")
    images = TrialData(data.behavior, signal="continuous")
    modalities = {"spikes": TrialData(data.counts), "images": images}
    model = MMGPVAE(shared_dim=1, private_dim={"spikes": 1, "images": 1}, behavior_likelihood="bernoulli",
                    **TINY).fit(modalities)
    assert [m.kind for m in model.modalities_] == ["poisson", "bernoulli"]
    probabilities = model.predict(modalities, "images", using="spikes")
    assert probabilities.shape == (20, 16, 64) and (probabilities >= 0).all() and (probabilities <= 1).all()
    assert sorted(model.transform(modalities)) == ["images", "shared", "spikes"]


@pytest.mark.parametrize("prior", ["fourier", "time"])
def test_gpvae_single_modality_with_either_prior(data, prior):
    model = GPVAE(latent_dim=2, prior=prior, **TINY).fit(data)
    assert model.transform(data).shape == (20, 16, 2)
    assert model.predict_rates(data).shape == (20, 16, 12)
    assert np.isfinite(model.score(data))


def test_unit_major_counts_give_the_same_fit_as_c_ordered(data):
    """TrialData.subset leaves counts units-major; the model stores its inputs C-ordered (so minibatches are not
    copied at every step) and precomputes the encoder input, without changing a single number."""
    unit_major = dataclasses.replace(data, counts=np.asfortranarray(data.counts), meta=dict(data.meta))
    assert not unit_major.counts.flags["C_CONTIGUOUS"]
    fits = [GPVAE(latent_dim=2, **TINY).fit(d) for d in (data, unit_major)]
    np.testing.assert_array_equal(fits[0].transform(data), fits[1].transform(unit_major))
    tensors = fits[1]._tensors(*fits[1]._views("data", unit_major))
    assert tensors["x/neural"].is_contiguous()
    torch.testing.assert_close(tensors["in/neural"], torch.log1p(tensors["x/neural"]))


def test_restarts_keep_the_lowest_validation_loss_and_restart_zero_is_the_single_fit(data):
    single = MMGPVAE(shared_dim=1, private_dim=1, **TINY).fit(data)
    several = MMGPVAE(shared_dim=1, private_dim=1, n_restarts=3, **TINY).fit(data)
    assert len(several.restart_scores_) == 3 and len(set(several.restart_scores_)) == 3  # different inits
    assert several.restart_scores_[0] == single.history_.best_val_loss
    assert several.best_restart_ == int(np.argmin(several.restart_scores_))
    assert several.history_.best_val_loss == min(several.restart_scores_)
    if several.best_restart_ == 0:
        np.testing.assert_array_equal(several.transform(data)["shared"], single.transform(data)["shared"])


def test_parallel_restarts_give_the_same_fit_as_sequential(data):
    sequential, parallel = (MMGPVAE(shared_dim=1, private_dim=1, n_restarts=2, n_jobs=jobs, **TINY).fit(data)
                            for jobs in (1, 2))
    assert parallel.uses_worker_processes() and not sequential.uses_worker_processes()
    assert all(history.cpu_seconds > 0 for history in parallel.restart_histories_)
    assert parallel.restart_scores_ == pytest.approx(sequential.restart_scores_, rel=1e-5)
    np.testing.assert_allclose(parallel.transform(data)["behavior"], sequential.transform(data)["behavior"],
                               atol=1e-4)


def test_ragged_trials_padding_does_not_change_the_valid_bins_posterior(model, data):
    lengths = np.full(data.n_trials, data.n_time)
    lengths[0] = 10
    ragged = dataclasses.replace(data, lengths=lengths, meta=dict(data.meta))
    changed = ragged.counts.copy()
    changed[0, 10:] = 50.0
    garbage = dataclasses.replace(ragged, counts=changed, meta=dict(data.meta))
    np.testing.assert_allclose(model.transform(ragged)["shared"], model.transform(garbage)["shared"], atol=1e-5)


# ------------------------------------------------------------------------------------------- validation
def test_unfitted_model_refuses_to_transform(data):
    with pytest.raises(NotFittedError, match="fit"):
        MMGPVAE().transform(data)


@pytest.mark.parametrize("settings, name", [
    (dict(prior="spline"), "prior"), (dict(shared_dim=-1), "shared_dim"), (dict(private_dim=-2), "private_dim"),
    (dict(length_scale_init=100.0), "length_scale_init"), (dict(behavior_likelihood="poisson"), "behavior_likelihood"),
    (dict(unimodal_weight=-1.0), "unimodal_weight"), (dict(condition_threshold=5.0), "condition_threshold"),
    (dict(lr_schedule="step"), "lr_schedule"), (dict(n_restarts=0), "n_restarts"), (dict(n_jobs=0), "n_jobs"),
    (dict(n_jobs="2"), "n_jobs"), (dict(n_restarts=True), "n_restarts"),
])
def test_bad_settings_are_named(settings, name):
    with pytest.raises((ValueError, TypeError), match=name):
        MMGPVAE(**settings)


def test_bad_inputs_are_named(model, data):
    with pytest.raises(TypeError, match="data"):
        MMGPVAE(**TINY).fit(np.zeros((3, 4, 5)))
    with pytest.raises(TypeError, match="valid settings"):
        MMGPVAE(latent_size=3)
    with pytest.raises(ValueError, match="using"):
        model.transform(data, using="eeg")
    with pytest.raises(ValueError, match="target"):
        model.predict(data, "eeg")
    with pytest.raises(ValueError, match="channels"):
        model.transform(data.subset(units=np.arange(5)))
    with pytest.raises(ValueError, match="private_dim"):
        MMGPVAE(private_dim={"neural": 1}, **TINY).fit(data)
    with pytest.raises(ValueError, match="bernoulli"):
        MMGPVAE(behavior_likelihood="bernoulli", **TINY).fit(data)  # low-dim behaviour is not in [0, 1]
    with pytest.raises(ValueError, match="same"):
        MMGPVAE(**TINY).fit({"a": data, "b": data.subset(trials=np.arange(5))})


def test_config_object_and_keywords_are_exclusive():
    with pytest.raises(TypeError, match="config"):
        MMGPVAE(MMGPVAEConfig(), shared_dim=2)


# ---------------------------------------------------------------------------------------------- slow
@pytest.mark.slow
def test_latent_recovery_per_block_on_held_out_trials():
    data = neuralign.datasets.load("synthetic_mmgpvae", n_trials=200, behavior="low_dim", seed=0)
    train, test = data.split(0.2, seed=0)
    model = MMGPVAE(shared_dim=1, private_dim=1, verbose=False).fit(train)
    inferred_train, inferred_test = model.transform(train), model.transform(test)
    for block, floor in (("shared", 0.9), ("neural", 0.85), ("behavior", 0.85)):
        index = data.meta["blocks"][block]
        score = latent_recovery(inferred_train[block], train.latents[..., index], inferred_test[block],
                                test.latents[..., index])
        assert score > floor, (block, score)
