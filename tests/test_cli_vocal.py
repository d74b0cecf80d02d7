"""``neuralign vocal segment|fit|compare`` and ``neuralign compare`` on tiny data, and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from neuralign.cli import app
from neuralign.cli_vocal import load_samples, load_syllables
from neuralign.data.vocalisations import vocalisation_pair

runner = CliRunner()


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wav")
    paths = []
    for name, recording in zip("ab", vocalisation_pair(True, seed=0, n_syllables=12), strict=True):
        recording.write_wav(folder / f"{name}.wav")
        paths.append(folder / f"{name}.wav")
    return paths


def test_segment_fit_compare(wavs, tmp_path):
    syllables = []
    for path in wavs:
        out = tmp_path / f"{path.stem}.npz"
        result = runner.invoke(app, ["vocal", "segment", str(path), "--out", str(out), "--size", "16"])
        assert result.exit_code == 0, result.output
        assert "wrote 12 syllables" in result.output
        with np.load(out) as file:
            assert file["images"].shape == (12, 16, 16) and file["onsets"].shape == (12,)
        syllables.append(str(out))
    model = tmp_path / "vae.pt"
    result = runner.invoke(app, ["vocal", "fit", *syllables, "--out", str(model), "--latent-dim", "4",
                                 "--max-epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    report = tmp_path / "report"
    result = runner.invoke(app, ["vocal", "compare", str(model), *syllables, "--out", str(report),
                                 "--permutations", "50", "--embedding", "pca"])
    assert result.exit_code == 0, result.output
    summary = json.loads((report / "summary.json").read_text())
    assert summary["groups"] == {syllables[0]: 12, syllables[1]: 12}
    reported = summary["tests"][f"{syllables[0]} vs {syllables[1]}"]
    # the reported test is the permutation test of the saved latents with the command's settings, not any p
    from neuralign.metrics.mmd import mmd_test

    with np.load(report / "latents.npz") as latents:
        expected = mmd_test(latents[syllables[0]], latents[syllables[1]], kernel="multi_rbf", n_permutations=50,
                            seed=0)
    assert reported["mmd2"] == pytest.approx(expected.statistic) and reported["p_value"] == expected.p_value
    assert round(reported["p_value"] * 51) == pytest.approx(reported["p_value"] * 51)  # (1 + k) / (50 + 1)
    for name in ("null.png", "embedding.png", "mmd_matrix.png", "latents.npz"):
        assert (report / name).is_file()


def test_vocal_fit_on_a_wav_and_vocalmat(wavs, tmp_path):
    assert load_syllables(str(wavs[0]), size=16).shape == (12, 16, 16)
    assert load_syllables("vocalmat_usv:flat", size=16).shape == (9, 16, 16)
    with pytest.raises(ValueError, match="syllables: 'nothing' is not"):
        load_syllables("nothing")


def test_vocal_errors(tmp_path):
    result = runner.invoke(app, ["vocal", "compare", str(tmp_path / "missing.pt"), "vocalmat_usv:flat",
                                 "vocalmat_usv:up_fm"])
    assert result.exit_code == 2 and "path: no file" in result.output
    result = runner.invoke(app, ["vocal", "segment", str(tmp_path / "none.wav"), "--out", str(tmp_path / "x.npz")])
    assert result.exit_code == 2 and "no WAV file" in result.output
    np.savez(tmp_path / "other.npz", latents=np.zeros((3, 2)))
    result = runner.invoke(app, ["vocal", "fit", str(tmp_path / "other.npz"), "--out", str(tmp_path / "m.pt")])
    assert result.exit_code == 2 and "has no 'images' array" in result.output
    assert not (tmp_path / "m.pt").exists()


def test_compare_files_and_recordings(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "a.npy", rng.normal(size=(40, 3)))
    np.savez(tmp_path / "b.npz", latents=rng.normal(size=(40, 3)) + 2.0)
    np.savetxt(tmp_path / "c.csv", rng.normal(size=(40, 3)), delimiter=",")
    result = runner.invoke(app, ["compare", str(tmp_path / "a.npy"), str(tmp_path / "b.npz"), "--permutations", "99",
                                 "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["p_value"] == pytest.approx(0.01) and summary["n_first"] == 40
    assert (tmp_path / "report" / "null.png").is_file()
    result = runner.invoke(app, ["compare", str(tmp_path / "a.npy"), str(tmp_path / "c.csv"), "--permutations", "99"])
    assert result.exit_code == 0 and "p = " in result.output
    assert load_samples("golub_bci_learning:before").shape == (8 * 69, 86)


def test_compare_errors(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((5, 3)))
    np.save(tmp_path / "b.npy", np.zeros((5, 2)))
    result = runner.invoke(app, ["compare", str(tmp_path / "a.npy"), str(tmp_path / "b.npy")])
    assert result.exit_code == 2 and "y: expected the same number of dims" in result.output
    result = runner.invoke(app, ["compare", str(tmp_path / "a.npy"), "golub_bci_learning"])
    assert result.exit_code == 2 and "holds several recordings" in result.output
    np.savez(tmp_path / "two.npz", p=np.zeros((3, 2)), q=np.zeros((3, 2)))
    result = runner.invoke(app, ["compare", str(tmp_path / "two.npz"), str(tmp_path / "two.npz")])
    assert result.exit_code == 2 and "key:" in result.output
    result = runner.invoke(app, ["compare", str(tmp_path / "a.npy"), str(tmp_path / "a.npy"), "--kernel", "cosine"])
    assert result.exit_code == 2 and "kernel: expected one of" in result.output
