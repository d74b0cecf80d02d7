"""Reading aligned latents across regions or layers (the analyses of the NEAT paper).

- Displacement: for consecutive regions k, k+1, each sample's Euclidean distance ||z_{k+1}^n - z_k^n||, computed in a
  shared space: when the latent dimensions differ, both sets are projected by CCA to the smaller dimension
  (``project="auto"``, the paper's rule); ``"cca"`` always projects, ``"none"`` never does. Its mean per class
  shows which stimuli a transition moves most.
- 2-D views: each region's first two principal components, Procrustes-aligned (rotation, reflection, scale)
  to the previous region's view, so that consecutive panels share a frame.
- Latent dimension per region: fit a one-region VAE for increasing dimensions and keep the first whose held-out
  explained variance reaches the threshold (the paper: 95 % for network activations, 70 % for recordings).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from neuralign._checks import as_array, describe, fraction, one_of, positive_int
from neuralign.metrics.similarity import cca_project, procrustes_align

PROJECTIONS = ("auto", "cca", "none")


def _latent_list(latents: Mapping[str, Any]) -> tuple[list[str], list[np.ndarray]]:
    if not isinstance(latents, Mapping) or len(latents) < 2:
        raise ValueError(f"latents: expected a dict of at least 2 regions name -> (samples, dims), got "
                         f"{describe(latents)}.")
    names = list(latents)
    arrays = [as_array(f"latents[{name!r}]", latents[name], ndim=2, dtype=np.float64) for name in names]
    for name, array in zip(names[1:], arrays[1:], strict=True):
        if array.shape[0] != arrays[0].shape[0]:
            raise ValueError(f"latents[{name!r}]: expected {arrays[0].shape[0]} samples like {names[0]!r}, got "
                             f"{array.shape[0]}.")
    return names, arrays


def shared_space(a: Any, b: Any, *, project: str = "auto") -> tuple[np.ndarray, np.ndarray]:
    """Put two latent sets of the same samples in one space: CCA to the smaller dimension when needed.

    a : (samples, d_a), b : (samples, d_b) -> two (samples, d) arrays.
    """
    one_of("project", project, PROJECTIONS)
    a = as_array("a", a, ndim=2, dtype=np.float64)
    b = as_array("b", b, ndim=2, dtype=np.float64)
    if project == "cca" or (project == "auto" and a.shape[1] != b.shape[1]):
        return cca_project(a, b)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"project: 'none' needs equal dimensions, got {a.shape[1]} and {b.shape[1]}; use 'auto'.")
    return a, b


def displacement(a: Any, b: Any, *, project: str = "auto") -> np.ndarray:
    """Per-sample distance between two latent sets in their shared space: (samples,)."""
    first, second = shared_space(a, b, project=project)
    return np.linalg.norm(second - first, axis=1)


@dataclass
class Displacements:
    """Displacements between consecutive regions.

    pairs : "a->b" names, one per transition.
    per_sample : (n_pairs, samples) distances.
    classes : (n_classes,) class values (empty without labels).
    per_class : (n_pairs, n_classes) mean distance per class.
    """

    pairs: list[str]
    per_sample: np.ndarray
    classes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    per_class: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))

    def as_dict(self) -> dict[str, Any]:
        """Plain values: mean per pair and mean per class per pair (for JSON)."""
        return {"pairs": self.pairs, "mean": [float(v) for v in self.per_sample.mean(1)],
                "classes": [int(c) for c in self.classes], "per_class": self.per_class.tolist()}


def displacements(latents: Mapping[str, Any], labels: Any = None, *, project: str = "auto") -> Displacements:
    """Displacement of every sample between consecutive regions, and its mean per class.

    Parameters
    ----------
    latents : dict name -> (samples, d_k), in the regions' order.
    labels : optional (samples,) integer classes.
    project : "auto" (CCA when dimensions differ), "cca" or "none".
    """
    names, arrays = _latent_list(latents)
    transitions = zip(arrays[:-1], arrays[1:], strict=True)
    per_sample = np.stack([displacement(a, b, project=project) for a, b in transitions])
    pairs = [f"{a}->{b}" for a, b in zip(names[:-1], names[1:], strict=True)]
    if labels is None:
        return Displacements(pairs, per_sample)
    labels = as_array("labels", labels, ndim=1, dtype=None)
    if labels.shape[0] != per_sample.shape[1]:
        raise ValueError(f"labels: expected one label per sample ({per_sample.shape[1]}), got {labels.shape[0]}.")
    classes = np.unique(labels)
    per_class = np.stack([[row[labels == c].mean() for c in classes] for row in per_sample])
    return Displacements(pairs, per_sample, classes, per_class)


def aligned_views(latents: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """2-D views of each region, Procrustes-aligned to the previous region's view.

    Parameters
    ----------
    latents : dict name -> (samples, d_k).

    Returns
    -------
    dict name -> (samples, 2): the first two principal components (a 1-D latent gets a zero second axis),
    rotated / reflected / scaled onto the previous region's view (the first region's view is its PCA).
    """
    from sklearn.decomposition import PCA

    names, arrays = _latent_list(latents)
    views: dict[str, np.ndarray] = {}
    previous = None
    for name, array in zip(names, arrays, strict=True):
        if array.shape[1] >= 2:
            view = PCA(2).fit_transform(array)
        else:
            view = np.concatenate([array - array.mean(0), np.zeros_like(array)], axis=1)
        if previous is not None:
            view = procrustes_align(view, previous)
        views[name] = view
        previous = view
    return views


@dataclass
class LatentDimChoice:
    """Latent dimension chosen per region and the held-out explained variance of every dimension tried."""

    dims: dict[str, int]
    explained: dict[str, dict[int, float]]
    threshold: float
    reached: dict[str, bool]


def choose_latent_dims(regions: Mapping[str, Any], *, threshold: float = 0.95,
                       candidates: Sequence[int] = (1, 2, 3, 4, 6, 8, 12, 16), test_fraction: float = 0.25,
                       seed: int = 0, fallback: str = "largest", **settings: Any) -> LatentDimChoice:
    """Each region's smallest latent dimension whose held-out explained variance reaches ``threshold``.

    For each region alone and each candidate dimension in increasing order, a one-region VAE (:class:`NEAT`,
    lambda = 0) is fitted on a random ``1 - test_fraction`` of the samples and scored on the rest (variance-
    weighted R2 of the reconstruction); the search stops at the first dimension that reaches ``threshold``
    (0.95 in the paper for network activations, 0.70 for recordings), else it returns the largest tried
    (``fallback="largest"``) or the one that explained the most (``fallback="best"``: where larger latents fit
    worse in the epochs given, the largest is the worst choice).

    Parameters
    ----------
    regions : dict name -> TrialData or (samples, units) array.
    threshold : explained-variance target in (0, 1).
    candidates : dimensions tried, increasing.
    test_fraction : held-out samples.
    seed : seeds the split and the fits.
    fallback : "largest" or "best", the dimension returned when no candidate reaches ``threshold``.
    **settings : other NEAT settings (e.g. max_epochs, hidden_size).
    """
    from neuralign.models.neat import NEAT, region_samples

    threshold = fraction("threshold", threshold)
    test_fraction = fraction("test_fraction", test_fraction)
    one_of("fallback", fallback, ("largest", "best"))
    if not isinstance(candidates, (list, tuple)) or not candidates:
        raise TypeError(f"candidates: expected a non-empty list of dimensions, got {describe(candidates)}.")
    candidates = sorted(positive_int(f"candidates[{i}]", c) for i, c in enumerate(candidates))
    data = region_samples("regions", regions)
    n_samples = data.arrays[0].shape[0]
    order = np.random.default_rng(seed).permutation(n_samples)
    n_test = max(1, int(round(test_fraction * n_samples)))
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    settings = {"verbose": False, **settings, "lam": 0.0, "seed": seed}
    dims, explained, reached = {}, {}, {}
    for name, array in zip(data.names, data.arrays, strict=True):
        explained[name] = {}
        for dim in candidates:
            model = NEAT(latent_dims=dim, **settings).fit({name: array[train]})
            explained[name][dim] = model.reconstruction_r2({name: array[test]})[name]
            if explained[name][dim] >= threshold:
                break
        if explained[name][dim] < threshold and fallback == "best":
            dim = max(explained[name], key=explained[name].get)
        dims[name] = dim
        reached[name] = explained[name][dim] >= threshold
    return LatentDimChoice(dims, explained, threshold, reached)
