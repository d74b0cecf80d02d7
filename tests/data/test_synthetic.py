"""Synthetic reaching data: shapes, determinism, realistic rates, and real latent structure."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression, Ridge
from sklearn.metrics import r2_score

from neuralign.data.datasets import load
from neuralign.data.synthetic import synthetic_reach, synthetic_reach_sessions


@pytest.fixture(scope="module")
def reach():
    return synthetic_reach()


def test_shapes_dtypes_and_labels(reach):
    assert reach.counts.shape == (200, 30, 100) and reach.counts.dtype == np.float32
    assert reach.latents.shape == (200, 30, 4) and reach.behavior.shape == (200, 30, 2)
    np.testing.assert_array_equal(reach.labels, np.arange(200) % 8)
    assert reach.bin_size == 0.02 and reach.signal == "counts"
    assert np.all(reach.counts == np.round(reach.counts)) and reach.counts.min() >= 0
    assert reach.meta["seed"] == 0 and reach.meta["latent_dim"] == 4 and reach.meta["session"] == 0
    small = synthetic_reach(n_trials=10, n_conditions=3, n_time=7, n_units=5, latent_dim=6, seed=1)
    assert small.counts.shape == (10, 7, 5) and small.latents.shape == (10, 7, 6)
    assert set(small.labels) == {0, 1, 2}


def test_registry_gives_the_same_data(reach):
    np.testing.assert_array_equal(load("synthetic_reach").counts, reach.counts)


def test_deterministic_by_seed(reach):
    again = synthetic_reach(seed=0)
    for name in ("counts", "latents", "behavior"):
        np.testing.assert_array_equal(getattr(again, name), getattr(reach, name))
    other = synthetic_reach(seed=1)
    assert not np.array_equal(other.counts, reach.counts)
    assert not np.array_equal(other.latents, reach.latents)


def test_rates_are_realistic(reach):
    mean_rate = reach.counts.mean()  # spikes per 20 ms bin
    assert 0.05 <= mean_rate <= 0.3
    unit_rates = reach.counts.mean(axis=(0, 1)) / reach.bin_size  # Hz
    assert np.median(unit_rates) > 1 and np.percentile(unit_rates, 95) < 40
    assert reach.counts.max() < 20


def test_velocity_is_linear_in_latents_and_reach_like(reach):
    latents = reach.latents.reshape(-1, 4).astype(np.float64)
    velocity = reach.behavior.reshape(-1, 2).astype(np.float64)
    assert LinearRegression().fit(latents, velocity).score(latents, velocity) > 0.99
    # condition means: bell-shaped speed, direction set by the condition (angle 2 pi c / 8)
    for condition in range(8):
        mean = reach.behavior[reach.labels == condition].mean(axis=0)
        speed = np.linalg.norm(mean, axis=1)
        assert speed[0] < 0.3 * speed.max() and speed[-1] < 0.3 * speed.max()
        peak = mean[np.argmax(speed)]
        angle = np.arctan2(peak[1], peak[0])
        assert np.cos(angle - 2 * np.pi * condition / 8) > 0.95


def test_latents_recoverable_from_smoothed_spikes_on_held_out_trials(reach):
    train, test = reach.split(0.25, seed=0)

    def features(data):
        return np.sqrt(data.smooth(2.0).counts.reshape(-1, data.n_units))

    decoder = Ridge(alpha=1.0).fit(features(train), train.latents.reshape(-1, 4))
    r2 = r2_score(test.latents.reshape(-1, 4), decoder.predict(features(test)))
    assert r2 > 0.5
    # and the signal is real: shuffled latents are not recoverable
    shuffled = train.latents[np.random.default_rng(0).permutation(train.n_trials)]
    null = Ridge(alpha=1.0).fit(features(train), shuffled.reshape(-1, 4))
    assert r2_score(test.latents.reshape(-1, 4), null.predict(features(test))) < r2 - 0.3


def test_zero_noise_gives_identical_latents_per_condition():
    data = synthetic_reach(n_trials=16, noise=0.0, n_units=10)
    np.testing.assert_allclose(data.latents[0], data.latents[8], atol=1e-6)


def test_sessions_share_dynamics_but_not_units(reach):
    sessions = synthetic_reach_sessions()
    assert [data.n_units for data in sessions] == [100, 90]
    assert [data.meta["session"] for data in sessions] == [0, 1]
    first, second = sessions
    np.testing.assert_array_equal(first.counts, synthetic_reach(asymmetry=0.3).counts)  # same arguments
    assert not np.array_equal(first.counts, reach.counts)  # the sessions default to asymmetric conditions
    assert not np.array_equal(first.latents, second.latents)  # own trial noise
    # same latent dynamics statistics: condition-mean trajectories agree, trial noise differs
    means = [np.stack([data.latents[data.labels == c].mean(axis=0) for c in range(8)]) for data in sessions]
    assert r2_score(means[0].reshape(-1, 4), means[1].reshape(-1, 4)) > 0.95
    np.testing.assert_allclose(np.cov(first.latents.reshape(-1, 4).T), np.cov(second.latents.reshape(-1, 4).T),
                               atol=0.05)
    # velocity readout is shared: one linear map serves both sessions
    readout = LinearRegression().fit(first.latents.reshape(-1, 4), first.behavior.reshape(-1, 2))
    assert readout.score(second.latents.reshape(-1, 4), second.behavior.reshape(-1, 2)) > 0.99
    matched = np.array(second.meta["matched_units"])
    assert second.meta["n_shared_units"] == (matched >= 0).sum() == round(0.6 * 90)
    assert len(set(matched[matched >= 0])) == (matched >= 0).sum()
    assert not np.array_equal(matched[matched >= 0], np.sort(matched[matched >= 0]))  # shuffled order


def test_sessions_with_int_units_and_no_sharing():
    sessions = synthetic_reach_sessions(n_sessions=3, n_units=20, n_trials=16, shared_fraction=0.0, seed=2)
    assert [data.n_units for data in sessions] == [20, 20, 20]
    assert all(data.meta["n_shared_units"] == 0 for data in sessions[1:])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"latent_dim": 3}, ValueError, "latent_dim: expected an even number"),
    ({"n_trials": 0}, ValueError, "n_trials: expected an integer >= 1"),
    ({"n_time": 1}, ValueError, "n_time: expected an integer >= 2"),
    ({"n_units": 2.5}, TypeError, "n_units: expected an integer"),
    ({"bin_size": -0.02}, ValueError, "bin_size"),
    ({"baseline_rate": 500.0}, ValueError, "baseline_rate.*spikes per second"),
    ({"noise": -1.0}, ValueError, "noise"),
    ({"seed": -1}, ValueError, "seed"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        synthetic_reach(**kwargs)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"n_sessions": 3}, ValueError, "n_units: expected an int or a sequence of 3 unit counts"),
    ({"n_units": (100, 0)}, ValueError, r"n_units\[1\]"),
    ({"shared_fraction": 1.5}, ValueError, "shared_fraction: expected a number in \\[0, 1\\]"),
    ({"gain_jitter": -0.1}, ValueError, "gain_jitter"),
    ({"n_sessions": 0}, ValueError, "n_sessions"),
])
def test_bad_session_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        synthetic_reach_sessions(**kwargs)


def test_bad_registry_keyword():
    with pytest.raises(TypeError, match=r"load\('synthetic_reach'\).*n_neurons.*n_units=100"):
        load("synthetic_reach", n_neurons=10)


def _condition_radii(data):
    """Norm of each condition's mean initial latent state."""
    return np.array([np.linalg.norm(data.latents[data.labels == c, 0].mean(axis=0)) for c in range(8)])


def test_asymmetry_breaks_the_symmetry_of_the_conditions():
    symmetric = synthetic_reach(noise=0.0, n_units=5, n_trials=16)
    asymmetric = synthetic_reach(noise=0.0, n_units=5, n_trials=16, asymmetry=0.3)
    np.testing.assert_allclose(_condition_radii(symmetric), _condition_radii(symmetric)[0])  # a perfect ring
    radii = _condition_radii(asymmetric)
    assert radii.max() / radii.min() > 1.2  # directions now differ in amplitude
    # a rotation by one condition no longer maps the set of radii onto itself, nor does a mirror
    assert all(not np.allclose(np.roll(radii, shift), radii, rtol=0.02) for shift in range(1, 8))
    assert all(not np.allclose(np.roll(radii[::-1], shift), radii, rtol=0.02) for shift in range(8))
    speed = np.linalg.norm(asymmetric.behavior, axis=2).max(axis=1)
    assert speed.max() / speed.min() > 1.2  # and in reach speed


@pytest.mark.parametrize("value", [-0.1, 1.0, float("nan")])
def test_asymmetry_out_of_range_is_rejected(value):
    with pytest.raises(ValueError, match="asymmetry"):
        synthetic_reach(asymmetry=value, n_trials=4, n_units=3)


def test_sessions_of_several_subjects_record_new_units_per_subject():
    sessions = synthetic_reach_sessions(n_sessions=4, n_subjects=2, n_units=20, n_trials=16, n_time=6, seed=1)
    assert [data.meta["subject"] for data in sessions] == ["subject 0", "subject 0", "subject 1", "subject 1"]
    assert sessions[2].meta["matched_units"] == list(range(20))  # the subject's first session: its own units
    assert sessions[3].meta["n_shared_units"] == 12  # shared_fraction 0.6 of the subject's first session's 20
    alone = synthetic_reach_sessions(n_sessions=2, n_units=20, n_trials=16, n_time=6, seed=1)
    np.testing.assert_array_equal(sessions[1].counts, alone[1].counts)  # subject 0 is the one-subject case
    assert not np.array_equal(sessions[2].counts, alone[0].counts)


def test_drift_grows_over_a_subjects_sessions_and_leaves_first_sessions_alone():
    kwargs = dict(n_sessions=4, n_units=30, n_trials=16, n_time=6, shared_fraction=1.0, gain_jitter=0.0, seed=2)
    still = synthetic_reach_sessions(**kwargs)
    drifting = synthetic_reach_sessions(drift=0.5, **kwargs)
    np.testing.assert_array_equal(still[0].counts, drifting[0].counts)
    changes = [np.abs(a.counts - b.counts).mean() for a, b in zip(still[1:], drifting[1:])]
    assert changes[0] > 0 and changes[2] > changes[0]  # a random walk: later sessions drift further
    assert drifting[1].meta["drift"] == 0.5 and "drift" not in still[1].meta


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_sessions=2, n_subjects=3), "n_subjects: expected at most n_sessions"),
    (dict(drift=-0.1), "drift"),
    (dict(n_subjects=0), "n_subjects")])
def test_sessions_bad_subjects_and_drift(kwargs, message):
    with pytest.raises(ValueError, match=message):
        synthetic_reach_sessions(**kwargs)
