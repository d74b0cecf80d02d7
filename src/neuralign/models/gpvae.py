"""GP-VAE (one modality) and MM-GPVAE (two or more), with GP priors in the Fourier domain (Gondur et al. 2023).

Latents z = [z_S, z_1, ..., z_M]: z_S shared by all modalities, z_m private to modality m; every latent k is
an RBF GP over time with its own length scale and variance, parameterised by Fourier coefficients a_k (F,)
with z_k(t) = sum_f B[f, t] a_kf and a_kf ~ N(0, c_kf) (``neuralign.nn.fourier``; ``prior="time"`` uses the
full time-domain covariance instead). For modality m, with embedding e_m(t) = W_m [z_S(t); z_m(t)]:

    spikes     x_m(t) ~ Poisson(exp(C_m e_m(t) + b_m)),          b_m initialised at the log mean rate
    behaviour  x_m(t) ~ N(MLP_m(e_m(t)), diag sigma_m^2)   or   Bernoulli(sigmoid(MLP_m(e_m(t))))  (images)

Inference. A per-bin encoder of modality m gives pseudo-observations N(mu_mt, 1 / w_mt) of the latents it
sees; projected onto the basis they are diagonal Gaussian experts over the coefficients (natural parameters
eta = B (w mu), lambda = B^2 w). The posterior is their product with the prior's diagonal precision:

    q(a_kf) = N(eta_kf / P_kf, 1 / P_kf),   P_kf = 1 / c_kf + sum_{m sees k} lambda_mkf

so the shared block combines every present modality as a product of experts (not an average), and a modality
that is absent simply contributes no expert: cross-modal prediction encodes one modality and decodes another.

    ELBO = sum_m E_q[log p(x_m | z)] - KL(q(a) || p(a))

with the Poisson expectation in closed form (E exp(eta) = exp(mean + var / 2), var = sum_k C_nk^2 Var z_k(t)),
the MLP expectations by reparameterised samples, and the KL in closed form (Fourier prior: O(F) per latent).
The loss is -ELBO per trial divided by its number of bins; the KL weight ramps from 0 to 1 over
``kl_warmup_epochs``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Sequence

import joblib
import numpy as np
import torch
from tqdm.auto import tqdm

from neuralign._checks import describe, one_of, positive_float, positive_int
from neuralign.data.trialdata import TrialData, check_trialdata
from neuralign.models.base import Estimator, register_model
from neuralign.models.gpvae_network import GPVAENetwork, Modality
from neuralign.nn.fourier import GP_PRIORS
from neuralign.train import LR_SCHEDULES, History, TrainConfig, resolve_device, train


@dataclass
class _GPVAECommon:
    """Settings shared by :class:`GPVAEConfig` and :class:`MMGPVAEConfig`."""

    prior: str = "fourier"
    length_scale_init: float = 5.0
    min_length_scale: float = 1.0
    max_length_scale: float = 30.0
    condition_threshold: float = 1e-6
    encoder_hidden: int = 64
    decoder_hidden: int = 64
    behavior_likelihood: str = "gaussian"
    unimodal_weight: float = 0.25
    kl_warmup_epochs: int = 30
    max_epochs: int = 100
    batch_size: int = 64
    learning_rate: float = 1e-2
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    patience: int = 25
    val_fraction: float = 0.1
    n_restarts: int = 1
    n_jobs: int | None = None
    seed: int = 0
    device: str | None = None
    verbose: bool = True

    def __post_init__(self) -> None:
        one_of("prior", self.prior, tuple(GP_PRIORS))
        one_of("behavior_likelihood", self.behavior_likelihood, ("gaussian", "bernoulli"))
        one_of("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        for name in ("length_scale_init", "min_length_scale", "max_length_scale", "learning_rate"):
            positive_float(name, getattr(self, name))
        if not self.min_length_scale < self.length_scale_init < self.max_length_scale:
            raise ValueError(f"length_scale_init: expected a value between min_length_scale "
                             f"({self.min_length_scale}) and max_length_scale ({self.max_length_scale}), "
                             f"got {self.length_scale_init}.")
        for name in ("encoder_hidden", "decoder_hidden", "max_epochs", "batch_size", "patience", "n_restarts"):
            positive_int(name, getattr(self, name))
        positive_int("kl_warmup_epochs", self.kl_warmup_epochs, minimum=0)
        positive_int("seed", self.seed, minimum=0)
        if self.n_jobs is not None and not (isinstance(self.n_jobs, int) and not isinstance(self.n_jobs, bool)
                                            and (self.n_jobs >= 1 or self.n_jobs == -1)):
            raise ValueError(f"n_jobs: expected None, -1 (every core) or a positive int, got {self.n_jobs!r}.")
        positive_float("weight_decay", self.weight_decay, allow_zero=True)
        positive_float("unimodal_weight", self.unimodal_weight, allow_zero=True)
        if not (isinstance(self.condition_threshold, float) and 0 < self.condition_threshold < 1):
            raise ValueError(f"condition_threshold: expected a float in (0, 1), got {self.condition_threshold!r}.")

    def prior_settings(self) -> dict[str, Any]:
        settings = dict(length_scale_init=self.length_scale_init, min_length_scale=self.min_length_scale,
                        max_length_scale=self.max_length_scale)
        if self.prior == "fourier":
            settings["condition_threshold"] = self.condition_threshold
        return settings

    def train_config(self) -> TrainConfig:
        return TrainConfig(max_epochs=self.max_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                           lr_schedule=self.lr_schedule, weight_decay=self.weight_decay, patience=self.patience,
                           val_fraction=self.val_fraction, min_epochs=self.kl_warmup_epochs, seed=self.seed,
                           device=self.device, verbose=self.verbose)


@dataclass
class MMGPVAEConfig(_GPVAECommon):
    """Settings of :class:`MMGPVAE`: ``shared_dim`` shared latents, ``private_dim`` private latents per
    modality (an int for all, or a dict name -> int), and the common settings."""

    shared_dim: int = 1
    private_dim: Any = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("shared_dim", self.shared_dim, minimum=0)
        values = self.private_dim.values() if isinstance(self.private_dim, dict) else [self.private_dim]
        for value in values:
            positive_int("private_dim", value, minimum=0)


@dataclass
class GPVAEConfig(_GPVAECommon):
    """Settings of :class:`GPVAE`: ``latent_dim`` GP latents and the common settings."""

    latent_dim: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("latent_dim", self.latent_dim)


class _GPVAEBase(Estimator):
    """Fitting, inference and persistence shared by :class:`GPVAE` and :class:`MMGPVAE`."""

    def __init__(self, config: Any = None, **settings: Any) -> None:
        super().__init__(config, **settings)
        self.network_: GPVAENetwork | None = None
        self.modalities_: list[Modality] = []
        self.scales_: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.history_: History | None = None
        self.restart_histories_: list[History] = []
        self.best_restart_ = 0

    # ----------------------------------------------------------------------------------- data handling
    def _views(self, name: str, data: Any) -> tuple[dict[str, tuple[np.ndarray, str]], np.ndarray]:
        """name -> (array (trials, T, dims), kind) for each modality present in ``data``, and the mask."""
        raise NotImplementedError

    def _layout(self, modalities: list[Modality]) -> tuple[int, list[int]]:
        raise NotImplementedError

    def _tensors(self, views: dict[str, tuple[np.ndarray, str]], mask: np.ndarray) -> dict[str, torch.Tensor]:
        device = resolve_device(self.config.device) if self.network_ is None else \
            self.network_.prior.raw_length_scale.device
        out = {"mask": torch.as_tensor(mask, device=device)}
        for name, (array, kind) in views.items():
            if kind == "gaussian":
                mean, std = self.scales_[name]
                array = (array - mean) / std
            # C order: arrays from elsewhere may be strided (TrialData.subset laid counts out units-major before it
            # was fixed), and every step's matmuls would copy a strided minibatch; writable: a restart worker's
            # arrays are read-only memory maps
            out[f"x/{name}"] = torch.as_tensor(np.require(array, np.float32, ["C", "W"]), device=device)
            if kind == "poisson":  # constant per trial: computed once here, not at every step
                out[f"lgamma/{name}"] = torch.lgamma(out[f"x/{name}"] + 1.0).sum(-1)  # sum_n log(x_n!) per bin
                out[f"in/{name}"] = torch.log1p(out[f"x/{name}"])  # the encoder's input
        return out

    @staticmethod
    def _encoder_inputs(batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """name -> encoder input: log(1 + counts) for spikes (precomputed by ``_tensors``), else the data."""
        return {key[2:]: batch.get(f"in/{key[2:]}", x) for key, x in batch.items() if key.startswith("x/")}

    # ------------------------------------------------------------------------------------------- fitting
    def fit(self, data: Any) -> "_GPVAEBase":
        """Fit on ``data`` (see the class docstring for what it may be); returns self.

        With ``n_restarts`` > 1 the model is fitted from that many initialisations (the first is the one a single
        fit uses; all share the validation split and minibatch order) and the one with the lowest best validation
        loss is kept: ``restart_scores_`` holds each one's (``restart_histories_`` their training histories),
        ``best_restart_`` the index kept. ``n_jobs`` fits them in parallel processes on CPU (one core each; -1:
        one per core); on a GPU they run one after another."""
        views, mask = self._views("data", data)
        self.modalities_ = [Modality(name, kind, array.shape[2]) for name, (array, kind) in views.items()]
        self.scales_ = {}
        for name, (array, kind) in views.items():
            if kind == "gaussian":
                values = array[mask]
                self.scales_[name] = (values.mean(0).astype(np.float32), (values.std(0) + 1e-6).astype(np.float32))
        restarts = range(self.config.n_restarts)
        device = resolve_device(self.config.device)
        show = self.config.verbose and len(restarts) > 1 and sys.stderr.isatty()
        if not self.uses_worker_processes():
            candidates = [self._fit_candidate(views, mask, restart)
                          for restart in tqdm(restarts, desc="restarts", disable=not show, leave=False)]
        else:  # the workers get a copy of this estimator and send back CPU weights
            jobs = joblib.Parallel(n_jobs=self.config.n_jobs, backend="loky", return_as="generator")(
                joblib.delayed(_fit_in_worker)(self, views, mask, restart) for restart in restarts)
            candidates = []
            for state, history in tqdm(jobs, desc="restarts", total=len(restarts), disable=not show, leave=False):
                network = self._build_network()
                network.load_state_dict(state)
                candidates.append((network.to(device), history))
        self.restart_histories_ = [history for _, history in candidates]
        self.best_restart_ = int(np.argmin(self.restart_scores_))
        self.network_, self.history_ = candidates[self.best_restart_]
        self.network_.eval()
        self.fitted_ = True
        return self

    def uses_worker_processes(self) -> bool:
        """Whether ``fit`` trains the restarts in worker processes (more than one restart, ``n_jobs`` other than
        None or 1, on the CPU); their CPU time is then in ``restart_histories_``, not in this process's."""
        return (self.config.n_restarts > 1 and self.config.n_jobs not in (None, 1)
                and resolve_device(self.config.device).type == "cpu")

    @property
    def restart_scores_(self) -> list[float]:
        """Loss of each restart's kept weights: its best validation loss (its last epoch's validation loss when no
        epoch passed the warm-up; its last training loss where there is no validation split)."""
        return [history.kept_loss for history in self.restart_histories_]

    def _build_network(self) -> GPVAENetwork:
        shared, private = self._layout(self.modalities_)
        return GPVAENetwork(self.modalities_, shared, private, self.config.prior, self.config.prior_settings(),
                            self.config.encoder_hidden, self.config.decoder_hidden)

    def _fit_candidate(self, views: dict[str, tuple[np.ndarray, str]], mask: np.ndarray,
                       restart: int) -> tuple[GPVAENetwork, History]:
        """One fit from initialisation ``restart`` (0: seeded by ``seed`` alone); returns the network (left in
        ``self.network_`` while it trains, as the loss reads it) and its history."""
        seed = self.config.seed if restart == 0 else int(np.random.SeedSequence([self.config.seed, restart])
                                                         .generate_state(1)[0])
        torch.manual_seed(seed)
        self.network_ = network = self._build_network()
        for name, (array, kind) in views.items():
            if kind == "poisson":
                network.init_poisson_bias(name, torch.as_tensor(array[mask].mean(0), dtype=torch.float32))
        network.to(resolve_device(self.config.device))
        history = train(network, self._loss, [self._tensors(views, mask)], self.config.train_config())
        return network, history

    def _elbo_terms(self, batch: dict[str, torch.Tensor], sample: bool, generator: torch.Generator | None = None,
                    subsets: bool = False) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(log-likelihood, KL) per trial of every modality in ``batch`` under the joint posterior and, with
        ``subsets``, under each single modality's posterior (each one a valid ELBO of all the data)."""
        network, mask = self.network_, batch["mask"]
        experts, frame = network.experts(self._encoder_inputs(batch), mask)
        groups = [experts]
        if subsets and len(experts) > 1:
            groups += [{name: expert} for name, expert in experts.items()]
        terms = []
        for group in groups:
            posterior = network.posterior(group, frame)
            mean, variance = posterior.time_mean(), posterior.time_variance()
            draw = posterior.time_sample(generator) if sample else mean
            log_likelihood = torch.zeros(mask.shape[0], device=mask.device)
            for modality in self.modalities_:
                key = f"x/{modality.name}"
                if key in batch:
                    block = network.block(modality.name)
                    log_likelihood = log_likelihood + network.expected_log_likelihood(
                        modality, batch[key], mask, mean[..., block], variance[..., block], draw[..., block],
                        batch.get(f"lgamma/{modality.name}"))
            terms.append((log_likelihood, network.prior.kl(posterior.mean, posterior.variance, frame)))
        return terms

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        weight = self.config.unimodal_weight
        terms = self._elbo_terms(batch, sample=self.network_.training, subsets=weight > 0)
        warmup = self.config.kl_warmup_epochs
        beta = min(1.0, (batch["epoch"] + 1) / warmup) if warmup > 0 else 1.0
        n_bins = batch["mask"].sum(dim=1).clamp(min=1).to(terms[0][0].dtype)
        weights = [1.0] + [weight] * (len(terms) - 1)
        loss = sum(w * (-ll + beta * kl) for w, (ll, kl) in zip(weights, terms, strict=True)) / sum(weights) / n_bins
        log_likelihood, kl = terms[0]
        return {"loss": loss.mean(), "reconstruction": (-log_likelihood / n_bins).mean(), "kl": (kl / n_bins).mean()}

    # ----------------------------------------------------------------------------------------- inference
    def _inputs(self, data: Any, using: Sequence[str] | None) -> dict[str, torch.Tensor]:
        self._check_fitted("using the model")
        views, mask = self._views("data", data)
        known = [m.name for m in self.modalities_]
        for name, (array, _) in views.items():
            if name not in known:
                raise ValueError(f"data: modality {name!r} was not seen in fit; known modalities: {known}.")
            expected = next(m.dims for m in self.modalities_ if m.name == name)
            if array.shape[2] != expected:
                raise ValueError(f"data: modality {name!r} has {array.shape[2]} channels, the model was fitted "
                                 f"with {expected}.")
        if using is not None:
            if isinstance(using, str):
                using = [using]
            for name in using:
                if name not in views:
                    raise ValueError(f"using: expected names of modalities present in data {list(views)}, "
                                     f"got {name!r}.")
            views = {name: views[name] for name in using}
        return self._tensors(views, mask)

    @torch.no_grad()
    def _posterior_moments(self, data: Any, using: Sequence[str] | None) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self._inputs(data, using)
        self.network_.eval()
        posterior = self.network_.posterior(*self.network_.experts(self._encoder_inputs(batch), batch["mask"]))
        return posterior.time_mean(), posterior.time_variance()

    @torch.no_grad()
    def predict(self, data: Any, target: str, *, using: Sequence[str] | str | None = None) -> np.ndarray:
        """Predict modality ``target`` (trials, T, dims) from the modalities in ``using`` (default: all those
        present in ``data``, which need not include ``target``): expected counts per bin for spikes, behaviour
        in its original units, pixel probabilities for Bernoulli images."""
        known = {m.name: m for m in self.modalities_}
        if target not in known:
            raise ValueError(f"target: expected one of the fitted modalities {list(known)}, got {target!r}.")
        mean, variance = self._posterior_moments(data, using)
        block = self.network_.block(target)
        prediction = self.network_.predict(known[target], mean[..., block], variance[..., block]).cpu().numpy()
        if known[target].kind == "gaussian":
            location, scale = self.scales_[target]
            prediction = prediction * scale + location
        return prediction

    @torch.no_grad()
    def score(self, data: Any, *, n_samples: int = 8, seed: int = 0) -> float:
        """ELBO per trial (nats, higher is better) of all modalities in ``data``, the expectations of the MLP
        decoders estimated with ``n_samples`` reparameterised draws."""
        positive_int("n_samples", n_samples)
        batch = self._inputs(data, None)
        self.network_.eval()
        generator = torch.Generator().manual_seed(seed)
        draws = [self._elbo_terms(batch, sample=True, generator=generator)[0] for _ in range(n_samples)]
        elbo = torch.stack([log_likelihood - kl for log_likelihood, kl in draws]).mean(0)
        return float(elbo.mean())

    @torch.no_grad()
    def sample(self, n_trials: int, *, n_time: int = 60, seed: int = 0) -> dict[str, np.ndarray]:
        """Draw latents from the prior and observations from the decoders: {"latents": (n, T, d), name: ...},
        Poisson counts for spikes, decoder means for behaviour (original units), probabilities for images."""
        self._check_fitted("sample")
        positive_int("n_trials", n_trials)
        positive_int("n_time", n_time)
        generator = torch.Generator().manual_seed(seed)
        network = self.network_
        z = network.prior.sample(n_trials, n_time, generator=generator)
        out = {"latents": z.cpu().numpy()}
        for modality in self.modalities_:
            block = z[..., network.block(modality.name)]
            prediction = network.predict(modality, block, torch.zeros_like(block)).cpu()
            if modality.kind == "poisson":
                prediction = torch.poisson(prediction, generator=generator)
            elif modality.kind == "gaussian":
                location, scale = self.scales_[modality.name]
                prediction = prediction * torch.as_tensor(scale) + torch.as_tensor(location)
            out[modality.name] = prediction.numpy()
        return out

    @property
    def length_scales_(self) -> np.ndarray:
        """Learned GP length scale of each latent (bins), in the latent layout order."""
        self._check_fitted("reading length scales")
        return self.network_.prior.length_scale.detach().cpu().numpy()

    # -------------------------------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, Any]:
        return {"network": self.network_.state_dict(),
                "modalities": [[m.name, m.kind, m.dims] for m in self.modalities_],
                "scales": {name: [torch.as_tensor(a), torch.as_tensor(b)] for name, (a, b) in self.scales_.items()}}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.modalities_ = [Modality(str(name), str(kind), int(dims)) for name, kind, dims in state["modalities"]]
        self.scales_ = {name: (a.numpy(), b.numpy()) for name, (a, b) in state["scales"].items()}
        self.network_ = self._build_network()
        self.network_.load_state_dict(state["network"])
        self.network_.to(resolve_device(self.config.device)).eval()


def _fit_in_worker(estimator: _GPVAEBase, views: dict[str, tuple[np.ndarray, str]], mask: np.ndarray,
                   restart: int) -> tuple[dict[str, torch.Tensor], History]:
    """One restart in a worker process: its weights, on the CPU, and history."""
    torch.set_num_threads(1)  # one core per worker: the restarts are the parallelism
    network, history = estimator._fit_candidate(views, mask, restart)
    return {key: value.cpu() for key, value in network.state_dict().items()}, history


def _counts_kind(name: str, data: TrialData) -> str:
    return "poisson" if data.signal == "counts" else "gaussian"


@register_model
class MMGPVAE(_GPVAEBase):
    """Multi-modal GP-VAE: shared and private GP latents, one encoder / mixing / decoder per modality.

    ``data`` is either a TrialData with ``behavior`` (modalities ``"neural"``: the counts, Poisson, and
    ``"behavior"``: Gaussian, or Bernoulli with ``behavior_likelihood="bernoulli"``), or a dict name ->
    TrialData over the same trials (signal "counts" -> Poisson; "continuous" -> the behaviour likelihood).

    Examples
    --------
    >>> import neuralign
    >>> data = neuralign.datasets.load("synthetic_mmgpvae", n_trials=16, n_time=20, n_units=10,
    ...                                behavior="low_dim", seed=0)
    >>> model = MMGPVAE(shared_dim=1, private_dim=1, max_epochs=2, verbose=False).fit(data)
    >>> sorted(model.transform(data))
    ['behavior', 'neural', 'shared']
    >>> model.predict(data, "behavior", using="neural").shape
    (16, 20, 6)
    """

    config_class = MMGPVAEConfig

    def _views(self, name: str, data: Any) -> tuple[dict[str, tuple[np.ndarray, str]], np.ndarray]:
        behavior_kind = self.config.behavior_likelihood
        if isinstance(data, TrialData):
            views = {"neural": (data.counts, _counts_kind(name, data))}
            if data.behavior is not None:
                views["behavior"] = (data.behavior, behavior_kind)
            mask = data.mask
        elif isinstance(data, dict) and data:
            views, shapes = {}, set()
            for key, value in data.items():
                check_trialdata(f"{name}[{key!r}]", value)
                kind = _counts_kind(key, value)
                views[str(key)] = (value.counts, kind if kind == "poisson" else behavior_kind)
                shapes.add(value.counts.shape[:2])
            if len(shapes) > 1:
                raise ValueError(f"{name}: every modality must have the same (trials, time), got {sorted(shapes)}.")
            mask = next(iter(data.values())).mask
        else:
            raise TypeError(f"{name}: expected a TrialData (counts + behavior) or a dict name -> TrialData, "
                            f"got {describe(data)}.")
        for key, (array, kind) in views.items():
            if kind == "bernoulli" and (array.min() < 0 or array.max() > 1):
                raise ValueError(f"{name}: modality {key!r} must lie in [0, 1] for behavior_likelihood="
                                 f"'bernoulli', got values in [{array.min():g}, {array.max():g}].")
        return views, mask

    def _layout(self, modalities: list[Modality]) -> tuple[int, list[int]]:
        private = self.config.private_dim
        if isinstance(private, dict):
            missing = [m.name for m in modalities if m.name not in private]
            if missing:
                raise ValueError(f"private_dim: no entry for modalities {missing}; give an int or a dict with "
                                 f"every modality {[m.name for m in modalities]}.")
            dims = [int(private[m.name]) for m in modalities]
        else:
            dims = [int(private)] * len(modalities)
        if self.config.shared_dim + sum(dims) < 1:
            raise ValueError("shared_dim, private_dim: the model needs at least one latent.")
        return self.config.shared_dim, dims

    @torch.no_grad()
    def transform(self, data: Any, *, using: Sequence[str] | str | None = None) -> dict[str, np.ndarray]:
        """Posterior mean latents in time: {"shared": (trials, T, S), name: (trials, T, p_name), ...}, inferred
        from the modalities in ``using`` (default all present); a private block of an absent modality is its
        prior mean (zero)."""
        mean, _ = self._posterior_moments(data, using)
        out = {"shared": mean[..., :self.network_.shared_dim].cpu().numpy()}
        for modality in self.modalities_:
            out[modality.name] = mean[..., self.network_.private_block(modality.name)].cpu().numpy()
        return out

    def predict_behavior(self, data: Any) -> np.ndarray:
        """Behaviour predicted from the neural data alone, (trials, T, dims), original units."""
        return self.predict(data, "behavior", using="neural")

    def predict_rates(self, data: Any, *, using: Sequence[str] | str | None = None) -> np.ndarray:
        """Expected spike counts per bin of the ``"neural"`` modality, from ``using`` (e.g. "behavior")."""
        return self.predict(data, "neural", using=using)


@register_model
class GPVAE(_GPVAEBase):
    """Single-modality GP-VAE on spike counts: ``latent_dim`` GP latents, per-bin encoder, linear-exp Poisson
    decoder. ``prior="time"`` gives the time-domain GP-VAE baseline (full RBF covariance)."""

    config_class = GPVAEConfig

    def _views(self, name: str, data: Any) -> tuple[dict[str, tuple[np.ndarray, str]], np.ndarray]:
        data = check_trialdata(name, data)
        return {"neural": (data.counts, _counts_kind(name, data))}, data.mask

    def _layout(self, modalities: list[Modality]) -> tuple[int, list[int]]:
        return self.config.latent_dim, [0]

    def transform(self, data: TrialData) -> np.ndarray:
        """Posterior mean latents, (trials, T, latent_dim)."""
        mean, _ = self._posterior_moments(data, None)
        return mean.cpu().numpy()

    def predict_rates(self, data: TrialData) -> np.ndarray:
        """Expected spike counts per bin under the posterior, (trials, T, units)."""
        return self.predict(data, "neural")
