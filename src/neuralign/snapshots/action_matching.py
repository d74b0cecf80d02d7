"""Action matching (Neklyudov et al., ICML 2023): a gradient velocity field from samples of marginals.

With marginals q_t seen only as clouds at times t_1 < ... < t_K, model the velocity as v_t = grad s_t and minimise

    L(s) = E_{q_0}[s_0] - E_{q_1}[s_1] + int_0^1 E_{q_u}[ 0.5 ||grad s_u||^2 + d_u s_u + 0.5 sigma_u^2 Delta s_u ] du

in rescaled time u = (t - t_1) / T, T = t_K - t_1, and standardised space z = (x - m) / c (m the pooled mean, c
one pooled scale). L equals 0.5 int E||grad s - grad s*||^2 du minus a constant, s* the gradient field whose
continuity (sigma = 0) or Fokker-Planck (entropic AM, dX = grad s dt + sigma dW) equation carries the q_t; the
boundary terms come from integrating d/du E_{q_u}[s_u] by parts and are required. The u-integral is a
quadrature rule over the observed times (``quadrature.py``); each node's expectation is a Monte Carlo minibatch
of its cloud (or of displacement-interpolated pairs between neighbouring clouds). The Laplacian is exact for
d <= ``exact_laplacian_max_dim``, Hutchinson's estimate above. In physical units v(x, t) = c grad_z s / T and the
noise sigma becomes sigma sqrt(T) / c in (z, u).

Prediction integrates dz/du = grad_z s (RK4) from a start cloud, or the SDE (Euler-Maruyama, seeded) when sigma > 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neuralign._checks import fraction, one_of, positive_float, positive_int
from neuralign.models.base import register_model
from neuralign.snapshots.base import SnapshotEstimator, check_snapshots
from neuralign.snapshots.container import Snapshots
from neuralign.snapshots.coupling import COUPLINGS, couple, displace, random_draw
from neuralign.snapshots.fields import PotentialMLP, gradient, integrate
from neuralign.snapshots.quadrature import RULES, action_objective, time_nodes
from neuralign.train import History, TrainConfig, resolve_device, train


@dataclass
class ActionMatchingConfig:
    """Settings of :class:`ActionMatching`.

    sigma : noise level of entropic AM in physical units (0: deterministic AM, an ODE).
    quadrature : "trapezoid" (observed times only) or "simpson" (plus interpolated midpoints); see
        ``quadrature.py`` for why Gauss-Legendre is not offered.
    interpolation : how marginals between observed times are formed: "ot" (McCann displacement interpolation
        along the exact OT plan: valid for snapshots) or "index" (particle i to particle i: trajectories only).
    exact_laplacian_max_dim : exact Laplacian up to this dimension, Hutchinson above (entropic AM only).
    n_probes : Hutchinson probes per point.
    hidden_size, n_layers, n_frequencies : the potential network (``fields.PotentialMLP``).
    standardize : fit in z = (x - pooled mean) / pooled scale (one scale for all dimensions).
    batch_size : particles drawn per quadrature node and step.
    steps_per_epoch : optimisation steps per epoch of the training loop.
    val_fraction : fraction of each cloud's particles held out for validation (early stopping); 0 disables it.
    n_val_draws : minibatch draws averaged for the validation loss.
    step : integration step in rescaled time u (1 = the whole fitted range).
    """

    sigma: float = 0.0
    quadrature: str = "simpson"
    interpolation: str = "ot"
    exact_laplacian_max_dim: int = 20
    n_probes: int = 1
    hidden_size: int = 64
    n_layers: int = 3
    n_frequencies: int = 2
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
        positive_float("sigma", self.sigma, allow_zero=True)
        one_of("quadrature", self.quadrature, RULES)
        one_of("interpolation", self.interpolation, COUPLINGS)
        for name in ("n_probes", "hidden_size", "n_layers", "batch_size", "steps_per_epoch",
                     "max_epochs", "patience", "n_val_draws"):
            positive_int(name, getattr(self, name))
        positive_int("exact_laplacian_max_dim", self.exact_laplacian_max_dim, minimum=0)
        positive_int("n_frequencies", self.n_frequencies, minimum=0)
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


class _Marginals:
    """The training (or validation) particles of every cloud in z, with couplings for interpolated nodes."""

    def __init__(self, clouds: list[torch.Tensor], nodes: list, interpolation: str) -> None:
        self.clouds = clouds
        self.nodes = nodes
        needed = sorted({node.k for node in nodes if node.lam > 0})
        self.couplings = {k: couple(clouds[k], clouds[k + 1], interpolation) for k in needed}

    def draw(self, batch_size: int, generator: torch.Generator | None) -> tuple[torch.Tensor, ...]:
        """Points z (N, d), times u (N, 1), and the kinetic, boundary and time weights (N,) of
        ``quadrature.action_objective``: each node's batch at its own time and at the neighbouring grid times."""
        rows: list[tuple[torch.Tensor, float, float, float, float]] = []  # (batch, u, kinetic, boundary, time)
        last = len(self.nodes) - 1
        half = 0.5 / batch_size
        for j, node in enumerate(self.nodes):
            if node.lam == 0:
                cloud = self.clouds[node.k]
                batch = cloud[torch.randint(len(cloud), (batch_size,), generator=generator).to(cloud.device)]
            else:
                coupling = self.couplings[node.k]
                pairs = random_draw(coupling.weights, batch_size, generator)
                batch = displace(self.clouds[node.k], self.clouds[node.k + 1], coupling, node.lam, pairs)
            boundary = 1.0 / batch_size if j == 0 else (-1.0 / batch_size if j == last else 0.0)
            own_time = (half if j > 0 else 0.0) - (half if j < last else 0.0)
            rows.append((batch, node.u, node.weight / batch_size, boundary, own_time))
            if j < last:
                rows.append((batch, self.nodes[j + 1].u, 0.0, 0.0, half))
            if j > 0:
                rows.append((batch, self.nodes[j - 1].u, 0.0, 0.0, -half))
        z = torch.cat([row[0] for row in rows])
        columns = [torch.cat([torch.full((batch_size,), row[i]) for row in rows]).to(dtype=z.dtype, device=z.device)
                   for i in range(1, 5)]
        return z, columns[0][:, None], columns[1], columns[2], columns[3]


def split_particles(clouds: list[np.ndarray], val_fraction: float,
                    seed: int) -> tuple[list[np.ndarray], list[np.ndarray] | None]:
    """Hold out ``val_fraction`` of each cloud's particles (seeded); None when a cloud has fewer than 4."""
    if val_fraction == 0 or min(len(c) for c in clouds) < 4:
        return clouds, None
    rng = np.random.default_rng(seed)
    train_parts, val_parts = [], []
    for cloud in clouds:
        order = rng.permutation(len(cloud))
        n_val = min(max(int(round(val_fraction * len(cloud))), 1), len(cloud) - 2)
        val_parts.append(cloud[np.sort(order[:n_val])])
        train_parts.append(cloud[np.sort(order[n_val:])])
    return train_parts, val_parts


@register_model
class ActionMatching(SnapshotEstimator):
    """Action matching and entropic action matching on snapshots; see the module docstring.

    Examples
    --------
    >>> am = ActionMatching(max_epochs=20).fit(snapshots)            # doctest: +SKIP
    >>> clouds = am.predict([0.5, 0.75], start=1)                    # doctest: +SKIP
    """

    config_class = ActionMatchingConfig

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, snapshots: Snapshots) -> "ActionMatching":
        """Fit s on ``snapshots`` (at least 2) by the one training loop. Sets ``history_``."""
        snapshots = check_snapshots("snapshots", snapshots)
        config = self.config
        self._remember(snapshots)
        self._set_frame(snapshots)
        device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        self.network_ = self._network().to(device)
        u = (snapshots.times - snapshots.times[0]) / self.span_
        nodes = time_nodes(u, config.quadrature)
        train_clouds, val_clouds = split_particles(snapshots.clouds, config.val_fraction, config.seed)

        def marginals(clouds: list[np.ndarray]) -> _Marginals:
            tensors = [torch.as_tensor(self._standardise(c), device=device) for c in clouds]
            return _Marginals(tensors, nodes, config.interpolation)

        training = marginals(train_clouds)
        validation = None if val_clouds is None else marginals(val_clouds)

        def loss(batch: dict[str, Any]) -> dict[str, torch.Tensor]:
            if self.network_.training:
                data, generator = training, None  # the loop seeds the global generator per epoch
            else:
                data = validation
                generator = torch.Generator().manual_seed(config.seed * 7919 + int(batch["draw"][0]))
            z, times, kinetic, boundary, time = data.draw(config.batch_size, generator)
            return action_objective(self._potential, z, times, kinetic, boundary, time,
                                    noise_variance=self.noise_z_ ** 2, laplacian_method=self.laplacian_method,
                                    n_probes=config.n_probes, generator=generator,
                                    create_graph=self.network_.training)

        sessions = [{"draw": torch.arange(config.steps_per_epoch)}]
        val_sessions = None if validation is None else [{"draw": torch.arange(config.n_val_draws)}]
        self.history_: History = train(self.network_, loss, sessions, config.train_config(validation is not None),
                                       validation=val_sessions)
        self.network_.eval()
        self.fitted_ = True
        return self

    def _potential(self, z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        return self.network_(z, u)

    @property
    def laplacian_method(self) -> str:
        """"exact" for d <= ``exact_laplacian_max_dim``, else "hutchinson"."""
        return "exact" if self.dim_ <= self.config.exact_laplacian_max_dim else "hutchinson"

    def _network(self) -> PotentialMLP:
        config = self.config
        return PotentialMLP(self.dim_, hidden_size=config.hidden_size, n_layers=config.n_layers,
                            n_frequencies=config.n_frequencies)

    def _set_frame(self, snapshots: Snapshots) -> None:
        """Start time, span, centre and scale of the rescaled frame, and sigma in it."""
        pooled = np.concatenate(snapshots.clouds).astype(np.float64)
        self.t0_, self.span_ = float(snapshots.times[0]), float(snapshots.times[-1] - snapshots.times[0])
        if self.config.standardize:
            self.center_ = pooled.mean(0)
            self.scale_ = float(np.sqrt(((pooled - self.center_) ** 2).mean())) or 1.0
        else:
            self.center_, self.scale_ = np.zeros(snapshots.dim), 1.0
        self.noise_z_ = self.config.sigma * math.sqrt(self.span_) / self.scale_

    def _standardise(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.center_) / self.scale_).astype(np.float32)

    # --------------------------------------------------------------------------------------------- use
    def velocity(self, x: Any, t: float) -> np.ndarray:
        """v(x, t) = grad s in physical units: x (n, d), t a time in the fitted range -> (n, d)."""
        self._check_fitted("velocity")
        x = self._check_points("x", x)
        t = self._check_time("t", t)
        z = self._tensor(self._standardise(x))
        u = torch.full((len(z), 1), (t - self.t0_) / self.span_, dtype=z.dtype, device=z.device)
        grad_z = gradient(self._potential, z, u, create_graph=False)[1]
        return (grad_z.detach().cpu().numpy() * self.scale_ / self.span_).astype(np.float32)

    def predict(self, times: Any, start: Any = 0, *, start_time: float | None = None, n: int | None = None,
                seed: int | None = None) -> list[np.ndarray]:
        """Clouds at ``times`` by integrating the fitted dynamics from a start cloud.

        Parameters
        ----------
        times : non-decreasing times in [start time, last fitted time].
        start : index of a fitted snapshot, or a (n, d) cloud at ``start_time`` (default the first fitted time).
        n : particles to start from (drawn with replacement from the start cloud); default all of it.
        seed : seeds the draw of n particles and the SDE noise (default ``config.seed``).

        Returns
        -------
        one (n, d) array per time.
        """
        generator = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        times, t_start, cloud = self._prediction_inputs(times, start, start_time, n, generator)
        z = self._tensor(self._standardise(cloud))

        def field(points: torch.Tensor, u: float) -> torch.Tensor:
            u_column = torch.full((len(points), 1), u, dtype=points.dtype, device=points.device)
            return gradient(self._potential, points, u_column, create_graph=False)[1].detach()

        u_targets = (times - self.t0_) / self.span_
        states = integrate(field, z, (t_start - self.t0_) / self.span_, u_targets, step=self.config.step,
                           noise_std=self.noise_z_, generator=generator)
        return [(s.cpu().numpy() * self.scale_ + self.center_).astype(np.float32) for s in states]

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        parameter = next(self.network_.parameters())
        return torch.as_tensor(array, dtype=parameter.dtype, device=parameter.device)

    # ------------------------------------------------------------------------------------------ persist
    def _get_state(self) -> dict[str, Any]:
        return {"network": self.network_.state_dict(), "center": torch.as_tensor(self.center_),
                "scale": self.scale_, "t0": self.t0_, "span": self.span_, **self._snapshot_state()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self._set_snapshot_state(state)
        self.center_ = state["center"].numpy()
        self.scale_, self.t0_, self.span_ = float(state["scale"]), float(state["t0"]), float(state["span"])
        self.noise_z_ = self.config.sigma * math.sqrt(self.span_) / self.scale_
        self.network_ = self._network().to(resolve_device(self.config.device))
        self.network_.load_state_dict(state["network"])
        self.network_.eval()
