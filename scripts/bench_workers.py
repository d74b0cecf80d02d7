"""Each benchmark run twice from the command line, sequentially and with ``--workers 2``: wall times and whether the
figures agree. ``python scripts/bench_workers.py OUT.json vae align:quick ...`` (NAME or NAME:quick); writes
``benchmarks/bench_workers.json``-style JSON (rendered by ``neuralign render``).

Figures compared: every row's method, setting, metric, mean, std, n and per-run values, except timing rows (metrics
with "seconds", " ms", "speed-up" or "time ratio", and every row's own ``seconds``), which are expected to differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from neuralign._atomic import atomic_path
from neuralign.bench import Row, environment

TIMING = ("seconds", " ms", "speed-up", "time ratio")


def figures(path: Path) -> list[dict]:
    rows = json.loads(path.read_text())["rows"]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows
            if not any(word in row["metric"] for word in TIMING)]


def run(name: str, quick: bool, workers: int | None, folder: Path) -> tuple[float, Path]:
    out = folder / f"{name}{'_quick' if quick else ''}{'_w' + str(workers) if workers else ''}.json"
    command = [sys.executable, "-m", "neuralign", "bench", name, "--out", str(out)] + (["--quick"] if quick else []) \
        + (["--workers", str(workers)] if workers else [])
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started, out


def main(out: str, cases: list[str]) -> None:
    rows, folder = [], Path(tempfile.mkdtemp(prefix="bench-workers-"))
    for case in cases:
        name, _, mode = case.partition(":")
        quick = mode == "quick"
        label = f"bench {name}{' --quick' if quick else ''}"
        load = os.getloadavg()[0]
        sequential, first = run(name, quick, None, folder)
        parallel, second = run(name, quick, 2, folder)
        same = figures(first) == figures(second)
        print(f"{label}: sequential {sequential:.0f} s, 2 workers {parallel:.0f} s, identical figures {same} "
              f"({len(figures(first))} rows compared; load average before {load:.1f})", flush=True)
        rows += [Row.from_values("sequential", label, "wall seconds", [sequential], sequential),
                 Row.from_values("--workers 2 (local Ray)", label, "wall seconds", [parallel], parallel),
                 Row.from_values("--workers 2 (local Ray)", label, "identical figures (1 = yes)", [float(same)], 0.0),
                 Row.from_values("--workers 2 (local Ray)", label, "rows compared", [len(figures(first))], 0.0),
                 Row.from_values("machine", label, "load average (1 min) before the runs", [load], 0.0)]
    result = {"benchmark": "bench_workers", "quick": False, "command": f"python scripts/bench_workers.py {out} "
              + " ".join(cases), "rows": [row.__dict__ for row in rows],
              "std": "sample standard deviation over the runs (ddof = 1)", "env": environment()}
    with atomic_path(out) as temporary:
        temporary.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
