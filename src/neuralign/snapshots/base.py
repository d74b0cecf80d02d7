"""What every snapshot estimator shares: the fitted snapshots, the rescaled frame, the checks of ``predict``'s
arguments, the common training settings and the way each estimator drives the one training loop.

Interface: ``fit(snapshots) -> self``; ``predict(times, start=0, *, start_time=None, n=None, seed=None)`` -> one
(n, d) cloud per time; ``velocity(x, t)`` -> (n, d); ``save(path)`` / ``load(path)`` (``models.base``).

Frame: time is rescaled to u = (t - t_1) / T, T = t_K - t_1, and space standardised to z = (x - m) / c with the
pooled mean m and one pooled scale c (isotropic); networks live in (z, u) and velocities are returned in physical
units, v = c dz/du / T.

Training: each "trial" of ``neuralign.train.train`` is one optimisation step (``steps_per_epoch`` per epoch,
batch size 1) whose loss draws its own minibatches with the loop's per-epoch seeded global generator; the
validation loss is the same loss on a ``val_fraction`` of each cloud's particles, drawn with fixed seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from neuralign._checks import as_array, describe, fraction, positive_float, positive_int
from neuralign.models.base import Estimator
from neuralign.snapshots.container import Snapshots
from neuralign.train import History, TrainConfig, resolve_device, train


def check_snapshots(name: str, value: Any, *, minimum: int = 2) -> Snapshots:
    """Raise a clear error unless ``value`` is a Snapshots with at least ``minimum`` clouds."""
    if not isinstance(value, Snapshots):
        raise TypeError(f"{name}: expected a neuralign.snapshots.Snapshots, got {describe(value)}; build one with "
                        "Snapshots(times, clouds) or Snapshots.from_trialdata(...).")
    if len(value) < minimum:
        raise ValueError(f"{name}: expected at least {minimum} snapshots (marginals at distinct times), got "
                         f"{len(value)}.")
    return value


def split_particles(clouds: list[np.ndarray], val_fraction: float,
                    seed: int) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Hold out ``val_fraction`` of each cloud's particles (seeded); None when a cloud has fewer than 4."""
    return split_particle_rows(clouds, val_fraction, seed)[:2]


def split_particle_rows(clouds: list[np.ndarray], val_fraction: float, seed: int,
                        ) -> tuple[list[np.ndarray], list[np.ndarray] | None, list[tuple[np.ndarray, np.ndarray]]]:
    """``split_particles`` plus the (train rows, validation rows) of each cloud, to split per-particle data
    (e.g. observed velocities) the same way."""
    if val_fraction == 0 or min(len(c) for c in clouds) < 4:
        return clouds, None, [(np.arange(len(c)), np.arange(0)) for c in clouds]
    rng = np.random.default_rng(seed)
    train_parts, val_parts, rows = [], [], []
    for cloud in clouds:
        order = rng.permutation(len(cloud))
        n_val = min(max(int(round(val_fraction * len(cloud))), 1), len(cloud) - 2)
        rows.append((np.sort(order[n_val:]), np.sort(order[:n_val])))
        val_parts.append(cloud[rows[-1][1]])
        train_parts.append(cloud[rows[-1][0]])
    return train_parts, val_parts, rows


@dataclass
class SnapshotTrainingConfig:
    """Settings shared by the trained snapshot estimators.

    hidden_size, n_layers : the network's width and depth.
    standardize : fit in z = (x - pooled mean) / pooled scale (one scale for all dimensions).
    batch_size : particles drawn per cloud (or quadrature node) and step.
    steps_per_epoch : optimisation steps per epoch of the training loop.
    max_epochs, learning_rate, weight_decay, patience : the training loop's settings (AdamW, early stopping).
    val_fraction : fraction of each cloud's particles held out for validation (early stopping); 0 disables it.
    n_val_draws : minibatch draws averaged for the validation loss.
    step : integration step in rescaled time u (1 = the whole fitted range).
    seed, device, verbose : seeding, device (None: CUDA when available, else CPU), progress bar.
    """

    hidden_size: int = 64
    n_layers: int = 3
    standardize: bool = True
    batch_size: int = 256
    steps_per_epoch: int = 50
    max_epochs: int = 40
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    patience: int = 10
    val_fraction: float = 0.1
    n_val_draws: int = 4
    step: float = 0.01
    seed: int = 0
    device: str | None = None
    verbose: bool = True

    def __post_init__(self) -> None:
        for name in ("hidden_size", "n_layers", "batch_size", "steps_per_epoch", "max_epochs", "patience",
                     "n_val_draws"):
            positive_int(name, getattr(self, name))
        positive_float("learning_rate", self.learning_rate)
        positive_float("weight_decay", self.weight_decay, allow_zero=True)
        if self.val_fraction != 0:
            fraction("val_fraction", self.val_fraction)
        positive_float("step", self.step)
        if self.step > 1:
            raise ValueError(f"step: expected an integration step <= 1 (the whole rescaled time range), got "
                             f"{self.step}.")
        positive_int("seed", self.seed, minimum=0)
        resolve_device(self.device)

    def train_config(self, validated: bool) -> TrainConfig:
        return TrainConfig(max_epochs=self.max_epochs, batch_size=1, learning_rate=self.learning_rate,
                           weight_decay=self.weight_decay, val_fraction=self.val_fraction if validated else 0.0,
                           patience=self.patience, seed=self.seed, device=self.device, verbose=self.verbose)


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

    # --------------------------------------------------------------------------------------------- frame
    def _set_frame(self, clouds: list[np.ndarray], times: np.ndarray, standardize: bool) -> None:
        """Start time t0_, span_ T, centre and scale of the rescaled frame (see the module docstring)."""
        pooled = np.concatenate(clouds).astype(np.float64)
        self.t0_, self.span_ = float(times[0]), float(times[-1] - times[0])
        if standardize:
            self.center_ = pooled.mean(0)
            self.scale_ = float(np.sqrt(((pooled - self.center_) ** 2).mean())) or 1.0
        else:
            self.center_, self.scale_ = np.zeros(pooled.shape[1]), 1.0

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.center_) / self.scale_).astype(np.float32)

    def _physical(self, z: torch.Tensor) -> np.ndarray:
        return (z.detach().cpu().numpy() * self.scale_ + self.center_).astype(np.float32)

    def _rescaled_time(self, t: Any) -> Any:
        return (t - self.t0_) / self.span_

    def _frame_state(self) -> dict[str, Any]:
        return {"center": torch.as_tensor(self.center_), "scale": self.scale_, "t0": self.t0_, "span": self.span_}

    def _set_frame_state(self, state: dict[str, Any]) -> None:
        self.center_ = state["center"].numpy()
        self.scale_, self.t0_, self.span_ = float(state["scale"]), float(state["t0"]), float(state["span"])

    # -------------------------------------------------------------------------------------- persistence
    def _network(self) -> torch.nn.Module:
        raise NotImplementedError

    def _get_state(self) -> dict[str, Any]:
        """The network's weights, the frame and the fitted snapshots (subclasses add their own parts)."""
        return {"network": self.network_.state_dict(), **self._frame_state(), **self._snapshot_state()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._set_snapshot_state(state)
        self._set_frame_state(state)
        self.network_ = self._network().to(resolve_device(self.config.device))
        self.network_.load_state_dict(state["network"])
        self.network_.eval()

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        parameter = next(self.network_.parameters())
        return torch.as_tensor(array, dtype=parameter.dtype, device=parameter.device)

    # ------------------------------------------------------------------------------------------ training
    def _train_steps(self, loss: Callable[[dict[str, Any], torch.Generator | None], dict[str, torch.Tensor]],
                     validated: bool, *, groups: int = 1) -> History:
        """Train ``self.network_`` by the one loop. Each step calls ``loss(batch, generator)``: generator None in
        training (the loop seeds the global one per epoch), a fixed seeded one per validation draw; ``batch`` holds
        ``"draw"`` and ``"group"`` (draw modulo ``groups``: e.g. which parameter value a step is about)."""
        config = self.config

        def loss_fn(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            generator = None
            if not self.network_.training:
                generator = torch.Generator().manual_seed(config.seed * 7919 + int(batch["draw"][0]))
            return loss(batch, generator)

        def session(size: int) -> dict[str, torch.Tensor]:
            draws = torch.arange(size)
            return {"draw": draws, "group": draws % groups}

        val_sessions = [session(config.n_val_draws * groups)] if validated else None
        return train(self.network_, loss_fn, [session(config.steps_per_epoch)], config.train_config(validated),
                     validation=val_sessions)

    # -------------------------------------------------------------------------------------------- checks
    def _check_points(self, name: str, x: Any) -> np.ndarray:
        x = as_array(name, x, ndim=2)
        if x.shape[1] != self.dim_:
            raise ValueError(f"{name}: expected points of dimension {self.dim_} (the fitted clouds'), got "
                             f"{describe(x)}.")
        return x

    def _check_time(self, name: str, t: Any, *, extrapolate: bool = False) -> float:
        if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) or not np.isfinite(t):
            raise TypeError(f"{name}: expected a finite time (a number), got {describe(t)}.")
        low, high = self.times_[0], self.times_[-1]
        if extrapolate and t < low:
            raise ValueError(f"{name}: expected a time from the first fitted time {low:g} on (this estimator "
                             f"extrapolates forward only), got {t:g}.")
        if not extrapolate and not low <= t <= high:
            raise ValueError(f"{name}: expected a time within the fitted range [{low:g}, {high:g}], got {t:g}; "
                             "this estimator does not extrapolate.")
        return float(t)

    @staticmethod
    def _resample(size: int, n: Any, generator: torch.Generator) -> np.ndarray | None:
        """Rows of a ``size``-particle cloud drawn with replacement for ``n`` (None: keep the cloud as it is)."""
        if n is None:
            return None
        n = positive_int("n", n)
        return None if n == size else torch.randint(size, (n,), generator=generator).numpy()

    def _prediction_inputs(self, times: Any, start: Any, start_time: Any, n: Any, generator: torch.Generator, *,
                           extrapolate: bool = False, clouds: list[np.ndarray] | None = None,
                           ) -> tuple[np.ndarray, float, np.ndarray]:
        """Check ``predict``'s arguments before any work: (times (T,), start time, start cloud (n, d)).

        ``extrapolate``: allow times after the last fitted time (estimators whose dynamics do not depend on the
        fitted range); ``clouds``: the fitted clouds a start index refers to (default ``clouds_``; [] when there
        are none, e.g. at a parameter value that was not fitted)."""
        self._check_fitted("predict")
        clouds = self.clouds_ if clouds is None else clouds
        if isinstance(start, (int, np.integer)) and not isinstance(start, bool):
            k = int(start)
            if not clouds:
                raise ValueError("start: no fitted snapshots at this parameter value, so a start index refers to "
                                 "nothing; give a (n, d) start cloud and its start_time.")
            if not -len(self.times_) <= k < len(self.times_):
                raise ValueError(f"start: expected a snapshot index in [0, {len(self.times_)}) of the fitted "
                                 f"snapshots, or a (n, d) cloud, got {k}.")
            if start_time is not None:
                raise ValueError("start_time: give it only with a start cloud; a start index has its own time.")
            t_start, cloud = float(self.times_[k]), clouds[k]
        elif start is None or isinstance(start, bool):
            raise TypeError(f"start: expected a snapshot index or a (n, d) cloud, got {describe(start)}.")
        else:
            cloud = self._check_points("start", start)
            t_start = self._check_time("start_time", self.times_[0] if start_time is None else start_time)
        rows = self._resample(len(cloud), n, generator)
        cloud = cloud if rows is None else cloud[rows]
        times_array = as_array("times", np.atleast_1d(times) if np.ndim(times) == 0 else times, ndim=1,
                               dtype=np.float64)
        low, high = self.times_[0], (np.inf if extrapolate else self.times_[-1])
        outside = (times_array < t_start) | (times_array > high)
        if outside.any():
            window = (f">= {t_start:g} (from the start's time on: this estimator extrapolates after the fitted "
                      f"range [{low:g}, {self.times_[-1]:g}])" if extrapolate else
                      f"in [{t_start:g}, {high:g}] (from the start's time to the last fitted time; fitted range "
                      f"[{low:g}, {high:g}])")
            raise ValueError(f"times: expected times {window}, got {times_array[outside].tolist()}.")
        if np.any(np.diff(times_array) < 0):
            raise ValueError(f"times: expected non-decreasing times, got {times_array.tolist()}; sort them.")
        return times_array, t_start, cloud
