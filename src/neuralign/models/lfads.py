"""LFADS: a latent dynamics model whose latents must follow a learned dynamical system (Pandarinath et al.,
Nature Methods 2018; lfads-torch, Sedler & Pandarinath 2023, as the reference design; ../METHODS_2.md 2a).

For session s with counts x: (time, units_s) and optional behaviour y: (time, dims):

    h_t              = W_s^in x_t + b_s^in                               (per-session linear read-in)
    q(g0 | x)        = N(mu, diag sigma^2),  (mu, log sigma^2) = BiGRU(h) final states   (initial condition)
    p(g0)            = N(m, v0 I), m learned, v0 = ``ic_prior_variance``
    g_t              = GRU(g_{t-1}, u_t),  g_0 = W_0 g0                  (generator: autonomous when u = 0)
    f_t              = W_f g_t                                            (factors, the model's latents)
    x_t | f_t        ~ Poisson(exp(W_s^out f_t + b_s^out))                (per-session read-out)
    y_t | f_t        ~ N(W^beh f_t + b^beh, I)  on standardised y          (shared behaviour head)

Optional inferred inputs (``controller_dim`` > 0, off by default): a second BiGRU over h feeds a controller GRU
that also reads f_{t-1}; it gives q(u_t) = N(mu_t, sigma_t^2), with an AR(1) prior per input dimension.

    loss = recon + beta(epoch) (KL_g0 + KL_u) + l2(epoch) l2_weight ||W_hh^gen||^2 / 2
           + behavior_weight E_q[-log p(y | f)],

per trial, divided by its number of bins; beta and l2 ramp linearly from 0 to 1 over ``kl_warmup_epochs``.
Coordinated dropout (Keshtkaran & Pandarinath 2019; rate ``coordinated_dropout``): in training, each count
entry is dropped from the input with that probability (the kept ones scaled up) and the reconstruction is scored
on the dropped entries only, so the network cannot pass a count straight through to its own prediction. Because
the generator is a dynamical system, a session's latents must be one of its trajectories: a mirrored copy of a
rotation runs the wrong way round, which is what dynamics-constrained alignment (``align.nomad``) relies on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from neuralign._checks import positive_float, positive_int
from neuralign.data.trialdata import TrialData
from neuralign.models.base import register_model
from neuralign.models.sequential import SequenceModel
from neuralign.nn.encoders import FinalStateEncoder, run_gru
from neuralign.nn.fusion import reparameterise
from neuralign.nn.generators import GRUGenerator
from neuralign.nn.likelihoods import PoissonLikelihood
from neuralign.nn.priors import AR1Prior
from neuralign.nn.readin import PerSessionLinear
from neuralign.train import TrainConfig


@dataclass
class LFADSConfig:
    """Settings of :class:`LFADS` (architecture, objective and training). Sizes are scaled for a CPU; raise
    them (lfads-torch's MC_Maze: encoder 64, ic 64, generator 200, factors 100) for large data on a GPU."""

    factor_dim: int = 8
    read_in_dim: int = 64
    encoder_dim: int = 64
    ic_dim: int = 32
    generator_dim: int = 64
    controller_dim: int = 0
    controller_encoder_dim: int = 32
    controller_hidden_dim: int = 32
    ic_prior_variance: float = 0.1
    dropout: float = 0.2
    coordinated_dropout: float = 0.3
    kl_warmup_epochs: int = 50
    l2_weight: float = 1e-3
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
        for name in ("factor_dim", "read_in_dim", "encoder_dim", "ic_dim", "generator_dim", "controller_encoder_dim",
                     "controller_hidden_dim", "max_epochs", "batch_size", "patience"):
            positive_int(name, getattr(self, name))
        for name in ("controller_dim", "kl_warmup_epochs", "seed"):
            positive_int(name, getattr(self, name), minimum=0)
        for name in ("dropout", "coordinated_dropout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not (isinstance(value, (int, float)) and 0 <= value < 1):
                raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}.")
        positive_float("ic_prior_variance", self.ic_prior_variance)
        for name in ("l2_weight", "behavior_weight"):
            positive_float(name, getattr(self, name), allow_zero=True)

    def train_config(self, **overrides: Any) -> TrainConfig:
        settings = dict(max_epochs=self.max_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                        weight_decay=self.weight_decay, patience=self.patience, val_fraction=self.val_fraction,
                        min_epochs=self.kl_warmup_epochs, seed=self.seed, device=self.device, verbose=self.verbose)
        settings.update(overrides)
        return TrainConfig(**settings)


class LFADSNetwork(nn.Module):
    """The torch module of :class:`LFADS`; ``units``: unit count per session."""

    def __init__(self, config: LFADSConfig, units: list[int], behavior_dims: int) -> None:
        super().__init__()
        self.read_in = PerSessionLinear(units, config.read_in_dim)
        self.ic_encoder = FinalStateEncoder(config.read_in_dim, config.encoder_dim, config.ic_dim, config.dropout)
        self.ic_prior_mean = nn.Parameter(torch.zeros(config.ic_dim))
        self.ic_prior_log_variance = math.log(config.ic_prior_variance)
        self.ic_to_state = nn.Linear(config.ic_dim, config.generator_dim)
        self.generator = GRUGenerator(config.generator_dim, config.factor_dim, config.controller_dim, config.dropout)
        self.controller_dim = config.controller_dim
        if config.controller_dim:
            self.controller_encoder = nn.GRU(config.read_in_dim, config.controller_encoder_dim, batch_first=True,
                                             bidirectional=True)
            self.controller = nn.GRUCell(2 * config.controller_encoder_dim + config.factor_dim,
                                         config.controller_hidden_dim)
            self.to_inputs = nn.Linear(config.controller_hidden_dim, 2 * config.controller_dim)
            self.input_prior = AR1Prior(config.controller_dim)
        self.read_out = PerSessionLinear(config.factor_dim, units)
        self.behavior_head = nn.Linear(config.factor_dim, max(behavior_dims, 1))
        self.likelihood = PoissonLikelihood()

    def dynamics(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None,
                 sample: bool = False) -> dict[str, torch.Tensor]:
        """Read-in outputs (trials, time, read_in_dim) -> ``g0_mean``, ``g0_log_variance`` (trials, ic_dim),
        generator ``states`` (trials, time, generator_dim), ``factors`` (trials, time, factor_dim) and, with a
        controller, ``u_mean``, ``u_log_variance`` (trials, time, controller_dim). ``sample``: draw g0 and u from
        their posteriors (training) instead of taking the means."""
        g0_mean, g0_log_variance = self.ic_encoder(inputs, lengths)
        g0 = reparameterise(g0_mean, g0_log_variance) if sample else g0_mean
        initial, n_time = self.ic_to_state(g0), inputs.shape[1]
        out = {"g0_mean": g0_mean, "g0_log_variance": g0_log_variance}
        if not self.controller_dim:
            out["states"], out["factors"] = self.generator(initial, n_time)
            return out
        encoded, _ = run_gru(self.controller_encoder, inputs, lengths)
        encoded = torch.cat([torch.zeros_like(encoded[:, :1]), encoded[:, :-1]], dim=1)  # lag of one bin
        state, hidden = initial, initial.new_zeros(initial.shape[0], self.controller.hidden_size)
        factor = initial.new_zeros(initial.shape[0], self.generator.to_factors.out_features)
        states, factors, means, log_variances = [], [], [], []
        for t in range(n_time):
            hidden = self.controller(torch.cat([encoded[:, t], factor], dim=-1), hidden)
            mean, log_variance = self.to_inputs(hidden).chunk(2, dim=-1)
            log_variance = log_variance.clamp(-12.0, 6.0)
            u = reparameterise(mean, log_variance) if sample else mean
            state = self.generator.step(state, u)
            factor = self.generator.factors(state)
            states.append(state), factors.append(factor), means.append(mean), log_variances.append(log_variance)
        out.update(states=torch.stack(states, 1), factors=torch.stack(factors, 1), u_mean=torch.stack(means, 1),
                   u_log_variance=torch.stack(log_variances, 1))
        return out

    def kl(self, out: dict[str, torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """(trials,) KL of the initial-condition posterior to its prior, plus the inputs' KL to their AR(1) prior."""
        mean, log_variance = out["g0_mean"], out["g0_log_variance"]
        prior_log_variance = self.ic_prior_log_variance
        kl = 0.5 * (prior_log_variance - log_variance
                    + (torch.exp(log_variance) + (mean - self.ic_prior_mean) ** 2) / math.exp(prior_log_variance)
                    - 1.0).sum(-1)
        if self.controller_dim:
            kl = kl + self.input_prior.kl(out["u_mean"], out["u_log_variance"], mask)
        return kl


@register_model
class LFADS(SequenceModel):
    """LFADS latent dynamics model with per-session read-in/read-out, a Poisson decoder and a behaviour head
    (see the module docstring for the equations). ``transform`` returns the factors.

    Parameters are those of :class:`LFADSConfig`, given as keywords or as ``config=``.

    Examples
    --------
    >>> import neuralign
    >>> data = neuralign.datasets.load("synthetic_reach", n_trials=32, n_time=10, n_units=12, seed=0)
    >>> model = LFADS(factor_dim=3, max_epochs=2, verbose=False).fit(data)
    >>> model.transform(data).shape
    (32, 10, 3)
    """

    config_class = LFADSConfig

    @property
    def latent_dim(self) -> int:
        return self.config.factor_dim

    def _build_network(self, units: list[int], behavior_dims: int) -> LFADSNetwork:
        return LFADSNetwork(self.config, units, behavior_dims)

    def latents_from_inputs(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Factors from read-in outputs (trials, time, read_in_dim), with g0 (and u) at their posterior means."""
        return self.network_.dynamics(inputs, lengths)["factors"]

    def dynamics_from_inputs(self, inputs: torch.Tensor, lengths: torch.Tensor | None = None) -> dict[str, Any]:
        """Everything the network infers from read-in outputs at the posterior means (see ``LFADSNetwork.dynamics``):
        what dynamics-constrained alignment reads."""
        return self.network_.dynamics(inputs, lengths)

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        network, session, config = self.network_, batch["session"], self.config
        counts, mask = batch["counts"], batch["mask"]
        rate = config.coordinated_dropout if network.training else 0.0
        if rate > 0:  # coordinated dropout: score only the entries hidden from the input
            keep = (torch.rand_like(counts) >= rate).to(counts.dtype)
            inputs, scored = counts * keep / (1.0 - rate), (1.0 - keep) / rate
        else:
            inputs, scored = counts, None
        out = network.dynamics(network.read_in(inputs, session), batch.get("lengths"), sample=network.training)
        log_rates = network.read_out(out["factors"], session)
        n_bins = mask.sum(dim=1).clamp(min=1).to(counts.dtype)
        log_prob = counts * log_rates - torch.exp(log_rates) - torch.lgamma(counts + 1.0)
        if scored is not None:
            log_prob = log_prob * scored
        reconstruction = -(log_prob * mask.unsqueeze(-1)).sum(dim=(1, 2)) / n_bins
        kl = network.kl(out, mask) / n_bins
        warmup = config.kl_warmup_epochs
        ramp = min(1.0, (batch["epoch"] + 1) / warmup) if warmup > 0 else 1.0
        l2 = 0.5 * config.l2_weight * (network.generator.recurrent_weight ** 2).sum()
        loss = reconstruction + ramp * (kl + l2)
        logs = {"reconstruction": reconstruction.mean(), "kl": kl.mean(), "l2": l2}
        if "behavior" in batch:
            error = (network.behavior_head(out["factors"]) - batch["behavior"]) ** 2
            behavior = 0.5 * (error * mask.unsqueeze(-1)).sum(dim=(1, 2)) / n_bins
            loss = loss + config.behavior_weight * behavior
            logs["behavior"] = behavior.mean()
        logs["loss"] = loss.mean()
        return logs

    @torch.no_grad()
    def score(self, data: TrialData, *, session: int | None = None) -> float:
        """Evidence lower bound per trial (nats; higher is better), with the posterior means as the sample."""
        session = self._resolve_session(data, session)
        network = self.network_
        network.eval()
        tensors = self._tensors(data, session, use_behavior=False)
        out = network.dynamics(network.read_in(tensors["counts"], session), tensors.get("lengths"))
        log_rates = network.read_out(out["factors"], session)
        elbo = network.likelihood.log_prob(tensors["counts"], log_rates, tensors["mask"]) - network.kl(
            out, tensors["mask"])
        return float(elbo.mean())

    @torch.no_grad()
    def sample(self, n_trials: int, *, n_time: int = 20, session: int = 0, seed: int = 0) -> TrialData:
        """Draw initial conditions (and inputs) from the priors, run the generator, and draw spikes (and
        behaviour) from the decoders. Returns a TrialData with ``latents`` = the sampled factors."""
        self._check_fitted("sample")
        positive_int("n_trials", n_trials)
        positive_int("n_time", n_time)
        if not (isinstance(session, int) and 0 <= session < len(self.units_)):
            raise ValueError(f"session: expected an index in [0, {len(self.units_)}), got {session!r}.")
        generator = torch.Generator().manual_seed(seed)
        network = self.network_.eval()
        device = network.behavior_head.weight.device
        noise = torch.randn(n_trials, self.config.ic_dim, generator=generator).to(device)
        g0 = network.ic_prior_mean + math.exp(0.5 * network.ic_prior_log_variance) * noise
        inputs = None
        if network.controller_dim:
            inputs = network.input_prior.sample(n_trials, n_time, generator=generator).to(device)
        _, factors = network.generator(network.ic_to_state(g0), n_time, inputs)
        rates = network.likelihood.mean(network.read_out(factors, session))
        counts = torch.poisson(rates.cpu(), generator=generator).numpy()
        behavior = None
        if self.behavior_mean_.size:
            behavior = network.behavior_head(factors).cpu().numpy() * self.behavior_std_ + self.behavior_mean_
        return TrialData(counts=counts, behavior=behavior, latents=factors.cpu().numpy(),
                         meta={"sampled_from": "LFADS", "session": session})
