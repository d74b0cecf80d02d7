"""The ``neuralign neat`` command on tiny data, and its errors."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from neuralign.cli import app

runner = CliRunner()


@pytest.mark.slow
def test_neat_on_two_bundled_regions_writes_figures_and_report(tmp_path):
    out = tmp_path / "neat"
    result = runner.invoke(app, ["neat", "--regions", "semedo_v1v2:V1", "--regions", "semedo_v1v2:V2",
                                 "--lambdas", "0,10", "--latent-dims", "2,3", "--max-epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "report.md").is_file() and (out / "similarity_vs_lambda.png").is_file()
    with np.load(out / "latents.npz") as latents:
        assert latents["lambda10_semedo_v1v2:V2"].shape == (4000, 3)


def test_neat_errors_name_the_argument(tmp_path):
    result = runner.invoke(app, ["neat", "--regions", "semedo_v1v2", "--lambdas", "0,x", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "lambdas" in result.output
    result = runner.invoke(app, ["neat", "--regions", "semedo_v1v2:V1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "one recording" in result.output
    result = runner.invoke(app, ["neat", "--regions", "no_such_data", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "no_such_data" in result.output


def test_neat_auto_dims_apply_the_explained_variance_rule(tmp_path):
    out = tmp_path / "neat"
    result = runner.invoke(app, ["neat", "--regions", "semedo_v1v2:V1", "--regions", "semedo_v1v2:V2",
                                 "--lambdas", "0", "--latent-dims", "auto", "--ev-threshold", "0.999",
                                 "--max-epochs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "latent dims by the explained-variance rule" in result.output
    assert "below the threshold at the largest dim tried" in result.output  # 0.999 is out of reach in 1 epoch
    with np.load(out / "latents.npz") as latents:
        assert latents["lambda0_semedo_v1v2:V1"].shape == (4000, 16)  # the largest dim tried


def test_neat_auto_dims_reject_a_bad_threshold(tmp_path):
    result = runner.invoke(app, ["neat", "--regions", "semedo_v1v2:V1", "--regions", "semedo_v1v2:V2",
                                 "--latent-dims", "auto", "--ev-threshold", "1.5", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "ev_threshold" in result.output
