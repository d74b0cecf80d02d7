"""What WLM and its first-order baseline share: fitting particle dynamics by rolling them out through the
observed marginals and matching each with the debiased Sinkhorn divergence.

A ``RolloutEstimator`` holds a learned cloud energy U (``fields.CloudEnergy``) and a state per particle (positions,
and velocities for second-order dynamics), advanced by ONE fixed-step integrator (the subclass's ``_advance``)
that lands exactly on every observed time (``fields.step_sizes``). Training step: draw ``batch_size`` particles
of the first (training) cloud with their initial state, roll them out through every later observed time, and
take the mean over those times of S_eps(simulated cloud, a same-size draw of the observed cloud), S_eps the
debiased Sinkhorn divergence (``nn.matching.sinkhorn_divergence``, squared-Euclidean cost, eps relative to the
clouds' spread); gradients flow back through the whole rollout (second-order autograd through the forces).
``predict`` runs the same integrator from a start cloud, landing on every fitted time it passes and on the
requested times, and, as the dynamics are autonomous, goes on after the last fitted time (forecasting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neuralign._checks import positive_float, positive_int
from neuralign.nn.matching import sinkhorn_divergence
from neuralign.snapshots.base import SnapshotEstimator, SnapshotTrainingConfig, check_snapshots, split_particle_rows
from neuralign.snapshots.container import Snapshots
from neuralign.snapshots.fields import CloudEnergy, step_sizes
from neuralign.train import History, resolve_device

State = tuple[torch.Tensor, ...]  # (positions (n, d),) or (positions, velocities), in the rescaled frame


@dataclass
class RolloutConfig(SnapshotTrainingConfig):
    """Settings of the rollout estimators (WLM, GradientFlow); shared ones in ``base.SnapshotTrainingConfig``.

    embedding_size : width of the energy's mean-field embedding (0: non-interacting particles).
    sinkhorn_reg : entropic scale of the Sinkhorn divergence relative to the clouds' spread (``reg`` of
        ``nn.matching.sinkhorn_divergence``).
    sinkhorn_iterations : most Sinkhorn iterations per problem.
    step : the integrator's fixed step in rescaled time (the same in training and prediction).
    """

    hidden_size: int = 64
    n_layers: int = 2
    embedding_size: int = 16
    batch_size: int = 128
    steps_per_epoch: int = 25
    max_epochs: int = 20
    learning_rate: float = 3e-3
    step: float = 0.05
    sinkhorn_reg: float = 0.1
    sinkhorn_iterations: int = 30

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_int("embedding_size", self.embedding_size, minimum=0)
        positive_float("sinkhorn_reg", self.sinkhorn_reg)
        positive_int("sinkhorn_iterations", self.sinkhorn_iterations)


class RolloutEstimator(SnapshotEstimator):
    """Base of WLM and GradientFlow: subclasses define the state (``_start_state``), the integrator step
    (``_advance``) and the network holding the energy (``_network``, with an ``energy`` attribute)."""

    config_class = RolloutConfig

    # ------------------------------------------------------------------------------------------- dynamics
    def _advance(self, state: State, h: float, *, create_graph: bool) -> State:
        raise NotImplementedError

    def _start_state(self, z: torch.Tensor, velocities: torch.Tensor | None) -> State:
        raise NotImplementedError

    def _energy(self) -> CloudEnergy:
        config = self.config
        return CloudEnergy(self.dim_, hidden_size=config.hidden_size, n_layers=config.n_layers,
                           embedding_size=config.embedding_size)

    def _rollout(self, state: State, u_start: float, u_targets: np.ndarray, *, create_graph: bool) -> list[State]:
        """The states at each of ``u_targets`` (non-decreasing, >= u_start): THE integrator of fit and predict."""
        out = []
        for steps in step_sizes(u_start, u_targets, self.config.step):
            for h in steps:
                state = self._advance(state, h, create_graph=create_graph)
            out.append(state)
        return out

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, snapshots: Snapshots) -> "RolloutEstimator":
        """Fit the dynamics on ``snapshots`` (at least 2; their ``velocities``, when given, start the rollouts of
        second-order models) by the one training loop. Sets ``history_``."""
        snapshots = check_snapshots("snapshots", snapshots)
        config = self.config
        self._remember(snapshots)
        self.velocities_ = None if snapshots.velocities is None else [v.copy() for v in snapshots.velocities]
        self._set_frame(snapshots.clouds, snapshots.times, config.standardize)
        torch.manual_seed(config.seed)
        self.network_ = self._network().to(resolve_device(config.device))
        train_clouds, val_clouds, rows = split_particle_rows(snapshots.clouds, config.val_fraction, config.seed)
        training = self._rollout_data(train_clouds, rows, 0, train_clouds)
        validation = None if val_clouds is None else self._rollout_data(val_clouds, rows, 1, train_clouds)
        u_targets = self._rescaled_time(snapshots.times[1:])

        def loss(batch: dict[str, Any], generator: torch.Generator | None) -> dict[str, torch.Tensor]:
            start, targets = training if generator is None else validation
            size = min(config.batch_size, len(start[0]))
            chosen = torch.randperm(len(start[0]), generator=generator)[:size].to(start[0].device)
            velocities = None if start[1] is None else self._initial_velocities(start[0][chosen], start[1][chosen])
            state = self._start_state(start[0][chosen], velocities)
            ends = self._rollout(state, 0.0, u_targets, create_graph=self.network_.training)
            simulated = torch.stack([end[0] for end in ends])
            observed = torch.stack([target[self._draw(len(target), size, generator)] for target in targets])
            divergences = sinkhorn_divergence(simulated, observed, reg=config.sinkhorn_reg,
                                              iterations=config.sinkhorn_iterations,
                                              y_term=not self.network_.training)
            return {"loss": divergences.mean(), **self._logged()}

        self.history_: History = self._train_steps(loss, validation is not None)
        self.network_.eval()
        self.fitted_ = True
        return self

    @staticmethod
    def _draw(n: int, size: int, generator: torch.Generator | None) -> torch.Tensor:
        """``size`` of n rows: without replacement when there are enough, else with."""
        if n >= size:
            return torch.randperm(n, generator=generator)[:size]
        return torch.randint(n, (size,), generator=generator)

    def _rollout_data(self, clouds: list[np.ndarray], rows: list[tuple[np.ndarray, np.ndarray]], part: int,
                      train_clouds: list[np.ndarray]) -> tuple[tuple[torch.Tensor, torch.Tensor | None],
                                                                list[torch.Tensor]]:
        """((start positions, start velocities or None), later targets) in z for one part of the particle split
        (``part`` 0 training, 1 validation); start velocities only from training data (``_fit_velocities``)."""
        tensors = [self._tensor(self._standardise(c)) for c in clouds]
        return (tensors[0], self._fit_velocities(tensors[0], rows[0][part], train_clouds)), tensors[1:]

    def _fit_velocities(self, z: torch.Tensor, rows: np.ndarray,
                        train_clouds: list[np.ndarray]) -> torch.Tensor | None:
        """Start velocities (rescaled units) of the first cloud's particles ``z`` (rows ``rows``) in training;
        None for first-order dynamics."""
        return None

    def _initial_velocities(self, z: torch.Tensor, velocities: torch.Tensor) -> torch.Tensor:
        """The velocities a rollout from the first fitted time starts with, given ``_fit_velocities``' ones."""
        return velocities

    def _logged(self) -> dict[str, torch.Tensor]:
        """Extra scalars to log each step (e.g. the friction)."""
        return {}

    # --------------------------------------------------------------------------------------------- use
    def predict(self, times: Any, start: Any = 0, *, start_time: float | None = None, n: int | None = None,
                seed: int | None = None) -> list[np.ndarray]:
        """Clouds at ``times`` by running the fitted dynamics from a start cloud, also after the fitted range.

        Parameters
        ----------
        times : non-decreasing times from the start time on; times after the last fitted time are forecasts.
        start : index of a fitted snapshot, or a (n, d) cloud at ``start_time`` (default the first fitted time;
            within the fitted range).
        n : particles to start from (drawn with replacement from the start cloud); default all of it.
        seed : seeds the draw of n particles (default ``config.seed``).

        Returns
        -------
        one (n, d) array per time.
        """
        generator = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        times, t_start, cloud = self._prediction_inputs(times, start, start_time, None, generator, extrapolate=True)
        z, velocities = self._tensor(self._standardise(cloud)), self._start_velocities(start, t_start, cloud)
        rows = self._resample(len(cloud), n, generator)
        if rows is not None:
            rows = torch.as_tensor(rows, device=z.device)
            z, velocities = z[rows], None if velocities is None else velocities[rows]
        landings = np.union1d(self.times_[self.times_ > t_start], times)  # fitted times passed: same steps
        with torch.no_grad():
            ends = self._rollout(self._start_state(z, velocities), self._rescaled_time(t_start),
                                 self._rescaled_time(landings), create_graph=False)
        by_time = {float(t): end[0] for t, end in zip(landings, ends)}
        return [self._physical(by_time[float(t)]) for t in times]

    def _start_velocities(self, start: Any, t_start: float, cloud: np.ndarray) -> torch.Tensor | None:
        """Start velocities (rescaled units) of a prediction's start cloud; None for first-order dynamics."""
        return None

    # ------------------------------------------------------------------------------------------ persist
    def _get_state(self) -> dict[str, Any]:
        velocities = None if self.velocities_ is None else [torch.as_tensor(v) for v in self.velocities_]
        return {**super()._get_state(), "velocities": velocities}

    def _set_state(self, state: dict[str, Any]) -> None:
        velocities = state["velocities"]
        self.velocities_ = None if velocities is None else [v.numpy() for v in velocities]
        super()._set_state(state)
