"""Vocalisation data: WAV input/output, synthetic frequency-modulated syllables in noise, and the bundled VocalMat
ultrasonic-vocalisation crops. Both datasets are registered in the dataset registry.

Synthetic model (one recording): syllables separated by silent gaps g ~ U(gap_range), each of a type
c ~ Categorical(weights) over ``SYLLABLE_TYPES``, duration D ~ U(duration_range), start frequency f0 ~ U(band) and
frequency excursion B ~ U(excursion_range); its instantaneous frequency over u = t / D in [0, 1] is

    up_fm: f0 + B u     down_fm: f0 + B (1 - u)     flat: f0 + 0.05 B u     chevron: f0 + B (1 - |2u - 1|)

the waveform is a * w(u) * sin(2 pi int f dt), with a ~ U(0.4, 1) and a Tukey (raised-cosine) envelope w, and the
whole recording gets white Gaussian noise of std ``noise``. Two groups differ only through ``weights``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from neuralign._atomic import atomic_path
from neuralign._checks import as_array, describe, one_of, positive_float, positive_int
from neuralign.data.registry import _bundled, _bundled_meta, register
from neuralign.data.trialdata import TrialData

SYLLABLE_TYPES = ("up_fm", "down_fm", "flat", "chevron")
GROUP_WEIGHTS = {"a": (0.55, 0.15, 0.15, 0.15), "b": (0.15, 0.55, 0.15, 0.15)}


@dataclass
class VocalRecording:
    """One audio recording with (for synthetic data) the true syllables.

    audio : (samples,) float32 waveform in [-1, 1].
    rate : samples per second.
    onsets, offsets : (syllables,) true syllable times in seconds (empty when unknown).
    syllable_types : (syllables,) names from ``SYLLABLE_TYPES``.
    """

    audio: np.ndarray
    rate: int
    onsets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(0))
    syllable_types: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float:
        return self.audio.shape[0] / self.rate

    def write_wav(self, path: str | os.PathLike) -> None:
        """Write the audio as 16-bit PCM WAV (atomically)."""
        write_wav(path, self.audio, self.rate)


# --------------------------------------------------------------------------------------------------- WAV I/O
def write_wav(path: str | os.PathLike, audio: Any, rate: int) -> None:
    """Write ``audio`` (samples,) in [-1, 1] to ``path`` as 16-bit PCM WAV; values outside [-1, 1] are clipped."""
    import scipy.io.wavfile

    audio = as_array("audio", audio, ndim=1, dtype=np.float64)
    rate = positive_int("rate", rate)
    pcm = np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)
    with atomic_path(path, suffix=".tmp.wav") as temporary:
        scipy.io.wavfile.write(temporary, rate, pcm)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Read a WAV file -> (audio (samples,) float32 in [-1, 1], rate). Multi-channel files are averaged to mono."""
    import scipy.io.wavfile

    if not os.path.isfile(path):
        raise FileNotFoundError(f"path: no WAV file at {str(path)!r}.")
    try:
        rate, data = scipy.io.wavfile.read(path)
    except ValueError as error:
        raise ValueError(f"path: {str(path)!r} is not a readable WAV file ({error}).") from None
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        data = (data.astype(np.float64) - (info.max + info.min + 1) / 2) / ((info.max - info.min + 1) / 2)
    data = data.astype(np.float32)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if data.size == 0:
        raise ValueError(f"path: {str(path)!r} holds no samples.")
    return data, int(rate)


# ----------------------------------------------------------------------------------------- synthetic syllables
def _contour(kind: str, u: np.ndarray, start: float, excursion: float) -> np.ndarray:
    if kind == "up_fm":
        return start + excursion * u
    if kind == "down_fm":
        return start + excursion * (1 - u)
    if kind == "flat":
        return start + 0.05 * excursion * u
    return start + excursion * (1 - np.abs(2 * u - 1))  # chevron


def _check_range(name: str, value: Any) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}: expected a (low, high) pair, got {describe(value)}.")
    low, high = positive_float(f"{name}[0]", value[0]), positive_float(f"{name}[1]", value[1])
    if low > high:
        raise ValueError(f"{name}: expected low <= high, got {value!r}.")
    return low, high


def _check_weights(weights: Any) -> np.ndarray:
    if isinstance(weights, str):
        one_of("weights", weights, tuple(GROUP_WEIGHTS))
        weights = GROUP_WEIGHTS[weights]
    array = as_array("weights", weights, ndim=1, dtype=np.float64, nonnegative=True)
    if array.shape[0] != len(SYLLABLE_TYPES) or array.sum() <= 0:
        raise ValueError(f"weights: expected {len(SYLLABLE_TYPES)} non-negative weights (one per type in "
                         f"{SYLLABLE_TYPES}) with a positive sum, or a group name in {sorted(GROUP_WEIGHTS)}; "
                         f"got {weights!r}.")
    return array / array.sum()


@register(
    "synthetic_vocalisations", kind="synthetic",
    description="Frequency-modulated syllables (up-FM, down-FM, flat, chevron) in white noise, mouse-USV-like "
                "(30-90 kHz at 192 kHz sampling); groups 'a' and 'b' differ in their syllable-type weights.",
    returns="VocalRecording (audio (samples,), rate, true onsets / offsets / syllable_types); write_wav(path).")
def synthetic_vocalisations(n_syllables: int = 80, weights: str | Sequence[float] = "a", seed: int = 0,
                            rate: int = 192_000, band: tuple[float, float] = (35_000.0, 60_000.0),
                            excursion_range: tuple[float, float] = (8_000.0, 20_000.0),
                            duration_range: tuple[float, float] = (0.02, 0.08),
                            gap_range: tuple[float, float] = (0.04, 0.15), noise: float = 0.05) -> VocalRecording:
    """Generate one recording of FM syllables in noise (see the module docstring for the model).

    Parameters
    ----------
    n_syllables : syllables in the recording.
    weights : probabilities of ``SYLLABLE_TYPES`` (4 numbers), or a group name ``"a"`` / ``"b"``.
    seed : random seed (two seeds give independent draws from the same distribution).
    rate : sampling rate (Hz); must exceed twice the highest frequency.
    band : range of start frequencies (Hz). excursion_range : range of FM excursions (Hz).
    duration_range, gap_range : syllable durations and silent gaps (s).
    noise : standard deviation of the additive white noise (syllable amplitudes are 0.4 to 1).

    Returns
    -------
    VocalRecording with audio (samples,) and the true onsets, offsets and types.
    """
    n_syllables = positive_int("n_syllables", n_syllables)
    probabilities = _check_weights(weights)
    seed = positive_int("seed", seed, minimum=0)
    rate = positive_int("rate", rate)
    band, excursion_range = _check_range("band", band), _check_range("excursion_range", excursion_range)
    duration_range, gap_range = _check_range("duration_range", duration_range), _check_range("gap_range", gap_range)
    noise = positive_float("noise", noise, allow_zero=True)
    if band[1] + excursion_range[1] >= rate / 2:
        raise ValueError(f"rate: {rate} Hz cannot represent frequencies up to {band[1] + excursion_range[1]:g} Hz "
                         f"(band + excursion); use rate > {2 * (band[1] + excursion_range[1]):g}.")
    rng = np.random.default_rng([seed, 7])
    types = rng.choice(len(SYLLABLE_TYPES), size=n_syllables, p=probabilities)
    durations = rng.uniform(*duration_range, size=n_syllables)
    gaps = rng.uniform(*gap_range, size=n_syllables + 1)
    onsets = gaps[0] + np.concatenate([[0.0], np.cumsum(durations[:-1] + gaps[1:-1])])
    offsets = onsets + durations
    total = int(np.ceil((offsets[-1] + gaps[-1]) * rate))
    audio = rng.normal(0.0, noise, size=total) if noise > 0 else np.zeros(total)
    for index in range(n_syllables):
        start, length = int(round(onsets[index] * rate)), int(round(durations[index] * rate))
        u = np.arange(length) / max(length - 1, 1)
        frequency = _contour(SYLLABLE_TYPES[types[index]], u, rng.uniform(*band), rng.uniform(*excursion_range))
        phase = 2 * np.pi * np.cumsum(frequency) / rate + rng.uniform(0, 2 * np.pi)
        envelope = np.clip(np.minimum(u, 1 - u) / 0.1, 0, 1)  # 10 % raised-cosine ramps
        envelope = 0.5 - 0.5 * np.cos(np.pi * envelope)
        audio[start:start + length] += rng.uniform(0.4, 1.0) * envelope * np.sin(phase)
    peak = np.abs(audio).max()
    audio = audio / peak * 0.9 if peak > 0.9 else audio
    return VocalRecording(audio=audio.astype(np.float32), rate=rate, onsets=onsets, offsets=offsets,
                          syllable_types=[SYLLABLE_TYPES[t] for t in types],
                          meta={"generator": "synthetic_vocalisations", "weights": probabilities.tolist(),
                                "seed": seed})


def vocalisation_pair(differ: bool, *, seed: int = 0, n_syllables: int = 80,
                      **settings: Any) -> tuple[VocalRecording, VocalRecording]:
    """Two recordings: independent draws of group 'a' (``differ=False``) or group 'a' vs group 'b'."""
    if not isinstance(differ, (bool, np.bool_)):
        raise TypeError(f"differ: expected True or False, got {describe(differ)}.")
    seed = positive_int("seed", seed, minimum=0)
    first = synthetic_vocalisations(n_syllables, "a", 2 * seed, **settings)
    second = synthetic_vocalisations(n_syllables, "b" if differ else "a", 2 * seed + 1, **settings)
    return first, second


# --------------------------------------------------------------------------------------------- vocalmat_usv
@register(
    "vocalmat_usv", kind="real",
    description="Mouse pup ultrasonic-vocalisation candidates of one recording (VocalMat example): spectrogram "
                "crops with VocalMat's call-type labels (up_fm 22, down_fm 18, short 24, flat 9, ..., and 54 "
                "noise crops without a call).",
    returns="TrialData counts (143 crops, 128 time columns, 128 frequency rows: a spectrogram as a time series "
            "of frequency channels, values in [0, 1], frequency increasing with the channel index), "
            "signal='continuous', labels = call-type index into meta['label_names']; class_name='up_fm' keeps one.",
    citation="Fonseca AHO, Santana GM, Bosque Ortiz GM, Bampi S, Dietrich MO. Analysis of ultrasonic "
             "vocalizations from mice using computer vision and machine learning. eLife 10:e59161, 2021.",
    license="Apache-2.0 (github.com/ahof1704/VocalMat)")
def load_vocalmat_usv(class_name: str | None = None) -> TrialData:
    """The 143 VocalMat example crops as spectrograms.

    Parameters
    ----------
    class_name : keep only crops of this VocalMat class (e.g. ``"up_fm"``); None for all.

    Returns
    -------
    TrialData with counts (crops, 128, 128): ``counts[i, t, f]`` is the grey level (0..1) of time column t and
    frequency row f (f = 0 the lowest frequency); ``neuralign.analysis.vocal.spectrogram_images`` turns it into
    (crops, frequency, time) images. ``meta`` holds ``label_names``, ``names`` (upstream file numbers) and the
    per-crop ``features`` (start/end time, duration, frequencies) from ``labels.csv``.
    """
    import csv

    with open(_bundled("vocalmat_usv", "labels.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    with np.load(_bundled("vocalmat_usv", "spectrograms_128.npz"), allow_pickle=False) as file:
        images, names = file["images"], file["names"]
    classes = [row["Class"] for row in rows]
    label_names = sorted(set(classes))
    if class_name is not None:
        one_of("class_name", class_name, label_names)
    keep = np.array([class_name is None or c == class_name for c in classes])
    spectra = images[keep, ::-1, :].astype(np.float32) / 255.0  # rows -> lowest frequency first
    numeric = [key for key in rows[0] if key not in ("Class", "DL_out", "Names_vocal")]
    features = {key: np.array([float(row[key]) for row, k in zip(rows, keep, strict=True) if k]) for key in numeric}
    return TrialData(
        counts=np.ascontiguousarray(spectra.transpose(0, 2, 1)), signal="continuous",
        labels=np.array([label_names.index(c) for c, k in zip(classes, keep, strict=True) if k]),
        bin_size=1.0,
        meta=_bundled_meta("vocalmat_usv", subject="mouse pup (VocalMat example)", session="audio_example",
                           label_names=label_names, names=names[keep].tolist(), features=features,
                           layout="counts[crop, time, frequency]; fixed-size crops whose time scale is not documented "
                                  "upstream (bin_size=1 is nominal)",
                           dl_class=[row["DL_out"] for row, k in zip(rows, keep, strict=True) if k]))
