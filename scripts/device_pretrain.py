"""``bench pretrain`` on a GPU machine, one process per (seed, held-out session) and per seed's synthetic scaling.

Usage: python scripts/device_pretrain.py OUT.json [reporting|tuning] [N_SEEDS] [PROCESSES]
       python scripts/device_pretrain.py OUT.json --from-partial [reporting|tuning] [N_SEEDS]

Each finished job is appended to OUT.json.partial as it finishes (one JSON line); each synthetic session count is
its own job. ``--from-partial`` writes OUT.json from the jobs a cut run finished (rows of jobs that did not finish
are absent, and ``"complete": false`` says so).

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
from concurrent.futures import ProcessPoolExecutor, as_completed
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


def one_synthetic(seed: int, count: int) -> dict:
    return {"seed": seed, "synthetic": pretrain.synthetic_scaling(seed, False, print, counts=(count,))}


def write(out: Path, results: list[dict], seed_set: str, seeds: list[int], complete: bool) -> None:
    # = the plan's combine; rows_of takes each seed's synthetic scores from any number of results (one per count)
    rows = pretrain.rows_of(results, describe_seeds(seed_set, seeds), quick=False)
    print(format_table(rows))
    result = {"benchmark": "pretrain", "quick": False, "seed_set": seed_set, "rows": [asdict(r) for r in rows],
              "std": "sample standard deviation over the runs (ddof = 1)", "env": environment(),
              "runner": "scripts/device_pretrain.py", "complete": complete,
              "command": "python scripts/device_pretrain.py " + " ".join(sys.argv[1:])}
    with atomic_path(out) as temporary:
        temporary.write_text(json.dumps(result, indent=2))


def main() -> None:
    out = Path(sys.argv[1])
    partial = out.with_name(out.name + ".partial")
    from_partial = len(sys.argv) > 2 and sys.argv[2] == "--from-partial"
    arguments = sys.argv[3:] if from_partial else sys.argv[2:]
    seed_set = arguments[0] if arguments else "reporting"
    seeds = seed_values(seed_set, int(arguments[1]) if len(arguments) > 1 else 1)
    if from_partial:
        results = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
        write(out, results, seed_set, seeds, complete=False)
        return
    processes = int(arguments[2]) if len(arguments) > 2 else 16
    if partial.exists():  # checked before any work: a new run must not mix its jobs with a cut run's
        sys.exit(f"{partial} exists (a cut run's jobs): write them with --from-partial, or remove the file.")
    out.parent.mkdir(parents=True, exist_ok=True)
    targets = pretrain.session_names(pretrain.real_sessions())
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        jobs = [pool.submit(one_synthetic, seed, count) for seed in seeds for count in pretrain.SYNTHETIC_SCALING]
        jobs += [pool.submit(one_target, seed, target) for seed in seeds for target in targets]
        results = []
        for job in as_completed(jobs):
            results.append(job.result())
            with partial.open("a") as file:
                file.write(json.dumps(results[-1]) + "\n")
    write(out, results, seed_set, seeds, complete=True)
    partial.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
