import sys

import numpy as np
import pytest

from neuralign.snapshots import METHODS, OTCFM, ActionMatching

THETA = 1.5


@pytest.fixture(scope="module")
def fitted(linear_flow):
    train, t_held, held = linear_flow.snapshots(THETA).holdout(2)
    model = OTCFM(max_epochs=6, steps_per_epoch=25, batch_size=64, hidden_size=32, n_layers=2, learning_rate=3e-3,
                  verbose=False, device="cpu").fit(train)
    return model, train, t_held, held


def test_predicts_a_held_out_marginal_and_its_velocity(fitted, linear_flow):
    model, train, t_held, held = fitted
    predicted = model.predict([t_held], start=1)[0]
    true_mean, true_cov = linear_flow.mean(THETA, t_held), linear_flow.cov(THETA, t_held)
    assert np.linalg.norm(train.clouds[1].mean(0) - true_mean) > 0.4  # the start cloud, unmoved
    assert np.linalg.norm(predicted.mean(0) - true_mean) < 0.1
    assert np.linalg.norm(np.cov(predicted.T) - true_cov) < 0.1
    velocity, true_velocity = model.velocity(held, t_held).mean(0), -THETA * held.mean(0)
    assert np.linalg.norm(velocity - true_velocity) < 0.2 * np.linalg.norm(true_velocity)


def test_save_load_round_trip_and_errors(fitted, linear_flow, tmp_path):
    model = fitted[0]
    model.save(tmp_path / "otcfm.pt")
    loaded = OTCFM.load(tmp_path / "otcfm.pt")
    np.testing.assert_allclose(loaded.predict([0.6, 0.9], start=1), model.predict([0.6, 0.9], start=1), atol=1e-5)
    with pytest.raises(ValueError, match="times: expected times in \\[0.25, 1\\]"):
        model.predict([1.5], start=1)  # OT-CFM does not extrapolate
    with pytest.raises(ValueError, match="t: expected a time within the fitted range"):
        model.velocity(np.zeros((2, 2)), 2.0)
    with pytest.raises(ValueError, match="start: expected a snapshot index in \\[0, 4\\)"):
        model.predict([0.5], start=9)
    with pytest.raises(ValueError, match="sigma: expected a finite number >= 0"):
        OTCFM(sigma=-1.0)
    with pytest.raises(ValueError, match="snapshots: expected at least 2 snapshots"):
        OTCFM(verbose=False).fit(linear_flow.snapshots(n=10).subset([0]))


def test_a_missing_torchcfm_gives_the_install_line(monkeypatch, linear_flow):
    monkeypatch.setitem(sys.modules, "torchcfm", None)
    with pytest.raises(ImportError, match="pip install --no-deps torchcfm"):
        OTCFM(verbose=False).fit(linear_flow.snapshots(n=10))


def test_the_registry_names_every_estimator():
    assert set(METHODS) == {"am", "hoam", "wlm", "gradient_flow", "otcfm", "mccann"}
    assert METHODS["am"] is ActionMatching and METHODS["otcfm"] is OTCFM
    for cls in METHODS.values():
        assert all(callable(getattr(cls, name)) for name in ("fit", "predict", "velocity", "save", "load"))
