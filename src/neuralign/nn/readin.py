"""Per-session layers: one linear map per recording session, the rest of the model shared.

Sessions differ in their units, so the map from units into the shared space (read-in) and from latents back to
units (read-out) is per session.
"""

from __future__ import annotations

import torch
from torch import nn


class PerSessionLinear(nn.Module):
    """A list of linear layers, one per session, applied along the last axis.

    Parameters
    ----------
    in_features : one input size per session (read-in: unit counts), or one int shared by all.
    out_features : one output size per session (read-out: unit counts), or one int shared by all.
    With two ints there is one session; two lists must have the same length.
    """

    def __init__(self, in_features: list[int] | int, out_features: list[int] | int) -> None:
        super().__init__()
        sizes = [len(x) for x in (in_features, out_features) if isinstance(x, list)]
        if len(set(sizes)) > 1:
            raise ValueError(f"in_features, out_features: expected one size per session in both lists, got "
                             f"{sizes[0]} and {sizes[1]} sessions.")
        n_sessions = sizes[0] if sizes else 1
        ins = in_features if isinstance(in_features, list) else [in_features] * n_sessions
        outs = out_features if isinstance(out_features, list) else [out_features] * n_sessions
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(ins, outs))

    def __len__(self) -> int:
        return len(self.layers)

    def add_session(self, in_features: int, out_features: int) -> int:
        """Append a layer for a new session; returns its index."""
        reference = self.layers[0].weight
        self.layers.append(nn.Linear(in_features, out_features).to(reference.device, reference.dtype))
        return len(self.layers) - 1

    def forward(self, x: torch.Tensor, session: int) -> torch.Tensor:
        """x: (..., in_features[session]) -> (..., out_features[session])."""
        return self.layers[session](x)
