import numpy as np
import pytest

from neuralign.snapshots import HOAM, Snapshots

THETAS = [0.5, 1.0, 2.0]  # the linear flow's rate is the parameter mu


@pytest.fixture(scope="module")
def fitted(linear_flow):
    sets = [linear_flow.snapshots(theta, n=200, seed=g, mu=[theta]) for g, theta in enumerate(THETAS)]
    model = HOAM(max_epochs=6, steps_per_epoch=60, batch_size=64, hidden_size=32, n_layers=2, learning_rate=3e-3,
                 verbose=False, device="cpu").fit(sets)
    return model, sets


def test_interpolates_the_flow_at_an_unseen_parameter(fitted, linear_flow):
    model = fitted[0]
    start = linear_flow.snapshots(n=400, seed=9).clouds[0]
    theta = 0.75  # between the fitted 0.5 and 1.0
    predicted = model.predict([0.5, 1.0], start=start, start_time=0.0, mu=theta)
    for cloud, t in zip(predicted, [0.5, 1.0]):
        error = np.linalg.norm(cloud.mean(0) - linear_flow.mean(theta, t))
        neighbours = [np.linalg.norm(linear_flow.mean(other, t) - linear_flow.mean(theta, t)) for other in (0.5, 1.0)]
        assert error < 0.1 < min(neighbours), (t, error, neighbours)  # neither fitted neighbour would do
        assert np.linalg.norm(np.cov(cloud.T) - linear_flow.cov(theta, t)) < 0.15
    velocity, true_velocity = model.velocity(start, 0.0, mu=theta).mean(0), -theta * linear_flow.M0
    assert np.linalg.norm(velocity - true_velocity) < 0.25 * np.linalg.norm(true_velocity), velocity


def test_a_start_index_refers_to_the_snapshots_at_that_parameter(fitted, tmp_path):
    model, sets = fitted
    from_index = model.predict([1.0], start=0, mu=2.0)[0]
    from_cloud = model.predict([1.0], start=sets[2].clouds[0], mu=2.0)[0]
    np.testing.assert_allclose(from_index, from_cloud, atol=1e-5)
    model.save(tmp_path / "hoam.pt")
    loaded = HOAM.load(tmp_path / "hoam.pt")
    np.testing.assert_allclose(loaded.predict([0.5], start=1, mu=1.0), model.predict([0.5], start=1, mu=1.0),
                               atol=1e-5)
    point = sets[0].clouds[0][:3]
    np.testing.assert_allclose(loaded.velocity(point, 0.3, mu=1.7), model.velocity(point, 0.3, mu=1.7), atol=1e-6)


def test_errors_name_the_argument(fitted):
    model, sets = fitted
    times = sets[0].times
    with pytest.raises(TypeError, match="mu: HOAM predicts at a parameter value"):
        model.predict([0.5])
    with pytest.raises(ValueError, match="mu: expected a value within the fitted range"):
        model.predict([0.5], mu=3.0)
    with pytest.raises(ValueError, match="mu: expected shape \\(1,\\)"):
        model.predict([0.5], mu=[1.0, 2.0])
    with pytest.raises(ValueError, match="mu: expected finite values"):
        model.velocity(np.zeros((2, 2)), 0.5, mu=np.nan)
    with pytest.raises(ValueError, match="start: no fitted snapshots at this parameter value"):
        model.predict([0.5], start=0, mu=0.75)
    with pytest.raises(ValueError, match="times: expected times in \\[0, 1\\]"):
        model.predict([1.5], start=0, mu=1.0)
    with pytest.raises(ValueError, match="snapshots\\[1\\].mu: HOAM needs each Snapshots' parameter value"):
        HOAM(verbose=False).fit([sets[0], Snapshots(times, sets[1].clouds)])
    with pytest.raises(ValueError, match="snapshots\\[1\\].times: expected the times of snapshots\\[0\\]"):
        HOAM(verbose=False).fit([sets[0], Snapshots(times + 1, sets[1].clouds, mu=[3.0])])
    with pytest.raises(ValueError, match="snapshots\\[1\\].mu: the parameter value \\[0.5\\] appears twice"):
        HOAM(verbose=False).fit([sets[0], sets[0]])
    with pytest.raises(ValueError, match="snapshots\\[1\\]: expected mu of shape \\(1,\\) and clouds of dimension 2"):
        HOAM(verbose=False).fit([sets[0], Snapshots(times, [c[:, :1] for c in sets[1].clouds], mu=[3.0])])
    with pytest.raises(TypeError, match="snapshots: expected a Snapshots or a non-empty list"):
        HOAM(verbose=False).fit([])
    with pytest.raises(ValueError, match="snapshots\\[0\\]: expected at least 2 snapshots"):
        HOAM(verbose=False).fit([sets[0].subset([0])])
