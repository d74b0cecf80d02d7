"""Read and write TrialData as .npz, HDF5 (.h5 / .hdf5) and NWB (.nwb).

``save(data, path)`` and ``load(path)`` pick the format from the file suffix (or ``format=``). npz and HDF5 hold
a single TrialData, a list of TrialData (multi-session) or a dict name -> TrialData (multi-region), and
``load`` returns the same structure with every field intact: counts, behavior, labels, lengths, latents,
bin_size, unit_names, signal and meta (stored as a JSON string, so meta must be JSON-serialisable; tuples come
back as lists). Both carry a format marker (``"neuralign.trialdata"``) and a format version; npz files are
written and read with ``allow_pickle=False``, so loading never executes pickled code.

NWB holds one TrialData as spike times, a trials table and a behaviour TimeSeries; see
:func:`neuralign.data.nwb.read_nwb` and :func:`neuralign.data.nwb.write_nwb` (re-exported here).

Every write goes to a temporary file in the target directory that is renamed into place (``os.replace``), so
a failed write leaves no temporary file behind and an existing file at ``path`` untouched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Union

import numpy as np

from neuralign._atomic import atomic_write
from neuralign._checks import describe, one_of
from neuralign.data.nwb import read_nwb, write_nwb
from neuralign.data.trialdata import TrialData

__all__ = ["save", "load", "read_nwb", "write_nwb", "FORMAT_NAME", "FORMAT_VERSION"]

FORMAT_NAME = "neuralign.trialdata"
FORMAT_VERSION = 1
FORMATS = ("npz", "h5", "nwb")
_SUFFIXES = {".npz": "npz", ".h5": "h5", ".hdf5": "h5", ".nwb": "nwb"}
_ARRAYS = ("counts", "behavior", "labels", "lengths", "latents")

Saveable = Union[TrialData, list, dict]
PathLike = Union[str, os.PathLike]


# ------------------------------------------------------------------------------------------------ public
def save(data: Saveable, path: PathLike, *, format: str | None = None) -> Path:
    """Write ``data`` to ``path`` atomically.

    Parameters
    ----------
    data : a TrialData; for npz and HDF5 also a list of TrialData (multi-session) or a dict
        name -> TrialData (multi-region, string names).
    path : target file; its suffix (.npz, .h5, .hdf5, .nwb) picks the format unless ``format`` is given.
    format : ``"npz"``, ``"h5"`` (or ``"hdf5"``) or ``"nwb"``.

    Returns
    -------
    The path written, as a ``Path``.
    """
    path = _check_path(path)
    fmt = _resolve_format(path, format)
    kind, items, names = _flatten(data, fmt)
    if fmt == "nwb":
        write_nwb(items[0], path)
        return path
    structure = {"kind": kind, "names": names, "n_items": len(items)}
    writer = _write_npz if fmt == "npz" else _write_h5
    atomic_write(path, lambda tmp: writer(tmp, structure, items))
    return path


def load(path: PathLike, *, format: str | None = None, **nwb_options: Any) -> Saveable:
    """Read TrialData written by :func:`save` (npz / HDF5) or any NWB file.

    Parameters
    ----------
    path : file to read; its suffix picks the format unless ``format`` is given.
    format : ``"npz"``, ``"h5"`` (or ``"hdf5"``) or ``"nwb"``.
    **nwb_options : for NWB only, the keyword arguments of :func:`read_nwb` (``bin_size`` and ``window`` are
        required).

    Returns
    -------
    A TrialData, a list of TrialData or a dict name -> TrialData: the structure that was saved.
    """
    path = _check_path(path)
    fmt = _resolve_format(path, format)
    if not path.exists():
        raise FileNotFoundError(f"path: no such file {str(path)!r}.")
    if not path.is_file():
        raise ValueError(f"path: expected a file, got the directory {str(path)!r}.")
    if fmt == "nwb":
        missing = [name for name in ("bin_size", "window") if name not in nwb_options]
        if missing:
            raise TypeError(f"load: reading the NWB file {str(path)!r} bins spike times into trials and needs "
                            f"{' and '.join(missing)}, e.g. load(path, bin_size=0.02, window=(0.2, 0.5)); "
                            "see neuralign.data.io.read_nwb for the other options.")
        return read_nwb(path, **nwb_options)
    if nwb_options:
        raise TypeError(f"load: got unexpected keyword arguments {sorted(nwb_options)}; they apply to NWB files "
                        f"only and {str(path)!r} is read as {fmt}.")
    reader = _read_npz if fmt == "npz" else _read_h5
    structure, items = reader(path)
    if structure["kind"] == "single":
        return items[0]
    if structure["kind"] == "list":
        return items
    return dict(zip(structure["names"], items))


# ----------------------------------------------------------------------------------------------- helpers
def _check_path(path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike file path, got {describe(path)}.")
    return Path(path)


def _resolve_format(path: Path, format: str | None) -> str:
    if format is not None:
        name = "h5" if format == "hdf5" else format
        return one_of("format", name, FORMATS)
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"path: cannot infer the file format of {str(path)!r} from its suffix {suffix!r}; "
                         f"expected one of {sorted(_SUFFIXES)}, or pass format= one of {list(FORMATS)}.")
    return _SUFFIXES[suffix]


def _flatten(data: Any, fmt: str) -> tuple[str, list[TrialData], list[str] | None]:
    """(kind, items, names) of a TrialData / list / dict, with every element checked."""
    if isinstance(data, TrialData):
        return "single", [data], None
    if isinstance(data, (list, dict)):
        if fmt == "nwb":
            raise TypeError(f"data: NWB holds one TrialData, got a {type(data).__name__} of {len(data)}; "
                            "save multi-session or multi-region data as .npz or .h5, or save each item apart.")
        if len(data) == 0:
            raise ValueError(f"data: expected at least one TrialData, got an empty {type(data).__name__}.")
        names = None
        if isinstance(data, dict):
            names = list(data.keys())
            bad_names = [name for name in names if not isinstance(name, str)]
            if bad_names:
                raise TypeError(f"data: dict keys must be strings (region / modality names), got "
                                f"{describe(bad_names[0])}.")
        values = list(data.values()) if isinstance(data, dict) else list(data)
        for key, value in zip(names or range(len(values)), values):
            if not isinstance(value, TrialData):
                raise TypeError(f"data[{key!r}]: expected a neuralign TrialData, got {describe(value)}.")
        return ("dict" if names is not None else "list"), values, names
    raise TypeError(f"data: expected a TrialData, a list of TrialData or a dict name -> TrialData, got "
                    f"{describe(data)}.")


def _attributes_json(index: int, item: TrialData) -> str:
    """The scalar fields of one TrialData as JSON; raises a clear error for non-serialisable meta."""
    bad_keys = [key for key in item.meta if not isinstance(key, str)]
    if bad_keys:
        raise ValueError(f"meta: keys must be strings to round-trip through JSON, got {describe(bad_keys[0])} "
                         f"(item {index}).")
    try:
        meta = json.dumps(item.meta)
    except (TypeError, ValueError) as error:
        raise ValueError(f"meta: expected JSON-serialisable metadata (str, int, float, bool, None, lists and "
                         f"dicts of them), got {describe(item.meta)} (item {index}): {error}. Convert NumPy "
                         "values with .tolist() / .item() or drop the entry.") from None
    return json.dumps({"bin_size": item.bin_size, "signal": item.signal, "meta": meta,
                       "has_unit_names": item.unit_names is not None})


def _header(structure: dict[str, Any]) -> str:
    return json.dumps({"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **structure})


def _check_header(path: Path, text: Any) -> dict[str, Any]:
    expected = f"a {FORMAT_NAME!r} file written by neuralign.data.io.save"
    try:
        header = json.loads(str(text))
    except ValueError:
        raise ValueError(f"path: {str(path)!r} has an unreadable neuralign header; expected {expected}.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ValueError(f"path: {str(path)!r} is not {expected} (format marker missing or wrong).")
    version = header.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"path: {str(path)!r} has an invalid format version {version!r}; expected {expected}.")
    if version > FORMAT_VERSION:
        raise ValueError(f"path: {str(path)!r} has format version {version}, newer than the version this "
                         f"neuralign reads ({FORMAT_VERSION}); upgrade neuralign to read it.")
    if header.get("kind") not in ("single", "list", "dict") or not isinstance(header.get("n_items"), int):
        raise ValueError(f"path: {str(path)!r} has a malformed header {header!r}; expected {expected}.")
    return header


def _build(path: Path, index: int, arrays: dict[str, np.ndarray], attributes_text: str,
           unit_names: list[str] | None) -> TrialData:
    try:
        attributes = json.loads(attributes_text)
        meta = json.loads(attributes["meta"])
        return TrialData(**arrays, bin_size=attributes["bin_size"], signal=attributes["signal"],
                         unit_names=unit_names if attributes["has_unit_names"] else None, meta=meta)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"path: item {index} of {str(path)!r} is corrupt ({type(error).__name__}: {error}).") \
            from None


# ------------------------------------------------------------------------------------------------------ npz
def _write_npz(tmp: str, structure: dict[str, Any], items: list[TrialData]) -> None:
    arrays: dict[str, np.ndarray] = {"__neuralign__": np.array(_header(structure))}
    for index, item in enumerate(items):
        arrays[f"{index}/attributes"] = np.array(_attributes_json(index, item))
        for name in _ARRAYS:
            value = getattr(item, name)
            if value is not None:
                arrays[f"{index}/{name}"] = value
        if item.unit_names is not None:
            arrays[f"{index}/unit_names"] = np.array(item.unit_names, dtype=str)
    with open(tmp, "wb") as stream:
        np.savez_compressed(stream, **arrays)


def _read_npz(path: Path) -> tuple[dict[str, Any], list[TrialData]]:
    try:
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as archive:
            contents = {key: archive[key] for key in archive.files}
    except Exception as error:  # zipfile.BadZipFile, OSError, EOFError, pickled objects, ...
        raise ValueError(f"path: cannot read {str(path)!r} as npz; expected an uncorrupted .npz file written "
                         f"by neuralign.data.io.save ({type(error).__name__}: {error}).") from None
    if "__neuralign__" not in contents:
        raise ValueError(f"path: {str(path)!r} is not a {FORMAT_NAME!r} file (no '__neuralign__' format marker; "
                         f"found keys {sorted(contents)[:8]}); expected a file written by neuralign.data.io.save.")
    header = _check_header(path, contents["__neuralign__"])
    items = []
    for index in range(header["n_items"]):
        if f"{index}/attributes" not in contents:
            raise ValueError(f"path: {str(path)!r} is corrupt: item {index} of {header['n_items']} is missing.")
        arrays = {name: contents[f"{index}/{name}"] for name in _ARRAYS if f"{index}/{name}" in contents}
        names = contents.get(f"{index}/unit_names")
        items.append(_build(path, index, arrays, str(contents[f"{index}/attributes"]),
                            None if names is None else [str(name) for name in names]))
    return header, items


# ------------------------------------------------------------------------------------------------------- h5
def _write_h5(tmp: str, structure: dict[str, Any], items: list[TrialData]) -> None:
    import h5py

    with h5py.File(tmp, "w") as file:
        file.attrs["neuralign"] = _header(structure)
        for index, item in enumerate(items):
            group = file.create_group(str(index))
            group.attrs["attributes"] = _attributes_json(index, item)
            for name in _ARRAYS:
                value = getattr(item, name)
                if value is not None:
                    group.create_dataset(name, data=value, compression="gzip", compression_opts=4)
            if item.unit_names is not None:
                group.create_dataset("unit_names", data=item.unit_names, dtype=h5py.string_dtype("utf-8"))


def _read_h5(path: Path) -> tuple[dict[str, Any], list[TrialData]]:
    import h5py

    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"path: cannot read {str(path)!r} as HDF5; expected an uncorrupted .h5 file written by "
                         f"neuralign.data.io.save ({error}).") from None
    with file:
        if "neuralign" not in file.attrs:
            hint = "; it looks like an NWB file: pass format='nwb'" if "nwb_version" in file.attrs else ""
            raise ValueError(f"path: {str(path)!r} is not a {FORMAT_NAME!r} file (no 'neuralign' format marker)"
                             f"{hint}; expected a file written by neuralign.data.io.save.")
        header = _check_header(path, file.attrs["neuralign"])
        items = []
        for index in range(header["n_items"]):
            try:
                group = file[str(index)]
                arrays = {name: group[name][()] for name in _ARRAYS if name in group}
                names = list(group["unit_names"].asstr()[()]) if "unit_names" in group else None
                attributes = group.attrs["attributes"]
            except (KeyError, OSError) as error:
                raise ValueError(f"path: {str(path)!r} is corrupt: cannot read item {index} ({error}).") from None
            items.append(_build(path, index, arrays, str(attributes), names))
    return header, items
