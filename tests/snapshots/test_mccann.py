import numpy as np
import pytest
from scipy.linalg import sqrtm

from neuralign.snapshots import McCannInterpolation, Snapshots


def test_interpolates_two_gaussians_like_the_closed_form():
    rng = np.random.default_rng(0)
    m0, m1 = np.array([0.0, 0.0]), np.array([6.0, 1.0])
    c0, c1 = np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[0.4, -0.2], [-0.2, 2.0]])
    n = 400
    x0 = rng.multivariate_normal(m0, c0, n)
    x1 = rng.multivariate_normal(m1, c1, n)
    model = McCannInterpolation().fit(Snapshots([0.0, 2.0], [x0, x1]))
    lam = 0.5
    # closed form: T(x) = m1 + A (x - m0), A = C0^-1/2 (C0^1/2 C1 C0^1/2)^1/2 C0^-1/2; at lam the cloud is
    # N((1 - lam) m0 + lam m1, M C0 M) with M = (1 - lam) I + lam A
    root = np.real(sqrtm(c0))
    inverse_root = np.linalg.inv(root)
    a = inverse_root @ np.real(sqrtm(root @ c1 @ root)) @ inverse_root
    mixing = (1 - lam) * np.eye(2) + lam * a
    mean, cov = (1 - lam) * m0 + lam * m1, mixing @ c0 @ mixing.T
    predicted = model.predict([1.0], start=0)[0]
    assert predicted.shape == (n, 2)
    assert np.linalg.norm(predicted.mean(0) - mean) < 0.15
    assert np.linalg.norm(np.cov(predicted.T) - cov) < 0.15 * np.linalg.norm(cov)
    mixture = np.concatenate([x0[: n // 2], x1[n // 2:]])  # the mixture interpolation fails the covariance
    assert np.linalg.norm(np.cov(mixture.T) - cov) > np.linalg.norm(cov)
    velocity = model.velocity(predicted[:50], 1.0)
    assert np.allclose(velocity.mean(0), (m1 - m0) / 2, atol=0.15)


def test_save_load_and_errors(tmp_path):
    rng = np.random.default_rng(1)
    snaps = Snapshots([0.0, 1.0, 3.0], [rng.standard_normal((20, 2)) + k for k in range(3)])
    model = McCannInterpolation().fit(snaps)
    model.save(tmp_path / "mccann.pt")
    loaded = McCannInterpolation.load(tmp_path / "mccann.pt")
    np.testing.assert_allclose(loaded.predict([0.5, 2.0], n=30), model.predict([0.5, 2.0], n=30))
    at_start = model.predict([1.0], start=1)[0]  # the start's own time: the start cloud itself, as a set
    assert sorted(map(tuple, at_start.round(5))) == sorted(map(tuple, snaps.clouds[1].round(5)))
    with pytest.raises(ValueError, match="start: expected a snapshot index in \\[0, 3\\)"):
        model.predict([1.0], start=3)
    with pytest.raises(ValueError, match="times: expected times in \\[1, 3\\]"):
        model.predict([0.5], start=1)
    with pytest.raises(ValueError, match="start_time: give it only with a start cloud"):
        model.predict([2.0], start=1, start_time=1.0)


def test_times_must_be_numbers():
    model = McCannInterpolation().fit(Snapshots([0.0, 1.0], [np.zeros((3, 2)), np.ones((3, 2))]))
    with pytest.raises(TypeError, match="times: expected numeric values"):
        model.predict("soon")
    assert model.predict(0.5)[0].shape == (3, 2)
