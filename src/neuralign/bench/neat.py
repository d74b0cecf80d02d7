"""Benchmark ``neat``: NEAT lambda sweeps on a digits MLP, on synthetic regions with a known map, and on V1/V2,
plus the alignment penalty's speed.

- penalty: forward + backward of sum_i KL(P_i(Z_l) || P_i(Z_k)) at batch 1024, latent dimension 16, with 2 torch
  threads (median of 50 runs after 5 warm-up runs; 20 with perplexity calibration), global sigma and perplexity
  calibration. The penalty is a custom autograd function with an analytic backward pass (``nn/neighbours.py``).
- digits (``digits_mlp``): a 4-layer, 64-unit MLP trained on sklearn's 8x8 digits; NEAT with the paper's latent
  dims 12, 6, 2, 2, and (full run) with the dims the paper's 95 % explained-variance rule picks on this network
  (16, 6, 6, 6 on seed 0), each with lambda in {0, 1, 100, 1000}. Batches of 256 at learning rate 5e-3 falling
  on a cosine over 400 epochs: with 512 / 2e-3 the validation ELBO was still improving at epoch 200 and layer 3
  under-fitted; with a constant 5e-3 for 200 epochs layer 3's held-out R2 was 0.898-0.905 on seed 1, with the
  cosine over 400 epochs 0.900-0.911. Reported: held-out reconstruction R2 per layer, the layer-by-layer
  similarity matrices (relative representations with 5 anchors, linear CKA), mean similarity of consecutive layers,
  similarity to layer 1, displacement per digit, linear digit accuracy per layer. With the paper's dims, layers 3
  and 4 get 2-D latents, and similarity to layer 1 no longer falls from layer 3 to 4 (README); with the rule's
  dims it does.
- synthetic (``synthetic_regions``, 3 regions linked by known swirls): per lambda, how well the estimated
  per-sample displacement (CCA-projected latents) ranks like the true displacement (Spearman), and the Pearson
  correlation of per-class mean displacements with the truth.
- V1/V2 (``semedo_v1v2``, 4000 bins as samples, residual counts, Gaussian): latent dims 4, lambda in {0, 20, 50, 200};
  classes for the displacement = time bin within the trial.

Figures go to ``reports/neat/<experiment>/`` (seed 0).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuralign.bench import Row, device_sync, sample_std, torch_threads

REPORTS = Path("reports/neat")
DIGITS_LAMBDAS = [0.0, 1.0, 100.0, 1000.0]
SYNTHETIC_LAMBDAS = [0.0, 1.0, 10.0, 100.0, 1000.0]
V1V2_LAMBDAS = [0.0, 20.0, 50.0, 200.0]


def penalty_milliseconds(batch: int = 1024, dim: int = 16, *, threads: int = 2, repeats: int = 50,
                         perplexity: float | None = None, device: str = "cpu") -> list[float]:
    """Wall time (ms) of forward + backward of one pair's neighbour KL, one value per repeat (on ``device``;
    a CUDA device is synchronised before each clock read)."""
    import torch

    from neuralign.nn.neighbours import neighbour_kl
    from neuralign.train import resolve_device

    where = resolve_device(device)
    sync = device_sync(where)

    with torch_threads(threads):
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(batch, dim, generator=generator).to(where).requires_grad_()
        b = torch.randn(batch, dim, generator=generator).to(where).requires_grad_()
        times = []
        for repeat in range(repeats + 5):
            sync()
            started = time.perf_counter()
            neighbour_kl(a, b, sigma=1.0, perplexity=perplexity).backward()
            sync()
            if repeat >= 5:  # warm-up runs are not counted
                times.append(1000 * (time.perf_counter() - started))
            a.grad = b.grad = None
    return times


def correspondence_scores(latents: dict[str, np.ndarray], regions: dict[str, Any]) -> dict[str, float]:
    """Agreement of the estimated displacement between consecutive regions with the known one.

    Both latent sets of a transition are projected by CCA (so a linear change of frame is not counted); the
    per-sample distance is compared with the true ||z_{k+1} - z_k|| by Spearman correlation, and the per-class
    means by Pearson correlation; both are averaged over transitions.
    """
    from scipy.stats import pearsonr, spearmanr

    from neuralign.analysis.regions import displacements

    names = list(regions)
    labels = regions[names[0]].labels
    estimated = displacements(latents, labels, project="cca")
    rank, per_class = [], []
    for index, name in enumerate(names[1:]):
        truth = np.asarray(regions[name].meta["true_displacement"])
        rank.append(spearmanr(estimated.per_sample[index], truth)[0])
        true_means = [truth[labels == c].mean() for c in estimated.classes]
        per_class.append(pearsonr(estimated.per_class[index], true_means)[0])
    return {"displacement_spearman": float(np.mean(rank)), "class_displacement_pearson": float(np.mean(per_class))}


def _sweep_rows(prefix: str, sweeps: list[dict[str, Any]], rows: list[Row]) -> None:
    """Rows for the per-lambda summaries of several seeds' sweeps (same lambdas and regions)."""
    names = sweeps[0]["names"]
    for index, lam in enumerate(sweeps[0]["lambdas"]):
        entries = [sweep["results"][index] for sweep in sweeps]
        seconds = [e["seconds"] for e in entries]
        setting = f"{prefix}, lambda={lam:g}"

        def add(metric: str, values: list[float], setting: str = setting, seconds: list[float] = seconds) -> None:
            rows.append(Row.from_values("NEAT", setting, metric, values, seconds))

        for name in names:
            add(f"R2 {name} (held-out)", [e["r2"][name] for e in entries])
        add("consecutive sim. relative", [e["consecutive_relative"] for e in entries])
        add("consecutive sim. CKA", [e["consecutive_cka"] for e in entries])
        for k, name in enumerate(names[1:], start=1):
            add(f"sim. {names[0]}-{name} relative", [e["similarity_relative"][0][k] for e in entries])
        for measure in ("relative", "cka"):
            matrices = np.asarray([e[f"similarity_{measure}"] for e in entries])
            rows.append(Row(method="NEAT", setting=setting, metric=f"sim. matrix {measure} (values: KxK flat)",
                            mean=float(matrices.mean()), std=float(sample_std(matrices, axis=0).mean()), n=len(entries),
                            seconds=float(np.mean(seconds)), values=matrices.mean(0).ravel().tolist()))
        for p, pair in enumerate(entries[0]["displacement"]["pairs"]):
            add(f"displacement {pair}", [e["displacement"]["mean"][p] for e in entries])
            if entries[0]["displacement"]["classes"]:
                per_class = np.asarray([e["displacement"]["per_class"][p] for e in entries])
                rows.append(Row(method="NEAT", setting=setting, metric=f"displ./class {pair} (values)",
                                mean=float(per_class.mean()), std=float(sample_std(per_class, axis=0).mean()),
                                n=len(entries),
                                seconds=float(np.mean(seconds)), values=per_class.mean(0).tolist()))
        if "probe" in entries[0]:
            for name in names:
                add(f"linear acc. {name}", [e["probe"][name] for e in entries])
        add("fit seconds", seconds)


PAPER_DIGITS_DIMS = (12, 6, 2, 2)


NETWORK_SETTINGS = dict(hidden_size=256, batch_size=256, learning_rate=5e-3, lr_schedule="cosine")


def network_sweeps(layers: list[dict[str, Any]], seeds: list[int], *, label: str, report: str, title: str, notes: list[str],
                   quick: bool, epochs: int, progress: Callable[[str], None], rows: list[Row],
                   candidates: tuple[int, ...] = (2, 6, 12, 16), rule_settings: dict[str, Any] | None = None) -> None:
    """NEAT lambda sweeps on a trained network's layers (one dict of layers per seed): with the paper's dims
    (12, 6, 2, 2) and, in a full run, with the dims the paper's 95 % explained-variance rule picks on the first
    seed's layers among ``candidates``; ``seeds``: each network's seed (seeds the NEAT fits); rows with setting ``label`` (+ the rule's dims), figures and a report in
    ``reports/neat/<report>`` (and ``<report>_rule_dims``) from the first seed. ``rule_settings``: the NEAT
    settings of the rule's one-layer VAEs (default 50 epochs of the NEAT defaults) and its ``fallback``."""
    from neuralign.analysis.neat_experiment import run_neat_sweep, write_report

    settings = dict(NETWORK_SETTINGS, max_epochs=epochs)
    variants = [(label, report, PAPER_DIGITS_DIMS)]
    if not quick:  # the paper's procedure: pick each layer's dim by the 95 % rule, then fit NEAT with it
        from neuralign.analysis.regions import choose_latent_dims

        started = time.perf_counter()
        choice = choose_latent_dims(layers[0], threshold=0.95, candidates=candidates,
                                    **(rule_settings or {"max_epochs": 50}))
        seconds = time.perf_counter() - started
        for name, dim in choice.dims.items():
            rows.append(Row.from_values("95% EV rule", label, f"chosen dim {name}", [dim], seconds))
            rows.append(Row.from_values("95% EV rule", label, f"held-out EV at dim {dim} {name}",
                                        [choice.explained[name][dim]], seconds))
        progress(f"95 % rule on {label}: {choice.dims} (explained {choice.explained})")
        rule_dims = tuple(choice.dims.values())
        if rule_dims != PAPER_DIGITS_DIMS:
            variants.append((f"{label}, dims {'-'.join(map(str, rule_dims))} (95% rule)", f"{report}_rule_dims",
                             rule_dims))
    for prefix, folder, dims in variants:
        sweeps = [run_neat_sweep(regions, DIGITS_LAMBDAS, seed=seed, latent_dims=dims, progress=progress,
                                 **settings) for seed, regions in zip(seeds, layers, strict=True)]
        write_report(sweeps[0], REPORTS / folder, title=f"{title}, latent dims {dims}", notes=notes)
        _sweep_rows(prefix, sweeps, rows)


def _digits(quick: bool, n_seeds: int, progress: Callable[[str], None], rows: list[Row]) -> None:
    from neuralign.data.datasets import load

    layers = [load("digits_mlp", seed=seed) for seed in range(n_seeds)]  # one trained MLP per seed, reused
    accuracy = [regions["layer1"].meta["test_accuracy"] for regions in layers]
    for seed, value in enumerate(accuracy):
        progress(f"digits seed {seed}: MLP test accuracy {value:.3f}")
    network_sweeps(layers, list(range(n_seeds)), label="digits MLP", report="digits", title="NEAT on a digits MLP (4 x 64 ReLU)",
                   notes=[f"MLP test accuracy (held-out 25 % of the 1797 digits): {accuracy[0]:.3f}"], quick=quick,
                   epochs=40 if quick else 400, progress=progress, rows=rows)
    rows.append(Row.from_values("MLP 4x64", "sklearn digits, held-out 25 %", "test accuracy", accuracy, 0.0))


def _synthetic(quick: bool, n_seeds: int, progress: Callable[[str], None], rows: list[Row]) -> None:
    from neuralign.analysis.neat_experiment import run_neat_sweep, write_report
    from neuralign.data.datasets import load

    scores: dict[float, dict[str, list[float]]] = {lam: {} for lam in SYNTHETIC_LAMBDAS}
    sweeps = []
    for seed in range(n_seeds):
        regions = load("synthetic_regions", n_samples=1000, seed=seed)
        sweep = run_neat_sweep(regions, SYNTHETIC_LAMBDAS, seed=seed, latent_dims=2,
                               max_epochs=60 if quick else 200, progress=progress)
        sweeps.append(sweep)
        for lam in SYNTHETIC_LAMBDAS:
            for key, value in correspondence_scores(sweep["latents"][lam], regions).items():
                scores[lam].setdefault(key, []).append(value)
        if seed == 0:
            write_report(sweep, REPORTS / "synthetic", title="NEAT on synthetic regions with a known swirl map")
    _sweep_rows("synthetic regions", sweeps, rows)
    for index, lam in enumerate(SYNTHETIC_LAMBDAS):
        seconds = [sweep["results"][index]["seconds"] for sweep in sweeps]
        for key, values in scores[lam].items():
            rows.append(Row.from_values("NEAT", f"synthetic regions, lambda={lam:g}", f"truth: {key}", values,
                                        seconds))
        progress(f"synthetic lambda={lam:g}: " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in scores[lam].items()))


def _v1v2(quick: bool, n_seeds: int, progress: Callable[[str], None], rows: list[Row]) -> None:
    from neuralign.analysis.neat_experiment import run_neat_sweep, write_report
    from neuralign.data.datasets import load

    recording = load("semedo_v1v2")
    regions = {"V1": recording["V1"], "V2": recording["V2"]}
    bins = np.tile(np.arange(recording["V1"].n_time), recording["V1"].n_trials)  # class = time bin in the trial
    sweeps = []
    for seed in range(n_seeds):
        sweep = run_neat_sweep(regions, V1V2_LAMBDAS, seed=seed, labels=bins, latent_dims=4,
                               max_epochs=40 if quick else 100, progress=progress)
        sweeps.append(sweep)
        if seed == 0:
            write_report(sweep, REPORTS / "v1v2", title="NEAT on macaque V1 -> V2 (semedo_v1v2, residual counts)",
                         notes=["Samples are the 4000 (trial, bin) pairs; the 'class' of the displacement and of "
                                "the linear probe is the time bin within the trial (0..9)."])
    _sweep_rows("V1/V2", sweeps, rows)


def run(*, quick: bool, seeds: int | None, progress: Callable[[str], None]) -> list[Row]:
    n_seeds = seeds or (1 if quick else 2)
    rows: list[Row] = []
    for perplexity in (None, 30.0):
        times = penalty_milliseconds(repeats=(5 if quick else 20) if perplexity else (10 if quick else 50),
                                     perplexity=perplexity)
        mode = "global sigma" if perplexity is None else "perplexity 30"
        rows.append(Row(method="SNE penalty", setting=f"B=1024, d=16, 2 threads, {mode}",
                        metric="fwd+bwd ms (median)", mean=float(np.median(times)), std=float(sample_std(times)),
                        n=len(times), seconds=float(np.sum(times)) / 1000, values=times))
        progress(f"penalty ({mode}): median {np.median(times):.1f} ms")
    with torch_threads(1):
        _digits(quick, n_seeds, progress, rows)
        _synthetic(quick, n_seeds, progress, rows)
        _v1v2(quick, n_seeds, progress, rows)
    return rows
