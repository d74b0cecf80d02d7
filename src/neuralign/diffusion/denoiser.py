"""Spatio-temporal transformer denoiser over whole latent trajectories (ERDiff, section 1 of METHODS.md).

Every scalar z[b, t, i] of a noisy trajectory z_t: (batch, l, d) is one token of width w:

    h[b, t, i] = W_value z[b, t, i] + P_time[t] + P_latent[i] + E(tau[b]),

with learned positional embeddings of the time bin (P_time) and of the latent dimension (P_latent), and a
diffusion-step embedding E (sinusoidal features of the diffusion time tau -> MLP) added to every token. Each
block applies, with pre-layer-norm and residual connections,

    spatial:   h[b, t, :] <- h[b, t, :] + Attn(LN(h[b, t, :]))   (across the d latent tokens of one time bin)
    temporal:  h[b, :, i] <- h[b, :, i] + Attn(LN(h[b, :, i]))   (across the l time tokens of one latent dim)
    mlp:       h <- h + MLP(LN(h))                              (per token)

and a final LN + Linear(w -> 1) per token predicts the noise eps: (batch, l, d). ``spatial=False`` or
``temporal=False`` removes the corresponding layers (ablations). Attention is written out with matmuls rather
than a fused kernel so that it can be differentiated twice on every device (the likelihood bound
differentiates a vector-Jacobian product of the denoiser).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from neuralign._checks import describe, positive_int


def timestep_features(t: torch.Tensor, width: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal features of diffusion times t: (batch,) in [0, 1] -> (batch, width)."""
    half = width // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=t.dtype) / half)
    angles = 1000.0 * t[:, None] * frequencies[None, :]
    features = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
    if width % 2:
        features = torch.cat([features, torch.zeros_like(features[:, :1])], dim=-1)
    return features


class SelfAttention(nn.Module):
    """Multi-head self-attention over the second axis of x: (groups, tokens, width)."""

    def __init__(self, width: int, n_heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        groups, tokens, width = x.shape
        q, k, v = self.qkv(x).view(groups, tokens, 3, self.n_heads, width // self.n_heads).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), dim=-1)
        mixed = (self.dropout(weights) @ v).transpose(1, 2).reshape(groups, tokens, width)
        return self.out(mixed)


class SpatioTemporalBlock(nn.Module):
    """One block: optional spatial attention, optional temporal attention, MLP; on h: (batch, l, d, width)."""

    def __init__(self, width: int, n_heads: int, *, spatial: bool, temporal: bool, dropout: float) -> None:
        super().__init__()
        self.spatial_norm = nn.LayerNorm(width) if spatial else None
        self.spatial = SelfAttention(width, n_heads, dropout) if spatial else None
        self.temporal_norm = nn.LayerNorm(width) if temporal else None
        self.temporal = SelfAttention(width, n_heads, dropout) if temporal else None
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(2 * width, width))
        self.dropout = nn.Dropout(dropout)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        batch, n_time, n_latent, width = h.shape
        if self.spatial is not None:  # tokens of one time bin attend to each other
            x = self.spatial_norm(h).reshape(batch * n_time, n_latent, width)
            h = h + self.dropout(self.spatial(x)).reshape(batch, n_time, n_latent, width)
        if self.temporal is not None:  # tokens of one latent dimension attend to each other
            x = self.temporal_norm(h).transpose(1, 2).reshape(batch * n_latent, n_time, width)
            update = self.dropout(self.temporal(x)).reshape(batch, n_latent, n_time, width).transpose(1, 2)
            h = h + update
        return h + self.dropout(self.mlp(self.mlp_norm(h)))


class SpatioTemporalDenoiser(nn.Module):
    """Noise-prediction network eps_theta(z_t, t) over latent trajectories.

    Parameters
    ----------
    n_time : number of time bins l of a trajectory.
    latent_dim : number of latent dimensions d.
    width : token width (divisible by ``n_heads``).
    n_blocks : number of spatio-temporal blocks.
    n_heads : attention heads.
    spatial, temporal : include the spatial / temporal attention layers.
    dropout : dropout rate in attention and MLP layers.
    """

    def __init__(self, n_time: int, latent_dim: int, *, width: int = 32, n_blocks: int = 2, n_heads: int = 4,
                 spatial: bool = True, temporal: bool = True, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_time = positive_int("n_time", n_time)
        self.latent_dim = positive_int("latent_dim", latent_dim)
        self.width = positive_int("width", width)
        positive_int("n_blocks", n_blocks, minimum=0)
        positive_int("n_heads", n_heads)
        if width % n_heads:
            raise ValueError(f"width: expected a multiple of n_heads ({n_heads}), got {width}.")
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout: expected a number in [0, 1), got {dropout!r}.")
        self.spatial, self.temporal = bool(spatial), bool(temporal)
        self.value_embedding = nn.Linear(1, width)
        self.time_embedding = nn.Parameter(0.1 * torch.randn(n_time, width))
        self.latent_embedding = nn.Parameter(0.1 * torch.randn(latent_dim, width))
        self.step_embedding = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.blocks = nn.ModuleList(
            SpatioTemporalBlock(width, n_heads, spatial=spatial, temporal=temporal, dropout=dropout)
            for _ in range(n_blocks))
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, 1)

    def extra_repr(self) -> str:
        return (f"n_time={self.n_time}, latent_dim={self.latent_dim}, spatial={self.spatial}, "
                f"temporal={self.temporal}")

    def forward(self, z_t: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """Predict the noise in ``z_t``.

        Parameters
        ----------
        z_t : (batch, l, d) noisy trajectories.
        t : (batch,) diffusion times in [0, 1] (a scalar is broadcast over the batch).

        Returns
        -------
        (batch, l, d) predicted noise eps_theta(z_t, t).
        """
        check_trajectories("z_t", z_t, self.n_time, self.latent_dim)
        batch = z_t.shape[0]
        t = torch.as_tensor(t, device=z_t.device, dtype=z_t.dtype)
        if t.ndim == 0:
            t = t.expand(batch)
        if t.shape != (batch,):
            raise ValueError(f"t: expected shape ({batch},) (one diffusion time per trajectory), "
                             f"got {tuple(t.shape)}.")
        step = self.step_embedding(timestep_features(t, self.width))
        h = (self.value_embedding(z_t.unsqueeze(-1)) + self.time_embedding[None, :, None, :]
             + self.latent_embedding[None, None, :, :] + step[:, None, None, :])
        for block in self.blocks:
            h = block(h)
        return self.out(self.out_norm(h)).squeeze(-1)


def check_trajectories(name: str, z: object, n_time: int, latent_dim: int) -> torch.Tensor:
    """Check that ``z`` is a floating tensor of shape (batch, n_time, latent_dim)."""
    if not isinstance(z, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor of shape (batch, {n_time}, {latent_dim}), "
                        f"got {describe(z)}.")
    if z.ndim != 3:
        raise ValueError(f"{name}: expected 3 dimensions (batch, time, latent) = (batch, {n_time}, {latent_dim}), "
                         f"got {describe(z)}.")
    if tuple(z.shape[1:]) != (n_time, latent_dim):
        raise ValueError(f"{name}: expected (batch, time, latent) = (batch, {n_time}, {latent_dim}) to match the "
                         f"denoiser, got {describe(z)}; the diffusion model was built for {n_time} time bins "
                         f"and {latent_dim} latent dimensions.")
    if not z.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got {describe(z)}.")
    return z
