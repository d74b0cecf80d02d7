"""Tests of neuralign.train: the one training loop (optimisation, determinism, early stopping, clipping,
non-finite losses, restricted parameters, sessions, validation, logs, callbacks, devices, config checks and
checkpoints that resume to exactly the result of an uninterrupted run, even after a hard kill)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import neuralign
from neuralign.train import NonFiniteLossError, TrainConfig, train

# A problem defined once as source, so that a subprocess and this process build the very same one.
PROBLEM_SOURCE = textwrap.dedent("""
    import torch
    from torch import nn

    def make_problem():
        torch.manual_seed(0)
        module = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Dropout(0.2), nn.Linear(16, 1))
        generator = torch.Generator().manual_seed(1)
        x = torch.randn(40, 3, generator=generator)
        y = torch.sin(x).sum(dim=1, keepdim=True)

        def loss_fn(batch):
            return {"loss": ((module(batch["x"]) - batch["y"]) ** 2).mean()}

        return module, loss_fn, [{"x": x, "y": y}]
    """)


def make_problem():
    namespace: dict = {}
    exec(PROBLEM_SOURCE, namespace)
    return namespace["make_problem"]()


def config(**settings) -> TrainConfig:
    defaults = dict(max_epochs=5, batch_size=8, learning_rate=0.05, verbose=False, device="cpu")
    defaults.update(settings)
    return TrainConfig(**defaults)


def regression(n_trials: int = 40, n_features: int = 3, seed: int = 0) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n_trials, n_features, generator=generator)
    weights = torch.arange(1.0, n_features + 1).unsqueeze(1)
    y = x @ weights + 0.1 * torch.randn(n_trials, 1, generator=generator)
    return {"x": x, "y": y}


def linear_model(n_features: int = 3, seed: int = 0) -> nn.Linear:
    torch.manual_seed(seed)
    return nn.Linear(n_features, 1)


def mse(module: nn.Module):
    def loss_fn(batch):
        error = ((module(batch["x"]) - batch["y"]) ** 2).mean()
        return {"loss": error, "mse": error.detach()}
    return loss_fn


def parameters_of(module: nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in module.state_dict().items()}


def assert_same_parameters(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


# ------------------------------------------------------------------------------------------------ basics
def test_loss_decreases_and_history_logs_train_and_val():
    module = linear_model()
    history = train(module, mse(module), [regression()], config(max_epochs=20))
    logs = history.logs
    assert {"train/loss", "val/loss", "train/mse", "val/mse"} <= set(logs)
    assert all(len(values) == history.epochs_run == 20 for values in logs.values())
    assert logs["train/loss"][-1] < 0.2 * logs["train/loss"][0]
    assert logs["val/loss"][-1] < 0.2 * logs["val/loss"][0]
    assert history.best_val_loss == min(logs["val/loss"])
    assert history.seconds > 0 and 0 < history.cpu_seconds and not history.stopped_early


def test_same_seed_gives_identical_parameters_and_different_seeds_differ():
    def run(seed: int) -> dict[str, torch.Tensor]:
        module, loss_fn, sessions = make_problem()  # includes dropout: the global RNG is seeded too
        train(module, loss_fn, sessions, config(max_epochs=3, seed=seed))
        return parameters_of(module)

    first, second, other = run(0), run(0), run(1)
    assert_same_parameters(first, second)
    assert any(not torch.equal(first[name], other[name]) for name in first)


def test_history_values_are_trial_weighted_means():
    """With explicit validation, val/loss equals the loss on all validation trials at once."""
    module = linear_model()
    validation = regression(n_trials=13, seed=5)
    history = train(module, mse(module), [regression()], config(max_epochs=3, batch_size=4),
                    validation=[validation])
    with torch.no_grad():
        final = ((module(validation["x"]) - validation["y"]) ** 2).mean().item()
    assert history.logs["val/loss"][history.best_epoch] == pytest.approx(final, rel=1e-5)


def test_callback_is_called_after_every_epoch():
    calls = []
    module = linear_model()
    train(module, mse(module), [regression()], config(max_epochs=4),
          callback=lambda epoch, history: calls.append((epoch, history.epochs_run, len(history.logs["train/loss"]))))
    assert calls == [(0, 1, 1), (1, 2, 2), (2, 3, 3), (3, 4, 4)]


# ------------------------------------------------------------------------------------------ early stopping
def _one_weight() -> nn.Linear:
    module = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.zero_()
    return module


def test_early_stopping_restores_the_best_epoch_when_validation_loss_rises():
    """Training pulls the weight from 0 to 2 while validation prefers 1: val loss falls, then rises."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 1, generator=generator)
    module = _one_weight()
    states = []
    history = train(module, mse(module), [{"x": x, "y": 2 * x}],
                    config(max_epochs=100, batch_size=32, learning_rate=0.1, weight_decay=0.0, patience=3),
                    validation=[{"x": x, "y": 1 * x}],
                    callback=lambda epoch, _: states.append(parameters_of(module)))
    val_losses = history.logs["val/loss"]
    best = min(range(len(val_losses)), key=val_losses.__getitem__)
    assert history.stopped_early
    assert history.best_epoch == best
    assert 0 < best < history.epochs_run - 1 < 99
    assert history.epochs_run == best + 1 + 3  # patience epochs without improvement, then stop
    assert history.best_val_loss == val_losses[best]
    assert_same_parameters(parameters_of(module), states[best])
    with torch.no_grad():
        restored = ((module(x) - x) ** 2).mean().item()
    assert restored == pytest.approx(history.best_val_loss, rel=1e-6)
    assert abs(module.weight.item() - 1.0) < 0.1


def test_early_stopping_on_a_plateau_stops_after_patience_epochs():
    module = _one_weight()
    states = []

    def loss_fn(batch):
        fit = ((module(batch["x"]) - batch["y"]) ** 2).mean()
        return {"loss": fit if module.training else fit * 0 + 1.0}  # validation loss: flat

    history = train(module, loss_fn, [regression(n_features=1)],
                    config(max_epochs=50, patience=2, val_fraction=0.25),
                    callback=lambda epoch, _: states.append(parameters_of(module)))
    assert history.stopped_early
    assert history.best_epoch == 0 and history.epochs_run == 3
    assert_same_parameters(parameters_of(module), states[0])
    assert not torch.equal(states[0]["weight"], states[-1]["weight"])


def test_min_epochs_delays_early_stopping():
    module = _one_weight()

    def loss_fn(batch):
        fit = ((module(batch["x"]) - batch["y"]) ** 2).mean()
        return {"loss": fit if module.training else fit * 0 + 1.0}

    history = train(module, loss_fn, [regression(n_features=1)], config(max_epochs=50, patience=2, min_epochs=6))
    assert history.best_epoch == 5 and history.epochs_run == 8


# ---------------------------------------------------------------------------------------- grad clipping
def test_tiny_grad_clip_keeps_parameters_nearly_still():
    def movement(grad_clip: float) -> float:
        module = linear_model()
        before = parameters_of(module)
        train(module, mse(module), [regression()],
              config(max_epochs=3, learning_rate=0.1, weight_decay=0.0, grad_clip=grad_clip, val_fraction=0))
        return max((parameters_of(module)[k] - before[k]).abs().max().item() for k in before)

    # AdamW normalises gradients, so only a gradient norm far below its eps (1e-8) slows it down
    assert movement(1e-12) < 1e-3
    assert movement(0.0) > 0.3


# ------------------------------------------------------------------------------------ non-finite losses
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_loss_raises_naming_epoch_and_step(bad):
    module = linear_model()
    steps = {"count": 0}

    def loss_fn(batch):
        loss = ((module(batch["x"]) - batch["y"]) ** 2).mean()
        if module.training and batch["epoch"] == 1:
            steps["count"] += 1
            if steps["count"] == 3:
                return {"loss": loss * bad}
        return {"loss": loss}

    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 2") as error:
        train(module, loss_fn, [regression()], config(max_epochs=5))
    assert "training" in str(error.value)
    assert ("nan" if bad != bad else "inf") in str(error.value)


# -------------------------------------------------------------------------------------------- parameters
class TwoPart(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.first = nn.Linear(3, 4)
        self.second = nn.Linear(4, 1)

    def forward(self, x):
        return self.second(self.first(x))


def test_parameters_argument_restricts_what_is_optimised():
    module = TwoPart()
    before = parameters_of(module)
    train(module, mse(module), [regression()], config(max_epochs=3), parameters=list(module.second.parameters()))
    after = parameters_of(module)
    for name in ("first.weight", "first.bias"):
        assert torch.equal(after[name], before[name]), name
    for name in ("second.weight", "second.bias"):
        assert not torch.equal(after[name], before[name]), name


def test_empty_parameters_list_is_an_error_not_all_parameters():
    module = TwoPart()
    with pytest.raises(ValueError, match="parameters"):
        train(module, mse(module), [regression()], config(max_epochs=1), parameters=[])


def test_frozen_module_raises_nothing_to_optimise():
    module = linear_model()
    module.requires_grad_(False)
    with pytest.raises(ValueError, match="parameters"):
        train(module, mse(module), [regression()], config(max_epochs=1))


# ---------------------------------------------------------------------------------------------- sessions
class PerSessionModel(nn.Module):
    """Different input widths per session: a batch that mixed sessions could not run."""

    def __init__(self, widths: list[int]) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.read_in = nn.ModuleList(nn.Linear(width, 1) for width in widths)


def test_sessions_with_none_entries_and_different_sizes():
    module = PerSessionModel([3, 2, 5])
    seen: list[tuple[int, int, int]] = []

    def loss_fn(batch):
        session = batch["session"]
        if module.training:
            seen.append((batch["epoch"], session, batch["x"].shape[0]))
        prediction = module.read_in[session](batch["x"])
        return {"loss": ((prediction - batch["y"]) ** 2).mean()}

    sessions = [regression(20, 3, seed=1), None, regression(7, 5, seed=2)]
    history = train(module, loss_fn, sessions, config(max_epochs=3, batch_size=4, val_fraction=0.25))
    assert {session for _, session, _ in seen} == {0, 2}
    n_train = (20 - 5) + (7 - 2)  # round(0.25 * n) validation trials per session
    for epoch in range(3):
        assert sum(size for e, _, size in seen if e == epoch) == n_train
    assert all(size <= 4 for _, _, size in seen)
    assert "val/loss" in history.logs
    untouched = PerSessionModel([3, 2, 5]).read_in[1]  # same seed: session 1 had no data, so no update
    assert torch.equal(module.read_in[1].weight, untouched.weight)


def test_explicit_validation_uses_every_training_trial():
    module = linear_model()
    sizes = []

    def loss_fn(batch):
        if module.training:
            sizes.append((batch["epoch"], batch["x"].shape[0]))
        return mse(module)(batch)

    history = train(module, loss_fn, [regression(30)], config(max_epochs=2, batch_size=7, val_fraction=0.5),
                    validation=[regression(10, seed=9)])
    assert sum(size for epoch, size in sizes if epoch == 0) == 30
    assert len(history.logs["val/loss"]) == 2


def test_validation_with_a_different_number_of_sessions_raises():
    module = linear_model()
    with pytest.raises(ValueError, match="validation"):
        train(module, mse(module), [regression()], config(max_epochs=1), validation=[regression(), None])


def test_validation_of_none_disables_early_stopping_and_keeps_last_weights():
    module = linear_model()
    states = []
    history = train(module, mse(module), [regression()], config(max_epochs=3), validation=[None],
                    callback=lambda epoch, _: states.append(parameters_of(module)))
    assert "val/loss" not in history.logs and "train/loss" in history.logs
    assert_same_parameters(parameters_of(module), states[-1])


def test_bad_arguments_raise_clear_errors():
    module = linear_model()
    with pytest.raises(TypeError, match="module"):
        train(lambda x: x, mse(module), [regression()], config())
    with pytest.raises(TypeError, match="config"):
        train(module, mse(module), [regression()], {"max_epochs": 1})
    with pytest.raises(ValueError, match="sessions"):
        train(module, mse(module), [], config())


# ------------------------------------------------------------------------------------------ devices, config
def test_cpu_device_keeps_module_on_cpu():
    module = linear_model()
    train(module, mse(module), [regression()], config(max_epochs=1, device="cpu"))
    assert module.weight.device.type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where CUDA is missing")
def test_cuda_device_without_cuda_raises_naming_device():
    with pytest.raises(ValueError, match="device") as error:
        TrainConfig(device="cuda")
    assert "cuda" in str(error.value) and "not available" in str(error.value)


def test_a_cuda_index_this_machine_lacks_raises_naming_device():
    with pytest.raises(ValueError, match="device: 'cuda:63' was asked for"):
        TrainConfig(device="cuda:63")


@pytest.mark.parametrize("field, value", [("batch_size", 0), ("learning_rate", -1), ("val_fraction", 1.5),
                                          ("val_fraction", -0.1), ("patience", 0), ("device", "tpu"),
                                          ("max_epochs", 0), ("grad_clip", -1.0), ("checkpoint_every", 0)])
def test_bad_config_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


@pytest.mark.parametrize("field, value", [("batch_size", 2.5), ("learning_rate", "fast"), ("seed", True)])
def test_wrong_config_types_name_the_field(field, value):
    with pytest.raises(TypeError, match=field):
        TrainConfig(**{field: value})


def test_zero_val_fraction_and_zero_grad_clip_are_allowed():
    settings = TrainConfig(val_fraction=0, grad_clip=0)
    assert settings.val_fraction == 0 and settings.grad_clip == 0


# ------------------------------------------------------------------------------------------- checkpoints
N_EPOCHS, KILL_AFTER = 6, 2


def checkpoint_config(path: Path, **settings) -> TrainConfig:
    return config(max_epochs=N_EPOCHS, batch_size=8, learning_rate=1e-2, val_fraction=0.2, patience=100, seed=3,
                  checkpoint_path=str(path), checkpoint_every=1, **settings)


def test_hard_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    path = tmp_path / "run.ckpt"
    script = PROBLEM_SOURCE + textwrap.dedent(f"""
        import os
        from neuralign.train import TrainConfig, train

        def hard_kill(epoch, history):
            if epoch == {KILL_AFTER}:
                os._exit(1)  # no cleanup, no finally blocks, no atexit

        module, loss_fn, sessions = make_problem()
        config = TrainConfig(max_epochs={N_EPOCHS}, batch_size=8, learning_rate=1e-2, val_fraction=0.2,
                             patience=100, seed=3, verbose=False, device="cpu",
                             checkpoint_path={str(path)!r}, checkpoint_every=1)
        train(module, loss_fn, sessions, config, callback=hard_kill)
        raise SystemExit("the run was not killed")
        """)
    source_root = str(Path(neuralign.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]  # no temporary files left behind
    checkpoint = torch.load(path, weights_only=True)
    assert checkpoint["next_epoch"] == KILL_AFTER + 1

    module, loss_fn, sessions = make_problem()
    resumed_history = train(module, loss_fn, sessions, checkpoint_config(path, resume=True))
    resumed = parameters_of(module)

    module, loss_fn, sessions = make_problem()
    full_history = train(module, loss_fn, sessions, config(max_epochs=N_EPOCHS, batch_size=8, learning_rate=1e-2,
                                                           val_fraction=0.2, patience=100, seed=3))
    uninterrupted = parameters_of(module)

    assert not torch.equal(checkpoint["module"]["0.weight"], uninterrupted["0.weight"])
    assert_same_parameters(resumed, uninterrupted)
    assert resumed_history.epochs_run == full_history.epochs_run == N_EPOCHS
    assert resumed_history.best_epoch == full_history.best_epoch
    for key, values in full_history.logs.items():
        assert resumed_history.logs[key] == pytest.approx(values, rel=1e-6), key


def test_resume_without_a_checkpoint_file_starts_fresh(tmp_path):
    path = tmp_path / "fresh.ckpt"
    module, loss_fn, sessions = make_problem()
    history = train(module, loss_fn, sessions, checkpoint_config(path, resume=True))
    assert history.epochs_run == N_EPOCHS and path.is_file()
    with_checkpoint = parameters_of(module)
    module, loss_fn, sessions = make_problem()
    train(module, loss_fn, sessions, checkpoint_config(tmp_path / "other.ckpt"))
    assert_same_parameters(with_checkpoint, parameters_of(module))


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    path = tmp_path / "done.ckpt"
    module, loss_fn, sessions = make_problem()
    first = train(module, loss_fn, sessions, checkpoint_config(path))
    finished = parameters_of(module)
    module, loss_fn, sessions = make_problem()
    again = train(module, loss_fn, sessions, checkpoint_config(path, resume=True))
    assert_same_parameters(parameters_of(module), finished)
    assert again.epochs_run == first.epochs_run and again.logs == first.logs


def test_resuming_an_early_stopped_run_trains_no_further(tmp_path):
    path = tmp_path / "stopped.ckpt"
    x = torch.randn(32, 1, generator=torch.Generator().manual_seed(0))
    settings = dict(max_epochs=100, batch_size=32, learning_rate=0.1, weight_decay=0.0, patience=3,
                    checkpoint_path=str(path), checkpoint_every=50)

    def run(resume: bool):
        module = _one_weight()
        history = train(module, mse(module), [{"x": x, "y": 2 * x}], config(resume=resume, **settings),
                        validation=[{"x": x, "y": x}])
        return history, parameters_of(module)

    first, first_state = run(False)
    assert first.stopped_early and first.epochs_run < 100
    second, second_state = run(True)
    assert second.stopped_early
    assert second.epochs_run == first.epochs_run and second.best_epoch == first.best_epoch
    assert_same_parameters(second_state, first_state)


@pytest.mark.parametrize("damage", ["random_bytes", "truncated", "empty"])
def test_corrupt_checkpoint_raises_naming_the_path(tmp_path, damage):
    path = tmp_path / "broken.ckpt"
    module, loss_fn, sessions = make_problem()
    train(module, loss_fn, sessions, config(max_epochs=1, checkpoint_path=str(path)))
    blob = path.read_bytes()
    if damage == "random_bytes":
        path.write_bytes(os.urandom(2000))
    elif damage == "truncated":
        path.write_bytes(blob[: len(blob) // 2])
    else:
        path.write_bytes(b"")
    module, loss_fn, sessions = make_problem()
    with pytest.raises(ValueError) as error:
        train(module, loss_fn, sessions, config(max_epochs=2, checkpoint_path=str(path), resume=True))
    assert str(path) in str(error.value)


def test_checkpoint_of_a_different_model_raises(tmp_path):
    path = tmp_path / "linear.ckpt"
    module = linear_model()
    train(module, mse(module), [regression()], config(max_epochs=1, checkpoint_path=str(path)))
    other = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="different model") as error:
        train(other, mse(other), [regression()], config(max_epochs=2, checkpoint_path=str(path), resume=True))
    assert str(path) in str(error.value)


def test_file_that_is_not_a_training_checkpoint_raises(tmp_path):
    path = tmp_path / "weights.pt"
    module = linear_model()
    torch.save(module.state_dict(), path)
    with pytest.raises(ValueError, match="not a neuralign training checkpoint"):
        train(module, mse(module), [regression()], config(max_epochs=1, checkpoint_path=str(path), resume=True))
    checkpoint_path = tmp_path / "future.ckpt"
    train(module, mse(module), [regression()], config(max_epochs=1, checkpoint_path=str(checkpoint_path)))
    blob = torch.load(checkpoint_path, weights_only=True)
    blob["format_version"] = 99
    torch.save(blob, checkpoint_path)
    with pytest.raises(ValueError, match="version 99"):
        train(module, mse(module), [regression()],
              config(max_epochs=2, checkpoint_path=str(checkpoint_path), resume=True))


def test_checkpoint_is_written_every_n_epochs_and_at_the_end(tmp_path):
    path = tmp_path / "every.ckpt"
    next_epochs = []
    module = linear_model()
    train(module, mse(module), [regression()], config(max_epochs=5, checkpoint_path=str(path), checkpoint_every=2),
          callback=lambda epoch, _: next_epochs.append(torch.load(path, weights_only=True)["next_epoch"]
                                                       if path.exists() else None))
    assert next_epochs == [None, 2, 2, 4, 5]


def test_cosine_schedule_lowers_the_learning_rate_epoch_by_epoch():
    # loss = w with a constant gradient: each Adam step moves w by exactly that step's learning rate
    module = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        module.weight.zero_()
    positions: list[float] = []
    train(module, lambda batch: {"loss": module.weight.sum() + 0 * batch["x"].sum()}, [{"x": torch.zeros(1, 1)}],
          config(max_epochs=4, batch_size=1, learning_rate=0.1, weight_decay=0.0, grad_clip=0.0, val_fraction=0.0,
                 lr_schedule="cosine"),
          callback=lambda epoch, history: positions.append(float(module.weight.detach())))
    steps = -torch.diff(torch.tensor([0.0] + positions))
    expected = 0.1 * 0.5 * (1 + torch.cos(torch.pi * torch.arange(4) / 4))
    torch.testing.assert_close(steps, expected, rtol=1e-4, atol=1e-7)
    with pytest.raises(ValueError, match="lr_schedule: expected one of"):
        config(lr_schedule="step")


# ------------------------------------------------------------------------------------------ honest reports
def test_without_validation_the_last_epoch_is_kept_and_no_best_validation_loss_is_reported(recwarn):
    module, loss_fn, sessions = make_problem()
    states = []
    history = train(module, loss_fn, sessions, config(max_epochs=4, val_fraction=0),
                    callback=lambda epoch, _: states.append(parameters_of(module)))
    assert not history.validated and history.best_epoch == -1 and history.best_val_loss == float("inf")
    assert history.kept_epoch == 3 and history.kept_loss == history.logs["train/loss"][-1]
    assert history.kept_loss_kind == "training"
    assert_same_parameters(parameters_of(module), states[-1])
    assert "no validation split: kept the last epoch's weights (training loss" in history.summary()
    assert "best" not in history.summary().replace("no best epoch", "")
    assert not [w for w in recwarn if "validation" in str(w.message)]  # val_fraction=0 was asked for: no warning


def test_a_validation_split_too_small_to_make_is_said():
    module, loss_fn, _ = make_problem()
    with pytest.warns(UserWarning, match=r"val_fraction=0.5: no validation split.*trials per session: \[3\]"):
        history = train(module, loss_fn, [regression(3)], config(max_epochs=2, val_fraction=0.5))
    assert not history.validated and history.kept_epoch == 1


def test_a_run_shorter_than_the_warm_up_reports_the_validation_loss_that_exists():
    module, loss_fn, sessions = make_problem()
    states = []
    with pytest.warns(UserWarning, match="max_epochs=3 is below min_epochs=10.*the validation loss reported is the "
                                         "last epoch's, not a best one"):
        history = train(module, loss_fn, sessions, config(max_epochs=3, min_epochs=10, val_fraction=0.25),
                        callback=lambda epoch, _: states.append(parameters_of(module)))
    assert history.validated and history.best_epoch == -1 and history.best_val_loss == float("inf")
    assert history.kept_epoch == 2 and history.kept_loss == history.logs["val/loss"][-1]
    assert_same_parameters(parameters_of(module), states[-1])
    assert history.summary() == (f"3 epochs, all within the warm-up (min_epochs): no best epoch was chosen; kept the "
                                 f"last epoch's weights (validation loss {history.kept_loss:.4g})")


def test_with_validation_the_kept_epoch_is_the_best():
    module, loss_fn, sessions = make_problem()
    history = train(module, loss_fn, sessions, config(max_epochs=6, val_fraction=0.25))
    assert history.kept_epoch == history.best_epoch >= 0 and history.kept_loss == history.best_val_loss
    assert f"kept epoch {history.best_epoch + 1}, the best validation loss" in history.summary()
