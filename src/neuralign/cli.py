"""The ``neuralign`` command line.

Data arguments are a file (.npz, .h5, .nwb written by neuralign or any NWB file) or a bundled dataset name,
optionally with a part: ``erdiff_miller_co:source``, ``semedo_v1v2:V1``, ``synthetic_reach``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from neuralign._cli_common import (NeuralignGroup, behavior_option, bin_size_option, event_option, fail,
                                   label_column_option, nwb_options, reported, window_option)
from neuralign._outputs import check_output, check_writable_folder, make_folder, make_parent
from neuralign.data.datasets import resolve_data  # the CLI's data specs (files or bundled name:part)

app = typer.Typer(cls=NeuralignGroup, add_completion=False, no_args_is_help=True,
                  help="Latent variable models of neural population recordings, aligned across sessions.")
datasets_app = typer.Typer(no_args_is_help=True, help="Bundled recordings and synthetic generators.")
app.add_typer(datasets_app, name="datasets")
from neuralign.cli_vocal import compare as _compare, vocal_app  # noqa: E402  (MMD comparisons, vocalisations)

app.add_typer(vocal_app, name="vocal")
app.command("compare")(_compare)
from neuralign.cli_snapshots import snapshots_app  # noqa: E402  (population dynamics from snapshots)

app.add_typer(snapshots_app, name="snapshots")
from neuralign.cli_sweep import sweep as _sweep  # noqa: E402  (searches on Ray Tune, the extra neuralign[scale])

app.command("sweep")(_sweep)


FORCE_HELP = "overwrite an existing output that another command (or another run) wrote"


def _version(value: bool) -> None:
    if value:
        from neuralign import __version__

        typer.echo(f"neuralign {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(version: bool = typer.Option(False, "--version", is_eager=True, callback=_version,
                                              help="print the version and exit")) -> None:
    """Latent variable models of neural population recordings, aligned across sessions."""


def _single(spec: str, nwb: dict[str, Any] | None = None) -> Any:
    from neuralign.data.trialdata import TrialData

    data = resolve_data(spec, nwb=nwb)
    if not isinstance(data, TrialData):
        parts = list(data) if isinstance(data, dict) else list(range(len(data)))
        raise ValueError(f"data: {spec!r} holds several recordings; pick one with {spec}:PART, PART in {parts}.")
    return data


def _read_config(path: Optional[Path]) -> dict[str, Any]:
    if path is None:
        return {}
    import yaml

    if not path.is_file():
        raise ValueError(f"config: no file at {str(path)!r}.")
    try:
        settings = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"config: {str(path)!r} is not valid YAML: {error}") from None
    if not isinstance(settings, dict):
        raise ValueError(f"config: expected a mapping of settings in {str(path)!r}, got {type(settings).__name__}.")
    return settings


@datasets_app.command("list")
def datasets_list() -> None:
    """List the bundled recordings and synthetic generators."""
    from neuralign.data.datasets import list_datasets

    for info in list_datasets():
        typer.echo(f"{info.name:<26} {info.kind:<10} {info.returns}")
        typer.echo(f"{'':<26} {'':<10} {info.description}")


def _model_class(name: str) -> Any:
    from neuralign.models import LFADS, NDT2, SeqVAE

    classes = {"seqvae": SeqVAE, "lfads": LFADS, "ndt2": NDT2}
    if name not in classes:
        raise ValueError(f"model: expected one of {list(classes)}, got {name!r}.")
    return classes[name]


@app.command()
def fit(data: str = typer.Argument(..., help="file or bundled dataset name[:part]; a list of sessions fits all"),
        out: Path = typer.Option(..., "--out", "-o", help="where to write the fitted model (.pt)"),
        model: str = typer.Option("seqvae", help="seqvae (sequential VAE), lfads (latent dynamics model) or "
                                                  "ndt2 (masked transformer pretrained across sessions)"),
        config: Optional[Path] = typer.Option(None, help="YAML file of the model's settings"),
        latent_dim: Optional[int] = typer.Option(None, help="latent dimensions (LFADS: factors; NDT2: d_model)"),
        max_epochs: Optional[int] = typer.Option(None, help="maximum training epochs"),
        seed: Optional[int] = typer.Option(None, help="random seed"),
        device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:N (default: CUDA if available)"),
        quiet: bool = typer.Option(False, help="no progress bar"),
        bin_size: Optional[float] = bin_size_option(), window: Optional[str] = window_option(),
        event: Optional[str] = event_option(), behavior: Optional[str] = behavior_option(),
        label_column: Optional[str] = label_column_option(),
        checkpoint_dir: Optional[Path] = typer.Option(None, "--checkpoint-dir",
                                                      help="write training checkpoints to this folder (one file "
                                                           "per --out), so that an interrupted fit can be resumed"),
        checkpoint_every: int = typer.Option(1, help="epochs between checkpoints"),
        resume: bool = typer.Option(False, help="continue the interrupted fit whose checkpoint is in "
                                                "--checkpoint-dir (same data and settings); ends with the same "
                                                "weights as an uninterrupted fit"),
        force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Fit a sequential VAE, an LFADS latent dynamics model or an NDT2 transformer and save it.

    Data parallel: `torchrun --nproc-per-node N -m neuralign fit ...` trains in N processes (gloo on the CPU,
    NCCL on CUDA), each taking batch_size / N trials of every minibatch; rank 0 alone prints and writes files.
    """
    import time

    from neuralign.distributed import DistributedContext, check_batch_size, distributed_context

    checkpoint: Optional[Path] = None
    processes = DistributedContext()
    started = time.time()

    def interrupted() -> str:
        if checkpoint is None:
            return ("fit stopped; nothing was written. Pass --checkpoint-dir DIR to keep checkpoints, and resume "
                    "an interrupted fit with --resume.")
        this_run = checkpoint.is_file() and (resume or checkpoint.stat().st_mtime >= started)
        kept = _checkpoint_epoch(checkpoint) if this_run else None
        if kept is None:
            return ("fit stopped before its first checkpoint; nothing was kept. Rerun the command without --resume "
                    "to start again.")
        return (f"fit stopped; kept the checkpoint {str(checkpoint)!r} after epoch {kept}. Resume it with the same "
                "command and --resume.")

    with reported(interrupted=interrupted):
        out = check_output("fit", out, inputs=[data, config], force=force)
        nwb = nwb_options([data], bin_size=bin_size, window=window, event=event, behavior=behavior,
                          label_column=label_column)
        checkpoint = _checkpoint_file(checkpoint_dir, out, resume, checkpoint_every, inputs=[data, config])
        cls = _model_class(model)
        settings = _read_config(config)
        dims = {"lfads": "factor_dim", "ndt2": "d_model"}.get(model, "latent_dim")
        flags = {dims: latent_dim, "max_epochs": max_epochs, "seed": seed, "device": device}
        settings.update({k: v for k, v in flags.items() if v is not None})
        if quiet:
            settings["verbose"] = False
        estimator = cls(**settings)
        processes = distributed_context(estimator.config.device)  # torchrun's process group, if launched by it
        try:
            check_batch_size(processes, estimator.config.batch_size)
            recordings = resolve_data(data, nwb=nwb)
            if isinstance(recordings, dict):
                recordings = list(recordings.values())
            if checkpoint is None:
                fitted = estimator.fit(recordings)
            else:
                make_folder(checkpoint.parent)
                fitted = estimator.fit(recordings, checkpoint_path=str(checkpoint), resume=resume,
                                       checkpoint_every=checkpoint_every)
            if processes.is_main:
                make_parent(out)
                fitted.save(out)
        finally:
            processes.close()
    if not processes.is_main:
        return
    history = fitted.history_
    typer.echo(f"fitted in {history.seconds:.1f} s ({history.summary()}); saved to {out}"
               + (f"; checkpoint {checkpoint}" if checkpoint is not None else ""))


def _checkpoint_file(folder: Optional[Path], out: Path, resume: bool, every: int,
                     inputs: list[Any]) -> Optional[Path]:
    """The checkpoint file of ``fit --out OUT --checkpoint-dir FOLDER`` (FOLDER/OUT.checkpoint), checked before
    any work; None without --checkpoint-dir."""
    from neuralign._checks import positive_int
    from neuralign._outputs import _existing_inputs

    if folder is None:
        if resume:
            raise ValueError("resume: --resume continues from a checkpoint, so it needs --checkpoint-dir, the folder "
                             "given to the interrupted fit.")
        return None
    positive_int("checkpoint_every", every)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"checkpoint_dir: expected a folder for the training checkpoints, got the file "
                         f"{str(folder)!r}.")
    check_writable_folder(folder, name="checkpoint_dir")
    checkpoint = folder / f"{out.name}.checkpoint"
    if checkpoint.resolve() in _existing_inputs(inputs):
        raise ValueError(f"checkpoint_dir: the checkpoint {str(checkpoint)!r} would overwrite an input; choose "
                         "another folder.")
    if resume and not checkpoint.is_file():
        raise ValueError(f"resume: no checkpoint {str(checkpoint)!r} to resume from (it is named after --out); "
                         "check --checkpoint-dir and --out, or run without --resume to start afresh.")
    return checkpoint


def _checkpoint_epoch(path: Path) -> Optional[int]:
    """The number of epochs a checkpoint holds, or None when there is none (or it cannot be read)."""
    from neuralign._atomic import load_torch

    try:
        return int(load_torch(path, expected="a neuralign training checkpoint")["next_epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


@app.command()
def encode(model_path: Path = typer.Argument(..., help="a model saved by `neuralign fit`"),
           data: str = typer.Argument(..., help="file or bundled dataset name[:part]"),
           out: Path = typer.Option(..., "--out", "-o", help="where to write the latents (.npz)"),
           session: Optional[int] = typer.Option(None, help="the model's session index for these data"),
           bin_size: Optional[float] = bin_size_option(), window: Optional[str] = window_option(),
           event: Optional[str] = event_option(), behavior: Optional[str] = behavior_option(),
           label_column: Optional[str] = label_column_option(),
           force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Write posterior-mean latents (trials, time, latent_dim) of a recording to an .npz file."""
    import numpy as np

    from neuralign._atomic import atomic_path
    from neuralign.models.base import load_model

    with reported():
        out = check_output("encode", out, inputs=[model_path, data], force=force)
        nwb = nwb_options([data], bin_size=bin_size, window=window, event=event, behavior=behavior,
                          label_column=label_column)
        model = load_model(model_path)
        recording = _single(data, nwb)
        latents = model.transform(recording, session=session)
        arrays = {"latents": latents}
        if recording.labels is not None:
            arrays["labels"] = recording.labels
        if getattr(model, "behavior_mean_", np.zeros(0)).size:
            arrays["behavior_decoded"] = model.predict_behavior(recording, session=session)
        make_parent(out)
        with atomic_path(out, suffix=".npz") as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **arrays)
    typer.echo(f"wrote latents {latents.shape} to {out}")


@app.command()
def align(source: str = typer.Option(..., help="source recording (file or bundled name[:part]), with behaviour"),
          target: str = typer.Option(..., help="target recording (file or bundled name[:part]); spikes only are used"),
          method: str = typer.Option("dynamics", help="aligner: dynamics (default), nomad, erdiff, sinkhorn, mmd, "
                                     "moment, dann, none"),
          model_path: Optional[Path] = typer.Option(None, "--model", help="a fitted source model, SeqVAE or LFADS "
                                                    "(default: fit an LFADS on the source)"),
          out: Path = typer.Option(Path("reports/align"), "--out", "-o", help="output folder"),
          seed: int = typer.Option(0, help="random seed"),
          labelled: Optional[int] = typer.Option(None, help="choose among the unsupervised candidates with this many "
                                                 "labelled target trials (their behaviour or conditions)"),
          calibration: str = typer.Option("none", help="none, or moments: map the aligned latents' mean and "
                                          "covariance onto the source latents' (target spikes only)"),
          denoise: float = typer.Option(0.0, help="erdiff only: noise level of the diffusion prior's denoising "
                                        "step on the aligned latents (0: none, the default; 0.3 was tried in bench align-synthetic)"),
          device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:N (default: CUDA if available)"),
          bin_size: Optional[float] = bin_size_option(), window: Optional[str] = window_option(),
          event: Optional[str] = event_option(), behavior: Optional[str] = behavior_option(),
          label_column: Optional[str] = label_column_option(),
          force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Align a target session to a source model; writes aligned latents, decoded behaviour, the choice's
    confidence and a summary."""
    import json

    import numpy as np

    from neuralign._atomic import atomic_path
    from neuralign._checks import positive_float, positive_int
    from neuralign.align import ALIGNERS
    from neuralign.align.base import CALIBRATIONS
    from neuralign.models import LFADS
    from neuralign.models.base import load_model

    unsupervised = sorted(name for name, cls in ALIGNERS.items() if not cls.supervised)
    with reported():
        out = check_output("align", out, inputs=[source, target, model_path], force=force)
        nwb = nwb_options([source, target], bin_size=bin_size, window=window, event=event, behavior=behavior,
                          label_column=label_column)
        if method not in unsupervised:
            raise ValueError(f"method: expected one of {unsupervised}, got {method!r}.")
        if calibration not in CALIBRATIONS or (method == "none" and calibration != "none"):
            raise ValueError(f"calibration: expected 'none' or 'moments' ('none' with --method none, which fits no "
                             f"read-in), got {calibration!r}.")
        positive_float("denoise", denoise, allow_zero=True)
        if denoise > 0 and method != "erdiff":
            raise ValueError(f"denoise: expected a finite number >= 0, and 0 unless --method erdiff (the only "
                             f"method with a diffusion prior), got {denoise} with --method {method}.")
        if labelled is not None:
            positive_int("labelled", labelled)
            if method == "none":
                raise ValueError("labelled: --method none fits no candidates to choose among; drop --labelled.")
        source_data, target_data = _single(source, nwb), _single(target, nwb)
        model = load_model(model_path) if model_path else LFADS(seed=seed, device=device).fit(source_data)
        cls = ALIGNERS[method]
        settings = {} if method == "none" else {"seed": seed, "device": device, "calibration": calibration}
        if method == "erdiff":
            settings["denoise"] = denoise
        aligner = cls(model, source=source_data, **settings)
        aligner.fit(target_data) if labelled is None else aligner.fit(target_data, labelled=labelled)
        arrays = {"latents": aligner.transform(target_data)}
        make_folder(out)
        if model.behavior_mean_.size:
            arrays["behavior_decoded"] = aligner.predict_behavior(target_data)
        with atomic_path(out / "aligned.npz") as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **arrays)
        lines = [f"# neuralign align: {method}", "", f"source: {source} ({source_data})",
                 f"target: {target} ({target_data})", f"source model: {type(model).__name__}", "",
                 f"settings: seed {seed}, calibration {calibration}, denoise {denoise}, labelled {labelled or 0}", ""]
        report = getattr(aligner, "report_", None)
        if report is not None:
            lines += ["## Choice of map", "", *report.summary().splitlines(), ""]
            with atomic_path(out / "report.json") as temporary:
                temporary.write_text(json.dumps(report.as_dict(), indent=2))
            if report.warning:
                typer.secho(f"warning: {report.warning}", fg=typer.colors.YELLOW, err=True)
        if "behavior_decoded" in arrays and target_data.behavior is not None:
            from neuralign.metrics import r2_percent

            score = r2_percent(target_data.behavior, arrays["behavior_decoded"])
            lines.append(f"Velocity R2 on the target (its behaviour is used only for this score): {score:.1f} %")
        with atomic_path(out / "summary.md") as temporary:
            temporary.write_text("\n".join(lines) + "\n")
    typer.echo(f"wrote {out}/aligned.npz and {out}/summary.md")


@app.command()
def demo(out: Path = typer.Option(Path("reports/demo"), "--out", "-o", help="report folder"),
         seed: int = typer.Option(0, help="random seed"),
         quick: bool = typer.Option(False, help="a short run (few epochs) to check the pipeline"),
         force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """The main job on bundled data: fit, decode, compare sessions; writes a report folder."""
    with reported():
        out = check_output("demo", out, force=force)
        from neuralign.demo import run_demo

        run_demo(out, seed=seed, quick=quick, progress=typer.echo, force=force)


@app.command()
def bench(name: str = typer.Argument(..., help="benchmark name, e.g. vae"),
          quick: bool = typer.Option(False, help="a short run that finishes in minutes on 2 CPU cores"),
          seeds: Optional[int] = typer.Option(None, help="number of seeds (default: the benchmark's)"),
          out: Optional[Path] = typer.Option(None, "--out", "-o", help="JSON output file"),
          seed_set: Optional[str] = typer.Option(None, "--seed-set",
                                                 help="tuning (seeds 0, 1, ...) or reporting (100, 101, ...), "
                                                      "for benchmarks that keep them apart, e.g. cosmooth"),
          mnist: Optional[Path] = typer.Option(None, "--mnist",
                                               help="mnist.npz for the *-mnist benchmarks (default: the shared "
                                                    "copy ../shared/data/mnist/mnist.npz beside the repository)"),
          workers: Optional[int] = typer.Option(None, help="run the independent (seed, method) tasks on this many "
                                                "Ray workers (needs neuralign[scale]); the figures are the same"),
          address: Optional[str] = typer.Option(None, help="a Ray cluster to run them on (HOST:PORT, ray://HOST:PORT "
                                                "or auto; default: a local one)"),
          threads: Optional[int] = typer.Option(None, help="torch threads of every task (default: this process's)"),
          force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Run a benchmark: prints a table and writes JSON (finished tasks are kept in OUT.partial for a rerun)."""
    with reported():
        if out is not None:
            from neuralign._outputs import _json

            def same_benchmark(path: Path) -> bool:  # an earlier result of this benchmark is replaced freely
                saved = _json(path)
                return isinstance(saved, dict) and saved.get("benchmark") == name and "rows" in saved

            out = check_output("bench", out, force=force, recognise=same_benchmark)
        from neuralign.bench import BENCHMARKS, run_benchmark

        if name not in BENCHMARKS:
            raise ValueError(f"name: unknown benchmark {name!r}; available: {sorted(BENCHMARKS)}.")
        run_benchmark(name, quick=quick, seeds=seeds, out=str(out) if out else None, seed_set=seed_set,
                      mnist=str(mnist) if mnist is not None else None,
                      workers=workers, address=address, threads=threads)
    if out is not None:
        typer.echo(f"wrote {out}", err=True)


@app.command()
def render(benchmarks: Path = typer.Option(Path("benchmarks"), help="folder of the benchmark JSONs"),
           docs: Path = typer.Option(Path("docs/benchmarks"), help="folder of the benchmark pages"),
           readme: Path = typer.Option(Path("README.md"), help="README with the headline markers"),
           check: bool = typer.Option(False, help="write nothing; exit 1 listing the files that would change"),
           force: bool = typer.Option(False, help="overwrite a README.md in --docs that render did not write")
           ) -> None:
    """Render the benchmark pages (docs) and the README's headline rows from the benchmark JSONs."""
    from neuralign.bench.render import render_docs, stale_files, update_readme

    with reported():
        if not check:
            check_output("render", docs, name="docs", inputs=[benchmarks, readme], force=force)
            if readme.is_dir():
                raise ValueError(f"readme: expected the README file with the headline markers, got the folder "
                                 f"{str(readme)!r}.")
            if readme.is_file():
                check_writable_folder(readme.parent if str(readme.parent) else Path("."), name="readme", shown=readme)
        stale = stale_files(benchmarks, docs, readme)
        if check:
            for path in stale:
                typer.echo(f"stale: {path}")
            if stale:
                typer.echo(f"{len(stale)} file(s) differ from what {benchmarks}/*.json renders to; run "
                           "`neuralign render`.", err=True)
                raise typer.Exit(code=1)
            typer.echo(f"up to date: {docs} and the headline of {readme}")
            return
        render_docs(benchmarks, docs)
        update_readme(readme, benchmarks, docs_dir=docs)
    typer.echo(f"updated {len(stale)} file(s)" + "".join(f"\n  {path}" for path in stale))


def _numbers(name: str, text: str, kind: type) -> list[Any]:
    try:
        return [kind(value) for value in text.split(",") if value.strip()]
    except ValueError:
        raise ValueError(f"{name}: expected comma-separated {kind.__name__}s such as '0,1,100', "
                         f"got {text!r}.") from None


@app.command()
def neat(regions: list[str] = typer.Option(..., help="one multi-region dataset (digits_mlp, semedo_v1v2, a file) or "
                                                    "one region per --regions (e.g. semedo_v1v2:V1), in order"),
         lambdas: str = typer.Option("0,1,100,1000", help="comma-separated alignment weights"),
         latent_dims: str = typer.Option("2", help="one latent dimension, one per region (comma-separated), or "
                                                   "'auto': each region's smallest dim whose held-out explained "
                                                   "variance reaches --ev-threshold (the paper's rule)"),
         ev_threshold: float = typer.Option(0.95, help="explained variance for --latent-dims auto (the paper: 0.95 "
                                                       "for network activations, 0.70 for recordings)"),
         max_epochs: int = typer.Option(300, help="maximum training epochs per fit"),
         sigma: float = typer.Option(1.0, help="global bandwidth of the neighbour distributions"),
         perplexity: Optional[float] = typer.Option(None, help="calibrate sigma to this perplexity instead"),
         seed: int = typer.Option(0, help="random seed"),
         device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:N (default: CUDA if available)"),
         out: Path = typer.Option(Path("reports/neat"), "--out", "-o", help="report folder"),
         bin_size: Optional[float] = bin_size_option(), window: Optional[str] = window_option(),
         event: Optional[str] = event_option(), behavior: Optional[str] = behavior_option(),
         label_column: Optional[str] = label_column_option(),
         force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """NEAT lambda sweep on several regions: figures, report.md, results.json and latents.npz."""
    import numpy as np

    from neuralign._atomic import atomic_path
    from neuralign.analysis.neat_experiment import run_neat_sweep, write_report

    with reported():
        out = check_output("neat", out, inputs=regions, force=force)
        nwb = nwb_options(regions, bin_size=bin_size, window=window, event=event, behavior=behavior,
                          label_column=label_column)
        data = ({spec: _single(spec, nwb) for spec in regions} if len(regions) > 1
                else resolve_data(regions[0], nwb=nwb))
        if not isinstance(data, dict):
            raise ValueError(f"regions: {regions[0]!r} is one recording; give one --regions per region.")
        weights = _numbers("lambdas", lambdas, float)
        if latent_dims.strip() == "auto":
            from neuralign._checks import fraction
            from neuralign.analysis.regions import choose_latent_dims

            ev_threshold = fraction("ev_threshold", ev_threshold)
            choice = choose_latent_dims(data, threshold=ev_threshold, seed=seed, max_epochs=max_epochs,
                                        sigma=sigma, device=device)
            dims = list(choice.dims.values())
            typer.echo("latent dims by the explained-variance rule: " + ", ".join(
                f"{name} {dim} ({choice.explained[name][dim]:.3f}"
                f"{'' if choice.reached[name] else ', below the threshold at the largest dim tried'})"
                for name, dim in choice.dims.items()))
        else:
            dims = _numbers("latent_dims", latent_dims, int)
        result = run_neat_sweep(data, weights, seed=seed, latent_dims=dims[0] if len(dims) == 1 else dims,
                                max_epochs=max_epochs, sigma=sigma, perplexity=perplexity, device=device,
                                progress=typer.echo)
        make_folder(out)
        written = write_report(result, out, title=f"NEAT: {', '.join(regions)}")
        arrays = {f"lambda{lam:g}_{name}": z for lam, latents in result["latents"].items()
                  for name, z in latents.items()}
        with atomic_path(out / "latents.npz") as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **arrays)
    typer.echo(f"wrote {len(written) + 1} files to {out}")


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
