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

from neuralign.bench import Plan, Row, Task, device_sync, sample_std, torch_threads

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
DIGITS_SETTINGS = dict(hidden_size=256, batch_size=256, learning_rate=5e-3, lr_schedule="cosine")


def penalty_run(perplexity: float | None, quick: bool, progress: Callable[[str], None]) -> list[float]:
    """The penalty's timings (ms) with global sigma (``perplexity`` None) or perplexity calibration."""
    times = penalty_milliseconds(repeats=(5 if quick else 20) if perplexity else (10 if quick else 50),
                                 perplexity=perplexity)
    progress(f"penalty ({_penalty_mode(perplexity)}): median {np.median(times):.1f} ms")
    return times


def _penalty_mode(perplexity: float | None) -> str:
    return "global sigma" if perplexity is None else f"perplexity {perplexity:g}"


def digits_run(seed: int, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """One seed's digits MLP: its test accuracy and the NEAT sweep with the paper's latent dims."""
    from neuralign.analysis.neat_experiment import run_neat_sweep
    from neuralign.data.datasets import load

    regions = load("digits_mlp", seed=seed)
    accuracy = regions["layer1"].meta["test_accuracy"]
    progress(f"digits seed {seed}: MLP test accuracy {accuracy:.3f}")
    sweep = run_neat_sweep(regions, DIGITS_LAMBDAS, seed=seed, latent_dims=PAPER_DIGITS_DIMS, progress=progress,
                           max_epochs=40 if quick else 400, **DIGITS_SETTINGS)
    return {"accuracy": accuracy, "sweep": sweep}


def digits_rule_run(n_seeds: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """The paper's procedure (full run): each layer's dim by the 95 % rule on seed 0's MLP, then, when it differs
    from the paper's dims, the NEAT sweep of every seed with those dims."""
    from neuralign.analysis.neat_experiment import run_neat_sweep
    from neuralign.analysis.regions import choose_latent_dims
    from neuralign.data.datasets import load

    layers = [load("digits_mlp", seed=seed) for seed in range(n_seeds)]
    started = time.perf_counter()
    choice = choose_latent_dims(layers[0], threshold=0.95, candidates=(2, 6, 12, 16), max_epochs=50)
    seconds = time.perf_counter() - started
    progress(f"95 % rule on the digits MLP: {choice.dims} (explained {choice.explained})")
    dims = tuple(choice.dims.values())
    sweeps = [] if dims == PAPER_DIGITS_DIMS else [
        run_neat_sweep(regions, DIGITS_LAMBDAS, seed=seed, latent_dims=dims, progress=progress, max_epochs=400,
                       **DIGITS_SETTINGS) for seed, regions in enumerate(layers)]
    return {"dims": choice.dims, "explained": {name: choice.explained[name][dim] for name, dim in choice.dims.items()},
            "seconds": seconds, "sweeps": sweeps}


def _digits_rows(results: dict[str, Any], quick: bool, n_seeds: int, rows: list[Row]) -> None:
    from neuralign.analysis.neat_experiment import write_report

    runs = [results[f"digits {seed}"] for seed in range(n_seeds)]
    accuracy = [run["accuracy"] for run in runs]
    variants = [("digits MLP", "digits", PAPER_DIGITS_DIMS, [run["sweep"] for run in runs])]
    if not quick:
        rule = results["digits 95% rule"]
        for name, dim in rule["dims"].items():
            rows.append(Row.from_values("95% EV rule", "digits MLP", f"chosen dim {name}", [dim], rule["seconds"]))
            rows.append(Row.from_values("95% EV rule", "digits MLP", f"held-out EV at dim {dim} {name}",
                                        [rule["explained"][name]], rule["seconds"]))
        if rule["sweeps"]:
            dims = tuple(rule["dims"].values())
            variants.append((f"digits MLP, dims {'-'.join(map(str, dims))} (95% rule)", "digits_rule_dims", dims,
                             rule["sweeps"]))
    for prefix, report, dims, sweeps in variants:
        write_report(sweeps[0], REPORTS / report, title=f"NEAT on a digits MLP (4 x 64 ReLU), latent dims {dims}",
                     notes=[f"MLP test accuracy (held-out 25 % of the 1797 digits): {accuracy[0]:.3f}"])
        _sweep_rows(prefix, sweeps, rows)
    rows.append(Row.from_values("MLP 4x64", "sklearn digits, held-out 25 %", "test accuracy", accuracy, 0.0))


def synthetic_run(seed: int, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """One seed of the synthetic regions: the NEAT sweep and, per lambda, its agreement with the known map."""
    from neuralign.analysis.neat_experiment import run_neat_sweep
    from neuralign.data.datasets import load

    regions = load("synthetic_regions", n_samples=1000, seed=seed)
    sweep = run_neat_sweep(regions, SYNTHETIC_LAMBDAS, seed=seed, latent_dims=2, max_epochs=60 if quick else 200,
                           progress=progress)
    return {"sweep": sweep, "scores": [correspondence_scores(sweep["latents"][lam], regions)
                                       for lam in SYNTHETIC_LAMBDAS]}


def _synthetic_rows(results: dict[str, Any], n_seeds: int, rows: list[Row]) -> None:
    from neuralign.analysis.neat_experiment import write_report

    runs = [results[f"synthetic {seed}"] for seed in range(n_seeds)]
    sweeps = [run["sweep"] for run in runs]
    write_report(sweeps[0], REPORTS / "synthetic", title="NEAT on synthetic regions with a known swirl map")
    _sweep_rows("synthetic regions", sweeps, rows)
    for index, lam in enumerate(SYNTHETIC_LAMBDAS):
        seconds = [sweep["results"][index]["seconds"] for sweep in sweeps]
        scores = {key: [run["scores"][index][key] for run in runs] for key in runs[0]["scores"][index]}
        for key, values in scores.items():
            rows.append(Row.from_values("NEAT", f"synthetic regions, lambda={lam:g}", f"truth: {key}", values,
                                        seconds))


def v1v2_run(seed: int, quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    """One seed of the NEAT sweep on V1 -> V2 (class of a sample: its time bin within the trial)."""
    from neuralign.analysis.neat_experiment import run_neat_sweep
    from neuralign.data.datasets import load

    recording = load("semedo_v1v2")
    regions = {"V1": recording["V1"], "V2": recording["V2"]}
    bins = np.tile(np.arange(recording["V1"].n_time), recording["V1"].n_trials)
    return run_neat_sweep(regions, V1V2_LAMBDAS, seed=seed, labels=bins, latent_dims=4,
                          max_epochs=40 if quick else 100, progress=progress)


def _v1v2_rows(results: dict[str, Any], n_seeds: int, rows: list[Row]) -> None:
    from neuralign.analysis.neat_experiment import write_report

    sweeps = [results[f"v1v2 {seed}"] for seed in range(n_seeds)]
    write_report(sweeps[0], REPORTS / "v1v2", title="NEAT on macaque V1 -> V2 (semedo_v1v2, residual counts)",
                 notes=["Samples are the 4000 (trial, bin) pairs; the 'class' of the displacement and of "
                        "the linear probe is the time bin within the trial (0..9)."])
    _sweep_rows("V1/V2", sweeps, rows)


def plan(*, quick: bool, seeds: int | None) -> Plan:
    """Tasks: the penalty timings, and per seed the digits, synthetic and V1/V2 sweeps (one torch thread each);
    with the full run, the 95 % rule's dims and their sweeps. The reports are written by the combiner."""
    n_seeds = seeds or (1 if quick else 2)
    tasks = [Task(f"penalty {_penalty_mode(p)}", penalty_run, {"perplexity": p, "quick": quick})
             for p in (None, 30.0)]
    for kind, function in (("digits", digits_run), ("synthetic", synthetic_run), ("v1v2", v1v2_run)):
        tasks += [Task(f"{kind} {seed}", function, {"seed": seed, "quick": quick}, threads=1)
                  for seed in range(n_seeds)]
    if not quick:
        tasks.append(Task("digits 95% rule", digits_rule_run, {"n_seeds": n_seeds}, threads=1))

    def combine(results: dict[str, Any]) -> list[Row]:
        rows: list[Row] = []
        for perplexity in (None, 30.0):
            times = results[f"penalty {_penalty_mode(perplexity)}"]
            rows.append(Row(method="SNE penalty", setting=f"B=1024, d=16, 2 threads, {_penalty_mode(perplexity)}",
                            metric="fwd+bwd ms (median)", mean=float(np.median(times)), std=float(sample_std(times)),
                            n=len(times), seconds=float(np.sum(times)) / 1000, values=times))
        _digits_rows(results, quick, n_seeds, rows)
        _synthetic_rows(results, n_seeds, rows)
        _v1v2_rows(results, n_seeds, rows)
        return rows

    return Plan(tasks, combine)
