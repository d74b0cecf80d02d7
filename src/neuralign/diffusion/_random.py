"""Random draws that follow a reference tensor's device and dtype and accept an optional torch.Generator.

A generator lives on one device; draws are made there and moved to the reference tensor's device, so a CPU
generator gives the same numbers whatever device the model runs on.
"""

from __future__ import annotations

import torch


def _source_device(like: torch.Tensor, generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else like.device


def randn(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Standard normal draws of ``shape`` on ``like``'s device and dtype."""
    draws = torch.randn(shape, generator=generator, device=_source_device(like, generator), dtype=like.dtype)
    return draws.to(like.device)


def rand(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Uniform [0, 1) draws of ``shape`` on ``like``'s device and dtype."""
    draws = torch.rand(shape, generator=generator, device=_source_device(like, generator), dtype=like.dtype)
    return draws.to(like.device)


def rademacher(shape: tuple[int, ...], like: torch.Tensor,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Draws in {-1, +1} with equal probability, of ``shape``, on ``like``'s device and dtype."""
    bits = torch.randint(0, 2, shape, generator=generator, device=_source_device(like, generator))
    return (2 * bits - 1).to(device=like.device, dtype=like.dtype)


def check_generator(generator: object) -> torch.Generator | None:
    """Check that ``generator`` is None or a torch.Generator."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}; "
                        "create one with torch.Generator().manual_seed(seed).")
    return generator
