"""The torch module of :class:`neuralign.models.ndt2.NDT2`: patch tokens, context tokens, MAE-style masking, the
transformer encoder and decoder, and the masked-token Poisson loss.

Shapes: B trials, T time bins, U units, P = ``patch_size`` units per patch, n = ceil(U / P) patches, N = T * n
tokens (time-major: token t * n + p is bin t, patch p), d = ``d_model``, C = 2 context tokens (session, subject).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

N_CONTEXT_TOKENS = 2  # session, subject


def patch_count(n_units: int, patch_size: int) -> int:
    """Patches that hold ``n_units`` units (the last one padded with zeros)."""
    return math.ceil(n_units / patch_size)


def patchify(counts: torch.Tensor, patch_size: int) -> torch.Tensor:
    """counts (B, T, U) -> (B, T, n, P), the unit axis padded with zeros up to n * P."""
    n_units = counts.shape[-1]
    padding = patch_count(n_units, patch_size) * patch_size - n_units
    padded = nn.functional.pad(counts, (0, padding))
    return padded.reshape(*counts.shape[:-1], -1, patch_size)


def unit_mask(n_units: int, patch_size: int, device: Any = None) -> torch.Tensor:
    """(n, P) bool: True on real units, False on the zero padding of the last patch."""
    n_patches = patch_count(n_units, patch_size)
    return (torch.arange(n_patches * patch_size, device=device) < n_units).reshape(n_patches, patch_size)


def draw_token_mask(valid: torch.Tensor, mask_ratio: float,
                    generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each trial's valid tokens at random into visible and masked ones.

    valid : (B, N) bool (False on the bins past a ragged trial's length).
    Returns (visible, masked), both (B, N) bool and disjoint, covering the valid tokens; a trial with v valid tokens
    has round(mask_ratio * v) masked ones, at least one, and at least one visible when v > 1.
    """
    noise = torch.rand(valid.shape, generator=generator, device="cpu" if generator is not None else valid.device)
    noise = noise.to(valid.device).masked_fill(~valid, 2.0)  # invalid tokens rank last
    rank = noise.argsort(dim=1).argsort(dim=1)
    n_valid = valid.sum(dim=1)
    n_masked = torch.round(mask_ratio * n_valid.float()).long().clamp(min=1)
    n_masked = torch.minimum(n_masked, (n_valid - 1).clamp(min=1))
    visible = rank < (n_valid - n_masked).unsqueeze(1)
    return visible, valid & ~visible


def masked_poisson_nll(log_rates: torch.Tensor, counts: torch.Tensor, token_weight: torch.Tensor,
                       units: torch.Tensor, *, constant: bool = False) -> torch.Tensor:
    """Mean Poisson negative log-likelihood over the scored (token, real unit) entries.

    log_rates, counts : (B, T, n, P) in patch layout; token_weight : (B, T, n) bool, the tokens scored (the masked
    ones in training); units : (n, P) bool, the real units (padding excluded). Per entry exp(l) - y l, plus
    log(y!) when ``constant`` (then it is a proper negative log-probability).
    """
    weight = (token_weight.unsqueeze(-1) & units).to(log_rates.dtype)
    values = torch.exp(log_rates) - counts * log_rates
    if constant:
        values = values + torch.lgamma(counts + 1.0)
    return (values * weight).sum() / weight.sum().clamp(min=1.0)


class PatchLinear(nn.Module):
    """One linear map per patch position: (..., n, in) -> (..., n, out)."""

    def __init__(self, n_patches: int, in_features: int, out_features: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)  # nn.Linear's initialisation
        self.weight = nn.Parameter(torch.empty(n_patches, in_features, out_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n_patches, out_features).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...pi,pio->...po", x, self.weight) + self.bias


class StandardisedLinear(nn.Module):
    """A linear map of z-scored inputs, (x - mean) / std, with the statistics fixed (buffers, not trained):
    ``standardise_on`` sets them from example inputs (a decoder on features whose spread is small next to their
    offset learns in few steps)."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.register_buffer("mean", torch.zeros(in_features))
        self.register_buffer("std", torch.ones(in_features))

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    @torch.no_grad()
    def standardise_on(self, inputs: torch.Tensor) -> None:
        """inputs: (samples, in_features)."""
        self.mean.copy_(inputs.mean(0))
        self.std.copy_(inputs.std(0, unbiased=False) + 1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.std)


def _transformer(d_model: int, n_heads: int, n_layers: int, ff_multiplier: int, dropout: float) -> nn.Module:
    layer = nn.TransformerEncoderLayer(d_model, n_heads, ff_multiplier * d_model, dropout, batch_first=True,
                                       norm_first=True)
    return nn.TransformerEncoder(layer, n_layers, norm=nn.LayerNorm(d_model), enable_nested_tensor=False)


class NDT2Network(nn.Module):
    """Patch embedding, context tokens, encoder, decoder and read-out of NDT2.

    Parameters
    ----------
    config : an ``NDT2Config``.
    units : unit count per session context.
    session_subjects : the subject index of each session context.
    n_subjects : subject contexts.
    head_outputs : outputs of the supervised head (velocity dims or classes); 0 for none.
    """

    def __init__(self, config: Any, units: list[int], session_subjects: list[int], n_subjects: int,
                 head_outputs: int = 0) -> None:
        super().__init__()
        d, size = config.d_model, config.patch_size
        self.patch_size, self.per_session = size, config.patch_embedding == "per_session"
        self.session_subjects = list(session_subjects)
        self.read_in, self.read_out = nn.ModuleList(), nn.ModuleList()
        if self.per_session:
            for n_units in units:
                self._add_read_in_out(n_units, d)
        else:  # one linear embedding of P counts, shared by every patch position and session
            self.read_in.append(nn.Linear(size, d))
            self.read_out.append(nn.Linear(d, size))
        self.time_embedding = nn.Embedding(config.max_time_bins, d)
        self.patch_embedding = nn.Embedding(config.max_patches, d)
        self.session_tokens = nn.ParameterList([self._new_token(d) for _ in units])
        self.subject_tokens = nn.ParameterList([self._new_token(d) for _ in range(n_subjects)])
        sizes = (config.n_heads, config.ff_multiplier, config.dropout)
        self.encoder = _transformer(d, sizes[0], config.encoder_layers, sizes[1], sizes[2])
        self.decoder_in = nn.Linear(d, d)
        self.mask_token = nn.Parameter(torch.zeros(d))
        self.decoder = _transformer(d, sizes[0], config.decoder_layers, sizes[1], sizes[2])
        self.head = StandardisedLinear(d, head_outputs) if head_outputs else None

    @staticmethod
    def _new_token(d_model: int) -> nn.Parameter:
        return nn.Parameter(0.02 * torch.randn(d_model))

    def _add_read_in_out(self, n_units: int, d_model: int) -> None:
        n_patches = patch_count(n_units, self.patch_size)
        self.read_in.append(PatchLinear(n_patches, self.patch_size, d_model))
        self.read_out.append(PatchLinear(n_patches, d_model, self.patch_size))

    def add_session(self, n_units: int, subject: int) -> list[nn.Parameter]:
        """Append a session context (and its read-in and read-out when per session); returns the new parameters.

        The new session token starts at the mean of the existing ones."""
        reference = self.mask_token
        with torch.no_grad():
            token = torch.stack(list(self.session_tokens)).mean(0).clone()
        self.session_tokens.append(nn.Parameter(token))
        self.session_subjects.append(subject)
        new = [self.session_tokens[-1]]
        if self.per_session:
            self._add_read_in_out(n_units, reference.shape[0])
            self.read_in[-1].to(reference.device, reference.dtype)
            self.read_out[-1].to(reference.device, reference.dtype)
            new += list(self.read_in[-1].parameters()) + list(self.read_out[-1].parameters())
        return new

    def add_subject(self) -> nn.Parameter:
        """Append a subject context starting at the mean of the existing ones; returns it."""
        with torch.no_grad():
            token = torch.stack(list(self.subject_tokens)).mean(0).clone()
        self.subject_tokens.append(nn.Parameter(token))
        return self.subject_tokens[-1]

    # ----------------------------------------------------------------------------------------- tokens
    def tokens(self, counts: torch.Tensor, session: int) -> tuple[torch.Tensor, torch.Tensor]:
        """counts (B, T, U) -> (tokens (B, N, d) with time and patch embeddings, positions (N, d))."""
        patches = patchify(torch.log1p(counts), self.patch_size)
        n_time, n_patches = patches.shape[1], patches.shape[2]
        read_in = self.read_in[session if self.per_session else 0]
        device = counts.device
        position = (self.time_embedding(torch.arange(n_time, device=device))[:, None]
                    + self.patch_embedding(torch.arange(n_patches, device=device))[None])
        embedded = read_in(patches) + position
        return embedded.flatten(1, 2), position.flatten(0, 1)

    def context(self, session: int, n_trials: int) -> torch.Tensor:
        """(B, C, d): the session and subject tokens of ``session``."""
        subject = self.subject_tokens[self.session_subjects[session]]
        return torch.stack([self.session_tokens[session], subject]).expand(n_trials, -1, -1)

    # ---------------------------------------------------------------------------------------- passes
    def encode(self, tokens: torch.Tensor, visible: torch.Tensor,
               context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encoder over the context tokens and the visible tokens only.

        tokens (B, N, d), visible (B, N) bool, context (B, C, d) -> (outputs (B, N, d), zero at hidden tokens;
        context outputs (B, C, d))."""
        n_trials, n_tokens, d = tokens.shape
        order = torch.argsort((~visible).to(torch.int8), dim=1, stable=True)  # visible first, in order
        n_visible = visible.sum(dim=1)
        kept = order[:, :int(n_visible.max())]
        padding = torch.arange(kept.shape[1], device=tokens.device)[None] >= n_visible[:, None]
        gathered = tokens.gather(1, kept.unsqueeze(-1).expand(-1, -1, d))
        key_padding = torch.cat([padding.new_zeros(n_trials, context.shape[1]), padding], dim=1)
        out = self.encoder(torch.cat([context, gathered], dim=1), src_key_padding_mask=key_padding)
        context_out, token_out = out[:, :context.shape[1]], out[:, context.shape[1]:]
        token_out = token_out.masked_fill(padding.unsqueeze(-1), 0.0)
        full = tokens.new_zeros(n_trials, n_tokens, d).scatter(1, kept.unsqueeze(-1).expand(-1, -1, d), token_out)
        return full, context_out

    def decode(self, encoded: torch.Tensor, context_out: torch.Tensor, visible: torch.Tensor, valid: torch.Tensor,
               position: torch.Tensor, session: int, n_time: int) -> torch.Tensor:
        """Decoder over every token (encoder outputs where visible, the mask token elsewhere) -> log-rates
        (B, T, n, P)."""
        queries = torch.where(visible.unsqueeze(-1), self.decoder_in(encoded), self.mask_token) + position
        sequence = torch.cat([self.decoder_in(context_out), queries], dim=1)
        key_padding = torch.cat([valid.new_zeros(valid.shape[0], context_out.shape[1]), ~valid], dim=1)
        out = self.decoder(sequence, src_key_padding_mask=key_padding)[:, context_out.shape[1]:]
        out = out.reshape(out.shape[0], n_time, -1, out.shape[-1])
        return self.read_out[session if self.per_session else 0](out)

    def features(self, counts: torch.Tensor, mask: torch.Tensor, session: int) -> torch.Tensor:
        """Unmasked encoder outputs averaged over patches: (B, T, d), zero on padding bins."""
        tokens, _ = self.tokens(counts, session)
        n_patches = patch_count(counts.shape[-1], self.patch_size)
        valid = mask.repeat_interleave(n_patches, dim=1)
        encoded, _ = self.encode(tokens, valid, self.context(session, counts.shape[0]))
        per_bin = encoded.reshape(counts.shape[0], counts.shape[1], n_patches, -1).mean(2)
        return per_bin * mask.unsqueeze(-1).to(per_bin.dtype)

    def masked_reconstruction(self, counts: torch.Tensor, mask: torch.Tensor, session: int, mask_ratio: float,
                              generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """One MAE pass: draw the token mask, encode the visible tokens, decode every token.

        Returns ``log_rates`` (B, T, n, P), ``counts`` (B, T, n, P), ``masked`` (B, T, n) bool, ``units`` (n, P)."""
        n_trials, n_time, n_units = counts.shape
        n_patches = patch_count(n_units, self.patch_size)
        tokens, position = self.tokens(counts, session)
        valid = mask.repeat_interleave(n_patches, dim=1)
        visible, masked = draw_token_mask(valid, mask_ratio, generator)
        encoded, context_out = self.encode(tokens, visible, self.context(session, n_trials))
        log_rates = self.decode(encoded, context_out, visible, valid, position, session, n_time)
        return {"log_rates": log_rates, "counts": patchify(counts, self.patch_size),
                "masked": masked.reshape(n_trials, n_time, n_patches),
                "units": unit_mask(n_units, self.patch_size, counts.device)}
