"""Command line for population dynamics from snapshots: ``neuralign snapshots fit``.

Registered on the main app in ``neuralign.cli``. Heavy imports happen inside the command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from neuralign._cli_common import reported
from neuralign._outputs import OUTPUTS

snapshots_app = typer.Typer(no_args_is_help=True, help="Population dynamics from snapshots of latent clouds.")

CLOUDS_HELP = ("an .npz file: times (K,) strictly increasing, and either clouds (K, n, d) or cloud_0 ... "
               "cloud_{K-1}, each (n_k, d) (sizes may differ, the dimension may not)")
FIGURES = ("clouds.png", "distances.png")  # the last two of OUTPUTS["snapshots fit"].writes


def _check_holdout(holdout: Optional[int], count: int) -> Optional[int]:
    if holdout is None:
        return None
    if count < 3 or not 1 <= holdout <= count - 2:
        allowed = f"an interior index 1 ... {count - 2}" if count >= 3 else "none: 3 or more clouds are needed"
        raise ValueError(f"holdout: expected {allowed} (the held-out cloud is predicted from the one before it, "
                         f"inside the fitted range) for {count} clouds, got {holdout}.")
    return holdout


def _figures(out: Path, snapshots: Any, predicted: list[Any], report: dict[str, Any]) -> None:
    from neuralign._atomic import atomic_path
    from neuralign.plot import distance_over_time, snapshot_clouds
    from neuralign.plot._style import pyplot

    plt = pyplot()
    projection = None
    if snapshots.dim > 2:  # the first two principal axes of the pooled observed clouds
        import numpy as np

        pooled = np.concatenate(snapshots.clouds)
        projection = np.linalg.svd(pooled - pooled.mean(0), full_matrices=False)[2][:2].T
    axes = snapshot_clouds(snapshots.times, snapshots.clouds, predicted=predicted, projection=projection,
                           title=f"{report['method']}: observed (dots) and predicted from t0 (circles)")
    rows = report["per_time"]
    axes_w = distance_over_time([row["time"] for row in rows],
                                {"W1 (predicted from t0)": [row["W1"] for row in rows],
                                 "W2 (predicted from t0)": [row["W2"] for row in rows]},
                                metric="distance to the observed cloud", title=report["method"])
    for row in rows:
        if row["held_out"]:
            axes_w.axvline(row["time"], color="tab:red", ls=":", lw=1)
    for figure, name in ((axes.figure, FIGURES[0]), (axes_w.figure, FIGURES[1])):
        with atomic_path(out / name) as temporary:
            figure.savefig(temporary, dpi=110, bbox_inches="tight")
        plt.close(figure)


@snapshots_app.command("fit")
def fit(clouds: Path = typer.Argument(..., help=CLOUDS_HELP),
        out: Path = typer.Option(..., "--out", "-o", help="output folder: predicted.npz, report.json, model.pt, "
                                 "clouds.png, distances.png"),
        method: str = typer.Option("am", help="a method of neuralign.snapshots.METHODS, e.g. am (action matching), "
                                   "mccann (OT displacement interpolation), wlm, hoam, gradient_flow, otcfm"),
        holdout: Optional[int] = typer.Option(None, help="hold out the cloud at this interior index (1 ... K-2): "
                                              "fit on the others and predict it from the cloud before it"),
        config: Optional[Path] = typer.Option(None, help="YAML file of the method's settings"),
        seed: int = typer.Option(0, help="random seed of the fit and the predictions"),
        device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:N, for methods with a device setting "
                                             "(default: the method's)"),
        quiet: bool = typer.Option(False, help="no progress bar"),
        force: bool = typer.Option(False, help="overwrite an existing output that another command wrote")) -> None:
    """Fit a snapshot method to clouds and predict them: writes the predicted clouds, a report and figures.

    CLOUDS.npz holds times (K,) and clouds (K, n, d) or cloud_0 ... cloud_{K-1} (n_k, d). The fitted method
    predicts every observed time from the first cloud (predicted.npz: times, predicted_0 ... predicted_{K-1}); with
    --holdout k the method is fitted without cloud k, which is also predicted from cloud k-1 (heldout_prediction).
    report.json: method, settings, holdout, fit_seconds, per_time (time, held_out, W1, W2 of the prediction from
    the first cloud against the observed cloud) and, with --holdout, heldout (time, W1, W2 of the one-step
    prediction, and of the cloud before it as a do-nothing baseline).
    """
    import dataclasses
    import time

    import numpy as np

    from neuralign._atomic import atomic_path
    from neuralign._outputs import check_output, make_folder
    from neuralign.cli import _read_config
    from neuralign.metrics import w1, w2
    from neuralign.snapshots.files import clouds_arrays, read_clouds
    from neuralign.snapshots.methods import build_method, method_class

    with reported():
        out = check_output("snapshots fit", out, inputs=[clouds, config], force=force)
        method_class(method)
        snapshots = read_clouds(clouds, name="clouds")
        holdout = _check_holdout(holdout, len(snapshots))
        settings = _read_config(config)
        estimator = build_method(method, settings, seed=seed, quiet=quiet, device=device)
        train = snapshots if holdout is None else snapshots.holdout(holdout)[0]
        started = time.perf_counter()
        estimator.fit(train)
        seconds = time.perf_counter() - started
        predicted = estimator.predict(snapshots.times, start=0, seed=seed)
        report: dict[str, Any] = {
            "method": method, "settings": dataclasses.asdict(estimator.config), "clouds": str(clouds), "seed": seed,
            "holdout": holdout, "fit_seconds": seconds,
            "per_time": [{"time": float(t), "held_out": k == holdout, "W1": w1(cloud, observed),
                          "W2": w2(cloud, observed)}
                         for k, (t, cloud, observed) in enumerate(zip(snapshots.times, predicted, snapshots.clouds))]}
        arrays = clouds_arrays(snapshots.times, predicted, prefix="predicted_")
        if holdout is not None:
            held_time, held = float(snapshots.times[holdout]), snapshots.clouds[holdout]
            one_step = estimator.predict([held_time], start=holdout - 1, seed=seed)[0]
            before = snapshots.clouds[holdout - 1]
            report["heldout"] = {"index": holdout, "time": held_time, "W1": w1(one_step, held),
                                 "W2": w2(one_step, held), "W1 of the cloud before (no movement)": w1(before, held),
                                 "W2 of the cloud before (no movement)": w2(before, held)}
            arrays["heldout_prediction"] = np.asarray(one_step, dtype=np.float32)
        make_folder(out)
        with atomic_path(out / "predicted.npz") as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **arrays)
        estimator.save(out / "model.pt")
        _figures(out, snapshots, predicted, report)
        with atomic_path(out / "report.json") as temporary:  # last: its presence marks a finished run
            temporary.write_text(json.dumps(report, indent=2, default=str))
    summary = ", ".join(f"t={row['time']:g} W1 {row['W1']:.3f}" for row in report["per_time"])
    typer.echo(f"{method} fitted in {seconds:.1f} s; predicted from t0: {summary}")
    if holdout is not None:
        typer.echo(f"held-out cloud {holdout} (t={report['heldout']['time']:g}) from the one before: "
                   f"W1 {report['heldout']['W1']:.3f} (no movement {report['heldout']['W1 of the cloud before (no movement)']:.3f})")
    typer.echo(f"wrote {out}/: {', '.join(OUTPUTS['snapshots fit'].writes)}")
