"""Snapshots: a population seen only as clouds of states at a few times.

A ``Snapshots`` holds K pairs (t_k, X_k) with sorted, distinct times t_1 < ... < t_K and clouds X_k of shape
(n_k, d): the same dimension d everywhere, sizes n_k free (particles are not identified across times). Optional:
per-particle velocities V_k (n_k, d), and a parameter vector mu (p,) shared by all clouds (HOAM fits one model
over several Snapshots that differ in mu).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from neuralign._checks import as_array, describe, positive_int
from neuralign.data.trialdata import TrialData


@dataclass(slots=True)
class Snapshots:
    """Clouds of states at sorted, distinct times.

    Parameters
    ----------
    times : (K,) strictly increasing times (stored float64).
    clouds : K arrays (n_k, d), one per time (stored float32); sizes may differ, d may not.
    velocities : optional K arrays (n_k, d): one observed velocity per particle.
    mu : optional (p,) parameter vector (e.g. a physical parameter or an experimental condition).
    meta : free-form metadata.

    Examples
    --------
    >>> import numpy as np
    >>> snaps = Snapshots([0.0, 1.0], [np.zeros((5, 2)), np.ones((7, 2))])
    >>> len(snaps), snaps.dim, snaps.sizes
    (2, 2, [5, 7])
    """

    times: np.ndarray
    clouds: list[np.ndarray]
    velocities: list[np.ndarray] | None = None
    mu: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.times = as_array("times", self.times, ndim=1, dtype=np.float64)
        if np.any(np.diff(self.times) <= 0):
            bad = int(np.flatnonzero(np.diff(self.times) <= 0)[0])
            raise ValueError(f"times: expected strictly increasing times (sorted, no duplicates), got "
                             f"times[{bad}] = {self.times[bad]:g} followed by times[{bad + 1}] = "
                             f"{self.times[bad + 1]:g}; sort the snapshots by time and merge duplicates.")
        self.clouds = self._cloud_list("clouds", self.clouds)
        dims = [cloud.shape[1] for cloud in self.clouds]
        if len(set(dims)) > 1:
            raise ValueError(f"clouds: expected the same dimension in every cloud, got dimensions {dims}.")
        if self.velocities is not None:
            self.velocities = self._cloud_list("velocities", self.velocities)
            for index, (cloud, velocity) in enumerate(zip(self.clouds, self.velocities)):
                if velocity.shape != cloud.shape:
                    raise ValueError(f"velocities[{index}]: expected the shape of clouds[{index}], {cloud.shape}, "
                                     f"got {velocity.shape}.")
        if self.mu is not None:
            self.mu = as_array("mu", np.atleast_1d(np.asarray(self.mu)), ndim=1)
        if not isinstance(self.meta, dict):
            raise TypeError(f"meta: expected a dict, got {describe(self.meta)}.")

    def _cloud_list(self, name: str, arrays: Any) -> list[np.ndarray]:
        if isinstance(arrays, np.ndarray) and arrays.ndim == 3:
            arrays = list(arrays)
        if not isinstance(arrays, (list, tuple)):
            raise TypeError(f"{name}: expected a list of (n_k, d) arrays, one per time, got {describe(arrays)}.")
        if len(arrays) != len(self.times):
            raise ValueError(f"{name}: expected {len(self.times)} arrays (one per time), got {len(arrays)}.")
        out = []
        for index, array in enumerate(arrays):
            array = as_array(f"{name}[{index}]", array, ndim=2, allow_empty=True)
            if array.shape[0] == 0 or array.shape[1] == 0:
                raise ValueError(f"{name}[{index}]: expected at least one particle and one dimension, got "
                                 f"{describe(array)}.")
            out.append(np.ascontiguousarray(array))
        return out

    # ----------------------------------------------------------------------------------------------- shape
    def __len__(self) -> int:
        return len(self.times)

    def __getitem__(self, index: int) -> tuple[float, np.ndarray]:
        index = self.check_index("index", index)
        return float(self.times[index]), self.clouds[index]

    @property
    def dim(self) -> int:
        return self.clouds[0].shape[1]

    @property
    def sizes(self) -> list[int]:
        return [cloud.shape[0] for cloud in self.clouds]

    def __repr__(self) -> str:
        parts = [f"K={len(self)}", f"d={self.dim}", f"times=[{self.times[0]:g}, {self.times[-1]:g}]",
                 f"sizes={self.sizes}"]
        if self.velocities is not None:
            parts.append("velocities")
        if self.mu is not None:
            parts.append(f"mu={self.mu.tolist()}")
        return f"Snapshots({', '.join(parts)})"

    def check_index(self, name: str, index: Any) -> int:
        """``index`` as a non-negative int in [0, K); negative indices count from the end."""
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{name}: expected an integer snapshot index, got {describe(index)}.")
        if not -len(self) <= index < len(self):
            raise ValueError(f"{name}: expected a snapshot index in [0, {len(self)}) (or from -{len(self)}), "
                             f"got {index}.")
        return int(index) % len(self)

    # ----------------------------------------------------------------------------------------- selection
    def subset(self, indices: Sequence[int]) -> "Snapshots":
        """The snapshots at ``indices`` (kept in time order)."""
        chosen = sorted({self.check_index("indices", i) for i in indices})
        if not chosen:
            raise ValueError("indices: expected at least one snapshot index, got none.")
        return Snapshots(self.times[chosen], [self.clouds[i] for i in chosen],
                         None if self.velocities is None else [self.velocities[i] for i in chosen],
                         self.mu, dict(self.meta))

    def holdout(self, index: int) -> tuple["Snapshots", float, np.ndarray]:
        """Leave one snapshot out: (the other snapshots, the held-out time, the held-out cloud)."""
        index = self.check_index("index", index)
        if len(self) < 2:
            raise ValueError(f"index: holding out a snapshot needs at least 2, these Snapshots have {len(self)}.")
        rest = self.subset([i for i in range(len(self)) if i != index])
        return rest, float(self.times[index]), self.clouds[index]

    # ------------------------------------------------------------------------------------- constructors
    @classmethod
    def from_arrays(cls, clouds: Any, times: Any = None, *, velocities: Any = None, mu: Any = None) -> "Snapshots":
        """From a (K, n, d) array or a list of (n_k, d) arrays; ``times`` default to 0, 1, ..., K - 1."""
        if isinstance(clouds, np.ndarray) and clouds.ndim != 3:
            raise ValueError(f"clouds: expected a (K, n, d) array or a list of (n_k, d) arrays, got "
                             f"{describe(clouds)}.")
        if not isinstance(clouds, (np.ndarray, list, tuple)):
            raise TypeError(f"clouds: expected a (K, n, d) array or a list of (n_k, d) arrays, got "
                            f"{describe(clouds)}.")
        times = np.arange(len(clouds), dtype=np.float64) if times is None else times
        return cls(times, list(clouds), None if velocities is None else list(velocities), mu)

    @classmethod
    def from_trialdata(cls, data: TrialData | Sequence[TrialData], times: Any = None, *, latents: Any = None,
                       bin: int | None = None, mu: Any = None) -> "Snapshots":
        """Latent clouds from TrialData.

        Parameters
        ----------
        data : a list of TrialData, one per snapshot (e.g. one session per day): each gives one cloud, its
            trials x valid bins flattened to particles, or only bin ``bin`` of each trial. A single TrialData
            gives one cloud per time bin (trial identity is dropped: particles are the trials that are valid in
            that bin).
        times : (K,) times, required for a list; for a single TrialData default bin index x bin_size.
        latents : the latents to use instead of ``data.latents``: one (trials, time, k) array per session (a
            list), or one array for a single TrialData.
        bin : with a list, take only this bin of each trial instead of flattening all bins.
        mu : optional (p,) parameter vector.
        """
        if isinstance(data, TrialData):
            values = cls._session_latents("latents", data, latents)
            mask = data.mask
            clouds = [values[mask[:, b], b] for b in range(data.n_time)]
            if times is None:
                times = np.arange(data.n_time) * data.bin_size
            return cls(times, clouds, mu=mu, meta=dict(data.meta))
        if not isinstance(data, (list, tuple)) or not data or not all(isinstance(d, TrialData) for d in data):
            raise TypeError(f"data: expected a TrialData or a non-empty list of TrialData (one per snapshot), got "
                            f"{describe(data)}.")
        if times is None:
            raise ValueError(f"times: expected one time per session ({len(data)}) when data is a list, got None.")
        if latents is not None and (not isinstance(latents, (list, tuple)) or len(latents) != len(data)):
            raise ValueError(f"latents: expected a list of {len(data)} (trials, time, k) arrays (one per session), "
                             f"got {describe(latents)}.")
        clouds = []
        for index, session in enumerate(data):
            values = cls._session_latents(f"latents[{index}]", session, None if latents is None else latents[index])
            if bin is None:
                clouds.append(values[session.mask])
                continue
            positive_int("bin", bin, minimum=0)
            if bin >= session.n_time:
                raise ValueError(f"bin: expected a bin index below {session.n_time} (session {index}'s bins), "
                                 f"got {bin}.")
            clouds.append(values[session.mask[:, bin], bin])
        return cls(times, clouds, mu=mu)

    @staticmethod
    def _session_latents(name: str, session: TrialData, latents: Any) -> np.ndarray:
        if latents is None:
            if session.latents is None:
                raise ValueError(f"{name}: this TrialData holds no latents; pass latents= (e.g. a fitted model's "
                                 "transform(data)).")
            return session.latents
        values = as_array(name, latents, ndim=3)
        if values.shape[:2] != (session.n_trials, session.n_time):
            raise ValueError(f"{name}: expected shape ({session.n_trials}, {session.n_time}, k) to match the "
                             f"session's (trials, time), got {values.shape}.")
        return values
