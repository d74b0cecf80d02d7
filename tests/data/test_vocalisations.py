"""Synthetic vocalisations, WAV input/output and the bundled VocalMat crops."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.data.datasets import list_datasets, load
from neuralign.data.vocalisations import (SYLLABLE_TYPES, read_wav, synthetic_vocalisations, vocalisation_pair,
                                          write_wav)


def test_generator_is_seeded_and_follows_its_weights():
    first = synthetic_vocalisations(n_syllables=40, seed=1)
    again = synthetic_vocalisations(n_syllables=40, seed=1)
    assert np.array_equal(first.audio, again.audio)
    assert first.audio.dtype == np.float32 and np.abs(first.audio).max() <= 1
    assert len(first.onsets) == len(first.offsets) == len(first.syllable_types) == 40
    assert np.all(first.offsets > first.onsets) and np.all(first.onsets[1:] > first.offsets[:-1])
    only_down = synthetic_vocalisations(n_syllables=30, weights=(0, 1, 0, 0), seed=2)
    assert set(only_down.syllable_types) == {"down_fm"}
    many_a = synthetic_vocalisations(n_syllables=400, weights="a", seed=3, gap_range=(0.01, 0.02))
    share = many_a.syllable_types.count("up_fm") / 400
    assert abs(share - 0.55) < 0.08


def test_pair_same_and_different():
    same = vocalisation_pair(False, seed=0, n_syllables=5)
    different = vocalisation_pair(True, seed=0, n_syllables=5)
    assert same[0].meta["weights"] == same[1].meta["weights"]
    assert not np.array_equal(same[0].audio[:1000], same[1].audio[:1000])  # independent draws
    assert different[0].meta["weights"] != different[1].meta["weights"]
    with pytest.raises(TypeError, match="differ: expected True or False"):
        vocalisation_pair("yes")


def test_wav_roundtrip(tmp_path):
    recording = synthetic_vocalisations(n_syllables=3, seed=0)
    path = tmp_path / "a.wav"
    recording.write_wav(path)
    audio, rate = read_wav(path)
    assert rate == recording.rate and np.allclose(audio, recording.audio, atol=1e-4)
    write_wav(tmp_path / "clip.wav", np.array([2.0, -2.0, 0.0]), 8000)
    assert np.allclose(read_wav(tmp_path / "clip.wav")[0], [32767 / 32768, -32767 / 32768, 0.0])
    with pytest.raises(FileNotFoundError, match="path: no WAV file"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "bad.wav").write_bytes(b"not audio")
    with pytest.raises(ValueError, match="path: .* is not a readable WAV"):
        read_wav(tmp_path / "bad.wav")


@pytest.mark.parametrize("kwargs, match", [
    ({"weights": (1, 0, 0)}, "weights: expected 4"),
    ({"weights": "c"}, "weights: expected one of"),
    ({"rate": 100_000}, "rate: 100000 Hz cannot represent"),
    ({"band": (5.0, 1.0)}, "band: expected low <= high"),
    ({"noise": -1.0}, "noise: expected a finite number >= 0"),
    ({"n_syllables": 0}, "n_syllables: expected an integer >= 1"),
    ({"duration_range": 3}, "duration_range: expected a"),
])
def test_generator_errors(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        synthetic_vocalisations(**kwargs)


def test_vocalmat_is_registered_and_loads():
    info = {i.name: i for i in list_datasets()}
    assert info["vocalmat_usv"].kind == "real" and "Apache" in info["vocalmat_usv"].license
    assert info["synthetic_vocalisations"].kind == "synthetic"
    data = load("vocalmat_usv")
    assert data.counts.shape == (143, 128, 128) and data.signal == "continuous"
    names = data.meta["label_names"]
    counts = {name: int((data.labels == i).sum()) for i, name in enumerate(names)}
    assert counts["up_fm"] == 22 and counts["down_fm"] == 18 and counts["noise_dist"] == 54
    assert 0 <= data.counts.min() and data.counts.max() <= 1
    assert len(data.meta["names"]) == 143 and data.meta["features"]["Duration"].shape == (143,)
    up = load("vocalmat_usv", class_name="up_fm")
    assert up.n_trials == 22 and set(up.labels) == {names.index("up_fm")}
    with pytest.raises(ValueError, match="class_name: expected one of"):
        load("vocalmat_usv", class_name="bark")
    assert set(SYLLABLE_TYPES) == {"up_fm", "down_fm", "flat", "chevron"}
