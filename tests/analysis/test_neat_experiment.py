"""Tests of neuralign.analysis.neat_experiment: a tiny lambda sweep, its figures, report and JSON."""

from __future__ import annotations

import json

import pytest

from neuralign.analysis.neat_experiment import run_neat_sweep, write_report
from neuralign.data.datasets import load

TINY = dict(latent_dims=2, max_epochs=2, hidden_size=8, n_hidden_layers=1, batch_size=64)


@pytest.fixture(scope="module")
def regions():
    return load("synthetic_regions", n_samples=120, n_regions=3, n_units=6, n_classes=3, seed=0)


def test_sweep_measures_every_lambda_and_writes_a_report(regions, tmp_path):
    lines = []
    result = run_neat_sweep(regions, [0.0, 5.0], progress=lines.append, **TINY)
    assert len(lines) == 2 and list(result["latents"]) == [0.0, 5.0]
    entry = result["results"][1]
    assert entry["lam"] == 5.0 and set(entry["r2"]) == set(regions)
    assert len(entry["similarity_relative"]) == 3 and entry["similarity_cka"][1][1] == pytest.approx(1.0)
    assert len(entry["displacement"]["per_class"]) == 2 and set(entry["probe"]) == set(regions)
    assert result["n_test"] == 24
    written = write_report(result, tmp_path / "out", title="tiny")
    assert all(path.is_file() for path in written)
    assert {path.name for path in written} >= {"latents_lambda0.png", "latents_lambda5.png", "report.md",
                                               "similarity_vs_lambda.png", "displacement_per_class.png"}
    summary = json.loads((tmp_path / "out" / "results.json").read_text())
    assert summary["lambdas"] == [0.0, 5.0] and "| 5 |" in (tmp_path / "out" / "report.md").read_text()


@pytest.mark.parametrize("kwargs, match", [
    (dict(lambdas=[]), "lambdas"),
    (dict(lambdas=[-1.0]), "lambdas"),
    (dict(lambdas=[0.0], test_fraction=1.0), "test_fraction"),
    (dict(lambdas=[0.0], labels=[0, 1]), "labels"),
])
def test_bad_inputs_name_the_argument(regions, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        run_neat_sweep(regions, **{**TINY, **kwargs})


def test_one_region_is_refused(regions):
    with pytest.raises(ValueError, match="regions"):
        run_neat_sweep({"region1": regions["region1"]}, [0.0], **TINY)
