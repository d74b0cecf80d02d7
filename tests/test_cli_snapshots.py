"""``neuralign snapshots fit``: the happy path, and every bad input refused before any work."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from neuralign.cli import app
from neuralign.data.snapshot_systems import rotating_cloud

runner = CliRunner()


@pytest.fixture()
def clouds(tmp_path):
    system = rotating_cloud(n=40, seed=0)
    path = tmp_path / "clouds.npz"
    np.savez(path, times=system.times, clouds=np.stack(system.clouds))
    return path, system


def _fit(*arguments):
    return runner.invoke(app, ["snapshots", "fit", *map(str, arguments)])


def test_mccann_with_a_held_out_cloud_writes_clouds_report_and_figures(clouds, tmp_path):
    path, system = clouds
    out = tmp_path / "out"
    result = _fit(path, "--method", "mccann", "--holdout", 2, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["clouds.png", "distances.png", "model.pt", "predicted.npz",
                                                     "report.json"]
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "mccann" and report["holdout"] == 2 and report["fit_seconds"] >= 0
    assert [row["held_out"] for row in report["per_time"]] == [False, False, True, False, False, False]
    assert report["per_time"][0]["W1"] == pytest.approx(0.0, abs=1e-6)  # the start cloud itself
    assert report["heldout"]["W1"] < report["heldout"]["W1 of the cloud before (no movement)"]
    with np.load(out / "predicted.npz") as arrays:
        assert np.allclose(arrays["times"], system.times)
        assert arrays["predicted_5"].shape == (40, 2) and arrays["heldout_prediction"].shape == (40, 2)
    assert _fit(path, "--method", "mccann", "--out", out).exit_code == 0  # its own earlier output is replaced


def test_am_reads_numbered_clouds_of_different_sizes_and_a_settings_file(tmp_path):
    system = rotating_cloud(n=30, times=(0.0, 0.5, 1.0), seed=1)
    path = tmp_path / "numbered.npz"
    np.savez(path, times=system.times, cloud_0=system.clouds[0], cloud_1=system.clouds[1][:20],
             cloud_2=system.clouds[2])
    config = tmp_path / "am.yaml"
    config.write_text("max_epochs: 1\nsteps_per_epoch: 2\nbatch_size: 16\nhidden_size: 8\nn_layers: 1\n")
    result = _fit(path, "--config", config, "--quiet", "--out", tmp_path / "am")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "am" / "report.json").read_text())
    assert report["settings"]["max_epochs"] == 1 and report["method"] == "am" and "heldout" not in report


def _bad(tmp_path, name, **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("case, message", [
    ("missing", "clouds: no file at"),
    ("nan", "clouds: .* clouds\\[1\\] holds 1 NaN/Inf"),
    ("unsorted", "clouds: .* 'times' must be strictly increasing"),
    ("single", "clouds: .* holds a single marginal"),
    ("dims", "clouds: .* different dimensions \\[2, 3\\]"),
    ("no_times", "clouds: .* has no 'times' array"),
    ("count", "clouds: .* 3 times but 2 clouds"),
    ("gap", "clouds: .* numbered 0 ... K-1 without gaps"),
])
def test_bad_clouds_are_refused_naming_the_argument(tmp_path, case, message):
    good = np.random.default_rng(0).normal(size=(3, 10, 2))
    nan = good.copy()
    nan[1, 4, 0] = np.nan
    paths = {"missing": tmp_path / "nowhere.npz",
             "nan": lambda: _bad(tmp_path, "nan.npz", times=[0, 1, 2], clouds=nan),
             "unsorted": lambda: _bad(tmp_path, "u.npz", times=[0, 2, 1], clouds=good),
             "single": lambda: _bad(tmp_path, "s.npz", times=[0.0], clouds=good[:1]),
             "dims": lambda: _bad(tmp_path, "d.npz", times=[0, 1], cloud_0=good[0], cloud_1=np.zeros((5, 3))),
             "no_times": lambda: _bad(tmp_path, "t.npz", clouds=good),
             "count": lambda: _bad(tmp_path, "c.npz", times=[0, 1, 2], cloud_0=good[0], cloud_1=good[1]),
             "gap": lambda: _bad(tmp_path, "g.npz", times=[0, 1], cloud_0=good[0], cloud_2=good[1])}
    path = paths[case] if case == "missing" else paths[case]()
    out = tmp_path / "out"
    result = _fit(path, "--method", "mccann", "--out", out)
    assert result.exit_code == 2 and not out.exists()
    assert __import__("re").search(message, " ".join(result.output.split())), result.output


def test_bad_options_are_refused_before_any_work(clouds, tmp_path):
    path, _ = clouds
    out = tmp_path / "out"
    cases = [(["--method", "sde"], "method: expected one of"),
             (["--holdout", "0"], "holdout: expected an interior index 1 ... 4"),
             (["--holdout", "5"], "holdout: expected an interior index 1 ... 4"),
             (["--method", "mccann", "--config", tmp_path / "none.yaml"], "config: no file at")]
    for extra, message in cases:
        result = _fit(path, *extra, "--out", out)
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
        assert not out.exists()
    result = _fit(path, "--method", "mccann", "--out", tmp_path)  # the input's own folder holds no output names
    assert result.exit_code == 0, result.output
    result = _fit(path, "--method", "mccann", "--out", path)  # the output is the input file
    assert result.exit_code == 2 and "out: expected a folder" in " ".join(result.output.split())
    assert np.load(path)["clouds"].shape == (6, 40, 2)  # untouched


def test_an_input_inside_the_output_folder_is_never_overwritten(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    path = folder / "predicted.npz"  # named like an output
    system = rotating_cloud(n=20, seed=0)
    np.savez(path, times=system.times, clouds=np.stack(system.clouds))
    before = path.read_bytes()
    result = _fit(path, "--method", "mccann", "--out", folder)
    assert result.exit_code == 2 and "would overwrite the input" in " ".join(result.output.split())
    assert path.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["predicted.npz"]
