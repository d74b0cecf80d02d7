"""McCann displacement interpolation between neighbouring snapshots: a baseline without any learned dynamics.

For a time t in [t_k, t_{k+1}] with lam = (t - t_k) / (t_{k+1} - t_k), the predicted cloud is the W2 geodesic
between the two empirical marginals: pairs (i, j) drawn from the exact OT plan P_k (squared-Euclidean cost, POT)
by systematic resampling, each placed at (1 - lam) x_i + lam y_j. Its velocity at a paired point is the
displacement (y_j - x_i) / (t_{k+1} - t_k), constant along the segment; ``velocity(x, t)`` returns the velocity of
the nearest interpolated particle. A start cloud other than a fitted snapshot replaces the marginal at its time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neuralign._checks import positive_int
from neuralign.models.base import register_model
from neuralign.snapshots.base import SnapshotEstimator, check_snapshots
from neuralign.snapshots.container import Snapshots
from neuralign.snapshots.coupling import Coupling, couple, displace, systematic_draw


@dataclass
class McCannConfig:
    """Settings of :class:`McCannInterpolation`. seed : default seed of the resampling of plan pairs."""

    seed: int = 0

    def __post_init__(self) -> None:
        positive_int("seed", self.seed, minimum=0)


@register_model
class McCannInterpolation(SnapshotEstimator):
    """Displacement interpolation along exact OT plans between neighbouring snapshots."""

    config_class = McCannConfig

    def fit(self, snapshots: Snapshots) -> "McCannInterpolation":
        """Compute the OT plan between every pair of neighbouring clouds."""
        snapshots = check_snapshots("snapshots", snapshots)
        self._remember(snapshots)
        self._plans = {}
        self.fitted_ = True
        return self

    def _plan(self, k: int) -> Coupling:
        if k not in self._plans:
            self._plans[k] = couple(torch.as_tensor(self.clouds_[k]), torch.as_tensor(self.clouds_[k + 1]), "ot")
        return self._plans[k]

    def _anchors(self, t_start: float, cloud: np.ndarray) -> tuple[list[float], list[np.ndarray], list[Coupling | None]]:
        """The marginals from the start on: the start cloud, then the fitted snapshots after its time."""
        later = [k for k in range(len(self.times_)) if self.times_[k] > t_start]
        times = [t_start] + [float(self.times_[k]) for k in later]
        clouds = [cloud] + [self.clouds_[k] for k in later]
        fitted = [k for k in range(len(self.times_)) if self.times_[k] == t_start and cloud is self.clouds_[k]]
        plans: list[Coupling | None] = [None] * (len(times) - 1)
        if fitted and plans:
            plans[0] = self._plan(fitted[0])
        for index, k in enumerate(later[:-1]):
            plans[index + 1] = self._plan(k)
        return times, clouds, plans

    def predict(self, times: Any, start: Any = 0, *, start_time: float | None = None, n: int | None = None,
                seed: int | None = None) -> list[np.ndarray]:
        """Interpolated clouds at ``times``; arguments as in ``ActionMatching.predict`` (``n`` defaults to the
        start cloud's size; pairs are drawn from each plan by systematic resampling seeded by ``seed``)."""
        generator = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        times, t_start, cloud = self._prediction_inputs(times, start, start_time, None, generator)
        size = len(cloud) if n is None else positive_int("n", n)
        anchor_times, anchor_clouds, plans = self._anchors(t_start, cloud)
        out = []
        for t in times:
            k = min(int(np.searchsorted(anchor_times, t, side="right")) - 1, len(anchor_times) - 2)
            if len(anchor_times) == 1:  # starting at the last fitted time: t is the start time
                uniform = torch.full((len(cloud),), 1.0 / len(cloud), dtype=torch.float64)
                out.append(cloud[systematic_draw(uniform, size, generator).numpy()])
                continue
            x, y = torch.as_tensor(anchor_clouds[k]), torch.as_tensor(anchor_clouds[k + 1])
            if plans[k] is None:
                plans[k] = couple(x, y, "ot")
            lam = (t - anchor_times[k]) / (anchor_times[k + 1] - anchor_times[k])
            pairs = systematic_draw(plans[k].weights, size, generator)
            out.append(displace(x, y, plans[k], float(lam), pairs).numpy().astype(np.float32))
        return out

    def velocity(self, x: Any, t: float) -> np.ndarray:
        """The displacement velocity of the interpolated particle nearest to each point of x (n, d) at time t."""
        self._check_fitted("velocity")
        x = self._check_points("x", x)
        t = self._check_time("t", t)
        k = min(int(np.searchsorted(self.times_, t, side="right")) - 1, len(self.times_) - 2)
        plan = self._plan(k)
        source, target = torch.as_tensor(self.clouds_[k])[plan.source], torch.as_tensor(self.clouds_[k + 1])[plan.target]
        lam = (t - self.times_[k]) / (self.times_[k + 1] - self.times_[k])
        positions = (1 - lam) * source + lam * target
        nearest = torch.cdist(torch.as_tensor(x), positions).argmin(1)
        return ((target - source)[nearest] / (self.times_[k + 1] - self.times_[k])).numpy().astype(np.float32)

    def _get_state(self) -> dict[str, Any]:
        return self._snapshot_state()

    def _set_state(self, state: dict[str, Any]) -> None:
        self._set_snapshot_state(state)
        self._plans = {}
