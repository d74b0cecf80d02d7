"""Maximum mean discrepancy (MMD) between two samples, and its permutation test.

For samples x_1..x_m ~ P and y_1..y_n ~ Q and a kernel k, with K the kernel matrix of the pooled sample:

    MMD_u^2 = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j) - 2/(mn) sum_{i,j} k(x_i, y_j)
    MMD_b^2 = 1/m^2 sum_{i,j} k(x_i, x_j) + 1/n^2 sum_{i,j} k(y_i, y_j) - 2/(mn) sum_{i,j} k(x_i, y_j)

(unbiased U-statistic and biased V-statistic). Kernels: ``"rbf"`` k = exp(-|a - b|^2 / (2 sigma^2)) with sigma by
the median heuristic (median pairwise distance of the pooled sample) unless given; ``"multi_rbf"`` the mean of
RBF kernels at sigma * (1/4, 1/2, 1, 2, 4) (or given bandwidths); ``"linear"`` k = <a, b>.

Permutation test: the group labels of the pooled sample are permuted ``n_permutations`` times and the statistic
recomputed; p = (1 + #{null >= observed}) / (1 + n_permutations). The kernel matrix is computed once; with an
indicator row a in {0, 1}^N per permutation (a_i = 1 when sample i is put in the first group) and K0 = K with a
zero diagonal, r = K0 1 and T = 1' K0 1, every statistic follows from q = a' K0 a and s = a' r:

    S_xx = q,   S_xy = s - q,   S_yy = T - 2 s + q

so a chunk of permutations costs one matrix product (chunk, N) @ (N, N). The bandwidth is computed from the
pooled sample, which permutations leave unchanged, so the test stays exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from neuralign._checks import as_array, describe, one_of, positive_float, positive_int

KERNELS = ("rbf", "multi_rbf", "linear")
MULTI_RBF_FACTORS = (0.25, 0.5, 1.0, 2.0, 4.0)
_MEDIAN_SUBSAMPLE = 2000  # the median heuristic looks at this many pooled samples at most


@dataclass
class MMDResult:
    """A two-sample MMD test.

    statistic : the observed MMD^2 (unbiased or biased, see ``unbiased``).
    p_value : (1 + #{null >= statistic}) / (1 + n_permutations); NaN when no permutations were run.
    null : (n_permutations,) the statistic under permuted group labels.
    bandwidth : the RBF bandwidth(s) used (None for the linear kernel).
    """

    statistic: float
    p_value: float
    null: np.ndarray
    kernel: str
    bandwidth: float | list[float] | None
    unbiased: bool
    n_x: int
    n_y: int

    @property
    def n_permutations(self) -> int:
        return int(self.null.size)


@dataclass
class PairwiseMMD:
    """MMD^2 between every pair of groups: ``statistic`` and ``p_value`` are (groups, groups), symmetric, with a
    zero (statistic) / NaN (p-value) diagonal; ``p_value`` is all NaN when no permutations were run."""

    names: list[str]
    statistic: np.ndarray
    p_value: np.ndarray


# ----------------------------------------------------------------------------------------------- validation
def _check_samples(x: Any, y: Any, unbiased: bool) -> tuple[torch.Tensor, torch.Tensor]:
    tensors = []
    for name, value in (("x", x), ("y", y)):
        device = value.device if isinstance(value, torch.Tensor) else torch.device("cpu")
        array = as_array(name, value, dtype=np.float64)
        if array.ndim == 1:
            array = array[:, None]
        if array.ndim != 2:
            raise ValueError(f"{name}: expected samples as a (samples, dims) array (or 1-D for one dim), "
                             f"got {describe(array)}; flatten trials first, e.g. metrics.flatten_trials.")
        minimum = 2 if unbiased else 1
        if array.shape[0] < minimum:
            raise ValueError(f"{name}: expected at least {minimum} samples for the "
                             f"{'unbiased' if unbiased else 'biased'} MMD, got {array.shape[0]}.")
        tensors.append(torch.as_tensor(array, device=device))
    if tensors[0].shape[1] != tensors[1].shape[1]:
        raise ValueError(f"y: expected the same number of dims as x ({tensors[0].shape[1]}), "
                         f"got {tensors[1].shape[1]}.")
    return tensors[0], tensors[1].to(tensors[0].device)


def _check_bandwidth(kernel: str, bandwidth: Any) -> float | list[float] | None:
    if bandwidth is None:
        return None
    if kernel == "linear":
        raise ValueError(f"bandwidth: the linear kernel has no bandwidth, got {bandwidth!r}; pass bandwidth=None.")
    if kernel == "multi_rbf" and isinstance(bandwidth, (list, tuple, np.ndarray)):
        values = [positive_float("bandwidth", b) for b in bandwidth]
        if not values:
            raise ValueError("bandwidth: expected at least one bandwidth for the multi_rbf kernel, got none.")
        return values
    return positive_float("bandwidth", bandwidth)


# ------------------------------------------------------------------------------------------------- kernels
def median_bandwidth(x: Any, y: Any | None = None, *, seed: int = 0) -> float:
    """Median heuristic: the median pairwise Euclidean distance of the pooled sample (off-diagonal pairs).

    Parameters
    ----------
    x, y : (samples, dims) arrays; ``y`` optional. Above 2000 pooled samples a seeded subsample is used.

    Returns
    -------
    sigma, or 1.0 when all samples coincide.
    """
    pooled = as_array("x", x, dtype=np.float64)
    pooled = pooled[:, None] if pooled.ndim == 1 else pooled
    if y is not None:
        other = as_array("y", y, dtype=np.float64)
        pooled = np.concatenate([pooled, other[:, None] if other.ndim == 1 else other])
    if pooled.shape[0] > _MEDIAN_SUBSAMPLE:
        pooled = pooled[np.random.default_rng(seed).choice(pooled.shape[0], _MEDIAN_SUBSAMPLE, replace=False)]
    return _median_distance(torch.as_tensor(pooled))


def _median_distance(pooled: torch.Tensor) -> float:
    distances = torch.cdist(pooled, pooled)
    upper = torch.triu_indices(pooled.shape[0], pooled.shape[0], offset=1, device=pooled.device)
    median = float(distances[upper[0], upper[1]].median()) if pooled.shape[0] > 1 else 0.0
    return median if median > 0 else 1.0


def _kernel_matrix(pooled: torch.Tensor, kernel: str,
                   bandwidth: float | list[float] | None) -> tuple[torch.Tensor, float | list[float] | None]:
    """(N, N) kernel matrix of the pooled sample and the bandwidth(s) actually used."""
    if kernel == "linear":
        return pooled @ pooled.T, None
    if bandwidth is None:
        sample = pooled
        if pooled.shape[0] > _MEDIAN_SUBSAMPLE:
            generator = torch.Generator().manual_seed(0)
            sample = pooled[torch.randperm(pooled.shape[0], generator=generator)[:_MEDIAN_SUBSAMPLE].to(pooled.device)]
        median = _median_distance(sample)
        bandwidth = median
    if kernel == "multi_rbf" and isinstance(bandwidth, float):
        bandwidth = [bandwidth * f for f in MULTI_RBF_FACTORS]
    squared = torch.cdist(pooled, pooled).pow_(2)
    if kernel == "rbf":
        return torch.exp(-squared / (2 * bandwidth ** 2)), bandwidth
    matrix = torch.zeros_like(squared)
    for sigma in bandwidth:
        matrix += torch.exp(-squared / (2 * sigma ** 2))
    return matrix / len(bandwidth), list(bandwidth)


# -------------------------------------------------------------------------------------------- statistic
def _statistics(assign: torch.Tensor, zero_diag: torch.Tensor, row_sums: torch.Tensor, total: torch.Tensor,
                diagonal: torch.Tensor, n_x: int, n_y: int, unbiased: bool) -> torch.Tensor:
    """MMD^2 for each row of ``assign`` (permutations, N), 1 where the sample belongs to the first group."""
    within_x = ((assign @ zero_diag) * assign).sum(dim=1)
    to_rest = assign @ row_sums
    between = to_rest - within_x
    within_y = total - 2 * to_rest + within_x
    if unbiased:
        return within_x / (n_x * (n_x - 1)) + within_y / (n_y * (n_y - 1)) - 2 * between / (n_x * n_y)
    diagonal_x = assign @ diagonal
    diagonal_y = diagonal.sum() - diagonal_x
    return ((within_x + diagonal_x) / n_x ** 2 + (within_y + diagonal_y) / n_y ** 2
            - 2 * between / (n_x * n_y))


def _prepare(x: torch.Tensor, y: torch.Tensor, kernel: str, bandwidth: Any) -> dict[str, Any]:
    matrix, used = _kernel_matrix(torch.cat([x, y]), kernel, bandwidth)
    diagonal = matrix.diagonal().clone()
    zero_diag = matrix.fill_diagonal_(0.0)
    row_sums = zero_diag.sum(dim=1)
    return {"zero_diag": zero_diag, "row_sums": row_sums, "total": row_sums.sum(), "diagonal": diagonal,
            "bandwidth": used}


def mmd2(x: Any, y: Any, *, kernel: str = "rbf", bandwidth: float | Sequence[float] | None = None,
         unbiased: bool = True) -> float:
    """MMD^2 between two samples (see the module docstring for the estimators).

    Parameters
    ----------
    x : (m, dims) samples of the first group (1-D for one dim). NumPy array or torch tensor.
    y : (n, dims) samples of the second group.
    kernel : ``"rbf"``, ``"multi_rbf"`` or ``"linear"``.
    bandwidth : RBF sigma; for ``multi_rbf`` a list of sigmas, or one sigma s for s * (1/4, 1/2, 1, 2, 4); None:
        the median heuristic on the pooled sample.
    unbiased : the U-statistic (can be negative) rather than the biased V-statistic.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> same = mmd2(rng.normal(size=(200, 2)), rng.normal(size=(200, 2)))
    >>> shifted = mmd2(rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 1.0)
    >>> abs(same) < 0.01 < shifted
    True
    """
    one_of("kernel", kernel, KERNELS)
    bandwidth = _check_bandwidth(kernel, bandwidth)
    x_t, y_t = _check_samples(x, y, unbiased)
    parts = _prepare(x_t, y_t, kernel, bandwidth)
    assign = torch.zeros(1, x_t.shape[0] + y_t.shape[0], dtype=x_t.dtype, device=x_t.device)
    assign[0, :x_t.shape[0]] = 1.0
    return float(_statistics(assign, parts["zero_diag"], parts["row_sums"], parts["total"], parts["diagonal"],
                             x_t.shape[0], y_t.shape[0], unbiased)[0])


def mmd_test(x: Any, y: Any, *, kernel: str = "rbf", bandwidth: float | Sequence[float] | None = None,
             unbiased: bool = True, n_permutations: int = 1000, seed: int = 0,
             chunk_size: int = 256) -> MMDResult:
    """Permutation test of H0: x and y come from the same distribution, with the MMD^2 statistic.

    Parameters
    ----------
    x : (m, dims) samples of the first group (NumPy or torch; a CUDA tensor keeps the work on its GPU).
    y : (n, dims) samples of the second group.
    kernel, bandwidth, unbiased : as in :func:`mmd2`.
    n_permutations : random relabellings of the pooled sample.
    seed : seeds the permutations (same seed, same inputs -> same p-value).
    chunk_size : permutations evaluated per matrix product (memory: chunk_size x (m + n) floats).

    Returns
    -------
    MMDResult with the statistic, p = (1 + #{null >= statistic}) / (1 + n_permutations) and the null sample.
    """
    one_of("kernel", kernel, KERNELS)
    bandwidth = _check_bandwidth(kernel, bandwidth)
    n_permutations = positive_int("n_permutations", n_permutations)
    seed = positive_int("seed", seed, minimum=0)
    chunk_size = positive_int("chunk_size", chunk_size)
    x_t, y_t = _check_samples(x, y, unbiased)
    n_x, n_y = x_t.shape[0], y_t.shape[0]
    n_total = n_x + n_y
    parts = _prepare(x_t, y_t, kernel, bandwidth)
    args = (parts["zero_diag"], parts["row_sums"], parts["total"], parts["diagonal"], n_x, n_y, unbiased)
    observed_assign = torch.zeros(1, n_total, dtype=x_t.dtype, device=x_t.device)
    observed_assign[0, :n_x] = 1.0
    observed = _statistics(observed_assign, *args)[0]
    rng = np.random.default_rng(seed)
    null = []
    for start in range(0, n_permutations, chunk_size):
        size = min(chunk_size, n_permutations - start)
        # a uniformly random n_x-subset per row: the n_x smallest of i.i.d. uniforms
        chosen = np.argpartition(rng.random((size, n_total)), n_x - 1, axis=1)[:, :n_x]
        assign = torch.zeros(size, n_total, dtype=x_t.dtype, device=x_t.device)
        assign.scatter_(1, torch.as_tensor(chosen, device=x_t.device), 1.0)
        null.append(_statistics(assign, *args))
    null_t = torch.cat(null)
    # a relative tolerance so that float round-off of permutations equal to the observed split counts as equal
    tolerance = 1e-10 * float(parts["total"].abs()) / (n_x * n_y) + 1e-14
    exceed = int((null_t >= observed - tolerance).sum())
    return MMDResult(statistic=float(observed), p_value=(1 + exceed) / (1 + n_permutations),
                     null=null_t.cpu().numpy(), kernel=kernel, bandwidth=parts["bandwidth"], unbiased=unbiased,
                     n_x=n_x, n_y=n_y)


def pairwise_mmd(groups: Mapping[str, Any] | Sequence[Any], *, kernel: str = "rbf",
                 bandwidth: float | Sequence[float] | None = None, unbiased: bool = True,
                 n_permutations: int = 0, seed: int = 0) -> PairwiseMMD:
    """MMD^2 (and, with ``n_permutations`` > 0, permutation p-values) between every pair of groups.

    Parameters
    ----------
    groups : dict name -> (samples, dims) array, or a list of arrays (named "0", "1", ...). At least two.
    bandwidth : None: the median heuristic on each pair's pooled sample.
    n_permutations : 0 for statistics only.

    Returns
    -------
    PairwiseMMD with (groups, groups) ``statistic`` and ``p_value``.
    """
    if isinstance(groups, Mapping):
        names, samples = [str(k) for k in groups], list(groups.values())
    elif isinstance(groups, (list, tuple)):
        names, samples = [str(i) for i in range(len(groups))], list(groups)
    else:
        raise TypeError(f"groups: expected a dict name -> samples or a list of sample arrays, got {describe(groups)}.")
    if len(samples) < 2:
        raise ValueError(f"groups: expected at least two groups to compare, got {len(samples)}.")
    n_permutations = positive_int("n_permutations", n_permutations, minimum=0)
    size = len(samples)
    statistic, p_value = np.zeros((size, size)), np.full((size, size), np.nan)
    for i in range(size):
        for j in range(i + 1, size):
            try:
                if n_permutations:
                    result = mmd_test(samples[i], samples[j], kernel=kernel, bandwidth=bandwidth, unbiased=unbiased,
                                      n_permutations=n_permutations, seed=seed)
                    statistic[i, j], p_value[i, j] = result.statistic, result.p_value
                else:
                    statistic[i, j] = mmd2(samples[i], samples[j], kernel=kernel, bandwidth=bandwidth,
                                           unbiased=unbiased)
            except (ValueError, TypeError) as error:
                raise type(error)(f"groups[{names[i]!r}] vs groups[{names[j]!r}]: {error}") from None
            statistic[j, i], p_value[j, i] = statistic[i, j], p_value[i, j]
    return PairwiseMMD(names=names, statistic=statistic, p_value=p_value)


class MMDTest:
    """Class front of :func:`mmd_test`: settings once, then ``test(x, y)`` on any number of pairs.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> tester = MMDTest(n_permutations=200, seed=0)
    >>> tester.test(rng.normal(size=(100, 3)), rng.normal(size=(100, 3)) + 1.0).p_value < 0.01
    True
    """

    def __init__(self, *, kernel: str = "rbf", bandwidth: float | Sequence[float] | None = None,
                 unbiased: bool = True, n_permutations: int = 1000, seed: int = 0, chunk_size: int = 256) -> None:
        self.kernel = one_of("kernel", kernel, KERNELS)
        self.bandwidth = _check_bandwidth(kernel, bandwidth)
        self.unbiased = bool(unbiased)
        self.n_permutations = positive_int("n_permutations", n_permutations)
        self.seed = positive_int("seed", seed, minimum=0)
        self.chunk_size = positive_int("chunk_size", chunk_size)

    def statistic(self, x: Any, y: Any) -> float:
        """MMD^2 of ``x`` (m, dims) and ``y`` (n, dims)."""
        return mmd2(x, y, kernel=self.kernel, bandwidth=self.bandwidth, unbiased=self.unbiased)

    def test(self, x: Any, y: Any) -> MMDResult:
        """Permutation test of ``x`` (m, dims) against ``y`` (n, dims)."""
        return mmd_test(x, y, kernel=self.kernel, bandwidth=self.bandwidth, unbiased=self.unbiased,
                        n_permutations=self.n_permutations, seed=self.seed, chunk_size=self.chunk_size)

    def pairwise(self, groups: Mapping[str, Any] | Sequence[Any]) -> PairwiseMMD:
        """Statistics and p-values between every pair of ``groups``."""
        return pairwise_mmd(groups, kernel=self.kernel, bandwidth=self.bandwidth, unbiased=self.unbiased,
                            n_permutations=self.n_permutations, seed=self.seed)

    def __repr__(self) -> str:
        return (f"MMDTest(kernel={self.kernel!r}, bandwidth={self.bandwidth!r}, unbiased={self.unbiased}, "
                f"n_permutations={self.n_permutations}, seed={self.seed})")
