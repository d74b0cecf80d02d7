"""TrialData: the one data container of neuralign.

Spike counts (trials, time, units) with optional behaviour (trials, time, dims), labels (trials,), per-trial
lengths for ragged trials, ground-truth latents (synthetic data), bin size, unit names and metadata. The leading
axis is always trials. Multi-session data is a list of TrialData; multi-region and multi-modal data is a dict
name -> TrialData with the same trials.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from neuralign._checks import as_array, describe, fraction, one_of, positive_float, positive_int, window_signs

from neuralign.data.preprocess import cut_windows, smooth_along_time

SIGNALS = ("counts", "continuous")


@dataclass(slots=True)
class TrialData:
    """Binned spike counts of one recording session, cut into trials.

    Parameters
    ----------
    counts : (trials, time, units) non-negative spike counts (stored float32).
    behavior : optional (trials, time, dims) behaviour, e.g. hand velocity.
    labels : optional (trials,) integer condition labels, e.g. reach direction.
    lengths : optional (trials,) number of valid bins per trial (ragged trials); bins past a trial's length
        are padding and are masked out everywhere (see ``mask``).
    latents : optional (trials, time, k) ground-truth latents, known for synthetic data.
    bin_size : bin width in seconds.
    unit_names : optional list of one name per unit.
    meta : free-form metadata, e.g. ``{"subject": "M", "session": "day1", "region": "M1"}``.
    signal : ``"counts"`` (non-negative spike counts, the default) or ``"continuous"`` (real-valued activity:
        residual counts, calcium, network activations; negative values allowed, Poisson models refuse it).

    Examples
    --------
    >>> import numpy as np
    >>> data = TrialData(np.zeros((4, 10, 3)), labels=np.array([0, 1, 0, 1]))
    >>> data.n_trials, data.n_time, data.n_units
    (4, 10, 3)
    """

    counts: np.ndarray
    behavior: np.ndarray | None = None
    labels: np.ndarray | None = None
    lengths: np.ndarray | None = None
    latents: np.ndarray | None = None
    bin_size: float = 0.02
    unit_names: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    signal: str = "counts"

    def __post_init__(self) -> None:
        one_of("signal", self.signal, SIGNALS)
        self.counts = as_array("counts", self.counts, ndim=3, nonnegative=self.signal == "counts")
        if min(self.counts.shape) == 0:
            raise ValueError(f"counts: expected at least one trial, time bin and unit, got {describe(self.counts)}.")
        trials, time, units = self.counts.shape
        if self.behavior is not None:
            self.behavior = as_array("behavior", self.behavior, ndim=3)
            self._check_leading("behavior", self.behavior, trials, time)
        if self.latents is not None:
            self.latents = as_array("latents", self.latents, ndim=3)
            self._check_leading("latents", self.latents, trials, time)
        if self.labels is not None:
            labels = as_array("labels", self.labels, ndim=1, dtype=None)
            if not np.issubdtype(labels.dtype, np.integer):
                if not np.all(np.equal(np.mod(labels, 1), 0)):
                    raise TypeError(f"labels: expected integer condition labels, got {describe(labels)}.")
            self.labels = labels.astype(np.int64)
            if self.labels.shape[0] != trials:
                raise ValueError(f"labels: expected {trials} labels (one per trial of counts), "
                                 f"got {self.labels.shape[0]}.")
        if self.lengths is not None:
            lengths = as_array("lengths", self.lengths, ndim=1, dtype=None)
            if not np.issubdtype(lengths.dtype, np.integer):
                raise TypeError(f"lengths: expected integers, got {describe(lengths)}.")
            if lengths.shape[0] != trials:
                raise ValueError(f"lengths: expected {trials} lengths (one per trial), got {lengths.shape[0]}.")
            if lengths.min() < 1 or lengths.max() > time:
                raise ValueError(f"lengths: expected values in [1, {time}] (the time axis of counts), "
                                 f"got min {lengths.min()} and max {lengths.max()}.")
            self.lengths = lengths.astype(np.int64)
        self.bin_size = positive_float("bin_size", self.bin_size)
        if self.unit_names is not None:
            self.unit_names = [str(name) for name in self.unit_names]
            if len(self.unit_names) != units:
                raise ValueError(f"unit_names: expected {units} names (one per unit of counts), "
                                 f"got {len(self.unit_names)}.")
        if not isinstance(self.meta, dict):
            raise TypeError(f"meta: expected a dict, got {describe(self.meta)}.")

    @staticmethod
    def _check_leading(name: str, array: np.ndarray, trials: int, time: int) -> None:
        if array.shape[:2] != (trials, time):
            raise ValueError(f"{name}: expected shape ({trials}, {time}, dims) to match counts "
                             f"(trials, time, units), got {array.shape}.")
        if array.shape[2] == 0:
            raise ValueError(f"{name}: expected at least one dimension, got shape {array.shape}.")

    # ----------------------------------------------------------------------------------------------- shape
    @property
    def n_trials(self) -> int:
        return self.counts.shape[0]

    @property
    def n_time(self) -> int:
        return self.counts.shape[1]

    @property
    def n_units(self) -> int:
        return self.counts.shape[2]

    @property
    def mask(self) -> np.ndarray:
        """(trials, time) boolean: True on valid bins, False on padding past a trial's length."""
        if self.lengths is None:
            return np.ones((self.n_trials, self.n_time), dtype=bool)
        return np.arange(self.n_time)[None, :] < self.lengths[:, None]

    def __repr__(self) -> str:
        parts = [f"trials={self.n_trials}", f"time={self.n_time}", f"units={self.n_units}",
                 f"bin_size={self.bin_size:g}s"]
        if self.behavior is not None:
            parts.append(f"behavior_dims={self.behavior.shape[2]}")
        if self.labels is not None:
            parts.append(f"conditions={len(np.unique(self.labels))}")
        if self.lengths is not None:
            parts.append("ragged")
        if self.latents is not None:
            parts.append(f"true_latents={self.latents.shape[2]}")
        if self.signal != "counts":
            parts.append(f"signal={self.signal}")
        if self.meta:
            shown = {k: v for k, v in self.meta.items() if isinstance(v, (str, int, float)) and len(str(v)) <= 30}
            hidden = [k for k in self.meta if k not in shown]
            parts.append(f"meta={shown}" + (f" (+{', '.join(hidden)})" if hidden else ""))
        return f"TrialData({', '.join(parts)})"

    # ----------------------------------------------------------------------------------------- selection
    def subset(self, trials: Sequence[int] | np.ndarray | None = None,
               units: Sequence[int] | np.ndarray | None = None) -> "TrialData":
        """A new TrialData with the given trials and/or units (integer indices or boolean masks)."""
        trial_index = self._index("trials", trials, self.n_trials)
        unit_index = self._index("units", units, self.n_units)

        def take(array: np.ndarray | None) -> np.ndarray | None:
            return None if array is None else array[trial_index]

        names = None if self.unit_names is None else [self.unit_names[i] for i in unit_index]
        # indexing the last axis with an index array lays the result out units-major; keep (trials, time, units)
        # C-ordered like every other TrialData, so per-trial slices and torch tensors stay contiguous
        counts = np.ascontiguousarray(self.counts[trial_index][:, :, unit_index])
        return dataclasses.replace(
            self, counts=counts, behavior=take(self.behavior),
            labels=take(self.labels), lengths=take(self.lengths), latents=take(self.latents),
            unit_names=names, meta=dict(self.meta))

    @staticmethod
    def _index(name: str, index: Any, size: int) -> np.ndarray:
        if index is None:
            return np.arange(size)
        array = np.asarray(index)
        if array.dtype == bool:
            if array.shape != (size,):
                raise ValueError(f"{name}: a boolean mask must have shape ({size},), got {array.shape}.")
            array = np.flatnonzero(array)
        if array.ndim == 1 and array.size == 0:  # before the dtype check: np.asarray([]) is float64
            raise ValueError(f"{name}: expected at least one index, got none.")
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise TypeError(f"{name}: expected a 1-D sequence of integer indices or a boolean mask, "
                            f"got {describe(array)}.")
        if array.min() < -size or array.max() >= size:
            raise ValueError(f"{name}: indices must lie in [0, {size}), got min {array.min()} and max {array.max()}.")
        return array

    def split(self, test_fraction: float = 0.25, *, seed: int = 0,
              stratify: bool = True) -> tuple["TrialData", "TrialData"]:
        """Split trials into (train, test), stratified by ``labels`` when present and ``stratify``.

        The split is a function of ``seed`` alone, so two calls with the same seed give the same trials.
        """
        from sklearn.model_selection import train_test_split

        test_fraction = fraction("test_fraction", test_fraction)
        n_test = int(round(test_fraction * self.n_trials))
        if n_test < 1 or n_test >= self.n_trials:
            raise ValueError(f"test_fraction: {test_fraction} of {self.n_trials} trials leaves an empty "
                             "train or test set; use more trials or another fraction.")
        strata = self.labels if (stratify and self.labels is not None) else None
        if strata is not None:
            _, label_counts = np.unique(strata, return_counts=True)
            n_classes = len(label_counts)
            if label_counts.min() < 2 or n_test < n_classes or self.n_trials - n_test < n_classes:
                strata = None  # too few trials per condition to stratify: fall back to a plain split
        train_index, test_index = train_test_split(np.arange(self.n_trials), test_size=n_test,
                                                   random_state=seed, stratify=strata)
        return self.subset(np.sort(train_index)), self.subset(np.sort(test_index))

    # ------------------------------------------------------------------------------------ transformation
    def smooth(self, sigma_bins: float) -> "TrialData":
        """A copy with counts Gaussian-smoothed along time (sigma in bins); padding stays zero."""
        mask = None if self.lengths is None else self.mask
        return dataclasses.replace(self, counts=smooth_along_time(self.counts, sigma_bins, mask),
                                   meta=dict(self.meta))

    def rebin(self, factor: int) -> "TrialData":
        """A copy with ``factor`` consecutive bins merged: counts summed, behaviour and latents averaged, bin size
        multiplied; trailing bins that do not fill a group are dropped, and a ragged trial keeps its whole groups
        (at least one).

        counts (trials, time, units) -> (trials, time // factor, units)."""
        factor = positive_int("factor", factor)
        n_time = self.n_time // factor
        if n_time < 1:
            raise ValueError(f"factor: {factor} is longer than the trials ({self.n_time} bins); expected at most "
                             f"{self.n_time}.")
        mask = self.mask[:, :n_time * factor, None]

        def merge(array: np.ndarray | None, total: bool) -> np.ndarray | None:
            if array is None:
                return None
            grouped = (array[:, :n_time * factor] * mask).reshape(self.n_trials, n_time, factor, -1)
            if total:
                return grouped.sum(2)
            return grouped.sum(2) / np.maximum(mask.reshape(self.n_trials, n_time, factor, 1).sum(2), 1)

        lengths = None if self.lengths is None else np.maximum(self.lengths // factor, 1)
        valid = np.ones((self.n_trials, n_time, 1)) if lengths is None else \
            (np.arange(n_time)[None, :] < lengths[:, None])[..., None]

        def merged(array: np.ndarray | None, total: bool) -> np.ndarray | None:
            out = merge(array, total)
            return None if out is None else out * valid  # a partly valid last group is padding: zero

        return dataclasses.replace(self, counts=merged(self.counts, True), behavior=merged(self.behavior, False),
                                   latents=merged(self.latents, False), lengths=lengths,
                                   bin_size=self.bin_size * factor, meta=dict(self.meta))

    def to_tensors(self, device: Any = None, dtype: Any = None) -> dict[str, Any]:
        """The arrays as torch tensors: keys ``counts``, ``mask`` and, where present, ``behavior``,
        ``labels``, ``latents``. Float arrays get ``dtype`` (default float32)."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        out = {"counts": torch.as_tensor(self.counts, dtype=dtype, device=device),
               "mask": torch.as_tensor(self.mask, device=device)}
        for name in ("behavior", "latents"):
            value = getattr(self, name)
            if value is not None:
                out[name] = torch.as_tensor(value, dtype=dtype, device=device)
        if self.labels is not None:
            out["labels"] = torch.as_tensor(self.labels, device=device)
        return out

    @classmethod
    def from_continuous(cls, counts: np.ndarray, event_times: np.ndarray, window: tuple[float, float], *,
                        bin_size: float, behavior: np.ndarray | None = None, labels: np.ndarray | None = None,
                        start_time: float = 0.0, drop_incomplete: bool = False,
                        unit_names: list[str] | None = None, meta: dict[str, Any] | None = None,
                        signal: str = "counts") -> "TrialData":
        """Cut trials out of a continuous recording.

        Parameters
        ----------
        counts : (time, units) binned counts of the whole recording; bin k covers
            [start_time + k * bin_size, start_time + (k + 1) * bin_size).
        event_times : (trials,) event times in seconds (e.g. movement onset).
        window : (before, after) seconds around each event, both >= 0; each trial covers
            [event - before, event + after).
        bin_size : bin width in seconds.
        behavior : optional (time, dims) behaviour sampled on the same bins.
        labels : optional (trials,) condition labels.
        drop_incomplete : drop events whose window leaves the recording instead of raising.
        signal : ``"counts"`` or ``"continuous"``, as in the constructor.
        """
        bin_size = positive_float("bin_size", bin_size)
        counts = as_array("counts", counts, ndim=2, nonnegative=one_of("signal", signal, SIGNALS) == "counts")
        events = as_array("event_times", event_times, ndim=1, dtype=np.float64)
        if not (isinstance(window, (tuple, list)) and len(window) == 2):
            raise TypeError(f"window: expected (before, after) in seconds, got {describe(window)}.")
        if not all(isinstance(edge, (int, float, np.integer, np.floating)) and not isinstance(edge, bool)
                   and np.isfinite(edge) for edge in window):
            raise ValueError(f"window: expected two finite numbers (before, after) in seconds, got {window}.")
        if isinstance(start_time, bool) or not isinstance(start_time, (int, float, np.integer, np.floating)) \
                or not np.isfinite(start_time):
            raise ValueError(f"start_time: expected a finite number of seconds, got {describe(start_time)}.")
        before, after = float(window[0]), float(window[1])
        window_signs("window", before, after)
        n_bins = int(round((before + after) / bin_size))
        if n_bins < 1:
            raise ValueError(f"window: expected before + after >= one bin ({bin_size} s), got {window}.")
        start_bins = np.floor((events - before - start_time) / bin_size + 1e-9).astype(np.int64)
        inside = (start_bins >= 0) & (start_bins + n_bins <= counts.shape[0])
        if behavior is not None:
            behavior = as_array("behavior", behavior, ndim=2)
            if behavior.shape[0] != counts.shape[0]:
                raise ValueError(f"behavior: expected {counts.shape[0]} time samples to match counts, "
                                 f"got {behavior.shape[0]}.")
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != events.shape:
                raise ValueError(f"labels: expected {events.size} labels (one per event), got shape {labels.shape}.")
        if not inside.all():
            if not drop_incomplete:
                raise ValueError(f"event_times: {int((~inside).sum())} of {events.size} windows leave the "
                                 "recording; pass drop_incomplete=True to drop them.")
            if not inside.any():
                raise ValueError("event_times: no window lies inside the recording.")
            start_bins = start_bins[inside]
            labels = None if labels is None else labels[inside]
        return cls(counts=cut_windows(counts, start_bins, n_bins),
                   behavior=None if behavior is None else cut_windows(behavior, start_bins, n_bins),
                   labels=labels, bin_size=bin_size, unit_names=unit_names, meta=dict(meta or {}), signal=signal)

    @classmethod
    def from_windows(cls, counts: np.ndarray, window_bins: int, *, step_bins: int | None = None,
                     bin_size: float, behavior: np.ndarray | None = None,
                     meta: dict[str, Any] | None = None, signal: str = "counts") -> "TrialData":
        """Cut a continuous recording (time, units) into consecutive windows of ``window_bins`` bins
        (overlapping when ``step_bins`` < ``window_bins``); the remainder at the end is dropped."""
        counts = as_array("counts", counts, ndim=2, nonnegative=one_of("signal", signal, SIGNALS) == "counts")
        window_bins = positive_int("window_bins", window_bins)
        step_bins = window_bins if step_bins is None else positive_int("step_bins", step_bins)
        if window_bins > counts.shape[0]:
            raise ValueError(f"window_bins: expected at most {counts.shape[0]} (the recording's length), "
                             f"got {window_bins}.")
        starts = np.arange(0, counts.shape[0] - window_bins + 1, step_bins)
        if behavior is not None:
            behavior = as_array("behavior", behavior, ndim=2)
            if behavior.shape[0] != counts.shape[0]:
                raise ValueError(f"behavior: expected {counts.shape[0]} time samples to match counts, "
                                 f"got {behavior.shape[0]}.")
        return cls(counts=cut_windows(counts, starts, window_bins),
                   behavior=None if behavior is None else cut_windows(behavior, starts, window_bins),
                   bin_size=bin_size, meta=dict(meta or {}), signal=signal)

def check_trialdata(name: str, value: Any) -> TrialData:
    """Raise a clear TypeError unless ``value`` is a TrialData."""
    if not isinstance(value, TrialData):
        raise TypeError(f"{name}: expected a neuralign TrialData, got {describe(value)}; build one with "
                        "TrialData(counts, behavior=..., labels=...) or neuralign.datasets.load(...).")
    return value
