"""What every snapshot estimator shares: the fitted snapshots, and the checks of ``predict``'s arguments.

Interface: ``fit(snapshots) -> self``; ``predict(times, start=0, *, start_time=None, n=None, seed=None)`` -> one
(n, d) cloud per time; ``velocity(x, t)`` -> (n, d); ``save(path)`` / ``load(path)`` (``models.base``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from neuralign._checks import as_array, describe, positive_int
from neuralign.models.base import Estimator
from neuralign.snapshots.container import Snapshots


def check_snapshots(name: str, value: Any, *, minimum: int = 2) -> Snapshots:
    """Raise a clear error unless ``value`` is a Snapshots with at least ``minimum`` clouds."""
    if not isinstance(value, Snapshots):
        raise TypeError(f"{name}: expected a neuralign.snapshots.Snapshots, got {describe(value)}; build one with "
                        "Snapshots(times, clouds) or Snapshots.from_trialdata(...).")
    if len(value) < minimum:
        raise ValueError(f"{name}: expected at least {minimum} snapshots (marginals at distinct times), got "
                         f"{len(value)}.")
    return value


class SnapshotEstimator(Estimator):
    """Base of the snapshot estimators: keeps the fitted times and clouds (saved with the model)."""

    def _remember(self, snapshots: Snapshots) -> None:
        self.times_ = snapshots.times.copy()
        self.clouds_ = [cloud.copy() for cloud in snapshots.clouds]
        self.dim_ = snapshots.dim

    def _snapshot_state(self) -> dict[str, Any]:
        return {"times": torch.as_tensor(self.times_), "clouds": [torch.as_tensor(c) for c in self.clouds_]}

    def _set_snapshot_state(self, state: dict[str, Any]) -> None:
        self.times_ = state["times"].numpy().astype(np.float64)
        self.clouds_ = [c.numpy().astype(np.float32) for c in state["clouds"]]
        self.dim_ = self.clouds_[0].shape[1]

    def _check_points(self, name: str, x: Any) -> np.ndarray:
        x = as_array(name, x, ndim=2)
        if x.shape[1] != self.dim_:
            raise ValueError(f"{name}: expected points of dimension {self.dim_} (the fitted clouds'), got "
                             f"{describe(x)}.")
        return x

    def _check_time(self, name: str, t: Any) -> float:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not np.isfinite(t):
            raise TypeError(f"{name}: expected a finite time (a number), got {describe(t)}.")
        low, high = self.times_[0], self.times_[-1]
        if not low <= t <= high:
            raise ValueError(f"{name}: expected a time within the fitted range [{low:g}, {high:g}], got {t:g}; "
                             "this estimator does not extrapolate.")
        return float(t)

    def _prediction_inputs(self, times: Any, start: Any, start_time: Any, n: Any,
                           generator: torch.Generator) -> tuple[np.ndarray, float, np.ndarray]:
        """Check ``predict``'s arguments before any work: (times (T,), start time, start cloud (n, d))."""
        self._check_fitted("predict")
        if isinstance(start, (int, np.integer)) and not isinstance(start, bool):
            k = int(start)
            if not -len(self.times_) <= k < len(self.times_):
                raise ValueError(f"start: expected a snapshot index in [0, {len(self.times_)}) of the fitted "
                                 f"snapshots, or a (n, d) cloud, got {k}.")
            if start_time is not None:
                raise ValueError("start_time: give it only with a start cloud; a start index has its own time.")
            t_start, cloud = float(self.times_[k]), self.clouds_[k]
        elif start is None or isinstance(start, bool):
            raise TypeError(f"start: expected a snapshot index or a (n, d) cloud, got {describe(start)}.")
        else:
            cloud = self._check_points("start", start)
            t_start = self._check_time("start_time", self.times_[0] if start_time is None else start_time)
        if n is not None:
            n = positive_int("n", n)
            cloud = cloud[torch.randint(len(cloud), (n,), generator=generator).numpy()] if n != len(cloud) else cloud
        times_array = as_array("times", np.atleast_1d(times) if np.ndim(times) == 0 else times, ndim=1,
                               dtype=np.float64)
        low, high = self.times_[0], self.times_[-1]
        outside = (times_array < t_start) | (times_array > high)
        if outside.any():
            raise ValueError(f"times: expected times in [{t_start:g}, {high:g}] (from the start's time to the last "
                             f"fitted time; fitted range [{low:g}, {high:g}]), got {times_array[outside].tolist()}.")
        if np.any(np.diff(times_array) < 0):
            raise ValueError(f"times: expected non-decreasing times, got {times_array.tolist()}; sort them.")
        return times_array, t_start, cloud
