"""Tests of the MNIST benchmarks' pieces on a generated stand-in mnist.npz (the full runs use the real file)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.bench import run_benchmark
from neuralign.bench import multimodal_mnist


def test_classifier_learns_the_stand_in_classes(tiny_mnist):
    classifier = multimodal_mnist.mnist_classifier(str(tiny_mnist), epochs=30)
    assert classifier.test_accuracy > 0.9
    images = np.zeros((3, 784), np.float32)
    assert classifier.predict(images).shape == (3,)


def test_poise_checks_report_mixing_gradients_and_shrinkage(tiny_mnist, monkeypatch):
    from neuralign.data.datasets import load
    from neuralign.models.multimodal import MultimodalVAE

    monkeypatch.setattr(multimodal_mnist, "N_DIAGNOSTIC", 16)
    train = load("mnist_gaussian", n_per_class=10, seed=0, path=str(tiny_mnist))
    test = load("mnist_gaussian", n_per_class=5, split="test", seed=1, path=str(tiny_mnist))
    model = MultimodalVAE(strategy="poise", latent_dim=multimodal_mnist.LATENT_DIM, max_epochs=2, kl_warmup_epochs=0,
                          verbose=False, modalities={"digit": {"likelihood": "bernoulli"}}).fit(train)
    classifier = multimodal_mnist.mnist_classifier(str(tiny_mnist), epochs=2)
    checks = multimodal_mnist.poise_checks(model, train, test, seed=0, classifier=classifier)
    for given in ("ring+digit", "ring", "digit", "prior"):
        assert 0 < checks[f"ESS/sweep ring latent | {given}"] <= 2
    assert checks["KL grad G cosine (mean of draws)"] > 0.5  # 16 trials: Monte Carlo noise; exactness: tests/nn
    assert checks["coupling max g22 (< 0)"] < 0
    assert 0 <= checks["digit-latent accuracy | ring alone"] <= 1
    assert checks["shrinkage |E[z'|ring]| / |E[z'|digit]|"] > 0
    assert 0 <= checks["diagnostic: ring->digit from E[z'|ring] / shrinkage"] <= 1


def test_mnist_option_is_checked_before_any_work(tmp_path):
    with pytest.raises(ValueError, match="mnist: benchmark 'vae' does not use MNIST"):
        run_benchmark("vae", quick=True, mnist=str(tmp_path / "mnist.npz"))
    with pytest.raises(FileNotFoundError, match="mnist: MNIST file not found"):
        run_benchmark("multimodal-mnist", quick=True, mnist=str(tmp_path / "absent.npz"))
    with pytest.raises(FileNotFoundError, match="mnist: MNIST file not found"):
        run_benchmark("neat-mnist", quick=True, mnist=str(tmp_path / "absent.npz"))


def test_neat_mnist_runs_end_to_end_on_the_stand_in(tiny_mnist, monkeypatch, tmp_path):
    from neuralign.bench import neat, neat_mnist

    monkeypatch.setattr(neat, "REPORTS", tmp_path)
    monkeypatch.setattr(neat, "DIGITS_LAMBDAS", [0.0, 10.0])
    monkeypatch.setattr(neat_mnist, "N_SAMPLES", 60)
    monkeypatch.setitem(neat.NETWORK_SETTINGS, "batch_size", 32)
    rows = neat_mnist.run(quick=True, seeds=1, progress=lambda message: None, seed_set="tuning",
                          mnist=str(tiny_mnist))
    metrics = {(row.setting, row.metric) for row in rows}
    assert ("MNIST MLP, tuning seed 0, lambda=10", "consecutive sim. CKA") in metrics
    assert any(row.method == "MLP 4x64" for row in rows)
    assert (tmp_path / "mnist" / "similarity_vs_lambda.png").is_file()
