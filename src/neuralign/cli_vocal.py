"""Command line for two-sample comparisons: ``neuralign vocal segment|fit|compare`` and ``neuralign compare``.

Registered on the main app in ``neuralign.cli``. Heavy imports happen inside the commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer

from neuralign._cli_common import (behavior_option, bin_size_option, event_option, label_column_option, nwb_options,
                                   reported, window_option)
from neuralign._outputs import check_output, make_folder, make_parent

FORCE_HELP = "overwrite an existing output that another command (or another run) wrote"

vocal_app = typer.Typer(no_args_is_help=True, help="Vocalisations: segment audio, fit a VAE, compare groups (MMD).")

SYLLABLES_HELP = ("syllables: an .npz from `vocal segment`, a .wav file (segmented with default settings) or "
                  "vocalmat_usv[:CLASS] (bundled crops)")


def _write_npz(path: Path, **arrays: Any) -> None:
    import numpy as np

    from neuralign._atomic import atomic_path

    with atomic_path(path, suffix=".npz") as temporary:
        with open(temporary, "wb") as handle:
            np.savez(handle, **arrays)


def load_syllables(spec: str, *, size: int = 32, crop: float = 1.0) -> Any:
    """Images (n, size, size) of a syllable source: .npz (key ``images``), .wav, or ``vocalmat_usv[:CLASS]``."""
    import numpy as np

    from neuralign.analysis.vocal import segment_recording, spectrogram_images

    from neuralign.data.io import read_npz_arrays

    path = Path(spec)
    if path.suffix.lower() == ".npz" and path.is_file():
        arrays = read_npz_arrays(path, name="syllables", expected="an .npz file of syllable images written by "
                                                                   "`neuralign vocal segment`")
        if "images" not in arrays:
            raise ValueError(f"syllables: {spec!r} has no 'images' array (keys: {sorted(arrays)}); write it with "
                             "`neuralign vocal segment`.")
        return arrays["images"]
    if path.suffix.lower() == ".wav":
        return segment_recording(path, size=size).images
    name, _, part = spec.partition(":")
    if name == "vocalmat_usv":
        from neuralign.data.datasets import load

        return spectrogram_images(load("vocalmat_usv", class_name=part or None), size=size, crop=crop)
    raise ValueError(f"syllables: {spec!r} is not an existing .npz or .wav file nor vocalmat_usv[:CLASS].")


@vocal_app.command("segment")
def segment(audio: Path = typer.Argument(..., help="a .wav recording"),
            out: Path = typer.Option(..., "--out", "-o", help="where to write the syllables (.npz)"),
            size: int = typer.Option(32, help="image side (pixels)"),
            window: float = typer.Option(0.1, help="seconds of spectrogram per image"),
            onset: float = typer.Option(4.0, help="onset threshold (robust z-units of band amplitude)"),
            offset: float = typer.Option(2.0, help="offset threshold (robust z-units)"),
            min_duration: float = typer.Option(0.008, help="shortest syllable (s)"),
            max_duration: float = typer.Option(0.2, help="longest syllable (s)"),
            low: float = typer.Option(30_000.0, help="lowest frequency of the band (Hz)"),
            high: float = typer.Option(90_000.0, help="highest frequency of the band (Hz)"),
            force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Segment a recording into syllables by amplitude thresholds; writes images, onsets and offsets."""
    from neuralign.analysis.vocal import segment_recording

    with reported():
        out = check_output("vocal segment", out, inputs=[audio], force=force)
        syllables = segment_recording(audio, size=size, window=window, onset_threshold=onset,
                                      offset_threshold=offset, min_duration=min_duration, max_duration=max_duration,
                                      band=(low, high))
        make_parent(out)
        _write_npz(out, images=syllables.images, onsets=syllables.onsets, offsets=syllables.offsets)
    typer.echo(f"wrote {syllables.images.shape[0]} syllables {syllables.images.shape[1:]} to {out}")


@vocal_app.command("fit")
def fit(syllables: list[str] = typer.Argument(..., help=SYLLABLES_HELP + "; several are pooled"),
        out: Path = typer.Option(..., "--out", "-o", help="where to write the fitted VocalVAE (.pt)"),
        latent_dim: int = typer.Option(32, help="latent dimensions"),
        max_epochs: int = typer.Option(40, help="maximum training epochs"),
        size: int = typer.Option(32, help="image side for .wav and vocalmat_usv inputs"),
        seed: int = typer.Option(0, help="random seed"),
        device: Optional[str] = typer.Option(None, help="cpu, cuda, cuda:N (default: CUDA if available)"),
        quiet: bool = typer.Option(False, help="no progress bar"),
        force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Fit a convolutional VAE on the pooled syllable images of one or more sources."""
    import numpy as np

    from neuralign.models.vocalvae import VocalVAE

    with reported():
        out = check_output("vocal fit", out, inputs=syllables, force=force)
        images = np.concatenate([load_syllables(spec, size=size) for spec in syllables])
        model = VocalVAE(latent_dim=latent_dim, image_size=images.shape[1], max_epochs=max_epochs, seed=seed,
                         device=device, verbose=not quiet).fit(images)
        make_parent(out)
        model.save(out)
    history = model.history_
    typer.echo(f"fitted on {images.shape[0]} syllables in {history.seconds:.1f} s ({history.summary()}); "
               f"saved to {out}")


def _report(out: Path, summary: dict[str, Any], tests: dict[str, Any], latents: dict[str, Any] | None,
            pairwise: Any, embedding: str) -> None:
    """summary.json, latents.npz and figures (null distribution, embedding, MMD matrix) in ``out``."""
    import numpy as np

    from neuralign._atomic import atomic_path
    from neuralign.plot import embedding as plot_embedding
    from neuralign.plot import mmd_matrix, null_distribution
    from neuralign.plot._style import pyplot

    plt = pyplot()

    def save_figure(axes: Any, name: str) -> None:
        with atomic_path(out / name) as temporary:
            axes.figure.savefig(temporary, dpi=120, bbox_inches="tight", format="png")
        plt.close(axes.figure)

    make_folder(out)
    with atomic_path(out / "summary.json") as temporary:
        temporary.write_text(json.dumps(summary, indent=2))
    first_name, first = next(iter(tests.items()))
    save_figure(null_distribution(first.null, first.statistic, p_value=first.p_value, title=first_name), "null.png")
    if latents is not None:
        from neuralign.analysis.vocal import embed_2d

        _write_npz(out / "latents.npz", **latents)
        points, method = embed_2d(np.concatenate(list(latents.values())), method=embedding)
        groups = np.concatenate([[name] * len(v) for name, v in latents.items()])
        save_figure(plot_embedding(points, groups, method=method.upper(), title="latent means"), "embedding.png")
    if pairwise is not None:
        save_figure(mmd_matrix(pairwise.statistic, pairwise.names, p_value=pairwise.p_value), "mmd_matrix.png")


@vocal_app.command("compare")
def compare_vocal(model_path: Path = typer.Argument(..., help="a VocalVAE saved by `neuralign vocal fit`"),
                  syllables: list[str] = typer.Argument(..., help=SYLLABLES_HELP + "; two or more groups"),
                  out: Path = typer.Option(Path("reports/vocal"), "--out", "-o", help="report folder"),
                  permutations: int = typer.Option(1000, help="permutations per test"),
                  kernel: str = typer.Option("multi_rbf", help="rbf (median heuristic), multi_rbf or linear"),
                  embedding: str = typer.Option("auto", help="auto (UMAP if installed), umap or pca"),
                  seed: int = typer.Option(0, help="seed of the permutations"),
                  force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Encode each group's syllables with a fitted VAE and MMD-test every pair of groups."""
    from neuralign.analysis.vocal import compare_groups
    from neuralign.models.vocalvae import VocalVAE

    with reported():
        out = check_output("vocal compare", out, inputs=[model_path, *syllables], force=force)
        if len(syllables) < 2:
            raise ValueError(f"syllables: expected at least two groups to compare, got {len(syllables)}.")
        model = VocalVAE.load(model_path)
        groups = {spec: load_syllables(spec, size=model.config.image_size) for spec in syllables}
        result = compare_groups(groups, model=model, n_permutations=permutations, kernel=kernel, seed=seed)
        summary = {"kernel": kernel, "n_permutations": permutations,
                   "groups": {name: int(len(v)) for name, v in result.latents.items()},
                   "tests": {name: {"mmd2": t.statistic, "p_value": t.p_value} for name, t in result.tests.items()}}
        _report(out, summary, result.tests, result.latents, result.pairwise, embedding)
    for name, test in result.tests.items():
        typer.echo(f"{name}: MMD^2 = {test.statistic:.4g}, p = {test.p_value:.4g} ({permutations} permutations)")
    typer.echo(f"wrote {out}/summary.json and figures")


def load_samples(spec: str, key: Optional[str] = None, nwb: Optional[dict[str, Any]] = None) -> Any:
    """(samples, dims) from .npy, .npz (``key``, or ``latents``, or its only array), .csv/.txt, or a recording
    (file or bundled ``name[:part]``, its counts flattened over trials and time)."""
    import numpy as np

    from neuralign.data.trialdata import TrialData

    from neuralign.data.io import read_npz_arrays

    path = Path(spec)
    suffix = path.suffix.lower()
    if path.is_file() and suffix in (".npy", ".npz", ".csv", ".txt"):
        if suffix == ".npy":
            try:
                array = np.load(path, allow_pickle=False)
            except (ValueError, OSError, EOFError) as error:
                raise ValueError(f"samples: cannot read {spec!r} as a .npy array (empty, truncated, another format "
                                 f"or Python objects): {str(error)[:120]}") from None
        elif suffix == ".npz":
            arrays = read_npz_arrays(path, name="samples", expected="an .npz file of samples (e.g. latents)")
            names = sorted(arrays)
            chosen = key or ("latents" if "latents" in names else (names[0] if len(names) == 1 else None))
            if chosen not in names:
                raise ValueError(f"key: {spec!r} holds {names}; pick one with --key.")
            array = arrays[chosen]
        else:
            try:
                array = np.loadtxt(path, delimiter="," if suffix == ".csv" else None, ndmin=2)
            except ValueError as error:
                raise ValueError(f"samples: cannot read {spec!r} as a table of numbers: {error}") from None
    else:
        from neuralign.data.datasets import resolve_data

        data = resolve_data(spec, nwb=nwb)
        if not isinstance(data, TrialData):
            parts = list(data) if isinstance(data, dict) else list(range(len(data)))
            raise ValueError(f"data: {spec!r} holds several recordings; pick one with {spec}:PART, PART in {parts}.")
        array = data.counts[data.mask]
    array = np.asarray(array)
    if array.ndim == 3:  # (trials, time, dims) -> samples
        array = array.reshape(-1, array.shape[2])
    return array


def compare(first: str = typer.Argument(..., help="samples: .npy/.npz/.csv file or recording (file or name[:part])"),
            second: str = typer.Argument(..., help="the other sample, same dims"),
            key: Optional[str] = typer.Option(None, help="array name inside .npz files (default: latents)"),
            kernel: str = typer.Option("rbf", help="rbf (median heuristic), multi_rbf or linear"),
            permutations: int = typer.Option(1000, help="permutations"),
            unbiased: bool = typer.Option(True, help="unbiased (U) or biased (V) MMD^2"),
            seed: int = typer.Option(0, help="seed of the permutations"),
            out: Optional[Path] = typer.Option(None, "--out", "-o", help="report folder (summary.json, null.png)"),
            bin_size: Optional[float] = bin_size_option(), window: Optional[str] = window_option(),
            event: Optional[str] = event_option(), behavior: Optional[str] = behavior_option(),
            label_column: Optional[str] = label_column_option(),
            force: bool = typer.Option(False, help=FORCE_HELP)) -> None:
    """Do two sets of samples (latents, activity) come from the same distribution? MMD^2 permutation test."""
    from neuralign.metrics.mmd import mmd_test

    with reported():
        if out is not None:
            out = check_output("compare", out, inputs=[first, second], force=force)
        nwb = nwb_options([first, second], bin_size=bin_size, window=window, event=event, behavior=behavior,
                          label_column=label_column)
        x, y = load_samples(first, key, nwb), load_samples(second, key, nwb)
        result = mmd_test(x, y, kernel=kernel, n_permutations=permutations, unbiased=unbiased, seed=seed)
        if out is not None:
            summary = {"first": first, "second": second, "n_first": result.n_x, "n_second": result.n_y,
                       "kernel": kernel, "bandwidth": result.bandwidth, "unbiased": unbiased,
                       "n_permutations": permutations, "mmd2": result.statistic, "p_value": result.p_value}
            _report(out, summary, {f"{first} vs {second}": result}, None, None, "pca")
    typer.echo(f"{first} ({result.n_x}) vs {second} ({result.n_y}): MMD^2 = {result.statistic:.4g}, "
               f"p = {result.p_value:.4g} ({permutations} permutations, {kernel} kernel)")
