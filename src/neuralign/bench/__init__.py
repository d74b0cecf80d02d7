"""Benchmarks, one module per benchmark, run by ``neuralign bench NAME``.

Each benchmark module defines ``plan(*, quick: bool, seeds: int | None) -> Plan``: its independent units of
work (tasks: one (seed, method) fit and its scores, say) and a combiner of their results into rows (``bench._plan``);
one that keeps tuning and reporting seeds apart (DESIGN.md "Seeds") also takes ``seed_set`` ("tuning": seeds 0,
1, ...; "reporting": 100, 101, ...). The tasks run one after another, or spread over Ray workers (``--workers``),
with the same figures. Rows carry their own ``seconds``; the JSON's ``execution`` holds the whole run's wall time.
Output JSON: ``{"benchmark": NAME, "rows": [{"method", "setting", "metric", "mean", "std", "n", "seconds",
"values"}], "execution": {...}, "env": {...}}``; ``std`` is the sample standard deviation over the runs (ddof = 1).
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from neuralign._atomic import atomic_path
from neuralign._checks import one_of, positive_int
from neuralign.bench._plan import Plan, Task, execute, run_whole  # noqa: F401  (the benchmarks' plans)

BENCHMARKS = {"vae": "neuralign.bench.vae", "align": "neuralign.bench.align",
              "align-synthetic": "neuralign.bench.align_synthetic",
              "align-timing": "neuralign.bench.align_timing",
              "multimodal": "neuralign.bench.multimodal",
              "multimodal-mnist": "neuralign.bench.multimodal_mnist",
              "neat": "neuralign.bench.neat",
              "neat-mnist": "neuralign.bench.neat_mnist",
              "mmd": "neuralign.bench.mmd",
              "mmgpvae": "neuralign.bench.mmgpvae",
              "cosmooth": "neuralign.bench.cosmooth",
              "pretrain": "neuralign.bench.pretrain",
              "snapshots": "neuralign.bench.snapshots"}
# first seed of each seed set: options may be chosen by looking at the tuning seeds, never at the reporting ones
SEED_SETS = {"tuning": 0, "reporting": 100}


def sample_std(values: Any, axis: int | None = None) -> Any:
    """The sample standard deviation (ddof = 1: divided by n - 1) over ``axis``; 0 for a single run, where it is
    undefined (tables then show the mean alone). Every benchmark row's ``std`` is this one."""
    values = np.asarray(values, dtype=float)
    n = values.size if axis is None else values.shape[axis]
    if n < 2:
        return 0.0 if axis is None else np.zeros(np.delete(values.shape, axis))
    return np.std(values, axis=axis, ddof=1)


@dataclass
class Row:
    """One line of a benchmark table: a metric of a method in a setting over n runs.

    ``std`` is the sample standard deviation over the runs (ddof = 1), 0 when n = 1 (see :func:`sample_std`).
    """

    method: str
    setting: str
    metric: str
    mean: float
    std: float
    n: int
    seconds: float
    values: list[float] = field(default_factory=list)

    @classmethod
    def from_values(cls, method: str, setting: str, metric: str, values: list[float],
                    seconds: list[float] | float) -> "Row":
        values = [float(v) for v in values]
        per_run = float(np.mean(seconds)) if np.ndim(seconds) else float(seconds)
        return cls(method, setting, metric, float(np.mean(values)), float(sample_std(values)), len(values),
                   per_run, values)


def seed_values(seed_set: str, n_seeds: int) -> list[int]:
    """The first ``n_seeds`` seeds of ``seed_set`` ("tuning": 0, 1, ...; "reporting": 100, 101, ...)."""
    first = SEED_SETS[one_of("seed_set", seed_set, tuple(SEED_SETS))]
    return list(range(first, first + positive_int("n_seeds", n_seeds)))


def describe_seeds(seed_set: str, seeds: list[int]) -> str:
    """E.g. "reporting seeds 100-104" or "tuning seed 0", for a row's setting."""
    span = f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else f"{seeds[0]}"
    return f"{seed_set} seed{'s' if len(seeds) > 1 else ''} {span}"


def environment() -> dict[str, Any]:
    """Where the figures were measured."""
    import torch

    return {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(),
            "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "numpy": np.__version__, "date": time.strftime("%Y-%m-%d %H:%M:%S")}


def device_sync(device: Any) -> Callable[[], None]:
    """A call that waits for ``device``'s queued work (a CUDA device), or does nothing (CPU): use before each clock
    read when timing work on a device."""
    import torch

    from neuralign.train import resolve_device

    where = resolve_device(device)
    if where.type == "cuda":
        return lambda: torch.cuda.synchronize(where)
    return lambda: None


@contextlib.contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block and restored after it."""
    import torch

    positive_int("threads", threads)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def format_table(rows: list[Row]) -> str:
    """A plain-text table: method, setting, metric, mean +- std (sample, ddof = 1) (n), seconds per run."""
    header = f"{'method':<28} {'setting':<34} {'metric':<22} {'mean +- std (ddof 1)':>20} {'n':>3} {'s/run':>8}"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(f"{row.method:<28} {row.setting:<34} {row.metric:<22} "
                     f"{f'{row.mean:.3f} +- {row.std:.3f}':>20} {row.n:>3} {row.seconds:>8.1f}")
    return "\n".join(lines)


def _entry(module: Any) -> Callable[..., Any]:
    """A benchmark module's ``plan`` (tasks + combiner), or its ``run`` for a benchmark not yet split into tasks
    (it then runs as one task: ``--workers`` gives it one worker)."""
    return module.plan if hasattr(module, "plan") else module.run


def _plan_options(name: str, module: Any, seed_set: str | None, mnist: str | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    parameters = inspect.signature(_entry(module)).parameters
    if seed_set is None and "seed_set" in parameters:  # record the benchmark's default seed set in the JSON
        seed_set = parameters["seed_set"].default
    if seed_set is not None:
        one_of("seed_set", seed_set, tuple(SEED_SETS))
        if "seed_set" not in parameters:
            raise ValueError(f"seed_set: benchmark {name!r} has a single seed set (seeds 0, 1, ...); "
                             "run it without a seed set.")
        options["seed_set"] = seed_set
    if mnist is not None:
        if "mnist" not in parameters:
            raise ValueError(f"mnist: benchmark {name!r} does not use MNIST; the MNIST benchmarks are "
                             f"{sorted(n for n in BENCHMARKS if n.endswith('-mnist'))}.")
        from neuralign.data.mnist import mnist_path

        mnist_path(mnist, argument="mnist")  # a missing file fails before any work
        options["mnist"] = str(mnist)
    return options


def benchmark_rows(name: str, *, quick: bool = False, seeds: int | None = None, seed_set: str | None = None,
                   progress: Callable[[str], None] | None = None, workers: int | None = None,
                   address: str | None = None, threads: int | None = None,
                   checkpoint: Path | None = None, mnist: str | None = None) -> list[Row]:
    """The rows of benchmark ``name``: its plan's tasks run here or (``workers``) on Ray, then combined.

    ``seed_set``: "tuning" or "reporting", for benchmarks that keep them apart (None: the benchmark's default).
    ``workers``: run the independent (seed, method) tasks as Ray tasks, at most that many at once, on a local
    cluster or on the one at ``address``; the figures are the same as in this process (see ``bench._plan``).
    ``threads``: torch threads of every task (default: this process's). ``checkpoint``: save finished tasks
    there and resume from them (benchmarks whose results are plain values). ``mnist``: the MNIST file
    (mnist.npz) for the benchmarks that take it (None: their default, ``neuralign.data.mnist.DEFAULT_MNIST``).
    """
    return execute(_plan(name, quick, seeds, seed_set, mnist), progress=progress or _say, workers=workers,
                   address=address, threads=threads, checkpoint=checkpoint)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _plan(name: str, quick: bool, seeds: int | None, seed_set: str | None, mnist: str | None) -> Plan:
    if name not in BENCHMARKS:
        raise ValueError(f"name: unknown benchmark {name!r}; available: {sorted(BENCHMARKS)}.")
    if seeds is not None:
        positive_int("seeds", seeds)
    module = importlib.import_module(BENCHMARKS[name])
    options = _plan_options(name, module, seed_set, mnist)
    if hasattr(module, "plan"):
        return module.plan(quick=quick, seeds=seeds, **options)
    return Plan([Task("all", run_whole, {"module": BENCHMARKS[name], "quick": quick, "seeds": seeds, **options})],
                _whole_rows)


def _whole_rows(results: dict[str, Any]) -> list[Row]:
    return results["all"]


def run_benchmark(name: str, *, quick: bool = False, seeds: int | None = None, out: str | None = None,
                  progress: Callable[[str], None] | None = None, seed_set: str | None = None,
                  workers: int | None = None, address: str | None = None,
                  threads: int | None = None, mnist: str | None = None) -> dict[str, Any]:
    """Run benchmark ``name`` (see :func:`benchmark_rows`), print its table, write JSON to ``out`` (atomically;
    finished tasks are saved beside it, ``out.partial``, and a rerun resumes from them) and return the result."""
    checkpoint = Path(f"{out}.partial") if out else None
    started = time.perf_counter()
    rows = benchmark_rows(name, quick=quick, seeds=seeds, seed_set=seed_set, progress=progress, workers=workers,
                          address=address, threads=threads, checkpoint=checkpoint, mnist=mnist)
    module = importlib.import_module(BENCHMARKS[name])
    recorded = _plan_options(name, module, seed_set, None).get("seed_set")
    options = {"seed_set": recorded} if recorded is not None else {}
    result = {"benchmark": name, "quick": quick, **options, "rows": [asdict(r) for r in rows],
              "std": "sample standard deviation over the runs (ddof = 1)",
              "execution": {"workers": workers, "address": address, "wall_seconds": time.perf_counter() - started},
              "env": environment()}
    print(format_table(rows))
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)  # only now: a failed run leaves no empty folder
        with atomic_path(out) as temporary:
            temporary.write_text(json.dumps(result, indent=2))
        if checkpoint is not None:
            checkpoint.unlink(missing_ok=True)
    return result
