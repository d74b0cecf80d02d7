"""Data-parallel training: the process group ``torchrun`` describes, and the pieces the one training loop
(``neuralign.train``) uses to train across processes. Nothing here trains.

``torchrun --nproc-per-node N PROGRAM`` starts N copies of PROGRAM and sets RANK, WORLD_SIZE, LOCAL_RANK,
MASTER_ADDR and MASTER_PORT in each one's environment. ``distributed_context()`` joins the process group they
describe (gloo when training runs on the CPU, NCCL on CUDA, one GPU per process: ``cuda:LOCAL_RANK``). Once it is
joined, ``train`` wraps the module in DistributedDataParallel and every process draws the same shuffled order of
global minibatches from the seed and takes its ``1 / N`` of each (``shard``); gradients are averaged by DDP,
logged losses and the validation loss by ``all_reduce_sums``, so every process makes the same early-stopping
decision; only rank 0 shows a progress bar and writes checkpoints.

What matches a single process: with a loss that is a mean over the batch's trials and no randomness, N processes
with global batch B give a single process's result with batch B, up to floating-point order. Random draws inside
the loss (masks, dropout, reparameterisation noise) are each process's own, seeded from (seed, epoch, rank): the
same distribution as one process draws, not the same numbers.
"""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

BACKENDS = {"cpu": "gloo", "cuda": "nccl"}  # the backend of the device that training runs on


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands: its rank among ``world_size`` processes (0 of 1 without a process group)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str = ""

    @property
    def active(self) -> bool:
        """More than one process trains together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that shows progress and writes files."""
        return self.rank == 0

    def close(self) -> None:
        """Leave the process group (at the end of a program that called ``distributed_context``), once every
        process has come this far. The DistributedDataParallel wrappers that training left behind (reference
        cycles) are collected first: freed only while Python shuts down, their hold on the group's gloo threads
        can abort the process ("terminate called without an active exception")."""
        if self.active and torch.distributed.is_initialized():
            gc.collect()
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def distributed_context(device: str | torch.device | None = None) -> DistributedContext:
    """Join the process group that torchrun's environment variables describe; a single process without them.

    Parameters
    ----------
    device : the device training will use, as ``TrainConfig.device`` (None: CUDA when available, else CPU). It
        chooses the backend: gloo for the CPU, NCCL for CUDA (where each process then uses ``cuda:LOCAL_RANK``).

    Returns
    -------
    DistributedContext. With WORLD_SIZE unset or 1 nothing is initialised (rank 0 of 1); when a process group
    exists already (a second call, or one set up by the caller) it is described, not joined again.
    """
    from neuralign.train import resolve_device  # train imports this module

    world_size = _environment_int("WORLD_SIZE", default=1, minimum=1)
    if world_size == 1:
        return DistributedContext()
    if not torch.distributed.is_available():
        raise ValueError(f"WORLD_SIZE: {world_size} processes were asked for, but this PyTorch build has no "
                         "torch.distributed; run one process (without torchrun).")
    if torch.distributed.is_initialized():
        return current_context()
    rank = _environment_int("RANK", minimum=0)
    if rank >= world_size:
        raise ValueError(f"RANK: expected a rank below WORLD_SIZE={world_size}, got {rank}.")
    local_rank = _environment_int("LOCAL_RANK", default=rank, minimum=0)
    missing = [name for name in ("MASTER_ADDR", "MASTER_PORT") if not os.environ.get(name)]
    if missing:
        raise ValueError(f"{missing[0]}: WORLD_SIZE={world_size} needs MASTER_ADDR and MASTER_PORT in the "
                         f"environment (torchrun sets them), but {' and '.join(missing)} is not set; launch with "
                         "`torchrun --nproc-per-node N ...`.")
    resolved = resolve_device(device)
    if resolved.type not in BACKENDS:
        raise ValueError(f"device: data-parallel training runs on 'cpu' or 'cuda', got {str(resolved)!r}.")
    if resolved.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"LOCAL_RANK: process {local_rank} on this machine needs cuda:{local_rank}, but there "
                             f"are {torch.cuda.device_count()} CUDA device(s); start at most that many processes "
                             "per machine, or pass device='cpu'.")
        torch.cuda.set_device(local_rank)
    torch.distributed.init_process_group(BACKENDS[resolved.type], rank=rank, world_size=world_size)
    return current_context()


def current_context() -> DistributedContext:
    """The process group this process has joined, or rank 0 of 1 when there is none."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return DistributedContext()
    rank = torch.distributed.get_rank()
    return DistributedContext(rank=rank, world_size=torch.distributed.get_world_size(),
                              local_rank=int(os.environ.get("LOCAL_RANK", rank)),
                              backend=str(torch.distributed.get_backend()))


def check_batch_size(context: DistributedContext, batch_size: int) -> None:
    """A global minibatch must split evenly: each of the ``world_size`` processes takes the same share."""
    if context.active and batch_size % context.world_size:
        raise ValueError(f"batch_size: expected a multiple of the number of processes ({context.world_size}), since "
                         f"each takes batch_size / {context.world_size} trials of every global minibatch; got "
                         f"{batch_size}. Set batch_size to a multiple of {context.world_size} (e.g. "
                         f"{context.world_size * max(1, round(batch_size / context.world_size))}), or start as many "
                         "processes as divide it.")


def check_device(context: DistributedContext, device: torch.device) -> torch.device:
    """The device this process trains on (``cuda`` becomes this process's GPU); NCCL cannot train on the CPU."""
    if not context.active:
        return device
    if context.backend == "nccl" and device.type != "cuda":
        raise ValueError(f"device: the process group uses NCCL, which reduces CUDA tensors only, but training was "
                         f"asked to run on {str(device)!r}; pass the same device to distributed_context() and to "
                         "the model (gloo is chosen for the CPU).")
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


class _LossModule(nn.Module):
    """The model and its loss as one module, so that DistributedDataParallel sees the loss function's forward
    pass (a loss may call any of the model's methods, not only ``forward``)."""

    def __init__(self, module: nn.Module, loss_fn: Callable[[dict[str, Any]], dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.module = module
        self.loss_fn = loss_fn

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.loss_fn(batch)


def wrap_loss(module: nn.Module, loss_fn: Callable[[dict[str, Any]], dict[str, torch.Tensor]],
              device: torch.device) -> nn.Module:
    """``loss_fn`` behind DistributedDataParallel: calling the result with a batch runs the loss and makes the
    backward pass average the gradients over processes. Parameters a batch does not use (other sessions' read-ins
    or context tokens) are allowed; their gradients are left untouched, as in a single process."""
    return nn.parallel.DistributedDataParallel(_LossModule(module, loss_fn),
                                               device_ids=[device.index] if device.type == "cuda" else None,
                                               find_unused_parameters=True)


def shard(index: torch.Tensor, context: DistributedContext) -> tuple[torch.Tensor, float]:
    """This process's share of a global minibatch's trial indices, and the weight of its loss.

    The weight ``len(share) * world_size / len(index)`` makes DDP's average of the processes' gradients the
    gradient of the mean over the whole global minibatch, also for the short last minibatch of a session that
    does not split evenly. A process whose share is empty gets the first trial with weight 0 (it must still take
    part in the gradient average).
    """
    share = index.tensor_split(context.world_size)[context.rank]
    if len(share) == 0:
        return index[:1], 0.0
    return share, len(share) * context.world_size / len(index)


def all_reduce_sums(totals: dict[str, float], count: int,
                    context: DistributedContext) -> tuple[dict[str, float], int]:
    """Sum ``totals`` (the same keys in every process) and ``count`` over the processes."""
    keys = sorted(totals)
    values = torch.tensor([totals[key] for key in keys] + [float(count)], dtype=torch.float64,
                          device=_reduction_device(context))
    torch.distributed.all_reduce(values)
    summed = values.tolist()
    return dict(zip(keys, summed[:-1])), int(round(summed[-1]))


def same_in_every_process(name: str, value: int, context: DistributedContext, why: str) -> None:
    """Raise when ``value`` differs between processes (e.g. the epoch each resumes from)."""
    if not context.active:
        return
    low = torch.tensor([value], dtype=torch.int64, device=_reduction_device(context))
    high = low.clone()
    torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
    torch.distributed.all_reduce(high, op=torch.distributed.ReduceOp.MAX)
    if low.item() != high.item():
        raise ValueError(f"{name}: the processes disagree ({low.item()} in one, {high.item()} in another); {why}")


def _reduction_device(context: DistributedContext) -> torch.device:
    """Where the backend reduces tensors: this process's GPU for NCCL, the CPU for gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if context.backend == "nccl" else torch.device("cpu")


def _environment_int(name: str, *, default: int | None = None, minimum: int = 0) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        if default is None:
            raise ValueError(f"{name}: expected an integer in the environment (torchrun sets it), got nothing; "
                             "launch with `torchrun --nproc-per-node N ...`.")
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}: expected an integer >= {minimum} in the environment, got {text!r}.") from None
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum} in the environment, got {value}.")
    return value
