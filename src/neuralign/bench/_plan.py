"""A benchmark as independent units of work and a combiner: run in this process or spread over Ray workers.

Each benchmark module defines ``plan(*, quick, seeds[, seed_set]) -> Plan``: a list of :class:`Task` (a
module-level function and its keyword arguments, e.g. one (seed, method) fit and its scores) and a ``combine``
that turns their results, keyed by task, into the table's rows. :func:`execute` runs the tasks one after another
here, or (``workers``) as Ray tasks on a local cluster or on the one at ``address``; everything else (the
plan, the combiner, the rows, the checkpoint) is shared, so both give the same figures and differ only in timings.

Same figures in any process and any order: every task starts with the global RNGs (Python, NumPy, torch) seeded
from its key and with the same number of torch threads (``threads``: by default this process's), and a task's
result depends only on its arguments. A Ray worker also works in this process's directory (reports land in the
same place).
"""

from __future__ import annotations

import inspect
import json
import os
import random
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from neuralign._atomic import atomic_path
from neuralign._checks import describe, positive_int


@dataclass(frozen=True)
class Task:
    """One independent unit of a benchmark: ``function(**arguments)`` (plus ``progress=`` when the function takes
    it). ``function`` is defined at a module's top level, so that a Ray worker imports it by name; ``key``
    names the result for the combiner (unique within a plan); ``threads``: torch threads for this task (None: the
    runner's)."""

    key: str
    function: Callable[..., Any]
    arguments: dict[str, Any] = field(default_factory=dict)
    threads: int | None = None


@dataclass
class Plan:
    """A benchmark's tasks and the combiner of their results (``{key: result}``, in task order) into rows.

    ``identity``: what a checkpoint must match to be resumed (the options that change the tasks); None when the
    results are not plain JSON values (models, figures), so the plan cannot be checkpointed.
    """

    tasks: list[Task]
    combine: Callable[[dict[str, Any]], list]
    identity: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        keys = [task.key for task in self.tasks]
        if len(set(keys)) != len(keys):
            raise ValueError(f"tasks: keys must be unique within a plan, got {keys}.")


def run_whole(module: str, progress: Callable[[str], None], **options: Any) -> Any:
    """A benchmark not split into tasks: its module's ``run(progress=..., **options)``, as one task."""
    import importlib

    return importlib.import_module(module).run(progress=progress, **options)


def _print(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_task(task: Task, threads: int, directory: str | None = None,
             progress: Callable[[str], None] | None = None) -> Any:
    """Run one task with seeded global RNGs and ``task.threads`` (else ``threads``) torch threads, in
    ``directory`` when given (a Ray worker: the driver's directory)."""
    import numpy as np
    import torch

    from neuralign.bench import torch_threads

    if directory is not None:
        os.chdir(directory)
    seed = zlib.crc32(task.key.encode())
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    extra = {"progress": progress or _print} if "progress" in inspect.signature(task.function).parameters else {}
    with torch_threads(task.threads or threads):
        return task.function(**task.arguments, **extra)


def execute(plan: Plan, *, progress: Callable[[str], None], workers: int | None = None, address: str | None = None,
            threads: int | None = None, checkpoint: Path | None = None) -> list:
    """Run ``plan``'s tasks (here, or on ``workers`` Ray workers, at ``address`` or on a local cluster) and return
    the combiner's rows. With a ``checkpoint`` path (plans with an ``identity``), each finished task's result is
    saved there atomically and a rerun with the same options runs only the tasks not yet done."""
    import torch

    if workers is not None:
        positive_int("workers", workers)
    if address is not None and workers is None:
        raise ValueError("address: a cluster address needs --workers N (how many tasks to run at once).")
    threads = torch.get_num_threads() if threads is None else positive_int("threads", threads)
    if plan.identity is None:
        checkpoint = None
    results = _resume(checkpoint, plan, progress)
    pending = [task for task in plan.tasks if task.key not in results]
    finished = (_here(pending, threads, progress) if workers is None
                else _on_ray(pending, threads, workers, address))
    for key, result in finished:
        results[key] = result
        progress(f"task {key} done ({len(results)} of {len(plan.tasks)})")
        if checkpoint is not None:
            _save(checkpoint, plan, results)
    return plan.combine({task.key: results[task.key] for task in plan.tasks})


def _here(tasks: list[Task], threads: int, progress: Callable[[str], None]) -> Iterator[tuple[str, Any]]:
    for task in tasks:
        yield task.key, run_task(task, threads, progress=progress)


def _on_ray(tasks: list[Task], threads: int, workers: int, address: str | None) -> Iterator[tuple[str, Any]]:
    """Results as the tasks finish, at most ``workers`` running at once (one CPU each)."""
    from neuralign._ray import ray_session

    with ray_session(address=address, num_cpus=workers, what="bench --workers") as ray:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_task)
        queue, running, directory = list(tasks), {}, os.getcwd()
        try:
            while queue or running:
                while queue and len(running) < workers:
                    task = queue.pop(0)
                    running[remote.remote(task, threads, directory)] = task
                done, _ = ray.wait(list(running), num_returns=1)
                for reference in done:
                    task = running.pop(reference)
                    yield task.key, ray.get(reference)
        finally:
            for reference in running:
                ray.cancel(reference, force=True)


def _resume(checkpoint: Path | None, plan: Plan, progress: Callable[[str], None]) -> dict[str, Any]:
    """The results a checkpoint of the same run already holds."""
    if checkpoint is None or not checkpoint.exists():
        return {}
    saved = json.loads(checkpoint.read_text())
    if not isinstance(saved, dict) or saved.get("identity") != plan.identity:
        found = saved.get("identity") if isinstance(saved, dict) else describe(saved)
        raise ValueError(f"checkpoint: {checkpoint} holds another run ({found}), not {plan.identity}; remove it "
                         "or choose another output.")
    keys = {task.key for task in plan.tasks}
    results = {key: value for key, value in saved["results"].items() if key in keys}
    progress(f"resuming from {checkpoint}: {len(results)} of {len(plan.tasks)} tasks done")
    return results


def _save(checkpoint: Path, plan: Plan, results: dict[str, Any]) -> None:
    checkpoint.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(checkpoint) as temporary:
        temporary.write_text(json.dumps({"identity": plan.identity, "results": results}))
