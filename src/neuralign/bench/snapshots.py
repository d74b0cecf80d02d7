"""Benchmark ``snapshots``: population dynamics from snapshots, every method of ``neuralign.snapshots.METHODS``.

Systems (``neuralign.data.snapshot_systems``; each seed draws new particles): Ornstein-Uhlenbeck in d = 2 and 10
(independent exact samples of each marginal), the rotating anisotropic cloud and the damped-oscillator population
(d = 2; trajectories known, identity hidden by a shuffle per time), 6 times each; the monkey source session's
SeqVAE latents (d = ``MONKEY_DIM``, 14 bins x 168 trials; the model is fitted per seed); and ``golub_bci_learning``
before / after learning (PCA latents, 2 marginals). Methods are built by ``snapshots.methods.build_method`` with
their defaults (``SETTINGS`` overrides; ``QUICK_SETTINGS`` with ``--quick``), on the CPU, seeded per run.

Protocol per seed and system:

(i) leave one marginal out: for each held-out interior marginal k (``holdouts``), fit on the others, predict t_k
    from the cloud at t_{k-1} (``predict([t_k], start=k-1)``, as many particles as that cloud), score W1, W2
    (exact, POT), RBF MMD^2 and the relative errors of the mean and covariance
    (``metrics.relative_moment_errors``) against the held-out cloud; beside it the sampling floor (W1 and W2
    between two independent exact samples of the true marginal of the held-out cloud's size; synthetic systems
    only) and "W2 / sampling floor" per held-out marginal. Baseline "no movement": the start cloud itself.
(ii) forecasting (rotating cloud, oscillators): fit on all but the last two marginals, roll out once from the first
    marginal (``start=0``) to the last two times, W1 / W2 against the observed clouds; only methods whose
    ``predict`` accepts times after the last fitted one (the others raise a ValueError, and are listed as skipped).
(iii) OU d = 2 and 10: for each leave-one-out model, the velocity field at the held-out time on 1000 fresh exact
    samples of that marginal against the closed-form probability-flow velocity -A x + (sigma^2 / 2) S_t^-1 (x - m_t)
    (the deterministic field that carries the marginals; a gradient field for symmetric A, so the target of a
    deterministic AM fit), relative L2; also against the SDE drift -A x, for reference (not a target: it does not
    carry the marginals by itself).
(iv) paths (rotating cloud, oscillators, monkey): fit on all marginals; methods that move particles
    (``MOVES_PARTICLES``: every method but McCann, whose prediction redraws plan pairs at each time) integrate the
    first cloud's particles to every time; paths are matched to the true trajectories by their start points
    (``metrics.match_paths``) and scored by path R2 (``metrics.path_r2``). Baseline: the OT chain
    (``metrics.ot_chain_paths``: particles follow the exact OT plans between consecutive clouds).
(v) seconds per fit, per method and system (the leave-one-out fits).
Golub: each method fitted on the two marginals predicts "after" from "before" (in sample: a check that the
method reaches a given endpoint), W1 against "after", beside W1(before, after).

Rows: method (a registry name, or a baseline), setting (system, part of the protocol, seeds), metric; a row's
values are one per (seed, held-out marginal) or per seed. Figures of the first seed go to ``REPORT``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuralign.bench import Row, describe_seeds, seed_values, torch_threads
from neuralign.data import snapshot_systems as systems
from neuralign.metrics import (match_paths, ot_chain_paths, path_r2, rbf_mmd, relative_l2, relative_moment_errors,
                               w1, w2)

REPORT = Path("reports/snapshots")
MONKEY_DIM = 4
VELOCITY_POINTS = 1000
MOVES_PARTICLES = ("am", "hoam", "otcfm", "wlm", "gradient_flow")
SETTINGS: dict[str, dict[str, Any]] = {}  # method -> settings over its defaults in the full run
QUICK_SETTINGS: dict[str, dict[str, Any]] = {
    "am": {"max_epochs": 4, "steps_per_epoch": 15, "batch_size": 64, "hidden_size": 32, "n_layers": 2},
    "hoam": {"max_epochs": 3}, "wlm": {"max_epochs": 3}, "gradient_flow": {"max_epochs": 3},
    "otcfm": {"max_epochs": 3}}
FULL = {"n": 400, "monkey_epochs": 400, "seeds": 3}
QUICK = {"n": 120, "monkey_epochs": 30, "seeds": 1}


class Results:
    """Values per (method, setting, metric), with the fit seconds of each value, in order of first appearance."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str], list[float]] = {}
        self.seconds: dict[tuple[str, str, str], list[float]] = {}

    def add(self, method: str, setting: str, metric: str, value: float, seconds: float = 0.0) -> None:
        self.values.setdefault((method, setting, metric), []).append(float(value))
        self.seconds.setdefault((method, setting, metric), []).append(float(seconds))

    def rows(self, suffix: str) -> list[Row]:
        return [Row.from_values(method, f"{setting}, {suffix}", metric, values, self.seconds[method, setting, metric])
                for (method, setting, metric), values in self.values.items()]


def _synthetic(n: int, seed: int) -> list[systems.SnapshotSystem]:
    return [systems.ornstein_uhlenbeck(2, n=n, seed=seed), systems.ornstein_uhlenbeck(10, n=n, seed=seed),
            systems.rotating_cloud(n=n, seed=seed), systems.damped_oscillators(n=n, seed=seed)]


def holdouts(system: systems.SnapshotSystem, quick: bool) -> list[int]:
    """The held-out interior marginals: all of them for 6 times, every fourth for the monkey's 14 bins; the middle
    one with ``--quick``."""
    interior = list(range(1, len(system.times) - 1))
    if quick:
        return [interior[len(interior) // 2]]
    return interior if len(interior) <= 4 else interior[2::4]


def _fit(name: str, snapshots: Any, *, seed: int, quick: bool) -> tuple[Any, float]:
    from neuralign.snapshots.methods import build_method

    settings = (QUICK_SETTINGS if quick else SETTINGS).get(name, {})
    model = build_method(name, settings, seed=seed)
    started = time.perf_counter()
    model.fit(snapshots)
    return model, time.perf_counter() - started


def leave_one_out(system: systems.SnapshotSystem, methods: list[str], results: Results, *, seed: int, quick: bool,
                  curves: dict[str, Any], progress: Callable[[str], None]) -> None:
    """Protocol (i), with (iii) on systems that have an SDE drift and a closed-form probability flow (OU)."""
    snapshots = system.snapshots()
    setting = f"{system.name}, leave-one-marginal-out"
    rng = np.random.default_rng(seed + 7919)
    for k in holdouts(system, quick):
        rest, t_held, held = snapshots.holdout(k)
        start = snapshots.clouds[k - 1]
        floor = floor_w1 = None
        if system.sample is not None:
            first, second = system.sample(t_held, len(held), rng), system.sample(t_held, len(held), rng)
            floor, floor_w1 = w2(first, second), w1(first, second)
            results.add("truth (two exact samples)", setting, "sampling floor W2", floor)
            results.add("truth (two exact samples)", setting, "sampling floor W1", floor_w1)
        results.add("no movement (start cloud)", setting, "W1", w1(start, held))
        results.add("no movement (start cloud)", setting, "W2", w2(start, held))
        for name in methods:
            model, seconds = _fit(name, rest, seed=seed, quick=quick)
            predicted = model.predict([t_held], start=k - 1, seed=seed)[0]
            scores = {"W1": w1(predicted, held), "W2": w2(predicted, held), "MMD^2 (rbf)": rbf_mmd(predicted, held),
                      **{f"{moment} rel. error": value
                         for moment, value in relative_moment_errors(predicted, held).items()}}
            if floor is not None:
                scores["W2 / sampling floor"] = scores["W2"] / floor
            if system.drift is not None:  # OU: the velocity field against the closed forms, on fresh samples
                points = system.sample(t_held, VELOCITY_POINTS, rng)
                field = model.velocity(points, t_held)
                scores["velocity rel. L2 (probability flow)"] = relative_l2(field, system.velocity(points, t_held))
                scores["velocity rel. L2 (SDE drift)"] = relative_l2(field, system.drift(points, t_held))
            for metric, value in scores.items():
                results.add(name, setting, metric, value, seconds)
            results.add(name, setting, "fit seconds", seconds, seconds)
            curves.setdefault(system.name, {}).setdefault(name, []).append((t_held, scores["W1"], predicted))
            progress(f"snapshots {system.name} seed {seed} hold out t={t_held:g} {name}: " +
                     ", ".join(f"{metric} {value:.3f}" for metric, value in scores.items()) + f", {seconds:.1f} s")
        if floor_w1 is not None:
            curves.setdefault(system.name, {}).setdefault("sampling floor", []).append((t_held, floor_w1, None))


def forecast(system: systems.SnapshotSystem, methods: list[str], results: Results, *, seed: int, quick: bool,
             skipped: set[str], progress: Callable[[str], None]) -> None:
    """Protocol (ii): fit on all but the last two marginals, roll out from the first to the last two times."""
    snapshots = system.snapshots()
    last = len(snapshots) - 2
    train = snapshots.subset(range(last))
    setting = f"{system.name}, forecast the last 2 marginals from t0"
    for name in methods:
        if name in skipped:
            continue
        model, seconds = _fit(name, train, seed=seed, quick=quick)
        try:
            predicted = model.predict(snapshots.times[last:], start=0, seed=seed)
        except ValueError as error:  # a method that predicts only inside the fitted range
            skipped.add(name)
            progress(f"snapshots forecast: {name} skipped ({error})")
            continue
        for cloud, observed in zip(predicted, snapshots.clouds[last:]):
            results.add(name, setting, "W1", w1(cloud, observed), seconds)
            results.add(name, setting, "W2", w2(cloud, observed), seconds)


def paths(system: systems.SnapshotSystem, methods: list[str], results: Results, *, seed: int, quick: bool,
          models: dict[str, Any], progress: Callable[[str], None]) -> None:
    """Protocol (iv): path R2 of integrated particles and of the OT chain, against the true trajectories."""
    snapshots = system.snapshots()
    setting = f"{system.name}, particle paths (fit on all marginals)"
    chain = ot_chain_paths(snapshots.clouds)
    results.add("OT chain (exact plans)", setting, "path R2", path_r2(chain, system.trajectories[match_paths(
        chain, system.trajectories)]))
    for name in methods:
        if name not in MOVES_PARTICLES:
            continue
        model, seconds = _fit(name, snapshots, seed=seed, quick=quick)
        models[f"{system.name}/{name}"] = model
        recovered = np.stack(model.predict(snapshots.times, start=0, seed=seed), axis=1)
        score = path_r2(recovered, system.trajectories[match_paths(recovered, system.trajectories)])
        results.add(name, setting, "path R2", score, seconds)
        progress(f"snapshots {system.name} seed {seed} paths {name}: R2 {score:.3f}, {seconds:.1f} s")


def learning(methods: list[str], results: Results, *, seed: int, quick: bool) -> None:
    """Golub before -> after (in sample): W1 of the predicted 'after' cloud against the observed one."""
    system = systems.learning_latent_snapshots()
    snapshots = system.snapshots()
    setting = f"{system.name}, before -> after (in sample)"
    before, after = snapshots.clouds
    results.add("no movement (start cloud)", setting, "W1", w1(before, after))
    for name in methods:
        model, seconds = _fit(name, snapshots, seed=seed, quick=quick)
        predicted = model.predict([1.0], start=0, seed=seed)[0]
        results.add(name, setting, "W1", w1(predicted, after), seconds)


def run(*, quick: bool, seeds: int | None, progress: Callable[[str], None],
        seed_set: str = "reporting") -> list[Row]:
    from neuralign.snapshots import METHODS

    size = QUICK if quick else FULL
    seed_list = seed_values(seed_set, seeds or size["seeds"])
    # HOAM fits a family of Snapshots over a parameter mu; every system here has one parameter value (not benchmarked)
    methods = [name for name in METHODS if name != "hoam"]
    results, skipped = Results(), set()
    figures: dict[str, Any] = {}
    with torch_threads(1):
        for index, seed in enumerate(seed_list):
            curves: dict[str, Any] = {}
            models: dict[str, Any] = {}
            monkey = systems.monkey_latent_system(latent_dim=MONKEY_DIM, max_epochs=size["monkey_epochs"], seed=seed)
            every = _synthetic(size["n"], seed) + [monkey]
            for system in every:
                leave_one_out(system, methods, results, seed=seed, quick=quick, curves=curves, progress=progress)
                if system.trajectories is not None:
                    paths(system, methods, results, seed=seed, quick=quick, models=models, progress=progress)
                if system.name.startswith(("rotating", "damped")):
                    forecast(system, methods, results, seed=seed, quick=quick, skipped=skipped, progress=progress)
            learning(methods, results, seed=seed, quick=quick)
            if index == 0:
                figures = {"curves": curves, "models": models, "systems": {system.name: system for system in every}}
    if skipped:
        progress(f"snapshots: not forecasting (predict only inside the fitted range): {sorted(skipped)}")
    if figures:
        from neuralign.bench._snapshot_figures import save_figures

        save_figures(figures, REPORT)
        progress(f"figures in {REPORT}/")
    return results.rows(describe_seeds(seed_set, seed_list))
