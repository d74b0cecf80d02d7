"""The one training loop of neuralign.

Every model hands this loop a ``torch.nn.Module``, a loss function and its data as a list of sessions (dicts
of tensors whose leading axis is trials). The loop owns: seeded shuffling and validation split, minibatches
across sessions, the optimiser, gradient clipping, a clear error on a non-finite loss, early stopping on the
validation loss (restoring the best weights), a tqdm progress bar, device choice and atomic checkpoints that
resume to exactly the same result as an uninterrupted run.

Determinism: at the start of epoch ``e`` the global torch RNG and the shuffling generator are both seeded
from ``(seed, e)``, so a run resumed from a checkpoint after epoch ``e - 1`` replays epoch ``e`` exactly.

Data parallel: launched by ``torchrun`` after ``distributed_context()`` (``neuralign.distributed``), the same loop
trains across processes: DistributedDataParallel, each process a share of every global minibatch, losses averaged
over processes, rank 0 alone showing progress and writing checkpoints (see that module).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from neuralign._atomic import load_torch, save_torch
from neuralign._checks import describe, fraction, one_of, positive_float, positive_int
from neuralign.distributed import (DistributedContext, all_reduce_sums, check_batch_size, check_device,
                                   current_context, distributed_context, same_in_every_process, shard, wrap_loss)

__all__ = ["History", "NonFiniteLossError", "TrainConfig", "distributed_context", "epoch_hook", "resolve_device",
           "split_sessions", "train"]

LR_SCHEDULES = ("constant", "cosine")  # see TrainConfig.lr_schedule
CHECKPOINT_FORMAT = "neuralign.train_checkpoint"
CHECKPOINT_VERSION = 1

Batch = dict[str, Any]
LossFunction = Callable[[Batch], dict[str, torch.Tensor]]


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or Inf during training."""


@dataclass
class TrainConfig:
    """Settings of the training loop.

    max_epochs : passes over the training trials.
    batch_size : trials per minibatch (within one session); with N processes (torchrun), the global minibatch,
        of which each process takes batch_size / N trials (so it must be a multiple of N).
    learning_rate, weight_decay : AdamW settings.
    lr_schedule : "constant", or "cosine": the learning rate falls from ``learning_rate`` towards 0 over
        ``max_epochs`` (half a cosine, set at the start of each epoch).
    grad_clip : maximum global gradient norm (0 disables clipping).
    val_fraction : fraction of each session's trials held out for early stopping (0 disables it).
    patience : epochs without a validation improvement before stopping.
    min_epochs : epochs before early stopping is considered (e.g. the KL warm-up).
    seed : seeds the split, the shuffling, initialisation noise and dropout.
    device : "cpu", "cuda", "cuda:1", ... or None for CUDA when available, else CPU.
    verbose : show a progress bar (only when stderr is a terminal).
    checkpoint_path : where to write checkpoints (None: no checkpoints).
    checkpoint_every : epochs between checkpoints.
    resume : continue from ``checkpoint_path`` when it exists.
    """

    max_epochs: int = 300
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    lr_schedule: str = "constant"
    grad_clip: float = 5.0
    val_fraction: float = 0.1
    patience: int = 40
    min_epochs: int = 0
    seed: int = 0
    device: str | None = None
    verbose: bool = True
    checkpoint_path: str | None = None
    checkpoint_every: int = 10
    resume: bool = False

    def __post_init__(self) -> None:
        positive_int("max_epochs", self.max_epochs)
        positive_int("batch_size", self.batch_size)
        positive_float("learning_rate", self.learning_rate)
        positive_float("weight_decay", self.weight_decay, allow_zero=True)
        one_of("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        positive_float("grad_clip", self.grad_clip, allow_zero=True)
        if self.val_fraction != 0:
            fraction("val_fraction", self.val_fraction)
        positive_int("patience", self.patience)
        positive_int("min_epochs", self.min_epochs, minimum=0)
        positive_int("seed", self.seed, minimum=0)
        positive_int("checkpoint_every", self.checkpoint_every)
        resolve_device(self.device)


@dataclass
class History:
    """What happened during training: per-epoch logs keyed ``"{split}/name"``, best epoch, time, and which
    weights the module was left with.

    best_epoch, best_val_loss : the epoch (0-based) with the lowest validation loss past the warm-up
        (``min_epochs``) and that loss; -1 and inf when there was no validation split or no epoch past the
        warm-up. Never a training loss.
    validated : whether a validation split was used (early stopping and the choice of the best epoch need one).
    kept_epoch, kept_loss : the epoch whose weights the module holds after training and their loss: the best
        epoch's validation loss; or, with validation but no epoch past the warm-up, the last epoch's validation
        loss; or, without validation, the last epoch's training loss (``kept_loss_kind`` says which).
    """

    logs: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = -1
    best_val_loss: float = float("inf")
    epochs_run: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    validated: bool = False
    kept_epoch: int = -1
    kept_loss: float = float("nan")

    def append(self, values: dict[str, float]) -> None:
        for key, value in values.items():
            self.logs.setdefault(key, []).append(float(value))

    @property
    def kept_loss_kind(self) -> str:
        """"validation" or "training": which loss ``kept_loss`` is."""
        return "validation" if self.validated else "training"

    def summary(self) -> str:
        """One line saying how many epochs ran and which weights were kept, with the loss that exists for them."""
        if self.epochs_run == 0 or self.kept_epoch < 0:
            return "no epoch was run"
        epochs = f"{self.epochs_run} epoch{'s' if self.epochs_run != 1 else ''}"
        if not self.validated:
            return (f"{epochs}, no validation split: kept the last epoch's weights (training loss "
                    f"{self.kept_loss:.4g}; no early stopping, no best epoch)")
        if self.best_epoch < 0:
            return (f"{epochs}, all within the warm-up (min_epochs): no best epoch was chosen; kept the last "
                    f"epoch's weights (validation loss {self.kept_loss:.4g})")
        stopped = ", stopped early" if self.stopped_early else ""
        return (f"{epochs}{stopped}: kept epoch {self.best_epoch + 1}, the best validation loss "
                f"{self.best_val_loss:.4g}")


_EPOCH_HOOKS: list[Callable[[int, History], None]] = []


@contextlib.contextmanager
def epoch_hook(hook: Callable[[int, History], None]) -> Iterator[None]:
    """Inside the block, every ``train`` call runs ``hook(epoch, history)`` after each epoch (after its checkpoint
    and its own ``callback``): how a caller that only holds an Estimator (``fit`` runs the loop) follows its
    training, e.g. a sweep reporting each epoch to Ray Tune."""
    if not callable(hook):
        raise TypeError(f"hook: expected a function (epoch, history) -> None, got {describe(hook)}.")
    _EPOCH_HOOKS.append(hook)
    try:
        yield
    finally:
        _EPOCH_HOOKS.remove(hook)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` -> CUDA when available, else CPU; otherwise the named device (checked to exist)."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise ValueError(f"device: expected 'cpu', 'cuda', 'cuda:N' or None, got {device!r}.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} was asked for but CUDA is not available here; use device=None or 'cpu'.")
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= torch.cuda.device_count():
        raise ValueError(f"device: {device!r} was asked for but this machine has {torch.cuda.device_count()} CUDA "
                         "device(s); use device=None, 'cuda' or 'cpu'.")
    return resolved


def _epoch_generator(seed: int, epoch: int, context: DistributedContext) -> torch.Generator:
    """The shuffling generator (the same in every process); the global RNG gets each process its own draws."""
    generator = torch.Generator()
    generator.manual_seed(seed * 1_000_003 + epoch)
    torch.manual_seed((seed * 1_000_003 + epoch) * context.world_size + context.rank)
    return generator


def split_sessions(sessions: Sequence[Batch | None], val_fraction: float,
                   seed: int) -> tuple[list[Batch | None], list[Batch | None]]:
    """Split each session's trials into train and validation parts (seeded; at least one trial each)."""
    train_parts, val_parts = [], []
    rng = np.random.default_rng(seed)
    for session in sessions:
        if session is None:
            train_parts.append(None)
            val_parts.append(None)
            continue
        n_trials = _n_trials(session)
        n_val = int(round(val_fraction * n_trials))
        if val_fraction > 0 and n_trials >= 4:
            n_val = min(max(n_val, 1), n_trials - 1)
        else:
            n_val = 0
        order = rng.permutation(n_trials)
        train_parts.append(_take(session, torch.as_tensor(np.sort(order[n_val:]))))
        val_parts.append(_take(session, torch.as_tensor(np.sort(order[:n_val]))) if n_val else None)
    return train_parts, val_parts


def _n_trials(session: Batch) -> int:
    return next(v.shape[0] for v in session.values() if isinstance(v, torch.Tensor))


def _take(session: Batch, index: torch.Tensor) -> Batch:
    return {k: (v[index.to(v.device)] if isinstance(v, torch.Tensor) else v) for k, v in session.items()}


def _batches(sessions: Sequence[Batch | None], batch_size: int,
             generator: torch.Generator | None) -> list[tuple[int, torch.Tensor]]:
    """(session index, trial indices) for every minibatch of one epoch, shuffled when a generator is given."""
    batches = []
    for index, session in enumerate(sessions):
        if session is None:
            continue
        n_trials = _n_trials(session)
        order = torch.randperm(n_trials, generator=generator) if generator is not None else torch.arange(n_trials)
        batches += [(index, chunk) for chunk in order.split(batch_size)]
    if generator is not None:
        batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
    return batches


def _to_device(session: Batch | None, device: torch.device) -> Batch | None:
    if session is None:
        return None
    return {k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in session.items()}


def train(module: torch.nn.Module, loss_fn: LossFunction, sessions: Sequence[Batch], config: TrainConfig, *,
          parameters: Sequence[torch.nn.Parameter] | None = None,
          validation: Sequence[Batch | None] | None = None,
          callback: Callable[[int, History], None] | None = None) -> History:
    """Fit ``module`` by minimising ``loss_fn`` over minibatches of ``sessions``.

    Parameters
    ----------
    module : the model; moved to the configured device and left there.
    loss_fn : called with a batch dict (the session's tensors for a minibatch of trials, plus ``"session"``,
        the session index, and ``"epoch"``); returns a dict with a scalar ``"loss"`` and any other scalars
        to log.
    sessions : one dict of tensors per session; every tensor's leading axis is trials.
    config : the loop's settings.
    parameters : the parameters to optimise (default: all of ``module``'s that require gradients).
    validation : validation sessions (same layout, None for a session without); default: split off
        ``config.val_fraction`` of each session's trials.
    callback : called as ``callback(epoch, history)`` after each epoch (and after its checkpoint).

    Returns
    -------
    History; ``module`` holds the weights of the best validation epoch, or of the last epoch when there is no
    validation split or no epoch past the warm-up (``History.kept_epoch``; a warning says why).

    In a process group (``distributed_context()``, torchrun) every process calls ``train`` with the same
    arguments; each trains on its share of every minibatch; the logs (and so the history and early stopping) are
    averaged over processes; only rank 0 shows progress and writes the checkpoint; ``callback`` runs in every
    process.
    """
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module: expected a torch.nn.Module, got {describe(module)}.")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config: expected a TrainConfig, got {describe(config)}.")
    if not sessions:
        raise ValueError("sessions: expected at least one session of training data, got none.")
    context = current_context()
    check_batch_size(context, config.batch_size)
    device = check_device(context, resolve_device(config.device))
    module.to(device)
    if validation is None:
        train_sessions, val_sessions = split_sessions(sessions, config.val_fraction, config.seed)
    else:
        if len(validation) != len(sessions):
            raise ValueError(f"validation: expected one entry per session ({len(sessions)}, None for a session "
                             f"without validation data), got {len(validation)}.")
        train_sessions, val_sessions = list(sessions), list(validation)
    train_sessions = [_to_device(s, device) for s in train_sessions]
    val_sessions = [_to_device(s, device) for s in val_sessions]
    use_validation = any(s is not None for s in val_sessions)
    if context.is_main:
        _warn_about_the_report(config, sessions, use_validation, validation is None)
    parameters = [p for p in (module.parameters() if parameters is None else parameters) if p.requires_grad]
    if not parameters:
        raise ValueError("parameters: nothing to optimise (no parameter requires gradients).")
    optimizer = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
    history, best_state, bad_epochs, start_epoch = History(), None, 0, 0
    if config.resume and config.checkpoint_path:
        resumed = _load_checkpoint(config.checkpoint_path, module, optimizer, device)
        if resumed is not None:
            history, best_state, bad_epochs, start_epoch = resumed
            for group in optimizer.param_groups:  # this run's settings, e.g. a rate a PBT sweep perturbed
                group["lr"], group["weight_decay"] = config.learning_rate, config.weight_decay
            if use_validation and bad_epochs >= config.patience:  # the checkpointed run had stopped early
                history.stopped_early, start_epoch = True, max(start_epoch, config.max_epochs)
        same_in_every_process("checkpoint_path", start_epoch, context,
                              f"they read different checkpoints at {config.checkpoint_path!r}; put it where every "
                              "process reads the same file (rank 0 writes it).")
    wrapped = wrap_loss(module, loss_fn, device) if context.active else None
    history.validated = use_validation
    started = time.perf_counter() - history.seconds
    cpu_started = time.process_time() - history.cpu_seconds
    show = config.verbose and sys.stderr.isatty() and context.is_main
    progress = tqdm(range(start_epoch, config.max_epochs), disable=not show, desc=type(module).__name__,
                    initial=start_epoch, total=config.max_epochs, leave=False)
    for epoch in progress:
        generator = _epoch_generator(config.seed, epoch, context)
        if config.lr_schedule == "cosine":
            for group in optimizer.param_groups:
                group["lr"] = config.learning_rate * 0.5 * (1.0 + math.cos(math.pi * epoch / config.max_epochs))
        module.train()
        train_loss = loss_fn if wrapped is None else wrapped  # DDP: the backward pass averages the gradients
        train_logs = _run_epoch(module, train_loss, train_sessions, config, epoch, generator, optimizer, parameters,
                                context)
        logs = {f"train/{k}": v for k, v in train_logs.items()}
        if use_validation:
            module.eval()
            with torch.no_grad():
                val_logs = _run_epoch(module, loss_fn, val_sessions, config, epoch, None, None, parameters, context)
            logs.update({f"val/{k}": v for k, v in val_logs.items()})
        history.append(logs)
        history.epochs_run = epoch + 1
        if use_validation and epoch + 1 >= config.min_epochs:  # no validation: no best epoch, the last is kept
            if logs["val/loss"] < history.best_val_loss:
                history.best_val_loss, history.best_epoch, bad_epochs = logs["val/loss"], epoch, 0
                best_state = copy.deepcopy(module.state_dict())
            else:
                bad_epochs += 1
        progress.set_postfix(train=f"{logs['train/loss']:.4g}",
                             val=f"{logs.get('val/loss', float('nan')):.4g}", refresh=False)
        history.seconds, history.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        stop = use_validation and bad_epochs >= config.patience
        history.stopped_early = stop
        if config.checkpoint_path and context.is_main and ((epoch + 1) % config.checkpoint_every == 0 or stop
                                                           or epoch + 1 == config.max_epochs):
            _save_checkpoint(config.checkpoint_path, module, optimizer, history, best_state, bad_epochs, epoch + 1)
        if callback is not None:
            callback(epoch, history)
        for hook in list(_EPOCH_HOOKS):
            hook(epoch, history)
        if stop:
            break
    progress.close()
    if best_state is not None and use_validation:
        module.load_state_dict(best_state)
        history.kept_epoch, history.kept_loss = history.best_epoch, history.best_val_loss
    elif history.epochs_run:
        history.kept_epoch = history.epochs_run - 1
        history.kept_loss = history.logs["val/loss" if use_validation else "train/loss"][-1]
    history.seconds, history.cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    return history


def _warn_about_the_report(config: TrainConfig, sessions: Sequence[Batch | None], use_validation: bool,
                           split_here: bool) -> None:
    """Warn when the loop cannot choose a best epoch: no validation split although one was asked for, or a
    warm-up (``min_epochs``) longer than the whole run."""
    if not use_validation and split_here and config.val_fraction > 0:
        trials = [_n_trials(s) for s in sessions if s is not None]
        warnings.warn(f"val_fraction={config.val_fraction}: no validation split, since a split needs at least 4 "
                      f"trials in a session (trials per session: {trials}); training without validation: no early "
                      "stopping, no best epoch, the last epoch's weights are kept.", stacklevel=3)
    if config.max_epochs < config.min_epochs:
        kept = ("the last epoch's weights are kept and the validation loss reported is the last epoch's, not a "
                "best one" if use_validation else "the last epoch's weights are kept")
        warnings.warn(f"max_epochs={config.max_epochs} is below min_epochs={config.min_epochs}, the warm-up (e.g. "
                      f"the KL warm-up) before a best epoch is chosen: the warm-up does not finish and {kept}. Raise "
                      f"max_epochs to at least {config.min_epochs}, or shorten the warm-up.", stacklevel=3)


def _run_epoch(module: torch.nn.Module, loss_fn: LossFunction | torch.nn.Module, sessions: Sequence[Batch | None],
               config: TrainConfig, epoch: int, generator: torch.Generator | None,
               optimizer: torch.optim.Optimizer | None, parameters: Sequence[torch.nn.Parameter],
               context: DistributedContext) -> dict[str, float]:
    """One pass over ``sessions``; trains when an optimizer is given. Returns trial-weighted mean logs (over
    every process's trials, in a process group, where each process takes its share of every minibatch and
    ``loss_fn`` is the DDP-wrapped loss when training)."""
    totals: dict[str, float] = {}
    n_seen = 0
    for step, (session_index, index) in enumerate(_batches(sessions, config.batch_size, generator)):
        weight = 1.0
        if context.active:
            index, weight = shard(index, context)
        batch = _take(sessions[session_index], index.to(next(iter(sessions[session_index].values())).device))
        batch.update(session=session_index, epoch=epoch)
        out = loss_fn(batch)
        loss = out["loss"]
        if not torch.isfinite(loss):
            phase = "training" if optimizer is not None else "validation"
            raise NonFiniteLossError(
                f"loss became {loss.item()} at epoch {epoch}, step {step} ({phase}, session {session_index}); "
                "check the data for extreme values, or lower learning_rate.")
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            (loss if weight == 1.0 else loss * weight).backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(parameters, config.grad_clip)
            optimizer.step()
        size = len(index) if weight > 0 else 0
        n_seen += size
        for key, value in out.items():
            totals[key] = totals.get(key, 0.0) + float(value.detach()) * size
    if context.active:
        totals, n_seen = all_reduce_sums(totals, n_seen, context)
    return {key: value / max(n_seen, 1) for key, value in totals.items()}


def _save_checkpoint(path: str, module: torch.nn.Module, optimizer: torch.optim.Optimizer, history: History,
                     best_state: dict | None, bad_epochs: int, next_epoch: int) -> None:
    save_torch({"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
                "next_epoch": next_epoch, "bad_epochs": bad_epochs,
                "module": module.state_dict(), "optimizer": optimizer.state_dict(), "best_state": best_state,
                "history": dataclasses.asdict(history)}, path)


def _load_checkpoint(path: str, module: torch.nn.Module, optimizer: torch.optim.Optimizer,
                     device: torch.device) -> tuple[History, dict | None, int, int] | None:
    from pathlib import Path

    if not Path(path).exists():
        return None
    checkpoint = load_torch(path, expected="a neuralign training checkpoint")
    if checkpoint.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"checkpoint_path: {path!r} is not a neuralign training checkpoint.")
    if checkpoint.get("format_version") != CHECKPOINT_VERSION:
        raise ValueError(f"checkpoint_path: {path!r} has format version {checkpoint.get('format_version')}, "
                         f"this neuralign reads version {CHECKPOINT_VERSION}.")
    try:
        module.load_state_dict(checkpoint["module"])
    except RuntimeError as error:
        raise ValueError(f"checkpoint_path: {path!r} was written for a different model: {error}") from None
    optimizer.load_state_dict(checkpoint["optimizer"])
    best_state = checkpoint["best_state"]
    if best_state is not None:
        best_state = {k: v.to(device) for k, v in best_state.items()}
    history = History(**checkpoint["history"])
    return history, best_state, int(checkpoint["bad_epochs"]), int(checkpoint["next_epoch"])
