"""Posterior-combination strategies of :class:`neuralign.models.multimodal.MultimodalVAE`.

Each modality m has an encoder giving a Gaussian expert N(mu_m(x_m), sigma_m^2(x_m)) per time bin and latent
dimension, and a decoder p(x_m | z). A strategy turns the experts of the observed modalities into a posterior,
a training objective, posterior latents for decoding, prior samples and importance weights.

    PoE (MVAE)      q(z | X_S) ∝ N(0, I) prod_{m in S} q_m;  loss = -ELBO(X) - sum_m ELBO(x_m)   (subset ELBOs:
                    each reconstructs its own modalities)
    MoE (MMVAE)     q(z | X) = (1/M) sum_m q_m;  loss = -(1/M) sum_m E_{q_m}[log p(X | z) + log p(z) - log q(z | X)]
    MoPoE           q(z | X) = mean over non-empty subsets S of PoE(X_S);
                    loss = -mean_S (E_{q_S}[log p(X | z)] - KL(q_S || p))  (the mixture's KL by its components')
    POISE           one latent per modality, coupled prior (``neuralign.nn.poise``); expert (mu, sigma^2) enters as
                    the natural-parameter increment (mu / sigma^2, -1 / (2 sigma^2)); Gibbs samples; KL gradient by
                    the estimator documented in ``nn.poise`` (or the exact quadrature KL, ``kl_estimator``).

Missing modalities (``observed`` = 0 for a trial) drop out of every product, mixture and reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from neuralign.nn import poise
from neuralign.nn.fusion import (Expert, gaussian_kl, mixture_log_prob, nonempty_subsets, normal_log_prob,
                                 product_of_experts, reparameterise)


@dataclass
class FusionInput:
    """What a strategy sees of one minibatch.

    experts : name -> (mean, log-variance), each (trials, time, d).
    observed : name -> (trials,) 1.0 where the modality is observed, 0.0 where missing.
    mask : (trials, time) valid bins.
    log_likelihood : (name, z) -> (trials,) log p(x_name | z) summed over valid bins and channels.
    weights : name -> likelihood weight used in training (1 everywhere for evaluation).
    """

    experts: dict[str, Expert]
    observed: dict[str, torch.Tensor]
    mask: torch.Tensor
    log_likelihood: Callable[[str, torch.Tensor], torch.Tensor]
    weights: dict[str, float]

    def bins(self, values: torch.Tensor) -> torch.Tensor:
        """(trials, time, d) -> (trials,) sum over valid bins and dims."""
        return (values * self.mask.unsqueeze(-1).to(values.dtype)).sum(dim=(1, 2))

    def reconstruction(self, latents: dict[str, torch.Tensor], names: list[str] | None = None,
                       weighted: bool = True) -> torch.Tensor:
        total = 0.0
        for name in names if names is not None else list(self.experts):
            weight = self.weights[name] if weighted else 1.0
            total = total + weight * self.observed[name] * self.log_likelihood(name, latents[name])
        return total


def _generator_normal(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.randn(shape, dtype=like.dtype, device=like.device)
    return torch.randn(shape, generator=generator, dtype=like.dtype).to(like.device)


class GaussianStrategy(nn.Module):
    """Shared latent, posterior = a mixture of Gaussian components (one component for PoE)."""

    name = ""
    shared = True

    def components(self, batch: FusionInput) -> tuple[list[Expert], torch.Tensor]:
        """The posterior's components and their weights (trials, C), summing to 1 per trial."""
        raise NotImplementedError

    def training_loss(self, batch: FusionInput, beta: float) -> torch.Tensor:
        raise NotImplementedError

    def posterior_latents(self, batch: FusionInput, *, sample: bool,
                          generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        components, weights = self.components(batch)
        if not sample:
            z = sum(w.view(-1, 1, 1) * mean for (mean, _), w in zip(components, weights.unbind(1), strict=True))
        else:
            z = self._sample(components, weights, generator)
        return {name: z for name in batch.experts}

    def _sample(self, components: list[Expert], weights: torch.Tensor,
                generator: torch.Generator | None) -> torch.Tensor:
        choice = torch.multinomial(weights.detach().cpu(), 1, generator=generator).squeeze(1).to(weights.device)
        means = torch.stack([mean for mean, _ in components], dim=1)
        log_variances = torch.stack([log_variance for _, log_variance in components], dim=1)
        index = torch.arange(means.shape[0], device=means.device)
        return reparameterise(means[index, choice], log_variances[index, choice], generator)

    def prior_latents(self, names: list[str], n: int, n_time: int, latent_dim: int, like: torch.Tensor,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        z = _generator_normal((n, n_time, latent_dim), like, generator)
        return {name: z for name in names}

    def log_weight(self, batch: FusionInput, generator: torch.Generator | None = None) -> torch.Tensor:
        """One importance sample from q: log p(X | z) + log p(z) - log q(z | X), (trials,)."""
        components, weights = self.components(batch)
        z = self._sample(components, weights, generator)
        log_prior = batch.bins(normal_log_prob(z, torch.zeros_like(z), torch.zeros_like(z)))
        log_q = mixture_log_prob(z, components, weights, batch.mask)
        return batch.reconstruction({name: z for name in batch.experts}, weighted=False) + log_prior - log_q


class ProductOfExperts(GaussianStrategy):
    """MVAE: product of experts with the prior expert; trained on the joint ELBO and each modality's ELBO."""

    name = "poe"

    def components(self, batch: FusionInput) -> tuple[list[Expert], torch.Tensor]:
        names = list(batch.experts)
        joint = product_of_experts([batch.experts[n] for n in names], [batch.observed[n] for n in names])
        return [joint], torch.ones(joint[0].shape[0], 1, device=joint[0].device, dtype=joint[0].dtype)

    def training_loss(self, batch: FusionInput, beta: float) -> torch.Tensor:
        names = list(batch.experts)
        subsets = [tuple(names)] + ([(n,) for n in names] if len(names) > 1 else [])
        loss = 0.0
        for subset in subsets:
            weights = [batch.observed[n] if n in subset else torch.zeros_like(batch.observed[n]) for n in names]
            valid = (torch.stack(weights, 1).sum(1) > 0).to(batch.mask.dtype)
            mean, log_variance = product_of_experts([batch.experts[n] for n in names], weights)
            z = reparameterise(mean, log_variance)
            elbo = (batch.reconstruction({n: z for n in names}, list(subset))
                    - beta * batch.bins(gaussian_kl(mean, log_variance)))
            loss = loss - valid * elbo
        return loss


class MixtureOfExperts(GaussianStrategy):
    """MMVAE: uniform mixture of the observed modalities' experts; stratified ELBO over the components."""

    name = "moe"

    def components(self, batch: FusionInput) -> tuple[list[Expert], torch.Tensor]:
        names = list(batch.experts)
        observed = torch.stack([batch.observed[n] for n in names], 1)
        return [batch.experts[n] for n in names], observed / observed.sum(1, keepdim=True).clamp_min(1.0)

    def training_loss(self, batch: FusionInput, beta: float) -> torch.Tensor:
        components, weights = self.components(batch)
        elbo = 0.0
        for (mean, log_variance), weight in zip(components, weights.unbind(1), strict=True):
            z = reparameterise(mean, log_variance)
            log_prior = batch.bins(normal_log_prob(z, torch.zeros_like(z), torch.zeros_like(z)))
            log_q = mixture_log_prob(z, components, weights, batch.mask)
            term = batch.reconstruction({n: z for n in batch.experts}) + beta * (log_prior - log_q)
            elbo = elbo + weight * term
        return -elbo


class MixtureOfProducts(GaussianStrategy):
    """MoPoE: uniform mixture over the non-empty subsets of observed modalities of their products of experts."""

    name = "mopoe"

    def components(self, batch: FusionInput) -> tuple[list[Expert], torch.Tensor]:
        names = list(batch.experts)
        components, valid = [], []
        for subset in nonempty_subsets(names):
            weights = [batch.observed[n] if n in subset else torch.zeros_like(batch.observed[n]) for n in names]
            components.append(product_of_experts([batch.experts[n] for n in names], weights))
            valid.append(torch.stack([batch.observed[n] for n in subset], 1).prod(1))
        valid_tensor = torch.stack(valid, 1)
        return components, valid_tensor / valid_tensor.sum(1, keepdim=True).clamp_min(1.0)

    def training_loss(self, batch: FusionInput, beta: float) -> torch.Tensor:
        components, weights = self.components(batch)
        elbo = 0.0
        for (mean, log_variance), weight in zip(components, weights.unbind(1), strict=True):
            z = reparameterise(mean, log_variance)
            term = (batch.reconstruction({n: z for n in batch.experts})
                    - beta * batch.bins(gaussian_kl(mean, log_variance)))
            elbo = elbo + weight * term
        return -elbo


class Poise(nn.Module):
    """POISE-VAE: one latent per modality (exactly two modalities), coupled by the energy-based prior."""

    name = "poise"
    shared = False

    def __init__(self, latent_dim: int, gibbs_steps: int = 5, kl_estimator: str = "gibbs") -> None:
        super().__init__()
        self.coupling = poise.PoiseCoupling(latent_dim)
        self.gibbs_steps = gibbs_steps
        self.kl_estimator = kl_estimator

    def naturals(self, batch: FusionInput) -> poise.Naturals:
        (first, second) = list(batch.experts)
        increments = []
        for name in (first, second):
            lambda_1, lambda_2 = poise.expert_increments(*batch.experts[name])
            observed = batch.observed[name].view(-1, 1, 1)
            increments.append((lambda_1 * observed, lambda_2 * observed))
        return poise.naturals(increments[0], increments[1], batch.experts[first][0])

    def training_loss(self, batch: FusionInput, beta: float) -> torch.Tensor:
        first, second = list(batch.experts)
        nat, g = self.naturals(batch), self.coupling()
        z, zp = poise.gibbs(nat, g, self.gibbs_steps)
        reconstruction = batch.reconstruction({first: z, second: zp})
        if self.training and self.kl_estimator == "gibbs":
            statistics = poise.prior_coupling_statistics(g, n_steps=2 * self.gibbs_steps + 10)
            kl = poise.kl_surrogate(nat, g, z, zp, statistics)
        else:  # exact values (validation) or the quadrature estimator
            kl = poise.kl_exact(nat, g, samples_zp=zp.detach().unsqueeze(-1))
        return -(reconstruction - beta * batch.bins(kl))

    def _chains(self, batch: FusionInput, n_chains: int, generator: torch.Generator | None):
        nat, g = self.naturals(batch), self.coupling()
        expanded = poise.Naturals(*(p.unsqueeze(-1).expand(*p.shape, n_chains) for p in nat))
        wide = poise.Coupling(*(c.unsqueeze(-1) for c in g))
        z, zp = poise.gibbs(expanded, wide, 4 * self.gibbs_steps + 10, generator=generator)
        return nat, g, z, zp

    def posterior_latents(self, batch: FusionInput, *, sample: bool,
                          generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        first, second = list(batch.experts)
        if sample:
            nat, g, z, zp = self._chains(batch, 1, generator)
            return {first: z[..., 0], second: zp[..., 0]}
        nat, g, _, zp = self._chains(batch, 8, generator)
        moments = poise.quadrature(nat, g, samples_zp=zp)
        return {first: moments.mean_z, second: moments.mean_zp}

    def prior_latents(self, names: list[str], n: int, n_time: int, latent_dim: int, like: torch.Tensor,
                      generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        shape_like = torch.zeros(n, n_time, latent_dim, dtype=like.dtype, device=like.device)
        z, zp = poise.gibbs(poise.prior_naturals(shape_like), self.coupling(), 50, generator=generator)
        return {names[0]: z, names[1]: zp}

    def log_weight(self, batch: FusionInput, generator: torch.Generator | None = None) -> torch.Tensor:
        """One importance sample (z, z') from Gibbs chains of q (approximately q-distributed); exact densities."""
        first, second = list(batch.experts)
        nat, g, z, zp = self._chains(batch, 1, generator)
        z, zp = z[..., 0], zp[..., 0]
        log_q_normalizer = poise.quadrature(nat, g, samples_zp=zp.unsqueeze(-1)).log_normalizer
        prior_nat = poise.prior_naturals(z)
        log_p = poise.log_density_unnormalised(prior_nat, g, z, zp) - poise.prior_log_normalizer(g)
        log_q = poise.log_density_unnormalised(nat, g, z, zp) - log_q_normalizer
        return batch.reconstruction({first: z, second: zp}, weighted=False) + batch.bins(log_p - log_q)


    @torch.no_grad()
    def mixing(self, batch: FusionInput | None, n_sweeps: int, generator: torch.Generator | None = None,
               like: torch.Tensor | None = None) -> tuple[float, float]:
        """Mean effective sample size per Gibbs sweep of z and of z' over the chains (one per trial, bin and
        dimension) of q given ``batch``, or of the prior when ``batch`` is None (chains shaped like ``like``)."""
        nat = self.naturals(batch) if batch is not None else poise.prior_naturals(like)
        trace_z, trace_zp = poise.gibbs_trace(nat, self.coupling(), n_sweeps, generator=generator)
        return (float(poise.effective_sample_size_per_step(trace_z).mean()),
                float(poise.effective_sample_size_per_step(trace_zp).mean()))

    def kl_gradient_check(self, batch: FusionInput, n_draws: int,
                          generator: torch.Generator | None = None) -> dict[str, float]:
        """:func:`neuralign.nn.poise.kl_gradient_check` at this batch's posterior and the learned coupling."""
        with torch.no_grad():
            nat, g = self.naturals(batch), self.coupling()
        return poise.kl_gradient_check(nat, g, gibbs_steps=self.gibbs_steps, n_draws=n_draws, generator=generator)


STRATEGIES: dict[str, type[nn.Module]] = {"poe": ProductOfExperts, "moe": MixtureOfExperts,
                                          "mopoe": MixtureOfProducts, "poise": Poise}
