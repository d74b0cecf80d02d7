"""Dynamics-constrained alignment (NoMAD, DynamicsMatching), the held-out likelihood choice, the confidence
report, the no-alignment candidate, the few-shot choice, ragged targets, and each unsupervised aligner's recovery
of a known map on a small identifiable case."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from neuralign.align import (AdversarialMatching, DynamicsMatching, ERDiff, MMDMatching, MomentMatching, NoMAD,
                             SinkhornMatching)
from neuralign.align.report import AlignmentReport, map_relation, paired_margin
from neuralign.align.selection import check_labelled, labelled_trials, likelihood_per_trial
from neuralign.data.datasets import load
from neuralign.data.trialdata import TrialData
from neuralign.models import LFADS, SeqVAE

FAST = dict(epochs=4, screen_epochs=2, restarts=2, explore_components=1, verbose=False, batch_size=16)
TINY_LFADS = dict(factor_dim=2, read_in_dim=8, encoder_dim=8, ic_dim=4, generator_dim=8, max_epochs=20,
                  kl_warmup_epochs=2, verbose=False)


@pytest.fixture(scope="module")
def sessions():
    return load("synthetic_reach_sessions", n_trials=32, n_time=8, n_units=(12, 10), seed=0)


@pytest.fixture(scope="module")
def lfads(sessions):
    return LFADS(**TINY_LFADS).fit(sessions[0])


# ------------------------------------------------------------------------------------ the aligners
@pytest.mark.parametrize("cls", [NoMAD, DynamicsMatching])
def test_dynamics_aligners_fit_report_and_decode(cls, lfads, sessions):
    source, target = sessions
    aligner = cls(lfads, source=source, **FAST).fit(target)
    latents = aligner.transform(target)
    assert latents.shape == (target.n_trials, target.n_time, 2) and np.isfinite(latents).all()
    assert aligner.predict_behavior(target).shape == (target.n_trials, target.n_time, 2)
    report = aligner.report_
    assert isinstance(report, AlignmentReport) and report.selection == "likelihood"
    assert len(report.scores) == 2 and {"likelihood", "transport"} <= set(report.scores[0])
    assert report.relations[report.chosen] == "same" and report.chosen == aligner.best_restart_
    assert "candidate chosen by likelihood" in report.summary()
    assert set(report.as_dict()) >= {"margin", "confident", "warning", "relations"}


@pytest.mark.parametrize("cls", [NoMAD, DynamicsMatching])
def test_dynamics_aligners_refuse_a_model_without_dynamics(cls, sessions):
    model = SeqVAE(latent_dim=2, hidden_size=8, read_in_dim=8, max_epochs=1, verbose=False).fit(sessions[0])
    with pytest.raises(TypeError, match="source_model: .* needs a latent dynamics model with a generator"):
        cls(model, source=sessions[0])


def test_nomad_bad_settings_name_them(lfads, sessions):
    with pytest.raises(ValueError, match="kl_weight"):
        NoMAD(lfads, source=sessions[0], kl_weight=-1.0)
    with pytest.raises(ValueError, match="statistics"):
        NoMAD(lfads, source=sessions[0], statistics="rates")
    with pytest.raises(ValueError, match="selection"):
        NoMAD(lfads, source=sessions[0], selection="labels")


def test_every_aligner_accepts_lfads_as_the_source_model(lfads, sessions):
    source, target = sessions
    for cls in (SinkhornMatching, MMDMatching):
        assert cls(lfads, source=source, **FAST).fit(target).transform(target).shape == (32, 8, 2)
    erdiff = ERDiff(lfads, source=source, prior_epochs=2, prior_width=8, prior_blocks=1, refine_epochs=1,
                    **FAST).fit(target)
    assert erdiff.transform(target).shape == (32, 8, 2)


def test_ragged_target_is_encoded_without_its_padding(lfads, sessions):
    """The aligners pass trial lengths to the encoder: what lies in a ragged target's padding changes nothing."""
    source, target = sessions
    lengths = np.where(np.arange(target.n_trials) % 2 == 0, 8, 6)
    ragged = dataclasses.replace(target, lengths=lengths, meta=dict(target.meta))
    aligner = SinkhornMatching(lfads, source=source, **FAST).fit(ragged)
    counts = ragged.counts.copy()
    counts[1::2, 6:] = 7.0
    noisy = dataclasses.replace(ragged, counts=counts, meta=dict(target.meta))
    latents = aligner.transform(ragged)
    assert np.all(latents[1::2, 6:] == 0)
    np.testing.assert_allclose(aligner.transform(noisy), latents, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- the no-alignment candidate
def test_same_units_target_keeps_the_source_read_in_as_a_candidate(lfads, sessions):
    """A target with the source's unit count gets the source's own read-in as a candidate that screening never
    drops; on another half of the source's own trials it explains the spikes best and is chosen."""
    source = sessions[0]
    first, second = source.split(0.5, seed=0)
    model = LFADS(**{**TINY_LFADS, "max_epochs": 40}).fit(first)
    aligner = DynamicsMatching(model, source=first, **{**FAST, "explore_components": 2}).fit(second)
    assert aligner.candidate_names_[-1] == "source read-in"
    assert len(aligner.candidate_names_) - 1 in aligner.restart_candidates_
    kept = aligner.restart_candidates_.index(len(aligner.candidate_names_) - 1)
    own = model.transform(second)
    np.testing.assert_allclose(aligner.transform(second, restart=kept), own, rtol=1e-4, atol=1e-5)


# ----------------------------------------------------------------------------------- likelihood choice
def test_held_out_likelihood_prefers_latents_that_carry_the_spikes():
    rng = np.random.default_rng(0)
    latents = rng.normal(size=(40, 6, 2))
    rates = np.exp(0.8 * latents @ rng.normal(size=(2, 15)) - 1.0)
    counts = torch.as_tensor(rng.poisson(rates), dtype=torch.float32)
    mask = torch.ones(40, 6, dtype=torch.bool)
    candidates = torch.as_tensor(np.stack([latents, rng.normal(size=latents.shape),
                                           latents @ np.array([[0.0, 1.0], [1.0, 0.0]])]), dtype=torch.float32)
    per_trial = likelihood_per_trial(candidates, counts, mask)
    assert per_trial.shape == (3, 40)
    means = per_trial.mean(1)
    assert means[0] < means[1] and means[2] < means[1]  # a linear copy is as good; noise is worse
    assert abs(float(means[0] - means[2])) < 0.05 * float(means[1] - means[0])


def test_map_relation_and_paired_margin():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(200, 2)) * [2.0, 1.0]
    assert map_relation(z, z + 0.01 * rng.normal(size=z.shape)) == "same"
    assert map_relation(z, z * [1.0, -1.0]) == "mirror"
    assert map_relation(z, -z) == "rotation"
    assert map_relation(z, rng.normal(size=z.shape)) == "other"
    winner, other = rng.normal(size=50), rng.normal(size=50) + 1.0
    assert paired_margin(winner, other) > 3
    assert paired_margin(winner, winner + 0.0) == 0.0


def test_report_warns_in_words_when_the_margin_is_small():
    report = AlignmentReport(scores=[{"likelihood": 1.0}, {"likelihood": 1.01}], selection="likelihood", chosen=0,
                             relations=["same", "mirror"], runner_up=1, margin=0.5, margin_kind="z", threshold=2.0)
    assert not report.confident and "mirror image" in report.warning and "labelled" in report.warning
    assert "low confidence" in report.summary()
    sure = dataclasses.replace(report, margin=5.0)
    assert sure.confident and sure.warning is None


# -------------------------------------------------------------------------------------------- few-shot
def test_few_shot_choice_uses_k_labelled_trials_only_to_choose(lfads, sessions):
    source, target = sessions
    aligner = DynamicsMatching(lfads, source=source, **FAST).fit(target, labelled=8)
    report = aligner.report_
    assert report.labelled == 8 and report.selection == "k labelled trials"
    assert report.unsupervised_choice in (0, 1) and aligner.best_restart_ == report.chosen
    label_free = DynamicsMatching(lfads, source=source, **FAST).fit(target)
    # the candidates are the same: the labels only choose among them
    for i in range(2):
        np.testing.assert_array_equal(aligner.transform(target, restart=i), label_free.transform(target, restart=i))
    index = labelled_trials(target, 8, seed=0)
    assert index.shape == (8,) and len(np.unique(target.labels[index])) == 8  # stratified: one per condition


def test_few_shot_bad_inputs(lfads, sessions):
    source, target = sessions
    with pytest.raises(ValueError, match="labelled: expected at most the target's 32 trials, got 33"):
        DynamicsMatching(lfads, source=source, **FAST).fit(target, labelled=33)
    with pytest.raises(ValueError, match="labelled"):
        DynamicsMatching(lfads, source=source, **FAST).fit(target, labelled=0)
    unlabelled = dataclasses.replace(target, behavior=None, labels=None, meta={})
    with pytest.raises(ValueError, match="labelled: the few-shot choice needs target behaviour or condition labels"):
        DynamicsMatching(lfads, source=source, **FAST).fit(unlabelled, labelled=4)
    unknown = dataclasses.replace(target, behavior=None, labels=target.labels + 100, meta={})
    with pytest.raises(ValueError, match=r"labelled: the target's labelled trials have conditions \[100"):
        check_labelled(unknown, source, 4)


# ---------------------------------------------------------------------- a known map, recovered by each
@pytest.fixture(scope="module")
def identifiable():
    """Source and target share their trials; the target's units are the source's in another order. The right map
    is known (the permutation), and direction-dependent gains make the conditions asymmetric."""
    data = load("synthetic_reach", n_trials=96, n_time=10, n_units=24, latent_dim=2, asymmetry=0.6, seed=2)
    order = np.random.default_rng(0).permutation(data.n_units)
    target = TrialData(counts=data.counts[:, :, order], behavior=data.behavior, labels=data.labels)
    model = LFADS(**{**TINY_LFADS, "max_epochs": 150}).fit(data)
    return data, target, model


@pytest.mark.parametrize("cls, settings", [(SinkhornMatching, {}), (MMDMatching, {}), (MomentMatching, {}),
                                           (AdversarialMatching, {}), (NoMAD, {}), (DynamicsMatching, {}),
                                           (ERDiff, {"prior_epochs": 20, "prior_width": 8, "prior_blocks": 1,
                                                     "refine_epochs": 2})])
def test_each_unsupervised_aligner_recovers_a_known_map(cls, settings, identifiable):
    source, target, model = identifiable
    aligner = cls(model, source=source, epochs=30, screen_epochs=10, restarts=4, explore_components=2, replicas=1,
                  verbose=False, seed=0, **settings).fit(target)
    truth = model.transform(source).reshape(-1, 2)
    aligned = aligner.transform(target).reshape(-1, 2)
    r2 = 1 - ((aligned - truth) ** 2).sum() / ((truth - truth.mean(0)) ** 2).sum()
    assert r2 > 0.8, f"{cls.__name__}: aligned latents explain the known ones with R2 {r2:.2f}"


def test_erdiff_control_without_the_prior_refines_on_matching_only(lfads, sessions):
    source, target = sessions
    with_prior = ERDiff(lfads, source=source, prior_epochs=2, prior_width=8, prior_blocks=1, refine_epochs=2,
                        **FAST).fit(target)
    control = ERDiff(lfads, source=source, prior=with_prior.prior_, prior_weight=0.0, refine_epochs=2,
                     **FAST).fit(target)
    assert control.prior_weight == 0.0 and control.transform(target).shape == (32, 8, 2)
    with pytest.raises(ValueError, match="prior_weight: 0 leaves the refinement nothing to train on"):
        ERDiff(lfads, source=source, prior_weight=0.0, matching="none", selection="bound")
    with pytest.raises(ValueError, match="prior_weight"):
        ERDiff(lfads, source=source, prior_weight=-1.0)


def test_dynamics_matching_screens_by_transport_and_chooses_by_likelihood(lfads, sessions):
    source, target = sessions
    aligner = DynamicsMatching(lfads, source=source, **{**FAST, "restarts": 3, "replicas": 2}).fit(target)
    scores = aligner.report_.scores
    # the copies are compared by OT cost; the choice among candidates is their copy's held-out likelihood
    assert aligner.restart_scores_ == [row["likelihood"] for row in scores]
    assert all(row["likelihood"] != row["transport"] for row in scores)
    assert aligner.report_.chosen == int(np.argmin([row["likelihood"] for row in scores]))
    assert aligner.report_.margin_kind == "z"
    for group, replica_scores in enumerate(aligner.replica_scores_):
        assert min(replica_scores) == pytest.approx(scores[group]["transport"], rel=1e-6)
