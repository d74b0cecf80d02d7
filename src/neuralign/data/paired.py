"""Paired multimodal data: ring-and-digits (mode starvation), two views of a digit, neural + behaviour.

``ring_digits``: each of scikit-learn's bundled 8x8 digit images of class c in 1..8 is paired with a point of
the ring modality, ``radius (cos theta_c, sin theta_c) + std * noise``, theta_c = 2 pi (c - 1) / 8; as the
radius shrinks at fixed std the clusters overlap (the weak modality's signal-to-noise ratio falls).
``paired_digits``: each digit image is paired with a different image of the same class, transposed.
Both return a dict name -> TrialData with one time bin per trial (pixels / 16 in [0, 1]), the same trials
in each modality, ``labels`` = digit class, ``signal="continuous"``.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from neuralign._checks import describe, fraction, positive_float, positive_int
from neuralign.data.registry import register
from neuralign.data.trialdata import TrialData


def _digits(classes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = np.isin(digits.target, classes)
    return (digits.images[keep].reshape(-1, 64) / 16.0).astype(np.float32), digits.target[keep].astype(np.int64)


def _limit(labels: np.ndarray, n_per_class: int | None, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most n_per_class trials per class, shuffled."""
    chosen = []
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        chosen.append(members if n_per_class is None else members[:n_per_class])
    return rng.permutation(np.concatenate(chosen))


def ring_points(labels: np.ndarray, radius: float, std: float, rng: np.random.Generator) -> np.ndarray:
    """(n, 2) float32: class c in 1..8 -> radius (cos, sin)(2 pi (c - 1) / 8) + std * standard normal noise."""
    angles = 2 * np.pi * (labels - 1) / 8
    ring = radius * np.stack([np.cos(angles), np.sin(angles)], 1) + std * rng.standard_normal((len(labels), 2))
    return ring.astype(np.float32)


def _static(values: np.ndarray, labels: np.ndarray, **meta: Any) -> TrialData:
    return TrialData(counts=values[:, None, :], labels=labels, signal="continuous", bin_size=1.0, meta=dict(meta))


@register(
    "ring_digits", kind="synthetic",
    description="Mode-starvation pairs: 8 Gaussian clusters on a ring of radius `radius` (std `std`) paired with "
                "scikit-learn's 8x8 digit images of the matching class 1..8 (one ring point per image).",
    returns="dict {'ring': TrialData (n, 1, 2), 'digit': TrialData (n, 1, 64) pixels in [0, 1]}, labels = class "
            "1..8, n = 1441 (all images of 1..8) or 8 * n_per_class.")
def ring_digits(radius: float = 1.0, std: float = 0.1, n_per_class: int | None = None,
                seed: int = 0) -> dict[str, TrialData]:
    radius, std = positive_float("radius", radius), positive_float("std", std)
    if n_per_class is not None:
        positive_int("n_per_class", n_per_class)
    rng = np.random.default_rng(positive_int("seed", seed, minimum=0))
    images, labels = _digits(tuple(range(1, 9)))
    order = _limit(labels, n_per_class, rng)
    images, labels = images[order], labels[order]
    ring = ring_points(labels, radius, std, rng)
    meta = {"dataset": "ring_digits", "radius": radius, "std": std, "seed": seed}
    return {"ring": _static(ring, labels, **meta), "digit": _static(images, labels, **meta)}


@register(
    "paired_digits", kind="synthetic",
    description="Two views of the same digit class: each of scikit-learn's 8x8 digit images paired with another "
                "image of the same class, transposed (rows <-> columns).",
    returns="dict {'digit': TrialData (n, 1, 64), 'transposed': TrialData (n, 1, 64)}, pixels in [0, 1], labels = "
            "class 0..9; n = 1797 or 10 * n_per_class.")
def paired_digits(n_per_class: int | None = None, seed: int = 0) -> dict[str, TrialData]:
    if n_per_class is not None:
        positive_int("n_per_class", n_per_class)
    rng = np.random.default_rng(positive_int("seed", seed, minimum=0))
    images, labels = _digits(tuple(range(10)))
    order = _limit(labels, n_per_class, rng)
    images, labels = images[order], labels[order]
    partner = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        shift = rng.integers(1, len(members)) if len(members) > 1 else 0
        partner[members] = np.roll(members, shift)  # another image of the same class
    second = images[partner].reshape(-1, 8, 8).transpose(0, 2, 1).reshape(-1, 64)
    meta = {"dataset": "paired_digits", "seed": seed}
    return {"digit": _static(images, labels, **meta), "transposed": _static(np.ascontiguousarray(second), labels,
                                                                            **meta)}


def neural_behavior(data: TrialData, *, behavior_name: str = "velocity",
                    neural_name: str = "spikes") -> dict[str, TrialData]:
    """Split a recording with behaviour into two modalities: spike counts and behaviour (continuous)."""
    if not isinstance(data, TrialData):
        raise TypeError(f"data: expected a TrialData, got {describe(data)}.")
    if data.behavior is None:
        raise ValueError("data: has no behavior; pass a TrialData with behavior= (e.g. hand velocity).")
    neural = TrialData(counts=data.counts, labels=data.labels, lengths=data.lengths, bin_size=data.bin_size,
                       meta=dict(data.meta), signal=data.signal)
    behavior = TrialData(counts=data.behavior, labels=data.labels, lengths=data.lengths, bin_size=data.bin_size,
                         meta=dict(data.meta), signal="continuous")
    return {neural_name: neural, behavior_name: behavior}


def split_modalities(data: Mapping[str, TrialData], test_fraction: float = 0.25, *,
                     seed: int = 0) -> tuple[dict[str, TrialData], dict[str, TrialData]]:
    """Split every modality's trials the same way (stratified by the first modality's labels)."""
    if not isinstance(data, Mapping) or not data:
        raise TypeError(f"data: expected a non-empty dict name -> TrialData, got {describe(data)}.")
    fraction("test_fraction", test_fraction)
    from sklearn.model_selection import train_test_split

    first = next(iter(data.values()))
    for name, trials in data.items():
        if not isinstance(trials, TrialData) or trials.n_trials != first.n_trials:
            raise ValueError(f"data[{name!r}]: expected a TrialData with {first.n_trials} trials, got "
                             f"{describe(trials)}.")
    strata = first.labels
    if strata is not None:
        n_test, (_, per_class) = int(round(test_fraction * first.n_trials)), np.unique(strata, return_counts=True)
        if per_class.min() < 2 or min(n_test, first.n_trials - n_test) < len(per_class):
            strata = None  # too few trials per class to stratify
    train_index, test_index = train_test_split(np.arange(first.n_trials), test_size=test_fraction,
                                               random_state=seed, stratify=strata)
    train_index, test_index = np.sort(train_index), np.sort(test_index)
    return ({k: v.subset(train_index) for k, v in data.items()}, {k: v.subset(test_index) for k, v in data.items()})
