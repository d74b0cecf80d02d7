"""AutoLFADS-style PBT of LFADS against its defaults, scored by NLB co-smoothing: ``python scripts/sweep_lfads.py
[OUT.json] [--datasets monkey,nlb] [--seed 100]`` (needs ``neuralign[scale]``; writes ``benchmarks/sweep_lfads.json``
and the sweeps' folders under ``reports/sweep_lfads/``).

Per dataset (``bench.cosmooth``'s: the monkey source's firing units; ``nlb_mc_maze_small_tiny``) and seed, the split
of ``bench cosmooth`` (25 % of the units held out, 75 / 25 % of the trials). The PBT sweep (``SPEC``: 8 trials, 2 at
a time, one CPU each) searches learning rate, dropout, coordinated dropout and the L2 weight on the held-in spikes
of the training trials; it selects by sample validation (held-out entries of held-out training trials, spikes
only: no behaviour, no held-out neuron, no test trial). The selected model and LFADS with its defaults (fitted on
the same held-in training spikes) are then scored alike by ``bench.cosmooth.evaluate``: co-bps on the held-out
neurons of the test trials, velocity (intent) R2 % and psth R2.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from neuralign._atomic import atomic_path
from neuralign.bench import Row, environment
from neuralign.bench.cosmooth import HELDOUT_FRACTION, TEST_FRACTION, datasets, evaluate, lfads
from neuralign.metrics import split_neurons
from neuralign.models.base import load_model
from neuralign.sweep import SweepSpec, run_sweep

SEARCH = {"learning_rate": {"loguniform": [1e-3, 1e-2]}, "dropout": {"uniform": [0.0, 0.4]},
          "coordinated_dropout": {"uniform": [0.1, 0.5]}, "l2_weight": {"loguniform": [1e-4, 1e-2]}}
SPEC = dict(model="LFADS", search=SEARCH, settings={"max_epochs": 200, "patience": 200},
            scheduler={"name": "pbt", "perturbation_interval": 20, "quantile_fraction": 0.25,
                       "resample_probability": 0.25},
            trials=8, concurrent=2, resources={"cpu": 1, "gpu": 0}, checkpoint_every=20)
METRICS = {"co_bps": "co-bps", "velocity_r2_percent": "velocity R2 %", "psth_r2": "psth R2"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="benchmarks/sweep_lfads.json")
    parser.add_argument("--datasets", default="monkey,nlb")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--sweep-seconds", action="append", default=[], metavar="KEY=SECONDS",
                        help="a finished sweep's wall time, for a rerun on its folder (which only restores it)")
    args = parser.parse_args()
    recorded = {key: float(value) for key, value in (item.split("=") for item in args.sweep_seconds)}
    rows, seed = [], args.seed
    for key in args.datasets.split(","):
        label, data, behavior_metric = datasets()[key]
        setting = f"{label}, {100 * HELDOUT_FRACTION:.0f} % of units held out, reporting seed {seed}"
        heldin, _ = split_neurons(data.n_units, HELDOUT_FRACTION, seed=seed)
        train, _ = data.split(TEST_FRACTION, seed=seed)  # the same splits as evaluate() below
        folder = Path("reports/sweep_lfads") / key
        started = time.perf_counter()
        run_sweep(SweepSpec(data=f"bench cosmooth {key}, seed {seed}: held-in units of the training trials", **SPEC),
                  folder, data=train.subset(units=heldin))
        sweep_seconds = recorded.get(key, time.perf_counter() - started)
        selected = load_model(folder / "best_model.pt")

        def pbt_selected(train_part, test_part, **_):
            return selected.transform(train_part), selected.transform(test_part), {}

        scores = {"LFADS (defaults)": evaluate(lfads, data, dataset=key, seed=seed, quick=False),
                  "LFADS, PBT-selected": evaluate(pbt_selected, data, dataset=key, seed=seed, quick=False)}
        scores["LFADS, PBT-selected"]["fit_seconds"] = sweep_seconds
        for method, result in scores.items():
            print(method, key, {k: round(v, 4) for k, v in result.items()}, flush=True)
            for name, metric in {**METRICS, "velocity_r2_percent": behavior_metric}.items():
                if name in result:
                    rows.append(Row.from_values(method, setting, metric, [result[name]], result["fit_seconds"]))
            rows.append(Row.from_values(method, setting, "fit seconds (PBT: the whole sweep, wall)",
                                        [result["fit_seconds"]], result["fit_seconds"]))
        chosen = json.loads((folder / "results.json").read_text())
        best = next(row for row in chosen if row["selected"])
        for name in SEARCH:
            rows.append(Row.from_values("LFADS, PBT-selected", setting, f"selected {name}", [best[name]], 0.0))
        rows.append(Row.from_values("LFADS, PBT-selected", setting, "selected sv_bps (sample validation)",
                                    [best["sv_bps"]], 0.0))
    result = {"benchmark": "sweep_lfads", "quick": False, "seed_set": "reporting",
              "command": "python scripts/sweep_lfads.py " + " ".join(sys.argv[1:]), "search": SPEC,
              "rows": [row.__dict__ for row in rows],
              "std": "sample standard deviation over the runs (ddof = 1)", "env": environment()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(args.out) as temporary:
        temporary.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
