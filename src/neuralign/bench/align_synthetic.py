"""Benchmark ``align-synthetic``: cross-session alignment on ``synthetic_reach_sessions``, scored against the
ground-truth latents.

Two sessions share the latent dynamics (and its coordinate frame) but have different units. Per seed: an LFADS
model (4 factors) is fitted on session 0; an affine map from its factors to the true latents is fitted on session
0's trials; each aligner fits a read-in for session 1 on half of its trials (spikes only); the same affine map is
applied to the aligned session-1 factors of the other half and compared with their true latents (R2). Only a
correct alignment puts session-1 factors where session 0's map expects them, so this scores the alignment itself,
not just the information in the factors. Velocity R2 (%) through the frozen source head is reported beside it.
The model and the map are fitted on 80 % of session 0; the same score on the other 20 % of session 0 (no
alignment needed) is the ceiling of this pipeline. The generator's defaults: ``asymmetry`` 0.3 (direction-dependent
gains), here with ``N_TRIALS`` trials per session. Seeds: ``seed_set`` "reporting" (100, ...; default) or "tuning".
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from neuralign.align import ConditionAverageReadIn, DynamicsMatching, ERDiff, NoAlignment, NoMAD, SinkhornMatching
from neuralign.bench import Plan, Row, Task, describe_seeds, seed_values
from neuralign.data.datasets import load
from neuralign.data.trialdata import TrialData
from neuralign.metrics import r2_percent
from neuralign.models.lfads import LFADS


ASYMMETRY = 0.3  # the generator's default
N_TRIALS = 200
FACTORS = 4


def _methods(quick: bool) -> dict[str, tuple[type, dict]]:
    epochs = {"epochs": 20, "screen_epochs": 8, "restarts": 4} if quick else {}  # else each aligner's defaults
    return {"no alignment": (NoAlignment, {"max_epochs": 60 if quick else 200}),
            "Sinkhorn OT": (SinkhornMatching, epochs),
            "ERDiff": (ERDiff, {**epochs, **({"prior_epochs": 60, "refine_epochs": 10} if quick else {})}),
            "NoMAD (likelihood + state KL)": (NoMAD, {**epochs, "batch_size": 32}),
            "dynamics (default)": (DynamicsMatching, epochs),
            "cond.-avg read-in (labels)": (ConditionAverageReadIn, epochs)}


def seed_run(seed: int, quick: bool, progress: Callable[[str], None]) -> dict[str, list[float]]:
    """One seed: the source model's ceiling and every aligner; label -> [recovery, velocity R2 %, seconds]."""
    results: dict[str, list[float]] = {}
    source, target = load("synthetic_reach_sessions", seed=seed, n_trials=100 if quick else N_TRIALS,
                          asymmetry=ASYMMETRY)
    source, source_test = source.split(0.2, seed=seed)
    model = LFADS(factor_dim=FACTORS, seed=seed, verbose=False, max_epochs=60 if quick else 400).fit(source)
    to_truth = LinearRegression().fit(model.transform(source).reshape(-1, FACTORS),
                                      source.latents.reshape(-1, source.latents.shape[2]))

    def recovery(data: TrialData, factors: np.ndarray) -> float:
        return float(r2_score(data.latents.reshape(-1, data.latents.shape[2]),
                              to_truth.predict(factors.reshape(-1, FACTORS))))

    ceiling = recovery(source_test, model.transform(source_test))
    results["source model on held-out source trials (no alignment needed)"] = [
        ceiling, r2_percent(source_test.behavior, model.predict_behavior(source_test)), 0.0]
    progress(f"seed {seed} source model, held-out source trials: latent recovery {ceiling:.3f}")
    align_half, eval_half = target.split(0.5, seed=seed)
    for name, (cls, settings) in _methods(quick).items():
        if cls is NoAlignment:
            aligner = cls(model, **settings)
        else:
            aligner = cls(model, source=source, seed=seed, verbose=False, **settings)
        started = time.perf_counter()
        aligner.fit(align_half)
        seconds = time.perf_counter() - started
        variants = {name: aligner.transform(eval_half)}
        if cls is DynamicsMatching:
            variants[f"{name} + moment calibration"] = aligner.transform(eval_half, calibration="moments")
        for label, aligned in variants.items():
            score = recovery(eval_half, aligned)
            r2 = r2_percent(eval_half.behavior, model.decode_behavior(aligned))
            results[label] = [score, r2, seconds]
            progress(f"seed {seed} {label}: aligned latent recovery {score:.3f}, velocity R2 {r2:.1f} %, "
                     f"{seconds:.1f} s")
    return results


def plan(*, quick: bool, seeds: int | None, seed_set: str = "reporting") -> Plan:
    seed_list = seed_values(seed_set, seeds or (1 if quick else 3))
    tasks = [Task(f"seed {seed}", seed_run, {"seed": seed, "quick": quick}) for seed in seed_list]

    def combine(results: dict[str, dict[str, list[float]]]) -> list[Row]:
        setting = f"synthetic_reach_sessions (asymmetry {ASYMMETRY}, {N_TRIALS} trials), evaluation half, " \
                  f"{describe_seeds(seed_set, seed_list)}"
        rows = []
        for name in results[tasks[0].key]:
            runs = [results[task.key][name] for task in tasks]
            seconds = [run[2] for run in runs]
            rows.append(Row.from_values(name, setting, "aligned latent recovery R2", [run[0] for run in runs],
                                        seconds))
            rows.append(Row.from_values(name, setting, "velocity R2 %", [run[1] for run in runs], seconds))
        return rows

    return Plan(tasks, combine, identity={"quick": quick, "seed_set": seed_set, "seeds": seed_list})
