"""Sequence encoders: from per-bin inputs to a diagonal Gaussian posterior over latents per time bin
(``BiGRUEncoder``) or over one vector per trial (``FinalStateEncoder``), and ``run_gru``, the GRU call they share."""

from __future__ import annotations

import math

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

        Returns mean and log-variance, each (trials, time, latent_dim)."""
        hidden, _ = run_gru(self.gru, x, lengths)
        mean, log_variance = self.to_posterior(self.dropout(hidden)).chunk(2, dim=-1)
        return mean, log_variance.clamp(-12.0, 6.0)


class FinalStateEncoder(nn.Module):
    """Bidirectional GRU over a trial -> a diagonal Gaussian over one vector per trial (LFADS's initial condition
    g0), read from the final states of both directions.

    Parameters
    ----------
    input_dim : features per bin.
    hidden_size : GRU units per direction.
    output_dim : size of the inferred vector.
    dropout : dropout on the final states.
    min_variance : floor of the posterior variance (lfads-torch's ``ic_post_var_min``).
    """

    def __init__(self, input_dim: int, hidden_size: int, output_dim: int, dropout: float = 0.0,
                 min_variance: float = 1e-4) -> None:
        super().__init__()
        self.gru = nn.GRU(input_dim, hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.to_posterior = nn.Linear(2 * hidden_size, 2 * output_dim)
        self.log_min_variance = math.log(min_variance)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (trials, time, input_dim) -> mean and log-variance, each (trials, output_dim).

        With ``lengths``, the forward direction's final state is read at each trial's last valid bin."""
        _, final = run_gru(self.gru, x, lengths)  # (2, trials, hidden): forward and backward final states
        states = torch.cat([final[0], final[1]], dim=-1)
        mean, log_variance = self.to_posterior(self.dropout(states)).chunk(2, dim=-1)
        variance = torch.exp(log_variance.clamp(max=6.0)) + math.exp(self.log_min_variance)
        return mean, torch.log(variance)


def run_gru(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor | None = None,
            initial: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``gru`` (batch_first) over x: (trials, time, features) -> outputs (trials, time, out) and final states
    (layers * directions, trials, hidden); trials shorter than ``lengths`` are packed so that padding never
    enters a state.

    A frozen GRU in eval mode can still pass gradients to its input (the aligners train a read-in through it);
    cuDNN's GRU refuses a backward pass outside training mode, so that case runs without cuDNN."""
    if not gru.training and torch.is_grad_enabled() and x.is_cuda:
        cudnn = torch.backends.cudnn
        with cudnn.flags(enabled=False, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                         allow_tf32=cudnn.allow_tf32):
            return _recur(gru, x, lengths, initial)
    return _recur(gru, x, lengths, initial)


def _recur(gru: nn.GRU, x: torch.Tensor, lengths: torch.Tensor | None,
           initial: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    if lengths is not None and bool((lengths < x.shape[1]).any()):
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, final = gru(packed, initial)
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=x.shape[1])
        return output, final
    return gru(x, initial)
