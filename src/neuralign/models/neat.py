"""NEAT: K VAEs, one per brain region or network layer, trained jointly with a neighbour-embedding alignment penalty
(Cao, Aoi & Keeley, "Neural Embedding Alignment Reveals Nonlinear Latent Transformations across Brain Regions").

For regions k = 1..K with observations x_k^(n) of the same samples n (stimuli, time bins, images):

    q(z_k | x_k)  = N(mu_k(x_k), diag sigma_k^2(x_k))           (an MLP encoder per region)
    p(z_k)        = N(0, I),   latent dimension d_k per region
    x_k | z_k     ~ N(f_k(z_k), diag s_k^2)  (activations, residual counts; features standardised)
                    or Poisson(exp(f_k(z_k)))  (spike counts)                    (an MLP decoder per region)
    p_{j|i}(Z_k)  = exp(-||z_i - z_j||^2 / 2 sigma^2) / sum_{l != i} exp(-||z_i - z_l||^2 / 2 sigma^2)

    loss = (1 / B) sum_{i in batch} [ sum_k ( -E_q log p(x_k^i | z_k^i) + KL(q(z_k^i) || p) )
                                      + lambda sum_{(k, l) in pairs} KL(P_i(Z_l) || P_i(Z_k)) ],

with z sampled from q (one sample) during training. Scale convention: the ELBO is SUMMED over each sample's
units and regions, and the alignment penalty is SUMMED over the batch's samples; both are then divided by the
batch size B (a per-sample average). The ratio of the two terms is therefore the paper's (its sums run over
all N samples), and lambda means "nats of neighbour KL per sample against nats of ELBO per sample": with 64
standardised units per layer, lambda = 1 barely moves the latents, 100 aligns them strongly and 1000 lets the
penalty dominate the reconstruction. ``pairs`` defaults to the sequential chain (1, 2), (2, 3), ...; lambda = 0
gives K independent VAEs. The neighbour distributions use one global sigma, or one calibrated per region and
batch to a perplexity (``perplexity=``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from neuralign._checks import as_array, describe, one_of, positive_float, positive_int
from neuralign.data.trialdata import TrialData
from neuralign.models.base import Estimator, register_model
from neuralign.nn.likelihoods import GaussianLikelihood, PoissonLikelihood
from neuralign.nn.neighbours import alignment_penalty, sequential_pairs
from neuralign.train import LR_SCHEDULES, History, TrainConfig, resolve_device, train

LIKELIHOODS = ("auto", "gaussian", "poisson")
Regions = Mapping[str, Any] | Sequence[Any]


@dataclass
class RegionSamples:
    """Regions flattened to samples: ``names``, ``arrays`` (samples, units_k) float32, ``labels`` and ``signals``."""

    names: list[str]
    arrays: list[np.ndarray]
    labels: np.ndarray | None
    signals: list[str]


def region_samples(name: str, regions: Regions) -> RegionSamples:
    """Validate multi-region data and flatten every region to (samples, units).

    Parameters
    ----------
    name : the argument's name, for error messages.
    regions : dict name -> TrialData or (samples, units) array, or a list of them (named region1, region2, ...).
        A TrialData contributes its valid (trial, bin) pairs in trial-major order, so time bins become samples.
        Every region must describe the same samples in the same order.

    Returns
    -------
    RegionSamples; ``labels`` (samples,) are the first TrialData's labels repeated over its bins, or None.
    """
    if isinstance(regions, Mapping):
        items = list(regions.items())
    elif isinstance(regions, (list, tuple)):
        items = [(f"region{index + 1}", value) for index, value in enumerate(regions)]
    else:
        raise TypeError(f"{name}: expected a dict name -> TrialData / (samples, units) array, or a list of them, "
                        f"got {describe(regions)}.")
    if not items:
        raise ValueError(f"{name}: expected at least one region, got none.")
    names, arrays, signals, labels = [], [], [], None
    for key, value in items:
        if not isinstance(key, str) or not key:
            raise TypeError(f"{name}: region names must be non-empty strings, got {describe(key)}.")
        if isinstance(value, TrialData):
            array = value.counts[value.mask]
            signals.append(value.signal)
            if labels is None and value.labels is not None:
                labels = np.repeat(value.labels, value.mask.sum(1))
        else:
            array = as_array(f"{name}[{key!r}]", value, ndim=2)
            signals.append("continuous" if array.min() < 0 or not np.all(np.mod(array, 1) == 0) else "counts")
        if array.shape[0] < 3 or array.shape[1] < 1:
            raise ValueError(f"{name}[{key!r}]: expected at least 3 samples and 1 unit, got shape {array.shape}.")
        if arrays and array.shape[0] != arrays[0].shape[0]:
            raise ValueError(f"{name}[{key!r}]: has {array.shape[0]} samples but {names[0]!r} has "
                             f"{arrays[0].shape[0]}; every region must hold the same samples in the same order.")
        names.append(key)
        arrays.append(np.ascontiguousarray(array, dtype=np.float32))
    return RegionSamples(names, arrays, labels, signals)


@dataclass
class NEATConfig:
    """Settings of :class:`NEAT`.

    latent_dims : one latent dimension per region, or one int for all.
    lam : the alignment weight lambda (>= 0; 0 = independent VAEs).
    sigma : the global bandwidth of the neighbour distributions. Not scale-aware: when lambda times the penalty
        outweighs the ELBO, latents squeezed far below sigma make both neighbour distributions uniform (penalty 0,
        R2 0: V1/V2 at lambda = 200); perplexity calibration collapsed there already at lambda = 20 (seed 0).
    perplexity : if set, calibrate sigma per region and batch to this perplexity instead.
    pairs : regions to align, as [a, b] pairs of names or indices; None = sequential (1-2, 2-3, ...).
    likelihood : "auto" (Poisson for spike-count TrialData, Gaussian otherwise), "gaussian", "poisson", or one
        of those per region.
    hidden_size, n_hidden_layers : the encoders' and decoders' MLPs.
    standardize : z-score Gaussian regions' features before fitting (reconstructions are returned unscaled).
    lr_schedule : "constant" or "cosine" (the learning rate falls to 0 over ``max_epochs``; see ``TrainConfig``).
    """

    latent_dims: Any = 2
    lam: float = 0.0
    sigma: float = 1.0
    perplexity: float | None = None
    pairs: Any = None
    likelihood: Any = "auto"
    hidden_size: int = 128
    n_hidden_layers: int = 2
    standardize: bool = True
    max_epochs: int = 300
    batch_size: int = 512
    learning_rate: float = 2e-3
    lr_schedule: str = "constant"
    weight_decay: float = 0.0
    patience: int = 30
    val_fraction: float = 0.1
    seed: int = 0
    device: str | None = None
    verbose: bool = True

    def __post_init__(self) -> None:
        dims = [self.latent_dims] if isinstance(self.latent_dims, (int, np.integer)) else self.latent_dims
        if isinstance(dims, bool) or not isinstance(dims, (list, tuple)) or not dims:
            raise TypeError(f"latent_dims: expected an int or a list of ints (one per region), got "
                            f"{describe(self.latent_dims)}.")
        for index, dim in enumerate(dims):
            positive_int(f"latent_dims[{index}]", dim)
        single = isinstance(self.latent_dims, (int, np.integer))
        self.latent_dims = int(dims[0]) if single else tuple(int(d) for d in dims)
        self.lam = positive_float("lam", self.lam, allow_zero=True)
        positive_float("sigma", self.sigma)
        if self.perplexity is not None:
            positive_float("perplexity", self.perplexity)
            if self.perplexity <= 1:
                raise ValueError(f"perplexity: expected a number > 1 (an effective number of neighbours), "
                                 f"got {self.perplexity}.")
        if self.pairs is not None:
            if not isinstance(self.pairs, (list, tuple)) or not all(
                    isinstance(p, (list, tuple)) and len(p) == 2 for p in self.pairs):
                raise TypeError(f"pairs: expected a list of (a, b) region pairs (names or indices), got "
                                f"{describe(self.pairs)}.")
            self.pairs = [tuple(p) for p in self.pairs]
        likelihoods = [self.likelihood] if isinstance(self.likelihood, str) else self.likelihood
        if not isinstance(likelihoods, (list, tuple)) or not likelihoods:
            raise TypeError(f"likelihood: expected one of {list(LIKELIHOODS)} or a list of them, got "
                            f"{describe(self.likelihood)}.")
        for value in likelihoods:
            one_of("likelihood", value, LIKELIHOODS)
        if not isinstance(self.likelihood, str):
            self.likelihood = tuple(self.likelihood)
        for name in ("hidden_size", "n_hidden_layers", "max_epochs", "batch_size", "patience"):
            positive_int(name, getattr(self, name))
        positive_int("seed", self.seed, minimum=0)
        one_of("lr_schedule", self.lr_schedule, LR_SCHEDULES)

    def train_config(self) -> TrainConfig:
        return TrainConfig(max_epochs=self.max_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                           lr_schedule=self.lr_schedule, weight_decay=self.weight_decay, patience=self.patience,
                           val_fraction=self.val_fraction, seed=self.seed, device=self.device, verbose=self.verbose)


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for index in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[index], sizes[index + 1]))
        if index < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RegionVAE(nn.Module):
    """One region's encoder (units -> mean, log-variance), decoder (latents -> means or log-rates) and likelihood."""

    def __init__(self, n_units: int, latent_dim: int, likelihood: str, hidden_size: int, n_hidden_layers: int) -> None:
        super().__init__()
        hidden = [hidden_size] * n_hidden_layers
        self.encoder = _mlp([n_units, *hidden, 2 * latent_dim])
        self.decoder = _mlp([latent_dim, *hidden, n_units])
        self.poisson = likelihood == "poisson"
        self.likelihood = PoissonLikelihood() if self.poisson else GaussianLikelihood(n_units)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (batch, units) -> mean, log-variance (batch, latent_dim)."""
        mean, log_variance = self.encoder(torch.log1p(x) if self.poisson else x).chunk(2, dim=-1)
        return mean, log_variance.clamp(-12.0, 6.0)

    def log_likelihood(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """log p(x | z) summed over units: (batch,)."""
        return self.likelihood.log_prob(x.unsqueeze(1), self.decoder(z).unsqueeze(1))

    def mean(self, z: torch.Tensor) -> torch.Tensor:
        output = self.decoder(z)
        return torch.exp(output) if self.poisson else output


class NEATNetwork(nn.Module):
    """The K region VAEs of :class:`NEAT`."""

    def __init__(self, config: NEATConfig, units: list[int], dims: list[int], likelihoods: list[str]) -> None:
        super().__init__()
        self.regions = nn.ModuleList([RegionVAE(n, d, lik, config.hidden_size, config.n_hidden_layers)
                                      for n, d, lik in zip(units, dims, likelihoods, strict=True)])


def _kl_standard_normal(mean: torch.Tensor, log_variance: torch.Tensor) -> torch.Tensor:
    return 0.5 * (torch.exp(log_variance) + mean ** 2 - 1.0 - log_variance).sum(dim=-1)


@register_model
class NEAT(Estimator):
    """Jointly trained region VAEs whose latent neighbourhoods are aligned (see the module docstring).

    Parameters are those of :class:`NEATConfig`, as keywords or ``config=``.

    Examples
    --------
    >>> import neuralign
    >>> regions = neuralign.datasets.load("synthetic_regions", n_samples=64, n_regions=2, n_units=5)
    >>> model = NEAT(latent_dims=2, lam=1.0, max_epochs=2, batch_size=32, verbose=False).fit(regions)
    >>> {name: z.shape for name, z in model.transform(regions).items()}
    {'region1': (64, 2), 'region2': (64, 2)}
    """

    config_class = NEATConfig

    def __init__(self, config: NEATConfig | None = None, **settings: Any) -> None:
        super().__init__(config, **settings)
        self.network_: NEATNetwork | None = None
        self.names_: list[str] = []
        self.units_: list[int] = []
        self.latent_dims_: list[int] = []
        self.likelihoods_: list[str] = []
        self.pairs_: list[tuple[int, int]] = []
        self.offsets_: list[np.ndarray] = []
        self.scales_: list[np.ndarray] = []
        self.history_: History | None = None

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, regions: Regions) -> "NEAT":
        """Fit on regions (dict name -> TrialData or (samples, units) array, the same samples in each)."""
        data = region_samples("regions", regions)
        config, n_regions = self.config, len(data.names)
        self.names_, self.units_ = data.names, [a.shape[1] for a in data.arrays]
        self.latent_dims_ = self._per_region("latent_dims", config.latent_dims, n_regions)
        self.likelihoods_ = self._resolve_likelihoods(data)
        self.pairs_ = self._resolve_pairs(n_regions)
        self.offsets_, self.scales_ = [], []
        for array, likelihood in zip(data.arrays, self.likelihoods_, strict=True):
            offset, scale = np.zeros(array.shape[1], np.float32), np.ones(array.shape[1], np.float32)
            if likelihood == "gaussian" and config.standardize:
                offset, std = array.mean(0), array.std(0)
                scale = np.where(std > 1e-8, std, 1.0).astype(np.float32)
            self.offsets_.append(offset.astype(np.float32))
            self.scales_.append(scale)
        torch.manual_seed(config.seed)
        self.network_ = NEATNetwork(config, self.units_, self.latent_dims_, self.likelihoods_)
        self._init_poisson_bias(data.arrays)
        self.network_.to(resolve_device(config.device))
        self.history_ = train(self.network_, self._loss, [self._tensors(data.arrays)], config.train_config())
        self.network_.eval()
        self.fitted_ = True
        return self

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        reconstruction, kl, latents = 0.0, 0.0, []
        for index, region in enumerate(self.network_.regions):
            x = batch[f"x{index}"]
            mean, log_variance = region.encode(x)
            z = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean) if self.network_.training else mean
            reconstruction = reconstruction - region.log_likelihood(x, z).mean()
            kl = kl + _kl_standard_normal(mean, log_variance).mean()
            latents.append(z)
        size = latents[0].shape[0]
        alignment = torch.zeros((), device=latents[0].device)
        if self.pairs_ and size >= 3:  # a neighbour distribution needs 2 other samples; skip a tiny last batch
            total, _ = alignment_penalty(latents, self.pairs_, sigma=self.config.sigma,
                                         perplexity=self._perplexity(size))
            alignment = total / size
        loss = reconstruction + kl + self.config.lam * alignment
        return {"loss": loss, "reconstruction": reconstruction, "kl": kl, "alignment": alignment}

    def _perplexity(self, batch_size: int) -> float | None:
        if self.config.perplexity is None:
            return None
        return min(self.config.perplexity, (batch_size - 1) / 2.0 + 0.5)

    # --------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def transform(self, regions: Regions) -> dict[str, np.ndarray]:
        """Posterior-mean latents per region: dict name -> (samples, latent_dim_k)."""
        arrays = self._check_regions(regions)
        return {name: region.encode(x)[0].cpu().numpy()
                for name, region, x in zip(self.names_, self.network_.regions, arrays, strict=True)}

    @torch.no_grad()
    def reconstruct(self, regions: Regions) -> dict[str, np.ndarray]:
        """Decoder means from the posterior-mean latents, in the data's units: dict name -> (samples, units_k)."""
        arrays = self._check_regions(regions)
        out = {}
        for index, (name, region, x) in enumerate(zip(self.names_, self.network_.regions, arrays, strict=True)):
            mean = region.mean(region.encode(x)[0]).cpu().numpy()
            out[name] = mean * self.scales_[index] + self.offsets_[index]
        return out

    def reconstruction_r2(self, regions: Regions) -> dict[str, float]:
        """Fraction of each region's variance explained by its reconstruction (variance-weighted R2 over units)."""
        from sklearn.metrics import r2_score

        data = region_samples("regions", regions)
        predicted = self.reconstruct(regions)
        return {name: float(r2_score(array, predicted[name], multioutput="variance_weighted"))
                for name, array in zip(data.names, data.arrays, strict=True)}

    @torch.no_grad()
    def score(self, regions: Regions) -> float:
        """ELBO per sample summed over regions (nats, higher is better), posterior mean as the latent sample, on
        the standardised features for Gaussian regions."""
        arrays = self._check_regions(regions)
        total = 0.0
        for region, x in zip(self.network_.regions, arrays, strict=True):
            mean, log_variance = region.encode(x)
            total += float((region.log_likelihood(x, mean) - _kl_standard_normal(mean, log_variance)).mean())
        return total

    @torch.no_grad()
    def alignment(self, regions: Regions, *, max_samples: int = 2048, seed: int = 0) -> dict[str, float]:
        """The neighbour KL per sample for every aligned pair, on posterior means: dict "a->b" -> nats.

        The penalty is O(N^2): at most ``max_samples`` samples (drawn with ``seed``) are used.
        """
        positive_int("max_samples", max_samples, minimum=3)
        latents = self.transform(regions)
        n = next(iter(latents.values())).shape[0]
        keep = np.sort(np.random.default_rng(seed).permutation(n)[:max_samples])
        tensors = [torch.as_tensor(latents[name][keep]) for name in self.names_]
        if not self.pairs_:
            return {}
        _, per_pair = alignment_penalty(tensors, self.pairs_, sigma=self.config.sigma,
                                        perplexity=self._perplexity(len(keep)))
        return {f"{self.names_[k]}->{self.names_[m]}": float(value) / len(keep)
                for (k, m), value in zip(self.pairs_, per_pair, strict=True)}

    @torch.no_grad()
    def sample(self, n_samples: int, *, seed: int = 0) -> dict[str, np.ndarray]:
        """Decoder means of prior draws, region by region (independent draws: the prior has no coupling)."""
        self._check_fitted("sample")
        positive_int("n_samples", n_samples)
        generator = torch.Generator().manual_seed(seed)
        out = {}
        for index, (name, region) in enumerate(zip(self.names_, self.network_.regions, strict=True)):
            z = torch.randn(n_samples, self.latent_dims_[index], generator=generator).to(self._device())
            out[name] = region.mean(z).cpu().numpy() * self.scales_[index] + self.offsets_[index]
        return out

    # ------------------------------------------------------------------------------------------ helpers
    @staticmethod
    def _per_region(name: str, value: Any, n_regions: int) -> list[int]:
        if isinstance(value, (int, np.integer)):
            return [int(value)] * n_regions
        if len(value) != n_regions:
            raise ValueError(f"{name}: expected one value per region ({n_regions}), got {len(value)}: {value!r}.")
        return [int(v) for v in value]

    def _resolve_likelihoods(self, data: RegionSamples) -> list[str]:
        setting = self.config.likelihood
        chosen = [setting] * len(data.names) if isinstance(setting, str) else list(setting)
        if len(chosen) != len(data.names):
            raise ValueError(f"likelihood: expected one value per region ({len(data.names)}), got {len(chosen)}.")
        out = []
        for name, value, signal, array in zip(data.names, chosen, data.signals, data.arrays, strict=True):
            if value == "auto":
                value = "poisson" if signal == "counts" else "gaussian"
            if value == "poisson" and array.min() < 0:
                raise ValueError(f"likelihood: region {name!r} has negative values, so it cannot be Poisson; "
                                 "use likelihood='gaussian' for it.")
            out.append(value)
        return out

    def _resolve_pairs(self, n_regions: int) -> list[tuple[int, int]]:
        if self.config.pairs is None:
            return sequential_pairs(n_regions)
        out = []
        for pair in self.config.pairs:
            indices = []
            for item in pair:
                if isinstance(item, str) and item in self.names_:
                    indices.append(self.names_.index(item))
                elif isinstance(item, (int, np.integer)) and not isinstance(item, bool) and 0 <= item < n_regions:
                    indices.append(int(item))
                else:
                    raise ValueError(f"pairs: {item!r} is neither a region name ({self.names_}) nor an index in "
                                     f"[0, {n_regions}).")
            if indices[0] == indices[1]:
                raise ValueError(f"pairs: {pair!r} pairs a region with itself.")
            out.append((indices[0], indices[1]))
        return out

    def _device(self) -> torch.device:
        return next(self.network_.parameters()).device

    def _tensors(self, arrays: list[np.ndarray]) -> dict[str, torch.Tensor]:
        device = self._device()
        return {f"x{index}": torch.as_tensor((array - self.offsets_[index]) / self.scales_[index], device=device)
                for index, array in enumerate(arrays)}

    def _check_regions(self, regions: Regions) -> list[torch.Tensor]:
        self._check_fitted("using the model")
        data = region_samples("regions", regions)
        if data.names != self.names_:
            raise ValueError(f"regions: expected the regions the model was fitted on, {self.names_}, got "
                             f"{data.names}.")
        for name, array, units in zip(data.names, data.arrays, self.units_, strict=True):
            if array.shape[1] != units:
                raise ValueError(f"regions[{name!r}]: expected {units} units (as in fit), got {array.shape[1]}.")
        self.network_.eval()
        tensors = self._tensors(data.arrays)
        return [tensors[f"x{index}"] for index in range(len(data.names))]

    def _init_poisson_bias(self, arrays: list[np.ndarray]) -> None:
        with torch.no_grad():
            for region, array in zip(self.network_.regions, arrays, strict=True):
                if region.poisson:
                    region.decoder[-1].bias.copy_(torch.as_tensor(np.log(array.mean(0) + 1e-3)))
                    region.decoder[-1].weight.mul_(0.1)

    # ---------------------------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, Any]:
        return {"network": self.network_.state_dict(), "names": list(self.names_), "units": list(self.units_),
                "latent_dims": list(self.latent_dims_), "likelihoods": list(self.likelihoods_),
                "pairs": [list(p) for p in self.pairs_],
                "offsets": [torch.as_tensor(o) for o in self.offsets_],
                "scales": [torch.as_tensor(s) for s in self.scales_]}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.names_ = [str(n) for n in state["names"]]
        self.units_ = [int(u) for u in state["units"]]
        self.latent_dims_ = [int(d) for d in state["latent_dims"]]
        self.likelihoods_ = [str(v) for v in state["likelihoods"]]
        self.pairs_ = [(int(first), int(second)) for first, second in state["pairs"]]
        self.offsets_ = [o.numpy() for o in state["offsets"]]
        self.scales_ = [s.numpy() for s in state["scales"]]
        self.network_ = NEATNetwork(self.config, self.units_, self.latent_dims_, self.likelihoods_)
        self.network_.load_state_dict(state["network"])
        self.network_.to(resolve_device(self.config.device)).eval()


def sweep(lambdas: Iterable[float], regions: Regions, *, verbose: bool = True, **settings: Any) -> dict[float, NEAT]:
    """Fit one NEAT per alignment weight, all else equal (same seed, same data).

    Parameters
    ----------
    lambdas : alignment weights, e.g. (0, 1, 100, 1000).
    regions : as in :meth:`NEAT.fit`.
    verbose : a progress bar over the lambdas.
    **settings : the other :class:`NEATConfig` settings (not ``lam``).

    Returns
    -------
    dict lambda -> fitted NEAT, in the given order.
    """
    if "lam" in settings:
        raise TypeError("sweep: pass the alignment weights as lambdas=, not lam=.")
    try:
        values = [positive_float(f"lambdas[{i}]", value, allow_zero=True) for i, value in enumerate(lambdas)]
    except TypeError:
        raise TypeError(f"lambdas: expected an iterable of numbers >= 0, got {describe(lambdas)}.") from None
    if not values:
        raise ValueError("lambdas: expected at least one alignment weight, got none.")
    settings.setdefault("verbose", False)
    config = NEATConfig(lam=values[0], **settings)
    models = {}
    for value in tqdm(values, desc="NEAT sweep", disable=not verbose, leave=False):
        models[value] = NEAT(config=dataclasses.replace(config, lam=value)).fit(regions)
    return models
