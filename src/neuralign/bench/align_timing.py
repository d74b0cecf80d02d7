"""Benchmark ``align-timing``: wall and CPU seconds of the default alignment pipeline's two steps on the bundled
monkey pair, with torch on all of this machine's threads (run it on an otherwise idle machine).

Per seed: LFADS fitted on the demo's 75 % of the source trials (126 trials), then one ``DynamicsMatching``
alignment of the target's alignment half (86 trials; the demo's split); velocity R2 on the evaluation half beside
them. Targets of the alignment issue: the model fit <= 120 s, one alignment <= 30 s on 2 cores.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from neuralign.align import DynamicsMatching
from neuralign.bench import Plan, Row, Task, describe_seeds, seed_values
from neuralign.data.datasets import load
from neuralign.metrics import r2_percent
from neuralign.models.lfads import LFADS


def _timed(function: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    value = function()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def seed_run(seed: int, quick: bool, progress: Callable[[str], None]) -> dict[str, float]:
    """One seed: the model fit and one alignment, wall and CPU seconds, and the velocity R2."""
    source, target = load("erdiff_miller_co")
    train, _ = source.split(0.25, seed=seed)
    align, evaluation = target.split(0.5, seed=seed)
    model, fit_wall, fit_cpu = _timed(lambda: LFADS(seed=seed, verbose=False,
                                                    max_epochs=60 if quick else 400).fit(train))
    settings = {"epochs": 20, "screen_epochs": 8} if quick else {}
    aligner, align_wall, align_cpu = _timed(lambda: DynamicsMatching(model, source=train, seed=seed,
                                                                     verbose=False, **settings).fit(align))
    r2 = r2_percent(evaluation.behavior, aligner.predict_behavior(evaluation))
    progress(f"seed {seed}: LFADS fit {fit_wall:.1f} s wall, alignment {align_wall:.1f} s wall, R2 {r2:.1f} %")
    return {"fit wall": fit_wall, "fit cpu": fit_cpu, "align wall": align_wall, "align cpu": align_cpu, "r2": r2}


def plan(*, quick: bool, seeds: int | None, seed_set: str = "reporting") -> Plan:
    """Torch keeps all of this machine's threads in every task (the timing is of the whole machine)."""
    import torch

    seed_list = seed_values(seed_set, seeds or 1)
    threads = torch.get_num_threads()
    tasks = [Task(f"seed {seed}", seed_run, {"seed": seed, "quick": quick}, threads=threads) for seed in seed_list]

    def combine(runs: dict[str, dict[str, float]]) -> list[Row]:
        results = {key: [run[key] for run in runs.values()] for key in ("fit wall", "fit cpu", "align wall",
                                                                         "align cpu", "r2")}
        setting = f"monkey pair, demo split, {threads} threads, {describe_seeds(seed_set, seed_list)}"
        return [Row.from_values("LFADS", setting, "fit seconds (wall)", results["fit wall"], results["fit wall"]),
                Row.from_values("LFADS", setting, "fit seconds (CPU)", results["fit cpu"], results["fit wall"]),
                Row.from_values("dynamics (default)", setting, "alignment seconds (wall)", results["align wall"],
                                results["align wall"]),
                Row.from_values("dynamics (default)", setting, "alignment seconds (CPU)", results["align cpu"],
                                results["align wall"]),
                Row.from_values("dynamics (default)", setting, "velocity R2 %", results["r2"], results["align wall"])]

    return Plan(tasks, combine, identity={"quick": quick, "seed_set": seed_set, "seeds": seed_list})
