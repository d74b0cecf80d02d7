"""Snapshot figures: each takes ax=None, draws arrays and returns the axes."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.plot import distance_over_time, snapshot_clouds, velocity_arrows
from neuralign.plot._style import pyplot


def test_clouds_observed_and_predicted_in_a_projection():
    rng = np.random.default_rng(0)
    clouds = [rng.normal(size=(20, 3)) for _ in range(3)]
    axes = snapshot_clouds([0, 1, 2], clouds, predicted=[clouds[1]], predicted_times=[1], projection=np.eye(3)[:, :2])
    assert len(axes.collections) == 4
    with pytest.raises(ValueError, match="projection: expected a \\(3, 2\\) matrix"):
        snapshot_clouds([0, 1, 2], clouds, projection=np.eye(2))
    with pytest.raises(ValueError, match="clouds: expected one cloud per time"):
        snapshot_clouds([0, 1], clouds)
    pyplot().close("all")


def test_velocity_arrows_over_a_curl_map_and_distances_over_time():
    points = np.random.default_rng(0).normal(size=(10, 2))
    axes = velocity_arrows(points, points[:, ::-1], curl=np.ones((4, 4)), extent=(-1, 1, -1, 1), title="f")
    assert axes.get_title() == "f" and len(axes.images) == 1
    with pytest.raises(ValueError, match="extent"):
        velocity_arrows(points, points, curl=np.ones((4, 4)))
    axes = distance_over_time([0.5, 1.0], {"am": [0.2, 0.3], "mccann": [0.1, 0.1]}, floor=[0.05, 0.05])
    assert len(axes.lines) == 3 and axes.get_ylabel() == "W1"
    with pytest.raises(ValueError, match="values\\['am'\\]: expected one value per time"):
        distance_over_time([0.5], {"am": [0.2, 0.3]})
    pyplot().close("all")
