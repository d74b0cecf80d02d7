"""Benchmark ``align``: cross-session alignment on the bundled monkey reaching pair and on proxies built from it.

Clean protocol (METHODS.md section 1): per model seed, an LFADS latent dynamics model is fitted on the source
session (spikes + velocity); the target's trials are split, stratified by direction, into an alignment half and an
evaluation half; each aligner sees only the alignment half's spikes; velocity R2 (%) on the evaluation half comes
from the frozen source behaviour head; every step count is fixed in advance. "(labels)" marks references that use
target labels or behaviour; "(k labels)" the few-shot choice among the unsupervised candidates.

Settings (``SETTINGS``; the proxies stand in for recordings unlike the bundled pair: other days, fewer trials,
coarser bins, fewer and asymmetric conditions, fewer units):
- ``pair``: source -> target, every method; the default aligner is refitted with ``ALIGNER_SEEDS`` aligner seeds
  per model seed (its own randomness only), so its right-map rate is over model seeds x aligner seeds.
- ``reversed``: target -> source (the model fitted on the other day).
- ``demo split``: the demo's protocol (the model fitted on 75 % of the source trials).
- ``same units``: the source split in two halves of its trials (the same units): the model fitted on one half,
  the other half is the target. "no alignment (source read-in)" applies the source model as it is.
- ``small``: both sessions re-binned to 7 bins (pairs of bins summed); the target keeps 4 of the 8 directions
  (seeded) and 40 trials for alignment; every aligner with its defaults.
- ``proxy``, ``proxy reversed``: both sessions re-binned to 7 bins, 5 of the 8 directions (seeded, the same for
  both), 70 trials and 60 % of the units each.

A run is "right" when its velocity R2 is >= ``RIGHT_MAP_R2`` (a mirrored or rotated map scores far below 0).
Each row keeps its per-run values in run order; per run of the unsupervised aligners the report's margin and the
relation of its runner-up are kept too (rows "margin" for a paired z over target trials, "margin (relative)" for
a relative difference of scores that are not sums over trials, and "runner-up is a mirror"), so that the margin
can be set against right and wrong runs. Seeds: ``seed_set`` "reporting" (100, 101, ...; the default) or "tuning" (0, 1, ...).

A full run takes hours on 2 cores: one task per (model seed, setting) (``plan``), spread over Ray workers with
``--workers``; with an output file the finished tasks are saved beside it and a rerun with the same seeds and
options continues with the others.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from neuralign.align import (AdversarialMatching, ConditionAverageReadIn, DynamicsMatching, ERDiff, MMDMatching,
                             MomentMatching, NoAlignment, NoMAD, SinkhornMatching, TargetBehaviorReadIn)
from neuralign.bench import Plan, Row, Task, describe_seeds, seed_values
from neuralign.data.datasets import load
from neuralign.data.trialdata import TrialData
from neuralign.metrics import r2_percent
from neuralign.models.lfads import LFADS

RIGHT_MAP_R2 = 75.0
ALIGNER_SEEDS = 4  # the default aligner's fits per model seed on the pair: the model seed, then 3 others
LABELLED = 8  # labelled target trials of the few-shot rows
DEFAULT = "dynamics (default)"
SETTINGS = ("pair", "reversed", "demo split", "same units", "small", "proxy", "proxy reversed")


def _methods(quick: bool) -> dict[str, tuple[type, dict[str, Any]]]:
    epochs = {"epochs": 20, "screen_epochs": 8, "restarts": 4} if quick else {}  # else each aligner's defaults
    dynamics = {"epochs": 20, "screen_epochs": 8, "explore_components": 2} if quick else {}
    prior = {"prior_epochs": 60, "refine_epochs": 10} if quick else {}
    return {
        "no alignment": (NoAlignment, {"max_epochs": 60 if quick else 200}),
        "moment matching (NoMAD-like)": (MomentMatching, epochs),
        "RBF-MMD (RDA-MMD-like)": (MMDMatching, epochs),
        "Sinkhorn OT": (SinkhornMatching, epochs),
        "adversarial (DANN-like)": (AdversarialMatching, epochs),
        "ERDiff": (ERDiff, {**epochs, **prior}),
        "Sinkhorn + the same refinement without the prior": (ERDiff, {**epochs, **prior, "prior_weight": 0.0}),
        "NoMAD (likelihood + state KL)": (NoMAD, {**epochs, "batch_size": 32}),
        DEFAULT: (DynamicsMatching, dynamics),
        f"dynamics ({LABELLED} labels)": (DynamicsMatching, dynamics),
        "cond.-avg read-in (labels)": (ConditionAverageReadIn, epochs),
        "target-behaviour read-in (labels)": (TargetBehaviorReadIn, epochs),
    }


# methods per setting (beyond the pair, the default, its references and the strongest baseline)
OTHER_SETTINGS = ["no alignment", "Sinkhorn OT", DEFAULT, f"dynamics ({LABELLED} labels)",
                  "target-behaviour read-in (labels)"]


def scenario(name: str, seed: int) -> tuple[TrialData, TrialData, TrialData]:
    """(source, alignment half, evaluation half) of setting ``name`` for ``seed`` (see the module docstring)."""
    first, second = load("erdiff_miller_co")
    rng = np.random.default_rng([seed, 11])
    if name == "reversed":
        first, second = second, first
    if name == "demo split":
        first, _ = first.split(0.25, seed=seed)
    if name == "same units":
        first, second = first.split(0.5, seed=seed)
    if name == "small":
        source, target = first.rebin(2), second.rebin(2)
        target = _conditions(target, np.sort(rng.choice(8, 4, replace=False)))
        align, evaluation = target.split(1 - 40 / target.n_trials, seed=seed)
        return source, align, evaluation
    if name.startswith("proxy"):
        keep = np.sort(rng.choice(8, 5, replace=False))
        if name == "proxy reversed":
            first, second = second, first
        first = _units(_trials(_conditions(first.rebin(2), keep), 70, seed), 0.6, seed)
        second = _units(_trials(_conditions(second.rebin(2), keep), 70, seed + 1), 0.6, seed + 1)
    align, evaluation = second.split(0.5, seed=seed)
    return first, align, evaluation


def _conditions(data: TrialData, keep: np.ndarray) -> TrialData:
    return data.subset(np.flatnonzero(np.isin(data.labels, keep)))


def _trials(data: TrialData, n_trials: int, seed: int) -> TrialData:
    kept, _ = data.split(1 - n_trials / data.n_trials, seed=seed)
    return kept


def _units(data: TrialData, fraction: float, seed: int) -> TrialData:
    rng = np.random.default_rng([seed, 7])
    return data.subset(units=np.sort(rng.choice(data.n_units, int(round(fraction * data.n_units)), replace=False)))


class _Results:
    """Per (method, setting): per-run velocity R2, seconds, and for reporting aligners the margin and relation."""

    def __init__(self) -> None:
        self.runs: dict[tuple[str, str], dict[str, list[float]]] = {}

    def add(self, method: str, setting: str, r2: float, seconds: float, report: dict[str, Any] | None = None) -> None:
        """One run; ``report``: the unsupervised aligner's margin summary (:func:`report_summary`), if any."""
        entry = self.runs.setdefault((method, setting), {"r2": [], "seconds": [], "margin": [], "mirror": [],
                                                         "kind": []})
        entry["r2"].append(r2)
        entry["seconds"].append(seconds)
        if report is not None:
            entry["margin"].append(report["margin"])
            entry["kind"].append(report["kind"])
            entry["mirror"].append(report["mirror"])

    def rows(self, seeds: str) -> list[Row]:
        rows = []
        for (method, setting), entry in self.runs.items():
            label = f"monkey {setting}, clean, {seeds}"
            rows.append(Row.from_values(method, label, "velocity R2 %", entry["r2"], entry["seconds"]))
            if "(labels)" not in method and method != "no alignment (source read-in)":
                right = [float(value >= RIGHT_MAP_R2) for value in entry["r2"]]
                rows.append(Row.from_values(method, label, f"right-map rate (R2 >= {RIGHT_MAP_R2:g} %)", right,
                                            entry["seconds"]))
            rows.append(Row.from_values(method, label, "alignment seconds", entry["seconds"], entry["seconds"]))
            if entry["margin"]:  # a paired z over trials is "margin"; a relative score difference is apart
                name = "margin" if set(entry["kind"]) == {"z"} else "margin (relative)"
                rows.append(Row.from_values(method, label, name, entry["margin"], entry["seconds"]))
                rows.append(Row.from_values(method, label, "runner-up is a mirror", entry["mirror"],
                                            entry["seconds"]))
        return rows


def _fit(cls: type, settings: dict[str, Any], model: LFADS, source: TrialData, align: TrialData, seed: int,
         labelled: int | None = None) -> tuple[Any, float]:
    if cls is NoAlignment:
        aligner = cls(model, **settings)
    else:
        aligner = cls(model, source=source, seed=seed, verbose=False, **settings)
    started = time.perf_counter()
    aligner.fit(align) if labelled is None else aligner.fit(align, labelled=labelled)
    return aligner, time.perf_counter() - started


def report_summary(aligner: Any) -> dict[str, Any] | None:
    """An unsupervised aligner's report as plain values: its margin (capped at 1e6), the margin's kind and whether
    the runner-up is a mirror; None for an aligner without a report or with a labelled one."""
    report = getattr(aligner, "report_", None)
    if report is None or report.labelled:
        return None
    return {"margin": min(report.margin, 1e6), "kind": report.margin_kind,
            "mirror": float(report.runner_up is not None and report.relations[report.runner_up] == "mirror")}


def setting_run(seed: int, setting: str, quick: bool, progress: Callable[[str], None]) -> list[list[Any]]:
    """One model seed in one setting: the LFADS fit, then every aligner of the setting; per run
    ``[method, velocity R2 %, seconds, report summary or None]`` in run order."""
    methods = _methods(quick)
    runs: list[list[Any]] = []
    source, align, evaluation = scenario(setting, seed)
    started = time.perf_counter()
    model = LFADS(seed=seed, verbose=False, max_epochs=60 if quick else 400).fit(source)
    progress(f"seed {seed} {setting}: LFADS fitted in {time.perf_counter() - started:.1f} s")
    if setting == "same units":
        runs.append(["no alignment (source read-in)",
                     r2_percent(evaluation.behavior, model.predict_behavior(evaluation)), 0.0, None])
    names = list(methods) if setting in ("pair", "small") else OTHER_SETTINGS
    if setting == "small":
        names = [name for name in names if "(labels)" not in name]
    for name in names:
        cls, options = methods[name]
        labelled = LABELLED if "labels)" in name and "(labels)" not in name else None
        if labelled is not None and align.n_trials < labelled:
            continue
        aligner, seconds = _fit(cls, options, model, source, align, seed, labelled)
        r2 = r2_percent(evaluation.behavior, aligner.predict_behavior(evaluation))
        runs.append([name, r2, seconds, report_summary(aligner)])
        progress(f"seed {seed} {setting} {name}: R2 {r2:.1f} %, {seconds:.1f} s" + _margin(aligner))
        if name == DEFAULT and setting == "pair":  # the right-map rate over model x aligner seeds
            every = f"{DEFAULT}, {ALIGNER_SEEDS} aligner seeds per model"
            runs.append([every, r2, seconds, report_summary(aligner)])
            for extra in range(1, 2 if quick else ALIGNER_SEEDS):
                again, seconds = _fit(cls, options, model, source, align, 1000 + 10 * seed + extra)
                r2 = r2_percent(evaluation.behavior, again.predict_behavior(evaluation))
                runs.append([every, r2, seconds, report_summary(again)])
                progress(f"seed {seed} pair default, aligner seed {1000 + 10 * seed + extra}: R2 {r2:.1f} %"
                         + _margin(again))
    return runs


def plan(*, quick: bool, seeds: int | None, seed_set: str = "reporting") -> Plan:
    """One task per (model seed, setting); the combiner keeps the runs in seed, setting and run order."""
    seed_list = seed_values(seed_set, seeds or (1 if quick else 5))
    settings = ("pair", "same units", "small") if quick else SETTINGS
    tasks = [Task(f"seed {seed} {setting}", setting_run, {"seed": seed, "setting": setting, "quick": quick})
             for seed in seed_list for setting in settings]

    def combine(results: dict[str, list[list[Any]]]) -> list[Row]:
        collected = _Results()
        for task in tasks:
            for method, r2, seconds, report in results[task.key]:
                collected.add(method, task.arguments["setting"], r2, seconds, report)
        return collected.rows(describe_seeds(seed_set, seed_list))

    return Plan(tasks, combine, identity={"quick": quick, "seed_set": seed_set, "seeds": seed_list})


def _margin(aligner: Any) -> str:
    report = getattr(aligner, "report_", None)
    if report is None:
        return ""
    relation = "-" if report.runner_up is None else report.relations[report.runner_up]
    return f", margin {report.margin:.2f} ({relation})"
