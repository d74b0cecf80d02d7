"""Tests for the TrialData container: construction, selection, splitting, smoothing, tensors, cutting."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter1d

from neuralign.data import TrialData, check_trialdata

RNG = np.random.default_rng(0)


def make_data(n_trials: int = 12, n_time: int = 10, n_units: int = 3, *, labels=None, ragged: bool = False,
              names: bool = True) -> TrialData:
    """Every field encodes its trial index so tests can check that fields follow the trials."""
    trial_id = np.arange(n_trials, dtype=np.float64)
    counts = np.broadcast_to(trial_id[:, None, None], (n_trials, n_time, n_units)).copy()
    counts += np.arange(n_units)[None, None, :] * 1000.0  # unit j is offset by 1000 * j
    behavior = np.broadcast_to(trial_id[:, None, None], (n_trials, n_time, 2)) * np.array([1.0, -1.0])
    latents = np.broadcast_to(trial_id[:, None, None] + 0.5, (n_trials, n_time, 4)).copy()
    if labels is None:
        labels = np.arange(n_trials) % 3
    lengths = (np.arange(n_trials) % n_time) + 1 if ragged else None
    return TrialData(counts, behavior=behavior, labels=labels, latents=latents, lengths=lengths,
                     unit_names=[f"u{j}" for j in range(n_units)] if names else None,
                     meta={"subject": "M", "session": "day1"})


def trial_ids(data: TrialData) -> np.ndarray:
    return data.counts[:, 0, 0].astype(int)


def assert_fields_follow(data: TrialData) -> None:
    ids = trial_ids(data)
    n_units = data.n_units
    np.testing.assert_array_equal(data.counts[:, :, 0], np.repeat(ids[:, None], data.n_time, axis=1))
    np.testing.assert_array_equal(data.behavior[:, 0, 0], ids)
    np.testing.assert_array_equal(data.behavior[:, 0, 1], -ids)
    np.testing.assert_array_equal(data.latents[:, 0, 0], ids + 0.5)
    np.testing.assert_array_equal(data.labels, ids % 3)
    if data.lengths is not None:
        np.testing.assert_array_equal(data.lengths, (ids % data.n_time) + 1)
    assert data.counts.shape[2] == n_units


# ------------------------------------------------------------------------------------------- construction
class TestConstruction:
    def test_dtypes_and_shapes(self):
        counts = RNG.poisson(2.0, size=(5, 7, 4)).astype(np.int64)
        data = TrialData(counts, behavior=RNG.normal(size=(5, 7, 2)), labels=np.array([0.0, 1, 2, 1, 0]),
                         lengths=np.array([7, 6, 5, 4, 3], dtype=np.int32), latents=RNG.normal(size=(5, 7, 3)))
        assert data.counts.dtype == np.float32
        assert data.labels.dtype == np.int64
        assert data.lengths.dtype == np.int64
        assert data.behavior.dtype == np.float32
        assert data.latents.dtype == np.float32
        assert (data.n_trials, data.n_time, data.n_units) == (5, 7, 4)
        assert data.counts.shape == (5, 7, 4)
        assert data.behavior.shape == (5, 7, 2)
        assert data.latents.shape == (5, 7, 3)
        np.testing.assert_array_equal(data.counts, counts.astype(np.float32))
        np.testing.assert_array_equal(data.labels, [0, 1, 2, 1, 0])

    def test_defaults(self):
        data = TrialData(np.zeros((2, 3, 1)))
        assert data.behavior is None and data.labels is None and data.lengths is None and data.latents is None
        assert data.bin_size == pytest.approx(0.02)
        assert data.unit_names is None
        assert data.meta == {}
        assert data.signal == "counts"

    def test_accepts_torch_counts(self):
        data = TrialData(torch.ones(2, 3, 4, dtype=torch.float64))
        assert isinstance(data.counts, np.ndarray)
        assert data.counts.dtype == np.float32 and data.counts.shape == (2, 3, 4)

    def test_unit_names_become_strings(self):
        data = TrialData(np.zeros((1, 2, 3)), unit_names=[1, 2, 3])
        assert data.unit_names == ["1", "2", "3"]

    def test_repr(self):
        data = make_data(ragged=True)
        text = repr(data)
        assert text.startswith("TrialData(")
        for part in ("trials=12", "time=10", "units=3", "bin_size=0.02s", "behavior_dims=2", "conditions=3",
                     "ragged", "true_latents=4", "subject"):
            assert part in text, part
        assert "signal=" not in text
        plain = repr(TrialData(np.zeros((2, 3, 1)), bin_size=0.05))
        assert plain == "TrialData(trials=2, time=3, units=1, bin_size=0.05s)"
        assert "signal=continuous" in repr(TrialData(-np.ones((2, 3, 1)), signal="continuous"))

    def test_mask_without_lengths_is_all_true(self):
        mask = TrialData(np.zeros((3, 4, 1))).mask
        assert mask.shape == (3, 4) and mask.dtype == bool and mask.all()

    def test_mask_ragged(self):
        data = TrialData(np.zeros((3, 5, 2)), lengths=[5, 1, 3])
        expected = np.array([[1, 1, 1, 1, 1],
                             [1, 0, 0, 0, 0],
                             [1, 1, 1, 0, 0]], dtype=bool)
        np.testing.assert_array_equal(data.mask, expected)
        assert data.mask.dtype == bool

    def test_continuous_allows_negative_counts_rejects(self):
        values = np.abs(RNG.normal(size=(3, 4, 2)))
        values[0, 0, 0] = -1.5
        data = TrialData(values, signal="continuous")
        assert data.counts.min() == pytest.approx(-1.5)
        assert data.counts[0, 0, 0] == pytest.approx(-1.5)
        with pytest.raises(ValueError, match="counts.*non-negative"):
            TrialData(values)
        with pytest.raises(ValueError, match="counts.*non-negative"):
            TrialData(values, signal="counts")

    def test_check_trialdata(self):
        data = make_data()
        assert check_trialdata("data", data) is data
        with pytest.raises(TypeError, match="train_data: expected a neuralign TrialData"):
            check_trialdata("train_data", np.zeros((2, 3, 4)))
        with pytest.raises(TypeError, match="data"):
            check_trialdata("data", {"a": data})


class TestConstructionErrors:
    good = np.ones((4, 5, 3))

    @pytest.mark.parametrize("bad_value", [np.nan, np.inf, -np.inf])
    def test_nonfinite_counts(self, bad_value):
        counts = self.good.copy()
        counts[1, 2, 0] = bad_value
        with pytest.raises(ValueError, match="counts: expected finite"):
            TrialData(counts)
        with pytest.raises(ValueError, match="counts: expected finite"):
            TrialData(counts, signal="continuous")

    def test_negative_counts(self):
        counts = self.good.copy()
        counts[0, 0, 0] = -1
        with pytest.raises(ValueError, match="counts: expected non-negative"):
            TrialData(counts)

    @pytest.mark.parametrize("shape", [(4, 5), (2, 4, 5, 3), (5,)])
    def test_counts_wrong_ndim(self, shape):
        with pytest.raises(ValueError, match="counts: expected 3 dimensions"):
            TrialData(np.ones(shape))

    @pytest.mark.parametrize("shape", [(0, 5, 3), (4, 0, 3), (4, 5, 0)])
    def test_empty_counts(self, shape):
        with pytest.raises(ValueError, match="counts"):
            TrialData(np.ones(shape))

    def test_string_counts(self):
        with pytest.raises(TypeError, match="counts: expected numeric"):
            TrialData(np.full((2, 3, 4), "a"))
        with pytest.raises(TypeError, match="counts"):
            TrialData("spikes")

    def test_none_counts(self):
        with pytest.raises(TypeError, match="counts: expected an array, got None"):
            TrialData(None)

    def test_ragged_nested_list_counts(self):
        with pytest.raises(TypeError, match="counts"):
            TrialData([[[1.0, 2.0]], [[1.0]]])

    def test_behavior_trial_count(self):
        with pytest.raises(ValueError, match=r"behavior: expected shape \(4, 5, dims\)"):
            TrialData(self.good, behavior=np.ones((3, 5, 2)))

    def test_behavior_time_length(self):
        with pytest.raises(ValueError, match=r"behavior: expected shape \(4, 5, dims\)"):
            TrialData(self.good, behavior=np.ones((4, 6, 2)))

    def test_behavior_ndim_and_nan(self):
        with pytest.raises(ValueError, match="behavior: expected 3 dimensions"):
            TrialData(self.good, behavior=np.ones((4, 5)))
        behavior = np.ones((4, 5, 2))
        behavior[0, 0, 0] = np.nan
        with pytest.raises(ValueError, match="behavior: expected finite"):
            TrialData(self.good, behavior=behavior)

    def test_behavior_zero_dims(self):
        with pytest.raises(ValueError, match="behavior"):
            TrialData(self.good, behavior=np.ones((4, 5, 0)))

    def test_latents_shape(self):
        with pytest.raises(ValueError, match="latents"):
            TrialData(self.good, latents=np.ones((4, 4, 2)))

    @pytest.mark.parametrize("labels", [[0, 1, 2], [0, 1, 2, 3, 4]])
    def test_labels_wrong_length(self, labels):
        with pytest.raises(ValueError, match="labels: expected 4 labels"):
            TrialData(self.good, labels=labels)

    def test_labels_non_integer_float(self):
        with pytest.raises(TypeError, match="labels: expected integer"):
            TrialData(self.good, labels=[0.0, 1.5, 2.0, 0.0])

    def test_labels_bad_values(self):
        with pytest.raises(ValueError, match="labels"):
            TrialData(self.good, labels=[0.0, np.nan, 1.0, 1.0])
        with pytest.raises(TypeError, match="labels"):
            TrialData(self.good, labels=["a", "b", "c", "d"])
        with pytest.raises(ValueError, match="labels: expected 1 dimensions"):
            TrialData(self.good, labels=np.zeros((4, 1), dtype=int))

    @pytest.mark.parametrize("lengths", [[0, 5, 5, 5], [5, 6, 5, 5], [-1, 2, 3, 4]])
    def test_lengths_out_of_range(self, lengths):
        with pytest.raises(ValueError, match=r"lengths: expected values in \[1, 5\]"):
            TrialData(self.good, lengths=lengths)

    @pytest.mark.parametrize("lengths", [[5, 5, 5], [5, 5, 5, 5, 5]])
    def test_lengths_wrong_length(self, lengths):
        with pytest.raises(ValueError, match="lengths: expected 4 lengths"):
            TrialData(self.good, lengths=lengths)

    def test_lengths_non_integer(self):
        with pytest.raises(TypeError, match="lengths: expected integers"):
            TrialData(self.good, lengths=[2.5, 3.0, 4.0, 5.0])

    @pytest.mark.parametrize("bin_size", [0, 0.0, -0.01, np.nan, np.inf])
    def test_bad_bin_size(self, bin_size):
        with pytest.raises(ValueError, match="bin_size: expected a finite number > 0"):
            TrialData(self.good, bin_size=bin_size)

    @pytest.mark.parametrize("bin_size", ["0.02", None, True])
    def test_bin_size_wrong_type(self, bin_size):
        with pytest.raises(TypeError, match="bin_size"):
            TrialData(self.good, bin_size=bin_size)

    @pytest.mark.parametrize("names", [["a", "b"], ["a", "b", "c", "d"]])
    def test_unit_names_wrong_length(self, names):
        with pytest.raises(ValueError, match="unit_names: expected 3 names"):
            TrialData(self.good, unit_names=names)

    @pytest.mark.parametrize("meta", [None, ["subject", "M"], "M1"])
    def test_meta_not_dict(self, meta):
        with pytest.raises(TypeError, match="meta: expected a dict"):
            TrialData(self.good, meta=meta)

    @pytest.mark.parametrize("signal", ["rates", "", "Counts"])
    def test_unknown_signal(self, signal):
        with pytest.raises(ValueError, match=r"signal: expected one of \['continuous', 'counts'\]"):
            TrialData(self.good, signal=signal)


# ----------------------------------------------------------------------------------------------- split
class TestSplit:
    def test_stratified_proportions(self):
        labels = np.array([0] * 12 + [1] * 8 + [2] * 20)
        data = make_data(40, labels=labels)

        def off_by_more_than_one(train: TrialData, test: TrialData) -> bool:
            assert test.n_trials == 10 and train.n_trials == 30
            off = False
            for label, n_label in zip(*np.unique(labels, return_counts=True)):
                expected_test = n_label * 10 / 40
                off |= abs(np.sum(test.labels == label) - expected_test) > 1
                off |= abs(np.sum(train.labels == label) - (n_label - expected_test)) > 1
            return off

        seeds = range(20)
        assert not any(off_by_more_than_one(*data.split(0.25, seed=seed)) for seed in seeds)
        # control: without stratification some of these seeds do break the proportions
        assert any(off_by_more_than_one(*data.split(0.25, seed=seed, stratify=False)) for seed in seeds)

    def test_deterministic_and_seed_dependent(self):
        data = make_data(40)
        train_a, test_a = data.split(0.3, seed=3)
        train_b, test_b = data.split(0.3, seed=3)
        np.testing.assert_array_equal(trial_ids(train_a), trial_ids(train_b))
        np.testing.assert_array_equal(trial_ids(test_a), trial_ids(test_b))
        _, test_c = data.split(0.3, seed=4)
        assert not np.array_equal(trial_ids(test_a), trial_ids(test_c))
        unstratified = [tuple(trial_ids(data.split(0.3, seed=s, stratify=False)[1])) for s in range(3)]
        assert len(set(unstratified)) > 1

    @pytest.mark.parametrize("stratify", [True, False])
    def test_disjoint_and_cover(self, stratify):
        data = make_data(23, ragged=True)
        train, test = data.split(0.2, seed=1, stratify=stratify)
        train_ids, test_ids = trial_ids(train), trial_ids(test)
        assert set(train_ids).isdisjoint(test_ids)
        assert sorted(np.concatenate([train_ids, test_ids]).tolist()) == list(range(23))
        assert test.n_trials == round(0.2 * 23)
        assert np.all(np.diff(train_ids) > 0) and np.all(np.diff(test_ids) > 0)  # kept in order

    def test_fields_follow_trials(self):
        data = make_data(20, ragged=True)
        train, test = data.split(0.25, seed=2)
        for part in (train, test):
            assert_fields_follow(part)
            assert part.unit_names == ["u0", "u1", "u2"]
            assert part.meta == data.meta
            assert part.bin_size == data.bin_size
            np.testing.assert_array_equal(part.mask, data.mask[trial_ids(part)])

    def test_meta_is_copied(self):
        data = make_data(8)
        train, _ = data.split(0.25)
        train.meta["subject"] = "changed"
        assert data.meta["subject"] == "M"

    def test_fallback_single_trial_label(self):
        labels = np.array([0] * 9 + [1])
        data = make_data(10, labels=labels)
        train, test = data.split(0.3, seed=0)
        assert train.n_trials == 7 and test.n_trials == 3
        assert sorted(np.concatenate([trial_ids(train), trial_ids(test)]).tolist()) == list(range(10))
        np.testing.assert_array_equal(test.labels, labels[trial_ids(test)])

    def test_fallback_more_classes_than_test_trials(self):
        data = make_data(12, labels=np.arange(12) % 6)
        train, test = data.split(0.25, seed=0)  # 3 test trials < 6 classes
        assert test.n_trials == 3 and train.n_trials == 9

    def test_without_labels(self):
        data = TrialData(np.arange(10, dtype=float)[:, None, None] * np.ones((10, 2, 1)))
        train, test = data.split(0.5, seed=0)
        assert train.n_trials == 5 and test.n_trials == 5

    @pytest.mark.parametrize("fraction", [0, 0.0, 1, 1.0, 1.5, -0.2, np.nan])
    def test_bad_fraction(self, fraction):
        with pytest.raises(ValueError, match="test_fraction: expected a number in"):
            make_data(10).split(fraction)

    def test_fraction_wrong_type(self):
        with pytest.raises(TypeError, match="test_fraction"):
            make_data(10).split("0.2")

    @pytest.mark.parametrize("fraction", [0.01, 0.99])
    def test_fraction_leaves_empty_set(self, fraction):
        with pytest.raises(ValueError, match="test_fraction: .*empty"):
            make_data(10).split(fraction)


# ---------------------------------------------------------------------------------------------- subset
class TestSubset:
    def test_by_index(self):
        data = make_data(10, ragged=True)
        part = data.subset([7, 2, 2, -1])
        np.testing.assert_array_equal(trial_ids(part), [7, 2, 2, 9])
        assert_fields_follow(part)
        assert part.unit_names == data.unit_names
        np.testing.assert_array_equal(part.mask, data.mask[[7, 2, 2, 9]])

    def test_by_boolean_mask(self):
        data = make_data(10)
        keep = data.labels == 1
        part = data.subset(keep)
        np.testing.assert_array_equal(trial_ids(part), [1, 4, 7])
        assert_fields_follow(part)
        part = data.subset(list(keep))
        np.testing.assert_array_equal(trial_ids(part), [1, 4, 7])

    def test_units(self):
        data = make_data(6, n_units=4)
        part = data.subset(units=[3, 1])
        assert part.n_units == 2 and part.n_trials == 6
        assert part.unit_names == ["u3", "u1"]
        np.testing.assert_array_equal(part.counts[:, 0, 0], np.arange(6) + 3000)
        np.testing.assert_array_equal(part.counts[:, 0, 1], np.arange(6) + 1000)
        np.testing.assert_array_equal(part.behavior, data.behavior)  # behaviour is not per unit
        assert part.counts.flags["C_CONTIGUOUS"]  # not the units-major layout of last-axis fancy indexing
        part = data.subset(units=np.array([True, False, False, True]))
        assert part.unit_names == ["u0", "u3"]

    def test_trials_and_units_and_no_names(self):
        data = make_data(6, n_units=4, names=False)
        part = data.subset(trials=[0, 5], units=[2])
        assert part.counts.shape == (2, 10, 1) and part.unit_names is None
        np.testing.assert_array_equal(part.counts[:, 0, 0], [2000, 2005])

    def test_does_not_alias(self):
        data = make_data(4)
        part = data.subset([0, 1])
        part.counts[0, 0, 0] = -99
        assert data.counts[0, 0, 0] == 0

    @pytest.mark.parametrize("index", [[10], [-11], [0, 12]])
    def test_out_of_range(self, index):
        with pytest.raises(ValueError, match=r"trials: indices must lie in \[0, 10\)"):
            make_data(10).subset(index)

    def test_units_out_of_range(self):
        with pytest.raises(ValueError, match="units: indices"):
            make_data(10).subset(units=[3])

    @pytest.mark.parametrize("index", [[], np.array([], dtype=int), np.zeros(10, dtype=bool)])
    def test_empty(self, index):
        with pytest.raises(ValueError, match="trials: expected at least one index"):
            make_data(10).subset(index)

    @pytest.mark.parametrize("mask", [np.ones(9, dtype=bool), np.ones(11, dtype=bool), np.ones((10, 1), dtype=bool)])
    def test_wrong_shape_boolean_mask(self, mask):
        with pytest.raises(ValueError, match=r"trials: a boolean mask must have shape \(10,\)"):
            make_data(10).subset(mask)

    @pytest.mark.parametrize("index", [[0.0, 1.0], np.array([0.5]), [[0, 1]], ["a"]])
    def test_non_integer_indices(self, index):
        with pytest.raises(TypeError, match="trials: expected a 1-D sequence of integer indices"):
            make_data(10).subset(index)


# ---------------------------------------------------------------------------------------------- smooth
class TestSmooth:
    def test_constant_unchanged(self):
        data = TrialData(np.full((3, 20, 2), 4.0))
        smoothed = data.smooth(2.5)
        np.testing.assert_allclose(smoothed.counts, 4.0, rtol=1e-6)
        assert smoothed.counts.dtype == np.float32

    def test_impulse_width_matches_gaussian(self):
        counts = np.zeros((2, 61, 1))
        counts[0, 30, 0] = 1.0
        sigma = 3.0
        smoothed = TrialData(counts).smooth(sigma).counts
        expected = gaussian_filter1d(counts, sigma, axis=1, mode="nearest")
        np.testing.assert_allclose(smoothed, expected, atol=1e-7)
        profile = smoothed[0, :, 0].astype(np.float64)
        t = np.arange(61) - 30
        assert profile.sum() == pytest.approx(1.0, abs=1e-5)
        assert np.sqrt((profile * t ** 2).sum()) == pytest.approx(sigma, rel=0.02)
        assert profile.argmax() == 30
        assert profile[30] == pytest.approx(1 / (np.sqrt(2 * np.pi) * sigma), rel=0.01)
        np.testing.assert_array_equal(smoothed[1], 0.0)  # trials are smoothed independently
        wider = TrialData(counts).smooth(2 * sigma).counts[0, :, 0]
        assert wider[30] < profile[30]

    def test_original_untouched_and_fields_kept(self):
        data = make_data(4)
        before = data.counts.copy()
        smoothed = data.smooth(1.0)
        np.testing.assert_array_equal(data.counts, before)
        assert smoothed.labels is data.labels or np.array_equal(smoothed.labels, data.labels)
        assert smoothed.unit_names == data.unit_names and smoothed.meta == data.meta

    def test_ragged_padding_stays_zero_and_ends_not_pulled_down(self):
        counts = np.full((2, 12, 2), 5.0)
        counts[0, 6:] = 0.0  # padding of the 6-bin trial
        data = TrialData(counts, lengths=[6, 12])
        smoothed = data.smooth(2.0).counts
        np.testing.assert_array_equal(smoothed[0, 6:], 0.0)
        np.testing.assert_allclose(smoothed[0, :6], 5.0, rtol=1e-5)  # renormalised at the trial end
        np.testing.assert_allclose(smoothed[1], 5.0, rtol=1e-5)
        naive = gaussian_filter1d(counts[0], 2.0, axis=0, mode="nearest")
        assert naive[5, 0] < 4.5  # what ignoring the mask would have done

    def test_ragged_garbage_in_padding_is_ignored(self):
        counts = np.zeros((1, 10, 1))
        counts[0, :4, 0] = [1.0, 2.0, 3.0, 4.0]
        counts[0, 4:, 0] = 100.0  # garbage past the end must not leak in
        smoothed = TrialData(counts, lengths=[4]).smooth(1.5).counts[0, :, 0]
        valid = np.array([1.0, 2.0, 3.0, 4.0])
        numerator = gaussian_filter1d(np.r_[valid, np.zeros(6)], 1.5, mode="constant")
        denominator = gaussian_filter1d(np.r_[np.ones(4), np.zeros(6)], 1.5, mode="constant")
        np.testing.assert_allclose(smoothed[:4], (numerator / denominator)[:4], rtol=1e-5)
        np.testing.assert_array_equal(smoothed[4:], 0.0)
        assert smoothed.max() <= 4.0

    @pytest.mark.parametrize("sigma", [0, -1.0, np.nan])
    def test_bad_sigma(self, sigma):
        with pytest.raises(ValueError, match="sigma_bins: expected a finite number > 0"):
            make_data(3).smooth(sigma)

    def test_sigma_wrong_type(self):
        with pytest.raises(TypeError, match="sigma_bins"):
            make_data(3).smooth("2")


# ------------------------------------------------------------------------------------------ to_tensors
class TestToTensors:
    def test_all_fields(self):
        data = make_data(5, ragged=True)
        tensors = data.to_tensors()
        assert set(tensors) == {"counts", "mask", "behavior", "labels", "latents"}
        for name in ("counts", "behavior", "latents"):
            assert tensors[name].dtype == torch.float32
            np.testing.assert_array_equal(tensors[name].numpy(), getattr(data, name))
        assert tensors["labels"].dtype == torch.int64
        assert tensors["mask"].dtype == torch.bool
        np.testing.assert_array_equal(tensors["labels"].numpy(), data.labels)
        np.testing.assert_array_equal(tensors["mask"].numpy(), data.mask)
        for tensor in tensors.values():
            assert tensor.device.type == "cpu"

    def test_minimal_and_dtype_device(self):
        data = TrialData(np.ones((2, 3, 4)))
        tensors = data.to_tensors(device="cpu", dtype=torch.float64)
        assert set(tensors) == {"counts", "mask"}
        assert tensors["counts"].dtype == torch.float64 and tensors["counts"].shape == (2, 3, 4)
        assert tensors["counts"].device == torch.device("cpu")
        assert tensors["mask"].all()


# ------------------------------------------------------------------------------------- from_continuous
def recording(n_bins: int = 100) -> np.ndarray:
    """(time, units): unit 0 holds the bin index, unit 1 ten times it."""
    return np.arange(n_bins, dtype=float)[:, None] * np.array([1.0, 10.0])


class TestFromContinuous:
    def test_windows_at_hand_computed_bins(self):
        # bin_size 0.1 s, window (0.2, 0.3) -> 5 bins starting at floor((event - 0.2) / 0.1)
        data = TrialData.from_continuous(recording(), [1.0, 2.57, 5.0, 9.7], (0.2, 0.3), bin_size=0.1)
        assert data.counts.shape == (4, 5, 2)
        np.testing.assert_array_equal(data.counts[:, 0, 0], [8, 23, 48, 95])
        np.testing.assert_array_equal(data.counts[0, :, 0], [8, 9, 10, 11, 12])
        np.testing.assert_array_equal(data.counts[3, :, 1], [950, 960, 970, 980, 990])
        assert data.bin_size == pytest.approx(0.1)
        assert data.labels is None and data.behavior is None

    def test_start_time_shifts_bins(self):
        data = TrialData.from_continuous(recording(), [1.5, 3.0], (0.2, 0.3), bin_size=0.1, start_time=0.5)
        np.testing.assert_array_equal(data.counts[:, 0, 0], [8, 23])

    def test_behavior_labels_names_meta(self):
        behavior = -np.arange(100, dtype=float)[:, None] * np.array([1.0, 2.0, 3.0])
        data = TrialData.from_continuous(recording(), np.array([1.0, 5.0]), (0.0, 0.4), bin_size=0.1,
                                         behavior=behavior, labels=[3, 1], unit_names=["a", "b"],
                                         meta={"region": "M1"})
        assert data.behavior.shape == (2, 4, 3)
        np.testing.assert_array_equal(data.behavior[0, :, 0], [-10, -11, -12, -13])
        np.testing.assert_array_equal(data.behavior[1, :, 2], [-150, -153, -156, -159])
        np.testing.assert_array_equal(data.counts[1, :, 0], [50, 51, 52, 53])
        np.testing.assert_array_equal(data.labels, [3, 1])
        assert data.labels.dtype == np.int64
        assert data.unit_names == ["a", "b"] and data.meta == {"region": "M1"}

    def test_drop_incomplete(self):
        events = [0.1, 1.0, 9.9, 5.0]
        data = TrialData.from_continuous(recording(), events, (0.2, 0.3), bin_size=0.1, labels=[7, 8, 9, 6],
                                         drop_incomplete=True)
        np.testing.assert_array_equal(data.counts[:, 0, 0], [8, 48])
        np.testing.assert_array_equal(data.labels, [8, 6])
        with pytest.raises(ValueError, match="event_times: 2 of 4 windows leave the recording"):
            TrialData.from_continuous(recording(), events, (0.2, 0.3), bin_size=0.1, labels=[7, 8, 9, 6])

    def test_all_outside(self):
        with pytest.raises(ValueError, match="event_times: no window"):
            TrialData.from_continuous(recording(), [50.0, -3.0], (0.2, 0.3), bin_size=0.1,
                                      drop_incomplete=True)
        with pytest.raises(ValueError, match="event_times"):
            TrialData.from_continuous(recording(), [50.0], (0.2, 0.3), bin_size=0.1)

    def test_continuous_signal(self):
        data = TrialData.from_continuous(-recording(), [2.0], (0.0, 0.2), bin_size=0.1, signal="continuous")
        np.testing.assert_array_equal(data.counts[0, :, 0], [-20, -21])
        with pytest.raises(ValueError, match="counts: expected non-negative"):
            TrialData.from_continuous(-recording(), [2.0], (0.0, 0.2), bin_size=0.1)

    @pytest.mark.parametrize("window", [(0.0, 0.0), (0.01, 0.02)])
    def test_window_too_short(self, window):
        with pytest.raises(ValueError, match="window: expected before \\+ after >= one bin"):
            TrialData.from_continuous(recording(), [5.0], window, bin_size=0.1)

    @pytest.mark.parametrize("window, read", [((-0.2, 0.5), r"\[t \+ 0.2, t \+ 0.5\)"),
                                              ((0.2, -0.1), r"\[t - 0.2, t - 0.1\)"),
                                              ((0.1, -0.1), r"\[t - 0.1, t - 0.1\), no time at all")])
    def test_negative_before_or_after_is_refused(self, window, read):
        with pytest.raises(ValueError, match=r"window: expected \(before, after\), the seconds before and after each "
                                             r"event t, both >= 0: a trial covers \[t - before, t \+ after\)\. Got "
                                             r".*which would read " + read) as error:
            TrialData.from_continuous(recording(), [5.0], window, bin_size=0.1)
        assert f"pass ({abs(window[0]):g}, {abs(window[1]):g})" in str(error.value)

    def test_windows_match_a_histogram_of_spike_times(self):
        rng = np.random.default_rng(0)
        spikes = [np.sort(rng.uniform(0, 20, size)) for size in (300, 150)]
        bin_size, before, after = 0.05, 0.2, 0.35
        edges = np.arange(0, 20 + bin_size / 2, bin_size)
        recording = np.stack([np.histogram(times, edges)[0] for times in spikes], axis=1)
        events = np.array([1.0, 4.25, 10.5, 17.05])
        data = TrialData.from_continuous(recording, events, (before, after), bin_size=bin_size)
        for trial, event in enumerate(events):
            trial_edges = event - before + np.arange(round((before + after) / bin_size) + 1) * bin_size
            expected = np.stack([np.histogram(times, trial_edges)[0] for times in spikes], axis=1)
            np.testing.assert_array_equal(data.counts[trial], expected)

    @pytest.mark.parametrize("window", [(np.nan, 0.1), (0.1, np.inf), ("a", "b"), (None, 0.1)])
    def test_window_not_finite_numbers(self, window):
        with pytest.raises(ValueError, match="window: expected two finite numbers"):
            TrialData.from_continuous(recording(), [5.0], window, bin_size=0.1)

    @pytest.mark.parametrize("window", [0.5, (0.1,), (0.1, 0.2, 0.3), "ab"])
    def test_window_wrong_form(self, window):
        with pytest.raises(TypeError, match=r"window: expected \(before, after\)"):
            TrialData.from_continuous(recording(), [5.0], window, bin_size=0.1)

    @pytest.mark.parametrize("start_time", [np.nan, np.inf, "0"])
    def test_bad_start_time(self, start_time):
        with pytest.raises(ValueError, match="start_time"):
            TrialData.from_continuous(recording(), [5.0], (0.1, 0.1), bin_size=0.1, start_time=start_time)

    def test_events_outside_recording(self):
        with pytest.raises(ValueError, match="event_times: 1 of 2 windows"):
            TrialData.from_continuous(recording(), [5.0, 9.8], (0.2, 0.3), bin_size=0.1)
        with pytest.raises(ValueError, match="event_times: 1 of 2 windows"):
            TrialData.from_continuous(recording(), [0.1, 5.0], (0.2, 0.3), bin_size=0.1)

    def test_bad_event_times(self):
        with pytest.raises(ValueError, match="event_times: expected finite"):
            TrialData.from_continuous(recording(), [5.0, np.nan], (0.2, 0.3), bin_size=0.1)
        with pytest.raises(ValueError, match="event_times: expected 1 dimensions"):
            TrialData.from_continuous(recording(), [[5.0]], (0.2, 0.3), bin_size=0.1)
        with pytest.raises(ValueError, match="event_times"):
            TrialData.from_continuous(recording(), [], (0.2, 0.3), bin_size=0.1)

    def test_behavior_length_mismatch(self):
        with pytest.raises(ValueError, match="behavior: expected 100 time samples"):
            TrialData.from_continuous(recording(), [5.0], (0.2, 0.3), bin_size=0.1, behavior=np.ones((99, 2)))

    def test_labels_length_mismatch(self):
        with pytest.raises(ValueError, match="labels: expected 2 labels"):
            TrialData.from_continuous(recording(), [2.0, 5.0], (0.2, 0.3), bin_size=0.1, labels=[1, 2, 3])

    def test_bad_counts_and_bin_size(self):
        with pytest.raises(ValueError, match="counts: expected 2 dimensions"):
            TrialData.from_continuous(np.ones((2, 100, 2)), [5.0], (0.2, 0.3), bin_size=0.1)
        with pytest.raises(ValueError, match="bin_size"):
            TrialData.from_continuous(recording(), [5.0], (0.2, 0.3), bin_size=0.0)
        with pytest.raises(ValueError, match="signal"):
            TrialData.from_continuous(recording(), [5.0], (0.2, 0.3), bin_size=0.1, signal="rates")


# ---------------------------------------------------------------------------------------- from_windows
class TestFromWindows:
    def test_non_overlapping(self):
        data = TrialData.from_windows(recording(23), 5, bin_size=0.05)
        assert data.counts.shape == (4, 5, 2)  # remainder of 3 bins dropped
        np.testing.assert_array_equal(data.counts[:, 0, 0], [0, 5, 10, 15])
        np.testing.assert_array_equal(data.counts[2, :, 1], [100, 110, 120, 130, 140])
        assert data.bin_size == pytest.approx(0.05)

    def test_overlapping_step(self):
        behavior = np.arange(20, dtype=float)[:, None]
        data = TrialData.from_windows(recording(20), 6, step_bins=2, bin_size=0.1, behavior=behavior,
                                      meta={"session": "s"})
        assert data.n_trials == (20 - 6) // 2 + 1 == 8
        np.testing.assert_array_equal(data.counts[:, 0, 0], np.arange(0, 15, 2))
        np.testing.assert_array_equal(data.counts[1, :, 0], [2, 3, 4, 5, 6, 7])
        np.testing.assert_array_equal(data.counts[0, 2:], data.counts[1, :4])  # the overlap
        np.testing.assert_array_equal(data.behavior[:, :, 0], data.counts[:, :, 0])
        assert data.meta == {"session": "s"}

    def test_whole_recording_is_one_window(self):
        data = TrialData.from_windows(recording(7), 7, bin_size=0.1)
        assert data.counts.shape == (1, 7, 2)

    def test_window_longer_than_recording(self):
        with pytest.raises(ValueError, match="window_bins: expected at most 10"):
            TrialData.from_windows(recording(10), 11, bin_size=0.1)

    @pytest.mark.parametrize("window_bins, error", [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                                    (True, TypeError)])
    def test_bad_window_bins(self, window_bins, error):
        with pytest.raises(error, match="window_bins"):
            TrialData.from_windows(recording(10), window_bins, bin_size=0.1)

    def test_bad_step_bins_and_behavior(self):
        with pytest.raises(ValueError, match="step_bins"):
            TrialData.from_windows(recording(10), 2, step_bins=0, bin_size=0.1)
        with pytest.raises(ValueError, match="behavior: expected 10 time samples"):
            TrialData.from_windows(recording(10), 2, bin_size=0.1, behavior=np.ones((9, 1)))
        with pytest.raises(ValueError, match="bin_size"):
            TrialData.from_windows(recording(10), 2, bin_size=-1.0)


# ------------------------------------------------------------------------------------------------ rebin
def test_rebin_sums_counts_and_averages_behaviour():
    counts = np.arange(2 * 5 * 3, dtype=np.float32).reshape(2, 5, 3)
    behavior = np.arange(2 * 5 * 2, dtype=np.float32).reshape(2, 5, 2)
    data = TrialData(counts, behavior=behavior, bin_size=0.01)
    merged = data.rebin(2)
    assert merged.counts.shape == (2, 2, 3) and merged.bin_size == pytest.approx(0.02)
    np.testing.assert_array_equal(merged.counts[0, 0], counts[0, 0] + counts[0, 1])
    np.testing.assert_array_equal(merged.behavior[1, 1], (behavior[1, 2] + behavior[1, 3]) / 2)
    np.testing.assert_array_equal(data.rebin(1).counts, counts)


def test_rebin_ragged_trials_keep_whole_groups():
    counts = np.ones((2, 6, 1), dtype=np.float32)
    counts[1, 3:] = 100.0  # padding of the second trial must not leak into its bins
    merged = TrialData(counts, lengths=np.array([6, 3])).rebin(2)
    np.testing.assert_array_equal(merged.lengths, [3, 1])
    assert merged.counts[1, 0, 0] == 2.0 and np.all(merged.counts[1, 1:] == 0)


@pytest.mark.parametrize("factor, match", [(0, "factor"), (7, "factor: 7 is longer than the trials"),
                                           (1.5, "factor")])
def test_rebin_bad_factor(factor, match):
    with pytest.raises((ValueError, TypeError), match=match):
        TrialData(np.ones((2, 6, 1))).rebin(factor)
