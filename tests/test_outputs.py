"""The output check every command runs before any work, and the one-line report of write errors."""

from __future__ import annotations

import errno
import json
import tempfile

import numpy as np
import pytest
from typer.testing import CliRunner

from neuralign._outputs import check_output
from neuralign.cli import app
from neuralign.data import io
from neuralign.data.datasets import load

runner = CliRunner()


@pytest.fixture()
def tiny_file(tmp_path):
    path = tmp_path / "tiny.npz"
    io.save(load("synthetic_reach", n_trials=12, n_time=6, n_units=5, seed=0), path)
    return path


def test_file_outputs_need_their_suffix_and_a_file_path(tmp_path):
    with pytest.raises(ValueError, match=r"out: expected a \.pt file for a fitted model, got .*model\.npz"):
        check_output("fit", tmp_path / "model.npz")
    with pytest.raises(ValueError, match="out: expected a .npz file for latents, got the folder"):
        check_output("encode", tmp_path)
    assert check_output("fit", tmp_path / "new" / "deeper" / "m.pt") == tmp_path / "new" / "deeper" / "m.pt"
    assert not (tmp_path / "new").exists()  # the check creates nothing


def test_folder_outputs_refuse_files_and_file_names(tmp_path):
    (tmp_path / "report").write_text("a file")
    with pytest.raises(ValueError, match="out: expected a folder for an alignment report .* got the file"):
        check_output("align", tmp_path / "report")
    with pytest.raises(ValueError, match="looks like a file name"):
        check_output("neat", tmp_path / "results.json")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_output("demo", tmp_path / "report" / "inside")


def test_an_input_is_never_an_output(tmp_path, tiny_file, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="is also an input"):
        check_output("encode", "./tiny.npz", inputs=["model.pt", str(tiny_file)])
    link = tmp_path / "link.npz"
    link.symlink_to(tiny_file)
    with pytest.raises(ValueError, match="is also an input"):
        check_output("encode", tiny_file, inputs=[str(link)], force=True)
    source = tmp_path / "report" / "aligned.npz"
    source.parent.mkdir()
    io.save(load("synthetic_reach", n_trials=12, n_time=6, n_units=5, seed=1), source)
    with pytest.raises(ValueError, match="would overwrite the input"):
        check_output("align", tmp_path / "report", inputs=[str(source), "erdiff_miller_co:target"], force=True)


def test_another_kind_of_existing_output_needs_force(tmp_path, tiny_file):
    with pytest.raises(ValueError, match="does not hold latents .* pass --force"):
        check_output("encode", tiny_file)
    assert check_output("encode", tiny_file, force=True) == tiny_file
    latents = tmp_path / "latents.npz"
    np.savez(latents, latents=np.zeros((2, 3, 1)))
    assert check_output("encode", latents) == latents  # an earlier output of the same command is replaced
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "summary.md").write_text("# my notes\n")
    with pytest.raises(ValueError, match="already holds summary.md, not from an earlier `neuralign align`"):
        check_output("align", folder)
    (folder / "summary.md").write_text("# neuralign align: mmd\n")
    assert check_output("align", folder) == folder
    (folder / "summary.json").write_text(json.dumps({"groups": {}, "tests": {}}))
    assert check_output("vocal compare", folder) == folder
    with pytest.raises(ValueError, match="not from an earlier `neuralign compare`"):
        check_output("compare", folder)


def test_an_unwritable_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(ValueError, match="out: cannot write to the folder .*Permission denied"):
        check_output("fit", tmp_path / "m.pt")
    with pytest.raises(ValueError, match="out: cannot create .*Permission denied"):
        check_output("align", tmp_path / "new" / "report")


def test_a_write_error_is_one_line_and_leaves_no_temporary_file(tmp_path, tiny_file, monkeypatch):
    from neuralign.models import SeqVAE

    model = tmp_path / "m.pt"
    SeqVAE(latent_dim=2, hidden_size=4, read_in_dim=4, max_epochs=1, verbose=False).fit(io.load(tiny_file)).save(model)
    out = tmp_path / "out"
    out.mkdir()

    def disk_full(handle, **arrays):
        handle.write(b"PK partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    result = runner.invoke(app, ["encode", str(model), str(tiny_file), "--out", str(out / "z.npz")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: No space left on device")
    assert "Traceback" not in result.output and list(out.iterdir()) == []


def test_ctrl_c_is_one_line_and_exit_130(tmp_path, tiny_file, monkeypatch):
    from neuralign.models import SeqVAE

    def interrupt(self, data, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(SeqVAE, "fit", interrupt)
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt")])
    assert result.exit_code == 130
    assert result.output.strip().startswith("interrupted:") and len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == [tiny_file]


def test_version():
    from neuralign import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"neuralign {__version__}"


def test_usage_errors_are_one_error_line():
    result = runner.invoke(app, ["fit", "synthetic_reach", "--out", "m.pt", "--max-epochs", "many"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "--max-epochs" in lines[0]
