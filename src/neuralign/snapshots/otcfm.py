"""OT-CFM baseline: conditional flow matching with minibatch exact-OT couplings between consecutive marginals
(Tong et al., TMLR 2024), through torchcfm.

A time-dependent velocity field v(z, u) (``fields.PotentialMLP`` with d outputs) in the rescaled frame. Each
training step, for every pair of consecutive clouds k, k + 1 (rescaled times u_k < u_{k+1}): draw a minibatch of
each, couple them by the exact OT plan of the minibatch (torchcfm's ``OTPlanSampler``, squared-Euclidean cost),
draw pairs (x0, x1) from the plan, a fraction lam ~ U(0, 1) per pair, and regress

    || v(z_lam, u_k + lam (u_{k+1} - u_k)) - (x1 - x0) / (u_{k+1} - u_k) ||^2,   z_lam ~ N((1 - lam) x0 + lam x1,
    sigma^2)

(torchcfm's ``ConditionalFlowMatcher``: the straight path between the pair and its constant velocity; sigma 0 by
default). Pairs are drawn from the plan with the loop's seeded torch generator (torchcfm's own ``sample_plan``
draws from NumPy's global generator, which the loop does not seed). ``predict`` integrates dz/du = v (RK4,
``fields.integrate``) within the fitted time range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from neuralign._checks import positive_float, positive_int
from neuralign.models.base import register_model
from neuralign.snapshots.base import SnapshotEstimator, SnapshotTrainingConfig, check_snapshots, split_particles
from neuralign.snapshots.container import Snapshots
from neuralign.snapshots.coupling import random_draw
from neuralign.snapshots.fields import PotentialMLP, integrate
from neuralign.train import History, resolve_device


def _torchcfm() -> Any:
    """torchcfm's conditional_flow_matching module, or a clear error naming how to install it."""
    try:
        from torchcfm import conditional_flow_matching
    except ImportError as error:
        raise ImportError("OTCFM needs torchcfm: install it with `pip install --no-deps torchcfm` (--no-deps: its "
                          "requirements pull torchvision and another torch build; the modules used here need only "
                          "torch, numpy, scipy and POT).") from error
    return conditional_flow_matching


@dataclass
class OTCFMConfig(SnapshotTrainingConfig):
    """Settings of :class:`OTCFM` (the shared ones: ``base.SnapshotTrainingConfig``).

    sigma : width of the Gaussian probability path around the straight line between coupled pairs (rescaled
        frame); 0 gives the deterministic OT-CFM interpolant.
    n_frequencies : time features of the velocity network.
    """

    sigma: float = 0.0
    n_frequencies: int = 2
    batch_size: int = 128

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_float("sigma", self.sigma, allow_zero=True)
        positive_int("n_frequencies", self.n_frequencies, minimum=0)


@register_model
class OTCFM(SnapshotEstimator):
    """Conditional flow matching with minibatch exact-OT couplings between consecutive snapshots.

    Examples
    --------
    >>> model = OTCFM().fit(snapshots)                                # doctest: +SKIP
    >>> clouds = model.predict([0.5, 0.75], start=1)                  # doctest: +SKIP
    """

    config_class = OTCFMConfig

    def fit(self, snapshots: Snapshots) -> "OTCFM":
        """Fit v on ``snapshots`` (at least 2) by the one training loop. Sets ``history_``."""
        cfm = _torchcfm()
        snapshots = check_snapshots("snapshots", snapshots)
        config = self.config
        self._remember(snapshots)
        self._set_frame(snapshots.clouds, snapshots.times, config.standardize)
        torch.manual_seed(config.seed)
        self.network_ = self._network().to(resolve_device(config.device))
        matcher = cfm.ConditionalFlowMatcher(sigma=config.sigma)
        planner = cfm.OTPlanSampler(method="exact", warn=False)
        u = self._rescaled_time(snapshots.times)
        train_clouds, val_clouds = split_particles(snapshots.clouds, config.val_fraction, config.seed)

        def tensors(clouds: list[np.ndarray]) -> list[torch.Tensor]:
            return [self._tensor(self._standardise(c)) for c in clouds]

        training = tensors(train_clouds)
        validation = None if val_clouds is None else tensors(val_clouds)

        def loss(batch: dict[str, Any], generator: torch.Generator | None) -> dict[str, torch.Tensor]:
            clouds = training if generator is None else validation
            points, times, targets = [], [], []
            for k in range(len(clouds) - 1):
                x0, x1 = (c[torch.randint(len(c), (config.batch_size,), generator=generator).to(c.device)]
                          for c in clouds[k:k + 2])
                plan = torch.as_tensor(planner.get_map(x0, x1)).flatten()
                pairs = random_draw(plan, config.batch_size, generator)
                lam = torch.rand(config.batch_size, generator=generator).to(x0.device, x0.dtype)
                _, z, velocity = matcher.sample_location_and_conditional_flow(
                    x0[pairs // config.batch_size], x1[pairs % config.batch_size], t=lam)
                gap = float(u[k + 1] - u[k])
                points.append(z)
                times.append(u[k] + lam[:, None] * gap)
                targets.append(velocity / gap)
            predicted = self.network_(torch.cat(points), torch.cat(times))
            return {"loss": ((predicted - torch.cat(targets)) ** 2).sum(-1).mean()}

        self.history_: History = self._train_steps(loss, validation is not None)
        self.network_.eval()
        self.fitted_ = True
        return self

    def _network(self) -> PotentialMLP:
        config = self.config
        return PotentialMLP(self.dim_, hidden_size=config.hidden_size, n_layers=config.n_layers,
                            n_frequencies=config.n_frequencies, outputs=self.dim_)

    def _field(self, z: torch.Tensor, u: float) -> torch.Tensor:
        with torch.no_grad():
            return self.network_(z, torch.full((len(z), 1), u, dtype=z.dtype, device=z.device))

    # --------------------------------------------------------------------------------------------- use
    def velocity(self, x: Any, t: float) -> np.ndarray:
        """v(x, t) in physical units: x (n, d), t a time in the fitted range -> (n, d)."""
        self._check_fitted("velocity")
        x = self._check_points("x", x)
        u = self._rescaled_time(self._check_time("t", t))
        velocity = self._field(self._tensor(self._standardise(x)), u)
        return (velocity.cpu().numpy() * self.scale_ / self.span_).astype(np.float32)

    def predict(self, times: Any, start: Any = 0, *, start_time: float | None = None, n: int | None = None,
                seed: int | None = None) -> list[np.ndarray]:
        """Clouds at ``times`` by integrating dz/du = v from a start cloud; arguments as in
        ``ActionMatching.predict`` (within the fitted time range)."""
        generator = torch.Generator().manual_seed(self.config.seed if seed is None else seed)
        times, t_start, cloud = self._prediction_inputs(times, start, start_time, n, generator)
        states = integrate(self._field, self._tensor(self._standardise(cloud)), self._rescaled_time(t_start),
                           self._rescaled_time(times), step=self.config.step)
        return [self._physical(state) for state in states]
