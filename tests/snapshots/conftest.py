"""The linear flow x_t = exp(-theta t) x_0, x_0 ~ N(M0, diag(SD0^2)), shared by the estimators' tests: its
velocity -theta x is a gradient field, and every marginal is known in closed form."""

from types import SimpleNamespace

import numpy as np
import pytest

from neuralign.snapshots import Snapshots

M0, SD0 = np.array([2.0, -1.0]), np.sqrt([1.0, 0.5])
TIMES = np.array([0.0, 0.25, 0.5, 0.75, 1.0])


def _snapshots(theta=1.5, n=300, seed=0, times=TIMES, mu=None):
    """Independent samples of the flow at ``times`` (one fresh x_0 sample per time)."""
    rng = np.random.default_rng(seed)
    return Snapshots(times, [np.exp(-theta * t) * (M0 + rng.standard_normal((n, 2)) * SD0) for t in times], mu=mu)


def _mean(theta, t):
    return np.exp(-theta * t) * M0


def _cov(theta, t):
    return np.exp(-2 * theta * t) * np.diag(SD0 ** 2)


@pytest.fixture(scope="session")
def linear_flow():
    """snapshots(theta, n, seed, times, mu), mean(theta, t), cov(theta, t), M0, SD0, TIMES."""
    return SimpleNamespace(snapshots=_snapshots, mean=_mean, cov=_cov, M0=M0, SD0=SD0, TIMES=TIMES)
