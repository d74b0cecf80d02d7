"""Benchmark ``mmd``: its data-generating shifts and its pieces on small settings (the full run is the benchmark)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from neuralign.bench import BENCHMARKS, Row
from neuralign.bench import mmd as bench


def test_registered():
    assert BENCHMARKS["mmd"] == "neuralign.bench.mmd"


def test_shifts_do_what_their_names_say():
    rng = np.random.default_rng(0)
    kinds = list(bench.SHIFTS)
    x, y = bench.draw(kinds[0], 0.5, 4000, rng)
    assert x.shape == y.shape == (4000, bench.DIMS)
    assert y[:, 0].mean() - x[:, 0].mean() == pytest.approx(0.5, abs=0.1)
    assert np.abs(y[:, 1:].mean(0) - x[:, 1:].mean(0)).max() < 0.1
    x, y = bench.draw(kinds[1], 1.3, 4000, rng)
    assert y.std() / x.std() == pytest.approx(1.3, abs=0.05)
    x, y = bench.draw(kinds[2], 0.2, 4000, rng)
    assert (x[:, 0] > 0).mean() == pytest.approx(0.5, abs=0.04) and (y[:, 0] > 0).mean() == pytest.approx(0.7, abs=0.04)
    x, y = bench.draw("null", 0.0, 4000, rng)
    assert abs(x.mean() - y.mean()) < 0.05


def test_rejections_are_indicators_and_sensitive():
    started = time.perf_counter()
    null, seconds = bench._rejections("null", 0.0, 30, 10, "rbf", seed=0)
    wall = time.perf_counter() - started
    assert set(null) <= {0.0, 1.0} and len(null) == 10
    # seconds is per replicate (10 tests): the replicates account for most of the wall time and no more
    assert 0.5 * wall <= 10 * seconds <= wall
    strong, _ = bench._rejections(list(bench.SHIFTS)[0], 2.0, 30, 5, "rbf", seed=0)
    assert strong == [1.0] * 5


def test_golub_rows():
    rows = bench.golub(lambda message: None)
    assert all(isinstance(row, Row) for row in rows)
    assert rows[0].n == 1 and rows[1].n == 8 and 0 < rows[0].mean <= 1
