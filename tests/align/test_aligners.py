"""Aligners: the interface, the label-free contract, and bad inputs.

Tiny synthetic sessions (same latent dynamics, different units) keep these fast; alignment quality on the real
monkey pair is measured by ``neuralign bench align``, not here."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from neuralign.align import (AdversarialMatching, ConditionAverageAffine, ConditionAverageReadIn, ERDiff, MMDMatching,
                             MomentMatching, NoAlignment, SinkhornMatching, TargetBehaviorReadIn)
from neuralign.align.candidates import component_maps
from neuralign.data.datasets import load
from neuralign.data.trialdata import TrialData
from neuralign.models import SeqVAE
from neuralign.nn.matching import sinkhorn_divergence, transport_cost

FAST = dict(epochs=3, screen_epochs=1, restarts=2, explore_components=1, verbose=False, batch_size=16)


@pytest.fixture(scope="module")
def sessions():
    return load("synthetic_reach_sessions", n_trials=32, n_time=8, n_units=(12, 10), seed=0)


@pytest.fixture(scope="module")
def model(sessions):
    return SeqVAE(latent_dim=2, hidden_size=8, read_in_dim=8, max_epochs=3, verbose=False).fit(sessions[0])


UNSUPERVISED = [MomentMatching, MMDMatching, SinkhornMatching, AdversarialMatching]


@pytest.mark.parametrize("cls", UNSUPERVISED)
def test_read_in_aligners_fit_transform_and_decode(cls, model, sessions):
    source, target = sessions
    aligner = cls(model, source=source, **FAST).fit(target)
    latents = aligner.transform(target)
    assert latents.shape == (target.n_trials, target.n_time, 2) and np.isfinite(latents).all()
    assert aligner.predict_behavior(target).shape == (target.n_trials, target.n_time, 2)
    assert len(aligner.restart_scores_) == 2 and aligner.best_restart_ == int(np.argmin(aligner.restart_scores_))
    np.testing.assert_array_equal(aligner.transform(target, restart=aligner.best_restart_), latents)
    assert not cls.supervised


@pytest.mark.parametrize("cls", UNSUPERVISED)
def test_unsupervised_aligners_ignore_target_labels_and_behaviour(cls, model, sessions):
    source, target = sessions
    scrambled = dataclasses.replace(target, labels=np.roll(target.labels, 3),
                                    behavior=np.random.default_rng(0).normal(size=target.behavior.shape),
                                    meta=dict(target.meta))
    stripped = dataclasses.replace(target, labels=None, behavior=None, meta=dict(target.meta))
    a = cls(model, source=source, **FAST, seed=3).fit(scrambled).transform(target)
    b = cls(model, source=source, **FAST, seed=3).fit(stripped).transform(target)
    np.testing.assert_array_equal(a, b)


def test_source_model_is_left_unchanged(model, sessions):
    source, target = sessions
    before = {k: v.clone() for k, v in model.network_.state_dict().items()}
    MMDMatching(model, source=source, **FAST).fit(target)
    NoAlignment(model, max_epochs=2).fit(target)
    after = model.network_.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert len(model.units_) == 1  # NoAlignment adapts a copy, not the source model


def test_erdiff_fits_prior_and_aligns(model, sessions):
    source, target = sessions
    aligner = ERDiff(model, source=source, prior_epochs=2, prior_width=8, prior_blocks=1, selection_draws=2,
                     refine_epochs=1, **FAST).fit(target)
    assert aligner.prior_ is not None and not aligner.prior_.training
    assert all(not p.requires_grad for p in aligner.prior_.parameters())
    assert aligner.transform(target).shape == (target.n_trials, target.n_time, 2)
    samples = aligner.prior_.sample(3, steps=4)
    assert tuple(samples.shape) == (3, target.n_time, 2)


def test_erdiff_denoise_applies_the_priors_tweedie_step(model, sessions):
    source, target = sessions
    aligner = ERDiff(model, source=source, prior_epochs=2, prior_width=8, prior_blocks=1, refine_epochs=0,
                     **FAST).fit(target)
    assert aligner.prior_ is None  # no step of this alignment reads the prior: it is fitted only when needed
    plain = aligner.transform(target)
    np.testing.assert_array_equal(aligner.transform(target, denoise=0), plain)  # the default level is 0
    expected = aligner.fit_prior().denoise(torch.as_tensor(plain), 0.3).numpy()
    np.testing.assert_allclose(aligner.transform(target, denoise=0.3), expected, rtol=1e-5, atol=1e-6)
    calibrated = aligner.transform(target, calibration="moments")  # calibration first, then the prior's step
    np.testing.assert_allclose(aligner.transform(target, calibration="moments", denoise=0.3),
                               aligner.prior_.denoise(torch.as_tensor(calibrated), 0.3).numpy(), rtol=1e-5, atol=1e-6)
    aligner.denoise = 0.3  # the configured level is the default of transform and predict_behavior
    np.testing.assert_allclose(aligner.transform(target), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(aligner.predict_behavior(target), model.decode_behavior(expected), rtol=1e-4,
                               atol=1e-5)
    # configured together: calibration is fitted on the read-in's latents, not on denoised ones
    both = ERDiff(model, source=source, prior=aligner.prior_, refine_epochs=0, calibration="moments", denoise=0.3,
                  **FAST).fit(target)
    raw = both.transform(target, calibration="none", denoise=0)
    np.testing.assert_allclose(both.calibration_[0], raw[target.mask].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both.transform(target), aligner.prior_.denoise(
        torch.as_tensor(both.transform(target, denoise=0)), 0.3).numpy(), rtol=1e-5, atol=1e-6)
    for bad in (-0.1, float("nan")):
        with pytest.raises(ValueError, match="denoise: expected a finite number >= 0"):
            aligner.transform(target, denoise=bad)
        with pytest.raises(ValueError, match="denoise: expected a finite number >= 0"):
            ERDiff(model, source=source, denoise=bad)
    with pytest.raises(TypeError, match="denoise: expected a number"):
        aligner.transform(target, denoise="strong")


def test_erdiff_seed_fixes_the_prior(model, sessions):
    """The denoiser's initial weights are drawn after seeding: the same seed gives the same prior, bit for bit,
    whatever the global random state was; another seed gives another prior."""
    source, _ = sessions
    settings = dict(prior_epochs=2, prior_width=8, prior_blocks=1, prior_early_stopping=False, verbose=False)

    def prior_state(seed):
        torch.rand(seed + 1)  # move the global random state, as earlier work in a session does
        prior = ERDiff(model, source=source, seed=seed, **settings).fit_prior()
        return {name: value.clone() for name, value in prior.state_dict().items()}

    first, again, other = prior_state(0), prior_state(0), prior_state(1)
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[name], again[name]) for name in first)
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_erdiff_ablation_switches_reach_the_denoiser(model, sessions):
    source, _ = sessions
    aligner = ERDiff(model, source=source, prior_epochs=1, prior_width=8, prior_blocks=1, spatial=False, **FAST)
    prior = aligner.fit_prior()
    assert not prior.denoiser.spatial and prior.denoiser.temporal


def test_supervised_references_are_flagged_and_use_labels(model, sessions):
    source, target = sessions
    assert ConditionAverageAffine.supervised and TargetBehaviorReadIn.supervised
    affine = ConditionAverageAffine(model, source=source).fit(target)
    assert affine.transform(target).shape == (target.n_trials, target.n_time, 2)
    with pytest.raises(ValueError, match="target: ConditionAverageAffine needs condition labels"):
        ConditionAverageAffine(model, source=source).fit(dataclasses.replace(target, labels=None, meta={}))
    ceiling = TargetBehaviorReadIn(model, source=source, **FAST).fit(target)
    assert ceiling.predict_behavior(target).shape == target.behavior.shape
    with pytest.raises(ValueError, match="target: TargetBehaviorReadIn needs target behaviour"):
        TargetBehaviorReadIn(model, source=source, **FAST).fit(dataclasses.replace(target, behavior=None, meta={}))


def test_condition_average_read_in_moves_trials_towards_their_condition_average(model, sessions):
    source, target = sessions
    assert ConditionAverageReadIn.supervised
    settings = dict(FAST, epochs=40, restarts=1, explore_components=0)
    untrained = ConditionAverageReadIn(model, source=source, **dict(settings, epochs=1, learning_rate=1e-9))
    trained = ConditionAverageReadIn(model, source=source, **settings)
    untrained.fit(target), trained.fit(target)
    assert trained.restart_scores_[0] < 0.5 * untrained.restart_scores_[0]
    with pytest.raises(ValueError, match="target: ConditionAverageReadIn needs condition labels"):
        ConditionAverageReadIn(model, source=source, **FAST).fit(dataclasses.replace(target, labels=None, meta={}))
    with pytest.raises(ValueError, match="target: has conditions .* that the source lacks"):
        ConditionAverageReadIn(model, source=source, **FAST).fit(
            dataclasses.replace(target, labels=target.labels + 100, meta={}))


# ------------------------------------------------------------------------------------------------ bad input
def test_target_with_nans_is_rejected_at_construction(sessions):
    counts = sessions[1].counts.copy()
    counts[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="counts: expected finite values"):
        TrialData(counts)


def test_target_with_other_trial_length(model, sessions):
    source, target = sessions
    shorter = target.subset()
    shorter = TrialData(shorter.counts[:, :6], labels=shorter.labels)
    with pytest.raises(ValueError, match="target: has 6 time bins per trial but the source has 8"):
        MMDMatching(model, source=source, **FAST).fit(shorter)


def test_target_with_zero_units_cannot_exist():
    with pytest.raises(ValueError, match="counts: expected a non-empty array"):
        TrialData(np.zeros((4, 8, 0)))


def test_unfitted_source_model(sessions):
    with pytest.raises(ValueError, match="source_model: the SeqVAE is not fitted"):
        ERDiff(SeqVAE(), source=sessions[0])


def test_source_model_of_the_wrong_type(sessions):
    with pytest.raises(TypeError, match="source_model: expected a fitted neuralign sequence model"):
        MMDMatching("model.pt", source=sessions[0])


def test_source_with_other_units(model, sessions):
    with pytest.raises(ValueError, match="source: has 10 units but the source model's read-in expects 12"):
        MMDMatching(model, source=sessions[1], **FAST)


def test_missing_source_for_matching(model):
    with pytest.raises(ValueError, match="source: MMDMatching needs the source trials"):
        MMDMatching(model, source=None, **FAST)


def test_transform_before_fit_and_with_other_units(model, sessions):
    source, target = sessions
    aligner = MMDMatching(model, source=source, **FAST)
    with pytest.raises(ValueError, match="MMDMatching is not fitted"):
        aligner.transform(target)
    aligner.fit(target)
    with pytest.raises(ValueError, match="target: has 12 units but the aligner was fitted on 10"):
        aligner.transform(source)
    with pytest.raises(ValueError, match="restart: expected an index in"):
        aligner.transform(target, restart=7)


def test_bad_settings(model, sessions):
    source = sessions[0]
    with pytest.raises(ValueError, match="restarts: expected an integer >= 1"):
        MMDMatching(model, source=source, restarts=0)
    with pytest.raises(ValueError, match="init: expected one of"):
        MMDMatching(model, source=source, init="zeros")
    with pytest.raises(ValueError, match="matching: expected one of"):
        ERDiff(model, source=source, matching="kl")
    with pytest.raises(TypeError, match="prior: expected a fitted TrajectoryDiffusion"):
        ERDiff(model, source=source, prior="prior.pt")
    with pytest.raises(ValueError, match="explore_components: expected at most 5"):
        MMDMatching(model, source=source, explore_components=6)
    with pytest.raises(ValueError, match=r"screen_epochs: expected at most epochs \(10\), got 20"):
        MMDMatching(model, source=source, epochs=10, screen_epochs=20)
    with pytest.raises(ValueError, match="replicas: expected an integer >= 1"):
        SinkhornMatching(model, source=source, replicas=0)
    with pytest.raises(ValueError, match="lr_schedule: expected one of"):
        SinkhornMatching(model, source=source, lr_schedule="step")
    with pytest.raises(ValueError, match="calibration: expected one of"):
        SinkhornMatching(model, source=source, calibration="zscore")


def test_moment_calibration_gives_the_fitting_trials_the_source_latents_mean_and_covariance(model, sessions):
    source, target = sessions
    plain = SinkhornMatching(model, source=source, **FAST).fit(target)
    calibrated = SinkhornMatching(model, source=source, calibration="moments", **FAST).fit(target)
    raw = calibrated.transform(target, calibration="none")
    np.testing.assert_array_equal(raw, plain.transform(target))  # the fit itself is unchanged
    latents = calibrated.transform(target)
    reference = model.transform(source)[source.mask]
    np.testing.assert_allclose(latents[target.mask].mean(0), reference.mean(0), atol=1e-4)
    np.testing.assert_allclose(np.cov(latents[target.mask].T), np.cov(reference.T), rtol=1e-3, atol=1e-5)
    np.testing.assert_array_equal(plain.transform(target, calibration="moments"), latents)
    # an affine map of the raw latents: an affine read-out of them is unchanged on the fitting trials
    design = np.c_[raw[target.mask], np.ones(target.mask.sum())]
    coefficients, *_ = np.linalg.lstsq(design, latents[target.mask], rcond=None)
    np.testing.assert_allclose(design @ coefficients, latents[target.mask], atol=1e-4)
    with pytest.raises(ValueError, match="calibration: expected one of"):
        calibrated.transform(target, calibration="coral")


def test_replicas_train_each_candidate_on_its_own_source_resamples(model, sessions):
    source, target = sessions
    settings = {**FAST, "restarts": 1, "explore_components": 0, "epochs": 4}
    aligner = SinkhornMatching(model, source=source, replicas=3, **settings).fit(target)
    scores = np.asarray(aligner.replica_scores_)
    assert scores.shape == (1, 3) and len(set(scores[0].round(8))) == 3  # three different training runs
    assert aligner.restart_scores_ == [float(np.median(scores[0]))]
    # the label-based references draw no source trials: one copy of each candidate
    reference = TargetBehaviorReadIn(model, source=source, replicas=3, **settings).fit(target)
    assert np.shape(reference.replica_scores_) == (1, 1)


def test_candidates_are_every_signed_permutation_of_the_top_components():
    signs = np.array([1.0, -1.0, 1.0, -1.0, 1.0])
    maps = component_maps(signs, 5, explore=3)
    assert len(maps) == 48 and len({m.tobytes() for m in maps}) == 48  # 3! x 2^3, all different
    np.testing.assert_array_equal(maps[0], np.diag(signs))  # the label-free matched map comes first
    for q in maps:
        np.testing.assert_array_equal(np.abs(q) @ np.abs(q).T, np.eye(5))  # a signed permutation
        np.testing.assert_array_equal(q[3:, 3:], np.diag(signs[3:]))  # lower components keep their match
    flips = component_maps(signs, 5, explore=0, restarts=4, rng=np.random.default_rng(0))
    assert len(flips) == 4 and np.array_equal(flips[0], np.diag(signs))
    assert all(np.array_equal(np.abs(q), np.eye(5)) for q in flips)


def test_rotation_candidates_add_plane_rotations_and_mirrors_without_duplicates():
    signs = np.ones(4)
    maps = component_maps(signs, 4, explore=2, rotations=8)
    assert len(maps) == 8 + 8  # 8 signed permutations of the plane; 16 rotations/mirrors, 8 of them new
    for q in maps:
        np.testing.assert_allclose(q @ q.T, np.eye(4), atol=1e-12)  # orthogonal
    angles = {round(float(np.degrees(np.arctan2(q[1, 0], q[0, 0]))) % 360) for q in maps if np.linalg.det(q) > 0}
    assert angles == {0, 45, 90, 135, 180, 225, 270, 315}


def test_screening_keeps_the_best_candidates_and_trains_them_on(model, sessions):
    source, target = sessions
    aligner = MMDMatching(model, source=source, **{**FAST, "restarts": 3, "explore_components": 2}).fit(target)
    assert len(aligner.restart_candidates_) == 3 and len(set(aligner.restart_candidates_)) == 3
    assert all(0 <= index < 8 for index in aligner.restart_candidates_)  # 2! x 2^2 candidates
    assert aligner.restart_scores_[aligner.best_restart_] == min(aligner.restart_scores_)


def test_candidates_trained_side_by_side_equal_a_candidate_trained_alone(model, sessions):
    source, target = sessions  # batches hold all 32 target trials and every source trial: MMD sees the same sets
    settings = dict(epochs=5, screen_epochs=1, batch_size=32, verbose=False, seed=1)
    together = MMDMatching(model, source=source, explore_components=1, restarts=2, **settings).fit(target)
    alone = MMDMatching(model, source=source, explore_components=0, restarts=1, **settings).fit(target)
    assert together.restart_candidates_ == [0, 1]  # candidate 0 is the matched map, the only one of ``alone``
    np.testing.assert_allclose(together.restart_read_ins_[0].weight.detach().cpu().numpy(),
                               alone.read_in_.weight.detach().cpu().numpy(), rtol=1e-4, atol=1e-6)


def test_erdiff_chooses_by_the_exact_transport_cost_by_default(model, sessions):
    source, target = sessions
    aligner = ERDiff(model, source=source, prior_epochs=2, prior_width=8, prior_blocks=1, refine_epochs=1,
                     **FAST).fit(target)
    source_latents = torch.as_tensor(model.transform(source)).flatten(-2)
    expected = [float(transport_cost(torch.as_tensor(aligner.transform(target, restart=i)).flatten(-2),
                                     source_latents)) for i in range(len(aligner.restart_scores_))]
    # each candidate keeps its replica with the lowest cost and is ranked by the median over its replicas
    np.testing.assert_allclose(np.min(aligner.replica_scores_, axis=1), expected, rtol=1e-5)
    np.testing.assert_allclose(aligner.restart_scores_, np.median(aligner.replica_scores_, axis=1))
    assert np.shape(aligner.replica_scores_) == (2, 4)  # FAST keeps 2 candidates; 4 replicas each by default
    by_matching = ERDiff(model, source=source, prior=aligner.prior_, refine_epochs=0, selection="matching",
                         replicas=1, **FAST).fit(target)
    # the source-source term is a constant of the alignment and is left out of the objective (y_term=False)
    expected = [float(sinkhorn_divergence(torch.as_tensor(by_matching.transform(target, restart=i)).flatten(-2),
                                          source_latents, y_term=False))
                for i in range(len(by_matching.restart_scores_))]
    np.testing.assert_allclose(by_matching.restart_scores_, expected, rtol=1e-4)
    with pytest.raises(ValueError, match="selection: expected one of"):
        ERDiff(model, source=source, selection="best")
    with pytest.raises(ValueError, match='selection: "matching" needs a set distance'):
        ERDiff(model, source=source, selection="matching", matching="none")


def test_continuous_target_is_rejected(model, sessions):
    source, target = sessions
    continuous = dataclasses.replace(target, signal="continuous", meta={})
    with pytest.raises(ValueError, match="target: expected spike counts"):
        MMDMatching(model, source=source, **FAST).fit(continuous)
