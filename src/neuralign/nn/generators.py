"""Generators: recurrent dynamical systems that produce latent factors from an initial state.

``GRUGenerator`` is LFADS's generator (Pandarinath et al. 2018): a GRU whose state evolves autonomously, or
driven by inferred inputs u_t,

    g_t = GRU(g_{t-1}, u_t),    f_t = W_f dropout(g_t)    (factors, no bias),

from an initial state g_0 given per trial. A GRU's update is a convex combination of its previous state and a
tanh, so states stay within max(|g_0|, 1) and need no clipping. Without inputs the whole trajectory is one GRU
call over a zero input; with inputs it can also be stepped one bin at a time (``step``), as a controller that
reads the previous factors needs.
"""

from __future__ import annotations

import torch
from torch import nn

from neuralign.nn.encoders import run_gru


class GRUGenerator(nn.Module):
    """GRU dynamics -> (states, factors) per time bin.

    Parameters
    ----------
    state_dim : generator units (g_t).
    factor_dim : factors (f_t), a linear map of the states.
    input_dim : size of the inputs u_t (0: autonomous).
    dropout : dropout on the states before the factor map.
    """

    def __init__(self, state_dim: int, factor_dim: int, input_dim: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.gru = nn.GRU(max(input_dim, 1), state_dim, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.to_factors = nn.Linear(state_dim, factor_dim, bias=False)

    @property
    def recurrent_weight(self) -> torch.Tensor:
        """The recurrent weights (3 state_dim, state_dim): what LFADS's L2 penalty acts on."""
        return self.gru.weight_hh_l0

    def forward(self, initial: torch.Tensor, n_time: int,
                inputs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """initial: (trials, state_dim); inputs: (trials, n_time, input_dim) or None when autonomous.

        Returns states (trials, n_time, state_dim) and factors (trials, n_time, factor_dim)."""
        if inputs is None:
            inputs = initial.new_zeros(initial.shape[0], n_time, max(self.input_dim, 1))
        elif inputs.shape[-1] != self.input_dim or inputs.shape[1] != n_time:
            raise ValueError(f"inputs: expected (trials, {n_time}, {self.input_dim}), got {tuple(inputs.shape)}.")
        states, _ = run_gru(self.gru, inputs, initial=initial.unsqueeze(0).contiguous())
        return states, self.factors(states)

    def step(self, state: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """One bin: state (trials, state_dim), inputs (trials, input_dim) -> next state (trials, state_dim)."""
        _, final = run_gru(self.gru, inputs.unsqueeze(1), initial=state.unsqueeze(0).contiguous())
        return final[0]

    def factors(self, states: torch.Tensor) -> torch.Tensor:
        """(..., state_dim) -> (..., factor_dim)."""
        return self.to_factors(self.dropout(states))
