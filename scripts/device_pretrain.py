"""``bench pretrain`` on a GPU machine, one process per (seed, held-out session) and per seed's synthetic scaling.

Usage: python scripts/device_pretrain.py OUT.json [reporting|tuning] [N_SEEDS] [PROCESSES]

The same protocol and functions as ``neuralign bench pretrain`` (``neuralign.bench.pretrain``), the same rows;
only the order of work differs: each (seed, target) runs in its own process (NDT2 picks CUDA when it is there),
so the models pretrained on one monkey for the cross-subject rows are fitted once per target instead of once per
seed (same seed, same data: the same model up to floating-point order). Writes the benchmark's JSON, with
``"runner": "scripts/device_pretrain.py"`` beside the usual keys.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

from neuralign._atomic import atomic_path
from neuralign.bench import describe_seeds, environment, format_table, pretrain, seed_values


def one_target(seed: int, target: str) -> dict:
    started = time.perf_counter()
    result = pretrain.evaluate_session(pretrain.real_sessions(), target, seed=seed, quick=False)
    print(f"seed {seed} {target}: {time.perf_counter() - started:.0f} s", flush=True)
    return result


def one_synthetic(seed: int) -> dict:
    return {"seed": seed, "synthetic": pretrain.synthetic_scaling(seed, False, print)}


def main() -> None:
    out = Path(sys.argv[1])
    seed_set = sys.argv[2] if len(sys.argv) > 2 else "reporting"
    seeds = seed_values(seed_set, int(sys.argv[3]) if len(sys.argv) > 3 else 1)
    processes = int(sys.argv[4]) if len(sys.argv) > 4 else 10
    out.parent.mkdir(parents=True, exist_ok=True)
    targets = pretrain.session_names(pretrain.real_sessions())
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(one_target, seed, target) for seed in seeds for target in targets]
        jobs += [pool.submit(one_synthetic, seed) for seed in seeds]
        results = []
        partial = out.with_name(out.name + ".partial")  # each finished job's result, one JSON line each
        for job in jobs:
            results.append(job.result())
            with partial.open("a") as file:
                file.write(json.dumps(results[-1]) + "\n")
    rows = pretrain.rows_of(results, describe_seeds(seed_set, seeds), quick=False)  # = the plan's combine
    print(format_table(rows))
    result = {"benchmark": "pretrain", "quick": False, "seed_set": seed_set, "rows": [asdict(r) for r in rows],
              "std": "sample standard deviation over the runs (ddof = 1)", "env": environment(),
              "runner": "scripts/device_pretrain.py"}
    with atomic_path(out) as temporary:
        temporary.write_text(json.dumps(result, indent=2))
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
