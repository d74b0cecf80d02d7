"""Multimodal VAEs: product (MVAE), mixture (MMVAE), mixture of products (MoPoE) and POISE-VAE.

Modalities m = 1..M observed on the same trials, x_m: (trials, time, channels_m); latents per time bin::

    q_m(z | x_m)  = N(mu_m, diag sigma_m^2)        encoder: per-bin MLP (static data, time = 1) or read-in + BiGRU
    p(x_m | z_m)  = Gaussian (standardised data, learned variance) | Bernoulli | Poisson,  decoder: MLP or linear
    shared strategies (poe, moe, mopoe): z_m = z for every m, p(z) = N(0, I), q(z | X) from the experts
    POISE (two modalities): z_1, z_2 private, p(z_1, z_2) ∝ N N exp(T(z_1)^T G T(z_2)), T(z) = [z, z^2]

    loss = -(weighted ELBO of the strategy) / bins, with the KL weight beta ramping 0 -> 1 over kl_warmup_epochs

(strategy objectives: ``neuralign.models.multimodal_strategies``; POISE maths and KL gradient: ``nn.poise``).
Data are a dict name -> TrialData with the same trials and bins; ``observed`` marks missing modalities per trial
(their values are ignored). Generation: :meth:`reconstruct`, :meth:`cross_generate` (one modality from others),
:meth:`sample` (joint generation from the prior); evaluation: :meth:`score` (ELBO) and :meth:`log_likelihood`
(importance weighted).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from neuralign._checks import as_array, describe, one_of, positive_float, positive_int
from neuralign.data.trialdata import TrialData
from neuralign.models.base import Estimator, register_model
from neuralign.models.multimodal_strategies import STRATEGIES, FusionInput
from neuralign.nn.encoders import BiGRUEncoder
from neuralign.nn.likelihoods import BernoulliLikelihood, GaussianLikelihood, PoissonLikelihood
from neuralign.train import History, TrainConfig, resolve_device, train

LIKELIHOODS = ("gaussian", "bernoulli", "poisson")
ENCODERS = ("mlp", "gru")
DECODERS = ("mlp", "linear")
_SPEC_KEYS = {"likelihood": LIKELIHOODS, "encoder": ENCODERS, "decoder": DECODERS, "hidden_size": int,
              "weight": float}


@dataclass
class MultimodalVAEConfig:
    """Settings of :class:`MultimodalVAE`.

    modalities : per-modality overrides, name -> {"likelihood": gaussian|bernoulli|poisson, "encoder": mlp|gru,
        "decoder": mlp|linear, "hidden_size": int, "weight": likelihood weight in training}. Defaults: spike
        counts -> poisson + linear decoder, continuous -> gaussian + mlp decoder; gru encoder when time > 1.
    strategy : "poe", "moe", "mopoe" or "poise".
    gibbs_steps : Gibbs sweeps per training step (POISE); kl_estimator : "gibbs" or "quadrature" (POISE).
    """

    strategy: str = "poise"
    latent_dim: int = 8
    modalities: dict[str, dict[str, Any]] = field(default_factory=dict)
    hidden_size: int = 128
    input_dropout: float = 0.0
    gibbs_steps: int = 5
    kl_estimator: str = "gibbs"
    kl_warmup_epochs: int = 20
    max_epochs: int = 200
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 0.0
    patience: int = 30
    val_fraction: float = 0.1
    seed: int = 0
    device: str | None = None
    verbose: bool = True

    def __post_init__(self) -> None:
        one_of("strategy", self.strategy, tuple(STRATEGIES))
        one_of("kl_estimator", self.kl_estimator, ("gibbs", "quadrature"))
        for name in ("latent_dim", "hidden_size", "gibbs_steps", "max_epochs", "batch_size", "patience"):
            positive_int(name, getattr(self, name))
        positive_int("kl_warmup_epochs", self.kl_warmup_epochs, minimum=0)
        positive_int("seed", self.seed, minimum=0)
        positive_float("learning_rate", self.learning_rate)
        if not (isinstance(self.input_dropout, (int, float)) and 0 <= self.input_dropout < 1):
            raise ValueError(f"input_dropout: expected a number in [0, 1), got {self.input_dropout!r}.")
        if not isinstance(self.modalities, dict):
            raise TypeError(f"modalities: expected a dict name -> settings, got {describe(self.modalities)}.")
        for name, spec in self.modalities.items():
            if not isinstance(spec, dict):
                raise TypeError(f"modalities[{name!r}]: expected a dict of settings, got {describe(spec)}.")
            for key, value in spec.items():
                if key not in _SPEC_KEYS:
                    raise ValueError(f"modalities[{name!r}]: unknown setting {key!r}; valid: {sorted(_SPEC_KEYS)}.")
                allowed = _SPEC_KEYS[key]
                if isinstance(allowed, tuple):
                    one_of(f"modalities[{name!r}][{key!r}]", value, allowed)
                elif allowed is int:
                    positive_int(f"modalities[{name!r}]['hidden_size']", value)
                else:
                    positive_float(f"modalities[{name!r}]['weight']", value)

    def train_config(self) -> TrainConfig:
        return TrainConfig(max_epochs=self.max_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                           weight_decay=self.weight_decay, patience=self.patience, val_fraction=self.val_fraction,
                           min_epochs=self.kl_warmup_epochs, seed=self.seed, device=self.device,
                           verbose=self.verbose)


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index, (size_in, size_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(size_in, size_out))
        if index < len(sizes) - 2:
            layers.append(nn.ELU())
    return nn.Sequential(*layers)


class ModalityNetwork(nn.Module):
    """Encoder (-> Gaussian expert per bin), decoder and likelihood of one modality."""

    def __init__(self, spec: dict[str, Any], channels: int, latent_dim: int, input_dropout: float) -> None:
        super().__init__()
        hidden = spec["hidden_size"]
        self.input_dropout = nn.Dropout(input_dropout)
        self.recurrent = spec["encoder"] == "gru"
        if self.recurrent:
            self.read_in = nn.Linear(channels, hidden)
            self.encoder = BiGRUEncoder(hidden, hidden, latent_dim)
        else:
            self.encoder = _mlp([channels, hidden, hidden, 2 * latent_dim])
        self.decoder = (nn.Linear(latent_dim, channels) if spec["decoder"] == "linear"
                        else _mlp([latent_dim, hidden, hidden, channels]))
        kind = spec["likelihood"]
        self.likelihood = {"gaussian": lambda: GaussianLikelihood(channels), "bernoulli": BernoulliLikelihood,
                           "poisson": PoissonLikelihood}[kind]()
        self.kind = kind

    def encode(self, x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input_dropout(x)
        if self.recurrent:
            return self.encoder(self.read_in(x), lengths)
        mean, log_variance = self.encoder(x).chunk(2, dim=-1)
        return mean, log_variance.clamp(-12.0, 6.0)

    def log_prob(self, x: torch.Tensor, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.likelihood.log_prob(x, self.decoder(z), mask)

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        output = self.decoder(z)
        return output if self.kind == "gaussian" else self.likelihood.mean(output)


class MultimodalNetwork(nn.Module):
    """The torch module of :class:`MultimodalVAE`."""

    def __init__(self, config: MultimodalVAEConfig, specs: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.modalities = nn.ModuleDict({name: ModalityNetwork(spec, spec["channels"], config.latent_dim,
                                                               config.input_dropout)
                                         for name, spec in specs.items()})
        if config.strategy == "poise":
            self.strategy = STRATEGIES["poise"](config.latent_dim, config.gibbs_steps, config.kl_estimator)
        else:
            self.strategy = STRATEGIES[config.strategy]()


@register_model
class MultimodalVAE(Estimator):
    """Multimodal VAE with an interchangeable posterior combination (see the module docstring).

    Examples
    --------
    >>> import neuralign
    >>> data = neuralign.datasets.load("ring_digits", radius=1.0, n_per_class=10, seed=0)
    >>> model = MultimodalVAE(strategy="poe", latent_dim=2, max_epochs=2, verbose=False).fit(data)
    >>> model.transform(data, given=["ring"]).shape
    (80, 1, 2)
    >>> model.cross_generate(data, source="ring", target="digit").shape
    (80, 1, 64)
    """

    config_class = MultimodalVAEConfig

    def __init__(self, config: MultimodalVAEConfig | None = None, **settings: Any) -> None:
        super().__init__(config, **settings)
        self.network_: MultimodalNetwork | None = None
        self.specs_: dict[str, dict[str, Any]] = {}
        self.offsets_: dict[str, np.ndarray] = {}
        self.scales_: dict[str, np.ndarray] = {}
        self.n_time_ = 1
        self.history_: History | None = None

    # ------------------------------------------------------------------------------------------- fitting
    def fit(self, data: Mapping[str, TrialData], *,
            observed: Mapping[str, np.ndarray] | None = None) -> "MultimodalVAE":
        """Fit on ``data``: name -> TrialData, same trials and bins. ``observed``: name -> (trials,) bool, False
        where that modality is missing for a trial (every trial needs one observed modality)."""
        data = self._check_data("data", data, fitted=False)
        if self.config.strategy == "poise" and len(data) != 2:
            raise ValueError(f"data: the 'poise' strategy couples exactly two modalities, got {len(data)} "
                             f"({list(data)}); use 'poe', 'moe' or 'mopoe' for more.")
        for name in self.config.modalities:
            if name not in data:
                raise ValueError(f"modalities: settings given for {name!r}, which is not in data ({list(data)}).")
        flags = self._check_observed(observed, data)
        self.specs_ = {name: self._resolve_spec(name, trials) for name, trials in data.items()}
        self.offsets_, self.scales_ = {}, {}
        for name, trials in data.items():
            values = trials.counts[trials.mask & flags[name][:, None]]
            gaussian = self.specs_[name]["likelihood"] == "gaussian"
            self.offsets_[name] = (values.mean(0) if gaussian else np.zeros(values.shape[1])).astype(np.float32)
            self.scales_[name] = (values.std(0) + 1e-6 if gaussian else np.ones(values.shape[1])).astype(np.float32)
        self.n_time_ = next(iter(data.values())).n_time
        torch.manual_seed(self.config.seed)
        self.network_ = MultimodalNetwork(self.config, self.specs_)
        for name, trials in data.items():
            if self.specs_[name]["likelihood"] == "poisson":
                rate = trials.counts[trials.mask & flags[name][:, None]].mean(0)
                final = self.network_.modalities[name].decoder
                final = final if isinstance(final, nn.Linear) else final[-1]
                with torch.no_grad():
                    final.bias.copy_(torch.as_tensor(np.log(rate + 1e-3)))
                    final.weight.mul_(0.1)
        self.history_ = train(self.network_, self._loss, [self._tensors(data, flags)], self.config.train_config())
        self.network_.eval()
        self.fitted_ = True
        return self

    def _resolve_spec(self, name: str, trials: TrialData) -> dict[str, Any]:
        counts = trials.signal == "counts" and self.config.modalities.get(name, {}).get("likelihood") != "gaussian"
        spec = {"likelihood": "poisson" if counts else "gaussian", "encoder": "gru" if trials.n_time > 1 else "mlp",
                "decoder": "linear" if counts else "mlp", "hidden_size": self.config.hidden_size, "weight": 1.0}
        spec.update(self.config.modalities.get(name, {}))
        spec["channels"] = trials.n_units
        if spec["likelihood"] == "poisson" and trials.signal != "counts":
            raise ValueError(f"data[{name!r}]: a poisson likelihood needs spike counts, got signal={trials.signal!r}.")
        if spec["likelihood"] == "bernoulli" and (trials.counts.min() < 0 or trials.counts.max() > 1):
            raise ValueError(f"data[{name!r}]: a bernoulli likelihood needs values in [0, 1], got "
                             f"[{trials.counts.min():g}, {trials.counts.max():g}]; rescale (e.g. pixels / 16).")
        return spec

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        fusion = self._fusion_input(batch, weighted=True)
        warmup = self.config.kl_warmup_epochs
        beta = min(1.0, (batch["epoch"] + 1) / warmup) if warmup > 0 else 1.0
        n_bins = batch["mask"].sum(1).clamp(min=1).to(batch["mask"].dtype if batch["mask"].is_floating_point()
                                                      else torch.float32)
        loss = self.network_.strategy.training_loss(fusion, beta) / n_bins
        return {"loss": loss.mean()}

    # ------------------------------------------------------------------------------------------ internals
    def _fusion_input(self, batch: dict[str, Any], *, weighted: bool) -> FusionInput:
        mask = batch["mask"].float()
        lengths = batch.get("lengths")
        experts, observed = {}, {}
        for name, module in self.network_.modalities.items():
            experts[name] = module.encode(batch[f"x:{name}"], lengths)
            observed[name] = batch[f"obs:{name}"]

        def log_likelihood(name: str, z: torch.Tensor) -> torch.Tensor:
            return self.network_.modalities[name].log_prob(batch[f"x:{name}"], z, mask)

        weights = {name: (float(spec["weight"]) if weighted else 1.0) for name, spec in self.specs_.items()}
        return FusionInput(experts, observed, mask, log_likelihood, weights)

    def _tensors(self, data: Mapping[str, TrialData], flags: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        device = resolve_device(self.config.device) if self.network_ is None else \
            next(self.network_.parameters()).device
        reference = next(iter(data.values()))
        tensors: dict[str, torch.Tensor] = {"mask": torch.as_tensor(reference.mask, device=device)}
        if reference.lengths is not None:
            tensors["lengths"] = torch.as_tensor(reference.lengths, device=device)
        for name, spec in self.specs_.items():
            if name in data:
                values = (data[name].counts - self.offsets_[name]) / self.scales_[name]
            else:
                values = np.zeros((reference.n_trials, reference.n_time, spec["channels"]), np.float32)
            tensors[f"x:{name}"] = torch.as_tensor(values, dtype=torch.float32, device=device)
            tensors[f"obs:{name}"] = torch.as_tensor(flags[name], dtype=torch.float32, device=device)
        return tensors

    def _check_data(self, name: str, data: Any, *, fitted: bool) -> dict[str, TrialData]:
        if not isinstance(data, Mapping) or not data:
            raise TypeError(f"{name}: expected a non-empty dict modality name -> TrialData, got {describe(data)}.")
        shapes = set()
        for key, trials in data.items():
            if not isinstance(trials, TrialData):
                raise TypeError(f"{name}[{key!r}]: expected a TrialData, got {describe(trials)}.")
            shapes.add((trials.n_trials, trials.n_time))
            if fitted:
                if key not in self.specs_:
                    raise ValueError(f"{name}: unknown modality {key!r}; the model has {list(self.specs_)}.")
                if trials.n_units != self.specs_[key]["channels"]:
                    raise ValueError(f"{name}[{key!r}]: expected {self.specs_[key]['channels']} channels, "
                                     f"got {trials.n_units}.")
        if len(shapes) > 1:
            raise ValueError(f"{name}: every modality needs the same trials and bins, got (trials, time) "
                             f"{sorted(shapes)}.")
        return dict(data)

    def _check_observed(self, observed: Mapping[str, Any] | None, data: dict[str, TrialData]) -> dict[str, np.ndarray]:
        n_trials = next(iter(data.values())).n_trials
        names = list(self.specs_) if self.fitted_ else list(data)
        flags = {name: np.full(n_trials, name in data) for name in names}
        if observed is not None:
            if not isinstance(observed, Mapping):
                raise TypeError(f"observed: expected a dict name -> (trials,) bool, got {describe(observed)}.")
            for key, value in observed.items():
                if key not in data:
                    raise ValueError(f"observed: unknown modality {key!r}; data has {list(data)}.")
                array = as_array(f"observed[{key!r}]", value, ndim=1, dtype=None)
                if array.shape != (n_trials,):
                    raise ValueError(f"observed[{key!r}]: expected shape ({n_trials},), got {array.shape}.")
                flags[key] = array.astype(bool)
        if not np.any(np.stack(list(flags.values())), axis=0).all():
            raise ValueError("observed: every trial needs at least one observed modality; some have none.")
        return flags

    def _batch(self, data: Mapping[str, TrialData], given: Sequence[str] | None,
               action: str) -> dict[str, torch.Tensor]:
        self._check_fitted(action)
        data = self._check_data("data", data, fitted=True)
        given = list(data) if given is None else given
        if isinstance(given, str) or not isinstance(given, (list, tuple)) or not given:
            raise TypeError(f"given: expected a non-empty list of modality names, got {describe(given)}.")
        for name in given:
            if name not in data:
                raise ValueError(f"given: {name!r} is not in data ({list(data)}); pass its TrialData.")
        flags = self._check_observed({name: np.full(next(iter(data.values())).n_trials, name in given)
                                      for name in data}, data)
        self.network_.eval()
        return self._tensors(data, flags)

    def _decode(self, latents: dict[str, torch.Tensor], names: Sequence[str]) -> dict[str, np.ndarray]:
        out = {}
        for name in names:
            mean = self.network_.modalities[name].mean(latents[name]).cpu().numpy()
            out[name] = mean * self.scales_[name] + self.offsets_[name]
        return out

    # ----------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def transform(self, data: Mapping[str, TrialData], *, given: Sequence[str] | None = None,
                  modality: str | None = None) -> np.ndarray:
        """Posterior mean latents given the modalities ``given`` (default: all in ``data``),
        (trials, time, latent_dim). POISE has one latent per modality: ``modality`` picks it (default: both,
        concatenated, (trials, time, 2 latent_dim)); shared strategies ignore ``modality``."""
        batch = self._batch(data, given, "transform")
        if modality is not None and modality not in self.specs_:
            raise ValueError(f"modality: expected one of {list(self.specs_)}, got {modality!r}.")
        generator = torch.Generator().manual_seed(self.config.seed)
        latents = self.network_.strategy.posterior_latents(self._fusion_input(batch, weighted=False), sample=False,
                                                           generator=generator)
        if modality is not None or self.network_.strategy.shared:
            return latents[modality or next(iter(latents))].cpu().numpy()
        return torch.cat([latents[name] for name in self.specs_], dim=-1).cpu().numpy()

    @torch.no_grad()
    def generate(self, data: Mapping[str, TrialData], *, given: Sequence[str] | None = None,
                 sample: bool = False, seed: int = 0) -> dict[str, np.ndarray]:
        """Every modality's decoded mean, (trials, time, channels) in data units, from the posterior given the
        modalities ``given``: the posterior mean latents, or one posterior sample when ``sample``."""
        batch = self._batch(data, given, "generate")
        generator = torch.Generator().manual_seed(positive_int("seed", seed, minimum=0))
        latents = self.network_.strategy.posterior_latents(self._fusion_input(batch, weighted=False),
                                                           sample=bool(sample), generator=generator)
        return self._decode(latents, list(self.specs_))

    @torch.no_grad()
    def decode(self, latents: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each named modality's decoded mean, (trials, time, channels) in data units, from latents
        (trials, time, latent_dim) given as arrays (e.g. from :meth:`transform`, rescaled or moved)."""
        self._check_fitted("decode")
        if not isinstance(latents, Mapping) or not latents:
            raise TypeError(f"latents: expected a dict modality name -> (trials, time, latent_dim) array, got "
                            f"{describe(latents)}.")
        device = next(self.network_.parameters()).device
        tensors = {}
        for name, values in latents.items():
            if name not in self.specs_:
                raise ValueError(f"latents: unknown modality {name!r}; the model has {list(self.specs_)}.")
            array = as_array(f"latents[{name!r}]", values, ndim=3)
            if array.shape[-1] != self.config.latent_dim:
                raise ValueError(f"latents[{name!r}]: expected (trials, time, {self.config.latent_dim}), got "
                                 f"{array.shape}.")
            tensors[name] = torch.as_tensor(array, dtype=torch.float32, device=device)
        self.network_.eval()
        return self._decode(tensors, list(tensors))

    def reconstruct(self, data: Mapping[str, TrialData], **kwargs: Any) -> dict[str, np.ndarray]:
        """Every modality decoded from the posterior given all of them (see :meth:`generate`)."""
        return self.generate(data, given=None, **kwargs)

    def cross_generate(self, data: Mapping[str, TrialData], *, source: str | Sequence[str], target: str,
                       **kwargs: Any) -> np.ndarray:
        """Modality ``target`` generated from ``source`` alone, (trials, time, channels of target). ``data`` needs
        only the source modalities."""
        sources = [source] if isinstance(source, str) else list(source)
        if target not in self.specs_:
            raise ValueError(f"target: expected one of {list(self.specs_)}, got {target!r}.")
        return self.generate({name: data[name] for name in sources if name in data}, given=sources, **kwargs)[target]

    @torch.no_grad()
    def sample(self, n_trials: int, *, n_time: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
        """Joint generation: latents from the prior (Gibbs chains for POISE), every modality's decoded mean."""
        self._check_fitted("sample")
        n_trials = positive_int("n_trials", n_trials)
        n_time = self.n_time_ if n_time is None else positive_int("n_time", n_time)
        generator = torch.Generator().manual_seed(positive_int("seed", seed, minimum=0))
        like = next(self.network_.parameters())
        latents = self.network_.strategy.prior_latents(list(self.specs_), n_trials, n_time, self.config.latent_dim,
                                                       like.detach(), generator)
        return self._decode(latents, list(self.specs_))

    @torch.no_grad()
    def score(self, data: Mapping[str, TrialData], *, n_samples: int = 8, seed: int = 0) -> float:
        """Mean ELBO per trial (nats, unweighted likelihoods), averaged over ``n_samples`` posterior samples."""
        return self._importance(data, n_samples, seed, "score")[1]

    @torch.no_grad()
    def log_likelihood(self, data: Mapping[str, TrialData], *, n_samples: int = 64, seed: int = 0) -> float:
        """Importance-weighted log p(X) per trial (nats), log mean_k exp(log w_k), proposals from the posterior
        (Gibbs chains of q for POISE; densities exact by quadrature)."""
        return self._importance(data, n_samples, seed, "log_likelihood")[0]

    def _importance(self, data: Mapping[str, TrialData], n_samples: int, seed: int, action: str) -> tuple[float, float]:
        n_samples = positive_int("n_samples", n_samples)
        batch = self._batch(data, None, action)
        generator = torch.Generator().manual_seed(positive_int("seed", seed, minimum=0))
        fusion = self._fusion_input(batch, weighted=False)
        weights = torch.stack([self.network_.strategy.log_weight(fusion, generator) for _ in range(n_samples)])
        iwll = torch.logsumexp(weights, dim=0) - math.log(n_samples)
        return float(iwll.mean()), float(weights.mean())

    def poise_diagnostics(self, data: Mapping[str, TrialData], *, n_sweeps: int = 200, n_draws: int = 16,
                          seed: int = 0) -> dict[str, float]:
        """Checks of a fitted POISE model's sampler and KL gradient estimator on ``data`` (both modalities).

        ``ESS/sweep z|...``: mean effective sample size per Gibbs sweep (1 = independent draws) of each latent
        over ``n_sweeps``-sweep chains, one per trial and dimension, of q given both modalities, given each one
        alone (what cross-generation samples) and of the prior (joint generation). ``KL grad ...``: the training
        estimator's gradient against the exact (quadrature) gradient at q given both
        (:func:`neuralign.nn.poise.kl_gradient_check`, ``n_draws`` draws)."""
        self._check_fitted("poise_diagnostics")
        if self.config.strategy != "poise":
            raise ValueError(f"poise_diagnostics: the model's strategy is {self.config.strategy!r}; these checks "
                             "are of the 'poise' strategy.")
        n_sweeps = positive_int("n_sweeps", n_sweeps, minimum=2)
        generator = torch.Generator().manual_seed(positive_int("seed", seed, minimum=0))
        strategy, names = self.network_.strategy, list(self.specs_)
        out: dict[str, float] = {}
        for given in (names, [names[0]], [names[1]]):
            batch = self._fusion_input(self._batch(data, given, "poise_diagnostics"), weighted=False)
            ess = strategy.mixing(batch, n_sweeps, generator)
            for name, value in zip(names, ess, strict=True):
                out[f"ESS/sweep {name} latent | {'+'.join(given)}"] = value
        like = torch.zeros(next(iter(data.values())).n_trials, self.n_time_, self.config.latent_dim,
                           device=next(self.network_.parameters()).device)
        for name, value in zip(names, strategy.mixing(None, n_sweeps, generator, like=like), strict=True):
            out[f"ESS/sweep {name} latent | prior"] = value
        batch = self._fusion_input(self._batch(data, None, "poise_diagnostics"), weighted=False)
        for key, value in strategy.kl_gradient_check(batch, positive_int("n_draws", n_draws, minimum=2),
                                                     generator).items():
            out[f"KL grad {key}"] = value
        return out

    # -------------------------------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, Any]:
        return {"network": self.network_.state_dict(), "n_time": self.n_time_,
                "specs": {name: {k: (v if isinstance(v, str) else float(v)) for k, v in spec.items()}
                          for name, spec in self.specs_.items()},
                "offsets": {k: torch.as_tensor(v) for k, v in self.offsets_.items()},
                "scales": {k: torch.as_tensor(v) for k, v in self.scales_.items()}}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.specs_ = {name: {k: (v if isinstance(v, str) else (float(v) if k == "weight" else int(v)))
                              for k, v in spec.items()} for name, spec in state["specs"].items()}
        self.offsets_ = {k: v.numpy() for k, v in state["offsets"].items()}
        self.scales_ = {k: v.numpy() for k, v in state["scales"].items()}
        self.n_time_ = int(state["n_time"])
        self.network_ = MultimodalNetwork(self.config, self.specs_)
        self.network_.load_state_dict(state["network"])
        self.network_.to(resolve_device(self.config.device)).eval()
