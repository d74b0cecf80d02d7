"""The torch module of the GP-VAE / MM-GPVAE (equations in ``neuralign.models.gpvae``).

Latents are laid out as [shared (S) | private of modality 1 (p_1) | private of modality 2 (p_2) | ...]; each
modality m sees the block [shared, private_m]. Every latent has its own GP prior (``neuralign.nn.fourier``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional

from neuralign.nn.fourier import GP_PRIORS, GPFrame
from neuralign.nn.likelihoods import GaussianLikelihood

KINDS = ("poisson", "gaussian", "bernoulli")


@dataclass(frozen=True)
class Modality:
    """One observed modality: its name, likelihood kind and number of channels."""

    name: str
    kind: str
    dims: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {list(KINDS)} for modality {self.name!r}, got {self.kind!r}.")


@dataclass
class Posterior:
    """q over the GP coefficients, diagonal Gaussian: mean and variance (trials, latents, F) plus the frame."""

    mean: torch.Tensor
    variance: torch.Tensor
    frame: GPFrame

    def time_mean(self) -> torch.Tensor:
        """(trials, T, latents) posterior mean trajectories."""
        return self.frame.to_time(self.mean)

    def time_variance(self) -> torch.Tensor:
        """(trials, T, latents) posterior marginal variance per bin."""
        return self.frame.variance_to_time(self.variance)

    def time_sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One reparameterised draw, (trials, T, latents)."""
        noise = torch.randn(self.mean.shape, generator=generator).to(self.mean) if generator is not None \
            else torch.randn_like(self.mean)
        return self.frame.to_time(self.mean + self.variance.sqrt() * noise)


class BinEncoder(nn.Module):
    """Per-time-bin MLP: x_t -> a Gaussian pseudo-observation (mean, log precision) of each latent it sees."""

    def __init__(self, input_dim: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, 2 * latent_dim))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (trials, T, input_dim) -> mean, log precision, each (trials, T, latent_dim)."""
        mean, log_precision = self.net(x).chunk(2, dim=-1)
        return mean, log_precision.clamp(-10.0, 10.0)


class GPVAENetwork(nn.Module):
    """Encoders, GP prior, per-modality linear mixing and decoders.

    Parameters
    ----------
    modalities : the observed modalities, in order.
    shared_dim, private_dims : latents shared by all modalities, and private to each (one per modality).
    prior : "fourier" or "time"; prior_settings: keyword arguments of the prior class.
    encoder_hidden, decoder_hidden : MLP widths.
    """

    def __init__(self, modalities: list[Modality], shared_dim: int, private_dims: list[int], prior: str,
                 prior_settings: dict, encoder_hidden: int, decoder_hidden: int) -> None:
        super().__init__()
        self.modalities = list(modalities)
        self.shared_dim = shared_dim
        self.private_dims = list(private_dims)
        self.latent_dim = shared_dim + sum(private_dims)
        self.prior = GP_PRIORS[prior](self.latent_dim, **prior_settings)
        self.encoders, self.mixing, self.decoders = nn.ModuleDict(), nn.ModuleDict(), nn.ModuleDict()
        self.likelihoods = nn.ModuleDict()
        for modality, private in zip(self.modalities, self.private_dims, strict=True):
            seen = shared_dim + private
            self.encoders[modality.name] = BinEncoder(modality.dims, encoder_hidden, seen)
            self.mixing[modality.name] = nn.Linear(seen, seen, bias=False)
            if modality.kind == "poisson":
                self.decoders[modality.name] = nn.Linear(seen, modality.dims)
            else:
                self.decoders[modality.name] = nn.Sequential(
                    nn.Linear(seen, decoder_hidden), nn.ReLU(), nn.Linear(decoder_hidden, decoder_hidden),
                    nn.ReLU(), nn.Linear(decoder_hidden, modality.dims))
            if modality.kind == "gaussian":
                self.likelihoods[modality.name] = GaussianLikelihood(modality.dims)

    # --------------------------------------------------------------------------------------- latent blocks
    def block(self, name: str) -> list[int]:
        """Latent indices modality ``name`` sees: shared, then its private block."""
        index = [m.name for m in self.modalities].index(name)
        start = self.shared_dim + sum(self.private_dims[:index])
        return list(range(self.shared_dim)) + list(range(start, start + self.private_dims[index]))

    def private_block(self, name: str) -> list[int]:
        return self.block(name)[self.shared_dim:]

    # ------------------------------------------------------------------------------------------- posterior
    def experts(self, inputs: dict[str, torch.Tensor], mask: torch.Tensor) -> tuple[dict, GPFrame]:
        """Each observed modality's diagonal Gaussian expert over the coefficients of the latents it sees.

        inputs : name -> encoder input (trials, T, dims) for the modalities that are observed (any subset).
        mask : (trials, T) valid bins (padding bins carry no information).
        Returns ({name: (precision-weighted mean, precision)}, each (trials, seen, F)) and the prior's frame.
        """
        reference = next(iter(inputs.values()))
        frame = self.prior.frame(reference.shape[1], device=reference.device, dtype=reference.dtype)
        weights = mask.unsqueeze(-1).to(reference.dtype)
        out = {}
        for name, x in inputs.items():
            mean, log_precision = self.encoders[name](x)
            out[name] = frame.project_experts(mean, torch.exp(log_precision) * weights)
        return out, frame

    def posterior(self, experts: dict[str, tuple[torch.Tensor, torch.Tensor]], frame: GPFrame) -> Posterior:
        """Product of Gaussian experts in coefficient space: the prior's diagonal precision times the experts of
        the given modalities (a latent no given modality sees keeps its prior precision and zero mean)."""
        reference = next(iter(experts.values()))[1]
        precision = frame.prior_precision.unsqueeze(0).expand(reference.shape[0], -1, -1)
        natural = torch.zeros_like(precision)
        for name, (eta, lam) in experts.items():
            index = torch.as_tensor(self.block(name), device=eta.device)
            natural = natural.index_add(1, index, eta)
            precision = precision.index_add(1, index, lam)
        return Posterior(mean=natural / precision, variance=1.0 / precision, frame=frame)

    # -------------------------------------------------------------------------------------------- decoders
    def poisson_loading(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Effective loading (units, seen) = decoder weight @ mixing weight, and the bias (log mean rate)."""
        decoder = self.decoders[name]
        return decoder.weight @ self.mixing[name].weight, decoder.bias

    def expected_log_rate(self, name: str, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        """log E_q[exp(eta)] = E_q[eta] + Var_q[eta] / 2 per unit, (trials, T, units), from the block's
        (trials, T, seen) moments, with eta = L z + b: one product, [mean, var / 2] @ [L, L^2]^T + b."""
        loading, bias = self.poisson_loading(name)
        return torch.cat([mean, 0.5 * variance], dim=-1) @ torch.cat([loading, loading ** 2], dim=1).T + bias

    def decode(self, name: str, z: torch.Tensor) -> torch.Tensor:
        """Decoder output for latents z (trials, T, seen): log-rates, Gaussian means or Bernoulli logits."""
        return self.decoders[name](self.mixing[name](z))

    def expected_log_likelihood(self, modality: Modality, x: torch.Tensor, mask: torch.Tensor,
                                mean: torch.Tensor, variance: torch.Tensor, sample: torch.Tensor,
                                log_factorial: torch.Tensor | None = None) -> torch.Tensor:
        """E_q[log p(x | z)] per trial, (trials,).

        Poisson: closed form, E_q[exp(eta)] = exp(mean_eta + var_eta / 2) with eta linear in z. Gaussian and
        Bernoulli: the reparameterised sample ``sample`` through the MLP decoder. ``log_factorial``: sum over units
        of lgamma(x + 1) per bin, (trials, T), when precomputed (it is constant, so it is added once per bin rather
        than subtracted from every unit's term).
        """
        if modality.kind == "poisson":
            # sum_n x_n E[eta_n] - E[exp(eta_n)] - log(x_n!), with eta = L z + b: the first sum is taken through
            # the (seen,)-sized x @ L, so only one (trials, T, units) tensor, the expected rate, is formed per step
            # (this term dominated the fit time).
            loading, bias = self.poisson_loading(modality.name)
            log_factorial = torch.lgamma(x + 1.0).sum(-1) if log_factorial is None else log_factorial
            linear = ((x @ loading) * mean).sum(-1) + x @ bias
            rate = torch.exp(self.expected_log_rate(modality.name, mean, variance))
            per_bin = linear - rate.sum(-1) - log_factorial
            return (per_bin * mask.to(x.dtype)).sum(dim=1)
        valid = mask.unsqueeze(-1).to(x.dtype)
        output = self.decode(modality.name, sample)
        if modality.kind == "gaussian":
            return self.likelihoods[modality.name].log_prob(x, output, mask)
        values = -functional.binary_cross_entropy_with_logits(output, x, reduction="none")
        return (values * valid).sum(dim=(1, 2))

    def predict(self, modality: Modality, mean: torch.Tensor, variance: torch.Tensor) -> torch.Tensor:
        """Predicted observations from the block's posterior moments (trials, T, seen): expected counts per bin
        (Poisson, exact under q), decoder mean at the posterior mean (Gaussian) or probabilities (Bernoulli)."""
        if modality.kind == "poisson":
            return torch.exp(self.expected_log_rate(modality.name, mean, variance))
        output = self.decode(modality.name, mean)
        return torch.sigmoid(output) if modality.kind == "bernoulli" else output

    def init_poisson_bias(self, name: str, mean_counts: torch.Tensor) -> None:
        """Bias at the log mean rate, small loadings."""
        with torch.no_grad():
            self.decoders[name].bias.copy_(torch.log(mean_counts + 1e-3))
            self.decoders[name].weight.mul_(1.0 / math.sqrt(max(self.decoders[name].weight.shape[1], 1)))
