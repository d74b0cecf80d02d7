"""The demo on bundled data: a latent dynamics model of one day, aligned to another day without labels.

1. Fit LFADS (spikes + hand velocity) on 75 % of the source session's trials (stratified by direction) and decode
   velocity on the held-out 25 % with the model's behaviour head.
2. Split the target session (another day, other units) into an alignment half and an evaluation half, stratified
   by direction. Without alignment: the target gets its own read-in and read-out fitted by likelihood alone (no tie
   to the source). With the default aligner (``DynamicsMatching``): candidate maps trained by distribution matching,
   the one chosen whose factors explain the target's own held-out spikes best under the frozen dynamics (spikes of
   the alignment half only; no labels, no behaviour), with the choice's confidence. Few-shot, reported apart: the
   same candidates, chosen with ``LABELLED`` labelled target trials.
3. Decode velocity on the evaluation half with the frozen source head, for each.
4. Write a report folder: summary.md, metrics.json and figures.

``seed`` sets the splits and every model's randomness; no seed is chosen by its outcome.
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuralign._atomic import atomic_path
from neuralign._checks import positive_int
from neuralign._outputs import check_output
from neuralign.align import DynamicsMatching, NoAlignment
from neuralign.data.datasets import load
from neuralign.metrics import r2_percent, rmse
from neuralign.models.lfads import LFADS
from neuralign.plot import candidate_scores, decoded_paths, latent_trajectories, principal_axes
from neuralign.plot._style import pyplot

LABELLED = 8  # labelled target trials of the few-shot row: one per reach direction


def run_demo(out: str | Path = "reports/demo", *, seed: int = 0, quick: bool = False,
             progress: Callable[[str], None] = print, force: bool = False) -> dict[str, Any]:
    """Run the demo and write its report to ``out``; returns the metrics.

    ``out`` is checked before any work (a folder that can be written, not holding another command's files of
    the same names unless ``force``) and created only when the report is written."""
    seed = positive_int("seed", seed, minimum=0)
    out = check_output("demo", out, force=force)
    source, target = load("erdiff_miller_co")
    train, test = source.split(0.25, seed=seed)
    progress(f"source: {source}\ntarget: {target}")
    progress("note: the bundled pair's counts are time-normalised (multiples of 1/13, as upstream); LFADS fits them "
             "as Poisson rates, so its likelihoods are scores, not probabilities of the data")
    with warnings.catch_warnings():  # said once above, not once per fit
        warnings.filterwarnings("ignore", message=r".*of the counts are not integers")
        return _run(out, source, target, train, test, seed, quick, progress)


def _run(out: Path, source: Any, target: Any, train: Any, test: Any, seed: int, quick: bool,
         progress: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    model = LFADS(seed=seed, **(dict(max_epochs=40, kl_warmup_epochs=10) if quick else {})).fit(train)
    fit_seconds = time.perf_counter() - started
    progress(f"fitted LFADS in {fit_seconds:.1f} s ({model.history_.epochs_run} epochs)")
    predicted_test = model.predict_behavior(test)
    align_half, eval_half = target.split(0.5, seed=seed)
    started = time.perf_counter()
    unaligned = NoAlignment(model, max_epochs=40 if quick else 200).fit(align_half)
    unaligned_seconds = time.perf_counter() - started
    settings = dict(epochs=10, screen_epochs=5, explore_components=2) if quick else {}
    started = time.perf_counter()
    aligner = DynamicsMatching(model, source=train, seed=seed, **settings).fit(align_half)
    align_seconds = time.perf_counter() - started
    few_shot = DynamicsMatching(model, source=train, seed=seed, **settings).fit(align_half, labelled=LABELLED)
    predicted = {"unaligned": unaligned.predict_behavior(eval_half), "aligned": aligner.predict_behavior(eval_half),
                 "few_shot": few_shot.predict_behavior(eval_half)}
    report = aligner.report_
    metrics = {
        "source_heldout_velocity_r2_percent": r2_percent(test.behavior, predicted_test),
        "source_heldout_velocity_rmse": rmse(test.behavior, predicted_test),
        **{f"target_{name}_velocity_r2_percent": r2_percent(eval_half.behavior, value)
           for name, value in predicted.items()},
        **{f"target_{name}_velocity_rmse": rmse(eval_half.behavior, value) for name, value in predicted.items()},
        "fit_seconds": fit_seconds, "unaligned_read_in_seconds": unaligned_seconds, "align_seconds": align_seconds,
        "epochs": model.history_.epochs_run, "seed": seed, "quick": quick,
        "selection": report.selection, "margin": report.margin, "margin_kind": report.margin_kind,
        "margin_threshold": report.threshold, "confident": report.confident,
        "runner_up_relation": None if report.runner_up is None else report.relations[report.runner_up],
        "labelled_trials": LABELLED, "few_shot_changed_the_choice": few_shot.report_.chosen != report.chosen,
    }
    progress(f"source held-out velocity R2 {metrics['source_heldout_velocity_r2_percent']:.1f} %; target "
             f"evaluation half: without alignment {metrics['target_unaligned_velocity_r2_percent']:.1f} %, "
             f"aligned {metrics['target_aligned_velocity_r2_percent']:.1f} %, with {LABELLED} labelled trials "
             f"{metrics['target_few_shot_velocity_r2_percent']:.1f} %")
    progress(report.summary())
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "lfads_source.pt")
    _figures(out, model, test, eval_half, unaligned, aligner, predicted_test, predicted)
    _write(out / "metrics.json", json.dumps(metrics, indent=2))
    _write(out / "summary.md", _summary(metrics, source, target, report.summary()))
    progress(f"report written to {out}/summary.md")
    return metrics


def _figures(out: Path, model: LFADS, test: Any, eval_half: Any, unaligned: NoAlignment, aligner: DynamicsMatching,
             predicted_test: np.ndarray, predicted: dict[str, np.ndarray]) -> None:
    plt = pyplot()
    source_latents = model.transform(test)
    projection = principal_axes(source_latents, 3)
    panels = [(source_latents, test.labels, "source, held-out trials"),
              (unaligned.transform(eval_half), eval_half.labels, "target, no alignment"),
              (aligner.transform(eval_half), eval_half.labels, "target, aligned (no labels)")]
    figure = plt.figure(figsize=(16, 5))
    for index, (latents, labels, title) in enumerate(panels):
        ax = figure.add_subplot(1, 3, index + 1, projection="3d")
        latent_trajectories(latents, labels, ax=ax, projection=projection, title=title)
    figure.suptitle("LFADS factors in the source's principal axes, coloured by reach direction")
    _save_figure(figure, out / "latents.png")
    figure, axes = plt.subplots(1, 4, figsize=(20, 5))
    decoded_paths(test.behavior, predicted_test, test.labels, ax=axes[0], title="source held-out")
    for ax, (name, title) in zip(axes[1:], [("unaligned", "target, no alignment"),
                                            ("aligned", "target, aligned (no labels)"),
                                            ("few_shot", f"target, chosen with {LABELLED} labelled trials")]):
        decoded_paths(eval_half.behavior, predicted[name], eval_half.labels, ax=ax, title=title)
    _save_figure(figure, out / "velocity.png")
    report = aligner.report_
    figure = plt.figure(figsize=(max(6.0, 0.3 * len(report.scores) + 2), 4))
    candidate_scores([row[report.selection] for row in report.scores], report.relations, report.chosen,
                     runner_up=report.runner_up, ax=figure.add_subplot(111), score_name=report.selection,
                     title=f"candidate maps: held-out likelihood loss (margin {report.margin:.2f})")
    _save_figure(figure, out / "candidates.png")


def _save_figure(figure: Any, path: Path) -> None:
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, bbox_inches="tight", format="png")
    pyplot().close(figure)


def _write(path: Path, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text)


def _summary(metrics: dict[str, Any], source: Any, target: Any, choice: str) -> str:
    row = "| {} | {:.1f} | {:.2f} |"
    return f"""# neuralign demo: a latent dynamics model of one day, aligned to another day without labels

Data: bundled `erdiff_miller_co` (macaque M1, centre-out reaching; source {source.n_trials} trials x
{source.n_time} bins x {source.n_units} units, target {target.n_trials} x {target.n_time} x {target.n_units};
units not matched across sessions). Seed {metrics['seed']}{' (quick run)' if metrics['quick'] else ''}.

| what | velocity R2 (%) | RMSE |
|---|---:|---:|
{row.format("source, held-out 25 % of trials", metrics['source_heldout_velocity_r2_percent'],
            metrics['source_heldout_velocity_rmse'])}
{row.format("target evaluation half, no alignment (own read-in fitted by likelihood only)",
            metrics['target_unaligned_velocity_r2_percent'], metrics['target_unaligned_velocity_rmse'])}
{row.format("target evaluation half, aligned on the other half's spikes (no labels)",
            metrics['target_aligned_velocity_r2_percent'], metrics['target_aligned_velocity_rmse'])}
{row.format(f"same candidates, chosen with {metrics['labelled_trials']} labelled target trials (labels)",
            metrics['target_few_shot_velocity_r2_percent'], metrics['target_few_shot_velocity_rmse'])}

Times: LFADS fit {metrics['fit_seconds']:.1f} s ({metrics['epochs']} epochs); alignment {metrics['align_seconds']:.1f}
s; unaligned read-in {metrics['unaligned_read_in_seconds']:.1f} s.

Every target row decodes with the same frozen source behaviour head; only the target read-in differs. The aligner
trains 48 candidate read-ins (every signed permutation of the top 3 principal components) on the debiased Sinkhorn
divergence to the source's factor trajectories and keeps the one whose factors, trajectories of the frozen
generator, explain the target's own held-out spikes best. How clear that choice was:

```
{choice}
```

A margin below the threshold means that the target's spikes barely separate the chosen map from a mirrored or
rotated copy of it, and the decoded velocity may be mirrored: then a few labelled trials settle it (last row).

Figures: `latents.png` (factor trajectories by reach direction: source, target unaligned, target aligned),
`velocity.png` (hand paths integrated from true and decoded velocity), `candidates.png` (each candidate's
label-free score, coloured by its relation to the chosen map). Model: `lfads_source.pt` (load with `LFADS.load`).
"""
