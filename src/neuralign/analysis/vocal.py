"""Vocalisation analysis: audio -> spectrogram -> syllables -> fixed-size images -> VAE latents -> MMD test.

Steps (the pipeline of Goffinet et al. 2021 / the talk in seeds/003, part 1):

1. ``spectrogram``: log power log(|STFT|^2 + eps) of the waveform, (freq, time), restricted to a frequency band.
2. ``segment_syllables``: amplitude a(t) = log of the mean power over the band, Gaussian-smoothed; in robust units
   z(t) = (a(t) - median a) / (1.4826 MAD a). A syllable starts where z rises above ``onset_threshold`` and ends
   where it falls below ``offset_threshold`` (hysteresis); syllables shorter than ``min_duration`` or longer than
   ``max_duration`` are dropped.
3. ``syllable_images``: a window of ``window`` seconds centred on each syllable, cut from the log spectrogram and
   resized to (size, size): duration and frequency contour are kept in the picture.
4. ``normalize_images``: per image, robust z-scores (median, MAD) clipped to [0, clip] and divided by clip.
5. ``compare_groups``: a ``VocalVAE`` fitted on the pooled images of all groups (group labels unused, so the
   permutation test stays exact), latent means, and MMD^2 permutation tests between groups.
6. ``embed_2d``: UMAP (extra ``umap-learn``) or PCA of the latents for pictures.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from neuralign._checks import as_array, describe, one_of, positive_float, positive_int
from neuralign.data.trialdata import TrialData
from neuralign.data.vocalisations import VocalRecording, read_wav
from neuralign.metrics.mmd import MMDResult, PairwiseMMD, mmd_test, pairwise_mmd

DEFAULT_BAND = (30_000.0, 90_000.0)


@dataclass
class Syllables:
    """Segmented syllables of one recording.

    images : (syllables, size, size) float32 normalised log spectrograms, row 0 = lowest frequency.
    onsets, offsets : (syllables,) seconds.
    """

    images: np.ndarray
    onsets: np.ndarray
    offsets: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------- spectrogram
def spectrogram(audio: Any, rate: int, *, nperseg: int = 512, noverlap: int | None = None,
                band: tuple[float, float] | None = DEFAULT_BAND) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-power spectrogram.

    Parameters
    ----------
    audio : (samples,) waveform. rate : samples per second.
    nperseg : STFT window length (samples); noverlap : overlap (default nperseg // 2).
    band : (low, high) Hz rows to keep, or None for all.

    Returns
    -------
    frequencies (freq,), times (time,) in seconds, log power (freq, time).
    """
    import scipy.signal

    audio = as_array("audio", audio, ndim=1, dtype=np.float64)
    rate = positive_int("rate", rate)
    nperseg = positive_int("nperseg", nperseg, minimum=8)
    if audio.shape[0] < nperseg:
        raise ValueError(f"audio: expected at least nperseg={nperseg} samples, got {audio.shape[0]}.")
    noverlap = nperseg // 2 if noverlap is None else positive_int("noverlap", noverlap, minimum=0)
    if noverlap >= nperseg:
        raise ValueError(f"noverlap: expected fewer than nperseg={nperseg} samples, got {noverlap}.")
    frequencies, times, power = scipy.signal.spectrogram(audio, fs=rate, nperseg=nperseg, noverlap=noverlap,
                                                         mode="psd")
    if band is not None:
        low, high = band
        if not (0 <= low < high):
            raise ValueError(f"band: expected (low, high) with 0 <= low < high, got {band!r}.")
        keep = (frequencies >= low) & (frequencies <= high)
        if not keep.any():
            raise ValueError(f"band: {band!r} holds no frequency bin (rate {rate} Hz, bins up to "
                             f"{frequencies[-1]:g} Hz).")
        frequencies, power = frequencies[keep], power[keep]
    return frequencies, times, np.log(power + 1e-12).astype(np.float32)


def _robust_z(values: np.ndarray) -> np.ndarray:
    median = np.median(values)
    scale = 1.4826 * np.median(np.abs(values - median))
    return (values - median) / (scale if scale > 0 else 1.0)


def segment_syllables(audio: Any, rate: int, *, onset_threshold: float = 4.0, offset_threshold: float = 2.0,
                      min_duration: float = 0.008, max_duration: float = 0.2, smoothing: float = 0.002,
                      nperseg: int = 512, band: tuple[float, float] | None = DEFAULT_BAND) -> np.ndarray:
    """Syllable onsets and offsets by amplitude thresholds (see the module docstring).

    Parameters
    ----------
    audio : (samples,) waveform. rate : samples per second.
    onset_threshold, offset_threshold : robust z-units of the band amplitude; onset >= offset.
    min_duration, max_duration : seconds; shorter or longer segments are dropped.
    smoothing : std (s) of the Gaussian smoothing of the amplitude trace.

    Returns
    -------
    (syllables, 2) onset and offset times in seconds.
    """
    from scipy.ndimage import gaussian_filter1d

    onset_threshold = float(onset_threshold)
    offset_threshold = float(offset_threshold)
    if offset_threshold > onset_threshold:
        raise ValueError(f"offset_threshold: expected <= onset_threshold ({onset_threshold}), got {offset_threshold}.")
    min_duration = positive_float("min_duration", min_duration, allow_zero=True)
    max_duration = positive_float("max_duration", max_duration)
    if min_duration > max_duration:
        raise ValueError(f"min_duration: expected <= max_duration ({max_duration}), got {min_duration}.")
    smoothing = positive_float("smoothing", smoothing, allow_zero=True)
    _, times, log_power = spectrogram(audio, rate, nperseg=nperseg, band=band)
    step = times[1] - times[0] if times.size > 1 else nperseg / rate
    amplitude = np.log(np.exp(log_power.astype(np.float64)).mean(axis=0))
    if smoothing > 0:
        amplitude = gaussian_filter1d(amplitude, smoothing / step)
    z = _robust_z(amplitude)
    segments, start = [], None
    for index, value in enumerate(z):
        if start is None and value > onset_threshold:
            start = index
            while start > 0 and z[start - 1] > offset_threshold:  # extend back to the offset level
                start -= 1
        elif start is not None and value < offset_threshold:
            segments.append((start, index))
            start = None
    if start is not None:
        segments.append((start, len(z)))
    half = step / 2
    out = [(times[a] - half, times[b - 1] + half) for a, b in segments]
    out = [(on, off) for on, off in out if min_duration <= off - on <= max_duration]
    return np.array(out, dtype=np.float64).reshape(-1, 2)


# ---------------------------------------------------------------------------------------------------- images
def resize_images(images: Any, size: int) -> np.ndarray:
    """Resize (n, height, width) images to (n, size, size) (bilinear, antialiased)."""
    import torch

    images = as_array("images", images, ndim=3)
    size = positive_int("size", size, minimum=4)
    tensor = torch.as_tensor(images)[:, None]
    out = torch.nn.functional.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True,
                                          align_corners=False)
    return out[:, 0].numpy()


def normalize_images(images: Any, *, clip: float = 5.0) -> np.ndarray:
    """Per image: robust z-score (median, 1.4826 MAD), clipped to [0, clip], divided by clip -> [0, 1]."""
    images = as_array("images", images, ndim=3)
    clip = positive_float("clip", clip)
    flat = images.reshape(images.shape[0], -1)
    median = np.median(flat, axis=1, keepdims=True)
    scale = 1.4826 * np.median(np.abs(flat - median), axis=1, keepdims=True)
    scale = np.where(scale > 0, scale, 1.0)
    return (np.clip((flat - median) / scale, 0.0, clip) / clip).reshape(images.shape).astype(np.float32)


def syllable_images(audio: Any, rate: int, segments: Any, *, size: int = 32, window: float = 0.1,
                    nperseg: int = 512, band: tuple[float, float] | None = DEFAULT_BAND,
                    clip: float = 5.0) -> np.ndarray:
    """Fixed-size normalised log-spectrogram images of syllables.

    Parameters
    ----------
    segments : (syllables, 2) onsets and offsets (s), e.g. from :func:`segment_syllables`.
    size : output images are (size, size). window : seconds of spectrogram per image, centred on the syllable.

    Returns
    -------
    (syllables, size, size) float32 in [0, 1], row 0 = lowest frequency, column = time.
    """
    segments = as_array("segments", segments, ndim=2, dtype=np.float64, allow_empty=True)
    if segments.shape[1] != 2:
        raise ValueError(f"segments: expected (syllables, 2) onsets and offsets, got {describe(segments)}.")
    window = positive_float("window", window)
    size = positive_int("size", size, minimum=4)
    if segments.shape[0] == 0:
        return np.zeros((0, size, size), np.float32)
    _, times, log_power = spectrogram(audio, rate, nperseg=nperseg, band=band)
    step = times[1] - times[0] if times.size > 1 else nperseg / rate
    width = max(int(round(window / step)), 2)
    padded = np.pad(log_power, ((0, 0), (width, width)), mode="edge")
    crops = []
    for onset, offset in segments:
        centre = int(np.searchsorted(times, 0.5 * (onset + offset))) + width
        crops.append(padded[:, centre - width // 2: centre - width // 2 + width])
    return normalize_images(resize_images(np.stack(crops), size), clip=clip)


def segment_recording(recording: VocalRecording | str | os.PathLike, *, size: int = 32, window: float = 0.1,
                      onset_threshold: float = 4.0, offset_threshold: float = 2.0, min_duration: float = 0.008,
                      max_duration: float = 0.2, nperseg: int = 512,
                      band: tuple[float, float] | None = DEFAULT_BAND) -> Syllables:
    """A WAV file (or VocalRecording) -> its segmented syllables as images (see the module docstring)."""
    if isinstance(recording, VocalRecording):
        audio, rate, source = recording.audio, recording.rate, "VocalRecording"
    elif isinstance(recording, (str, os.PathLike)):
        (audio, rate), source = read_wav(recording), str(recording)
    else:
        raise TypeError(f"recording: expected a WAV path or a VocalRecording, got {describe(recording)}.")
    segments = segment_syllables(audio, rate, onset_threshold=onset_threshold, offset_threshold=offset_threshold,
                                 min_duration=min_duration, max_duration=max_duration, nperseg=nperseg, band=band)
    images = syllable_images(audio, rate, segments, size=size, window=window, nperseg=nperseg, band=band)
    return Syllables(images=images, onsets=segments[:, 0], offsets=segments[:, 1],
                     meta={"source": source, "rate": rate, "window": window, "band": band})


def spectrogram_images(data: TrialData, *, size: int | None = None, crop: float = 1.0) -> np.ndarray:
    """Already-cut spectrograms in a TrialData (crops, time, frequency), e.g. ``vocalmat_usv`` -> images.

    Parameters
    ----------
    crop : keep the central fraction (0, 1] of both axes before resizing (VocalMat calls sit in the centre).
    size : resize to (size, size); None keeps the size.

    Returns
    -------
    (crops, frequency, time) float32 normalised images (:func:`normalize_images`), row 0 = lowest frequency.
    """
    if not isinstance(data, TrialData):
        raise TypeError(f"data: expected a TrialData of spectrograms (crops, time, frequency), got {describe(data)}.")
    crop = positive_float("crop", crop)
    if crop > 1:
        raise ValueError(f"crop: expected a fraction in (0, 1], got {crop}.")
    images = data.counts.transpose(0, 2, 1)
    if crop < 1:
        rows, cols = images.shape[1:]
        keep_r, keep_c = max(int(round(rows * crop)), 2), max(int(round(cols * crop)), 2)
        top, left = (rows - keep_r) // 2, (cols - keep_c) // 2
        images = images[:, top:top + keep_r, left:left + keep_c]
    if size is not None:
        images = resize_images(images, size)
    return normalize_images(images)


# ------------------------------------------------------------------------------------------ latents and MMD
def embed_2d(latents: Any, *, method: str = "auto", seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D embedding of (samples, dims) latents for pictures: ``"umap"``, ``"pca"`` or ``"auto"`` (UMAP when
    umap-learn is installed, else PCA). Returns (samples, 2) and the method used."""
    latents = as_array("latents", latents, ndim=2)
    one_of("method", method, ("auto", "umap", "pca"))
    if method in ("auto", "umap") and latents.shape[0] > 10:
        try:
            import umap
        except ImportError:
            if method == "umap":
                raise ImportError("method='umap' needs umap-learn: pip install 'neuralign[extras]'; or use "
                                  "method='pca'.") from None
        else:
            reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, latents.shape[0] - 1))
            return reducer.fit_transform(latents).astype(np.float32), "umap"
    from sklearn.decomposition import PCA

    components = min(2, latents.shape[0], latents.shape[1])
    points = PCA(components, random_state=seed).fit_transform(latents)
    if components < 2:
        points = np.pad(points, ((0, 0), (0, 2 - components)))
    return points.astype(np.float32), "pca"


@dataclass
class GroupComparison:
    """Latents of each group and MMD tests between them.

    latents : dict name -> (syllables, latent_dim) latent means.
    pairwise : MMD^2 and p-values between every pair of groups.
    tests : dict "a vs b" -> MMDResult (with its null distribution) for every pair.
    model : the fitted VocalVAE.
    """

    latents: dict[str, np.ndarray]
    pairwise: PairwiseMMD
    tests: dict[str, MMDResult]
    model: Any


def compare_groups(groups: Mapping[str, Any], *, model: Any = None, latent_dim: int = 32, max_epochs: int = 40,
                   n_permutations: int = 1000, kernel: str = "multi_rbf", seed: int = 0, device: str | None = None,
                   verbose: bool = False) -> GroupComparison:
    """Fit a VocalVAE on the pooled images of all groups (or use ``model``), then MMD-test every pair of groups.

    Parameters
    ----------
    groups : dict name -> (n, size, size) images (at least two groups, each with at least two images).
    model : a fitted VocalVAE to use instead of fitting one.
    latent_dim, max_epochs, device, verbose : settings of the VocalVAE fitted here.
    n_permutations, kernel, seed : settings of the MMD tests (and the VAE's seed). The default multi-bandwidth
        RBF kernel had more power on 32-D VAE latents than the single median-heuristic RBF (``bench mmd``).
    """
    from neuralign.models.vocalvae import VocalVAE

    if not isinstance(groups, Mapping) or len(groups) < 2:
        raise ValueError(f"groups: expected a dict name -> images with at least two groups, got {describe(groups)}.")
    arrays = {str(name): as_array(f"groups[{name!r}]", images, ndim=3) for name, images in groups.items()}
    if model is None:
        pooled = np.concatenate(list(arrays.values()))
        model = VocalVAE(latent_dim=latent_dim, image_size=pooled.shape[1], max_epochs=max_epochs, seed=seed,
                         device=device, verbose=verbose).fit(pooled)
    latents = {name: model.transform(images) for name, images in arrays.items()}
    names = list(latents)
    tests = {f"{a} vs {b}": mmd_test(latents[a], latents[b], kernel=kernel, n_permutations=n_permutations, seed=seed)
             for i, a in enumerate(names) for b in names[i + 1:]}
    pairwise = pairwise_mmd(latents, kernel=kernel)
    for i, a in enumerate(names):
        for j, b in enumerate(names[i + 1:], start=i + 1):
            pairwise.p_value[i, j] = pairwise.p_value[j, i] = tests[f"{a} vs {b}"].p_value
    return GroupComparison(latents=latents, pairwise=pairwise, tests=tests, model=model)
