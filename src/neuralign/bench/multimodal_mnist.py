"""Benchmark ``multimodal-mnist``: the POISE-VAE talk's MNIST-Gaussian mode-starvation experiment, and checks of
POISE's sampler and KL gradient estimator.

Data (``mnist_gaussian``): MNIST digits 1..8 (28 x 28, Bernoulli likelihood on pixels in [0, 1]) each paired with
a point of the matching one of 8 Gaussian clusters (std 0.1) on a ring of radius r; the radii take the raw ring
points' linear accuracy from 1.0 down to about 0.9. Training pairs: ``N_PER_CLASS`` MNIST training images per
class; test pairs: ``N_TEST_PER_CLASS`` MNIST test images per class (other ring noise). For every strategy (PoE,
MoE, MoPoE, POISE; latent dim 8 per modality) and radius the metrics of ``bench multimodal`` (a): ring-latent
accuracy (linear classifier on the posterior means given the ring alone; POISE: the ring's own latent), digit-latent
accuracy, cross-coherence ring -> digit (generated from the posterior mean, and from one posterior sample) and
digit -> ring, joint coherence, test ELBO, importance-weighted log-likelihood. Coherence labels come from an MLP
(784-256-10) trained once on the 60000 MNIST training images (its test accuracy is a row).

POISE checks (every POISE fit, on ``N_DIAGNOSTIC`` test pairs): effective sample size per Gibbs sweep of each latent
under q given both modalities, given each alone, and under the prior (``MultimodalVAE.poise_diagnostics``); the
training KL gradient estimator against the exact quadrature gradient (cosine similarity, relative error); the
learned coupling (largest |g11|, g22 closest to 0, the prior's largest correlation of z_k and z'_k); and why
cross-generation loses the class: the linear accuracy of E[z' | ring] (the digit latent inferred from the ring
alone) and its shrinkage, mean |E[z' | ring]| / mean |E[z' | digit]|; the coherence of digits decoded from
E[z' | digit] (the decoder's own quality) and, as a diagnostic only, from E[z' | ring] divided by the shrinkage.

Seeds: ``seed_set`` "reporting" (100, 101, ...; the default) or "tuning" (0, 1, ...). The MNIST file: ``mnist``
(``--mnist PATH``), default the shared copy (``neuralign.data.mnist.DEFAULT_MNIST``). Figures:
``reports/multimodal_mnist/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from neuralign.bench import Row, describe_seeds, seed_values
from neuralign.bench.multimodal import radius_sweep
from neuralign.data.datasets import load
from neuralign.data.mnist import load_mnist
from neuralign.data.multiregion import layer_activations, train_mlp
from neuralign.metrics.multimodal import coherence, latent_accuracy

REPORT_DIR = Path("reports/multimodal_mnist")
N_PER_CLASS, N_TEST_PER_CLASS, N_DIAGNOSTIC = 400, 250, 256
LATENT_DIM = 8
TEST_SEED_OFFSET = 1000  # the test pairs' ring noise is drawn with seed + 1000


class ImageClassifier:
    """A trained torch MLP behind ``predict(images (n, 784) in [0, 1]) -> (n,) classes``."""

    def __init__(self, network: Any, test_accuracy: float) -> None:
        self.network = network
        self.test_accuracy = test_accuracy

    def predict(self, images: np.ndarray) -> np.ndarray:
        return layer_activations(self.network, np.asarray(images, dtype=np.float32).reshape(len(images), -1))[1]


def mnist_classifier(path: str | None = None, *, epochs: int = 3, seed: int = 0) -> ImageClassifier:
    """The classifier behind every coherence: a 784-256-10 ReLU MLP trained on the 60000 MNIST training images."""
    images, labels = load_mnist(path, "train", argument="mnist")
    network = train_mlp(images, labels, n_layers=1, width=256, epochs=epochs, seed=seed)
    test_images, test_labels = load_mnist(path, "test", argument="mnist")
    classifier = ImageClassifier(network, 0.0)
    classifier.test_accuracy = float(np.mean(classifier.predict(test_images) == test_labels))
    return classifier


def _first(data: dict, n: int) -> dict:
    return {name: trials.subset(np.arange(min(n, trials.n_trials))) for name, trials in data.items()}


def poise_checks(model: Any, train: dict, test: dict, seed: int, classifier: Any) -> dict[str, float]:
    """The POISE checks of the module docstring for one fitted POISE model."""
    from neuralign.nn import poise

    sample = _first(test, N_DIAGNOSTIC)
    out = model.poise_diagnostics(sample, n_sweeps=200, n_draws=32, seed=seed)
    with torch.no_grad():
        g = model.network_.strategy.coupling()
        like = torch.zeros(4096, LATENT_DIM)
        z, zp = poise.gibbs(poise.prior_naturals(like), g, 200, generator=torch.Generator().manual_seed(seed))
        correlation = [float(np.corrcoef(z[:, k].numpy(), zp[:, k].numpy())[0, 1]) for k in range(LATENT_DIM)]
    out["coupling max |g11|"] = float(g.g11.abs().max())
    out["coupling max g22 (< 0)"] = float(g.g22.max())
    out["prior max |corr(z_k, z'_k)|"] = float(np.max(np.abs(correlation)))
    inferred = [model.transform(part, given=["ring"], modality="digit") for part in (train, test)]
    own = model.transform(test, given=["digit"], modality="digit")
    out["digit-latent accuracy | ring alone"] = latent_accuracy(inferred[0], train["ring"].labels, inferred[1],
                                                               test["ring"].labels)
    shrinkage = float(np.linalg.norm(inferred[1], axis=-1).mean() / np.linalg.norm(own, axis=-1).mean())
    out["shrinkage |E[z'|ring]| / |E[z'|digit]|"] = shrinkage
    labels = test["ring"].labels
    out["digit reconstruction coherence (from E[z'|digit])"] = coherence(
        classifier.predict(model.decode({"digit": own})["digit"][:, 0]), labels)
    out["diagnostic: ring->digit from E[z'|ring] / shrinkage"] = coherence(
        classifier.predict(model.decode({"digit": inferred[1] / shrinkage})["digit"][:, 0]), labels)
    return out


def run(*, quick: bool, seeds: int | None, progress: Callable[[str], None], seed_set: str = "reporting",
        mnist: str | None = None) -> list[Row]:
    torch.set_num_threads(1)  # small networks: a second thread only adds contention on a shared CPU
    seed_list = seed_values(seed_set, seeds or (1 if quick else 3))
    load_mnist(mnist, "test", argument="mnist")  # a missing file fails here, before any work
    n_per_class, n_test = (250, 100) if quick else (N_PER_CLASS, N_TEST_PER_CLASS)
    epochs = 20 if quick else 25
    radii = [1.0, 0.5, 0.45] if quick else [1.0, 0.55, 0.45]
    classifier = mnist_classifier(mnist)
    progress(f"MNIST classifier: test accuracy {classifier.test_accuracy:.4f}")

    def pairs(radius: float, seed: int) -> tuple[dict, dict]:
        common = {"radius": radius, "path": mnist}
        return (load("mnist_gaussian", n_per_class=n_per_class, split="train", seed=seed, **common),
                load("mnist_gaussian", n_per_class=n_test, split="test", seed=seed + TEST_SEED_OFFSET, **common))

    def per_fit(radius: float, seed: int, models: dict) -> dict[str, dict[str, float]]:
        model, test, _ = models["poise"]
        train = pairs(radius, seed)[0]
        checks = poise_checks(model, train, test, seed, classifier)
        progress(f"POISE checks r={radius} seed {seed}: " + ", ".join(f"{k} {v:.3g}" for k, v in checks.items()))
        return {"poise": checks}

    label = f"MNIST ring, {describe_seeds(seed_set, seed_list)}"
    rows = radius_sweep(radii, seed_list, pairs, epochs, classifier, 8 if quick else 32, progress, label=label,
                        report_dir=REPORT_DIR, per_fit=per_fit, latent_dim=LATENT_DIM)
    rows.append(Row.from_values("MNIST classifier (784-256-10 MLP)", "60000 train / 10000 test images",
                                "test accuracy", [classifier.test_accuracy], 0.0))
    return rows
