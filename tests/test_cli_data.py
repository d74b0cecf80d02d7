"""Data files on the command line: plain arrays (.npz / .h5 with ``counts``) and NWB with --bin-size / --window."""

from __future__ import annotations

import numpy as np
from typer.testing import CliRunner

from neuralign.cli import app
from neuralign.data import io
from neuralign.data.datasets import load

runner = CliRunner()


def test_plain_arrays_are_accepted_with_a_note(tmp_path):
    data = load("synthetic_reach", n_trials=12, n_time=6, n_units=5, seed=0)
    np.savez(tmp_path / "plain.npz", counts=data.counts, behavior=data.behavior, bin_size=0.05)
    result = runner.invoke(app, ["fit", str(tmp_path / "plain.npz"), "--out", str(tmp_path / "m.pt"),
                                 "--latent-dim", "2", "--max-epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "note: " in result.output and "read as plain arrays (counts, behavior, bin_size)" in result.output
    result = runner.invoke(app, ["encode", str(tmp_path / "m.pt"), str(tmp_path / "plain.npz"), "--out",
                                 str(tmp_path / "z.npz")])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "z.npz") as saved:
        assert saved["latents"].shape == (12, 6, 2)


def test_nwb_on_the_command_line(tmp_path):
    data = load("synthetic_reach", n_trials=12, n_time=6, n_units=5, seed=0)
    io.write_nwb(data, tmp_path / "rec.nwb")
    window = f"0,{6 * data.bin_size}"
    result = runner.invoke(app, ["fit", str(tmp_path / "rec.nwb"), "--bin-size", str(data.bin_size), "--window",
                                 window, "--behavior", "none", "--out", str(tmp_path / "m.pt"), "--latent-dim", "2",
                                 "--max-epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["encode", str(tmp_path / "m.pt"), str(tmp_path / "rec.nwb"), "--bin-size",
                                 str(data.bin_size), "--window", window, "--label-column", "label", "--out",
                                 str(tmp_path / "z.npz")])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "z.npz") as saved:
        assert saved["latents"].shape == (12, 6, 2) and np.array_equal(saved["labels"], data.labels)
        assert "behavior_decoded" not in saved.files  # fitted without behaviour (--behavior none)


def test_suspicious_counts_are_warning_lines(tmp_path):
    rng = np.random.default_rng(0)
    rates = rng.poisson(30.0, (8, 5, 3)) / 0.03  # spikes/s instead of counts: non-integers, many above 1000
    np.savez(tmp_path / "rates.npz", counts=rates)
    result = runner.invoke(app, ["fit", str(tmp_path / "rates.npz"), "--out", str(tmp_path / "m.pt"), "--latent-dim",
                                 "4", "--max-epochs", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if line.startswith("warning: ")]
    assert any("data[0]: " in line and "of the counts are not integers" in line for line in warned), result.output
    assert any("data[0]: " in line and "hold more than 1000 counts" in line for line in warned), result.output
    assert any("latent_dim: SeqVAE has 4 latent dimensions but data[0] has 3 units" in line for line in warned)
    assert "Traceback" not in result.output
