"""WLM, Wasserstein Lagrangian mechanics (Guan, Atanackovic, Neklyudov, ICML 2026), and its overdamped limit.

WLM: particles with positions x_i and velocities v_i in a learned potential energy U(X) of the whole cloud
(``fields.CloudEnergy``: external potential plus mean-field interaction) with friction gamma >= 0 (learned):

    dx_i/dt = v_i,    dv_i/dt = - grad_{x_i} U(X) - gamma v_i.

The integrator (the same in training and prediction, fixed step h <= ``step`` landing on every observed time) is
the Strang splitting "friction half step, velocity Verlet, friction half step":

    v <- e^{-gamma h/2} v;  v <- v + (h/2) F(x);  x <- x + h v;  v <- v + (h/2) F(x);  v <- e^{-gamma h/2} v,

F = -grad U, each piece the exact flow of its part (friction alone: v e^{-gamma t}; the force alone: Verlet), so
as h -> 0 it integrates exactly the equations above (second order), for every gamma; gamma -> 0 gives velocity
Verlet (symplectic). Initial velocities: the Snapshots' observed ones when given, else estimated without
held-out data from exact OT plans between the first training clouds (``coupling.transport_velocity``, averaged
over neighbours) plus a learned correction field c(x) (an MLP starting at 0, trained through the rollouts with
U and gamma: the finite difference of independent samples divides their sampling noise by the time gap).
A prediction starting at a later time takes each start particle's velocity from the nearest particle of the
model's own rollout from the first fitted snapshot.

GradientFlow, the overdamped limit (gamma -> infinity, time rescaled by gamma): first order, no velocity state,

    dx_i/dt = - grad_{x_i} U(X),

integrated by Heun's method (explicit trapezoid, second order). Both are fitted by ``rollout.RolloutEstimator``
(rollout from the first cloud through the observed marginals, debiased Sinkhorn loss) and forecast after the
fitted range: the dynamics are autonomous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralign._checks import positive_float, positive_int
from neuralign.models.base import register_model
from neuralign.snapshots.coupling import transport_velocity
from neuralign.snapshots.fields import CloudEnergy, smooth_mlp
from neuralign.snapshots.rollout import RolloutConfig, RolloutEstimator, State


@dataclass
class WLMConfig(RolloutConfig):
    """Settings of :class:`WLM` (the shared ones: ``rollout.RolloutConfig``).

    friction : friction gamma at the start of training, per fitted time span (gamma (t_K - t_1)).
    learn_friction : learn gamma (kept >= 0 by a softplus); False keeps it at ``friction``.
    velocity_points : the first snapshots used to estimate initial velocities when none are observed (fewer where
        fewer are fitted): the slope of a least-squares parabola along the composed OT maps (2: the OT
        displacement over the first gap; 3: the interpolating parabola; more: smoother, see
        ``coupling.transport_velocity``).
    velocity_neighbours : the OT velocity estimate of each particle is averaged over this many nearest particles
        of its cloud (1: no averaging), against the sampling noise of plans between independent samples.
    """

    friction: float = 0.1
    learn_friction: bool = True
    velocity_points: int = 3
    velocity_neighbours: int = 16

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_float("friction", self.friction, allow_zero=not self.learn_friction)
        positive_int("velocity_points", self.velocity_points, minimum=2)
        positive_int("velocity_neighbours", self.velocity_neighbours)


class _Mechanics(nn.Module):
    """The energy U, the friction gamma (rescaled time units) and the initial-velocity correction c(z)."""

    def __init__(self, energy: CloudEnergy, friction: float, learn: bool, dim: int, hidden_size: int) -> None:
        super().__init__()
        self.energy = energy
        self.correction = smooth_mlp([dim, hidden_size, hidden_size, dim])
        with torch.no_grad():
            self.correction[-1].weight.zero_()
            self.correction[-1].bias.zero_()
        raw = torch.tensor(math.log(math.expm1(friction)) if friction > 0 else -math.inf)
        if learn:
            self.raw_friction = nn.Parameter(raw)
        else:
            self.register_buffer("raw_friction", raw)

    @property
    def friction(self) -> torch.Tensor:
        return nn.functional.softplus(self.raw_friction)


@register_model
class WLM(RolloutEstimator):
    """Wasserstein Lagrangian mechanics on snapshots; see the module docstring.

    Examples
    --------
    >>> wlm = WLM().fit(snapshots)                                   # doctest: +SKIP
    >>> forecast = wlm.predict([10.0, 11.0], start=0)                # after the fitted range  # doctest: +SKIP
    """

    config_class = WLMConfig

    def _network(self) -> _Mechanics:
        config = self.config
        return _Mechanics(self._energy(), config.friction, config.learn_friction, self.dim_, config.hidden_size)

    @property
    def friction_(self) -> float:
        """The fitted friction gamma in physical units (1 / time)."""
        self._check_fitted("friction_")
        return float(self.network_.friction.detach()) / self.span_

    def _start_state(self, z: torch.Tensor, velocities: torch.Tensor | None) -> State:
        return z, velocities, self.network_.energy.force(z, create_graph=self.network_.training)

    def _advance(self, state: State, h: float, *, create_graph: bool) -> State:
        z, w, force = state
        decay = torch.exp(-0.5 * h * self.network_.friction)
        w = decay * w + 0.5 * h * force
        z = z + h * w
        force = self.network_.energy.force(z, create_graph=create_graph)
        w = decay * (w + 0.5 * h * force)
        return z, w, force

    def _logged(self) -> dict[str, torch.Tensor]:
        return {"friction": self.network_.friction.detach() / self.span_}

    # ------------------------------------------------------------------------------------- velocities
    def _rescaled_velocity(self, v: np.ndarray) -> torch.Tensor:
        return self._tensor((v * self.span_ / self.scale_).astype(np.float32))

    def _fit_velocities(self, z: torch.Tensor, rows: np.ndarray,
                        train_clouds: list[np.ndarray]) -> torch.Tensor:
        """Observed velocities of these rows, or the OT estimate on the training particles (validation particles
        take their nearest training particle's)."""
        if self.velocities_ is not None:
            return self._rescaled_velocity(self.velocities_[0][rows])
        chain = [self._tensor(self._standardise(c)) for c in train_clouds[:self.config.velocity_points]]
        estimate = transport_velocity(chain, list(self._rescaled_time(self.times_[:len(chain)])),
                                      neighbours=self.config.velocity_neighbours)
        if z.shape == chain[0].shape and torch.equal(z, chain[0]):
            return estimate
        return estimate[torch.cdist(z, chain[0]).argmin(1)]

    def _initial_velocities(self, z: torch.Tensor, velocities: torch.Tensor) -> torch.Tensor:
        if self.velocities_ is not None:
            return velocities
        return velocities + self.network_.correction(z)

    def _start_velocities(self, start: Any, t_start: float, cloud: np.ndarray) -> torch.Tensor:
        """Observed velocities of a fitted start snapshot; at the first fitted time the corrected OT estimate
        along the next fitted snapshots; later, the velocities of the model's own rollout (``_rollout_velocities``)."""
        if self.velocities_ is not None and isinstance(start, (int, np.integer)):
            return self._rescaled_velocity(self.velocities_[int(start)])
        z = self._tensor(self._standardise(cloud))
        if t_start > self.times_[0]:
            return self._rollout_velocities(z, t_start)
        chain = [z] + [self._tensor(self._standardise(c)) for c in self.clouds_[1:self.config.velocity_points]]
        estimate = transport_velocity(chain, list(self._rescaled_time(self.times_[:len(chain)])),
                                      neighbours=self.config.velocity_neighbours)
        with torch.no_grad():
            return self._initial_velocities(z, estimate)

    def _rollout_velocities(self, z: torch.Tensor, t: float) -> torch.Tensor:
        """Velocities (rescaled) at time t of the particles of the model's rollout from the first fitted snapshot
        nearest to each point of z (n, d)."""
        first = self.clouds_[0]
        state = self._start_state(self._tensor(self._standardise(first)),
                                  self._start_velocities(0, float(self.times_[0]), first))
        landings = np.union1d(self.times_[(self.times_ > self.times_[0]) & (self.times_ < t)], [t])
        with torch.no_grad():
            positions, velocities, _ = self._rollout(state, 0.0, self._rescaled_time(landings),
                                                     create_graph=False)[-1]
        return velocities[torch.cdist(z, positions).argmin(1)]

    def velocity(self, x: Any, t: float) -> np.ndarray:
        """Velocities at time t (from the first fitted time on, forecasts included) of the particles of the
        model's rollout from the first fitted snapshot nearest to each point of x (n, d) -> (n, d): a WLM
        velocity is a particle's state, not a function of position."""
        self._check_fitted("velocity")
        x = self._check_points("x", x)
        t = self._check_time("t", t, extrapolate=True)
        velocities = self._rollout_velocities(self._tensor(self._standardise(x)), t)
        return (velocities.cpu().numpy() * self.scale_ / self.span_).astype(np.float32)


@dataclass
class GradientFlowConfig(RolloutConfig):
    """Settings of :class:`GradientFlow`: those of ``rollout.RolloutConfig``."""


@register_model
class GradientFlow(RolloutEstimator):
    """The first-order baseline: dx_i/dt = -grad_{x_i} U(X), WLM's overdamped limit; see the module docstring."""

    config_class = GradientFlowConfig

    def _network(self) -> CloudEnergy:
        return self._energy()

    def _start_state(self, z: torch.Tensor, velocities: torch.Tensor | None) -> State:
        return (z,)

    def _advance(self, state: State, h: float, *, create_graph: bool) -> State:
        (z,) = state
        first = self.network_.force(z, create_graph=create_graph)
        second = self.network_.force(z + h * first, create_graph=create_graph)
        return (z + 0.5 * h * (first + second),)

    def velocity(self, x: Any, t: float) -> np.ndarray:
        """-grad_{x_i} U(X) in physical units with X = x (n, d) the whole population (the interaction uses x's mean
        field); the flow is autonomous, so t (any time from the first fitted one on) changes nothing."""
        self._check_fitted("velocity")
        x = self._check_points("x", x)
        self._check_time("t", t, extrapolate=True)
        force = self.network_.force(self._tensor(self._standardise(x)), create_graph=False)
        return (force.cpu().numpy() * self.scale_ / self.span_).astype(np.float32)
