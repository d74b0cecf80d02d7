"""Baseline aligners with the one interface (see ``align.base``).

Unsupervised (target spikes only):
- NoAlignment: the target gets its own read-in and read-out fitted by likelihood alone (``SeqVAE.adapt``);
  nothing ties its latents to the source's.
- MomentMatching (NoMAD-like): KL between Gaussians fitted to target and source latent states (all bins).
- MMDMatching (RDA-MMD-like): RBF-MMD^2 between target and source latent trajectories.
- SinkhornMatching: debiased Sinkhorn divergence between target and source latent trajectories.
- AdversarialMatching (DANN-like): a domain classifier on trajectories trained through gradient reversal.
Supervised references (use target labels or behaviour; flagged ``supervised = True``):
- ConditionAverageAffine: affine map from target PCA factors to source latents fitted on condition averages.
- ConditionAverageReadIn: the target read-in trained so that each target trial's latents (through the frozen
  encoder) match the source's condition-averaged latent trajectory of the same condition.
- TargetBehaviorReadIn: the target read-in trained on target behaviour through the frozen head (the ceiling).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralign._checks import one_of
from neuralign.align.base import AlignConfig, Aligner, ReadInAligner
from neuralign.align.candidates import principal_axes
from neuralign.data.trialdata import TrialData
from neuralign.nn.matching import gaussian_kl, rbf_mmd2, sinkhorn_divergence


def _trajectories(latents: torch.Tensor) -> torch.Tensor:
    """(..., trials, time, d) -> (..., trials, time * d): one sample per trial."""
    return latents.flatten(-2)


def _states(latents: torch.Tensor) -> torch.Tensor:
    """(..., trials, time, d) -> (..., trials * time, d): one sample per time bin."""
    return latents.flatten(-3, -2)


class NoAlignment(Aligner):
    """Target read-in and read-out fitted by the target's own likelihood (encoder frozen), no alignment."""

    name = "none"

    def __init__(self, source_model: Any, *, source: TrialData | None = None, max_epochs: int = 200) -> None:
        super().__init__(source_model, source=source)
        self.max_epochs = max_epochs

    def fit(self, target: TrialData) -> "NoAlignment":
        target = self._check_target(target, fitting=True)
        self.model_ = copy.deepcopy(self.source_model)
        self.model_.config.verbose = False
        self.session_ = self.model_.adapt(target, max_epochs=self.max_epochs)
        self.n_target_units_ = target.n_units
        self.fitted_ = True
        return self

    def transform(self, target: TrialData) -> np.ndarray:
        target = self._check_target(target, fitting=False)
        return self.model_.transform(target, session=self.session_)


class MomentMatching(ReadInAligner):
    """Match the mean and covariance of latent states (Gaussian KL), NoMAD-like."""

    name = "moment"

    def objective(self, target_latents, source_latents, module):
        return gaussian_kl(_states(target_latents), _states(source_latents))


class MMDMatching(ReadInAligner):
    """Minimise the RBF-MMD^2 between latent trajectory sets, RDA-MMD-like."""

    name = "mmd"

    def objective(self, target_latents, source_latents, module):
        return rbf_mmd2(_trajectories(target_latents), _trajectories(source_latents))


class SinkhornMatching(ReadInAligner):
    """Minimise the debiased Sinkhorn divergence (``sinkhorn_divergence``) between latent trajectory sets; the
    candidate kept is the one with the lowest exact OT cost (``transport_cost``) to the source trajectories
    (``selection="transport"``) or with the lowest held-out likelihood loss of the target spikes through the frozen
    model (``selection="likelihood"``, ``align.selection``)."""

    name = "sinkhorn"

    def __init__(self, source_model: Any, *, source: TrialData, selection: str = "transport",
                 config: AlignConfig | None = None, **settings: Any) -> None:
        super().__init__(source_model, source=source, config=config, **settings)
        self.selection = one_of("selection", selection, ("transport", "likelihood"))

    def objective(self, target_latents, source_latents, module):
        return sinkhorn_divergence(_trajectories(target_latents), _trajectories(source_latents), y_term=False)

    def selection_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        if self.selection == "likelihood":
            return self.likelihood_scores(target_latents)
        return self.transport_scores(target_latents)


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):  # type: ignore[override]
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        return -grad


class AdversarialMatching(ReadInAligner):
    """A domain classifier on latent trajectories, trained through a gradient-reversal layer (DANN-like).

    The read-in minimises the classifier's loss through reversed gradients while the classifier minimises it
    directly. Restarts are selected by the RBF-MMD between trajectory sets (the adversarial loss is not a
    stable score)."""

    name = "dann"
    selection = "mmd"

    def extra_modules(self) -> dict[str, nn.Module]:
        features = self.source_model.latent_dim * self.source.n_time
        return {"critic": nn.Sequential(nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, 1))}

    def objective(self, target_latents, source_latents, module):
        sources = _trajectories(source_latents)
        labels = torch.cat([torch.zeros(target_latents.shape[1]), torch.ones(sources.shape[1])]).to(sources)
        losses = []
        for latents, source, extras in zip(target_latents, sources, module.extras):
            joint = torch.cat([_trajectories(latents), source])
            logits = extras["critic"](_GradientReversal.apply(joint)).squeeze(-1)
            losses.append(nn.functional.binary_cross_entropy_with_logits(logits, labels))
        return torch.stack(losses)

    def selection_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return rbf_mmd2(_trajectories(target_latents), _trajectories(self.source_latents_)).cpu().numpy()


class ConditionAverageAffine(Aligner):
    """Supervised reference: affine map from target PCA factors to source latents on condition averages.

    Uses target and source condition labels (Gallego et al. 2020 style)."""

    name = "cond-avg affine (labels)"
    supervised = True

    def __init__(self, source_model: Any, *, source: TrialData, n_components: int = 16,
                 ridge: float = 1e-2) -> None:
        super().__init__(source_model, source=source)
        self.n_components, self.ridge = n_components, ridge

    def fit(self, target: TrialData) -> "ConditionAverageAffine":
        target = self._check_target(target, fitting=True)
        for name, data in (("target", target), ("source", self.source)):
            if data.labels is None:
                raise ValueError(f"{name}: ConditionAverageAffine needs condition labels, got none.")
        smoothed = target.smooth(1.0)
        self.axes_, _, self.mean_, _ = principal_axes(smoothed, self.n_components)
        factors = (smoothed.counts - self.mean_) @ self.axes_
        source_latents = self.source_model.transform(self.source)
        conditions = np.intersect1d(np.unique(target.labels), np.unique(self.source.labels))
        x = np.concatenate([factors[target.labels == c].mean(0) for c in conditions])
        y = np.concatenate([source_latents[self.source.labels == c].mean(0) for c in conditions])
        x1 = np.hstack([x, np.ones((x.shape[0], 1))])
        self.map_ = np.linalg.solve(x1.T @ x1 + self.ridge * np.eye(x1.shape[1]), x1.T @ y)
        self.n_target_units_ = target.n_units
        self.fitted_ = True
        return self

    def transform(self, target: TrialData) -> np.ndarray:
        target = self._check_target(target, fitting=False)
        factors = (target.smooth(1.0).counts - self.mean_) @ self.axes_
        return (np.concatenate([factors, np.ones(factors.shape[:2] + (1,))], axis=2) @ self.map_).astype(np.float32)


class ConditionAverageReadIn(ReadInAligner):
    """Supervised reference: the target read-in trained to put each trial on its condition's source average.

    Loss: mean squared distance, over valid bins, between a target trial's latents and the source's
    condition-averaged latent trajectory of the same condition label. Uses target condition labels."""

    name = "cond-avg read-in (labels)"
    supervised = True

    def extra_tensors(self, target: TrialData, device: torch.device) -> dict[str, torch.Tensor]:
        for name, data in (("target", target), ("source", self.source)):
            if data.labels is None:
                raise ValueError(f"{name}: ConditionAverageReadIn needs condition labels, got none.")
        missing = np.setdiff1d(np.unique(target.labels), np.unique(self.source.labels))
        if missing.size:
            raise ValueError(f"target: has conditions {missing.tolist()} that the source lacks; "
                             "ConditionAverageReadIn needs every target condition in the source.")
        latents = self.source_model.transform(self.source)
        mask = self.source.mask[..., None].astype(np.float64)
        averages = {c: (latents * mask)[self.source.labels == c].sum(0)
                    / np.maximum(mask[self.source.labels == c].sum(0), 1) for c in np.unique(self.source.labels)}
        goals = np.stack([averages[c] for c in target.labels]).astype(np.float32)
        self._goals, self._mask = torch.as_tensor(goals, device=device), torch.as_tensor(target.mask, device=device)
        return {"goal": self._goals}

    def objective(self, target_latents, source_latents, module):
        raise NotImplementedError("ConditionAverageReadIn trains on condition labels, not on a matching objective.")

    def _distance(self, latents: torch.Tensor, goal: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(C,) mean squared distance over valid bins of (C, trials, time, d) latents to their goals."""
        weight = mask.unsqueeze(-1).to(latents.dtype)
        return (((latents - goal) ** 2) * weight).sum((-3, -2, -1)) / (weight.sum() * latents.shape[-1]).clamp(min=1)

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        latents = self._encode(self._module.read_in, batch)
        return {"loss": self._distance(latents, batch["goal"], batch["mask"]).sum()}

    def selection_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            return self._distance(target_latents, self._goals, self._mask).cpu().numpy()


class TargetBehaviorReadIn(ReadInAligner):
    """Supervised ceiling: the target read-in trained on target behaviour through the frozen source head."""

    name = "target-behaviour read-in (labels)"
    supervised = True

    def extra_tensors(self, target: TrialData, device: torch.device) -> dict[str, torch.Tensor]:
        if target.behavior is None:
            raise ValueError("target: TargetBehaviorReadIn needs target behaviour, got none.")
        model = self.source_model
        self._behavior = torch.as_tensor((target.behavior - model.behavior_mean_) / model.behavior_std_,
                                         device=device)
        return {"behavior": self._behavior}

    def objective(self, target_latents, source_latents, module):
        raise NotImplementedError("TargetBehaviorReadIn trains on behaviour, not on a matching objective.")

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        latents = self._encode(self._module.read_in, batch)
        return {"loss": ((self.network.behavior_head(latents) - batch["behavior"]) ** 2).mean((-3, -2, -1)).sum()}

    def selection_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        with torch.no_grad():
            errors = (self.network.behavior_head(target_latents) - self._behavior) ** 2
            return errors.mean((-3, -2, -1)).cpu().numpy()
