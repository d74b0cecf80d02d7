"""Read and write TrialData as .npz, HDF5 (.h5 / .hdf5) and NWB (.nwb).

``save(data, path)`` and ``load(path)`` pick the format from the file suffix (or ``format=``). npz and HDF5 hold
a single TrialData, a list of TrialData (multi-session) or a dict name -> TrialData (multi-region), and
``load`` returns the same structure with every field intact: counts, behavior, labels, lengths, latents,
bin_size, unit_names, signal and meta (stored as a JSON string, so meta must be JSON-serialisable; tuples come
back as lists). Both carry a format marker (``"neuralign.trialdata"``) and a format version; npz files are
written and read with ``allow_pickle=False``, so loading never executes pickled code.

Files without the marker are read as plain arrays when they hold a ``counts`` array (trials, time, units) (or
(time, units): one trial), with optional ``behavior``, ``labels``, ``lengths``, ``bin_size`` (seconds, a scalar;
0.02 when absent) and ``unit_names``: ``numpy.savez(path, counts=..., bin_size=0.05)`` or an HDF5 file with those
datasets at its root. A :class:`neuralign._checks.Note` warning says so (the command line prints it as a note).
Empty, truncated and foreign files get a message that says which of these they are.

NWB holds one TrialData as spike times, a trials table and a behaviour TimeSeries; see
:func:`neuralign.data.nwb.read_nwb` and :func:`neuralign.data.nwb.write_nwb` (re-exported here).

Every write goes to a temporary file in the target directory that is renamed into place (``os.replace``), so
a failed write leaves no temporary file behind and an existing file at ``path`` untouched.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Any, Union

import numpy as np

from neuralign._atomic import atomic_write
from neuralign._checks import Note, describe, one_of
from neuralign.data.nwb import read_nwb, write_nwb
from neuralign.data.trialdata import TrialData

__all__ = ["save", "load", "read_nwb", "write_nwb", "read_npz_arrays", "file_problem", "FORMAT_NAME",
           "FORMAT_VERSION", "PLAIN_KEYS"]

FORMAT_NAME = "neuralign.trialdata"
FORMAT_VERSION = 1
FORMATS = ("npz", "h5", "nwb")
_SUFFIXES = {".npz": "npz", ".h5": "h5", ".hdf5": "h5", ".nwb": "nwb"}
_ARRAYS = ("counts", "behavior", "labels", "lengths", "latents")
PLAIN_KEYS = ("counts", "behavior", "labels", "lengths", "bin_size", "unit_names")  # read from marker-less files
_MAGIC = ((b"PK", "a zip archive (.npz)"), (b"\x93NUMPY", "a single NumPy array (.npy)"),
          (b"\x89HDF\r\n\x1a\n", "an HDF5 file (.h5, .nwb)"))

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
    contents = read_npz_arrays(path, expected="an .npz file written by neuralign.data.io.save or numpy.savez "
                                              "with a 'counts' array")
    if "__neuralign__" not in contents:
        return {"kind": "single"}, [_plain(path, contents, "'__neuralign__' format marker")]
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

    expected = "an .h5 file written by neuralign.data.io.save or with a 'counts' dataset at its root"
    problem = file_problem(path, "HDF5", expected)
    if problem:
        raise ValueError(problem)
    try:
        file = h5py.File(path, "r")
    except OSError as error:
        raise ValueError(f"path: cannot read {str(path)!r} as HDF5: it is truncated or corrupt ({error}); "
                         f"expected {expected}.") from None
    with file:
        if "neuralign" not in file.attrs:
            if "nwb_version" in file.attrs:
                raise ValueError(f"path: {str(path)!r} is not a {FORMAT_NAME!r} file (no 'neuralign' format "
                                 "marker); it looks like an NWB file: pass format='nwb' (or name it .nwb) with "
                                 "bin_size and window.")
            try:
                arrays = {key: file[key][()] for key in PLAIN_KEYS
                          if key in file and isinstance(file[key], h5py.Dataset)}
            except OSError as error:
                raise ValueError(f"path: {str(path)!r} is corrupt: {error}.") from None
            others = [key for key in file.keys() if key not in arrays]
            return {"kind": "single"}, [_plain(path, {**arrays, **{key: None for key in others}},
                                               "'neuralign' format marker")]
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


# ------------------------------------------------------------------------------------------------- diagnosis
def file_problem(path: Path, format_name: str, expected: str) -> str | None:
    """A one-line message when ``path`` is empty or plainly not a ``format_name`` file ("npz", "HDF5"), else
    None. Used before handing a file to numpy or h5py, whose own messages for these cases mislead (numpy answers
    a text file with advice about pickles)."""
    size = path.stat().st_size
    if size == 0:
        return (f"path: cannot read {str(path)!r}: it is empty (0 bytes); expected {expected}. Was it written "
                "completely? Write it again.")
    with open(path, "rb") as handle:
        head = handle.read(8)
    looks = next((kind for magic, kind in _MAGIC if head.startswith(magic)), None)
    wanted = {"npz": b"PK", "HDF5": b"\x89HDF"}[format_name]
    if head.startswith(wanted):
        return None
    if looks is None:
        printable = head.decode("ascii", errors="replace")
        looks = (f"text starting {printable!r}" if all(32 <= byte < 127 or byte in (9, 10, 13) for byte in head)
                 else "binary data of another format")
    kind = "a zip archive" if format_name == "npz" else "an HDF5 file"
    hint = ""
    if looks.startswith("a single NumPy array"):
        hint = " Save arrays with numpy.savez(path, counts=...) instead of numpy.save."
    return f"path: cannot read {str(path)!r}: it is not {kind} but {looks}; expected {expected}.{hint}"


def read_npz_arrays(path: str | os.PathLike, *, expected: str = "an .npz file (numpy.savez)",
                    name: str = "path") -> dict[str, np.ndarray]:
    """Every array of an .npz file, read without pickles; a clear error for empty, truncated, foreign files
    and object arrays. ``expected`` says what the file should be, ``name`` is the argument, for messages."""
    path = Path(path)
    problem = file_problem(path, "npz", expected)
    if problem:
        raise ValueError(problem.replace("path:", f"{name}:", 1))
    try:
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, KeyError) as error:
        raise ValueError(f"{name}: cannot read {str(path)!r}: it is a truncated or corrupt zip archive "
                         f"({type(error).__name__}: {error}); expected {expected}. Write it again.") from None
    except ValueError as error:
        if "pickle" in str(error):
            raise ValueError(f"{name}: {str(path)!r} holds arrays of Python objects, which neuralign does not "
                             "load (loading them could run code); save numeric arrays instead.") from None
        raise ValueError(f"{name}: cannot read {str(path)!r}: a corrupt array ({error}); expected {expected}.") \
            from None


def _plain(path: Path, arrays: dict[str, Any], marker: str) -> TrialData:
    """A TrialData from a marker-less file's plain arrays (module docstring), with a note saying so."""
    if "counts" not in arrays or arrays["counts"] is None:
        raise ValueError(f"path: {str(path)!r} is not a {FORMAT_NAME!r} file (no {marker}) and has no 'counts' "
                         f"array to read as plain arrays; found keys {sorted(arrays)[:8]}. Write it with "
                         "neuralign.data.io.save, or numpy.savez(path, counts=(trials, time, units), "
                         "behavior=..., labels=..., bin_size=...).")
    fields: dict[str, Any] = {key: arrays[key] for key in PLAIN_KEYS if arrays.get(key) is not None}
    ignored = sorted(key for key in arrays if key not in fields)
    counts = np.asarray(fields["counts"])
    if counts.ndim == 2:  # (time, units): one trial
        fields["counts"] = counts[None]
        if fields.get("behavior") is not None and np.ndim(fields["behavior"]) == 2:
            fields["behavior"] = np.asarray(fields["behavior"])[None]
    if "bin_size" in fields:
        bin_size = np.asarray(fields["bin_size"])
        if bin_size.size != 1 or not np.issubdtype(bin_size.dtype, np.number):
            raise ValueError(f"bin_size: expected one number (seconds) in {str(path)!r}, got "
                             f"{describe(bin_size)}.")
        fields["bin_size"] = float(bin_size.reshape(()))
    if "unit_names" in fields:
        fields["unit_names"] = [str(name.decode() if isinstance(name, bytes) else name)
                                for name in np.asarray(fields["unit_names"]).reshape(-1)]
    try:
        data = TrialData(**fields, meta={"source": str(path), "read_as": "plain arrays"})
    except (TypeError, ValueError) as error:
        raise type(error)(f"path: {str(path)!r} read as plain arrays: {error}") from None
    read = ", ".join(key for key in PLAIN_KEYS if key in fields)
    warnings.warn(f"{str(path)!r} has no {marker}: read as plain arrays ({read}"
                  f"{'' if 'bin_size' in fields else f'; bin_size {data.bin_size:g} s assumed'}"
                  f"{'; counts (time, units) as one trial' if counts.ndim == 2 else ''}"
                  f"{f'; ignored {ignored}' if ignored else ''}).", Note, stacklevel=4)
    return data
