"""Benchmark rows: which standard deviation they carry."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.bench import Row, format_table, sample_std


def test_row_std_is_the_sample_standard_deviation():
    values = [1.0, 2.0, 4.0, 7.0]
    row = Row.from_values("m", "s", "r2", values, [0.5, 1.5])
    assert row.std == pytest.approx(np.std(values, ddof=1)) and row.std != pytest.approx(np.std(values))
    assert row.mean == 3.5 and row.n == 4 and row.seconds == 1.0 and row.values == values


def test_a_single_run_has_std_zero_not_nan():
    row = Row.from_values("m", "s", "r2", [0.7], 2.0)
    assert row.std == 0.0 and row.n == 1


def test_sample_std_over_an_axis():
    values = np.array([[1.0, 2.0], [3.0, 6.0]])
    np.testing.assert_allclose(sample_std(values, axis=0), np.std(values, axis=0, ddof=1))
    np.testing.assert_array_equal(sample_std(values[:1], axis=0), [0.0, 0.0])


def test_the_table_says_which_std():
    assert "mean +- std (ddof 1)" in format_table([Row.from_values("m", "s", "r2", [1.0, 2.0], 1.0)])
