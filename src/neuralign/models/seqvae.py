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
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from neuralign._checks import as_array, describe, one_of, positive_float, positive_int
from neuralign.data.trialdata import TrialData, check_trialdata
from neuralign.models.base import Estimator, register_model
from neuralign.nn.encoders import BiGRUEncoder
from neuralign.nn.likelihoods import PoissonLikelihood
from neuralign.nn.priors import PRIORS
from neuralign.nn.readin import PerSessionLinear
from neuralign.train import History, TrainConfig, resolve_device, train


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
        return mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean)


@register_model
class SeqVAE(Estimator):
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

    def __init__(self, config: SeqVAEConfig | None = None, **settings: Any) -> None:
        super().__init__(config, **settings)
        self.network_: SeqVAENetwork | None = None
        self.units_: list[int] = []
        self.behavior_mean_ = np.zeros(0, np.float32)
        self.behavior_std_ = np.ones(0, np.float32)
        self.history_: History | None = None

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, data: TrialData | Sequence[TrialData], *, checkpoint_path: str | None = None,
            resume: bool = False) -> "SeqVAE":
        """Fit on one session or a list of sessions (each with its own units; behaviour optional).

        ``checkpoint_path`` / ``resume``: write training checkpoints there and continue from one.
        """
        sessions = self._sessions("data", data)
        behavior_dims = {s.behavior.shape[2] for s in sessions if s.behavior is not None}
        if len(behavior_dims) > 1:
            raise ValueError(f"data: every session's behaviour must have the same dims, got {sorted(behavior_dims)}.")
        dims = behavior_dims.pop() if behavior_dims else 0
        # a refit starts from no behaviour statistics (a previous fit's must not leak into this one)
        self.behavior_mean_, self.behavior_std_ = np.zeros(0, np.float32), np.ones(0, np.float32)
        with_behavior = [s.behavior[s.mask] for s in sessions if s.behavior is not None]
        if with_behavior:
            stacked = np.concatenate(with_behavior)
            self.behavior_mean_ = stacked.mean(0).astype(np.float32)
            self.behavior_std_ = (stacked.std(0) + 1e-6).astype(np.float32)
        self.units_ = [s.n_units for s in sessions]
        torch.manual_seed(self.config.seed)
        self.network_ = SeqVAENetwork(self.config, self.units_, dims)
        for index, session in enumerate(sessions):
            self._init_read_out_bias(index, session)
        tensors = [self._tensors(s, i) for i, s in enumerate(sessions)]
        self.history_ = train(self.network_, self._loss, tensors,
                              self.config.train_config(checkpoint_path=checkpoint_path, resume=resume))
        self.network_.eval()
        self.fitted_ = True
        return self

    def adapt(self, data: TrialData, *, max_epochs: int | None = None) -> int:
        """Add ``data`` as a new session: fit its own read-in and read-out with everything else frozen.

        Returns the new session's index, to pass as ``session=`` to ``transform`` and the other methods.
        """
        self._check_fitted("adapt")
        data = check_trialdata("data", data)
        self._check_counts_signal("data", data)
        network = self.network_
        torch.manual_seed(self.config.seed)  # the new layers' initialisation, as in fit
        index = network.read_in.add_session(data.n_units, self.config.read_in_dim)
        network.read_out.add_session(self.config.latent_dim, data.n_units)
        self.units_.append(data.n_units)
        self._init_read_out_bias(index, data)
        for parameter in network.parameters():
            parameter.requires_grad_(False)
        new = list(network.read_in.layers[index].parameters()) + list(network.read_out.layers[index].parameters())
        for parameter in new:
            parameter.requires_grad_(True)
        sessions: list[dict | None] = [None] * index + [self._tensors(data, index, use_behavior=False)]
        config = self.config.train_config(max_epochs=max_epochs or self.config.max_epochs, min_epochs=0)
        try:
            train(network, self._loss, sessions, config, parameters=new)
        finally:
            for parameter in network.parameters():
                parameter.requires_grad_(True)
            network.eval()
        return index

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

    # --------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def transform(self, data: TrialData, *, session: int | None = None) -> np.ndarray:
        """Posterior mean latents, (trials, time, latent_dim); padding bins of ragged trials are zero."""
        mean, _ = self._posterior(data, session)
        return mean.cpu().numpy()

    @torch.no_grad()
    def predict_behavior(self, data: TrialData, *, session: int | None = None) -> np.ndarray:
        """Behaviour decoded by the shared head from the posterior mean, (trials, time, dims), original units."""
        self._check_fitted("predict_behavior")
        self._check_behavior_head()
        mean, _ = self._posterior(data, session)
        standardised = self.network_.behavior_head(mean).cpu().numpy()
        return standardised * self.behavior_std_ + self.behavior_mean_

    def decode_behavior(self, latents: np.ndarray) -> np.ndarray:
        """The behaviour head applied to given latents (trials, time, latent_dim) -> (trials, time, dims)."""
        self._check_fitted("decode_behavior")
        self._check_behavior_head()
        latents = as_array("latents", latents, ndim=3)
        if latents.shape[2] != self.config.latent_dim:
            raise ValueError(f"latents: expected {self.config.latent_dim} latent dims, got {latents.shape[2]}.")
        head = self.network_.behavior_head
        with torch.no_grad():
            out = head(torch.as_tensor(latents, device=head.weight.device)).cpu().numpy()
        return out * self.behavior_std_ + self.behavior_mean_

    @torch.no_grad()
    def predict_rates(self, data: TrialData, *, session: int | None = None) -> np.ndarray:
        """Expected counts per bin, (trials, time, units), from the posterior mean."""
        session = self._resolve_session(data, session)
        mean, _ = self._posterior(data, session)
        return self.network_.likelihood.mean(self.network_.read_out(mean, session)).cpu().numpy()

    @torch.no_grad()
    def score(self, data: TrialData, *, session: int | None = None) -> float:
        """Evidence lower bound per trial (nats; higher is better), with the posterior mean as the sample."""
        session = self._resolve_session(data, session)
        network = self.network_
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

    # ------------------------------------------------------------------------------------------ helpers
    def _sessions(self, name: str, data: TrialData | Sequence[TrialData]) -> list[TrialData]:
        sessions = [data] if isinstance(data, TrialData) else data
        if not isinstance(sessions, (list, tuple)) or not sessions:
            raise TypeError(f"{name}: expected a TrialData or a non-empty list of TrialData, got {describe(data)}.")
        for index, session in enumerate(sessions):
            check_trialdata(f"{name}[{index}]", session)
            self._check_counts_signal(f"{name}[{index}]", session)
        return list(sessions)

    @staticmethod
    def _check_counts_signal(name: str, data: TrialData) -> None:
        if data.signal != "counts":
            raise ValueError(f"{name}: SeqVAE has a Poisson decoder and needs spike counts, got signal="
                             f"{data.signal!r}; use a Gaussian model for continuous signals.")

    def _resolve_session(self, data: TrialData, session: int | None) -> int:
        self._check_fitted("using the model")
        check_trialdata("data", data)
        if session is None:
            if data.n_units != self.units_[0]:
                raise ValueError(f"data: has {data.n_units} units but session 0's read-in expects "
                                 f"{self.units_[0]}; pass session= (units per session: {self.units_}) "
                                 "or call adapt(data) / an aligner for a new session.")
            return 0
        if (isinstance(session, bool) or not isinstance(session, (int, np.integer))
                or not 0 <= session < len(self.units_)):
            raise ValueError(f"session: expected an index in [0, {len(self.units_)}), got {session!r}.")
        if data.n_units != self.units_[session]:
            raise ValueError(f"data: has {data.n_units} units but session {session}'s read-in expects "
                             f"{self.units_[session]}.")
        return int(session)

    def _posterior(self, data: TrialData, session: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        session = self._resolve_session(data, session)
        self.network_.eval()
        tensors = self._tensors(data, session, use_behavior=False)
        mean, log_variance = self.network_.encode(tensors["counts"], session, tensors.get("lengths"))
        mask = tensors["mask"].unsqueeze(-1)
        return mean * mask, log_variance

    def _tensors(self, data: TrialData, session: int, use_behavior: bool = True) -> dict[str, torch.Tensor]:
        device = self.network_.behavior_head.weight.device if self.network_ is not None else None
        tensors = data.to_tensors(device=device)
        tensors.pop("labels", None)
        tensors.pop("latents", None)
        if data.lengths is not None:
            tensors["lengths"] = torch.as_tensor(data.lengths, device=device)
        behavior = tensors.pop("behavior", None)
        if use_behavior and behavior is not None:
            tensors["behavior"] = (behavior - torch.as_tensor(self.behavior_mean_, device=device)) / \
                torch.as_tensor(self.behavior_std_, device=device)
        return tensors

    def _init_read_out_bias(self, session: int, data: TrialData) -> None:
        mean_rate = data.counts[data.mask].mean(0)
        with torch.no_grad():
            layer = self.network_.read_out.layers[session]
            layer.bias.copy_(torch.as_tensor(np.log(mean_rate + 1e-3)))
            layer.weight.mul_(0.1)

    def _check_behavior_head(self) -> None:
        if not self.behavior_mean_.size:
            raise ValueError("This SeqVAE was fitted without behaviour, so it has no behaviour head; fit it on "
                             "TrialData with behavior= to decode behaviour.")

    # ---------------------------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, Any]:
        return {"network": self.network_.state_dict(), "units": list(self.units_),
                "behavior_mean": torch.as_tensor(self.behavior_mean_),
                "behavior_std": torch.as_tensor(self.behavior_std_)}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.units_ = [int(u) for u in state["units"]]
        self.behavior_mean_ = state["behavior_mean"].numpy()
        self.behavior_std_ = state["behavior_std"].numpy()
        self.network_ = SeqVAENetwork(self.config, self.units_, int(self.behavior_mean_.size))
        self.network_.load_state_dict(state["network"])
        self.network_.to(resolve_device(self.config.device)).eval()
