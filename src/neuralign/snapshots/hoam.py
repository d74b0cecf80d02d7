"""HOAM, higher-order action matching (Berman, Blickhan, Peherstorfer, NeurIPS 2024): action matching over a
range of parameter values mu, one potential s(z, u, mu) for all of them.

Data: G Snapshots at the same times, Snapshots g at parameter mu_g (its ``mu``). Objective: the action-matching
objective of ``action_matching.py`` at each mu_g,

    L_g(s) = E_{q_0^g}[s_0] - E_{q_1^g}[s_1] + int_0^1 E_{q_u^g}[ 0.5 ||grad_z s_u||^2 + d_u s_u
             + 0.5 sigma^2 Delta_z s_u ] du,       s_u = s(., u, mu_g),

each training step about one mu_g (the parameter values take turns), with the time integral by the higher-order
quadrature of ``quadrature.py`` (composite Simpson by default, its midpoint marginals displacement-interpolated
along exact OT plans: valid for snapshots, unlike the authors' particle-index interpolation) and Monte Carlo in x
(a minibatch per quadrature node). mu enters the network appended to (z, features(u)) after standardisation with
the fitted values' mean and spread. ``predict(..., mu=)`` integrates v = grad_z s(., ., mu) at a parameter value
inside the fitted range (interpolation over mu), within the fitted time range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from neuralign._checks import as_array, describe
from neuralign.models.base import register_model
from neuralign.snapshots.action_matching import ActionMatching, ActionMatchingConfig
from neuralign.snapshots.base import check_snapshots
from neuralign.snapshots.container import Snapshots


@dataclass
class HOAMConfig(ActionMatchingConfig):
    """Settings of :class:`HOAM`: those of ``ActionMatchingConfig``. Each step is about one parameter value (in
    turn), so ``steps_per_epoch`` are shared among them: a step costs what an ActionMatching step costs, and a fit
    what an ActionMatching fit on one Snapshots costs."""


@register_model
class HOAM(ActionMatching):
    """Action matching with a parameter input mu; see the module docstring.

    Examples
    --------
    >>> model = HOAM().fit([snaps_at_mu_1, snaps_at_mu_2, snaps_at_mu_3])     # doctest: +SKIP
    >>> clouds = model.predict([0.5, 1.0], start=cloud, start_time=0.0, mu=1.5)  # doctest: +SKIP
    """

    config_class = HOAMConfig

    def fit(self, snapshots: Snapshots | Sequence[Snapshots]) -> "HOAM":
        """Fit s(z, u, mu) on Snapshots at several parameter values (each with its ``mu``, all at the same
        times), or on one. Sets ``history_``."""
        sets = self._check_sets(snapshots)
        self._remember(sets[0])
        self.set_clouds_ = [[cloud.copy() for cloud in s.clouds] for s in sets]
        self._set_parameters(np.stack([s.mu for s in sets]).astype(np.float64))
        return self._fit_sets(sets, torch.as_tensor(self._mu_input(self.mus_)))

    @staticmethod
    def _check_sets(snapshots: Any) -> list[Snapshots]:
        if isinstance(snapshots, Snapshots):
            snapshots = [snapshots]
        if not isinstance(snapshots, (list, tuple)) or not snapshots:
            raise TypeError(f"snapshots: expected a Snapshots or a non-empty list of Snapshots (one per parameter "
                            f"value mu), got {describe(snapshots)}.")
        sets = [check_snapshots(f"snapshots[{g}]", s) for g, s in enumerate(snapshots)]
        for g, s in enumerate(sets):
            if s.mu is None:
                raise ValueError(f"snapshots[{g}].mu: HOAM needs each Snapshots' parameter value; build them with "
                                 "Snapshots(times, clouds, mu=...).")
            if s.mu.shape != sets[0].mu.shape or s.dim != sets[0].dim:
                raise ValueError(f"snapshots[{g}]: expected mu of shape {sets[0].mu.shape} and clouds of dimension "
                                 f"{sets[0].dim} (those of snapshots[0]), got {s.mu.shape} and {s.dim}.")
            if not np.array_equal(s.times, sets[0].times):
                raise ValueError(f"snapshots[{g}].times: expected the times of snapshots[0] "
                                 f"{sets[0].times.tolist()} (one quadrature grid for all mu), got {s.times.tolist()}.")
            if any(np.array_equal(s.mu, other.mu) for other in sets[:g]):
                raise ValueError(f"snapshots[{g}].mu: the parameter value {s.mu.tolist()} appears twice; merge "
                                 "those clouds into one Snapshots.")
        return sets

    def _set_parameters(self, mus: np.ndarray) -> None:
        """The fitted parameter values (G, p) and their standardisation."""
        self.mus_ = mus
        self.n_params_ = mus.shape[1]
        self.mu_center_ = mus.mean(0)
        spread = mus.std(0)
        self.mu_scale_ = np.where(spread > 0, spread, 1.0)

    def _mu_input(self, mu: np.ndarray) -> np.ndarray:
        return ((mu - self.mu_center_) / self.mu_scale_).astype(np.float32)

    def _check_mu(self, mu: Any, action: str) -> tuple[torch.Tensor, list[np.ndarray]]:
        """(network input (p,), the fitted clouds at mu or [] when mu was not fitted); mu must lie within the
        fitted range in every component."""
        self._check_fitted(action)
        if mu is None:
            raise TypeError(f"mu: HOAM predicts at a parameter value; pass mu= (shape ({self.n_params_},)) within "
                            f"the fitted range [{self.mus_.min(0).tolist()}, {self.mus_.max(0).tolist()}].")
        mu = as_array("mu", np.atleast_1d(mu) if np.ndim(mu) == 0 else mu, ndim=1, dtype=np.float64)
        if mu.shape != (self.n_params_,):
            raise ValueError(f"mu: expected shape ({self.n_params_},) like the fitted values, got {describe(mu)}.")
        low, high = self.mus_.min(0), self.mus_.max(0)
        if np.any(mu < low - 1e-12) or np.any(mu > high + 1e-12):
            raise ValueError(f"mu: expected a value within the fitted range [{low.tolist()}, {high.tolist()}] "
                             f"(HOAM interpolates over mu), got {mu.tolist()}.")
        matches = [g for g in range(len(self.mus_)) if np.allclose(self.mus_[g], mu, rtol=0, atol=1e-12)]
        clouds = self.set_clouds_[matches[0]] if matches else []
        return self._tensor(self._mu_input(mu)), clouds

    # --------------------------------------------------------------------------------------------- use
    def velocity(self, x: Any, t: float, *, mu: Any = None) -> np.ndarray:
        """v(x, t, mu) = grad s in physical units: x (n, d), t in the fitted range, mu in the fitted range."""
        return self._velocity(x, t, self._check_mu(mu, "velocity")[0])

    def predict(self, times: Any, start: Any = 0, *, start_time: float | None = None, n: int | None = None,
                seed: int | None = None, mu: Any = None) -> list[np.ndarray]:
        """Clouds at ``times`` at parameter value ``mu`` (required, within the fitted range); the other arguments
        as in ``ActionMatching.predict``. A start index refers to the fitted Snapshots at that mu, so at a value
        that was not fitted the start must be a (n, d) cloud (with its ``start_time``)."""
        mu_input, clouds = self._check_mu(mu, "predict")
        generator = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        inputs = self._prediction_inputs(times, start, start_time, n, generator, clouds=clouds)
        return self._integrate(*inputs, mu_input, generator)

    # ------------------------------------------------------------------------------------------ persist
    def _get_state(self) -> dict[str, Any]:
        return {**super()._get_state(), "mus": torch.as_tensor(self.mus_),
                "set_clouds": [[torch.as_tensor(c) for c in clouds] for clouds in self.set_clouds_]}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._set_parameters(state["mus"].numpy().astype(np.float64))
        self.set_clouds_ = [[c.numpy() for c in clouds] for clouds in state["set_clouds"]]
        super()._set_state(state)
