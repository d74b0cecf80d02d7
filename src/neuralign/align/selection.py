"""Choosing among candidate maps: the target's held-out likelihood through the frozen model, and the few-shot
choice from k labelled target trials.

Likelihood (``selection="likelihood"``): each candidate's aligned latents of the target trials (through the
frozen source model: for a latent dynamics model, trajectories of its generator) are the features of a Poisson GLM
read-out to the target's own spikes, fitted on one half of the target trials and scored on the other, both ways
(2-fold cross-validation over trials, ``nn.glm``). The score is the held-out negative log-likelihood per bin; its
per-trial values give the report's paired margin. A map under which the frozen dynamics cannot reproduce how the
target's activity evolves (a mirrored map makes rotations run the wrong way round) explains the spikes worse,
whatever the read-out. Target labels and behaviour never enter.

Few-shot (``fit(target, labelled=k)``): k target trials (stratified by condition when there are labels, seeded)
with behaviour choose the candidate whose decoded behaviour is closest to theirs (mean squared error through the
frozen head); without behaviour, with condition labels, the candidate whose latents lie closest to the source's
mean latent trajectory of each trial's condition. The labels only choose among the unsupervised candidates.
"""

from __future__ import annotations

import numpy as np
import torch

from neuralign._checks import positive_int
from neuralign.data.trialdata import TrialData
from neuralign.nn.glm import fit_poisson_glm, poisson_glm_nll

LIKELIHOOD_FOLDS = 2
GLM_PENALTY = 1.0


def likelihood_per_trial(latents: torch.Tensor, counts: torch.Tensor, mask: torch.Tensor, *, seed: int = 0,
                         folds: int = LIKELIHOOD_FOLDS, penalty: float = GLM_PENALTY) -> torch.Tensor:
    """Held-out Poisson negative log-likelihood per bin of each trial, (C, trials), under a GLM read-out from each
    candidate's latents (C, trials, time, d) to ``counts`` (trials, time, units), by ``folds``-fold
    cross-validation over trials (a seeded assignment). Bins outside ``mask`` (trials, time) are left out."""
    n_trials = counts.shape[0]
    folds = min(folds, n_trials)
    order = np.random.default_rng(seed).permutation(n_trials)
    out = torch.zeros(latents.shape[0], n_trials, dtype=torch.float64, device=latents.device)
    bins = mask.sum(1).clamp(min=1).double()
    for fold in range(folds):
        held_out = torch.as_tensor(np.sort(order[fold::folds]), device=latents.device)
        fitting = torch.as_tensor(np.sort(np.setdiff1d(order, order[fold::folds])), device=latents.device)
        if fitting.numel() == 0:
            fitting = held_out
        fit_mask = mask[fitting]
        weight, bias = fit_poisson_glm(latents[:, fitting][:, fit_mask], counts[fitting][fit_mask], penalty=penalty)
        nll = poisson_glm_nll(latents[:, held_out], counts[held_out].unsqueeze(0), weight.unsqueeze(1),
                              bias.unsqueeze(1))
        out[:, held_out] = (nll * mask[held_out]).sum(-1).double() / bins[held_out]
    return out


def labelled_trials(target: TrialData, k: int, *, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``k`` target trials for the few-shot choice: stratified by condition when every condition
    has at least two trials and k covers them all, else a plain seeded draw."""
    from sklearn.model_selection import train_test_split

    k = positive_int("labelled", k)
    if k > target.n_trials:
        raise ValueError(f"labelled: expected at most the target's {target.n_trials} trials, got {k}.")
    if k == target.n_trials:
        return np.arange(target.n_trials)
    strata = target.labels
    if strata is not None:
        _, counts = np.unique(strata, return_counts=True)
        if counts.min() < 2 or k < counts.size or target.n_trials - k < counts.size:
            strata = None
    _, chosen = train_test_split(np.arange(target.n_trials), test_size=k, random_state=seed, stratify=strata)
    return np.sort(chosen)


def check_labelled(target: TrialData, source: TrialData, k: int) -> None:
    """Bad few-shot requests fail before any work: k out of range, nothing labelled, unknown conditions."""
    positive_int("labelled", k)
    if k > target.n_trials:
        raise ValueError(f"labelled: expected at most the target's {target.n_trials} trials, got {k}.")
    if target.behavior is None and target.labels is None:
        raise ValueError("labelled: the few-shot choice needs target behaviour or condition labels, but the target "
                         "has neither; pass TrialData with behavior= or labels=, or fit without labelled=.")
    if target.behavior is None:
        if source.labels is None:
            raise ValueError("labelled: with condition labels only, the few-shot choice needs the source's labels "
                             "too, but the source has none.")
        unknown = np.setdiff1d(np.unique(target.labels), np.unique(source.labels))
        if unknown.size:
            raise ValueError(f"labelled: the target's labelled trials have conditions {unknown.tolist()} that the "
                             f"source does not have (source conditions: {np.unique(source.labels).tolist()}).")
