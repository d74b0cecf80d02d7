"""MMD figures: each takes ax=None, draws what it is given and returns the axes."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.plot import embedding, mmd_matrix, null_distribution
from neuralign.plot._style import pyplot


def test_null_distribution_marks_the_observed_statistic():
    axes = null_distribution(np.random.default_rng(0).normal(size=200), 2.5, p_value=0.004, title="t")
    assert axes.lines[0].get_xdata()[0] == 2.5
    assert "p = 0.004" in axes.get_legend().get_texts()[0].get_text()
    pyplot().close(axes.figure)


def test_embedding_one_colour_per_group():
    points = np.random.default_rng(0).normal(size=(30, 2))
    axes = embedding(points, ["a"] * 10 + ["b"] * 20, method="PCA")
    assert len(axes.collections) == 2 and axes.get_xlabel() == "PCA 1"
    with pytest.raises(ValueError, match="groups: expected one label per point"):
        embedding(points, ["a"] * 3)
    pyplot().close("all")


def test_mmd_matrix_stars_significant_cells():
    matrix = np.array([[0, 0.3], [0.3, 0]])
    p_value = np.array([[np.nan, 0.001], [0.001, np.nan]])
    axes = mmd_matrix(matrix, ["x", "y"], p_value=p_value)
    assert [t.get_text() for t in axes.texts] == ["*", "*"]
    with pytest.raises(ValueError, match="names: expected 2 names"):
        mmd_matrix(matrix, ["x"])
    pyplot().close("all")
