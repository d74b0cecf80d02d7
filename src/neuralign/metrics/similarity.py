"""Similarity between representations of the same samples: CCA, Procrustes, relative representations, linear CKA,
and linear decodability of a class.

All functions take (samples, dims) arrays whose rows are the same samples in the same order.

- CCA to the smaller dimension: both sets projected on min(d_a, d_b) canonical directions (sklearn ``CCA``).
- Procrustes: the rotation (and reflection), scale and shift of ``source`` that best matches ``target``.
- Relative representations (Moschella et al. 2022): r_i = (cos(x_i - m, x_a - m))_{a in anchors}, m the mean;
  the similarity of two spaces is the mean over samples of cos(r_i^A, r_i^B), anchors the same samples in both,
  averaged over ``n_repeats`` random anchor draws.
- Linear CKA (Kornblith et al. 2019): ||A^T B||_F^2 / (||A^T A||_F ||B^T B||_F) on centred A, B.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from neuralign._checks import as_array, describe, one_of, positive_int


def _pair(a: Any, b: Any, *, names: tuple[str, str] = ("a", "b"),
          min_samples: int = 3) -> tuple[np.ndarray, np.ndarray]:
    first = as_array(names[0], a, ndim=2, dtype=np.float64)
    second = as_array(names[1], b, ndim=2, dtype=np.float64)
    if first.shape[0] != second.shape[0]:
        raise ValueError(f"{names[1]}: expected the same samples as {names[0]} ({first.shape[0]} rows), "
                         f"got {second.shape[0]} rows.")
    if first.shape[0] < min_samples:
        raise ValueError(f"{names[0]}: expected at least {min_samples} samples, got {first.shape[0]}.")
    return first, second


def cca_project(a: Any, b: Any, n_components: int | None = None, *,
                max_iter: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """Project two representations of the same samples onto their canonical directions.

    Parameters
    ----------
    a : (samples, d_a); b : (samples, d_b).
    n_components : canonical pairs to keep; default min(d_a, d_b) (the smaller dimension).

    Returns
    -------
    (samples, n_components) canonical variates of ``a`` and of ``b`` (in the standardised units of sklearn's CCA).
    """
    from sklearn.cross_decomposition import CCA

    a, b = _pair(a, b)
    limit = min(a.shape[1], b.shape[1])
    n_components = limit if n_components is None else positive_int("n_components", n_components)
    if n_components > limit:
        raise ValueError(f"n_components: expected at most min(d_a, d_b) = {limit}, got {n_components}.")
    model = CCA(n_components=n_components, max_iter=max_iter).fit(a, b)
    projected_a, projected_b = model.transform(a, b)
    return projected_a, projected_b


def procrustes_align(source: Any, target: Any, *, scaling: bool = True) -> np.ndarray:
    """The rotation/reflection (plus scale and shift) of ``source`` closest to ``target`` in least squares.

    Parameters
    ----------
    source, target : (samples, d), the same d.
    scaling : also fit a global scale.

    Returns
    -------
    (samples, d) the aligned ``source``.
    """
    from scipy.linalg import orthogonal_procrustes

    source, target = _pair(source, target, names=("source", "target"))
    if source.shape[1] != target.shape[1]:
        raise ValueError(f"target: expected the same number of dims as source ({source.shape[1]}), got "
                         f"{target.shape[1]}; project both first (cca_project).")
    source_mean, target_mean = source.mean(0), target.mean(0)
    centred_source, centred_target = source - source_mean, target - target_mean
    rotation, singular_sum = orthogonal_procrustes(centred_source, centred_target)
    scale = singular_sum / max((centred_source ** 2).sum(), 1e-12) if scaling else 1.0
    return scale * centred_source @ rotation + target_mean


def relative_representation(x: Any, anchors: Any, *, center: bool = True) -> np.ndarray:
    """Cosine similarity of every sample to each anchor: (samples, d), (n_anchors, d) -> (samples, n_anchors).

    ``center`` subtracts the mean of ``x`` from samples and anchors first.
    """
    x = as_array("x", x, ndim=2, dtype=np.float64)
    anchors = as_array("anchors", anchors, ndim=2, dtype=np.float64)
    if anchors.shape[1] != x.shape[1]:
        raise ValueError(f"anchors: expected {x.shape[1]} dims like x, got {anchors.shape[1]}.")
    if center:
        mean = x.mean(0)
        x, anchors = x - mean, anchors - mean
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    anchors = anchors / np.maximum(np.linalg.norm(anchors, axis=1, keepdims=True), 1e-12)
    return x @ anchors.T


def relative_similarity(a: Any, b: Any, *, n_anchors: int = 5, n_repeats: int = 10, seed: int = 0,
                        center: bool = True) -> float:
    """Mean cosine similarity between the relative representations of the same samples in two spaces.

    Parameters
    ----------
    a : (samples, d_a); b : (samples, d_b) (dims may differ).
    n_anchors : anchor samples (the paper uses 5), the same samples in both spaces.
    n_repeats : random anchor draws averaged over.
    seed : seeds the anchor draws.

    Returns
    -------
    A number in [-1, 1]; 1 when b is a rotation and scaling of a.
    """
    a, b = _pair(a, b)
    n_anchors = positive_int("n_anchors", n_anchors, minimum=2)
    n_repeats = positive_int("n_repeats", n_repeats)
    if n_anchors >= a.shape[0]:
        raise ValueError(f"n_anchors: expected fewer anchors than samples ({a.shape[0]}), got {n_anchors}.")
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_repeats):
        index = rng.choice(a.shape[0], size=n_anchors, replace=False)
        relative_a = relative_representation(a, a[index], center=center)
        relative_b = relative_representation(b, b[index], center=center)
        norms = np.linalg.norm(relative_a, axis=1) * np.linalg.norm(relative_b, axis=1)
        values.append(float(np.mean((relative_a * relative_b).sum(1) / np.maximum(norms, 1e-12))))
    return float(np.mean(values))


def linear_cka(a: Any, b: Any) -> float:
    """Linear centred kernel alignment of two representations of the same samples, in [0, 1]."""
    a, b = _pair(a, b)
    a, b = a - a.mean(0), b - b.mean(0)
    cross = np.linalg.norm(a.T @ b) ** 2
    normaliser = np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b)
    if normaliser <= 1e-24:
        raise ValueError("a: CKA is undefined for a constant representation (all samples equal).")
    return float(cross / normaliser)


MEASURES = ("relative", "cka")


def similarity_matrix(latents: Mapping[str, Any] | Sequence[Any], *, measure: str = "relative",
                      **settings: Any) -> np.ndarray:
    """Similarity between every pair of representations.

    Parameters
    ----------
    latents : K arrays (samples, d_k) (a dict's values, in order), the same samples in each.
    measure : ``"relative"`` (:func:`relative_similarity`) or ``"cka"`` (:func:`linear_cka`).
    **settings : passed to :func:`relative_similarity`.

    Returns
    -------
    (K, K) symmetric matrix with ones on the diagonal.
    """
    one_of("measure", measure, MEASURES)
    arrays = list(latents.values()) if isinstance(latents, Mapping) else list(latents)
    if len(arrays) < 2:
        raise ValueError(f"latents: expected at least 2 representations, got {describe(latents)}.")
    size = len(arrays)
    matrix = np.eye(size)
    for i in range(size):
        for j in range(i + 1, size):
            value = (relative_similarity(arrays[i], arrays[j], **settings) if measure == "relative"
                     else linear_cka(arrays[i], arrays[j]))
            matrix[i, j] = matrix[j, i] = value
    return matrix


def linear_probe_accuracy(x: Any, labels: Any, *, n_folds: int = 5, seed: int = 0) -> float:
    """Cross-validated accuracy of a linear (logistic-regression) classifier of ``labels`` from ``x``.

    Parameters
    ----------
    x : (samples, d); labels : (samples,) integer classes.
    n_folds : stratified folds.

    Returns
    -------
    Mean held-out accuracy over the folds, in [0, 1].
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = as_array("x", x, ndim=2, dtype=np.float64)
    labels = as_array("labels", labels, ndim=1, dtype=None)
    if labels.shape[0] != x.shape[0]:
        raise ValueError(f"labels: expected one label per sample of x ({x.shape[0]}), got {labels.shape[0]}.")
    n_folds = positive_int("n_folds", n_folds, minimum=2)
    _, counts = np.unique(labels, return_counts=True)
    if len(counts) < 2 or counts.min() < n_folds:
        raise ValueError(f"labels: expected at least 2 classes with >= n_folds ({n_folds}) samples each, got "
                         f"class sizes {counts.tolist()}.")
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    folds = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return float(cross_val_score(classifier, x, labels, cv=folds).mean())
