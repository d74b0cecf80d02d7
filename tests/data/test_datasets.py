"""The dataset registry and the bundled real recordings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import neuralign.datasets
from neuralign.data import datasets
from neuralign.data.datasets import DatasetInfo, list_datasets, load, register
from neuralign.data.trialdata import TrialData

REAL = ["erdiff_miller_co", "golub_bci_learning", "liu_pfc8a", "nlb_mc_maze_small_tiny", "semedo_v1v2", "spykesml_m1",
        "spykesml_s1", "vocalmat_usv"]
FROM_FILE = ["mnist_gaussian", "mnist_mlp"]  # real, not bundled: read from a user's file (tests/data/test_mnist.py)
SYNTHETIC = ["digits_mlp", "paired_digits", "ring_digits", "synthetic_mmgpvae", "synthetic_reach",
             "synthetic_reach_sessions", "synthetic_regions", "synthetic_vocalisations"]


def _trialdatas(loaded):
    if isinstance(loaded, TrialData):
        return [loaded]
    if isinstance(loaded, dict):
        return list(loaded.values())
    return list(loaded)


# ------------------------------------------------------------------------------------------------ registry
def test_list_datasets_lists_every_dataset_with_its_kind():
    infos = list_datasets()
    assert all(isinstance(info, DatasetInfo) for info in infos)
    assert [info.name for info in infos] == sorted(REAL + FROM_FILE + SYNTHETIC)
    assert sorted(info.name for info in list_datasets(kind="real")) == sorted(REAL + FROM_FILE)
    assert sorted(info.name for info in list_datasets(kind="synthetic")) == SYNTHETIC


def test_real_datasets_carry_citation_license_and_files():
    for info in list_datasets(kind="real"):
        assert info.citation and info.license and info.description and info.returns, info.name
    for folder in ("erdiff_miller_co", "semedo_v1v2", "spykesml_m1_s1", "golub_bci_learning",
                   "nlb_mc_maze_small_tiny", "vocalmat_usv", "liu_pfc8a"):
        path = datasets.BUNDLED / folder
        assert (path / "LICENSE.txt").is_file() and (path / "SOURCE.md").is_file(), folder
        assert "CITATION" in (path / "SOURCE.md").read_text(), folder


def test_bundled_data_stays_small():
    size = sum(path.stat().st_size for path in Path(datasets.BUNDLED).rglob("*") if path.is_file())
    assert size < 18_000_000  # liu_pfc8a's 9 sessions (11 MB compressed) are the multi-session set


def test_alias_module_reexports_the_registry():
    assert neuralign.datasets.load is load and neuralign.datasets.list_datasets is list_datasets
    assert neuralign.datasets.register is register and neuralign.datasets.DatasetInfo is DatasetInfo


NOT_TRIALS = ["synthetic_vocalisations"]  # audio (a VocalRecording), tested in tests/data/test_vocalisations.py


@pytest.mark.parametrize("name", [name for name in REAL + SYNTHETIC if name not in NOT_TRIALS])
def test_every_dataset_loads_valid_trialdata(name):
    for data in _trialdatas(load(name)):
        assert isinstance(data, TrialData)
        assert data.counts.dtype == np.float32 and np.isfinite(data.counts).all()
        assert data.meta.get("dataset") == name
        if data.behavior is not None:
            assert data.behavior.dtype == np.float32 and np.isfinite(data.behavior).all()


def test_unknown_name_lists_valid_names():
    with pytest.raises(ValueError, match=r"unknown dataset 'erdif'.*erdiff_miller_co.*synthetic_reach"):
        load("erdif")
    with pytest.raises(TypeError, match="dataset name"):
        load(3)


def test_bad_keyword_names_the_dataset_and_its_arguments():
    with pytest.raises(TypeError, match=r"load\('spykesml_m1'\).*window_size.*accepts window_bins=20, step_bins=None"):
        load("spykesml_m1", window_size=10)
    with pytest.raises(TypeError, match=r"load\('semedo_v1v2'\).*accepts no arguments"):
        load("semedo_v1v2", session="a")


def test_bad_keyword_values_raise_clear_errors():
    with pytest.raises(ValueError, match="session: expected one of"):
        load("erdiff_miller_co", session="day2")
    with pytest.raises(ValueError, match="window_bins"):
        load("spykesml_m1", window_bins=0)
    with pytest.raises(ValueError, match="step_bins: only meaningful with window_bins"):
        load("spykesml_m1", window_bins=None, step_bins=5)


def test_register_rejects_bad_kind_and_duplicate_names():
    with pytest.raises(ValueError, match="kind: expected one of"):
        register("x", kind="fake", description="", returns="")
    with pytest.raises(ValueError, match="already registered"):
        register("erdiff_miller_co", kind="real", description="", returns="")(lambda: None)


def test_register_adds_a_loadable_dataset():
    @register("tmp_zeros", kind="synthetic", description="zeros", returns="TrialData (2, 3, 4)")
    def tmp_zeros(n_trials: int = 2):
        return TrialData(np.zeros((n_trials, 3, 4)))

    try:
        assert load("tmp_zeros", n_trials=5).n_trials == 5
        assert "tmp_zeros" in [info.name for info in list_datasets()]
    finally:
        datasets._REGISTRY.pop("tmp_zeros")


# -------------------------------------------------------------------------------------------- real datasets
def test_erdiff_sessions():
    source, target = load("erdiff_miller_co")
    for data, units, name in ((source, 187, "source"), (target, 172, "target")):
        assert data.counts.shape == (168, 14, units) and data.behavior.shape == (168, 14, 2)
        assert data.signal == "counts" and data.bin_size == 0.02
        assert data.meta["session"] == name and data.meta["region"] == "M1"
        np.testing.assert_array_equal(np.bincount(data.labels), np.full(8, 21))
        np.testing.assert_array_equal(data.labels[:8], np.arange(8))
        scaled = data.counts * 13  # time-normalised counts: multiples of 1/13
        np.testing.assert_allclose(scaled, np.round(scaled), atol=1e-3)
        assert data.counts.min() >= 0
    raw = np.load(datasets.BUNDLED / "erdiff_miller_co" / "source_data_inte14_aligned.npz")
    np.testing.assert_allclose(source.behavior, np.gradient(raw["pos"], axis=1), rtol=1e-5, atol=1e-4)
    single = load("erdiff_miller_co", session="target")
    assert isinstance(single, TrialData) and single.n_units == 172


def test_semedo_regions_reshaped_trial_major():
    regions = load("semedo_v1v2")
    assert list(regions) == ["V1", "V2", "V1_heldout"]
    shapes = {key: data.counts.shape for key, data in regions.items()}
    assert shapes == {"V1": (400, 10, 79), "V2": (400, 10, 31), "V1_heldout": (400, 10, 31)}
    for data in regions.values():
        assert data.signal == "continuous" and data.counts.min() < 0
        # residuals: the PSTH was subtracted per (bin), so each bin's mean over trials is zero
        np.testing.assert_allclose(data.counts.mean(axis=0), 0.0, atol=1e-4)
    assert "assumed" in regions["V1"].meta["bin_note"]


def test_spykesml_windows_and_whole_recording():
    m1 = load("spykesml_m1")
    assert m1.counts.shape == (15536 // 20, 20, 171) and m1.behavior.shape == (776, 20, 2)
    assert m1.bin_size == 0.05 and m1.meta["region"] == "M1"
    whole = load("spykesml_m1", window_bins=None)
    assert whole.counts.shape == (1, 15536, 171)
    np.testing.assert_array_equal(whole.counts[0, :20], m1.counts[0])
    overlapping = load("spykesml_m1", window_bins=50, step_bins=25)
    np.testing.assert_array_equal(overlapping.counts[1, :25], overlapping.counts[0, 25:])
    s1 = load("spykesml_s1", window_bins=100)
    assert s1.counts.shape == (351, 100, 52) and s1.behavior.shape == (351, 100, 2)
    assert "not stated" in s1.meta["bin_note"]
    for data in (m1, s1):
        assert np.all(data.counts == np.round(data.counts)) and data.counts.max() > 1


def test_golub_before_after_clouds():
    phases = load("golub_bci_learning")
    assert list(phases) == ["before", "after"]
    for data in phases.values():
        assert data.counts.shape == (8, 69, 86) and data.behavior.shape == (8, 69, 2)
        assert data.bin_size == pytest.approx(0.045)
        np.testing.assert_array_equal(data.labels, np.arange(8))
        assert data.meta["angles_deg"] == [0, 45, 90, 135, 180, 225, 270, 315]
        assert np.all(data.counts == np.round(data.counts))
        np.testing.assert_allclose(np.linalg.norm(data.behavior, axis=2), 1.0, atol=1e-3)
        # each cloud's cursor-to-target direction lies within 22.5 degrees of its angle
        angles = np.degrees(np.arctan2(data.behavior[..., 1], data.behavior[..., 0]))
        offset = (angles - np.array(data.meta["angles_deg"])[:, None] + 180) % 360 - 180
        assert np.abs(offset).max() <= 22.5 + 1e-3
    assert not np.array_equal(phases["before"].counts, phases["after"].counts)


def test_nlb_tiny_halves():
    source, target = load("nlb_mc_maze_small_tiny")
    for data in (source, target):
        assert data.counts.shape == (40, 35, 35) and data.behavior.shape == (40, 35, 2)
        assert data.bin_size == pytest.approx(0.02)
        assert data.counts.max() <= 3 and np.all(data.counts == np.round(data.counts))
        np.testing.assert_array_equal(data.behavior, np.repeat(data.behavior[:, :1], 35, axis=1))
        assert "one session" in data.meta["note"]
    assert source.meta["session"].endswith("even") and target.meta["session"].endswith("odd")


def test_liu_pfc8a_sessions_subjects_and_cues():
    sessions = load("liu_pfc8a")
    assert [data.meta["session"] for data in sessions] == list(datasets.LIU_SESSIONS)
    assert [data.meta["subject"] for data in sessions] == ["B"] * 6 + ["K"] * 3
    first = sessions[0]
    assert first.counts.shape == (309, 166, 107) and first.bin_size == 0.03 and first.behavior is None
    assert np.array_equal(np.bincount(first.labels), [71, 61, 89, 88])  # SOURCE.md's trials per cue
    assert np.all(first.counts == np.round(first.counts)) and first.counts.min() >= 0
    with np.load(datasets.BUNDLED / "liu_pfc8a" / "B020917.npz") as file:  # target = labels % 2 + 1, as documented
        np.testing.assert_array_equal(file["labels_target"], first.labels % 2 + 1)
    assert [data.n_units for data in load("liu_pfc8a", session=["K310117", "B030917"])] == [165, 125]
    assert load("liu_pfc8a", session="K200117").n_trials == 318


def test_liu_pfc8a_bad_sessions_are_named():
    with pytest.raises(ValueError, match="session"):
        load("liu_pfc8a", session="B999999")
    with pytest.raises(TypeError, match="session: expected None, a session name or a non-empty list"):
        load("liu_pfc8a", session=[])
