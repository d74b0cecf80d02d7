"""Distances between point clouds and scores of recovered particle paths (arrays in, numbers out).

- ``wasserstein(x, y, p)``: the exact p-Wasserstein distance between the uniform empirical measures of x (n, d)
  and y (m, d) (POT's network simplex, ground cost |x - y|^p): W_p = (min_P sum P_ij |x_i - y_j|^p)^(1/p).
- ``rbf_mmd``: the unbiased RBF MMD^2 of ``metrics.mmd`` (median-heuristic bandwidth), for the same pairs.
- ``relative_moment_errors``: |mean_x - mean_y| / |mean_y| and |cov_x - cov_y|_F / |cov_y|_F (y the truth).
- ``sampling_floor``: W_p between two independent samples of the same size from a true marginal; a method that
  reproduces the marginal exactly still scores this much on samples of that size.
- ``relative_l2``: |a - b| / |b| over all points (velocity fields against the true field).
- ``path_r2``: 1 - sum |paths - true|^2 / sum |true - true's per-time mean|^2 over particles and times;
  ``match_paths`` pairs recovered particles with true trajectories by their start points (exact assignment);
  ``ot_chain_paths`` is the baseline: particles followed along the exact OT plans of consecutive clouds.
- ``curl_2d``: the curl dv_y/dx - dv_x/dy of a 2-D field sampled on a grid (finite differences).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from neuralign._checks import as_array, describe, positive_int


def _clouds(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x = as_array("x", x, ndim=2, dtype=np.float64)
    y = as_array("y", y, ndim=2, dtype=np.float64)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"y: expected points of the dimension of x ({x.shape[1]}), got {describe(y)}.")
    return x, y


def _cost(x: np.ndarray, y: np.ndarray, p: int) -> np.ndarray:
    squared = np.maximum((x ** 2).sum(1)[:, None] + (y ** 2).sum(1)[None, :] - 2 * x @ y.T, 0.0)
    return squared if p == 2 else np.sqrt(squared) ** p


def optimal_plan(x: Any, y: Any, *, p: int = 2) -> np.ndarray:
    """The exact OT plan (n, m) between the uniform empirical measures of x (n, d) and y (m, d), cost |x - y|^p."""
    from neuralign.nn.matching import _pot

    x, y = _clouds(x, y)
    return _pot().emd(np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y)), _cost(x, y, p),
                      numItermax=10_000_000)


def wasserstein(x: Any, y: Any, *, p: int = 2) -> float:
    """Exact W_p between the uniform empirical measures of x (n, d) and y (m, d).

    Examples
    --------
    >>> x = np.random.default_rng(0).normal(size=(50, 2))
    >>> round(wasserstein(x, x + [3.0, 4.0], p=1), 6)
    5.0
    """
    from neuralign.nn.matching import _pot

    if p not in (1, 2):
        raise ValueError(f"p: expected 1 or 2, got {p!r}.")
    x, y = _clouds(x, y)
    value = _pot().emd2(np.full(len(x), 1.0 / len(x)), np.full(len(y), 1.0 / len(y)), _cost(x, y, p),
                        numItermax=10_000_000)
    return float(max(value, 0.0) ** (1.0 / p))


def w1(x: Any, y: Any) -> float:
    """Exact W1 (Euclidean ground cost)."""
    return wasserstein(x, y, p=1)


def w2(x: Any, y: Any) -> float:
    """Exact W2 (squared-Euclidean ground cost, square root of the optimal cost)."""
    return wasserstein(x, y, p=2)


def rbf_mmd(x: Any, y: Any) -> float:
    """Unbiased MMD^2 with an RBF kernel at the median-heuristic bandwidth (``metrics.mmd.mmd2``)."""
    from neuralign.metrics.mmd import mmd2

    x, y = _clouds(x, y)
    return mmd2(x, y, kernel="rbf")


def gaussian_w2(mean_a: Any, cov_a: Any, mean_b: Any, cov_b: Any) -> float:
    """W2 between N(mean_a, cov_a) and N(mean_b, cov_b):
    |m_a - m_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2), square-rooted."""
    from scipy.linalg import sqrtm

    mean_a, mean_b = np.asarray(mean_a, float), np.asarray(mean_b, float)
    cov_a, cov_b = np.asarray(cov_a, float), np.asarray(cov_b, float)
    root = sqrtm(cov_a)
    cross = np.real(sqrtm(root @ cov_b @ root))
    value = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * cross)
    return float(np.sqrt(max(value, 0.0)))


def relative_moment_errors(predicted: Any, true: Any) -> dict[str, float]:
    """{"mean": |m_pred - m_true| / |m_true|, "covariance": |C_pred - C_true|_F / |C_true|_F} of two clouds."""
    predicted, true = _clouds(predicted, true)
    if len(predicted) < 2 or len(true) < 2:
        raise ValueError(f"predicted, true: expected at least 2 points each for a covariance, got {len(predicted)} "
                         f"and {len(true)}.")
    mean_true = true.mean(0)
    cov_pred, cov_true = np.atleast_2d(np.cov(predicted.T)), np.atleast_2d(np.cov(true.T))
    if np.linalg.norm(mean_true) == 0 or np.linalg.norm(cov_true) == 0:
        raise ValueError("true: its mean or covariance is exactly zero, so a relative error is undefined.")
    return {"mean": float(np.linalg.norm(predicted.mean(0) - mean_true) / np.linalg.norm(mean_true)),
            "covariance": float(np.linalg.norm(cov_pred - cov_true) / np.linalg.norm(cov_true))}


def sampling_floor(sample: Callable[[int, np.random.Generator], Any], n: int, *, p: int = 2, repeats: int = 1,
                   seed: int = 0) -> float:
    """Mean W_p between two independent samples of size ``n`` drawn by ``sample(n, rng)`` -> (n, d), over
    ``repeats`` pairs: the score of a perfect model on samples of that size."""
    if not callable(sample):
        raise TypeError(f"sample: expected a function sample(n, rng) -> (n, d) array, got {describe(sample)}.")
    n, repeats = positive_int("n", n), positive_int("repeats", repeats)
    rng = np.random.default_rng(positive_int("seed", seed, minimum=0))
    return float(np.mean([wasserstein(sample(n, rng), sample(n, rng), p=p) for _ in range(repeats)]))


def relative_l2(predicted: Any, true: Any) -> float:
    """sqrt(sum |predicted - true|^2 / sum |true|^2) over all points (n, d)."""
    predicted = as_array("predicted", predicted, ndim=2, dtype=np.float64)
    true = as_array("true", true, ndim=2, dtype=np.float64)
    if predicted.shape != true.shape:
        raise ValueError(f"predicted: expected the shape of true, {true.shape}, got {predicted.shape}.")
    norm = np.sum(true ** 2)
    if norm == 0:
        raise ValueError("true: all zero, so a relative error is undefined.")
    return float(np.sqrt(np.sum((predicted - true) ** 2) / norm))


def _paths(name: str, value: Any) -> np.ndarray:
    return as_array(name, value, ndim=3, dtype=np.float64)


def path_r2(paths: Any, true: Any) -> float:
    """R2 of recovered particle paths (n, T, d) against the true trajectories (n, T, d), particle i with i:
    1 - sum |paths - true|^2 / sum |true - mean over particles at each time|^2. 1 for the true paths; 0 for every
    particle placed at its cloud's mean."""
    paths, true = _paths("paths", paths), _paths("true", true)
    if paths.shape != true.shape:
        raise ValueError(f"paths: expected the shape of true, {true.shape} (particles, times, dims), got "
                         f"{paths.shape}; match particles to trajectories first (match_paths).")
    spread = np.sum((true - true.mean(0, keepdims=True)) ** 2)
    if spread == 0:
        raise ValueError("true: every trajectory is the same, so R2 is undefined.")
    return float(1 - np.sum((paths - true) ** 2) / spread)


def match_paths(paths: Any, true: Any) -> np.ndarray:
    """Indices j such that ``true[j[i]]`` is the trajectory matched to recovered path i: the exact assignment of
    the paths' start points to the trajectories' start points (squared-Euclidean cost). paths (n, T, d), true
    (n, T', d) with the same n."""
    from scipy.optimize import linear_sum_assignment

    paths, true = _paths("paths", paths), _paths("true", true)
    if len(paths) != len(true):
        raise ValueError(f"paths: expected as many paths as true trajectories ({len(true)}), got {len(paths)}.")
    rows, columns = linear_sum_assignment(_cost(paths[:, 0], true[:, 0], 2))
    return columns[np.argsort(rows)]


def ot_chain_paths(clouds: Sequence[Any]) -> np.ndarray:
    """Paths (n_0, K, d) through clouds K x (n_k, d): each particle of the first cloud moves to the point that the
    exact OT plan (squared-Euclidean) between consecutive clouds sends most of its mass to, then on from there."""
    if not isinstance(clouds, (list, tuple)) or len(clouds) < 2:
        raise ValueError(f"clouds: expected a list of at least 2 (n_k, d) clouds, got {describe(clouds)}.")
    clouds = [as_array(f"clouds[{k}]", cloud, ndim=2, dtype=np.float64) for k, cloud in enumerate(clouds)]
    index = np.arange(len(clouds[0]))
    path = [clouds[0]]
    for previous, current in zip(clouds, clouds[1:]):
        index = optimal_plan(previous, current).argmax(1)[index]
        path.append(current[index])
    return np.stack(path, axis=1)


def curl_2d(grid_x: Any, grid_y: Any, vx: Any, vy: Any) -> np.ndarray:
    """dv_y/dx - dv_x/dy of a field on a grid: grid_x (nx,), grid_y (ny,), vx, vy (ny, nx) -> (ny, nx)."""
    grid_x = as_array("grid_x", grid_x, ndim=1, dtype=np.float64)
    grid_y = as_array("grid_y", grid_y, ndim=1, dtype=np.float64)
    vx, vy = as_array("vx", vx, ndim=2, dtype=np.float64), as_array("vy", vy, ndim=2, dtype=np.float64)
    if vx.shape != (len(grid_y), len(grid_x)) or vy.shape != vx.shape:
        raise ValueError(f"vx, vy: expected shape (len(grid_y), len(grid_x)) = {(len(grid_y), len(grid_x))}, got "
                         f"{vx.shape} and {vy.shape}.")
    return np.gradient(vy, grid_x, axis=1) - np.gradient(vx, grid_y, axis=0)
