"""Tests of neuralign.models.multimodal (PoE, MoE, MoPoE, POISE multimodal VAEs)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.data.datasets import load
from neuralign.data.paired import neural_behavior
from neuralign.data.trialdata import TrialData
from neuralign.metrics.multimodal import latent_accuracy
from neuralign.models import load_model
from neuralign.models.multimodal import MultimodalVAE

STRATEGIES = ("poe", "moe", "mopoe", "poise")


@pytest.fixture(scope="module")
def ring_digits():
    return load("ring_digits", radius=1.0, n_per_class=20, seed=0)


def _model(strategy: str, **settings):
    defaults = dict(strategy=strategy, latent_dim=3, hidden_size=32, max_epochs=40, kl_warmup_epochs=5,
                    batch_size=32, verbose=False, val_fraction=0.0, modalities={"digit": {"likelihood": "bernoulli"}})
    defaults.update(settings)
    return MultimodalVAE(**defaults)


def test_fast_fit_separates_ring_classes_and_generates(ring_digits):
    for strategy in ("moe", "poise"):
        model = _model(strategy, max_epochs=12).fit(ring_digits)
        latents = model.transform(ring_digits, given=["ring"], modality="ring")
        labels = ring_digits["ring"].labels
        assert latent_accuracy(latents, labels, latents, labels) > 0.5  # chance is 0.125
        assert model.cross_generate(ring_digits, source="ring", target="digit").shape == (160, 1, 64)


@pytest.mark.slow
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_learns_the_ring_classes_and_generates_every_way(strategy, ring_digits):
    model = _model(strategy).fit(ring_digits)
    labels = ring_digits["ring"].labels
    latents = model.transform(ring_digits, given=["ring"], modality="ring")
    assert latents.shape == (160, 1, 3) and np.isfinite(latents).all()
    # the ring's latents separate its 8 clusters (train = test here: a check that learning happened)
    assert latent_accuracy(latents, labels, latents, labels) > 0.8
    digits = model.cross_generate({"ring": ring_digits["ring"]}, source="ring", target="digit")
    assert digits.shape == (160, 1, 64) and digits.min() >= 0 and digits.max() <= 1
    reconstruction = model.reconstruct(ring_digits)
    assert set(reconstruction) == {"ring", "digit"}
    ring_error = np.mean((reconstruction["ring"] - ring_digits["ring"].counts) ** 2)
    assert ring_error < np.var(ring_digits["ring"].counts)  # better than predicting the mean
    samples = model.sample(7, seed=1)
    assert samples["ring"].shape == (7, 1, 2) and samples["digit"].shape == (7, 1, 64)
    elbo, iwll = model.score(ring_digits, n_samples=4), model.log_likelihood(ring_digits, n_samples=8)
    assert np.isfinite(elbo) and np.isfinite(iwll)
    assert iwll >= elbo - 1.0  # the importance-weighted bound is not looser than the ELBO (up to MC noise)


def test_poise_has_one_latent_per_modality(ring_digits):
    model = _model("poise", max_epochs=3).fit(ring_digits)
    assert model.transform(ring_digits).shape == (160, 1, 6)
    assert model.transform(ring_digits, modality="digit").shape == (160, 1, 3)


def test_fit_accepts_trials_with_a_modality_missing(ring_digits):
    rng = np.random.default_rng(0)
    missing_digit = rng.random(160) < 0.3
    observed = {"digit": ~missing_digit, "ring": missing_digit | (rng.random(160) < 0.8)}
    corrupted = dict(ring_digits)
    digit = ring_digits["digit"].counts.copy()
    digit[missing_digit] = 1.0  # values of missing entries must be ignored
    corrupted["digit"] = TrialData(digit, labels=ring_digits["digit"].labels, signal="continuous")
    for strategy in STRATEGIES:
        first = _model(strategy, max_epochs=1).fit(corrupted, observed=observed)
        digit[missing_digit] = 0.0
        corrupted["digit"] = TrialData(digit, labels=ring_digits["digit"].labels, signal="continuous")
        second = _model(strategy, max_epochs=1).fit(corrupted, observed=observed)
        np.testing.assert_allclose(first.transform(ring_digits), second.transform(ring_digits), atol=1e-5)


def test_save_and_load_round_trip(tmp_path, ring_digits):
    model = _model("poise", max_epochs=2).fit(ring_digits)
    model.save(tmp_path / "model.pt")
    loaded = load_model(tmp_path / "model.pt")
    assert isinstance(loaded, MultimodalVAE)
    np.testing.assert_allclose(loaded.transform(ring_digits), model.transform(ring_digits), atol=1e-6)
    np.testing.assert_allclose(loaded.sample(5, seed=3)["digit"], model.sample(5, seed=3)["digit"], atol=1e-6)


def test_sequential_spikes_and_behaviour_modalities():
    session = load("synthetic_reach", n_trials=40, n_time=8, n_units=12, seed=0)
    data = neural_behavior(session)
    model = MultimodalVAE(strategy="moe", latent_dim=2, hidden_size=16, max_epochs=3, verbose=False).fit(data)
    assert model.specs_["spikes"]["likelihood"] == "poisson" and model.specs_["spikes"]["encoder"] == "gru"
    velocity = model.cross_generate(data, source="spikes", target="velocity")
    assert velocity.shape == session.behavior.shape
    assert model.cross_generate(data, source="velocity", target="spikes").min() > 0  # Poisson rates


def test_bad_inputs_name_the_argument(ring_digits):
    with pytest.raises(ValueError, match="strategy"):
        MultimodalVAE(strategy="sum")
    with pytest.raises(ValueError, match="modalities"):
        MultimodalVAE(modalities={"digit": {"likelihood": "cauchy"}})
    with pytest.raises(TypeError, match="data"):
        _model("poe").fit([ring_digits["ring"]])
    with pytest.raises(ValueError, match="poise"):
        three = dict(ring_digits, extra=ring_digits["ring"])
        _model("poise").fit(three)
    with pytest.raises(ValueError, match="same trials"):
        _model("poe").fit({"ring": ring_digits["ring"], "digit": ring_digits["digit"].subset(np.arange(10))})
    with pytest.raises(ValueError, match="observed"):
        _model("poe").fit(ring_digits, observed={"ring": np.zeros(160, bool), "digit": np.zeros(160, bool)})
    with pytest.raises(ValueError, match="bernoulli"):
        _model("poe", modalities={"ring": {"likelihood": "bernoulli"}}).fit(ring_digits)
    with pytest.raises(ValueError, match="not fitted"):
        _model("poe").transform(ring_digits)
    model = _model("poe", max_epochs=1).fit(ring_digits)
    with pytest.raises(ValueError, match="given"):
        model.transform({"ring": ring_digits["ring"]}, given=["digit"])
    with pytest.raises(ValueError, match="target"):
        model.cross_generate(ring_digits, source="ring", target="sound")
    with pytest.raises(ValueError, match="channels"):
        model.transform({"ring": ring_digits["digit"]})


def test_decode_of_the_posterior_mean_is_the_reconstruction(ring_digits):
    model = MultimodalVAE(strategy="poise", latent_dim=2, max_epochs=2, kl_warmup_epochs=0, verbose=False,
                          seed=0).fit(ring_digits)
    latents = {name: model.transform(ring_digits, given=["ring", "digit"], modality=name) for name in ring_digits}
    decoded = model.decode(latents)
    np.testing.assert_allclose(decoded["digit"], model.reconstruct(ring_digits)["digit"], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="latents: unknown modality 'sound'"):
        model.decode({"sound": latents["ring"]})
    with pytest.raises(ValueError, match=r"latents\['ring'\]: expected \(trials, time, 2\)"):
        model.decode({"ring": np.zeros((3, 1, 5))})
    with pytest.raises(ValueError, match="poise_diagnostics: the model's strategy is 'poe'"):
        MultimodalVAE(strategy="poe", latent_dim=2, max_epochs=1, kl_warmup_epochs=0, verbose=False
                      ).fit(ring_digits).poise_diagnostics(ring_digits)
