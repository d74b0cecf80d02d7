"""Tests of neuralign.models.ndt2: tokenisation and the masked loss, multi-session pretraining, contexts, persistence,
unsupervised adaptation, supervised decoders and input validation."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import scipy.stats
import torch

import neuralign.datasets
from neuralign.data.trialdata import TrialData
from neuralign.models import NDT2, NDT2Config, load_model
from neuralign.models.base import NotFittedError
from neuralign.models.ndt2_network import draw_token_mask, masked_poisson_nll, patchify, unit_mask

TINY = dict(patch_size=4, d_model=16, n_heads=2, encoder_layers=1, decoder_layers=1, max_epochs=3, batch_size=16,
            tuning_epochs=3, verbose=False, device="cpu")


def sessions(n_trials: int = 24, n_time: int = 6, units=(12, 10, 14), n_subjects: int = 2) -> list[TrialData]:
    return neuralign.datasets.load("synthetic_reach_sessions", n_sessions=len(units), n_units=list(units),
                                   n_trials=n_trials, n_time=n_time, n_subjects=n_subjects, seed=0)


def liu(name: str, n_trials: int = 24) -> TrialData:
    """A few random trials and 10 bins (around the first task event) of one liu_pfc8a session."""
    data = neuralign.datasets.load("liu_pfc8a", session=name)
    data = data.subset(np.sort(np.random.default_rng(0).permutation(data.n_trials)[:n_trials]))
    return dataclasses.replace(data, counts=np.ascontiguousarray(data.counts[:, 50:60]), meta=dict(data.meta))


@pytest.fixture(scope="module")
def synthetic() -> list[TrialData]:
    return sessions()


@pytest.fixture(scope="module")
def model(synthetic) -> NDT2:
    return NDT2(**TINY).fit(synthetic[:2])


def frozen_copy(model: NDT2) -> dict[str, torch.Tensor]:
    return {key: value.detach().clone() for key, value in model.network_.state_dict().items()}


# ------------------------------------------------------------------------------------- tokens and the loss
def test_patchify_pads_units_with_zeros_and_unit_mask_marks_them():
    counts = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 3, 10) + 1
    patches = patchify(counts, 4)
    assert patches.shape == (2, 3, 3, 4)
    np.testing.assert_array_equal(patches.reshape(2, 3, 12)[..., :10].numpy(), counts.numpy())
    assert (patches[..., 2, 2:] == 0).all()
    units = unit_mask(10, 4)
    assert units.shape == (3, 4) and units.sum() == 10 and not units[2, 2:].any() and units[:2].all()


def test_token_mask_splits_the_valid_tokens_at_the_ratio():
    valid = torch.ones(3, 20, dtype=torch.bool)
    valid[2, 10:] = False  # a ragged trial: 10 valid tokens
    visible, masked = draw_token_mask(valid, 0.5, torch.Generator().manual_seed(0))
    assert not (visible & masked).any() and ((visible | masked) == valid).all()
    assert masked.sum(1).tolist() == [10, 10, 5]
    _, masked_more = draw_token_mask(valid, 0.75, torch.Generator().manual_seed(0))
    assert masked_more.sum(1).tolist() == [15, 15, 8]  # round(7.5) = 8
    again, _ = draw_token_mask(valid, 0.5, torch.Generator().manual_seed(0))
    assert torch.equal(again, visible)


def test_masked_loss_ignores_padding_units_and_unmasked_tokens():
    """The loss is exp(l) - y l averaged over masked tokens and real units only: changing the log-rates or counts
    of a visible token or of a padding unit leaves it unchanged; changing a masked real entry does not."""
    generator = torch.Generator().manual_seed(0)
    log_rates = torch.randn(2, 3, 2, 4, generator=generator)
    counts = torch.poisson(torch.full((2, 3, 2, 4), 2.0), generator=generator)
    masked = torch.zeros(2, 3, 2, dtype=torch.bool)
    masked[0, 1, 0] = masked[1, 2, 1] = True
    units = unit_mask(7, 4)  # the last unit of patch 1 is padding
    loss = masked_poisson_nll(log_rates, counts, masked, units)
    scored = [(0, 1, 0, u) for u in range(4)] + [(1, 2, 1, u) for u in range(3)]
    expected = np.mean([float(torch.exp(log_rates[i]) - counts[i] * log_rates[i]) for i in scored])
    assert float(loss) == pytest.approx(expected, rel=1e-6)
    changed_rates, changed_counts = log_rates.clone(), counts.clone()
    changed_rates[0, 0] += 5.0  # visible tokens
    changed_counts[0, 0] += 3.0
    changed_rates[1, 2, 1, 3] += 5.0  # the padding unit of a masked token
    changed_counts[1, 2, 1, 3] += 3.0
    assert float(masked_poisson_nll(changed_rates, changed_counts, masked, units)) == pytest.approx(float(loss))
    changed_rates[1, 2, 1, 2] += 1.0  # a real unit of a masked token
    assert float(masked_poisson_nll(changed_rates, changed_counts, masked, units)) != pytest.approx(float(loss))


def test_masked_loss_gradient_reaches_only_the_masked_tokens(model, synthetic):
    network = model.network_.eval()
    data = synthetic[0]
    tensors = data.to_tensors()
    out = network.masked_reconstruction(tensors["counts"], tensors["mask"], 0, 0.5, torch.Generator().manual_seed(1))
    log_rates = out["log_rates"]
    log_rates.retain_grad()
    masked_poisson_nll(log_rates, out["counts"], out["masked"], out["units"]).backward()
    touched = log_rates.grad.abs() > 0
    allowed = out["masked"].unsqueeze(-1) & out["units"]
    assert touched.any() and not (touched & ~allowed).any()
    assert out["masked"].float().mean().item() == pytest.approx(0.5, abs=0.02)


# ------------------------------------------------------------------------------------------- fitting
def test_fit_transform_shapes_and_contexts(model, synthetic):
    assert model.sessions_ == ["0", "1"] and model.units_ == [12, 10]
    assert model.subjects_ == ["subject 0"]  # both sessions belong to the first of 2 subjects
    features = model.transform(synthetic[1])
    assert features.shape == (24, 6, 16) and features.dtype == np.float32
    np.testing.assert_array_equal(features, model.transform(synthetic[1], session="1"))
    np.testing.assert_array_equal(features, model.transform(synthetic[1]))  # no masking at inference
    assert {"train/loss", "val/loss", "train/reconstruction"} <= set(model.history_.logs)
    with pytest.raises(ValueError, match="has 12 units but context '1' has 10"):
        model.transform(synthetic[0], session=1)


def test_ragged_trials_give_zero_features_past_their_length(model, synthetic):
    data = dataclasses.replace(synthetic[0], lengths=np.r_[np.full(12, 6), np.full(12, 3)], meta=synthetic[0].meta)
    features = model.transform(data)
    assert (features[12:, 3:] == 0).all() and (np.abs(features[12:, :3]).sum(-1) > 0).all()
    np.testing.assert_allclose(features[:12], model.transform(synthetic[0])[:12], atol=1e-5)


def test_pretraining_on_three_sessions_lowers_held_out_masked_loss():
    data = sessions(n_trials=40, n_time=8, n_subjects=1)
    train_parts, test_parts = zip(*(session.split(0.25, seed=0) for session in data))
    settings = {**TINY, "encoder_layers": 2, "val_fraction": 0}
    initial = NDT2(**{**settings, "max_epochs": 1, "learning_rate": 1e-9}).fit(list(train_parts))  # same init
    trained = NDT2(**{**settings, "max_epochs": 25}).fit(list(train_parts))
    for test in test_parts:
        assert trained.masked_loss(test) < 0.75 * initial.masked_loss(test)
    assert trained.score(test_parts[0]) == -trained.masked_loss(test_parts[0])
    for test in test_parts:
        assert trained.masked_bits_per_spike(test) > initial.masked_bits_per_spike(test)


def test_masked_bits_per_spike_against_a_hand_computation(model, synthetic):
    data = synthetic[1]
    out = model.network_.masked_reconstruction(torch.as_tensor(data.counts), torch.as_tensor(data.mask), 1,
                                               model.config.mask_ratio, torch.Generator().manual_seed(3))
    rates, counts = np.exp(out["log_rates"].detach().numpy()), out["counts"].numpy()
    scored = out["masked"].numpy()[..., None] & out["units"].numpy()
    means = np.zeros(scored.shape[2:])
    means.flat[:data.n_units] = data.counts.mean((0, 1))  # patch layout: unit u at (u // P, u % P)
    null = np.broadcast_to(means, counts.shape)
    gain = (scipy.stats.poisson.logpmf(counts, rates) - scipy.stats.poisson.logpmf(counts, null))[scored].sum()
    expected = gain / (counts[scored].sum() * np.log(2))
    assert model.masked_bits_per_spike(data, seed=3) == pytest.approx(expected, rel=1e-4)


def test_multi_session_with_different_unit_counts_and_per_session_read_in(synthetic):
    model = NDT2(**TINY, patch_embedding="per_session").fit(synthetic)
    assert model.units_ == [12, 10, 14] and len(model.network_.read_in) == 3
    assert [layer.weight.shape[0] for layer in model.network_.read_in] == [3, 3, 4]  # ceil(units / 4) patches
    for index, session in enumerate(synthetic):
        assert model.transform(session).shape == (24, 6, 16)
        assert model.transform(session, session=index).shape == (24, 6, 16)
    assert model.subjects_ == ["subject 0", "subject 1"] and model.network_.session_subjects == [0, 0, 1]


def test_contexts_come_from_meta_with_a_documented_default(synthetic):
    bare = [dataclasses.replace(s, meta={}) for s in synthetic[:2]]
    model = NDT2(**TINY).fit(bare)
    assert model.sessions_ == ["index 0", "index 1"] and model.subjects_ == ["unknown"]
    with pytest.raises(ValueError, match="cannot tell its session context .*it has no meta\\['session'\\]"):
        model.transform(bare[0])
    assert model.transform(bare[1], session="index 1").shape == (24, 6, 16)
    named = [dataclasses.replace(s, meta={"session": "day1", "subject": "M"}) for s in synthetic[:2]]
    with pytest.raises(ValueError, match="data\\[1\\]: has 10 units but an earlier session with the same"):
        NDT2(**TINY).fit(named)
    same = NDT2(**TINY).fit([named[0], named[0].subset(np.arange(8))])  # one session in two parts: one context
    assert same.sessions_ == ["day1"] and same.subjects_ == ["M"] and len(same.network_.session_tokens) == 1


# ------------------------------------------------------------------------------------------ persistence
def test_save_load_round_trip_gives_identical_outputs(synthetic, tmp_path):
    model = NDT2(**TINY).fit(synthetic[:2])
    context = model.adapt(synthetic[2])
    model.fit_decoder(synthetic[2], n_labelled=8)
    path = tmp_path / "ndt2.pt"
    model.save(path)
    loaded = load_model(path)
    assert isinstance(loaded, NDT2) and loaded.sessions_ == ["0", "1", "2"] and context == 2
    for session in synthetic:
        np.testing.assert_array_equal(loaded.transform(session), model.transform(session))
    np.testing.assert_array_equal(loaded.predict(synthetic[2]), model.predict(synthetic[2]))
    np.testing.assert_array_equal(loaded.labelled_trials_, model.labelled_trials_)
    assert loaded.masked_loss(synthetic[1]) == model.masked_loss(synthetic[1])


# ------------------------------------------------------------------------------------------ adaptation
@pytest.mark.parametrize("patch_embedding", ["shared", "per_session"])
def test_frozen_unsupervised_adaptation_changes_only_the_new_context(synthetic, patch_embedding):
    model = NDT2(**TINY, patch_embedding=patch_embedding).fit(synthetic[:2])
    before = frozen_copy(model)
    context = model.adapt(synthetic[2], max_epochs=5)
    after = model.network_.state_dict()
    assert context == 2 and model.sessions_[2] == "2" and model.subjects_ == ["subject 0", "subject 1"]
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    new = set(after) - set(before)
    expected = {"session_tokens.2", "subject_tokens.1"}
    if patch_embedding == "per_session":
        expected |= {"read_in.2.weight", "read_in.2.bias", "read_out.2.weight", "read_out.2.bias"}
    assert new == expected
    start = torch.stack([before["session_tokens.0"], before["session_tokens.1"]]).mean(0)
    assert not torch.allclose(after["session_tokens.2"], start)  # the new token was tuned
    assert model.transform(synthetic[2]).shape == (24, 6, 16)


def test_unfrozen_adaptation_tunes_the_backbone(synthetic):
    model = NDT2(**TINY).fit(synthetic[:2])
    before = frozen_copy(model)
    model.adapt(synthetic[2], freeze_backbone=False, max_epochs=3)
    assert not torch.equal(before["encoder.layers.0.linear1.weight"],
                           model.network_.state_dict()["encoder.layers.0.linear1.weight"])


def test_adapt_refuses_a_known_session(model, synthetic):
    with pytest.raises(ValueError, match="target: its session '1' is already a context"):
        model.adapt(synthetic[1])


# ------------------------------------------------------------------------------------------- decoders
def test_class_decoder_on_liu_pfc8a_few_labels():
    pretraining = [liu("B030917"), liu("K070217")]
    target = liu("B020917")
    settings = {**TINY, "patch_size": 32, "max_epochs": 2, "tuning_epochs": 150, "tuning_learning_rate": 1e-2,
                "val_fraction": 0}
    model = NDT2(**settings).fit(pretraining)
    before = frozen_copy(model)
    model.fit_decoder(target, n_labelled=16)
    assert model.head_kind_ == "classes" and model.network_.head.out_features == 4
    assert model.sessions_[-1] == "B020917" and len(model.labelled_trials_) == 16
    for key, value in before.items():  # finetune=False: the backbone and the known contexts stay
        assert torch.equal(value, model.network_.state_dict()[key]), key
    predicted = model.predict(target)
    assert predicted.shape == (24,) and predicted.dtype == np.int64 and set(predicted) <= {0, 1, 2, 3}
    labelled = model.labelled_trials_
    assert (predicted[labelled] == target.labels[labelled]).mean() >= 0.75  # it fits its 16 labelled trials
    model.fit_decoder(target, n_labelled=16, finetune=True, max_epochs=2)
    assert not torch.equal(before["encoder.layers.0.linear1.weight"],
                           model.network_.state_dict()["encoder.layers.0.linear1.weight"])
    with pytest.raises(ValueError, match="no behaviour decoder"):
        model.predict_behavior(target)


def test_velocity_decoder_and_supervised_adapt_mode(synthetic):
    model = NDT2(**TINY).fit(synthetic[:2])
    context = model.adapt(synthetic[2], mode="supervised", n_labelled=12)
    assert context == 2 and model.head_kind_ == "velocity" and model.decoder_context_ == 2
    velocity = model.predict_behavior(synthetic[2])
    assert velocity.shape == (24, 6, 2)
    np.testing.assert_array_equal(velocity, model.predict(synthetic[2]))
    labelled = model.labelled_trials_
    np.testing.assert_allclose(velocity[labelled].mean((0, 1)), synthetic[2].behavior[labelled].mean((0, 1)),
                               atol=0.5 * synthetic[2].behavior.std())


def test_from_scratch_baseline_uses_the_target_context():
    target = dataclasses.replace(sessions(units=(12,), n_subjects=1)[0], meta={})
    model = NDT2(**TINY).fit(target).fit_decoder(target, n_labelled=10, variable="labels")
    assert model.sessions_ == ["index 0"] and model.decoder_context_ == 0
    assert model.predict(target).shape == (24,)


def test_pretraining_with_a_head(synthetic):
    model = NDT2(**TINY, head_weight=1.0).fit(synthetic[:2])
    assert model.head_kind_ == "velocity" and "train/head" in model.history_.logs
    assert model.predict_behavior(synthetic[0]).shape == (24, 6, 2)
    no_behavior = [dataclasses.replace(s, behavior=None, meta=s.meta) for s in synthetic[:2]]
    classes = NDT2(**TINY, head_weight=1.0).fit(no_behavior)
    assert classes.head_kind_ == "classes" and classes.predict(no_behavior[0]).shape == (24,)


# --------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("settings, match", [
    (dict(patch_size=0), "patch_size: expected an integer >= 1, got 0"),
    (dict(mask_ratio=0.0), "mask_ratio: expected a number in \\(0, 1\\), got 0.0"),
    (dict(mask_ratio=1.0), "mask_ratio: expected a number in \\(0, 1\\), got 1.0"),
    (dict(mask_ratio=1.5), "mask_ratio: expected a number in \\(0, 1\\), got 1.5"),
    (dict(d_model=10, n_heads=4), "n_heads: expected a divisor of d_model=10, got 4"),
    (dict(patch_embedding="lookup"), "patch_embedding: expected one of"),
    (dict(dropout=1.0), "dropout: expected a number in \\[0, 1\\)"),
])
def test_bad_settings_name_the_argument(settings, match):
    with pytest.raises((ValueError, TypeError), match=match):
        NDT2(**settings)
    with pytest.raises((ValueError, TypeError), match=match):
        NDT2Config(**settings)


def test_bad_inputs_give_clear_errors(model, synthetic):
    slower = dataclasses.replace(synthetic[1], bin_size=0.05, meta=synthetic[1].meta)
    with pytest.raises(ValueError, match="data: every session must have the same bin_size"):
        NDT2(**TINY).fit([synthetic[0], slower])
    with pytest.raises(ValueError, match="target: bin_size 0.05 s differs"):
        model.adapt(dataclasses.replace(slower, meta={"session": "new"}))
    with pytest.raises(ValueError, match="n_labelled: expected at most the target's 24 trials, got 25"):
        model.fit_decoder(synthetic[2], n_labelled=25)
    wide = TrialData(np.ones((4, 6, 40)), meta={"session": "wide"})
    with pytest.raises(ValueError, match="target: 40 units need 10 patches of 4, more than max_patches=8"):
        NDT2(**TINY, max_patches=8).fit(synthetic[:1]).adapt(wide)
    with pytest.raises(ValueError, match="data\\[0\\]: trials of 6 bins are longer than max_time_bins=5"):
        NDT2(**TINY, max_time_bins=5).fit(synthetic[:1])
    with pytest.raises(ValueError, match="head_weight: 1.0 > 0 needs behaviour \\(or labels\\) in every session"):
        NDT2(**TINY, head_weight=1.0).fit(TrialData(np.ones((8, 6, 5))))
    with pytest.raises(ValueError, match="mode: expected one of"):
        model.adapt(synthetic[2], mode="prompt")
    with pytest.raises(ValueError, match="target: fit_decoder needs behaviour or labels"):
        model.fit_decoder(TrialData(np.ones((8, 6, 12)), meta={"session": "0"}))
    with pytest.raises(NotFittedError):
        NDT2(**TINY).transform(synthetic[0])
    with pytest.raises(TypeError, match="data: expected a TrialData or a non-empty list"):
        NDT2(**TINY).fit([])
    with pytest.raises(ValueError, match="session: expected one of \\['0', '1'\\], got 'x'"):
        model.transform(synthetic[0], session="x")
