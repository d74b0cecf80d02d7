"""Candidate initial read-ins for the read-in aligners: label-free guesses of how the target's principal
components map onto the source's (see ``align.base``'s module docstring).

With source principal axes U_s (scales s_s) and target axes U_t (scales s_t) of the spike counts (all valid bins),
a candidate read-in is W_t = W_s U_s diag(s_s) Q diag(1 / s_t) U_t^T (plus the bias that maps the target mean
onto the source mean), where Q maps target component scores onto source component scores: a signed permutation of
the top ``explore`` components (matched signs elsewhere), a rotation of the top two components' plane or its
mirror image (``rotations`` angles), or random sign flips (``explore=0``). When the target has as many units as
the source, the source's own read-in (no alignment: right when they are the same units) is a candidate too.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from neuralign.data.trialdata import TrialData


def initial_read_ins(source_layer: nn.Linear, source: TrialData, target: TrialData, *, init: str = "pca",
                     n_components: int = 16, explore: int = 3, rotations: int = 0, restarts: int = 8,
                     flip_probability: float = 0.25, seed: int = 0,
                     device: torch.device | str | None = None) -> list[nn.Linear]:
    """Initial target read-ins (target units -> the source read-in's outputs), one per candidate map."""
    rng = np.random.default_rng(seed)
    if init == "pca":
        source_axes, source_scale, source_mean, source_scores = principal_axes(source, n_components)
        target_axes, target_scale, target_mean, target_scores = principal_axes(target, source_axes.shape[1])
        k = min(source_axes.shape[1], target_axes.shape[1])
        signs = matching_signs(source, source_scores[:, :k], target, target_scores[:, :k])
        maps = component_maps(signs, k, explore=explore, rotations=rotations, restarts=restarts,
                              flip_probability=flip_probability, rng=rng)
        mappings = [source_axes[:, :k] @ np.diag(source_scale[:k]) @ q @ np.diag(1 / target_scale[:k])
                    @ target_axes[:, :k].T for q in maps]
    else:
        mappings = [None] * restarts
    source_weight = source_layer.weight.detach().cpu().numpy().astype(np.float64)
    source_bias = source_layer.bias.detach().cpu().numpy().astype(np.float64)
    layers = []
    for mapping in mappings:
        layer = nn.Linear(target.n_units, source_layer.out_features)
        if mapping is not None:
            weight = source_weight @ mapping
            _copy_into(layer, weight, source_bias + source_weight @ source_mean - weight @ target_mean)
        layers.append(layer.to(device))
    return layers


def identity_read_in(source_layer: nn.Linear, device: torch.device | str | None = None) -> nn.Linear:
    """A copy of the source's own read-in: the no-alignment candidate for a target with the same units."""
    layer = nn.Linear(source_layer.in_features, source_layer.out_features)
    _copy_into(layer, source_layer.weight.detach().cpu().numpy(), source_layer.bias.detach().cpu().numpy())
    return layer.to(device)


def _copy_into(layer: nn.Linear, weight: np.ndarray, bias: np.ndarray) -> None:
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(weight, dtype=layer.weight.dtype))
        layer.bias.copy_(torch.as_tensor(bias, dtype=layer.bias.dtype))


def component_maps(signs: np.ndarray, k: int, *, explore: int = 3, rotations: int = 0, restarts: int = 8,
                   flip_probability: float = 0.25, rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """(k, k) maps from target to source component scores: every signed permutation of the top ``explore``
    components (the matched one first), then ``rotations`` rotations of the top two components' plane and their
    mirror images (duplicates left out); with ``explore=0``, the matched signs and ``restarts - 1`` random flips of
    them (each sign flipped with probability ``flip_probability``)."""
    rng = rng if rng is not None else np.random.default_rng(0)
    explore = min(explore, k)
    if explore == 0:
        flips = [np.zeros(k, bool)] + [rng.random(k) < flip_probability for _ in range(restarts - 1)]
        return [np.diag(np.where(flip, -signs, signs)) for flip in flips]
    maps = []
    for order in itertools.permutations(range(explore)):
        for flips in itertools.product((1.0, -1.0), repeat=explore):
            q = np.diag(signs.astype(np.float64))
            q[:explore, :explore] = 0.0
            for target_index, source_index in enumerate(order):
                q[source_index, target_index] = signs[target_index] * flips[target_index]
            maps.append(q)
    if k >= 2:
        for angle in 2 * np.pi * np.arange(rotations) / max(rotations, 1):
            for mirror in (1.0, -1.0):  # a rotation of the top two components' plane, and its mirror image
                q = np.diag(signs.astype(np.float64))
                rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
                q[:2, :2] = rotation @ np.diag([1.0, mirror]) @ np.diag(signs[:2])
                if not any(np.allclose(q, other) for other in maps):
                    maps.append(q)
    return maps


def principal_axes(data: TrialData, n_components: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Principal axes (units, k), component std (k,), mean (units,) and scores (samples, k) of all valid bins."""
    samples = data.counts[data.mask].astype(np.float64)
    mean = samples.mean(0)
    centred = samples - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(n_components, vt.shape[0])
    scale = singular[:k] / np.sqrt(max(samples.shape[0] - 1, 1)) + 1e-8
    return vt[:k].T, scale, mean, centred @ vt[:k].T


def matching_signs(source: TrialData, source_scores: np.ndarray, target: TrialData,
                   target_scores: np.ndarray) -> np.ndarray:
    """Label-free sign of each target component relative to the same-rank source component.

    Where both components carry a clear trial-averaged time course (correlation of the two grand-mean time
    courses |r| > 0.5), the sign makes the time courses agree; otherwise the sign makes the skewness agree
    (spike-count components are skewed, and the skew's sign survives across sessions).
    """
    skew = np.sign(_skewness(source_scores) * _skewness(target_scores))
    source_course = _grand_mean_course(source, source_scores)
    target_course = _grand_mean_course(target, target_scores)
    signs = skew.copy()
    for j in range(source_scores.shape[1]):
        a, b = source_course[:, j], target_course[:, j]
        if a.std() > 0 and b.std() > 0:
            r = np.corrcoef(a, b)[0, 1]
            if abs(r) > 0.5:
                signs[j] = np.sign(r)
    signs[signs == 0] = 1
    return signs


def _grand_mean_course(data: TrialData, scores: np.ndarray) -> np.ndarray:
    """(time, k): component scores averaged over trials at each time bin (valid bins only)."""
    per_trial = np.zeros((data.n_trials, data.n_time, scores.shape[1]))
    per_trial[data.mask] = scores
    return per_trial.sum(0) / np.maximum(data.mask.sum(0), 1)[:, None]


def _skewness(scores: np.ndarray) -> np.ndarray:
    centred = scores - scores.mean(0)
    return (centred ** 3).mean(0) / (centred.std(0) ** 3 + 1e-12)
