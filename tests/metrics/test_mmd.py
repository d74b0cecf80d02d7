"""MMD^2 statistics against a brute-force reference, the permutation test's p-value and calibration, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from neuralign.metrics import MMDTest, median_bandwidth, mmd2, mmd_test, pairwise_mmd


def _rbf(a, b, sigma):
    return np.exp(-((a[:, None] - b[None]) ** 2).sum(-1) / (2 * sigma ** 2))


def _brute(x, y, kernel, unbiased):
    kxx, kyy, kxy = kernel(x, x), kernel(y, y), kernel(x, y)
    m, n = len(x), len(y)
    if unbiased:
        return ((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                - 2 * kxy.mean())
    return kxx.mean() + kyy.mean() - 2 * kxy.mean()


def _median(x, y):
    z = np.concatenate([x, y])
    distances = np.sqrt(((z[:, None] - z[None]) ** 2).sum(-1))
    return np.median(distances[np.triu_indices(len(z), 1)])


@pytest.fixture()
def samples():
    rng = np.random.default_rng(0)
    return rng.normal(size=(25, 3)), rng.normal(size=(18, 3)) + 0.4


@pytest.mark.parametrize("unbiased", [True, False])
def test_statistics_match_brute_force(samples, unbiased):
    x, y = samples
    sigma = _median(x, y)
    assert median_bandwidth(x, y) == pytest.approx(sigma)
    assert mmd2(x, y, unbiased=unbiased) == pytest.approx(_brute(x, y, lambda a, b: _rbf(a, b, sigma), unbiased))
    assert mmd2(x, y, kernel="rbf", bandwidth=0.7, unbiased=unbiased) == pytest.approx(
        _brute(x, y, lambda a, b: _rbf(a, b, 0.7), unbiased))
    assert mmd2(x, y, kernel="linear", unbiased=unbiased) == pytest.approx(
        _brute(x, y, lambda a, b: a @ b.T, unbiased))
    def multi(a, b):
        return np.mean([_rbf(a, b, sigma * f) for f in (0.25, 0.5, 1, 2, 4)], axis=0)

    assert mmd2(x, y, kernel="multi_rbf", unbiased=unbiased) == pytest.approx(_brute(x, y, multi, unbiased))
    def two(a, b):
        return (_rbf(a, b, 0.5) + _rbf(a, b, 2.0)) / 2

    assert mmd2(x, y, kernel="multi_rbf", bandwidth=[0.5, 2.0], unbiased=unbiased) == pytest.approx(
        _brute(x, y, two, unbiased))


def test_linear_unbiased_mmd_is_squared_mean_difference_minus_noise():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(800, 2)), rng.normal(size=(800, 2)) + [1.0, 0.0]
    assert mmd2(x, y, kernel="linear") == pytest.approx(1.0, abs=0.2)


def test_p_value_formula_and_null(samples):
    x, y = samples
    result = mmd_test(x, y, n_permutations=300, seed=3)
    assert result.null.shape == (300,) and result.n_permutations == 300
    assert result.statistic == pytest.approx(mmd2(x, y))
    expected = (1 + np.sum(result.null >= result.statistic - 1e-12)) / 301
    assert result.p_value == pytest.approx(expected)
    assert 1 / 301 <= result.p_value <= 1


def test_null_matches_brute_force_permutations(samples):
    x, y = samples
    pooled = np.concatenate([x, y])
    sigma = _median(x, y)
    rng = np.random.default_rng(5)
    brute = []
    for _ in range(400):
        order = rng.permutation(len(pooled))
        brute.append(_brute(pooled[order[:25]], pooled[order[25:]], lambda a, b: _rbf(a, b, sigma), True))
    ours = mmd_test(x, y, n_permutations=400, seed=0).null
    assert ks_2samp(ours, brute).pvalue > 0.01
    assert np.mean(ours) == pytest.approx(np.mean(brute), abs=3 * np.std(brute) / np.sqrt(200))


def test_calibrated_under_the_null_and_powerful_under_a_shift():
    rng = np.random.default_rng(7)
    rejections = [mmd_test(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), n_permutations=99,
                           seed=i).p_value <= 0.05 for i in range(200)]
    assert 0.01 <= np.mean(rejections) <= 0.10
    shifted = mmd_test(rng.normal(size=(60, 2)), rng.normal(size=(60, 2)) + 1.0, n_permutations=200)
    assert shifted.p_value == pytest.approx(1 / 201)


def test_identical_samples_give_a_large_p_value():
    x = np.random.default_rng(2).normal(size=(30, 2))
    assert mmd_test(x, x.copy(), n_permutations=200).p_value > 0.5


def test_seeded_and_independent_of_chunk_size(samples):
    x, y = samples
    first = mmd_test(x, y, n_permutations=100, seed=4)
    assert np.allclose(first.null, mmd_test(x, y, n_permutations=100, seed=4, chunk_size=7).null, rtol=1e-9, atol=1e-12)
    assert not np.array_equal(first.null, mmd_test(x, y, n_permutations=100, seed=5).null)


def test_accepts_tensors_and_1d(samples):
    x, y = samples
    assert mmd2(torch.as_tensor(x), torch.as_tensor(y)) == pytest.approx(mmd2(x, y))
    assert np.isfinite(mmd2(x[:, 0], y[:, 0]))


def test_pairwise_and_class_api(samples):
    x, y = samples
    z = np.random.default_rng(9).normal(size=(20, 3)) + 3.0
    result = pairwise_mmd({"x": x, "y": y, "z": z}, n_permutations=50)
    assert result.names == ["x", "y", "z"]
    assert np.allclose(result.statistic, result.statistic.T) and np.all(np.diag(result.statistic) == 0)
    assert np.isnan(np.diag(result.p_value)).all() and result.p_value[0, 2] == pytest.approx(1 / 51)
    assert result.statistic[0, 1] == pytest.approx(mmd2(x, y))
    assert np.isnan(pairwise_mmd([x, y]).p_value).all()
    tester = MMDTest(n_permutations=50, seed=2)
    assert tester.test(x, y).p_value == mmd_test(x, y, n_permutations=50, seed=2).p_value
    assert tester.statistic(x, y) == pytest.approx(mmd2(x, y))
    assert tester.pairwise([x, y, z]).statistic.shape == (3, 3)
    assert "n_permutations=50" in repr(tester)


@pytest.mark.parametrize("call, match", [
    (lambda x, y: mmd2(x, y[:, :2]), "y: expected the same number of dims"),
    (lambda x, y: mmd2(x, y, kernel="cosine"), "kernel: expected one of"),
    (lambda x, y: mmd2(x, y, kernel="linear", bandwidth=1.0), "bandwidth: the linear kernel"),
    (lambda x, y: mmd2(x, y, bandwidth=-1.0), "bandwidth: expected a finite number > 0"),
    (lambda x, y: mmd2(x[None], y), "x: expected samples as a"),
    (lambda x, y: mmd2(x[:1], y), "x: expected at least 2 samples"),
    (lambda x, y: mmd_test(x, y, n_permutations=0), "n_permutations: expected an integer >= 1"),
    (lambda x, y: mmd_test(x, y, seed=-1), "seed: expected an integer >= 0"),
    (lambda x, y: pairwise_mmd([x]), "groups: expected at least two groups"),
    (lambda x, y: pairwise_mmd({"a": x, "b": y[:, :2]}), "groups\\['a'\\] vs groups\\['b'\\]: y: expected"),
    (lambda x, y: mmd2(np.full((3, 3), np.nan), y), "x: expected finite values"),
])
def test_bad_input_names_the_argument(samples, call, match):
    x, y = samples
    with pytest.raises((ValueError, TypeError), match=match):
        call(x, y)


def test_bad_types():
    with pytest.raises(TypeError, match="groups: expected a dict"):
        pairwise_mmd(np.zeros((3, 2)))
    with pytest.raises(TypeError, match="x: expected an array"):
        mmd2(None, np.zeros((3, 2)))
    assert mmd2(np.zeros((1, 2)), np.ones((1, 2)), unbiased=False) > 0
