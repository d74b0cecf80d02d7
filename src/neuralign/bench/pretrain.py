"""Benchmark ``pretrain``: NDT2 pretrained across sessions and subjects, adapted to a held-out session with few
labels (issue 17, item 5).

Data: the 9 prefrontal sessions of ``liu_pfc8a`` (monkeys B and K, cue 0..3), each cut to its cue epoch
(``CUE_EPOCH``: 30 ms bins 53-120, from the task event at 1.59 s to the one at 3.63 s, the two transients of the
population PSTH; see the dataset's SOURCE) and summed into 120 ms bins (``REBIN``): 17 bins a trial. Only the
window and the bin width are chosen here; every NDT2 setting is the model's default. The window is the epoch
where the cue is held in memory; on the whole 5 s trial PCA + logistic regression is 20 points less accurate
(measured once on session B020917, the tuning target).

Protocol, per seed and held-out target session: a seeded stratified half/half split of the target's trials (the
labelled pool and the test half). NDT2 is pretrained on the other 8 sessions with the cue head on their labels
(``head_weight=1``: supervised pretraining, as NDT2 pretrains with behaviour; their labels are not the target's).
Then, for N labelled trials of the pool (N in ``N_LABELLED``; "all" = the whole pool; the N trials are a seeded
choice, nested across N), cue accuracy (%) on the test half of:
- "from scratch": the same architecture pretrained (masked loss only) on the target's pool alone, then the
  decoder fitted on N trials with the backbone tuned too (the strongest use of the target alone);
- "pretrained + decoder": a new context for the target and the decoder, tuned on the N trials;
- "pretrained + context tuning + decoder": the target's context tuned by the masked loss on the whole pool
  (unlabelled), then the decoder on N trials;
- "pretrained + fine-tuning": new context, decoder and the backbone tuned on the N trials;
- "PCA + logistic": per session, on the time-averaged counts (``PCA_COMPONENTS``, L2-penalised logistic).
Masked-token bits/spike on the test half (``NDT2.masked_bits_per_spike``, seed 0 mask): from scratch vs
pretrained + context tuning. Scaling: "pretrained + fine-tuning" at N = 16 after pretraining on 1, 2, 4, 8 of
the other sessions (a seeded order); cross-subject: pretrained on every session of the other monkey; synthetic
scaling: ``synthetic_reach_sessions`` (one subject, drifting gains, 8 conditions), the last session the target,
pretrained on its first 1, 4, 16, 64 sessions.
Timing: seconds of each pretraining and of each adaptation (context tuning). ``--quick``: targets B020917 and
K070217, N in {16, all}, 10 pretraining epochs, scaling up to 4 sessions, synthetic up to 4 sessions.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable

import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from neuralign.bench import Plan, Row, Task, describe_seeds, seed_values
from neuralign.data.datasets import load
from neuralign.data.synthetic import synthetic_reach_sessions
from neuralign.data.trialdata import TrialData
from neuralign.models.ndt2 import NDT2

CUE_EPOCH = (53, 121)  # 30 ms bins [53, 121): the cue epoch between the two task events
REBIN = 4  # 4 x 30 ms = 120 ms bins
N_LABELLED: tuple[int | None, ...] = (8, 16, 32, 64, None)  # None: the whole labelled pool
QUICK_N: tuple[int | None, ...] = (16, None)
SCALING = (1, 2, 4, 8)
SYNTHETIC_SCALING = (1, 4, 16, 64)
SYNTHETIC_TRIALS = 40  # per synthetic session
# gain drift over sessions: at 0.2 the 64th session's gains drift by exp(0.2 * 8 * N(0, 1)) and some bins hold
# over 20000 counts; 0.02 keeps the 99.9th percentile of counts at 3 in every session, like the first
SYNTHETIC_DRIFT = 0.02
PCA_COMPONENTS = 10
HEAD_WEIGHT = 1.0
QUICK_EPOCHS = 10
QUICK_TARGETS = ("B020917", "K070217")
FEW = 16  # N of the scaling and cross-subject figures


def cue_epoch(session: TrialData) -> TrialData:
    """The cue epoch of a liu_pfc8a session in 120 ms bins."""
    start, stop = CUE_EPOCH
    return TrialData(session.counts[:, start:stop], labels=session.labels, bin_size=session.bin_size,
                     meta=session.meta).rebin(REBIN)


def settings(seed: int, quick: bool, **overrides: Any) -> dict[str, Any]:
    return {"seed": seed, "verbose": False, **({"max_epochs": QUICK_EPOCHS} if quick else {}), **overrides}


def pca_logistic(pool: TrialData, test: TrialData, chosen: np.ndarray) -> float:
    """Cue accuracy (%) of PCA + logistic regression on time-averaged counts, fitted on the chosen trials."""
    components = min(PCA_COMPONENTS, len(chosen) - 1)
    model = make_pipeline(StandardScaler(), PCA(components), LogisticRegression(C=0.1, max_iter=2000))
    model.fit(pool.counts[chosen].mean(1), pool.labels[chosen])
    return 100.0 * model.score(test.counts.mean(1), test.labels)


def accuracy(model: NDT2, test: TrialData) -> float:
    return 100.0 * float(np.mean(model.predict(test) == test.labels))


def decoded(model: NDT2, pool: TrialData, test: TrialData, n: int | None, *, finetune: bool = False) -> float:
    """Accuracy after fitting a decoder on n trials of the pool on a copy of ``model``."""
    return accuracy(copy.deepcopy(model).fit_decoder(pool, n_labelled=n, finetune=finetune, variable="labels"),
                    test)


def evaluate_target(pretrained: NDT2, pool: TrialData, test: TrialData, labelled: tuple[int | None, ...], *,
                    seed: int, quick: bool) -> dict[str, Any]:
    """Every method's accuracy per N on one target, bits/spike and the adaptation time."""
    scratch = NDT2(**settings(seed, quick)).fit(pool)
    started = time.perf_counter()
    tuned = copy.deepcopy(pretrained)
    tuned.adapt(pool)
    adapt_seconds = time.perf_counter() - started
    order = np.random.default_rng(seed).permutation(pool.n_trials)  # NDT2.fit_decoder's choice, same seed
    scores: dict[str, dict[str, float]] = {}
    for n in labelled:
        key = "all" if n is None else str(n)
        chosen = np.sort(order[:pool.n_trials if n is None else n])
        scores[key] = {"from scratch": decoded(scratch, pool, test, n, finetune=True),
                       "pretrained + decoder": decoded(pretrained, pool, test, n),
                       "pretrained + context tuning + decoder": decoded(tuned, pool, test, n),
                       "pretrained + fine-tuning": decoded(pretrained, pool, test, n, finetune=True),
                       "PCA + logistic": pca_logistic(pool, test, chosen)}
    bits = {"from scratch": scratch.masked_bits_per_spike(test),
            "pretrained + context tuning": tuned.masked_bits_per_spike(test)}
    return {"accuracy": scores, "bits": bits, "adapt_seconds": adapt_seconds}


def pretrain(sessions: list[TrialData], seed: int, quick: bool) -> tuple[NDT2, float]:
    started = time.perf_counter()
    model = NDT2(**settings(seed, quick, head_weight=HEAD_WEIGHT)).fit(sessions)
    return model, time.perf_counter() - started


def few_label_accuracy(sessions: list[TrialData], pool: TrialData, test: TrialData, seed: int,
                       quick: bool) -> float:
    """"pretrained + fine-tuning" at N = FEW after pretraining on ``sessions``."""
    model, _ = pretrain(sessions, seed, quick)
    return decoded(model, pool, test, FEW, finetune=True)


def plan(*, quick: bool, seeds: int | None, seed_set: str = "reporting") -> Plan:
    """One task per (seed, held-out session) and one per seed for the synthetic scaling curve (one torch thread
    each); the rows combine them."""
    seed_list = seed_values(seed_set, seeds or 1)
    targets = [name for name in session_names(real_sessions()) if not quick or name in QUICK_TARGETS]
    tasks = [Task(f"seed {seed} {target}", target_task, {"target": target, "seed": seed, "quick": quick}, threads=1)
             for seed in seed_list for target in targets]
    tasks += [Task(f"seed {seed} synthetic", synthetic_task, {"seed": seed, "quick": quick}, threads=1)
              for seed in seed_list]
    seeds_text = describe_seeds(seed_set, seed_list)

    def combine(results: dict[str, Any]) -> list[Row]:
        return rows_of(list(results.values()), seeds_text, quick)

    return Plan(tasks, combine, identity={"quick": quick, "seeds": seed_list})


def target_task(target: str, seed: int, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    result = evaluate_session(real_sessions(), target, seed=seed, quick=quick)
    progress(f"pretrain seed {seed} target {target}: pretraining {result['pretrain_seconds']:.0f} s; N={FEW} " +
             ", ".join(f"{k} {v:.1f}" for k, v in result["accuracy"][str(FEW)].items()))
    return result


def synthetic_task(seed: int, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    return {"seed": seed, "synthetic": synthetic_scaling(seed, quick, progress)}


def real_sessions() -> list[TrialData]:
    """The 9 liu_pfc8a sessions, cue epoch."""
    return [cue_epoch(session) for session in load("liu_pfc8a")]


def session_names(sessions: list[TrialData]) -> list[str]:
    return [str(session.meta["session"]) for session in sessions]


def evaluate_session(sessions: list[TrialData], target: str, *, seed: int, quick: bool) -> dict[str, Any]:
    """Every figure of one held-out ``target`` session for one seed (plain values: a task's result)."""
    index = session_names(sessions).index(target)
    others = [session for position, session in enumerate(sessions) if position != index]
    pool, test = sessions[index].split(0.5, seed=seed)
    model, seconds = pretrain(others, seed, quick)
    result = evaluate_target(model, pool, test, QUICK_N if quick else N_LABELLED, seed=seed, quick=quick)
    order = np.random.default_rng([seed, index]).permutation(len(others))
    result["scaling"] = {str(k): (result["accuracy"][str(FEW)]["pretrained + fine-tuning"] if k == len(others)
                             else few_label_accuracy([others[i] for i in order[:k]], pool, test, seed, quick))
                         for k in SCALING if not quick or k <= 4}
    subject = str(sessions[index].meta["subject"])
    other_monkey = [session for session in sessions if session.meta["subject"] != subject]
    result["cross_subject"] = few_label_accuracy(other_monkey, pool, test, seed, quick)
    return {"seed": seed, "target": target, "subject": subject, "pretrain_seconds": seconds, **result}


def synthetic_scaling(seed: int, quick: bool, progress: Callable[[str], None],
                      counts: tuple[int, ...] | None = None) -> dict[str, float]:
    """Target accuracy at N = FEW after pretraining on the first k synthetic sessions (k in ``counts``, by default
    SYNTHETIC_SCALING; the data are the same whichever counts are asked for, so runs of single counts combine)."""
    every = tuple(k for k in SYNTHETIC_SCALING if not quick or k <= 4)
    counts = counts or every
    if not set(counts) <= set(every):
        raise ValueError(f"counts: expected pretraining session counts among {every}, got {counts}.")
    data = synthetic_reach_sessions(n_sessions=max(every) + 1, n_units=100, n_trials=SYNTHETIC_TRIALS,
                                    drift=SYNTHETIC_DRIFT, seed=seed)
    target = data[-1]
    pool, test = target.split(0.5, seed=seed)
    scores = {}
    for k in counts:
        scores[str(k)] = few_label_accuracy(data[:k], pool, test, seed, quick)
        progress(f"pretrain synthetic seed {seed}: {k} sessions -> {scores[str(k)]:.1f} %")
    return scores


def rows_of(results: list[dict[str, Any]], seeds_text: str, quick: bool) -> list[Row]:
    """The benchmark's rows from the per-(seed, target) results and the per-seed synthetic ones."""
    labelled = QUICK_N if quick else N_LABELLED
    real = [result for result in results if "target" in result]
    rows: list[Row] = []
    methods = list(real[0]["accuracy"]["all"])
    for n in labelled:
        key = "all" if n is None else str(n)
        for method in methods:
            for target in dict.fromkeys(result["target"] for result in real):
                runs = [result for result in real if result["target"] == target]
                rows.append(Row.from_values(method, f"target {target}, N = {key}, {seeds_text}", "cue accuracy %",
                                            [run["accuracy"][key][method] for run in runs], 0.0))
            rows.append(Row.from_values(method, f"mean over held-out sessions, N = {key}, {seeds_text}",
                                        "cue accuracy %", [run["accuracy"][key][method] for run in real], 0.0))
    for method in real[0]["bits"]:
        rows.append(Row.from_values(method, f"held-out sessions, test half, {seeds_text}", "masked bits/spike",
                                    [run["bits"][method] for run in real], 0.0))
    for k in real[0]["scaling"]:
        rows.append(Row.from_values("pretrained + fine-tuning", f"{k} pretraining sessions, N = {FEW}, {seeds_text}",
                                    "cue accuracy %", [run["scaling"][k] for run in real], 0.0))
    for subject in dict.fromkeys(run["subject"] for run in real):
        runs = [run for run in real if run["subject"] == subject]
        other = "K" if subject == "B" else "B"
        rows.append(Row.from_values("pretrained on the other monkey + fine-tuning",
                                    f"{other} -> {subject}, N = {FEW}, {seeds_text}", "cue accuracy %",
                                    [run["cross_subject"] for run in runs], 0.0))
        rows.append(Row.from_values("from scratch", f"{other} -> {subject}, N = {FEW}, {seeds_text}", "cue accuracy %",
                                    [run["accuracy"][str(FEW)]["from scratch"] for run in runs], 0.0))
    synthetic = [result["synthetic"] for result in results if "synthetic" in result]
    for k in sorted({k for scores in synthetic for k in scores}, key=int):  # counts a cut run did not reach: absent
        rows.append(Row.from_values("pretrained + fine-tuning",
                                    f"synthetic, {k} pretraining sessions, N = {FEW}, {seeds_text}",
                                    "condition accuracy %", [scores[k] for scores in synthetic if k in scores], 0.0))
    rows.append(Row.from_values("NDT2 pretraining", f"the 8 sessions other than the target, {seeds_text}",
                                "seconds", [run["pretrain_seconds"] for run in real], 0.0))
    rows.append(Row.from_values("NDT2 context tuning", f"one held-out session, {seeds_text}", "seconds",
                                [run["adapt_seconds"] for run in real], 0.0))
    return rows
