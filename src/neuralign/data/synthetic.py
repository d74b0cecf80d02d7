"""Synthetic reaching data with known latents, registered in the dataset registry.

Model (one trial of condition c, time t = 0 .. T-1, latent dimension d = 2K):

    x_0     = m_c + noise * e_0,             m_c set by the reach angle theta_c = 2 pi c / n_conditions
    x_{t+1} = A x_t + noise * e_{t+1},       A = blockdiag(rho_k R(omega_k)): damped rotations, one per pair
    v_t     = W x_t                          2-D hand velocity, a fixed linear readout of the latents
    y_t     ~ Poisson(exp(C x_t + b))        spike counts per bin, per-unit tuning C and baseline b

With ``asymmetry`` a > 0 the mean initial condition of condition c is scaled by
g_c = 1 + a (cos(theta_c - phi_1) + sin(2 theta_c - phi_2)) / 2, so directions differ in latent amplitude and
reach speed (as real reaches do) and the condition set has no rotation or mirror symmetry.

The first two pairs rotate at the same frequency omega = pi / (T - 1) in opposite senses, starting from
(cos theta_c, sin theta_c); this makes a bell-shaped reach v_t ~ rho^t sin(omega t) (cos theta_c, sin theta_c)
an exact linear readout. Further pairs rotate faster, with random phases. W is the least-squares readout of
that reach profile from the noiseless latent means, so velocity is exactly linear in the true latents.

Multi-session data keep the dynamics, initial conditions and readout (they depend on ``seed`` only) and draw
new units per session: a fraction of session 0's units is kept (gains perturbed, order shuffled), the rest is
replaced by new units.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from neuralign._checks import describe, positive_float, positive_int
from neuralign.data.registry import register
from neuralign.data.trialdata import TrialData

_DECAY = 0.97  # per-bin decay of the first two rotation planes
_LATENT_NORM = 1.5  # norm of the mean initial condition


def _check_common(n_trials: Any, n_conditions: Any, n_time: Any, latent_dim: Any, bin_size: Any,
                  baseline_rate: Any, noise: Any, seed: Any, asymmetry: Any = 0.0) -> dict[str, Any]:
    latent_dim = positive_int("latent_dim", latent_dim, minimum=2)
    if latent_dim % 2:
        raise ValueError(f"latent_dim: expected an even number (latents rotate in pairs), got {latent_dim}.")
    params = {
        "n_trials": positive_int("n_trials", n_trials),
        "n_conditions": positive_int("n_conditions", n_conditions),
        "n_time": positive_int("n_time", n_time, minimum=2),
        "latent_dim": latent_dim,
        "bin_size": positive_float("bin_size", bin_size),
        "baseline_rate": positive_float("baseline_rate", baseline_rate),
        "noise": positive_float("noise", noise, allow_zero=True),
        "seed": positive_int("seed", seed, minimum=0),
        "asymmetry": positive_float("asymmetry", asymmetry, allow_zero=True),
    }
    if params["asymmetry"] >= 1:
        raise ValueError(f"asymmetry: expected a number in [0, 1) (condition gains stay positive), got {asymmetry}.")
    if params["baseline_rate"] * params["bin_size"] > 5:
        raise ValueError(f"baseline_rate: {params['baseline_rate']} Hz x bin_size {params['bin_size']} s gives "
                         f"{params['baseline_rate'] * params['bin_size']:g} spikes per bin; expected at most 5 "
                         "(baseline_rate is in spikes per second).")
    return params


# ------------------------------------------------------------------------------------------------- the model
def _dynamics(latent_dim: int, n_conditions: int, n_time: int, seed: int,
              asymmetry: float = 0.0) -> dict[str, np.ndarray]:
    """Dynamics matrix A (d, d), mean initial conditions (n_conditions, d) and velocity readout W (2, d).

    ``asymmetry`` > 0 scales condition c's initial condition (hence its whole trajectory and reach speed) by
    g_c = 1 + asymmetry * (cos(theta_c - phi_1) + sin(2 theta_c - phi_2)) / 2 with seeded phases; the readout is
    fitted before the scaling, so faster latents mean faster reaches."""
    rng = np.random.default_rng([seed, 0])
    n_pairs = latent_dim // 2
    omega = np.pi / (n_time - 1)
    angles = 2 * np.pi * np.arange(n_conditions) / n_conditions
    dynamics = np.zeros((latent_dim, latent_dim))
    initial = np.zeros((n_conditions, latent_dim))
    for pair in range(n_pairs):
        if pair < 2:
            frequency, decay, phase = omega * (1 if pair == 0 else -1), _DECAY, 0.0
        else:
            frequency = omega * (1.0 + pair) * rng.choice([-1.0, 1.0])
            decay, phase = _DECAY - 0.01 * pair / n_pairs, rng.uniform(0, 2 * np.pi)
        cos, sin = np.cos(frequency), np.sin(frequency)
        block = slice(2 * pair, 2 * pair + 2)
        dynamics[block, block] = decay * np.array([[cos, -sin], [sin, cos]])
        initial[:, block] = np.stack([np.cos(angles + phase), np.sin(angles + phase)], axis=1)
    initial *= _LATENT_NORM / np.sqrt(n_pairs)
    means = np.empty((n_conditions, n_time, latent_dim))
    means[:, 0] = initial
    for t in range(1, n_time):
        means[:, t] = means[:, t - 1] @ dynamics.T
    profile = _DECAY ** np.arange(n_time) * np.sin(omega * np.arange(n_time))  # bell-shaped speed
    reach = profile[None, :, None] * np.stack([np.cos(angles), np.sin(angles)], axis=1)[:, None, :]
    readout, *_ = np.linalg.lstsq(means.reshape(-1, latent_dim), reach.reshape(-1, 2), rcond=None)
    if asymmetry:
        phases = np.random.default_rng([seed, 4]).uniform(0, 2 * np.pi, size=2)
        gains = 1 + asymmetry * (np.cos(angles - phases[0]) + np.sin(2 * angles - phases[1])) / 2
        initial = initial * gains[:, None]
    return {"dynamics": dynamics, "initial": initial, "readout": readout.T}


def _units(n_units: int, latent_dim: int, baseline_rate: float, bin_size: float,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Tuning C (units, d): random directions with gains in [0.5, 1.5]; log baseline b (units,)."""
    directions = rng.standard_normal((n_units, latent_dim))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    tuning = directions * rng.uniform(0.5, 1.5, size=(n_units, 1))
    log_baseline = np.log(baseline_rate * bin_size) + 0.5 * rng.standard_normal(n_units)
    return tuning, log_baseline


def _simulate(model: dict[str, np.ndarray], labels: np.ndarray, n_time: int, noise: float,
              rng: np.random.Generator) -> np.ndarray:
    """Latent trajectories (trials, time, d) of the given conditions with Gaussian innovations."""
    latents = np.empty((labels.size, n_time, model["dynamics"].shape[0]))
    latents[:, 0] = model["initial"][labels] + noise * rng.standard_normal(latents[:, 0].shape)
    for t in range(1, n_time):
        latents[:, t] = latents[:, t - 1] @ model["dynamics"].T + noise * rng.standard_normal(latents[:, t].shape)
    return latents


def _session(model: dict[str, np.ndarray], tuning: np.ndarray, log_baseline: np.ndarray, params: dict[str, Any],
             session: int, meta: dict[str, Any]) -> TrialData:
    rng = np.random.default_rng([params["seed"], 2, session])
    labels = np.arange(params["n_trials"]) % params["n_conditions"]
    latents = _simulate(model, labels, params["n_time"], params["noise"], rng)
    log_rates = np.clip(latents @ tuning.T + log_baseline, None, 10.0)  # cap at e^10 spikes per bin
    counts = rng.poisson(np.exp(log_rates))
    velocity = latents @ model["readout"].T
    return TrialData(counts=counts, behavior=velocity, labels=labels, latents=latents,
                     bin_size=params["bin_size"],
                     meta={"dataset": meta.pop("dataset"), "subject": "synthetic", "session": session,
                           "region": "synthetic", "behavior": "velocity = linear readout of latents",
                           **meta, **params})


# ----------------------------------------------------------------------------------------------- generators
@register(
    "synthetic_reach", kind="synthetic",
    description="Poisson spike counts driven by low-dimensional damped rotational latent dynamics; the reach "
                "direction sets the initial condition and 2-D velocity is a linear readout of the latents.",
    returns="TrialData (n_trials, n_time, n_units) counts, latents (n_trials, n_time, latent_dim), behavior = "
            "velocity (n_trials, n_time, 2), labels = condition (trial i has condition i % n_conditions).")
def synthetic_reach(n_trials: int = 200, n_conditions: int = 8, n_time: int = 30, n_units: int = 100,
                    latent_dim: int = 4, bin_size: float = 0.02, baseline_rate: float = 5.0, noise: float = 0.05,
                    asymmetry: float = 0.0, seed: int = 0) -> TrialData:
    """Simulate one session of centre-out reaches with known latents.

    Parameters
    ----------
    n_trials : number of trials; trial i has condition ``i % n_conditions``.
    n_conditions : number of reach directions, evenly spaced on the circle.
    n_time : bins per trial (>= 2).
    n_units : number of neurons.
    latent_dim : latent dimension, even (pairs of dimensions rotate).
    bin_size : bin width in seconds.
    baseline_rate : median firing rate at zero latent, in spikes per second; units spread log-normally around
        it and the latent modulation raises the mean (default: about 0.05 - 0.3 spikes per 20 ms bin).
    noise : standard deviation of the latent innovations per bin (0 for deterministic latents).
    asymmetry : in [0, 1): direction-dependent gain of the latent trajectories and reach speeds (see the module
        docstring). At 0 the set of conditions is exactly rotation- and mirror-symmetric, so two sessions can
        only be aligned up to a rotation by 2 pi / n_conditions or a mirror unless labels are used.
    seed : the whole dataset is a function of the arguments and ``seed``.

    Returns
    -------
    TrialData with counts (n_trials, n_time, n_units), latents (n_trials, n_time, latent_dim),
    behavior (n_trials, n_time, 2) velocity (arbitrary units), labels (n_trials,), meta with the parameters.
    """
    params = _check_common(n_trials, n_conditions, n_time, latent_dim, bin_size, baseline_rate, noise, seed,
                           asymmetry)
    params["n_units"] = positive_int("n_units", n_units)
    model = _dynamics(params["latent_dim"], params["n_conditions"], params["n_time"], params["seed"],
                      params["asymmetry"])
    tuning, log_baseline = _units(params["n_units"], params["latent_dim"], params["baseline_rate"],
                                  params["bin_size"], np.random.default_rng([params["seed"], 1]))
    return _session(model, tuning, log_baseline, params, 0, {"dataset": "synthetic_reach"})


def _unit_counts(n_units: Any, n_sessions: int) -> list[int]:
    if isinstance(n_units, (int, np.integer)) and not isinstance(n_units, bool):
        return [positive_int("n_units", n_units)] * n_sessions
    if not isinstance(n_units, (Sequence, np.ndarray)) or isinstance(n_units, str) or len(n_units) != n_sessions:
        raise ValueError(f"n_units: expected an int or a sequence of {n_sessions} unit counts (one per session), "
                         f"got {describe(n_units)}.")
    return [positive_int(f"n_units[{index}]", count) for index, count in enumerate(n_units)]


@register(
    "synthetic_reach_sessions", kind="synthetic",
    description="Several sessions of synthetic_reach sharing the latent dynamics, initial conditions and "
                "velocity readout, recorded with different units: part of session 0's units kept with perturbed "
                "gains in shuffled order, the rest replaced by new units; optionally several subjects (new units "
                "per subject) and a slow drift of the gains over a subject's sessions.",
    returns="list of n_sessions TrialData (n_trials, n_time, n_units[s]) with their own true latents; "
            "meta['session'] = index, meta['matched_units'] = session-0 index of each unit (-1 = new).")
def synthetic_reach_sessions(n_sessions: int = 2, n_units: int | Sequence[int] = (100, 90), n_trials: int = 200,
                             n_conditions: int = 8, n_time: int = 30, latent_dim: int = 4, bin_size: float = 0.02,
                             baseline_rate: float = 5.0, noise: float = 0.05, shared_fraction: float = 0.6,
                             gain_jitter: float = 0.2, asymmetry: float = 0.3, n_subjects: int = 1,
                             drift: float = 0.0, seed: int = 0) -> list[TrialData]:
    """Simulate sessions with shared latent dynamics and different recorded units.

    Parameters
    ----------
    n_sessions : number of sessions (>= 1).
    n_units : units per session: an int for all sessions, or one count per session.
    shared_fraction : fraction of ``min(n_units[0], n_units[s])`` units of session s > 0 that are session-0
        units (gains multiplied by ``exp(gain_jitter * N(0, 1))``, baselines shifted by ``gain_jitter * N(0, 1)``,
        order shuffled); the remaining units are new. Use 0 for no shared units.
    gain_jitter : size of the perturbation of the kept units' tuning (>= 0).
    asymmetry : as in :func:`synthetic_reach`, but 0.3 by default here: with perfectly symmetric conditions,
        unsupervised cross-session alignment is ill-posed (every symmetric copy fits equally well), which real
        recordings are not.
    n_subjects : sessions are split into this many subjects, in order (contiguous blocks); each subject's first
        session records new units, and its later sessions share units with that first session as above.
        ``meta["subject"]`` is "subject J"; ``matched_units`` index the subject's first session.
    drift : slow drift of the kept units' gains over a subject's sessions: the k-th session after the subject's
        first multiplies them by a further ``exp(drift * sqrt(k) * N(0, 1))`` (a random walk in the log gain;
        >= 0, 0 for none).
    Other arguments : as in :func:`synthetic_reach`; session 0 equals ``synthetic_reach`` with the same arguments.

    Returns
    -------
    list of TrialData, session s with counts (n_trials, n_time, n_units[s]), its own latents (new trial noise),
    velocity, labels and meta ``{"session": s, "matched_units": [...], "n_shared_units": k, ...}``.
    """
    n_sessions = positive_int("n_sessions", n_sessions)
    params = _check_common(n_trials, n_conditions, n_time, latent_dim, bin_size, baseline_rate, noise, seed,
                           asymmetry)
    counts = _unit_counts(n_units, n_sessions)
    shared_fraction = positive_float("shared_fraction", shared_fraction, allow_zero=True)
    if shared_fraction > 1:
        raise ValueError(f"shared_fraction: expected a number in [0, 1], got {shared_fraction}.")
    gain_jitter = positive_float("gain_jitter", gain_jitter, allow_zero=True)
    drift = positive_float("drift", drift, allow_zero=True)
    n_subjects = positive_int("n_subjects", n_subjects)
    if n_subjects > n_sessions:
        raise ValueError(f"n_subjects: expected at most n_sessions ({n_sessions}) subjects, got {n_subjects}.")
    subject_of = [session * n_subjects // n_sessions for session in range(n_sessions)]
    model = _dynamics(params["latent_dim"], params["n_conditions"], params["n_time"], params["seed"],
                      params["asymmetry"])
    tuning0, baseline0 = _units(counts[0], params["latent_dim"], params["baseline_rate"], params["bin_size"],
                                np.random.default_rng([params["seed"], 1]))
    sessions = []
    first = {0: (0, tuning0, baseline0)}  # subject -> (its first session, that session's tuning and baselines)
    for session, n_session_units in enumerate(counts):
        subject = subject_of[session]
        session_params = {**params, "n_units": n_session_units, "n_sessions": n_sessions,
                          "shared_fraction": shared_fraction, "gain_jitter": gain_jitter}
        if n_subjects > 1 or drift > 0:
            session_params.update(n_subjects=n_subjects, drift=drift)
        if subject not in first:  # a new subject: new units
            first[subject] = (session, *_units(n_session_units, params["latent_dim"], params["baseline_rate"],
                                               params["bin_size"], np.random.default_rng([params["seed"], 5, subject])))
        start, reference_tuning, reference_baseline = first[subject]
        if session == start:
            tuning, baseline, matched = reference_tuning, reference_baseline, np.arange(n_session_units)
        else:
            rng = np.random.default_rng([params["seed"], 3, session])
            n_reference = len(reference_baseline)
            n_shared = int(round(shared_fraction * min(n_reference, n_session_units)))
            kept = np.sort(rng.choice(n_reference, size=n_shared, replace=False))
            new_tuning, new_baseline = _units(n_session_units - n_shared, params["latent_dim"],
                                              params["baseline_rate"], params["bin_size"], rng)
            kept_tuning = reference_tuning[kept] * np.exp(gain_jitter * rng.standard_normal((n_shared, 1)))
            if drift > 0:  # its own stream, so that drift = 0 leaves every other draw as it was
                walk = np.random.default_rng([params["seed"], 4, session]).standard_normal((n_shared, 1))
                kept_tuning = kept_tuning * np.exp(drift * np.sqrt(session - start) * walk)
            kept_baseline = reference_baseline[kept] + gain_jitter * rng.standard_normal(n_shared)
            order = rng.permutation(n_session_units)
            tuning = np.concatenate([kept_tuning, new_tuning])[order]
            baseline = np.concatenate([kept_baseline, new_baseline])[order]
            matched = np.concatenate([kept, -np.ones(n_session_units - n_shared, dtype=int)])[order]
        meta = {"dataset": "synthetic_reach_sessions", "matched_units": [int(index) for index in matched],
                "n_shared_units": int((matched >= 0).sum())}
        if n_subjects > 1:
            meta["subject"] = f"subject {subject}"
        sessions.append(_session(model, tuning, baseline, session_params, session, meta))
    return sessions
