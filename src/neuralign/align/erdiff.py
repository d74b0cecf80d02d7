"""ERDiff: align a target session by maximum likelihood of its latent trajectories under a diffusion prior
trained on the source's latent trajectories, with a Sinkhorn OT regulariser (Wang et al., NeurIPS 2023;
../METHODS.md section 1).

1. Prior: a TrajectoryDiffusion (spatio-temporal transformer denoiser) fitted to source posterior-mean
   trajectories Z_s: (trials, l, d).
2. Candidates: with the source SeqVAE (encoder, decoders, behaviour head) and the prior frozen and in eval mode,
   only the target read-in W_t is fitted, from label-free PCA initialisations covering every signed permutation
   of the top target components (``align.base``: 48 screened to 8, each trained as 4 copies on their own source
   resamples, side by side); each minimises the
   set distance D(Z_t, Z_s) between target and source latent trajectories (the debiased Sinkhorn divergence
   by default, RBF-MMD as an option), Z_t = encoder(W_t X_t).
3. Selection: by default the candidate with the lowest exact (unregularised) OT cost between its target
   trajectories and the source's (``selection="transport"``); ``selection="matching"`` uses D itself, and
   ``selection="bound"`` keeps the candidate whose trajectories are most likely under the prior, i.e. with the lowest
   score-matching bound B(Z_t) on -log p_0(Z_t) (Song et al. 2021; mean over target trials of
   ``selection_draws`` (t, eps) draws shared by all candidates; divergence term by Hutchinson-Skilling), per
   latent entry; a candidate's score is the median over its copies. On the bundled monkey pair the exact OT cost
   picked a right candidate in 19 of 20 runs (5 seeds x 4 aligner seeds), the bound on three of five (README).
4. Refinement (``refine_epochs``, 50 by default): the kept read-in is trained further on ERDiff's objective,
   mean_trials B(Z_t) / (l d) + matching_weight * D(Z_t, Z_s), with a small learning rate.
5. Denoising (``denoise``, a noise level s > 0; off by default): ``transform`` passes the aligned trajectories
   (after any calibration) through one Tweedie step of the prior (``TrajectoryDiffusion.denoise``), i.e. their
   posterior mean under the prior if they carried Gaussian noise of s times each latent's source standard
   deviation. The read-in adds noise the source's own latents do not carry, and the prior knows what source
   trajectories look like. On the synthetic sessions s = 0.3 raised aligned latent recovery on every seed
   (README, ``bench align-synthetic``).

No target labels or behaviour enter any step, including the choice of candidate and the number of steps.
"""

from __future__ import annotations

import functools

from typing import Any

import numpy as np
import torch
from torch import nn

from neuralign._checks import describe, one_of, positive_float, positive_int
from neuralign.align.base import AlignConfig, ReadInAligner
from neuralign.data.trialdata import TrialData
from neuralign.diffusion import SpatioTemporalDenoiser, TrajectoryDiffusion, score_matching_bound
from neuralign.models.seqvae import SeqVAE
from neuralign.nn.matching import rbf_mmd2, sinkhorn_divergence

# the source set is fixed during alignment: the divergence's source-source term is a constant, left out
MATCHING = {"mmd": rbf_mmd2, "sinkhorn": functools.partial(sinkhorn_divergence, y_term=False), "none": None}


class ERDiff(ReadInAligner):
    """ERDiff aligner (see the module docstring).

    Parameters
    ----------
    source_model : a fitted SeqVAE; frozen throughout.
    source : the source trials whose latents train the prior and anchor the matching term.
    prior : an already fitted TrajectoryDiffusion over source latents (else one is fitted on first use).
    prior_epochs, prior_width, prior_blocks : the prior's training length and denoiser size.
    spatial, temporal : switch the denoiser's spatial / temporal attention layers (ablations).
    matching : ``"mmd"`` (RBF-MMD^2), ``"sinkhorn"`` (debiased Sinkhorn divergence) or ``"none"``: the set
        distance added to the bound.
    matching_weight : its weight.
    n_t : (t, eps) draws per trajectory and step for the bound.
    drift : ``"sde"`` or ``"probability_flow"`` (see ``diffusion.likelihood``).
    selection : ``"transport"`` (exact OT cost), ``"matching"`` (the set distance D) or ``"bound"`` (the prior's
        bound): how the candidate is chosen.
    selection_draws : (t, eps) draws per trajectory when scoring candidates by the bound.
    refine_epochs, refine_learning_rate : training of the chosen read-in on bound + matching.
    denoise : noise level of the prior's Tweedie step applied by ``transform`` (0: none); see the module docstring.
    prior_weight : weight of the prior's bound in the refinement (0: the control "Sinkhorn + the same refinement
        without the prior", which isolates what the prior adds).
    prior_early_stopping : stop prior training on a 10 % validation split (patience 60), else train exactly
        ``prior_epochs``.
    Other keywords (epochs, restarts, learning_rate, seed, device, verbose, ...) are AlignConfig settings.
    """

    name = "erdiff"

    def __init__(self, source_model: SeqVAE, *, source: TrialData, prior: TrajectoryDiffusion | None = None,
                 prior_epochs: int = 300, prior_width: int = 32, prior_blocks: int = 2, spatial: bool = True,
                 temporal: bool = True, matching: str = "sinkhorn", matching_weight: float = 1.0, n_t: int = 4,
                 drift: str = "sde", selection: str = "transport", selection_draws: int = 16, refine_epochs: int = 50,
                 prior_early_stopping: bool = True, refine_learning_rate: float = 1e-3, denoise: float = 0.0, prior_weight: float = 1.0,
                 config: AlignConfig | None = None, **settings: Any) -> None:
        super().__init__(source_model, source=source, config=config, **settings)
        if prior is not None and not isinstance(prior, TrajectoryDiffusion):
            raise TypeError(f"prior: expected a fitted TrajectoryDiffusion or None, got {describe(prior)}.")
        self.prior_ = prior
        self.prior_epochs = positive_int("prior_epochs", prior_epochs)
        self.prior_width = positive_int("prior_width", prior_width)
        self.prior_blocks = positive_int("prior_blocks", prior_blocks)
        self.spatial, self.temporal = bool(spatial), bool(temporal)
        self.matching = one_of("matching", matching, tuple(MATCHING))
        self.matching_weight = positive_float("matching_weight", matching_weight, allow_zero=True)
        self.n_t = positive_int("n_t", n_t)
        self.drift = one_of("drift", drift, ("sde", "probability_flow"))
        self.selection = one_of("selection", selection, ("transport", "matching", "bound", "likelihood"))
        if self.selection == "matching" and MATCHING[self.matching] is None:
            raise ValueError('selection: "matching" needs a set distance, but matching="none"; use selection="bound".')
        self.selection_draws = positive_int("selection_draws", selection_draws)
        self.refine_epochs = positive_int("refine_epochs", refine_epochs, minimum=0)
        self.refine_learning_rate = positive_float("refine_learning_rate", refine_learning_rate)
        self.prior_early_stopping = bool(prior_early_stopping)
        self.denoise = positive_float("denoise", denoise, allow_zero=True)
        self.prior_weight = positive_float("prior_weight", prior_weight, allow_zero=True)
        if self.prior_weight == 0 and (MATCHING[self.matching] is None or self.matching_weight == 0):
            raise ValueError("prior_weight: 0 leaves the refinement nothing to train on (matching is off); keep the "
                             "prior or a matching term.")
        self._refining = False

    def fit_prior(self) -> TrajectoryDiffusion:
        """Fit (once) the diffusion prior on the source's posterior-mean latent trajectories."""
        if self.prior_ is None:
            latents = self.source_model.transform(self.source)
            torch.manual_seed(self.config.seed)  # the denoiser's initial weights: the same seed, the same prior
            denoiser = SpatioTemporalDenoiser(latents.shape[1], latents.shape[2], width=self.prior_width,
                                              n_blocks=self.prior_blocks, spatial=self.spatial,
                                              temporal=self.temporal)
            self.prior_ = TrajectoryDiffusion(denoiser).fit(
                latents, max_epochs=self.prior_epochs, batch_size=64, learning_rate=2e-3, seed=self.config.seed,
                device=self.config.device, verbose=self.config.verbose,
                val_fraction=0.1 if self.prior_early_stopping else 0.0,
                patience=60 if self.prior_early_stopping else self.prior_epochs)
        self.prior_.eval()
        for parameter in self.prior_.parameters():
            parameter.requires_grad_(False)
        return self.prior_

    @property
    def uses_prior(self) -> bool:
        """Whether any step reads the prior: the refinement's bound, the bound as selection, or denoising."""
        return (self.prior_weight > 0 and self.refine_epochs > 0) or self.selection == "bound" or self.denoise > 0

    def fit(self, target: TrialData, *, labelled: int | None = None) -> "ERDiff":
        """Fit the prior (when a step uses it; once) and the target read-in (``ReadInAligner.fit``)."""
        if self.uses_prior:
            self.fit_prior()
        return super().fit(target, labelled=labelled)

    def transform(self, target: TrialData, *, restart: int | None = None, calibration: str | None = None,
                  denoise: float | None = None) -> np.ndarray:
        """Aligned latents (trials, time, latent_dim): the read-in aligners' ``transform``, then the prior's
        denoising step when ``denoise`` (default: the configured level) is > 0."""
        level = self.denoise if denoise is None else positive_float("denoise", denoise, allow_zero=True)
        latents = super().transform(target, restart=restart, calibration=calibration)
        if level == 0:
            return latents
        prior = self.fit_prior()  # fitted here if no step of the alignment needed it
        reference = prior.data_scale
        denoised = prior.denoise(torch.as_tensor(latents, device=reference.device, dtype=reference.dtype), level)
        return np.where(target.mask[..., None], denoised.cpu().numpy(), 0.0).astype(latents.dtype)

    def prepare_candidates(self) -> None:
        if self.prior_ is not None:
            self.prior_.to(self.source_latents_.device)
        self._refining = False

    def refine(self, tensors: dict[str, torch.Tensor]) -> None:
        """Train the selected restart further on the full objective: bound + matching."""
        if self.refine_epochs:
            self._refining = True
            try:
                self._train_read_in(tensors, epochs=self.refine_epochs, seed=self.config.seed * 1000 + 999,
                                    learning_rate=self.refine_learning_rate)
            finally:
                self._refining = False

    def bound(self, latents: torch.Tensor, *, n_t: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """(..., trials) score-matching bound on -log p_0 of latent trajectories (..., trials, time, d), per
        latent entry."""
        flat = latents.reshape(-1, *latents.shape[-2:])
        values = score_matching_bound(self.prior_, flat, n_t=n_t, drift=self.drift, generator=generator)
        return values.reshape(latents.shape[:-2]) / (latents.shape[-2] * latents.shape[-1])

    def objective(self, target_latents: torch.Tensor, source_latents: torch.Tensor,
                  module: nn.Module) -> torch.Tensor:
        distance = MATCHING[self.matching]
        if not self._refining and distance is not None:  # candidates: matching only; the bound selects
            return distance(target_latents.flatten(-2), source_latents.flatten(-2))
        loss = target_latents.new_zeros(target_latents.shape[0])
        if self.prior_weight > 0:
            loss = loss + self.prior_weight * self.bound(target_latents, n_t=self.n_t).mean(-1)
        if distance is not None and self.matching_weight > 0:
            loss = loss + self.matching_weight * distance(target_latents.flatten(-2), source_latents.flatten(-2))
        return loss

    def selection_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        """The exact OT cost or the set distance to the source, or the bound with the same (t, eps) draws for all
        candidates."""
        if self.selection == "transport":
            return self.transport_scores(target_latents)
        if self.selection == "likelihood":
            return self.likelihood_scores(target_latents)
        if self.selection == "matching":  # the objective is the set distance D outside refinement
            return super().selection_scores(target_latents)
        scores = []
        for latents in target_latents:
            generator = torch.Generator(device=latents.device).manual_seed(self.config.seed)
            with torch.enable_grad():  # the divergence estimate needs autograd even when scoring
                latents = latents.detach().requires_grad_(self.drift == "probability_flow")
                scores.append(float(self.bound(latents, n_t=self.selection_draws, generator=generator).mean()))
        return np.asarray(scores)
