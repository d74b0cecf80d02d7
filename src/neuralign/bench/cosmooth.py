"""Benchmark ``cosmooth``: NLB co-smoothing (``metrics.cosmoothing``) of four methods on the bundled data.

Data: (a) the monkey source session (``erdiff_miller_co``, 168 trials x 14 bins of 20 ms, hand velocity, 8 reach
directions as conditions), keeping the 151 of its 187 units that fire at least once (the other 36 have no spike in
any trial: nothing to predict, and they would count as 0 in psth R2); (b) ``nlb_mc_maze_small_tiny``, its two
halves put back together (80 trials x 35 bins x 35 neurons of one session); it has no condition labels (no psth
R2), and its behaviour is a per-trial 2-D intent summary, constant within a trial, so its "intent R2" says how well
rates decode that summary bin by bin, not hand velocity.

Protocol, per seed: a seeded split of the units into held-in and held-out (25 % held out,
``metrics.split_neurons``) and a 75 / 25 split of trials (stratified by direction where there are labels). Each
method is fitted on the held-in spikes of the training trials (plus behaviour where the model uses it: SeqVAE)
and gives per-bin features of the training and test trials from their held-in spikes alone; Poisson GLM read-outs
(``metrics.PoissonReadout``, L2 penalty chosen by 3-fold CV over training trials) map the features to the
held-out and to the held-in neurons' rates; on the test trials: co-bps (held-out neurons), velocity (intent) R2 %
of a ridge decoder from all neurons' rates, and psth R2 of all neurons' rates against the mean counts of all
trials (training and test) of each direction, unsmoothed (NLB smooths its PSTHs with a 70 ms kernel, which would
blur 14-bin trials) (``metrics.cosmoothing_scores``); "fit seconds": the method's fit and features (a row's ``seconds``: with the
read-outs and scores).

Methods (``METHODS``, name -> a function giving the features): Gaussian smoothing of the held-in spikes
(``SMOOTHING``: width, log or raw counts, read-out standardisation chosen on tuning seeds 0-4); GPFA (elephant,
``extras``; 8 latents); SeqVAE (posterior-mean latents); LFADS (``neuralign.models.lfads``: factors; skipped with a
message while that module does not exist). Seeds: ``seed_set`` "reporting" (100, 101, ...; the default) or
"tuning" (0, 1, ...); 5 by default, 1 with ``--quick`` (which also trains the neural models for 60 epochs).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from neuralign.bench import Plan, Row, Task, describe_seeds, seed_values
from neuralign.data.datasets import load
from neuralign.data.trialdata import TrialData
from neuralign.metrics import PoissonReadout, cosmoothing_scores, split_neurons
from neuralign.models.seqvae import SeqVAE

HELDOUT_FRACTION = 0.25
TEST_FRACTION = 0.25
LATENT_DIM = 8  # GPFA latents; SeqVAE's default latent_dim is 8 too
QUICK_EPOCHS = 60
LOG_OFFSET = 1e-4  # NLB's smoothing baseline: log(smoothed counts + 1e-4)
# Smoothing baseline, chosen on tuning seeds 0-4 by mean test co-bps (read-out alpha by CV in every case), among
# width 0.5-5 bins x {raw, log} counts x {standardised, raw} read-out features. Monkey: raw, unstandardised,
# 1 bin: 0.139 (1.5 bins 0.138, 0.5 bins 0.126; standardised 0.096-0.098; log 0.095-0.119). NLB tiny: log,
# standardised, 4 bins: 0.059 (3 bins 0.056, 5 bins 0.059; raw 0.004-0.039; log unstandardised 0.039-0.051).
SMOOTHING: dict[str, dict[str, Any]] = {
    "monkey": {"sigma_bins": 1.0, "log": False, "standardize": False},
    "nlb": {"sigma_bins": 4.0, "log": True, "standardize": True},
}
# The latent methods keep the read-out's default (standardised features). On tuning seeds 0-2, unstandardised
# latents changed the mean co-bps by -0.005 (SeqVAE) and +0.010 (GPFA) on the monkey, +0.001 and -0.019 on NLB tiny.

Features = tuple[np.ndarray, np.ndarray, dict[str, Any]]  # train features, test features, read-out settings


def smoothing(train: TrialData, test: TrialData, *, seed: int, quick: bool, dataset: str) -> Features:
    """Gaussian-smoothed held-in counts (or their log), with the ``SMOOTHING`` settings of ``dataset``."""
    setting = SMOOTHING[dataset]

    def features(data: TrialData) -> np.ndarray:
        smoothed = data.smooth(setting["sigma_bins"]).counts
        return np.log(smoothed + LOG_OFFSET) if setting["log"] else smoothed

    return features(train), features(test), {"standardize": setting["standardize"]}


def gpfa(train: TrialData, test: TrialData, *, seed: int, quick: bool, dataset: str) -> Features:
    """Orthonormalised GPFA latents (elephant's defaults, ``LATENT_DIM`` latents, one BLAS thread)."""
    from neuralign.bench._gpfa import gpfa_latents

    train_latents, test_latents = gpfa_latents(train.counts, test.counts, bin_size=train.bin_size,
                                               latent_dim=LATENT_DIM, seed=seed)
    return train_latents, test_latents, {}


def seqvae(train: TrialData, test: TrialData, *, seed: int, quick: bool, dataset: str) -> Features:
    """SeqVAE posterior-mean latents (defaults; fitted on held-in spikes and behaviour)."""
    model = SeqVAE(seed=seed, verbose=False, max_epochs=QUICK_EPOCHS if quick else 400).fit(train)
    return model.transform(train), model.transform(test), {}


def lfads(train: TrialData, test: TrialData, *, seed: int, quick: bool, dataset: str) -> Features:
    """LFADS factors (defaults; ``max_epochs`` cut with ``--quick``). ImportError while the model is missing."""
    from neuralign.models.lfads import LFADS

    model = LFADS(seed=seed, verbose=False, **({"max_epochs": QUICK_EPOCHS} if quick else {})).fit(train)
    return model.transform(train), model.transform(test), {}


METHODS: dict[str, Callable[..., Features]] = {
    "smoothing + GLM": smoothing,
    "GPFA (elephant) + GLM": gpfa,
    "SeqVAE + GLM": seqvae,
    "LFADS + GLM": lfads,
}


def datasets() -> dict[str, tuple[str, TrialData, str]]:
    """key -> (label, data, name of the behaviour metric)."""
    monkey = load("erdiff_miller_co", session="source")
    firing = monkey.counts.sum(axis=(0, 1)) > 0
    monkey = monkey.subset(units=firing)
    even, odd = load("nlb_mc_maze_small_tiny")
    nlb = TrialData(np.concatenate([even.counts, odd.counts]), behavior=np.concatenate([even.behavior, odd.behavior]),
                    bin_size=even.bin_size, meta={**even.meta, "session": "mc_maze_small_20 (even + odd)"})
    return {"monkey": (f"monkey source ({monkey.n_units} firing units)", monkey, "velocity R2 %"),
            "nlb": (f"nlb_mc_maze_small_tiny ({nlb.n_trials} trials)", nlb, "intent R2 %")}


def evaluate(method: Callable[..., Features], data: TrialData, *, dataset: str, seed: int,
             quick: bool) -> dict[str, float]:
    """One method on one seed's neuron and trial splits of ``data``: its scores, "fit_seconds" (the method's fit
    and features) and "seconds" (with the read-outs and scores)."""
    heldin, heldout = split_neurons(data.n_units, HELDOUT_FRACTION, seed=seed)
    train, test = data.split(TEST_FRACTION, seed=seed)
    started = time.perf_counter()
    train_features, test_features, settings = method(train.subset(units=heldin), test.subset(units=heldin),
                                                     seed=seed, quick=quick, dataset=dataset)
    fit_seconds = time.perf_counter() - started
    conditions = {} if data.labels is None else {"test_labels": test.labels, "psth_counts": data.counts,
                                                  "psth_labels": data.labels, "psth_mask": data.mask}
    scores = cosmoothing_scores(train_features, train.counts, test_features, test.counts, heldout,
                                train_behavior=train.behavior, test_behavior=test.behavior,
                                train_mask=train.mask, test_mask=test.mask,
                                readout=PoissonReadout(seed=seed, **settings), **conditions)
    return {**scores, "fit_seconds": fit_seconds, "seconds": time.perf_counter() - started}


METRICS = {"co_bps": "co-bps", "velocity_r2_percent": "velocity R2 %", "psth_r2": "psth R2",
           "fit_seconds": "fit seconds"}


def method_run(dataset: str, method: str, seed: int, quick: bool,
               progress: Callable[[str], None]) -> dict[str, Any]:
    """One method on one seed of one dataset (``evaluate``); ``{"unavailable": reason}`` when the method's
    optional dependency is missing."""
    _, data, _ = datasets()[dataset]
    try:
        result = evaluate(METHODS[method], data, dataset=dataset, seed=seed, quick=quick)
    except ImportError as error:
        progress(f"cosmooth: {method} skipped ({error})")
        return {"unavailable": str(error)}
    progress(f"cosmooth {dataset} seed {seed} {method}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()))
    return result


def plan(*, quick: bool, seeds: int | None, seed_set: str = "reporting") -> Plan:
    """One task per (dataset, seed, method), each on one torch thread."""
    seed_list = seed_values(seed_set, seeds or (1 if quick else 5))
    keys = list(datasets())
    tasks = [Task(f"{key} {seed} {name}", method_run, {"dataset": key, "method": name, "seed": seed, "quick": quick},
                  threads=1) for key in keys for seed in seed_list for name in METHODS]

    def combine(results: dict[str, dict[str, Any]]) -> list[Row]:
        rows: list[Row] = []
        labels = {key: (label, metric) for key, (label, _, metric) in datasets().items()}
        for key in keys:
            label, behavior_metric = labels[key]
            setting = f"{label}, {100 * HELDOUT_FRACTION:.0f} % of units held out, " \
                f"{describe_seeds(seed_set, seed_list)}"
            runs = {name: [results[f"{key} {seed} {name}"] for seed in seed_list] for name in METHODS}
            rows += _rows({name: values for name, values in runs.items()
                           if not any("unavailable" in value for value in values)}, setting, behavior_metric)
        return rows

    return Plan(tasks, combine, identity={"quick": quick, "seed_set": seed_set, "seeds": seed_list})


def _rows(results: dict[str, list[dict[str, float]]], setting: str, behavior_metric: str) -> list[Row]:
    names = {**METRICS, "velocity_r2_percent": behavior_metric}  # the behaviour is not always velocity
    rows = []
    for method, runs in results.items():
        seconds = [run["seconds"] for run in runs]
        for key, metric in names.items():
            if key in runs[0]:
                rows.append(Row.from_values(method, setting, metric, [run[key] for run in runs], seconds))
        baseline = results.get("smoothing + GLM")
        if method != "smoothing + GLM" and baseline and len(baseline) == len(runs):
            differences = [run["co_bps"] - base["co_bps"] for run, base in zip(runs, baseline, strict=True)]
            rows.append(Row.from_values(method, setting, "co-bps minus smoothing's (same seed)", differences, 0.0))
    return rows
