"""Sequence encoders: from per-bin inputs to a diagonal Gaussian posterior over latents per time bin."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class BiGRUEncoder(nn.Module):
    """Bidirectional GRU -> (mean, log-variance) of the latents in every time bin.

    Parameters
    ----------
    input_dim : features per bin.
    hidden_size : GRU units per direction.
    latent_dim : latent dimensions per bin.
    dropout : dropout on the GRU output.
    """

    def __init__(self, input_dim: int, hidden_size: int, latent_dim: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.gru = nn.GRU(input_dim, hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.to_posterior = nn.Linear(2 * hidden_size, 2 * latent_dim)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (trials, time, input_dim); lengths: optional (trials,) valid bins (ragged trials).

        Returns mean and log-variance, each (trials, time, latent_dim).

        A frozen encoder in eval mode can still pass gradients to its input (the aligners train a read-in
        through it); cuDNN's GRU refuses a backward pass outside training mode, so that case runs without it."""
        if not self.training and torch.is_grad_enabled() and x.is_cuda:
            cudnn = torch.backends.cudnn
            with cudnn.flags(enabled=False, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                             allow_tf32=cudnn.allow_tf32):
                hidden = self._recur(x, lengths)
        else:
            hidden = self._recur(x, lengths)
        mean, log_variance = self.to_posterior(self.dropout(hidden)).chunk(2, dim=-1)
        return mean, log_variance.clamp(-12.0, 6.0)

    def _recur(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        if lengths is not None and bool((lengths < x.shape[1]).any()):
            packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            hidden, _ = self.gru(packed)
            hidden, _ = pad_packed_sequence(hidden, batch_first=True, total_length=x.shape[1])
        else:
            hidden, _ = self.gru(x)
        return hidden
