"""Vocalisation pipeline: spectrogram, segmentation against known syllables, images, embedding, group comparison."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.analysis.vocal import (compare_groups, embed_2d, normalize_images, resize_images, segment_recording,
                                      segment_syllables, spectrogram, spectrogram_images, syllable_images)
from neuralign.data.datasets import load
from neuralign.data.vocalisations import synthetic_vocalisations


@pytest.fixture(scope="module")
def recording():
    return synthetic_vocalisations(n_syllables=15, seed=3)


def test_spectrogram_band_and_shapes(recording):
    frequencies, times, log_power = spectrogram(recording.audio, recording.rate, band=(30_000, 90_000))
    assert log_power.shape == (frequencies.size, times.size)
    assert frequencies.min() >= 30_000 and frequencies.max() <= 90_000
    assert times[-1] <= recording.duration


def test_segmentation_recovers_the_true_syllables(recording):
    segments = segment_syllables(recording.audio, recording.rate)
    assert segments.shape == (15, 2)
    assert np.all(np.abs(segments[:, 0] - recording.onsets) < 0.01)
    assert np.all(np.abs(segments[:, 1] - recording.offsets) < 0.01)
    assert segment_syllables(recording.audio, recording.rate, min_duration=0.19).shape == (0, 2)


def test_noise_alone_gives_few_or_no_syllables():
    noise = np.random.default_rng(0).normal(0, 0.05, size=192_000).astype(np.float32)
    assert len(segment_syllables(noise, 192_000)) <= 1


def test_images_keep_the_frequency_contour(recording):
    segments = np.stack([recording.onsets, recording.offsets], axis=1)
    images = syllable_images(recording.audio, recording.rate, segments, size=32)
    assert images.shape == (15, 32, 32) and images.min() >= 0 and images.max() <= 1
    rows = np.arange(32)[:, None]
    for image, kind in zip(images, recording.syllable_types, strict=True):
        if kind not in ("up_fm", "down_fm"):
            continue
        active = image.sum(axis=0) > 0.5 * image.sum(axis=0).max()
        columns = np.nonzero(active)[0]
        early, late = image[:, columns[: len(columns) // 3]], image[:, columns[-len(columns) // 3:]]
        centre = lambda part: (part * rows).sum() / part.sum()  # noqa: E731
        assert (centre(late) > centre(early)) == (kind == "up_fm")  # row 0 = lowest frequency


def test_segment_recording_from_file(recording, tmp_path):
    path = tmp_path / "rec.wav"
    recording.write_wav(path)
    syllables = segment_recording(path, size=16)
    assert syllables.images.shape == (15, 16, 16)
    assert np.allclose(syllables.onsets, recording.onsets, atol=0.01)
    with pytest.raises(TypeError, match="recording: expected a WAV path"):
        segment_recording(3)


def test_resize_and_normalize():
    images = np.random.default_rng(0).normal(size=(3, 20, 12))
    assert resize_images(images, 8).shape == (3, 8, 8)
    normalised = normalize_images(images * 10 + 5)
    assert normalised.min() >= 0 and normalised.max() <= 1
    assert np.allclose(normalised, normalize_images(images))  # invariant to gain and offset


def test_vocalmat_images():
    data = load("vocalmat_usv", class_name="down_fm")
    images = spectrogram_images(data, size=32, crop=0.5)
    assert images.shape == (18, 32, 32)
    # a down-FM call: the bright pixels of the early columns sit at higher frequencies than of the late ones
    full = spectrogram_images(data, crop=0.5)
    weights = (full > 0.5).astype(float)
    rows, columns = np.indices(full.shape[1:])
    slope = [np.polyfit(columns[w > 0], rows[w > 0], 1, w=None)[0] for w in weights if w.sum() > 10]
    assert np.median(slope) < 0
    with pytest.raises(ValueError, match="crop: expected a fraction"):
        spectrogram_images(data, crop=1.5)
    with pytest.raises(TypeError, match="data: expected a TrialData"):
        spectrogram_images(np.zeros((2, 4, 4)))


def test_embed_2d_pca_and_errors():
    latents = np.random.default_rng(0).normal(size=(30, 5))
    points, method = embed_2d(latents, method="pca")
    assert points.shape == (30, 2) and method == "pca"
    assert embed_2d(latents[:, :1], method="pca")[0].shape == (30, 2)
    with pytest.raises(ValueError, match="method: expected one of"):
        embed_2d(latents, method="tsne")


def test_compare_groups_detects_a_difference_and_not_a_null():
    rng = np.random.default_rng(1)

    def blobs(n, row):
        images = rng.normal(0, 0.05, size=(n, 16, 16)).astype(np.float32)
        images[:, row - 2:row + 2, 4:12] += 1.0
        return images

    result = compare_groups({"low": blobs(30, 4), "high": blobs(30, 12), "low2": blobs(30, 4)}, latent_dim=4,
                            max_epochs=15, n_permutations=200)
    assert set(result.latents) == {"low", "high", "low2"} and result.latents["low"].shape == (30, 4)
    assert result.tests["low vs high"].p_value < 0.01
    assert result.tests["low vs low2"].p_value > 0.01
    assert result.pairwise.p_value[0, 1] == result.tests["low vs high"].p_value
    with pytest.raises(ValueError, match="groups: expected a dict"):
        compare_groups({"only": blobs(5, 4)})


@pytest.mark.parametrize("call, match", [
    (lambda r: spectrogram(r.audio[:100], r.rate), "audio: expected at least nperseg"),
    (lambda r: spectrogram(r.audio, r.rate, band=(50_000, 10_000)), "band: expected"),
    (lambda r: spectrogram(r.audio, r.rate, noverlap=600), "noverlap: expected fewer"),
    (lambda r: segment_syllables(r.audio, r.rate, onset_threshold=1, offset_threshold=2), "offset_threshold"),
    (lambda r: segment_syllables(r.audio, r.rate, min_duration=1.0, max_duration=0.5), "min_duration"),
    (lambda r: syllable_images(r.audio, r.rate, np.zeros((3, 3))), "segments: expected"),
    (lambda r: syllable_images(r.audio, r.rate, np.zeros((1, 2)), window=0), "window: expected"),
])
def test_bad_input_names_the_argument(recording, call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(recording)
