"""Benchmark ``multimodal``: PoE (MVAE), MoE (MMVAE), MoPoE and POISE-VAE on three experiments.

(a) Mode starvation (``ring_digits``): ring of 8 clusters (std 0.1) paired with 8x8 digits 1..8, radius swept from
    large to small. Per strategy and radius: ring-latent accuracy (linear classifier on the posterior means given
    the ring alone; POISE: the ring's own latent), digit-latent accuracy, cross-coherence ring -> digit (a digit
    classifier trained once on the real digits labels the generated digits), joint coherence (prior samples:
    digit label == label of the generated ring point by a linear classifier of real ring points), test ELBO,
    importance-weighted log-likelihood, fit time. The raw ring points' linear accuracy is reported per radius.
(b) Two views (``paired_digits``): digit paired with another digit of its class, transposed; cross-coherence both
    ways, joint coherence, latent accuracy.
(c) Neural <-> behaviour (``erdiff_miller_co`` source): spikes (Poisson, BiGRU encoder) and hand velocity
    (Gaussian, BiGRU encoder); on held-out 25 % trials: velocity generated from spikes alone (R2 %) and spikes
    generated from velocity alone (bits/spike against each unit's mean rate).
Figures go to ``reports/multimodal/``. Data splits: stratified 75/25, per seed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuralign.bench import Plan, Row, Task
from neuralign.data.datasets import load
from neuralign.data.paired import neural_behavior, split_modalities
from neuralign.metrics import bits_per_spike, r2_percent
from neuralign.metrics.multimodal import coherence, fit_linear_classifier, latent_accuracy
from neuralign.models.multimodal import MultimodalVAE

STRATEGIES = ("poe", "moe", "mopoe", "poise")
REPORT_DIR = Path("reports/multimodal")
VELOCITY_WEIGHT = 20.0  # likelihood weight of 2-D velocity beside 187 units (as SeqVAE's behavior_weight)


def digit_classifier() -> Any:
    """The classifier of 8x8 digits (pixels / 16) used for every coherence, trained once on all real digits."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return fit_linear_classifier(digits.images.reshape(-1, 64) / 16.0, digits.target)


def _fit(strategy: str, train: dict, seed: int, epochs: int, **settings: Any) -> tuple[MultimodalVAE, float]:
    started = time.perf_counter()
    model = MultimodalVAE(strategy=strategy, seed=seed, max_epochs=epochs, verbose=False, **settings).fit(train)
    return model, time.perf_counter() - started


def _mode_starvation(radius: float, seed: int, epochs: int, classifier: Any, n_importance: int,
                     ) -> tuple[dict[str, dict[str, float]], float, dict[str, Any]]:
    train, test = split_modalities(load("ring_digits", radius=radius, seed=seed), 0.25, seed=seed)
    ring_train, ring_test = train["ring"], test["ring"]
    raw = latent_accuracy(ring_train.counts, ring_train.labels, ring_test.counts, ring_test.labels)
    ring_classifier = fit_linear_classifier(ring_train.counts[:, 0], ring_train.labels)
    results, models = {}, {}
    for strategy in STRATEGIES:
        model, seconds = _fit(strategy, train, seed, epochs, modalities={"digit": {"likelihood": "bernoulli"}})
        latent = {name: [model.transform(part, given=[name], modality=name) for part in (train, test)]
                  for name in ("ring", "digit")}
        generated = model.cross_generate(test, source="ring", target="digit")[:, 0]
        joint = model.sample(1000, seed=seed)
        results[strategy] = {
            "ring-latent accuracy": latent_accuracy(latent["ring"][0], ring_train.labels, latent["ring"][1],
                                                    ring_test.labels),
            "digit-latent accuracy": latent_accuracy(latent["digit"][0], ring_train.labels, latent["digit"][1],
                                                     ring_test.labels),
            "cross-coherence ring->digit": coherence(classifier.predict(generated), ring_test.labels),
            "joint coherence": coherence(classifier.predict(joint["digit"][:, 0]),
                                         ring_classifier.predict(joint["ring"][:, 0])),
            "test ELBO (nats)": model.score(test, seed=seed),
            "IW log-lik (nats)": model.log_likelihood(test, n_samples=n_importance, seed=seed),
            "fit seconds": seconds}
        models[strategy] = (model, test, latent)
    return results, raw, models


def _two_views(seed: int, epochs: int, classifier: Any) -> dict[str, dict[str, float]]:
    train, test = split_modalities(load("paired_digits", seed=seed), 0.25, seed=seed)
    labels = test["digit"].labels
    untranspose = lambda x: x.reshape(-1, 8, 8).transpose(0, 2, 1).reshape(-1, 64)  # noqa: E731
    settings = {"modalities": {"digit": {"likelihood": "bernoulli"}, "transposed": {"likelihood": "bernoulli"}}}
    results = {}
    for strategy in STRATEGIES:
        model, seconds = _fit(strategy, train, seed, epochs, **settings)
        to_transposed = model.cross_generate(test, source="digit", target="transposed")[:, 0]
        to_digit = model.cross_generate(test, source="transposed", target="digit")[:, 0]
        joint = model.sample(1000, seed=seed)
        results[strategy] = {
            "cross-coherence digit->transposed": coherence(classifier.predict(untranspose(to_transposed)), labels),
            "cross-coherence transposed->digit": coherence(classifier.predict(to_digit), labels),
            "joint coherence": coherence(classifier.predict(joint["digit"][:, 0]),
                                         classifier.predict(untranspose(joint["transposed"][:, 0]))),
            "digit-latent accuracy": latent_accuracy(model.transform(train, given=["digit"], modality="digit"),
                                                     train["digit"].labels,
                                                     model.transform(test, given=["digit"], modality="digit"),
                                                     labels),
            "fit seconds": seconds}
    return results


def _neural_behavior(seed: int, epochs: int) -> dict[str, dict[str, float]]:
    session = load("erdiff_miller_co", session="source")
    train_trials, test_trials = session.split(0.25, seed=seed)
    train, test = neural_behavior(train_trials), neural_behavior(test_trials)
    results = {}
    for strategy in STRATEGIES:
        model, seconds = _fit(strategy, train, seed, epochs, hidden_size=64, input_dropout=0.3, batch_size=32,
                              kl_warmup_epochs=30, patience=40, learning_rate=3e-3,
                              modalities={"velocity": {"weight": VELOCITY_WEIGHT, "decoder": "linear"}})
        velocity = model.cross_generate(test, source="spikes", target="velocity")
        rates = model.cross_generate(test, source="velocity", target="spikes")
        both = model.reconstruct(test)
        results[strategy] = {
            "velocity R2 % from spikes": r2_percent(test["velocity"].counts, velocity),
            "spikes from velocity (bits/spike)": bits_per_spike(rates, test["spikes"].counts),
            "velocity R2 % (reconstruction)": r2_percent(test["velocity"].counts, both["velocity"]),
            "fit seconds": seconds}
    return results


def _rows(method_results: list[dict[str, dict[str, float]]], setting: str) -> list[Row]:
    rows = []
    for strategy in STRATEGIES:
        seconds = [r[strategy]["fit seconds"] for r in method_results]
        for metric in method_results[0][strategy]:
            values = [r[strategy][metric] for r in method_results]
            rows.append(Row.from_values(strategy, setting, metric, values, seconds))
    return rows


def _figures(radii: list[float], accuracy: dict[str, list[float]], raw: list[float], models: dict,
             radius: float) -> None:
    from neuralign.plot._style import pyplot
    from neuralign.plot.multimodal import accuracy_vs_radius, image_grid, latents_by_class

    plt = pyplot()
    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    figure, ax = plt.subplots(figsize=(5, 4))
    accuracy_vs_radius(radii, accuracy, reference=raw, ax=ax)
    figure.tight_layout()
    figure.savefig(REPORT_DIR / "accuracy_vs_radius.png", dpi=120)
    figure, axes = plt.subplots(2, len(STRATEGIES), figsize=(3.2 * len(STRATEGIES), 6.2), squeeze=False)
    for column, strategy in enumerate(STRATEGIES):
        _, test, latent = models[strategy]
        for row, name in enumerate(("ring", "digit")):
            latents_by_class(latent[name][1], test[name].labels, ax=axes[row, column],
                             title=f"{strategy}: {name} latent (given {name}), r={radius}")
    figure.tight_layout()
    figure.savefig(REPORT_DIR / "latents.png", dpi=120)
    figure, axes = plt.subplots(1, len(STRATEGIES), figsize=(3.5 * len(STRATEGIES), 3.4), squeeze=False)
    for column, strategy in enumerate(STRATEGIES):
        model, test, _ = models[strategy]
        order = np.argsort(test["ring"].labels, kind="stable")
        picks = np.concatenate([order[test["ring"].labels[order] == c][:8] for c in range(1, 9)])
        generated = model.cross_generate({"ring": test["ring"].subset(picks)}, source="ring", target="digit")
        image_grid(generated[:, 0], n_columns=8, ax=axes[0, column], title=f"{strategy}: ring -> digit (rows 1..8)")
    figure.tight_layout()
    figure.savefig(REPORT_DIR / "cross_generated_digits.png", dpi=120)
    plt.close("all")


def ring_run(radius: float, seed: int, epochs: int, classifier: Any, n_importance: int, keep_models: bool,
             progress: Callable[[str], None]) -> tuple[dict[str, dict[str, float]], float, dict[str, Any] | None]:
    """One (radius, seed) of the mode-starvation study; the fitted models too when ``keep_models`` (figures)."""
    result, raw, models = _mode_starvation(radius, seed, epochs, classifier, n_importance)
    progress(f"ring r={radius} seed {seed}: raw {raw:.3f}; " + ", ".join(
        f"{s} {result[s]['ring-latent accuracy']:.3f}/{result[s]['cross-coherence ring->digit']:.2f} "
        f"({result[s]['fit seconds']:.0f} s)" for s in STRATEGIES))
    return result, raw, models if keep_models else None


def views_run(seed: int, epochs: int, classifier: Any, progress: Callable[[str], None]) -> dict[str, dict[str, float]]:
    result = _two_views(seed, epochs, classifier)
    progress(f"two views seed {seed}: " + ", ".join(
        f"{s} {result[s]['cross-coherence digit->transposed']:.2f}" for s in STRATEGIES))
    return result


def monkey_run(seed: int, epochs: int, progress: Callable[[str], None]) -> dict[str, dict[str, float]]:
    result = _neural_behavior(seed, epochs)
    progress(f"monkey seed {seed}: " + ", ".join(
        f"{s} {result[s]['velocity R2 % from spikes']:.1f} %" for s in STRATEGIES))
    return result


def plan(*, quick: bool, seeds: int | None) -> Plan:
    """Tasks (one torch thread each: small networks, a second thread only adds contention, 40x slower on a busy
    CPU): per (radius, seed) of the ring, per seed of the two views and of the monkey; sized for 2 shared CPU
    cores: --quick 4-7 min, the full run 18-35 min (depending on the load)."""
    n_seeds = seeds or (1 if quick else 3)
    epochs = 25 if quick else 50
    radii = [1.0, 0.5, 0.4] if quick else [1.0, 0.6, 0.5, 0.45, 0.4]
    classifier = digit_classifier()
    tasks = [Task(f"ring {radius} {seed}", ring_run,
                  {"radius": radius, "seed": seed, "epochs": epochs, "classifier": classifier,
                   "n_importance": 8 if quick else 32, "keep_models": seed == n_seeds - 1})
             for radius in radii for seed in range(n_seeds)]
    tasks += [Task(f"views {seed}", views_run, {"seed": seed, "epochs": epochs, "classifier": classifier})
              for seed in range(n_seeds)]
    tasks += [Task(f"monkey {seed}", monkey_run, {"seed": seed, "epochs": 100 if quick else 300})
              for seed in range(n_seeds)]
    tasks = [Task(task.key, task.function, task.arguments, threads=1) for task in tasks]

    def combine(results: dict[str, Any]) -> list[Row]:
        rows: list[Row] = []
        per_radius, raw_by_radius, models_by_radius = {}, {}, {}
        for radius in radii:
            runs = [results[f"ring {radius} {seed}"] for seed in range(n_seeds)]
            outcomes, raws = [run[0] for run in runs], [run[1] for run in runs]
            models_by_radius[radius] = runs[-1][2]
            per_radius[radius], raw_by_radius[radius] = outcomes, raws
            rows.append(Row.from_values("raw ring points (linear)", f"ring r={radius}", "ring accuracy", raws, 0.0))
            rows += _rows(outcomes, f"ring r={radius}")
        eligible = [r for r in radii if np.mean(raw_by_radius[r]) >= 0.95]
        target = min(eligible) if eligible else max(radii)
        for strategy in STRATEGIES:
            values = [o[strategy]["ring-latent accuracy"] for o in per_radius[target]]
            rows.append(Row.from_values(strategy, f"smallest r with raw >= 0.95 (r={target})", "ring-latent accuracy",
                                        values, [o[strategy]["fit seconds"] for o in per_radius[target]]))
        accuracy = {s: [float(np.mean([o[s]["ring-latent accuracy"] for o in per_radius[r]])) for r in radii]
                    for s in STRATEGIES}
        _figures(radii, accuracy, [float(np.mean(raw_by_radius[r])) for r in radii], models_by_radius[target],
                 target)
        rows += _rows([results[f"views {seed}"] for seed in range(n_seeds)], "digit + transposed digit")
        rows += _rows([results[f"monkey {seed}"] for seed in range(n_seeds)], "monkey source, held-out 25 %")
        return rows

    return Plan(tasks, combine)
