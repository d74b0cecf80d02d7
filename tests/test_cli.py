"""The command line: every command on tiny data, and its errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from neuralign.cli import app, resolve_data
from neuralign.data import io
from neuralign.data.datasets import load

runner = CliRunner()


@pytest.fixture()
def tiny_file(tmp_path):
    data = load("synthetic_reach", n_trials=24, n_time=8, n_units=10, seed=0)
    path = tmp_path / "tiny.npz"
    io.save(data, path)
    return path


def test_datasets_list_names_every_dataset():
    result = runner.invoke(app, ["datasets", "list"])
    assert result.exit_code == 0
    for name in ("erdiff_miller_co", "semedo_v1v2", "spykesml_m1", "golub_bci_learning", "synthetic_reach"):
        assert name in result.output


def test_fit_then_encode_writes_latents(tiny_file, tmp_path):
    model_path = tmp_path / "model.pt"
    config = tmp_path / "config.yaml"
    config.write_text("hidden_size: 8\nread_in_dim: 8\nbatch_size: 8\n")
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(model_path), "--config", str(config),
                                 "--latent-dim", "2", "--max-epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert model_path.is_file()
    latents_path = tmp_path / "latents.npz"
    result = runner.invoke(app, ["encode", str(model_path), str(tiny_file), "--out", str(latents_path)])
    assert result.exit_code == 0, result.output
    with np.load(latents_path) as saved:
        assert saved["latents"].shape == (24, 8, 2)
        assert saved["behavior_decoded"].shape == (24, 8, 2)
        assert np.array_equal(saved["labels"], load("synthetic_reach", n_trials=24, n_time=8, n_units=10).labels)


def test_resolve_data_parts():
    assert resolve_data("erdiff_miller_co:target").n_units == 172
    assert resolve_data("erdiff_miller_co:1").n_units == 172
    assert resolve_data("semedo_v1v2:V2").n_units == 31
    with pytest.raises(ValueError, match="data: .*has sessions"):
        resolve_data("erdiff_miller_co:tomorrow")
    with pytest.raises(ValueError, match="neither an existing file nor a bundled dataset"):
        resolve_data("no_such_thing")
    with pytest.raises(ValueError, match="has parts"):
        resolve_data("semedo_v1v2:V4")


def test_fit_reports_bad_config_clearly(tiny_file, tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("latent_dims: 3\n")
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt"), "--config", str(config)])
    assert result.exit_code == 2
    assert "latent_dims" in result.output
    assert not (tmp_path / "m.pt").exists()


def test_fit_rejects_non_mapping_yaml(tiny_file, tmp_path):
    config = tmp_path / "list.yaml"
    config.write_text("- 1\n- 2\n")
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt"), "--config", str(config)])
    assert result.exit_code == 2 and "config: expected a mapping" in result.output


def test_encode_rejects_corrupt_model(tiny_file, tmp_path):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model at all")
    result = runner.invoke(app, ["encode", str(broken), str(tiny_file), "--out", str(tmp_path / "z.npz")])
    assert result.exit_code == 2
    assert "path:" in result.output and "not a readable" in result.output
    assert not (tmp_path / "z.npz").exists()


def test_encode_rejects_multi_session_data_without_part(tmp_path, tiny_file):
    model_path = tmp_path / "model.pt"
    runner.invoke(app, ["fit", str(tiny_file), "--out", str(model_path), "--latent-dim", "2", "--max-epochs", "1",
                        "--quiet"])
    result = runner.invoke(app, ["encode", str(model_path), "erdiff_miller_co", "--out", str(tmp_path / "z.npz")])
    assert result.exit_code == 2 and "pick one with" in result.output


def test_bench_unknown_name_lists_benchmarks():
    result = runner.invoke(app, ["bench", "nope"])
    assert result.exit_code == 2
    assert "unknown benchmark" in result.output and "vae" in result.output


def test_bench_mnist_option_names_the_argument(tmp_path):
    result = runner.invoke(app, ["bench", "multimodal-mnist", "--quick", "--mnist", str(tmp_path / "absent.npz")])
    assert result.exit_code != 0
    assert "mnist: MNIST file not found" in result.output and "--mnist PATH" in result.output
    result = runner.invoke(app, ["bench", "vae", "--quick", "--mnist", str(tmp_path / "absent.npz")])
    assert result.exit_code != 0 and "does not use MNIST" in result.output


def test_bench_writes_json_in_the_documented_layout(tmp_path, monkeypatch):
    from neuralign import bench
    from neuralign.bench import Plan, Row, Task

    def score(seed, progress):
        progress("running")
        return 1.0 + 2 * seed

    def fake_plan(*, quick, seeds):
        def combine(results):
            return [Row.from_values("m", "s", "r2", list(results.values()), [0.5, 0.5])]

        return Plan([Task(f"seed {seed}", score, {"seed": seed}) for seed in range(seeds)], combine)

    import types

    module = types.SimpleNamespace(plan=fake_plan)
    monkeypatch.setitem(bench.BENCHMARKS, "fake", "fake_bench_module")
    monkeypatch.setitem(__import__("sys").modules, "fake_bench_module", module)
    out = tmp_path / "b.json"
    result = runner.invoke(app, ["bench", "fake", "--out", str(out), "--seeds", "2"])
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    assert saved["benchmark"] == "fake"
    row = saved["rows"][0]
    assert set(row) >= {"method", "setting", "metric", "mean", "std", "n", "seconds"}
    assert row["mean"] == 2.0 and row["std"] == pytest.approx(np.sqrt(2)) and row["n"] == 2  # sample std, ddof = 1
    assert saved["std"] == "sample standard deviation over the runs (ddof = 1)"
    assert "torch" in saved["env"] and saved["execution"]["workers"] is None
    assert saved["execution"]["wall_seconds"] > 0


def test_bench_seed_set_reaches_benchmarks_that_take_it(tmp_path, monkeypatch):
    import types

    from neuralign import bench
    from neuralign.bench import Plan, Row

    seen = []

    def rows(results):
        return [Row.from_values("m", "s", "r2", [1.0], 0.5)]

    def with_seed_sets(*, quick, seeds, seed_set="reporting"):
        seen.append(seed_set)
        return Plan([], rows)

    def without(*, quick, seeds):
        return Plan([], rows)

    for name, plan in (("fake_sets", with_seed_sets), ("fake_plain", without)):
        monkeypatch.setitem(bench.BENCHMARKS, name, f"{name}_module")
        monkeypatch.setitem(__import__("sys").modules, f"{name}_module", types.SimpleNamespace(plan=plan))
    out = tmp_path / "b.json"
    result = runner.invoke(app, ["bench", "fake_sets", "--seed-set", "tuning", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert seen == ["tuning"] and json.loads(out.read_text())["seed_set"] == "tuning"
    result = runner.invoke(app, ["bench", "fake_sets"])
    assert result.exit_code == 0 and seen == ["tuning", "reporting"]  # the benchmark's default
    result = runner.invoke(app, ["bench", "fake_plain", "--seed-set", "tuning"])
    assert result.exit_code == 2 and "seed_set" in result.output and "single seed set" in result.output
    result = runner.invoke(app, ["bench", "fake_sets", "--seed-set", "final"])
    assert result.exit_code == 2 and "seed_set" in result.output


def test_align_command_writes_latents_and_summary(tmp_path):
    sessions = load("synthetic_reach_sessions", n_trials=24, n_time=8, n_units=(10, 9), seed=0)
    io.save(sessions[0], tmp_path / "source.npz")
    io.save(sessions[1], tmp_path / "target.npz")
    from neuralign.models import SeqVAE

    SeqVAE(latent_dim=2, hidden_size=8, read_in_dim=8, max_epochs=2, verbose=False).fit(sessions[0]).save(
        tmp_path / "model.pt")
    result = runner.invoke(app, ["align", "--source", str(tmp_path / "source.npz"), "--target",
                                 str(tmp_path / "target.npz"), "--method", "mmd", "--model",
                                 str(tmp_path / "model.pt"), "--out", str(tmp_path / "out"), "--calibration",
                                 "moments"])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "out" / "aligned.npz") as saved:
        assert saved["latents"].shape == (24, 8, 2)
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "Velocity R2" in summary and "calibration moments, denoise 0.0" in summary


def test_align_command_rejects_supervised_and_unknown_methods(tmp_path):
    for method in ("cond-avg affine (labels)", "magic"):
        result = runner.invoke(app, ["align", "--source", "erdiff_miller_co:source", "--target",
                                     "erdiff_miller_co:target", "--method", method])
        assert result.exit_code == 2 and "method: expected one of" in result.output


def test_align_command_rejects_a_bad_calibration():
    for method, calibration in (("erdiff", "zscore"), ("none", "moments")):
        result = runner.invoke(app, ["align", "--source", "erdiff_miller_co:source", "--target",
                                     "erdiff_miller_co:target", "--method", method, "--calibration", calibration])
        assert result.exit_code == 2 and "calibration: expected 'none' or 'moments'" in result.output


def test_align_command_rejects_a_bad_denoise_level():
    for method, level in (("erdiff", "-0.1"), ("erdiff", "nan"), ("sinkhorn", "0.3")):
        result = runner.invoke(app, ["align", "--source", "erdiff_miller_co:source", "--target",
                                     "erdiff_miller_co:target", "--method", method, "--denoise", level])
        assert result.exit_code == 2 and "denoise: expected a finite number >= 0" in result.output, result.output


def test_align_command_default_method_reports_its_confidence(tmp_path):
    sessions = load("synthetic_reach_sessions", n_trials=24, n_time=8, n_units=(10, 9), seed=0)
    io.save(sessions[0], tmp_path / "source.npz")
    io.save(sessions[1], tmp_path / "target.npz")
    from neuralign.models import LFADS

    LFADS(factor_dim=2, read_in_dim=8, encoder_dim=8, ic_dim=4, generator_dim=8, max_epochs=3,
          verbose=False).fit(sessions[0]).save(tmp_path / "lfads.pt")
    result = runner.invoke(app, ["align", "--source", str(tmp_path / "source.npz"), "--target",
                                 str(tmp_path / "target.npz"), "--model", str(tmp_path / "lfads.pt"), "--out",
                                 str(tmp_path / "out"), "--labelled", "8"])
    assert result.exit_code == 0, result.output
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "## Choice of map" in summary and "source model: LFADS" in summary and "labelled 8" in summary
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["selection"] == "k labelled trials" and report["labelled"] == 8 and "margin" in report


def test_align_command_rejects_bad_labelled_counts_and_a_model_without_dynamics(tmp_path):
    sessions = load("synthetic_reach_sessions", n_trials=24, n_time=8, n_units=(10, 9), seed=0)
    io.save(sessions[0], tmp_path / "source.npz")
    io.save(sessions[1], tmp_path / "target.npz")
    from neuralign.models import SeqVAE

    SeqVAE(latent_dim=2, hidden_size=8, read_in_dim=8, max_epochs=1, verbose=False).fit(sessions[0]).save(
        tmp_path / "seqvae.pt")
    common = ["align", "--source", str(tmp_path / "source.npz"), "--target", str(tmp_path / "target.npz"),
              "--model", str(tmp_path / "seqvae.pt"), "--out", str(tmp_path / "out")]
    result = runner.invoke(app, common + ["--labelled", "0"])
    assert result.exit_code == 2 and "labelled" in result.output
    result = runner.invoke(app, common + ["--method", "none", "--labelled", "4"])
    assert result.exit_code == 2 and "labelled: --method none fits no candidates" in result.output
    result = runner.invoke(app, common)  # the default method needs a latent dynamics model
    assert result.exit_code == 2 and "needs a latent dynamics model" in result.output
    assert not (tmp_path / "out").exists()


def test_fit_lfads_from_the_command_line(tiny_file, tmp_path):
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt"), "--model", "lfads",
                                 "--latent-dim", "3", "--max-epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    from neuralign.models import LFADS

    assert LFADS.load(tmp_path / "m.pt").latent_dim == 3
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "n.pt"), "--model", "gpfa"])
    assert result.exit_code == 2 and "model: expected one of ['seqvae', 'lfads', 'ndt2'], got 'gpfa'" in result.output


def test_fit_ndt2_from_the_command_line_then_encode(tiny_file, tmp_path):
    config = tmp_path / "ndt2.yaml"
    config.write_text("patch_size: 4\nn_heads: 2\nencoder_layers: 1\nbatch_size: 8\n")
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt"), "--model", "ndt2",
                                 "--config", str(config), "--latent-dim", "8", "--max-epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    from neuralign.models import NDT2

    model = NDT2.load(tmp_path / "m.pt")
    assert model.config.d_model == 8 and model.config.patch_size == 4 and model.units_ == [10]
    result = runner.invoke(app, ["encode", str(tmp_path / "m.pt"), str(tiny_file), "--out", str(tmp_path / "z.npz")])
    assert result.exit_code == 0, result.output
    with np.load(tmp_path / "z.npz") as saved:
        assert saved["latents"].shape == (24, 8, 8)


def test_fit_reports_which_weights_it_kept(tiny_file, tmp_path):
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt"), "--latent-dim", "2",
                                 "--max-epochs", "2", "--quiet"])
    assert result.exit_code == 0, result.output
    assert "warning: max_epochs=2 is below min_epochs=50" in result.output
    assert "2 epochs, all within the warm-up (min_epochs): no best epoch was chosen; kept the last epoch's weights " \
           "(validation loss" in result.output
    assert "best validation loss inf" not in result.output


def _network_state(path):
    from neuralign.models.base import load_model

    return {key: value.clone() for key, value in load_model(path).network_.state_dict().items()}


@pytest.mark.parametrize("model", ["seqvae", "lfads"])
def test_an_interrupted_fit_resumed_gives_the_uninterrupted_weights_bit_for_bit(tiny_file, tmp_path, monkeypatch,
                                                                               model):
    import neuralign.train as training

    common = ["fit", str(tiny_file), "--model", model, "--latent-dim", "2", "--max-epochs", "5", "--quiet",
              "--config", str(tmp_path / "small.yaml")]
    sizes = "read_in_dim: 4\nbatch_size: 8\nkl_warmup_epochs: 2\n"
    sizes += "encoder_dim: 4\nic_dim: 2\ngenerator_dim: 4\n" if model == "lfads" else "hidden_size: 4\n"
    (tmp_path / "small.yaml").write_text(sizes)
    result = runner.invoke(app, [*common, "--out", str(tmp_path / "whole.pt")])
    assert result.exit_code == 0, result.output

    run_epoch = training._run_epoch

    def interrupt_at_epoch_3(module, loss_fn, sessions, config, epoch, *args):
        if epoch == 3:
            raise KeyboardInterrupt
        return run_epoch(module, loss_fn, sessions, config, epoch, *args)

    monkeypatch.setattr(training, "_run_epoch", interrupt_at_epoch_3)
    resumable = [*common, "--out", str(tmp_path / "resumed.pt"), "--checkpoint-dir", str(tmp_path / "ckpt")]
    result = runner.invoke(app, resumable)
    assert result.exit_code == 130
    lines = result.output.strip().splitlines()
    assert lines[-1] == (f"interrupted: fit stopped; kept the checkpoint "
                         f"'{tmp_path / 'ckpt' / 'resumed.pt.checkpoint'}' after epoch 3. Resume it with the same "
                         "command and --resume."), result.output
    assert not (tmp_path / "resumed.pt").exists()
    monkeypatch.setattr(training, "_run_epoch", run_epoch)
    result = runner.invoke(app, [*resumable, "--resume"])
    assert result.exit_code == 0, result.output
    whole, resumed = _network_state(tmp_path / "whole.pt"), _network_state(tmp_path / "resumed.pt")
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key


def test_resume_needs_a_checkpoint(tiny_file, tmp_path):
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt"), "--resume"])
    assert result.exit_code == 2 and "resume: --resume continues from a checkpoint, so it needs --checkpoint-dir" \
        in result.output
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt"), "--resume",
                                 "--checkpoint-dir", str(tmp_path / "ckpt")])
    assert result.exit_code == 2 and "resume: no checkpoint" in result.output
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt"), "--checkpoint-dir",
                                 str(tiny_file)])
    assert result.exit_code == 2 and "checkpoint_dir: expected a folder" in result.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tiny.npz"]


def test_ctrl_c_without_checkpoints_says_how_to_keep_them(tiny_file, tmp_path, monkeypatch):
    import neuralign.train as training

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "_run_epoch", interrupt)
    result = runner.invoke(app, ["fit", str(tiny_file), "--out", str(tmp_path / "m.pt"), "--quiet"])
    assert result.exit_code == 130
    assert result.output.strip().splitlines()[-1].startswith("interrupted: fit stopped; nothing was written. Pass "
                                                             "--checkpoint-dir DIR")


def test_a_fit_killed_with_sigkill_resumes_to_the_uninterrupted_weights_bit_for_bit(tiny_file, tmp_path):
    """The issue's protocol: a separate process is killed (SIGKILL, no clean-up runs) after some epochs; the same
    command with --resume finishes to the weights of an uninterrupted fit. Each epoch of the killed process is slowed
    so that the kill lands mid-fit."""
    import os
    import signal
    import subprocess
    import sys
    import time

    (tmp_path / "small.yaml").write_text("read_in_dim: 4\nbatch_size: 8\nkl_warmup_epochs: 2\nhidden_size: 4\n")
    common = ["fit", str(tiny_file), "--model", "seqvae", "--latent-dim", "2", "--max-epochs", "6", "--quiet",
              "--config", str(tmp_path / "small.yaml")]
    assert runner.invoke(app, [*common, "--out", str(tmp_path / "whole.pt")]).exit_code == 0
    resumable = [*common, "--out", str(tmp_path / "resumed.pt"), "--checkpoint-dir", str(tmp_path / "ckpt")]
    slowed = ("import sys, time, neuralign.train as t\nrun = t._run_epoch\n"
              "def slow(*a):\n    time.sleep(0.25)\n    return run(*a)\n"
              "t._run_epoch = slow\nfrom neuralign.cli import app\nsys.argv = ['neuralign'] + sys.argv[1:]\napp()\n")
    process = subprocess.Popen([sys.executable, "-c", slowed, *resumable], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "ckpt" / "resumed.pt.checkpoint"
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # one or two epochs more, then the kill lands mid-epoch or mid-save
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL and checkpoint.exists()
    assert not (tmp_path / "resumed.pt").exists()
    result = runner.invoke(app, [*resumable, "--resume"])
    assert result.exit_code == 0, result.output
    whole, resumed = _network_state(tmp_path / "whole.pt"), _network_state(tmp_path / "resumed.pt")
    for key in whole:
        assert torch.equal(whole[key], resumed[key]), key


def test_bench_records_the_default_seed_set(tmp_path, monkeypatch):
    import types

    from neuralign import bench
    from neuralign.bench import Row

    seen = {}

    def fake_run(*, quick, seeds, progress, seed_set="reporting"):
        seen["seed_set"] = seed_set
        return [Row.from_values("m", "s", "r2", [1.0], 0.0)]

    monkeypatch.setitem(bench.BENCHMARKS, "fake", "fake_seeded_module")
    monkeypatch.setitem(__import__("sys").modules, "fake_seeded_module", types.SimpleNamespace(run=fake_run))
    out = tmp_path / "b.json"
    assert runner.invoke(app, ["bench", "fake", "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text())["seed_set"] == "reporting" and seen["seed_set"] == "reporting"
