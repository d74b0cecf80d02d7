"""Tests of neuralign.plot.regions: every function draws on the given axes and returns them; bad shapes fail."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.plot._style import pyplot
from neuralign.plot.regions import (class_displacement_bars, displacement_arrows, latent_view, region_panels,
                                    similarity_heatmap, similarity_vs_lambda)


def test_each_plot_returns_its_axes():
    plt = pyplot()
    rng = np.random.default_rng(0)
    view, labels = rng.standard_normal((30, 2)), np.repeat(np.arange(3), 10)
    figure, axes = plt.subplots(1, 5)
    assert latent_view(view, labels, ax=axes[0]) is axes[0]
    assert displacement_arrows(view, view + 0.1, labels, ax=axes[1]) is axes[1]
    assert class_displacement_bars(np.ones((2, 3)), ["a->b", "b->c"], [0, 1, 2], ax=axes[2]) is axes[2]
    assert similarity_heatmap(np.eye(3), ["a", "b", "c"], ax=axes[3]) is axes[3]
    assert similarity_vs_lambda([0, 1, 100], {"x": [0.1, 0.5, 0.9]}, ax=axes[4]) is axes[4]
    assert len(axes[4].get_lines()) == 1 and len(axes[2].patches) == 6
    plt.close(figure)
    panels = region_panels({"a": view, "b": view * 2}, labels)
    assert len(panels.axes) == 4
    plt.close(panels)


@pytest.mark.parametrize("call, match", [
    (lambda: latent_view(np.zeros((5, 3))), "view"),
    (lambda: displacement_arrows(np.zeros((5, 2)), np.zeros((4, 2))), "end"),
    (lambda: class_displacement_bars(np.ones((2, 2)), ["a"], [0, 1]), "per_class"),
    (lambda: similarity_heatmap(np.eye(2), ["a", "b", "c"]), "matrix"),
    (lambda: similarity_vs_lambda([0, 1], {"x": [1.0]}), "curves"),
    (lambda: similarity_vs_lambda([0, 1], []), "curves"),
])
def test_bad_inputs_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
