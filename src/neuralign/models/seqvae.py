"""Sequential VAE: the latent variable model that cross-session alignment builds on.

For session s with counts x: (time, units_s) and optional behaviour y: (time, dims):

    h_t            = W_s^in x_t + b_s^in                           (per-session linear read-in)
    q(z_t | x)     = N(mu_t, diag sigma_t^2),  (mu, log sigma^2) = BiGRU(h)_t      (shared encoder)
    p(z)           = AR(1) per latent (or N(0, I) per bin)          (prior, ``nn.priors``)
    x_t | z_t      ~ Poisson(exp(W_s^out z_t + b_s^out))             (per-session read-out)
    y_t | z_t      ~ N(W^beh z_t + b^beh, I)  on standardised y      (shared behaviour head)

    loss = E_q[-log p(x|z)] + beta(epoch) KL(q || p) + behavior_weight * E_q[-log p(y|z)],

per trial, averaged over trials and divided by the number of bins; beta ramps linearly from 0 to 1 over
``kl_warmup_epochs``. ``adapt`` fits a new session's read-in and read-out with everything else frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralign._checks import one_of, positive_float, positive_int
from neuralign.data.trialdata import TrialData
from neuralign.models.base import register_model
from neuralign.models.sequential import SequenceModel
from neuralign.nn.encoders import BiGRUEncoder
from neuralign.nn.fusion import reparameterise
from neuralign.nn.likelihoods import PoissonLikelihood
from neuralign.nn.priors import PRIORS
from neuralign.nn.readin import PerSessionLinear
from neuralign.train import TrainConfig


@dataclass
class SeqVAEConfig:
    """Settings of :class:`SeqVAE` (architecture, objective and training)."""

    latent_dim: int = 8
    read_in_dim: int = 64
    hidden_size: int = 64
    input_dropout: float = 0.5
    dropout: float = 0.2
    prior: str = "ar1"
    kl_warmup_epochs: int = 50
    behavior_weight: float = 20.0
    max_epochs: int = 400
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    patience: int = 30
    val_fraction: float = 0.1
    seed: int = 0
    device: str | None = None
    verbose: bool = True

    def __post_init__(self) -> None:
        for name in ("latent_dim", "read_in_dim", "hidden_size", "max_epochs", "batch_size", "patience"):
            positive_int(name, getattr(self, name))
        positive_int("kl_warmup_epochs", self.kl_warmup_epochs, minimum=0)
        positive_int("seed", self.seed, minimum=0)
        for name in ("input_dropout", "dropout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value < 1):
                raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}.")
        positive_float("behavior_weight", self.behavior_weight, allow_zero=True)
        one_of("prior", self.prior, tuple(PRIORS))

    def train_config(self, **overrides: Any) -> TrainConfig:
        settings = dict(max_epochs=self.max_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                        weight_decay=self.weight_decay, patience=self.patience, val_fraction=self.val_fraction,
                        min_epochs=self.kl_warmup_epochs, seed=self.seed, device=self.device, verbose=self.verbose)
        settings.update(overrides)
        return TrainConfig(**settings)


class SeqVAENetwork(nn.Module):
    """The torch module of :class:`SeqVAE`; ``units``: unit count per session."""

    def __init__(self, config: SeqVAEConfig, units: list[int], behavior_dims: int) -> None:
        super().__init__()
        self.input_dropout = nn.Dropout(config.input_dropout)
        self.read_in = PerSessionLinear(units, config.read_in_dim)
        self.encoder = BiGRUEncoder(config.read_in_dim, config.hidden_size, config.latent_dim, config.dropout)
        self.read_out = PerSessionLinear(config.latent_dim, units)
        self.behavior_head = nn.Linear(config.latent_dim, max(behavior_dims, 1))
        self.prior = PRIORS[config.prior](config.latent_dim)
        self.likelihood = PoissonLikelihood()

    def encode(self, counts: torch.Tensor, session: int,
               lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """counts: (trials, time, units_s) -> posterior mean and log-variance, (trials, time, latent_dim)."""
        return self.encoder(self.read_in(self.input_dropout(counts), session), lengths)

    def sample_posterior(self, mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return mean
        return reparameterise(mean, log_variance)


@register_model
class SeqVAE(SequenceModel):
    """Sequential VAE with per-session read-in/read-out, a shared BiGRU encoder, a Poisson decoder and a
    behaviour head (see the module docstring for the equations).

    Parameters are those of :class:`SeqVAEConfig`, given as keywords or as ``config=``.

    Examples
    --------
    >>> import neuralign
    >>> data = neuralign.datasets.load("synthetic_reach", n_trials=32, n_time=10, n_units=12, seed=0)
    >>> model = SeqVAE(latent_dim=2, max_epochs=2, verbose=False).fit(data)
    >>> model.transform(data).shape
    (32, 10, 2)
    """

    config_class = SeqVAEConfig

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    def _build_network(self, units: list[int], behavior_dims: int) -> SeqVAENetwork:
        return SeqVAENetwork(self.config, units, behavior_dims)

    def latents_from_inputs(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Posterior means of the latents from read-in outputs (trials, time, read_in_dim)."""
        return self.network_.encoder(inputs, lengths)[0]

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        network, session = self.network_, batch["session"]
        counts, mask = batch["counts"], batch["mask"]
        lengths = batch.get("lengths")
        mean, log_variance = network.encode(counts, session, lengths)
        z = network.sample_posterior(mean, log_variance)
        log_rates = network.read_out(z, session)
        n_bins = mask.sum(dim=1).clamp(min=1).to(counts.dtype)
        reconstruction = -network.likelihood.log_prob(counts, log_rates, mask) / n_bins
        kl = network.prior.kl(mean, log_variance, mask) / n_bins
        warmup = self.config.kl_warmup_epochs
        beta = min(1.0, (batch["epoch"] + 1) / warmup) if warmup > 0 else 1.0
        loss = reconstruction + beta * kl
        out = {"reconstruction": reconstruction.mean(), "kl": kl.mean()}
        if "behavior" in batch:
            error = (network.behavior_head(z) - batch["behavior"]) ** 2
            behavior = 0.5 * (error * mask.unsqueeze(-1)).sum(dim=(1, 2)) / n_bins
            loss = loss + self.config.behavior_weight * behavior
            out["behavior"] = behavior.mean()
        out["loss"] = loss.mean()
        return out

    @torch.no_grad()
    def score(self, data: TrialData, *, session: int | None = None) -> float:
        """Evidence lower bound per trial (nats; higher is better), with the posterior mean as the sample."""
        session = self._resolve_session(data, session)
        network = self.network_
        network.eval()
        tensors = self._tensors(data, session, use_behavior=False)
        mean, log_variance = network.encode(tensors["counts"], session, tensors.get("lengths"))
        log_rates = network.read_out(mean, session)
        elbo = (network.likelihood.log_prob(tensors["counts"], log_rates, tensors["mask"])
                - network.prior.kl(mean, log_variance, tensors["mask"]))
        return float(elbo.mean())

    @torch.no_grad()
    def sample(self, n_trials: int, *, n_time: int = 20, session: int = 0, seed: int = 0) -> TrialData:
        """Draw latent trajectories from the prior and spikes (and behaviour) from the decoders.

        Returns a TrialData with ``latents`` = the sampled trajectories, ``counts`` ~ Poisson and ``behavior``
        from the head (when the model has one)."""
        self._check_fitted("sample")
        positive_int("n_trials", n_trials)
        positive_int("n_time", n_time)
        if not (isinstance(session, int) and 0 <= session < len(self.units_)):
            raise ValueError(f"session: expected an index in [0, {len(self.units_)}), got {session!r}.")
        generator = torch.Generator().manual_seed(seed)
        network = self.network_
        device = network.behavior_head.weight.device
        z = network.prior.sample(n_trials, n_time, generator=generator).to(device)
        rates = network.likelihood.mean(network.read_out(z, session))
        counts = torch.poisson(rates.cpu(), generator=generator).numpy()
        behavior = None
        if self.behavior_mean_.size:
            behavior = network.behavior_head(z).cpu().numpy() * self.behavior_std_ + self.behavior_mean_
        return TrialData(counts=counts, behavior=behavior, latents=z.cpu().numpy(),
                         meta={"sampled_from": "SeqVAE", "session": session})
