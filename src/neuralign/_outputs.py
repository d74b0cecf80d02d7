"""The output check every command runs before any work.

``check_output(command, path, inputs=..., force=...)`` refuses, with a ``ValueError`` naming ``out``, what was
expected, what was given and how to fix it:

- an output of the wrong kind: a folder where the command writes a file, a file where it writes a folder, or a
  file name without the suffix the command writes (``fit --out model.npz``);
- a target folder that neither exists nor can be created, or that cannot be written to (read-only, no
  permission): tested by creating and removing a temporary file, so it holds for root and read-only mounts too;
- an output that is one of the command's inputs (paths resolved, so ``./a.npz``, ``a.npz`` and links to it are
  the same file), or a folder output that would overwrite one of them;
- without ``force``: an existing output of another kind, e.g. ``encode --out data.npz`` where ``data.npz`` holds
  a recording rather than latents, or a folder holding files of the same names that an earlier run of another
  command wrote. An earlier output of the same command is overwritten without asking (re-running a command
  replaces its output).

It creates nothing: folders are made by :func:`make_parent` / :func:`make_folder` just before writing.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

Recognise = Callable[[Path], bool]


# ------------------------------------------------------------------------------------------ recognisers
def _npz_keys(path: Path) -> list[str]:
    """The array names of an .npz file (a zip archive of ``NAME.npy``), or [] when it is not readable."""
    try:
        with zipfile.ZipFile(path) as archive:
            return [name[:-4] if name.endswith(".npy") else name for name in archive.namelist()]
    except (OSError, zipfile.BadZipFile, ValueError):
        return []


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.readline()
    except OSError:
        return ""


def is_model_file(path: Path) -> bool:
    """A file written by ``Estimator.save`` (read without executing pickled code)."""
    try:
        from neuralign._atomic import load_torch

        return load_torch(path, expected="a neuralign model").get("format") == "neuralign.model"
    except Exception:  # any unreadable file is simply not a model
        return False


def _npz_with(*keys: str) -> Recognise:
    return lambda path: set(keys) <= set(_npz_keys(path))


def _json_with(*keys: str) -> Recognise:
    def recognise(path: Path) -> bool:
        value = _json(path)
        return isinstance(value, dict) and set(keys) <= set(value)
    return recognise


def _starts_with(text: str) -> Recognise:
    return lambda path: _first_line(path).startswith(text)


# ------------------------------------------------------------------------------------------------ specs
@dataclass(frozen=True)
class OutputSpec:
    """What a command writes at ``--out``.

    kind : "file" or "folder".
    what : a few words for messages, e.g. "a fitted model".
    suffixes : a file output's accepted suffixes (lower case).
    writes : a folder output's file names (the ones that could overwrite something).
    recognise : for a file, whether an existing file is an earlier output of this command; for a folder, whether
        the folder holds an earlier output of this command (given the folder).
    """

    kind: str
    what: str
    suffixes: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    recognise: Recognise | None = None


def _folder_marker(name: str, recognise: Recognise) -> Recognise:
    return lambda folder: (folder / name).is_file() and recognise(folder / name)


OUTPUTS: dict[str, OutputSpec] = {
    "fit": OutputSpec("file", "a fitted model", (".pt",), recognise=is_model_file),
    "vocal fit": OutputSpec("file", "a fitted VocalVAE", (".pt",), recognise=is_model_file),
    "encode": OutputSpec("file", "latents", (".npz",), recognise=_npz_with("latents")),
    "vocal segment": OutputSpec("file", "syllable images", (".npz",), recognise=_npz_with("images", "onsets")),
    "bench": OutputSpec("file", "benchmark results", (".json",), recognise=_json_with("benchmark", "rows")),
    "align": OutputSpec("folder", "an alignment report", writes=("aligned.npz", "summary.md", "report.json"),
                        recognise=_folder_marker("summary.md", _starts_with("# neuralign align"))),
    "demo": OutputSpec("folder", "the demo report",
                       writes=("summary.md", "metrics.json", "latents.png", "velocity.png", "candidates.png",
                               "lfads_source.pt"),
                       recognise=_folder_marker("summary.md", _starts_with("# neuralign demo"))),
    "neat": OutputSpec("folder", "a NEAT report",
                       writes=("report.md", "results.json", "latents.npz", "displacement_per_class.png",
                               "similarity_vs_lambda.png", "similarity_matrices.png"),
                       recognise=_folder_marker("results.json", _json_with("names", "lambdas", "results"))),
    "compare": OutputSpec("folder", "an MMD comparison report", writes=("summary.json", "null.png"),
                          recognise=_folder_marker("summary.json", _json_with("mmd2", "p_value"))),
    "vocal compare": OutputSpec("folder", "a vocalisation comparison report",
                                writes=("summary.json", "null.png", "latents.npz", "embedding.png",
                                        "mmd_matrix.png"),
                                recognise=_folder_marker("summary.json", _json_with("groups", "tests"))),
    "snapshots fit": OutputSpec("folder", "a snapshot-method report",
                                writes=("predicted.npz", "report.json", "model.pt", "clouds.png", "distances.png"),
                                recognise=_folder_marker("report.json", _json_with("method", "per_time"))),
    "sweep": OutputSpec("folder", "a sweep", writes=("sweep.yaml", "results.csv", "results.json", "best_model.pt",
                                                   "metric_over_time.png", "pbt_lineage.png"),
                        recognise=_folder_marker("sweep.yaml", _starts_with("model:"))),
    "render": OutputSpec("folder", "the benchmark pages", writes=("README.md",),  # + one NAME.md per NAME.json
                         recognise=_folder_marker("README.md", _starts_with("_Generated by `neuralign render`"))),
}


# ------------------------------------------------------------------------------------------------ check
def _existing_inputs(inputs: Iterable[Any]) -> list[Path]:
    """The inputs that are paths on disk (data specs such as ``erdiff_miller_co:source`` are skipped), resolved."""
    found = []
    for spec in inputs:
        if spec is None:
            continue
        path = Path(spec)
        try:
            if path.exists():
                found.append(path.resolve())
        except OSError:  # a name too long to be a path, and the like
            continue
    return found


def _same(first: Path, second: Path) -> bool:
    try:
        return first.resolve() == second.resolve() or (first.exists() and second.exists()
                                                       and os.path.samefile(first, second))
    except OSError:
        return False


def _nearest_existing(folder: Path) -> Path:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def check_writable_folder(folder: Path, *, name: str = "out", shown: Path | None = None) -> None:
    """Raise a ValueError unless ``folder`` is a folder that exists and can be written, or can be created.

    Writability is tested by creating and removing a temporary file in the nearest existing folder.
    """
    shown = folder if shown is None else shown
    existing = _nearest_existing(folder)
    if not existing.is_dir():
        raise ValueError(f"{name}: cannot create the folder {str(folder)!r} for {str(shown)!r}: {str(existing)!r} "
                         "is a file, not a folder; choose a path in an existing folder.")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        where = "write to" if existing == folder else f"create {str(folder)!r} in"
        raise ValueError(f"{name}: cannot {where} the folder {str(existing)!r} ({error.strerror or error}); "
                         "choose a folder you can write to.") from None


def check_output(command: str, path: Any, *, inputs: Iterable[Any] = (), force: bool = False,
                 name: str = "out", recognise: Recognise | None = None) -> Path:
    """Check ``path`` as the output of ``neuralign COMMAND`` before any work; returns it as a ``Path``.

    Parameters
    ----------
    command : a key of ``OUTPUTS`` ("fit", "vocal compare", ...).
    path : the ``--out`` value.
    inputs : the command's inputs (file paths, folders or data specs; specs that are not paths are ignored).
    force : overwrite an existing output of another kind.
    name : the option's name in messages.
    recognise : replaces the spec's test of "an earlier output of this command" (e.g. the same benchmark).
    """
    spec = OUTPUTS[command]
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"{name}: expected a {spec.kind} path for {spec.what}, got {path!r}.")
    out = Path(path)
    recognise = recognise or spec.recognise
    sources = _existing_inputs(inputs)
    if spec.kind == "file":
        _check_file(command, spec, out, sources, force, name, recognise)
    else:
        _check_folder(command, spec, out, sources, force, name, recognise)
    return out


def _check_file(command: str, spec: OutputSpec, out: Path, sources: list[Path], force: bool, name: str,
                recognise: Recognise | None) -> None:
    wanted = " or ".join(spec.suffixes)
    if out.is_dir() or str(out).endswith(os.sep):
        raise ValueError(f"{name}: expected a {wanted} file for {spec.what}, got the folder {str(out)!r}; give a "
                         f"file path such as {str(out / ('out' + spec.suffixes[0]))!r}.")
    if spec.suffixes and out.suffix.lower() not in spec.suffixes:
        raise ValueError(f"{name}: expected a {wanted} file for {spec.what}, got {str(out)!r}; give a path ending "
                         f"in {wanted}, e.g. {str(out.with_suffix(spec.suffixes[0]))!r}.")
    for source in sources:
        if _same(out, source):
            raise ValueError(f"{name}: {str(out)!r} is also an input of this command; writing {spec.what} there "
                             "would destroy it. Choose another output path.")
    check_writable_folder(out.parent if str(out.parent) else Path("."), name=name, shown=out)
    if out.exists() and not force and not (recognise is not None and recognise(out)):
        raise ValueError(f"{name}: {str(out)!r} exists and does not hold {spec.what} written by `neuralign "
                         f"{command}`; pass --force to overwrite it, or choose another path.")


def _check_folder(command: str, spec: OutputSpec, out: Path, sources: list[Path], force: bool, name: str,
                  recognise: Recognise | None) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"{name}: expected a folder for {spec.what} (`neuralign {command}` writes "
                         f"{', '.join(spec.writes)} into it), got the file {str(out)!r}; give a folder path (it is "
                         "created if needed).")
    if not out.exists() and out.suffix.lower() in (".npz", ".npy", ".pt", ".json", ".md", ".png", ".h5", ".hdf5",
                                                   ".nwb", ".csv", ".txt", ".yaml", ".wav"):
        raise ValueError(f"{name}: expected a folder for {spec.what}, got {str(out)!r}, which looks like a file "
                         f"name; give a folder path such as {str(out.with_suffix(''))!r}.")
    for source in sources:
        if _same(out, source) or any(_same(out / written, source) for written in spec.writes):
            raise ValueError(f"{name}: writing {spec.what} to {str(out)!r} would overwrite the input "
                             f"{str(source)!r}; choose another folder.")
    check_writable_folder(out, name=name)
    clashes = [written for written in spec.writes if (out / written).exists()]
    if clashes and not force and not (recognise is not None and recognise(out)):
        raise ValueError(f"{name}: the folder {str(out)!r} already holds {', '.join(clashes)}, not from an earlier "
                         f"`neuralign {command}`; pass --force to overwrite them, or choose another folder.")


# ----------------------------------------------------------------------------------------------- making
def make_parent(path: Path) -> None:
    """Create the folder of a file output (checked by :func:`check_output`), just before writing it."""
    if str(path.parent):
        path.parent.mkdir(parents=True, exist_ok=True)


def make_folder(path: Path) -> None:
    """Create a folder output (checked by :func:`check_output`), just before writing into it."""
    path.mkdir(parents=True, exist_ok=True)
