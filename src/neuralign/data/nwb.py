"""Read and write TrialData as NWB (Neurodata Without Borders) files with pynwb.

Reading bins the spike times of the Units table around one event time per row of the trials table and
resamples a behaviour TimeSeries to the bin centres. Writing does the reverse: trials are laid end to end in
time, each count ``k`` in a bin becomes ``k`` spike times spread evenly inside that bin, and behaviour becomes a
TimeSeries with timestamps at the bin centres, so ``read_nwb`` of a file from ``write_nwb`` returns the same
counts, labels and behaviour. Both functions are re-exported by :mod:`neuralign.data.io`.
"""

from __future__ import annotations

import os
import uuid
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from neuralign._checks import describe, positive_float, window_signs
from neuralign.data.preprocess import bin_spike_times
from neuralign.data.trialdata import TrialData, check_trialdata

__all__ = ["read_nwb", "write_nwb", "TRIAL_GAP"]

TRIAL_GAP = 1.0  # seconds of silence between consecutive trials in files written by write_nwb
_NOT_BEHAVIOUR = ("ElectricalSeries", "ImageSeries", "ImagingPlane", "TwoPhotonSeries")  # skipped by behavior=None


def _import_pynwb() -> Any:
    try:
        import pynwb
    except ImportError as error:  # pragma: no cover - pynwb is a required dependency
        raise ImportError("NWB support needs pynwb: pip install pynwb (a dependency of neuralign).") from error
    return pynwb


def _bin_centres(start: float, n_bins: int, bin_size: float) -> np.ndarray:
    """(n_bins,) centres of the bins [start + k * bin_size, start + (k + 1) * bin_size)."""
    return start + (np.arange(n_bins) + 0.5) * bin_size


# ------------------------------------------------------------------------------------------------------ read
def read_nwb(path: str | os.PathLike, *, bin_size: float, window: tuple[float, float],
             event: str = "start_time", behavior: str | bool | None = None, label_column: str | None = None,
             units: Sequence[int | str] | None = None) -> TrialData:
    """Bin the spikes of an NWB file into trials.

    Parameters
    ----------
    path : the .nwb file.
    bin_size : bin width in seconds.
    window : (before, after) in seconds, both >= 0; trial ``i`` covers ``[t_i - before, t_i + after)`` where
        ``t_i`` is its event time, cut into ``round((before + after) / bin_size)`` bins. Every trial gets the full
        window, so ragged trials (e.g. from ``write_nwb`` of ragged data) come back with zero counts past their
        end and without ``lengths``.
    event : column of the trials table holding the event times, e.g. ``"start_time"`` or ``"go_cue_time"``.
    behavior : name of a TimeSeries in ``acquisition`` or any processing module; None takes the first
        TimeSeries found (processing module ``"behavior"`` first, raw ElectricalSeries / ImageSeries skipped),
        if any; False reads no behaviour. Data (time,) or (time, dims), with timestamps or rate +
        starting_time, is resampled to the bin centres by linear interpolation (values held constant outside
        the series' time range, with a warning).
    label_column : column of the trials table holding condition labels; non-integer labels (e.g. strings) are
        coded 0, 1, ... in sorted order and their names stored in ``meta["label_names"]``.
    units : optional unit ids (ints, the Units table ``id``) or names (strs, column ``unit_name``) to keep, in
        that order; None keeps all.

    Returns
    -------
    TrialData with counts (trials, time, units), optional behavior (trials, time, dims) and labels (trials,);
    unit names from the Units column ``unit_name`` if present, else the unit ids.
    """
    bin_size = positive_float("bin_size", bin_size)
    before, after = _check_window(window, bin_size)
    n_bins = int(round((before + after) / bin_size))
    if not isinstance(event, str):
        raise TypeError(f"event: expected the name of a trials-table column, got {describe(event)}.")
    if not (behavior is None or behavior is False or isinstance(behavior, str)):
        raise TypeError(f"behavior: expected a TimeSeries name, None (first found) or False, got "
                        f"{describe(behavior)}.")
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike file path, got {describe(path)}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no such file {str(path)!r}.")
    from neuralign.data.io import file_problem

    problem = file_problem(path, "HDF5", "an NWB 2 file (HDF5)")
    if problem:
        raise ValueError(problem)
    pynwb = _import_pynwb()
    io = None
    try:
        io = pynwb.NWBHDF5IO(str(path), mode="r")
        nwbfile = io.read()
    except Exception as error:  # OSError for non-HDF5 files, hdmf errors for HDF5 files that are not NWB
        if io is not None:
            io.close()
        raise ValueError(f"path: cannot read {str(path)!r} as NWB; expected an NWB 2 file "
                         f"({type(error).__name__}: {error}).") from None
    with io:
        event_times, labels, meta = _read_trials(nwbfile, path, event, label_column)
        spike_times, unit_names = _read_units(nwbfile, path, units)
        starts = event_times - before
        counts = _bin_trials(spike_times, starts, n_bins, bin_size)
        series = None if behavior is False else _find_series(nwbfile, path, behavior, pynwb)
        behaviour = None if series is None else _resample(series, starts, n_bins, bin_size)
        meta.update({"source": "nwb", "identifier": str(nwbfile.identifier)})
        if nwbfile.session_id:
            meta["session"] = str(nwbfile.session_id)
        if nwbfile.subject is not None and nwbfile.subject.subject_id:
            meta["subject"] = str(nwbfile.subject.subject_id)
        if series is not None:
            meta["behavior_series"] = series.name
    return TrialData(counts, behavior=behaviour, labels=labels, bin_size=bin_size, unit_names=unit_names,
                     meta=meta)


def _check_window(window: Any, bin_size: float) -> tuple[float, float]:
    if not (isinstance(window, (tuple, list)) and len(window) == 2):
        raise TypeError(f"window: expected (before, after) in seconds, got {describe(window)}.")
    try:
        before, after = float(window[0]), float(window[1])
    except (TypeError, ValueError):
        raise TypeError(f"window: expected two numbers (before, after) in seconds, got {window!r}.") from None
    if not (np.isfinite(before) and np.isfinite(after)):
        raise ValueError(f"window: expected finite (before, after) seconds, got {window!r}.")
    window_signs("window", before, after)
    if round((before + after) / bin_size) < 1:
        raise ValueError(f"window: expected before + after to span at least one bin ({bin_size} s), got "
                         f"{window!r}.")
    return before, after


def _read_trials(nwbfile: Any, path: Path, event: str,
                 label_column: str | None) -> tuple[np.ndarray, np.ndarray | None, dict[str, Any]]:
    trials = nwbfile.trials
    if trials is None or len(trials) == 0:
        raise ValueError(f"path: {str(path)!r} has no trials table (or it is empty); read_nwb cuts trials at the "
                         "event times in it.")
    columns = list(trials.colnames)
    for argument, column in (("event", event), ("label_column", label_column)):
        if column is not None and column not in columns:
            raise ValueError(f"{argument}: no column {column!r} in the trials table of {str(path)!r}; "
                             f"available columns: {columns}.")
    event_times = np.asarray(trials[event][:], dtype=np.float64)
    if event_times.ndim != 1 or not np.isfinite(event_times).all():
        raise ValueError(f"event: column {event!r} must hold one finite time per trial; got "
                         f"{int((~np.isfinite(event_times)).sum())} NaN/Inf values.")
    meta: dict[str, Any] = {}
    labels = None
    if label_column is not None:
        raw = np.asarray(trials[label_column][:])
        if raw.dtype.kind == "S" or raw.dtype == object:
            raw = np.array([value.decode() if isinstance(value, bytes) else value for value in raw])
        if raw.dtype.kind == "f" and not np.isfinite(raw).all():
            raise ValueError(f"label_column: column {label_column!r} holds {int((~np.isfinite(raw)).sum())} "
                             "NaN/Inf labels; every trial needs a label (or pass label_column=None).")
        numeric_integers = raw.dtype.kind in "iub" or (
            raw.dtype.kind == "f" and np.all(np.mod(raw, 1) == 0))
        if numeric_integers:
            labels = raw.astype(np.int64)
        else:
            names, labels = np.unique(raw.astype(str), return_inverse=True)
            meta["label_names"] = [str(name) for name in names]
    return event_times, labels, meta


def _read_units(nwbfile: Any, path: Path,
                units: Sequence[int | str] | None) -> tuple[list[np.ndarray], list[str]]:
    table = nwbfile.units
    if table is None or len(table) == 0 or "spike_times" not in table.colnames:
        raise ValueError(f"path: {str(path)!r} has no Units table with spike_times; read_nwb bins sorted spikes.")
    flat = np.asarray(table.spike_times.data[:], dtype=np.float64)
    ends = np.asarray(table.spike_times_index.data[:], dtype=np.int64)
    spike_times = np.split(flat, ends[:-1])
    ids = [int(unit_id) for unit_id in table.id[:]]
    names = ([str(name) for name in table["unit_name"][:]] if "unit_name" in table.colnames
             else [str(unit_id) for unit_id in ids])
    if units is None:
        return spike_times, names
    if isinstance(units, (str, int)) or not all(isinstance(unit, (str, int, np.integer)) for unit in units):
        raise TypeError(f"units: expected a sequence of unit ids (int) or names (str), got {describe(units)}.")
    index = []
    for unit in units:
        lookup, kind = (names, "names") if isinstance(unit, str) else (ids, "ids")
        if unit not in lookup:
            raise ValueError(f"units: no unit {unit!r} in {str(path)!r}; available unit {kind}: "
                             f"{lookup[:20]}{' ...' if len(lookup) > 20 else ''}.")
        index.append(lookup.index(unit))
    if not index:
        raise ValueError("units: expected at least one unit, got an empty sequence.")
    return [spike_times[i] for i in index], [names[i] for i in index]


def _bin_trials(spike_times: list[np.ndarray], starts: np.ndarray, n_bins: int, bin_size: float) -> np.ndarray:
    """(trials, n_bins, units) counts; each unit's spikes are sorted once and sliced to each trial's window
    before ``bin_spike_times``, so long recordings are not re-sorted for every trial."""
    spike_times = [np.sort(times) for times in spike_times]
    counts = np.empty((starts.size, n_bins, len(spike_times)), dtype=np.float32)
    for trial, start in enumerate(starts):
        edges = start + np.arange(n_bins + 1) * bin_size
        inside = [times[np.searchsorted(times, edges[0], "left"):np.searchsorted(times, edges[-1], "right")]
                  for times in spike_times]
        counts[trial] = bin_spike_times(inside, edges)
    return counts


def _all_series(nwbfile: Any, pynwb: Any) -> list[tuple[str, Any]]:
    """(location, TimeSeries) in search order: processing module "behavior", other modules, acquisition."""
    modules = sorted(nwbfile.processing.items(), key=lambda item: item[0] != "behavior")
    containers = [(f"processing/{name}", module.data_interfaces) for name, module in modules]
    containers.append(("acquisition", nwbfile.acquisition))
    found = []
    for location, interfaces in containers:
        for name, interface in interfaces.items():
            if isinstance(interface, pynwb.base.TimeSeries):
                found.append((f"{location}/{name}", interface))
            else:  # containers of series such as Position or BehavioralTimeSeries
                for child in getattr(interface, "children", []):
                    if isinstance(child, pynwb.base.TimeSeries):
                        found.append((f"{location}/{name}/{child.name}", child))
    return found


def _find_series(nwbfile: Any, path: Path, behavior: str | None, pynwb: Any) -> Any:
    found = _all_series(nwbfile, pynwb)
    if behavior is None:
        candidates = [series for _, series in found if type(series).__name__ not in _NOT_BEHAVIOUR]
        return candidates[0] if candidates else None
    for location, series in found:
        if behavior in (series.name, location):
            return series
    raise ValueError(f"behavior: no TimeSeries named {behavior!r} in {str(path)!r}; available series: "
                     f"{[location for location, _ in found]}. Pass behavior=False to read no behaviour.")


def _resample(series: Any, starts: np.ndarray, n_bins: int, bin_size: float) -> np.ndarray:
    """(trials, n_bins, dims) values of ``series`` at the bin centres, by linear interpolation."""
    data = np.asarray(series.data[:], dtype=np.float64)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] < 1:
        raise ValueError(f"behavior: TimeSeries {series.name!r} must have data of shape (time,) or (time, dims), "
                         f"got {data.shape}.")
    data = data * float(series.conversion) + float(getattr(series, "offset", 0.0) or 0.0)
    if series.timestamps is not None:
        times = np.asarray(series.timestamps[:], dtype=np.float64)
    else:
        times = float(series.starting_time or 0.0) + np.arange(data.shape[0]) / float(series.rate)
    if times.shape[0] != data.shape[0] or np.any(np.diff(times) < 0):
        raise ValueError(f"behavior: TimeSeries {series.name!r} needs one increasing timestamp per sample, got "
                         f"{times.shape[0]} timestamps for {data.shape[0]} samples.")
    centres = np.stack([_bin_centres(start, n_bins, bin_size) for start in starts])
    outside = int(((centres < times[0]) | (centres > times[-1])).sum())
    if outside:
        warnings.warn(f"behavior: {outside} bin centres lie outside the time range of TimeSeries "
                      f"{series.name!r} ({times[0]:g} to {times[-1]:g} s); they take its first / last value.",
                      stacklevel=3)
    out = np.empty(centres.shape + (data.shape[1],), dtype=np.float64)
    for dim in range(data.shape[1]):
        out[:, :, dim] = np.interp(centres, times, data[:, dim])
    return out


# ----------------------------------------------------------------------------------------------------- write
def write_nwb(data: TrialData, path: str | os.PathLike, *, session_description: str = "neuralign export",
              behavior_name: str = "behavior", identifier: str | None = None) -> Path:
    """Write one TrialData as an NWB file, atomically.

    Trial ``i`` starts at ``i * (n_time * bin_size + TRIAL_GAP)`` seconds. The file holds a trials table
    (start_time, stop_time and, if labels exist, ``label``), a Units table with spike times (count ``k`` in a
    bin -> ``k`` spikes at ``bin_start + (j + 0.5) / k * bin_size``) and column ``unit_name`` if unit names
    exist, and behaviour as a TimeSeries ``behavior_name`` with timestamps at the bin centres in processing
    module ``"behavior"``. Ragged trials: only valid bins are written. Latents and meta are not written.
    ``read_nwb(path, bin_size=data.bin_size, window=(0, data.n_time * data.bin_size), label_column="label")``
    returns the same counts, labels and behaviour (for ragged data, zeros / interpolated values past each
    trial's length and no ``lengths``).

    Parameters
    ----------
    data : TrialData whose counts (trials, time, units) are integer-valued spike counts.
    path : the .nwb file to write.
    session_description, identifier : NWB file fields; ``identifier`` defaults to a random UUID.
    behavior_name : name of the behaviour TimeSeries.
    """
    from neuralign._atomic import atomic_write

    check_trialdata("data", data)
    counts = data.counts
    if data.signal != "counts" or not np.array_equal(counts, np.round(counts)):
        raise ValueError(f"data: NWB stores spike times, so data.counts must be integer-valued spike counts "
                         f"(signal='counts'); got signal={data.signal!r} and values such as "
                         f"{counts[counts != np.round(counts)][:3].tolist()}. Save smoothed or continuous data "
                         "as .npz or .h5 with neuralign.data.io.save instead.")
    for name, value in (("session_description", session_description), ("behavior_name", behavior_name)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name}: expected a non-empty string, got {describe(value)}.")
    if identifier is not None and not isinstance(identifier, str):
        raise TypeError(f"identifier: expected a string or None, got {describe(identifier)}.")
    pynwb = _import_pynwb()
    path = Path(path)
    nwbfile = _build_nwbfile(data, pynwb, session_description, behavior_name,
                             identifier or str(uuid.uuid4()))

    def write(tmp: str) -> None:
        with pynwb.NWBHDF5IO(tmp, mode="w") as io:
            io.write(nwbfile)

    atomic_write(path, write)
    return path


def _build_nwbfile(data: TrialData, pynwb: Any, session_description: str, behavior_name: str,
                   identifier: str) -> Any:
    from hdmf.common import VectorData, VectorIndex

    bin_size, n_time = data.bin_size, data.n_time
    lengths = data.mask.sum(axis=1)
    trial_starts = np.arange(data.n_trials) * (n_time * bin_size + TRIAL_GAP)
    nwbfile = pynwb.NWBFile(session_description=session_description, identifier=identifier,
                            session_start_time=datetime.now(timezone.utc),
                            session_id=str(data.meta["session"]) if "session" in data.meta else None)
    # tables built column-wise from arrays: row-by-row add_trial / add_unit is slow for long recordings
    columns = [VectorData(name="start_time", description="trial start (s)", data=trial_starts),
               VectorData(name="stop_time", description="end of the trial's valid bins (s)",
                          data=trial_starts + lengths * bin_size)]
    if data.labels is not None:
        columns.append(VectorData(name="label", description="condition label", data=data.labels))
    nwbfile.trials = pynwb.epoch.TimeIntervals(name="trials", description="trials written by neuralign",
                                               id=np.arange(data.n_trials), columns=columns)
    flat, ends = _spike_times_from_counts(data.counts * data.mask[:, :, None], trial_starts, bin_size)
    spike_times = VectorData(name="spike_times", description="spike times (s)", data=flat)
    columns = [spike_times, VectorIndex(name="spike_times_index", data=ends, target=spike_times)]
    if data.unit_names is not None:
        columns.append(VectorData(name="unit_name", description="unit name", data=np.array(data.unit_names)))
    nwbfile.units = pynwb.misc.Units(name="units", description="spike times reconstructed from binned counts",
                                     id=np.arange(data.n_units), columns=columns)
    if data.behavior is not None:
        trial_index, bin_index = np.nonzero(data.mask)
        timestamps = np.concatenate([_bin_centres(trial_starts[trial], int(lengths[trial]), bin_size)
                                     for trial in range(data.n_trials)])
        module = nwbfile.create_processing_module(name="behavior", description="behaviour written by neuralign")
        module.add(pynwb.TimeSeries(name=behavior_name, data=data.behavior[trial_index, bin_index],
                                    unit="a.u.", timestamps=timestamps,
                                    description="behaviour sampled at the bin centres"))
    return nwbfile


def _spike_times_from_counts(counts: np.ndarray, trial_starts: np.ndarray,
                             bin_size: float) -> tuple[np.ndarray, np.ndarray]:
    """Spike times of all units from integer counts (trials, time, units), ragged-packed.

    Returns
    -------
    flat : (spikes,) spike times, unit by unit, sorted within each unit.
    ends : (units,) end of each unit's slice of ``flat`` (the NWB ``spike_times_index``).
    """
    counts = np.round(counts).astype(np.int64)
    trial, time, unit = np.nonzero(counts)
    k = counts[trial, time, unit]
    spike_owner = np.repeat(np.arange(k.size), k)  # the (trial, bin, unit) entry each spike comes from
    first_spike = np.cumsum(k) - k
    j = np.arange(spike_owner.size) - first_spike[spike_owner]  # index of the spike within its bin
    times = trial_starts[trial[spike_owner]] + (time[spike_owner] + (j + 0.5) / k[spike_owner]) * bin_size
    units = unit[spike_owner]
    order = np.lexsort((times, units))
    ends = np.searchsorted(units[order], np.arange(1, counts.shape[2] + 1))
    return times[order], ends.astype(np.int64)
