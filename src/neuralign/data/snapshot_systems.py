"""Populations with known dynamics, seen as snapshots: clouds of particles at a few times.

Each generator returns a :class:`SnapshotSystem`: the clouds (one (n, d) array per time, particle identity hidden
by an independent shuffle per time), and what is known of the truth: the velocity field, exact samples of the
marginal at any time, and the particles' trajectories where particles persist.

- ``ornstein_uhlenbeck``: dX = -A X dt + sigma dW in d dims, A symmetric positive definite, X_0 ~ N(m_0, S_0).
  Marginals are Gaussian: m_t = exp(-A t) m_0, S_t = S_inf + exp(-A t) (S_0 - S_inf) exp(-A t)^T with S_inf the
  Lyapunov solution of A S + S A^T = sigma^2 I. Each cloud is an independent exact sample of its marginal (no
  trajectories). Two fields: the SDE drift -A x (``true_drift``), and the probability-flow velocity
  v_t(x) = -A x - (sigma^2 / 2) grad log p_t(x) = -A x + (sigma^2 / 2) S_t^{-1} (x - m_t) (``velocity``): the
  deterministic flow with the same marginals. For symmetric A it is linear with a symmetric matrix, so a gradient
  field, the unique one that a deterministic action-matching fit can recover.
- ``rotating_cloud``: an anisotropic Gaussian blob in 2-D rotating rigidly about the origin, x_t = R(omega t) x_0;
  velocity omega J x (J the quarter turn): a curl field (curl 2 omega everywhere) that no gradient field equals.
- ``damped_oscillators``: x'' = -omega^2 x - gamma x' per coordinate (underdamped), random initial positions and
  velocities; closed-form trajectories. A second-order system: positions alone do not fix the future.

Neural latents as snapshots (trial identity hidden): ``monkey_latent_system`` (a latent model's per-bin latents of
the bundled monkey session, trials kept as true trajectories) and ``learning_latent_snapshots`` (PCA latents of
``golub_bci_learning`` before and after learning: two marginals).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from neuralign._checks import as_array, positive_float, positive_int

Field = Callable[[np.ndarray, float], np.ndarray]
Sampler = Callable[[float, int, np.random.Generator], np.ndarray]


@dataclass
class SnapshotSystem:
    """Clouds at given times and what is known of the truth.

    Parameters
    ----------
    name : short name (e.g. "ou d=2").
    times : (K,) increasing times.
    clouds : K arrays (n, d): the observed particles at each time, shuffled independently per time.
    trajectories : optional (n, K, d): particle i's true positions at every time (the hidden identity), in the order
        of ``order``.
    order : optional K index arrays (n,): ``clouds[k][j] == trajectories[order[k][j], k]``.
    velocity : optional true velocity field v(x (n, d), t) -> (n, d) that carries the marginals (deterministically).
    drift : optional SDE drift (for the OU process; differs from ``velocity`` when there is noise).
    sample : optional exact sampler of the marginal, sample(t, n, rng) -> (n, d).
    meta : settings of the generator.
    """

    name: str
    times: np.ndarray
    clouds: list[np.ndarray]
    trajectories: np.ndarray | None = None
    order: list[np.ndarray] | None = None
    velocity: Field | None = None
    drift: Field | None = None
    sample: Sampler | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return self.clouds[0].shape[1]

    def snapshots(self) -> Any:
        """The clouds as a ``neuralign.snapshots.Snapshots`` (trial or particle identity not given)."""
        from neuralign.snapshots.container import Snapshots

        return Snapshots(self.times, self.clouds, meta={"system": self.name, **self.meta})


def _generator(seed: Any) -> np.random.Generator:
    return np.random.default_rng(positive_int("seed", seed, minimum=0))


def _times(times: Any) -> np.ndarray:
    times = as_array("times", times, ndim=1, dtype=np.float64)
    if times.size < 2 or np.any(np.diff(times) <= 0):
        raise ValueError(f"times: expected at least 2 strictly increasing times, got {times.tolist()}.")
    return times


def _hide_identity(trajectories: np.ndarray, rng: np.random.Generator) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Clouds from trajectories (n, K, d), each time shuffled by its own permutation: (clouds, orders)."""
    orders = [rng.permutation(trajectories.shape[0]) for _ in range(trajectories.shape[1])]
    clouds = [trajectories[order, k].astype(np.float32) for k, order in enumerate(orders)]
    return clouds, orders


# --------------------------------------------------------------------------------------- Ornstein-Uhlenbeck
def ou_moments(A: np.ndarray, sigma: float, m0: np.ndarray, S0: np.ndarray, t: float) -> tuple[np.ndarray,
                                                                                               np.ndarray]:
    """Mean (d,) and covariance (d, d) at time t of dX = -A X dt + sigma dW from N(m0, S0) (A stable)."""
    from scipy.linalg import expm, solve_continuous_lyapunov

    stationary = solve_continuous_lyapunov(A, sigma ** 2 * np.eye(len(A)))  # A S + S A^T = sigma^2 I
    decay = expm(-A * t)
    covariance = stationary + decay @ (S0 - stationary) @ decay.T
    return decay @ m0, (covariance + covariance.T) / 2


def ornstein_uhlenbeck(dim: int = 2, *, n: int = 500, times: Any = (0.0, 0.3, 0.6, 0.9, 1.2, 1.5),
                       sigma: float = 0.5, seed: int = 0) -> SnapshotSystem:
    """An OU process dX = -A X dt + sigma dW seen at ``times`` (independent exact samples of each marginal).

    A = Q diag(lambda) Q^T, lambda evenly spaced in [0.5, 1.5] and Q a random rotation; m_0 of norm 2 along a random
    direction; S_0 = 0.1 I. ``velocity`` is the probability-flow field, ``drift`` the SDE drift -A x.
    """
    dim = positive_int("dim", dim)
    n = positive_int("n", n, minimum=2)
    sigma = positive_float("sigma", sigma, allow_zero=True)
    times = _times(times)
    rng = _generator(seed)
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    A = rotation @ np.diag(np.linspace(0.5, 1.5, dim)) @ rotation.T
    A = (A + A.T) / 2
    direction = rng.normal(size=dim)
    m0, S0 = 2.0 * direction / np.linalg.norm(direction), 0.1 * np.eye(dim)

    def moments(t: float) -> tuple[np.ndarray, np.ndarray]:
        return ou_moments(A, sigma, m0, S0, t)

    def sample(t: float, size: int, generator: np.random.Generator) -> np.ndarray:
        mean, covariance = moments(t)
        return generator.multivariate_normal(mean, covariance, size=size).astype(np.float32)

    def velocity(x: np.ndarray, t: float) -> np.ndarray:
        mean, covariance = moments(t)
        x = np.asarray(x, dtype=np.float64)
        return (-x @ A.T + 0.5 * sigma ** 2 * np.linalg.solve(covariance, (x - mean).T).T).astype(np.float32)

    def drift(x: np.ndarray, t: float) -> np.ndarray:
        return (-np.asarray(x, dtype=np.float64) @ A.T).astype(np.float32)

    clouds = [sample(t, n, rng) for t in times]
    return SnapshotSystem(f"ou d={dim}", times, clouds, velocity=velocity, drift=drift, sample=sample,
                          meta={"A": A, "sigma": sigma, "m0": m0, "S0": S0, "seed": seed})


# ------------------------------------------------------------------------------------------ rotating cloud
def _rotation(angle: float) -> np.ndarray:
    return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])


def rotating_cloud(*, n: int = 400, times: Any = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25), omega: float = 1.5,
                   center: tuple[float, float] = (2.0, 0.0), scales: tuple[float, float] = (0.6, 0.15),
                   seed: int = 0) -> SnapshotSystem:
    """An anisotropic Gaussian blob (``center``, axis standard deviations ``scales``) rotating rigidly about the
    origin at angular velocity ``omega``: x_t = R(omega t) x_0, velocity omega (-x_2, x_1) (curl 2 omega)."""
    n = positive_int("n", n, minimum=2)
    omega = positive_float("omega", omega)
    times = _times(times)
    rng = _generator(seed)
    mean, covariance = np.asarray(center, dtype=np.float64), np.diag(np.asarray(scales, dtype=np.float64) ** 2)
    start = rng.multivariate_normal(mean, covariance, size=n)
    trajectories = np.stack([start @ _rotation(omega * t).T for t in times], axis=1)
    clouds, orders = _hide_identity(trajectories, rng)

    def velocity(x: np.ndarray, t: float) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return (omega * np.stack([-x[:, 1], x[:, 0]], axis=1)).astype(np.float32)

    def sample(t: float, size: int, generator: np.random.Generator) -> np.ndarray:
        turn = _rotation(omega * t)
        return generator.multivariate_normal(turn @ mean, turn @ covariance @ turn.T, size=size).astype(np.float32)

    return SnapshotSystem("rotating cloud", times, clouds, trajectories=trajectories.astype(np.float32),
                          order=orders, velocity=velocity, sample=sample,
                          meta={"omega": omega, "center": list(center), "scales": list(scales), "seed": seed})


# ------------------------------------------------------------------------------------- damped oscillators
def oscillator_positions(x0: np.ndarray, v0: np.ndarray, t: Any, omega: float, gamma: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Positions and velocities at time(s) t of x'' = -omega^2 x - gamma x' (underdamped) from (x0, v0)."""
    damped = np.sqrt(omega ** 2 - gamma ** 2 / 4)
    t = np.asarray(t, dtype=np.float64)[..., None, None] if np.ndim(t) else float(t)
    decay, cos, sin = np.exp(-gamma * t / 2), np.cos(damped * t), np.sin(damped * t)
    b = (v0 + gamma * x0 / 2) / damped
    position = decay * (x0 * cos + b * sin)
    velocity = -gamma / 2 * position + decay * (-x0 * damped * sin + b * damped * cos)
    return position, velocity


def damped_oscillators(dim: int = 2, *, n: int = 400, times: Any = (0.0, 0.4, 0.8, 1.2, 1.6, 2.0),
                       omega: float = 2.0, gamma: float = 0.5, seed: int = 0) -> SnapshotSystem:
    """A population of damped oscillators x'' = -omega^2 x - gamma x' (each coordinate), x_0 ~ N((1.5, 0, ...),
    0.2^2 I), v_0 ~ N((0, 1.5, 0, ...), 0.2^2 I): the cloud swings and spirals in. Positions only are observed."""
    dim = positive_int("dim", dim)
    n = positive_int("n", n, minimum=2)
    omega, gamma = positive_float("omega", omega), positive_float("gamma", gamma, allow_zero=True)
    if gamma >= 2 * omega:
        raise ValueError(f"gamma: expected an underdamped oscillator, gamma < 2 omega = {2 * omega:g}, got {gamma:g}.")
    times = _times(times)
    rng = _generator(seed)
    mean_x, mean_v = np.zeros(dim), np.zeros(dim)
    mean_x[0] = 1.5
    mean_v[min(1, dim - 1)] += 1.5
    x0 = mean_x + 0.2 * rng.normal(size=(n, dim))
    v0 = mean_v + 0.2 * rng.normal(size=(n, dim))
    positions, _ = oscillator_positions(x0, v0, times, omega, gamma)  # (K, n, d)
    trajectories = np.transpose(positions, (1, 0, 2))
    clouds, orders = _hide_identity(trajectories, rng)

    def sample(t: float, size: int, generator: np.random.Generator) -> np.ndarray:
        x = mean_x + 0.2 * generator.normal(size=(size, dim))
        v = mean_v + 0.2 * generator.normal(size=(size, dim))
        return oscillator_positions(x, v, t, omega, gamma)[0].astype(np.float32)

    return SnapshotSystem(f"damped oscillators d={dim}", times, clouds, trajectories=trajectories.astype(np.float32),
                          order=orders, sample=sample,
                          meta={"omega": omega, "gamma": gamma, "seed": seed})


SYSTEMS: dict[str, Callable[..., SnapshotSystem]] = {
    "ou": ornstein_uhlenbeck, "rotating_cloud": rotating_cloud, "damped_oscillators": damped_oscillators}


# ------------------------------------------------------------------------------------------- neural latents
def latent_system(latents: Any, *, name: str, bin_size: float = 1.0, seed: int = 0) -> SnapshotSystem:
    """Per-bin clouds of latents (trials, time, k): the trials are the particles (identity hidden by a shuffle per
    bin) and the single-trial latent paths are the true trajectories."""
    latents = as_array("latents", latents, ndim=3)
    rng = _generator(seed)
    clouds, orders = _hide_identity(latents, rng)
    times = np.arange(latents.shape[1]) * positive_float("bin_size", bin_size)
    return SnapshotSystem(name, times, clouds, trajectories=latents.astype(np.float32), order=orders,
                          meta={"seed": seed})


def monkey_latent_system(*, latent_dim: int = 4, max_epochs: int = 400, seed: int = 0) -> SnapshotSystem:
    """SeqVAE posterior-mean latents of the bundled monkey source session (``erdiff_miller_co``, 168 trials x 14
    bins) as 14 per-bin clouds of 168 particles, trials kept as the true trajectories."""
    from neuralign.data.datasets import load
    from neuralign.models.seqvae import SeqVAE

    data = load("erdiff_miller_co", session="source")
    model = SeqVAE(latent_dim=positive_int("latent_dim", latent_dim), max_epochs=positive_int("max_epochs", max_epochs),
                   seed=seed, verbose=False, device="cpu").fit(data)
    system = latent_system(model.transform(data), name=f"monkey SeqVAE latents (d={latent_dim})", seed=seed)
    system.meta.update({"model": "SeqVAE", "max_epochs": max_epochs, "bins": "time-normalised, 14 per trial"})
    return system


def learning_latent_snapshots(*, latent_dim: int = 5) -> SnapshotSystem:
    """``golub_bci_learning`` before and after learning as two clouds (times 0 and 1) of PCA latents: every 45 ms
    step of every direction cloud is a particle (8 x 69 per phase); the PCA (``latent_dim`` components) is fitted
    on the square-root counts of both phases pooled. No trajectories."""
    from sklearn.decomposition import PCA

    from neuralign.data.datasets import load

    phases = load("golub_bci_learning")
    before, after = (np.sqrt(phases[key].counts.reshape(-1, phases[key].n_units)) for key in ("before", "after"))
    pca = PCA(positive_int("latent_dim", latent_dim)).fit(np.concatenate([before, after]))
    clouds = [pca.transform(before).astype(np.float32), pca.transform(after).astype(np.float32)]
    return SnapshotSystem(f"golub learning PCA latents (d={latent_dim})", np.array([0.0, 1.0]), clouds,
                          meta={"explained_variance": float(pca.explained_variance_ratio_.sum())})
