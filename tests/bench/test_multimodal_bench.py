"""Tests of neuralign.bench.multimodal (a tiny run of its pieces; the full benchmark is run by the CLI)."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.bench import multimodal
from neuralign.bench.multimodal import digit_classifier


@pytest.mark.slow
def test_digit_classifier_recognises_real_digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    accuracy = np.mean(digit_classifier().predict(digits.images.reshape(-1, 64) / 16) == digits.target)
    assert accuracy > 0.95


def test_rows_cover_every_strategy_and_metric():
    results = [{s: {"m": float(i), "fit seconds": 1.0} for s in multimodal.STRATEGIES} for i in range(2)]
    rows = multimodal._rows(results, "setting")
    assert {r.method for r in rows} == set(multimodal.STRATEGIES)
    assert all(r.n == 2 for r in rows) and rows[0].mean == 0.5


def test_figures_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(multimodal, "REPORT_DIR", tmp_path)
    monkeypatch.setattr(multimodal, "STRATEGIES", ("poe",))
    from neuralign.data.datasets import load
    from neuralign.data.paired import split_modalities
    from neuralign.models.multimodal import MultimodalVAE

    train, test = split_modalities(load("ring_digits", n_per_class=12, seed=0), 0.25, seed=0)
    model = MultimodalVAE(strategy="poe", latent_dim=2, max_epochs=1, verbose=False).fit(train)
    latent = {n: [model.transform(p, given=[n]) for p in (train, test)] for n in ("ring", "digit")}
    multimodal._figures([1.0, 0.5], {"poe": [1.0, 0.9]}, [1.0, 0.95], {"poe": (model, test, latent)}, 0.5)
    assert {p.name for p in tmp_path.iterdir()} == {"accuracy_vs_radius.png", "latents.png",
                                                    "cross_generated_digits.png"}
