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

from neuralign._checks import one_of, positive_float, positive_int
from neuralign.models.base import register_model
from neuralign.snapshots.base import SnapshotEstimator, SnapshotTrainingConfig, check_snapshots, split_particles
from neuralign.snapshots.container import Snapshots
from neuralign.snapshots.coupling import COUPLINGS, couple, displace, random_draw
from neuralign.snapshots.fields import Potential, PotentialMLP, gradient, integrate
from neuralign.snapshots.quadrature import KINETIC, RULES, action_objective, time_nodes
from neuralign.train import History, resolve_device

DEFAULT_SUBDIVISIONS = 4  # grid intervals per observed interval with the exact kinetic term


@dataclass
class ActionMatchingConfig(SnapshotTrainingConfig):
    """Settings of :class:`ActionMatching` (the shared ones: ``base.SnapshotTrainingConfig``).

    sigma : noise level of entropic AM in physical units (0: deterministic AM, an ODE).
    quadrature : "trapezoid" (observed times only) or "simpson" (plus interpolated midpoints); see
        ``quadrature.py`` for why Gauss-Legendre is not offered.
    kinetic : "exact" (default): the kinetic (and Laplacian) term integrated exactly over each grid interval for s
        and q_u linear in u there, the same model the time-derivative term is exact for (``quadrature.py``);
        "quadrature": the rule's weights on each node's own marginal only (the earlier scheme, unbounded below on
        tight, fast-moving clouds).
    subdivisions : with kinetic="exact", grid intervals per observed interval (the inner nodes displacement-
        interpolated; 2 is Simpson's grid, 1 the trapezoid's); None: 4 with kinetic="exact", the rule's grid with
        "quadrature". 4 with batch_size 128 (the same points per step as Simpson's grid at 256) was chosen on the OU
        tuning seeds (docs/notes/snapshots.md).
    interpolation : how marginals between observed times are formed: "ot" (McCann displacement interpolation
        along the exact OT plan: valid for snapshots) or "index" (particle i to particle i: trajectories only).
    exact_laplacian_max_dim : exact Laplacian up to this dimension, Hutchinson above (entropic AM only).
    n_probes : Hutchinson probes per point.
    n_frequencies : time features of the potential network (``fields.PotentialMLP``).
    """

    sigma: float = 0.0
    quadrature: str = "simpson"
    kinetic: str = "exact"
    subdivisions: int | None = None
    batch_size: int = 128
    interpolation: str = "ot"
    exact_laplacian_max_dim: int = 20
    n_probes: int = 1
    n_frequencies: int = 2

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_float("sigma", self.sigma, allow_zero=True)
        one_of("quadrature", self.quadrature, RULES)
        one_of("interpolation", self.interpolation, COUPLINGS)
        one_of("kinetic", self.kinetic, KINETIC)
        if self.subdivisions is not None:
            positive_int("subdivisions", self.subdivisions)
            if self.kinetic != "exact":
                raise ValueError("subdivisions: a grid of interpolated nodes needs kinetic='exact' (the quadrature "
                                 f"weights are the rule's own), got kinetic={self.kinetic!r}.")
        positive_int("n_probes", self.n_probes)
        positive_int("exact_laplacian_max_dim", self.exact_laplacian_max_dim, minimum=0)
        positive_int("n_frequencies", self.n_frequencies, minimum=0)


class _Marginals:
    """The training (or validation) particles of every cloud in z, with couplings for interpolated nodes."""

    def __init__(self, clouds: list[torch.Tensor], nodes: list, interpolation: str,
                 kinetic: str = "exact") -> None:
        one_of("kinetic", kinetic, KINETIC)
        self.clouds = clouds
        self.nodes = nodes
        self.kinetic = kinetic
        needed = sorted({node.k for node in nodes if node.lam > 0})
        self.couplings = {k: couple(clouds[k], clouds[k + 1], interpolation) for k in needed}

    def draw(self, batch_size: int, generator: torch.Generator | None) -> dict[str, torch.Tensor]:
        """The terms of ``quadrature.action_objective`` (its keyword arguments): points z (N, d), times u (N, 1) and
        the weights (N,) of each row: each node's batch at its own time and at the neighbouring grid times."""
        rows: list[tuple] = []  # (batch, u, kinetic, boundary, time, cross, diffusion, own row block)
        last = len(self.nodes) - 1
        half = 0.5 / batch_size
        exact = self.kinetic == "exact"
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
            before = node.u - self.nodes[j - 1].u if j > 0 else 0.0
            after = self.nodes[j + 1].u - node.u if j < last else 0.0
            own = len(rows)
            if exact:  # s and q_u linear in u on each grid interval: the kinetic integral in closed form
                rows.append((batch, node.u, (before + after) / 4 / batch_size, boundary, own_time, 0.0,
                             (before + after) / 3 / batch_size, own))
            else:
                rows.append((batch, node.u, node.weight / batch_size, boundary, own_time, 0.0,
                             node.weight / batch_size, own))
            for gap, neighbour, sign in ((after, j + 1, 1.0), (before, j - 1, -1.0)):
                if gap == 0.0:
                    continue
                if exact:
                    rows.append((batch, self.nodes[neighbour].u, gap / 12 / batch_size, 0.0, sign * half,
                                 gap / 6 / batch_size, gap / 6 / batch_size, own))
                else:
                    rows.append((batch, self.nodes[neighbour].u, 0.0, 0.0, sign * half, 0.0, 0.0, own))
        z = torch.cat([row[0] for row in rows])
        names = ("u", "kinetic_weights", "boundary_weights", "time_weights", "cross_weights", "diffusion_weights")
        terms = {name: torch.cat([torch.full((batch_size,), row[i]) for row in rows]).to(dtype=z.dtype,
                                                                                            device=z.device)
                 for i, name in enumerate(names, start=1)}
        terms["u"] = terms["u"][:, None]
        offsets = torch.arange(batch_size)
        terms["cross_index"] = torch.cat([row[7] * batch_size + offsets for row in rows]).to(z.device)
        return {"z": z, **terms}


@register_model
class ActionMatching(SnapshotEstimator):
    """Action matching and entropic action matching on snapshots; see the module docstring.

    Examples
    --------
    >>> am = ActionMatching(max_epochs=20).fit(snapshots)            # doctest: +SKIP
    >>> clouds = am.predict([0.5, 0.75], start=1)                    # doctest: +SKIP
    """

    config_class = ActionMatchingConfig
    n_params_ = 0  # the parameter input's size (HOAM's mu); 0 for plain action matching

    # ------------------------------------------------------------------------------------------------ fit
    def fit(self, snapshots: Snapshots) -> "ActionMatching":
        """Fit s on ``snapshots`` (at least 2) by the one training loop. Sets ``history_``."""
        snapshots = check_snapshots("snapshots", snapshots)
        self._remember(snapshots)
        return self._fit_sets([snapshots], None)

    def _fit_sets(self, sets: list[Snapshots], mu_inputs: torch.Tensor | None) -> "ActionMatching":
        """Fit one potential on every Snapshots of ``sets`` (all at the same times), set g with the parameter input
        ``mu_inputs[g]`` (None: no parameter input). Each training step is about one set (the loop's "group")."""
        config = self.config
        self._set_frame([c for snapshots in sets for c in snapshots.clouds], sets[0].times, config.standardize)
        self.noise_z_ = config.sigma * math.sqrt(self.span_) / self.scale_
        device = resolve_device(config.device)
        torch.manual_seed(config.seed)
        self.network_ = self._network().to(device)
        subdivisions = config.subdivisions
        if subdivisions is None and config.kinetic == "exact":
            subdivisions = DEFAULT_SUBDIVISIONS
        nodes = time_nodes(self._rescaled_time(sets[0].times), config.quadrature, subdivisions)
        training, validation = [], []
        for snapshots in sets:
            train_clouds, val_clouds = split_particles(snapshots.clouds, config.val_fraction, config.seed)
            for part, clouds in ((training, train_clouds), (validation, val_clouds)):
                if clouds is not None:
                    tensors = [self._tensor(self._standardise(c)) for c in clouds]
                    part.append(_Marginals(tensors, nodes, config.interpolation, config.kinetic))
        validated = len(validation) == len(sets)
        mu_inputs = None if mu_inputs is None else mu_inputs.to(device)

        def loss(batch: dict[str, Any], generator: torch.Generator | None) -> dict[str, torch.Tensor]:
            group = int(batch["group"][0])
            data = (training if generator is None else validation)[group]
            terms = data.draw(config.batch_size, generator)
            return action_objective(self._potential_at(None if mu_inputs is None else mu_inputs[group]), **terms,
                                    noise_variance=self.noise_z_ ** 2,
                                    laplacian_method=self.laplacian_method, n_probes=config.n_probes,
                                    generator=generator, create_graph=self.network_.training)

        self.history_: History = self._train_steps(loss, validated, groups=len(sets))
        self.network_.eval()
        self.fitted_ = True
        return self

    def _potential_at(self, mu_input: torch.Tensor | None) -> Potential:
        """s(z, u) at the parameter input ``mu_input`` (p,) (None without a parameter input)."""
        if mu_input is None:
            return self.network_

        def potential(z: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
            return self.network_(z, u, mu_input.expand(len(z), -1))

        return potential

    @property
    def laplacian_method(self) -> str:
        """"exact" for d <= ``exact_laplacian_max_dim``, else "hutchinson"."""
        return "exact" if self.dim_ <= self.config.exact_laplacian_max_dim else "hutchinson"

    def _network(self) -> PotentialMLP:
        config = self.config
        return PotentialMLP(self.dim_, hidden_size=config.hidden_size, n_layers=config.n_layers,
                            n_frequencies=config.n_frequencies, n_params=self.n_params_)

    # --------------------------------------------------------------------------------------------- use
    def velocity(self, x: Any, t: float) -> np.ndarray:
        """v(x, t) = grad s in physical units: x (n, d), t a time in the fitted range -> (n, d)."""
        return self._velocity(x, t, None)

    def _velocity(self, x: Any, t: float, mu_input: torch.Tensor | None) -> np.ndarray:
        self._check_fitted("velocity")
        x = self._check_points("x", x)
        t = self._check_time("t", t)
        z = self._tensor(self._standardise(x))
        u = torch.full((len(z), 1), self._rescaled_time(t), dtype=z.dtype, device=z.device)
        grad_z = gradient(self._potential_at(mu_input), z, u, create_graph=False)[1]
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
        inputs = self._prediction_inputs(times, start, start_time, n, generator)
        return self._integrate(*inputs, None, generator)

    def _integrate(self, times: np.ndarray, t_start: float, cloud: np.ndarray, mu_input: torch.Tensor | None,
                   generator: torch.Generator) -> list[np.ndarray]:
        potential = self._potential_at(mu_input)

        def field(points: torch.Tensor, u: float) -> torch.Tensor:
            u_column = torch.full((len(points), 1), u, dtype=points.dtype, device=points.device)
            return gradient(potential, points, u_column, create_graph=False)[1].detach()

        states = integrate(field, self._tensor(self._standardise(cloud)), self._rescaled_time(t_start),
                           self._rescaled_time(times), step=self.config.step, noise_std=self.noise_z_,
                           generator=generator)
        return [self._physical(state) for state in states]

    # ------------------------------------------------------------------------------------------ persist
    def _set_state(self, state: dict[str, Any]) -> None:
        super()._set_state(state)
        self.noise_z_ = self.config.sigma * math.sqrt(self.span_) / self.scale_
