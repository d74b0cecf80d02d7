"""NoMAD-style dynamics-constrained alignment (Karpowicz et al., Nat. Commun. 2025; ../METHODS_2.md 2b).

The source model is a latent dynamics model (``LFADS``): its encoder, generator, factor map and behaviour head are
frozen. For the target session only a new read-in W_t (target units -> the encoder's input space) and a new
Poisson read-out R_t (factors -> target units) are fitted, on target spikes alone:

    f, g = generator(encoder(W_t x))                          (factors and generator states of target trials)
    L(W_t, R_t) = mean over valid bins of -log Poisson(x | exp(R_t f))
                  + kl_weight * KL( N(mu_t, S_t) || N(mu_s, S_s) ),

where (mu, S) are the mean and covariance of the generator states (``statistics="states"``, as in the paper) or
of the factors, pooled over trials and bins; the source's are computed once. The likelihood term asks that the
target's spikes be explained by trajectories of the frozen dynamics: a mirrored map would need them to rotate the
wrong way round, which the generator cannot do. The KL term keeps the states where the source's live.

Candidates are those of every read-in aligner (``align.base``: signed permutations of the top principal components,
screened, then trained), each with its own read-out, initialised by a linearised Poisson fit to its initial
factors. The candidate kept is chosen by ``selection`` (see :class:`NoMAD`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from neuralign._checks import describe, one_of, positive_float
from neuralign.align.base import AlignConfig, ReadInAligner
from neuralign.data.trialdata import TrialData
from neuralign.models.sequential import SequenceModel
from neuralign.nn.matching import _covariance as sample_covariance, gaussian_kl_moments

SELECTIONS = ("likelihood", "objective", "transport")
STATISTICS = ("states", "factors")


class NoMAD(ReadInAligner):
    """Dynamics-constrained aligner (see the module docstring).

    Parameters
    ----------
    source_model : a fitted latent dynamics model with a generator (``LFADS``); frozen throughout.
    source : the source trials whose generator states (or factors) give the reference distribution.
    kl_weight : weight of the KL term against the likelihood (nats per bin).
    statistics : ``"states"`` (generator states, as in NoMAD) or ``"factors"``.
    selection : how the kept candidate is chosen, without labels: ``"likelihood"`` (held-out Poisson negative
        log-likelihood of the target spikes per bin under a GLM read-out of the frozen dynamics' factors,
        ``align.selection``), ``"objective"`` (this method's likelihood + kl_weight * KL, with its own trained
        read-outs) or ``"transport"`` (exact OT cost of factor trajectories to the source's).
    Other keywords are AlignConfig settings (epochs, restarts, batch_size, learning_rate, seed, device, ...).
    """

    name = "nomad"

    def __init__(self, source_model: SequenceModel, *, source: TrialData, kl_weight: float = 1.0,
                 statistics: str = "states", selection: str = "likelihood", config: AlignConfig | None = None,
                 **settings: Any) -> None:
        if not hasattr(source_model, "dynamics_from_inputs"):
            raise TypeError(f"source_model: NoMAD needs a latent dynamics model with a generator (LFADS), got "
                            f"{describe(source_model)}; fit neuralign.models.LFADS on the source, or use an "
                            "aligner that works on any model's latents (sinkhorn, erdiff).")
        settings.setdefault("replicas", 1)  # the objective draws no source trials: copies would be identical
        super().__init__(source_model, source=source, config=config, **settings)
        self.kl_weight = positive_float("kl_weight", kl_weight, allow_zero=True)
        self.statistics = one_of("statistics", statistics, STATISTICS)
        self.selection = one_of("selection", selection, SELECTIONS)

    # ----------------------------------------------------------------------------------- the dynamics
    def _dynamics(self, read_in: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Factors and states of the batch's trials through ``read_in`` (stacked: a leading candidate axis)."""
        flat, lengths, leading = self._read_in_outputs(read_in, batch)
        out = self.source_model.dynamics_from_inputs(flat, lengths)
        return {key: out[key].reshape(*leading, out[key].shape[-1]) for key in ("factors", "states")}

    def prepare_candidates(self) -> None:
        """The source's reference statistics, computed once from its trials through its own read-in."""
        if getattr(self, "_reference", None) is not None:
            return
        model, device = self.source_model, self.source_latents_.device
        tensors = model._tensors(self.source, 0, use_behavior=False)
        with torch.no_grad():
            out = model.dynamics_from_inputs(model.network_.read_in(tensors["counts"], 0), tensors.get("lengths"))
        samples = out[self.statistics][tensors["mask"]].to(device=device, dtype=torch.float64)
        self._reference = (samples.mean(0), _covariance(samples))

    def initial_read_outs(self, read_ins: list[nn.Linear]) -> list[nn.Linear]:
        """Per candidate, a read-out from a linearised Poisson fit to its initial factors: log-rate
        b + w f with b the log mean count and w the least-squares fit of counts / mean - 1 on centred factors."""
        counts, mask = self._target["counts"], self._target["mask"]
        valid = counts[mask].double()
        mean_rate = valid.mean(0).clamp(min=1e-3)
        layers = []
        for read_in in read_ins:
            with torch.no_grad():
                factors = self._dynamics(read_in, self._target)["factors"][mask].double()
            centred = factors - factors.mean(0)
            gram = centred.T @ centred + 1e-3 * len(centred) * torch.eye(centred.shape[1], dtype=centred.dtype,
                                                                          device=centred.device)
            weight = torch.linalg.solve(gram, centred.T @ (valid / mean_rate - 1.0)).T
            layer = nn.Linear(factors.shape[1], counts.shape[-1]).to(counts.device)
            with torch.no_grad():
                layer.weight.copy_(weight.clamp(-2.0, 2.0).to(layer.weight.dtype))
                layer.bias.copy_((torch.log(mean_rate) - weight.clamp(-2.0, 2.0) @ factors.mean(0)).float())
            layers.append(layer)
        return layers

    # ------------------------------------------------------------------------------------- objective
    def _terms(self, module: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor,
                                                                                torch.Tensor]:
        """(C,) negative log-likelihood per valid bin, (C,) KL term and (C, trials, time, d) factors."""
        out = self._dynamics(module.read_in, batch)
        counts, mask = batch["counts"], batch["mask"]
        log_rates = module.read_out(out["factors"])
        log_prob = counts * log_rates - torch.exp(log_rates) - torch.lgamma(counts + 1.0)
        weight = mask.unsqueeze(-1).to(log_prob.dtype)
        nll = -(log_prob * weight).sum((-3, -2, -1)) / weight.sum().clamp(min=1)
        samples = out[self.statistics][:, mask].double()  # (C, valid bins, d)
        mean, covariance = self._reference
        kl = gaussian_kl_moments(samples.mean(-2), _covariance(samples), mean, covariance).to(nll.dtype)
        return nll, kl, out["factors"] * weight

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        nll, kl, _ = self._terms(self._module, batch)
        return {"loss": (nll + self.kl_weight * kl).sum(), "nll": nll.mean(), "kl": kl.mean()}

    def selection_scores(self, target_latents: torch.Tensor) -> np.ndarray:
        """(C,) the ``selection`` score of each candidate on all target trials: the held-out likelihood loss through
        the frozen dynamics (``align.selection``), the exact OT cost of the factors, or this method's objective with
        its own trained read-outs."""
        if self.selection == "likelihood":
            return self.likelihood_scores(target_latents)
        if self.selection == "transport":
            return self.transport_scores(target_latents)
        scores = []
        for index in range(len(self._module)):
            single = self._module.select([index]).to(target_latents.device)
            with torch.no_grad():
                nll, kl, _ = self._terms(single, self._target)
            scores.append(float(nll[0] + self.kl_weight * kl[0]))
        return np.asarray(scores)

    def objective(self, target_latents: torch.Tensor, source_latents: torch.Tensor,
                  module: nn.Module) -> torch.Tensor:
        raise NotImplementedError("NoMAD trains on the target's likelihood and state statistics (_loss).")


def _covariance(samples: torch.Tensor, ridge: float = 1e-4) -> torch.Tensor:
    """(..., n, d) -> (..., d, d) sample covariance plus ``ridge`` I."""
    eye = torch.eye(samples.shape[-1], dtype=samples.dtype, device=samples.device)
    return sample_covariance(samples) + ridge * eye
