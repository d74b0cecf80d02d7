"""A NEAT lambda sweep on multi-region data, its analyses, figures and report (used by ``neuralign neat`` and the
``neat`` benchmark).

For each lambda one :class:`NEAT` is fitted on a random ``1 - test_fraction`` of the samples (same split, same
seed for every lambda). Reconstruction R2 is measured on the held-out samples; the latents, similarities,
displacements and linear probes use all samples (as in the paper).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from neuralign._atomic import atomic_path
from neuralign._checks import describe, fraction, positive_float
from neuralign.analysis.regions import aligned_views, displacements
from neuralign.metrics.similarity import linear_probe_accuracy, similarity_matrix


def _subset(regions: Mapping[str, np.ndarray], index: np.ndarray) -> dict[str, np.ndarray]:
    return {name: array[index] for name, array in regions.items()}


def run_neat_sweep(regions: Mapping[str, Any] | Sequence[Any], lambdas: Sequence[float], *,
                   test_fraction: float = 0.2, seed: int = 0, labels: Any = None,
                   progress: Callable[[str], None] | None = None, **settings: Any) -> dict[str, Any]:
    """Fit NEAT for every lambda and measure what the paper reads from it.

    Parameters
    ----------
    regions : dict name -> TrialData or (samples, units) array (see ``neuralign.models.neat.region_samples``).
    lambdas : alignment weights.
    test_fraction : held-out samples for reconstruction R2.
    seed : seeds the split and every fit.
    labels : (samples,) classes for per-class displacement and linear probes (default: the TrialData labels).
    progress : called with one line per fitted lambda.
    **settings : other NEAT settings (latent_dims, max_epochs, sigma, ...).

    Returns
    -------
    dict with ``names``, ``lambdas``, ``labels`` and per lambda (list ``results``): ``lam``, ``seconds``,
    ``epochs``, ``r2`` (held-out, per region), ``similarity_relative`` / ``similarity_cka`` (K x K),
    ``consecutive_relative`` / ``consecutive_cka`` (mean over consecutive pairs), ``displacement``
    (``Displacements.as_dict()``), ``probe`` (linear class accuracy per region, when labelled), ``alignment``
    (neighbour KL per sample per pair); plus ``latents`` (lambda -> dict of arrays) and ``models``.
    """
    from neuralign.models.neat import NEAT, NEATConfig, region_samples

    data = region_samples("regions", regions)
    if len(data.names) < 2:
        raise ValueError(f"regions: expected at least 2 regions to align, got {data.names}.")
    test_fraction = fraction("test_fraction", test_fraction)
    if not isinstance(lambdas, (list, tuple)) or not lambdas:
        raise TypeError(f"lambdas: expected a non-empty list of numbers >= 0, got {describe(lambdas)}.")
    lambdas = [positive_float(f"lambdas[{i}]", value, allow_zero=True) for i, value in enumerate(lambdas)]
    labels = data.labels if labels is None else np.asarray(labels)
    if labels is not None and labels.shape != (data.arrays[0].shape[0],):
        raise ValueError(f"labels: expected one label per sample ({data.arrays[0].shape[0]}), got {labels.shape}.")
    arrays = dict(zip(data.names, data.arrays, strict=True))
    n_samples = data.arrays[0].shape[0]
    order = np.random.default_rng(seed).permutation(n_samples)
    n_test = max(3, int(round(test_fraction * n_samples)))
    train_index, test_index = np.sort(order[n_test:]), np.sort(order[:n_test])
    config = NEATConfig(**{"verbose": False, **settings, "seed": seed})
    say = progress or (lambda message: None)
    result: dict[str, Any] = {"names": data.names, "lambdas": lambdas, "n_samples": n_samples,
                              "n_test": int(n_test), "labels": labels, "results": [], "latents": {}, "models": {}}
    for lam in lambdas:
        started = time.perf_counter()
        model = NEAT(config=_replace(config, lam=lam)).fit(_subset(arrays, train_index))
        seconds = time.perf_counter() - started
        latents = model.transform(arrays)
        relative, cka = similarity_matrix(latents, seed=seed), similarity_matrix(latents, measure="cka")
        consecutive = [(i, i + 1) for i in range(len(data.names) - 1)]
        entry = {
            "lam": lam, "seconds": seconds, "epochs": model.history_.epochs_run, "latent_dims": model.latent_dims_,
            "r2": model.reconstruction_r2(_subset(arrays, test_index)),
            "similarity_relative": relative.tolist(), "similarity_cka": cka.tolist(),
            "consecutive_relative": float(np.mean([relative[i, j] for i, j in consecutive])),
            "consecutive_cka": float(np.mean([cka[i, j] for i, j in consecutive])),
            "displacement": displacements(latents, labels).as_dict(),
            "alignment": model.alignment(arrays, seed=seed),
        }
        if labels is not None and len(np.unique(labels)) > 1:
            entry["probe"] = {name: linear_probe_accuracy(z, labels, seed=seed) for name, z in latents.items()}
        result["results"].append(entry)
        result["latents"][lam] = latents
        result["models"][lam] = model
        say(f"NEAT lambda={lam:g}: {seconds:.1f} s, held-out R2 "
            + ", ".join(f"{k} {v:.3f}" for k, v in entry["r2"].items())
            + f"; consecutive similarity {entry['consecutive_relative']:.3f} (relative), "
            f"{entry['consecutive_cka']:.3f} (CKA)")
    return result


def _replace(config: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(config, **changes)


def summary_json(result: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON-able part of :func:`run_neat_sweep`'s result (no arrays, no models)."""
    return {key: result[key] for key in ("names", "lambdas", "n_samples", "n_test", "results")}


def write_figures(result: Mapping[str, Any], out: str | Path) -> list[Path]:
    """2-D latents and displacement arrows per lambda, per-class displacement bars, similarity against lambda and
    similarity matrices, as PNG files in ``out``. Returns the paths written."""
    from neuralign.plot._style import pyplot
    from neuralign.plot.regions import (class_displacement_bars, region_panels, similarity_heatmap,
                                        similarity_vs_lambda)

    plt = pyplot()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names, lambdas, labels, entries = result["names"], result["lambdas"], result["labels"], result["results"]
    written = []

    def save(figure: Any, filename: str) -> None:
        with atomic_path(out / filename) as temporary:
            figure.savefig(temporary, dpi=110, format="png")
        plt.close(figure)
        written.append(out / filename)

    for lam in lambdas:
        save(region_panels(aligned_views(result["latents"][lam]), labels, title=f"NEAT latents, lambda = {lam:g}"),
             f"latents_lambda{lam:g}.png")
    figure, axes = plt.subplots(1, len(entries), figsize=(4.2 * len(entries), 3.4), squeeze=False)
    for ax, entry in zip(axes[0], entries, strict=True):
        shift = entry["displacement"]
        classes = shift["classes"] or ["all"]
        per_class = np.asarray(shift["per_class"]) if shift["classes"] else np.asarray(shift["mean"])[:, None]
        class_displacement_bars(per_class, shift["pairs"], classes, ax=ax, title=f"lambda = {entry['lam']:g}")
    figure.tight_layout()
    save(figure, "displacement_per_class.png")
    figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    curves = {"consecutive (relative)": [e["consecutive_relative"] for e in entries],
              "consecutive (CKA)": [e["consecutive_cka"] for e in entries]}
    similarity_vs_lambda(lambdas, curves, ax=axes[0], title="mean similarity of consecutive regions")
    to_first = {f"{names[0]} vs {name}": [e["similarity_relative"][0][k] for e in entries]
                for k, name in enumerate(names[1:], start=1)}
    similarity_vs_lambda(lambdas, to_first, ax=axes[1], title="similarity to the first region (relative)")
    r2_curves = {name: [e["r2"][name] for e in entries] for name in names}
    similarity_vs_lambda(lambdas, r2_curves, ax=axes[2], ylabel="held-out R2", title="reconstruction")
    figure.tight_layout()
    save(figure, "similarity_vs_lambda.png")
    figure, axes = plt.subplots(2, len(entries), figsize=(3.4 * len(entries), 6.6), squeeze=False)
    for column, entry in enumerate(entries):
        similarity_heatmap(np.asarray(entry["similarity_relative"]), names, ax=axes[0, column],
                           title=f"relative, lambda = {entry['lam']:g}")
        similarity_heatmap(np.asarray(entry["similarity_cka"]), names, ax=axes[1, column],
                           title=f"CKA, lambda = {entry['lam']:g}")
    figure.tight_layout()
    save(figure, "similarity_matrices.png")
    return written


def report_markdown(result: Mapping[str, Any], *, title: str = "NEAT", notes: Sequence[str] = ()) -> str:
    """A markdown report: the per-lambda table, similarity to the first region, displacement, probes."""
    names, entries = result["names"], result["results"]
    lines = [f"# {title}", "", f"Regions: {', '.join(names)}; {result['n_samples']} samples "
             f"({result['n_test']} held out for reconstruction R2). Latent dims: {entries[0]['latent_dims']}.", ""]
    lines += [*notes, ""] if notes else []
    header = "| lambda | " + " | ".join(f"R2 {n}" for n in names) + " | consecutive sim. (relative) | (CKA) | s |"
    lines += [header, "|" + "---|" * (len(names) + 4)]
    for e in entries:
        lines.append(f"| {e['lam']:g} | " + " | ".join(f"{e['r2'][n]:.3f}" for n in names)
                     + f" | {e['consecutive_relative']:.3f} | {e['consecutive_cka']:.3f} | {e['seconds']:.0f} |")
    lines += ["", "Similarity to the first region (relative representations, 5 anchors):", "",
              "| lambda | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for e in entries:
        lines.append(f"| {e['lam']:g} | " + " | ".join(f"{v:.3f}" for v in e["similarity_relative"][0]) + " |")
    pairs = entries[0]["displacement"]["pairs"]
    lines += ["", "Mean displacement per transition:", "", "| lambda | " + " | ".join(pairs) + " |",
              "|" + "---|" * (len(pairs) + 1)]
    for e in entries:
        lines.append(f"| {e['lam']:g} | " + " | ".join(f"{v:.3f}" for v in e["displacement"]["mean"]) + " |")
    if "probe" in entries[0]:
        lines += ["", "Linear class accuracy of the latents (5-fold CV):", "", "| lambda | " + " | ".join(names) + " |",
                  "|" + "---|" * (len(names) + 1)]
        for e in entries:
            lines.append(f"| {e['lam']:g} | " + " | ".join(f"{e['probe'][n]:.3f}" for n in names) + " |")
    lines += ["", "Figures: latents_lambda*.png (2-D views and displacement arrows), displacement_per_class.png, "
              "similarity_vs_lambda.png, similarity_matrices.png.", ""]
    return "\n".join(lines)


def write_report(result: Mapping[str, Any], out: str | Path, *, title: str = "NEAT",
                 notes: Sequence[str] = ()) -> list[Path]:
    """Figures, ``report.md`` and ``results.json`` in ``out``; returns the paths written."""
    out = Path(out)
    written = write_figures(result, out)
    with atomic_path(out / "report.md") as temporary:
        temporary.write_text(report_markdown(result, title=title, notes=notes))
    with atomic_path(out / "results.json") as temporary:
        temporary.write_text(json.dumps(summary_json(result), indent=2))
    return [*written, out / "report.md", out / "results.json"]
