import numpy as np
import pytest

from neuralign.data.trialdata import TrialData
from neuralign.snapshots import Snapshots


def _clouds(sizes=(5, 7, 6), d=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, d)) for n in sizes]


def test_sizes_dim_and_holdout():
    snaps = Snapshots([0.0, 1.0, 2.5], _clouds())
    assert (len(snaps), snaps.dim, snaps.sizes) == (3, 2, [5, 7, 6])
    rest, t, cloud = snaps.holdout(1)
    assert rest.times.tolist() == [0.0, 2.5] and t == 1.0 and cloud.shape == (7, 2)


@pytest.mark.parametrize("times, match", [([0.0, 2.0, 1.0], "strictly increasing"),
                                          ([0.0, 1.0, 1.0], "strictly increasing")])
def test_unsorted_or_duplicate_times(times, match):
    with pytest.raises(ValueError, match=match):
        Snapshots(times, _clouds())


def test_dimension_mismatch_empty_cloud_nan_and_count():
    clouds = _clouds()
    clouds[1] = np.zeros((4, 3))
    with pytest.raises(ValueError, match="same dimension.*\\[2, 3, 2\\]"):
        Snapshots([0, 1, 2], clouds)
    clouds = _clouds()
    clouds[2] = np.zeros((0, 2))
    with pytest.raises(ValueError, match="clouds\\[2\\]: expected at least one particle"):
        Snapshots([0, 1, 2], clouds)
    clouds = _clouds()
    clouds[0][1, 1] = np.nan
    with pytest.raises(ValueError, match="clouds\\[0\\]: expected finite values"):
        Snapshots([0, 1, 2], clouds)
    with pytest.raises(ValueError, match="clouds: expected 2 arrays"):
        Snapshots([0, 1], _clouds())
    with pytest.raises(ValueError, match="velocities\\[1\\]: expected the shape"):
        Snapshots([0, 1, 2], _clouds(), velocities=_clouds(sizes=(5, 6, 6)))


def test_from_trialdata_per_session_and_per_bin():
    rng = np.random.default_rng(1)
    sessions = [TrialData(np.zeros((4, 3, 2)), latents=rng.standard_normal((4, 3, 2))),
                TrialData(np.zeros((6, 3, 2)), latents=rng.standard_normal((6, 3, 2)))]
    flat = Snapshots.from_trialdata(sessions, times=[0.0, 1.0])
    assert flat.sizes == [12, 18]
    np.testing.assert_allclose(flat.clouds[1], sessions[1].latents.reshape(-1, 2))
    one_bin = Snapshots.from_trialdata(sessions, times=[0.0, 1.0], bin=2)
    np.testing.assert_allclose(one_bin.clouds[0], sessions[0].latents[:, 2])
    ragged = TrialData(np.zeros((4, 3, 2)), latents=rng.standard_normal((4, 3, 2)), lengths=np.array([3, 1, 2, 3]),
                       bin_size=0.1)
    per_bin = Snapshots.from_trialdata(ragged)
    assert per_bin.sizes == [4, 3, 2] and np.allclose(per_bin.times, [0.0, 0.1, 0.2])
    with pytest.raises(ValueError, match="times: expected one time per session"):
        Snapshots.from_trialdata(sessions)
    with pytest.raises(ValueError, match="holds no latents"):
        Snapshots.from_trialdata([TrialData(np.zeros((2, 3, 2)))], times=[0.0])
    with pytest.raises(ValueError, match="latents\\[0\\]: expected shape \\(4, 3, k\\)"):
        Snapshots.from_trialdata(sessions, times=[0, 1], latents=[np.zeros((3, 3, 2)), np.zeros((6, 3, 2))])
    with pytest.raises(ValueError, match="bin: expected a bin index below 3"):
        Snapshots.from_trialdata(sessions, times=[0, 1], bin=3)
