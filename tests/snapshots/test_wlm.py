import numpy as np
import pytest
import torch
from torch import nn

from neuralign.snapshots import WLM, GradientFlow, Snapshots

VELOCITY = np.array([1.0, -0.5])
TIMES = np.array([0.0, 0.25, 0.5, 0.75])
TINY = dict(hidden_size=16, n_layers=1, embedding_size=4, batch_size=48, verbose=False, device="cpu")


def _drifting(n=300, seed=0, velocities=False):
    """Independent samples of a cloud moving at constant velocity: x_t = x_0 + VELOCITY t."""
    rng = np.random.default_rng(seed)
    clouds = [rng.normal(size=(n, 2)) * 0.3 + VELOCITY * t for t in TIMES]
    return Snapshots(TIMES, clouds, [np.tile(VELOCITY, (n, 1)) for _ in TIMES] if velocities else None)


@pytest.fixture(scope="module")
def fitted():
    snaps = _drifting()
    return WLM(max_epochs=3, steps_per_epoch=8, **TINY).fit(snaps), snaps


class _Harmonic(nn.Module):
    """U(Z) = 0.5 k sum_i |z_i|^2: each particle an independent harmonic oscillator."""

    def __init__(self, k):
        super().__init__()
        self.k = k

    def forward(self, z):
        return 0.5 * self.k * (z ** 2).sum()

    def force(self, z, *, create_graph):
        return -self.k * z


def test_integrator_solves_the_damped_equations_at_second_order(fitted):
    # x'' = -k x - gamma x' from x = 1, v = 0 (underdamped): x(t) = e^{-gamma t / 2} (cos wt + gamma/(2w) sin wt)
    model = fitted[0]
    k, gamma, t_end = 4.0, 0.8, 1.5
    omega = np.sqrt(k - gamma ** 2 / 4)
    exact = np.exp(-gamma * t_end / 2) * (np.cos(omega * t_end) + gamma / (2 * omega) * np.sin(omega * t_end))
    saved_energy, saved_friction, saved_step = model.network_.energy, model.network_.raw_friction, model.config.step
    try:
        model.network_.energy = _Harmonic(k)
        model.network_.raw_friction = nn.Parameter(torch.tensor(np.log(np.expm1(gamma)), dtype=torch.float32))
        errors = []
        for step in (0.1, 0.05):
            model.config.step = step
            state = model._start_state(torch.ones(1, 1), torch.zeros(1, 1))
            end = model._rollout(state, 0.0, np.array([t_end]), create_graph=False)[0][0]
            errors.append(abs(float(end.detach()) - exact))
    finally:
        model.network_.energy, model.network_.raw_friction, model.config.step = saved_energy, saved_friction, saved_step
    # the authors' scheme integrates x'' = -(1 + gamma) k x - gamma x' as the step shrinks: off by far more
    assert errors[1] < 2e-3 and 3.0 < errors[0] / errors[1] < 5.0


def test_predicting_at_the_training_times_reproduces_the_training_rollout(fitted):
    model, snaps = fitted
    cloud = snaps.clouds[0]
    z = model._tensor(model._standardise(cloud))
    state = model._start_state(z, model._start_velocities(0, 0.0, cloud))
    with torch.no_grad():
        rollout = model._rollout(state, 0.0, model._rescaled_time(TIMES[1:]), create_graph=False)
    predicted = model.predict(TIMES[1:], start=0)
    for end, cloud_at in zip(rollout, predicted):
        np.testing.assert_allclose(model._physical(end[0]), cloud_at, atol=1e-5)
    # asking for other times as well (a forecast, a time between) leaves the steps through the fitted times alone
    more = model.predict([0.1, 0.5, 0.75, 1.3], start=0)
    np.testing.assert_allclose(more[1], predicted[1], atol=1e-5)
    np.testing.assert_allclose(more[2], predicted[2], atol=1e-5)


def test_wlm_extrapolates_a_constant_velocity_and_the_gradient_flow_fits_it():
    snaps = _drifting()
    future = [1.0, 1.25]
    static = [np.linalg.norm(snaps.clouds[-1].mean(0) - VELOCITY * t) for t in future]
    wlm = WLM(max_epochs=3, steps_per_epoch=10, **TINY).fit(snaps)
    flow = GradientFlow(max_epochs=6, steps_per_epoch=10, learning_rate=1e-2, **TINY).fit(snaps)
    errors = {}
    for model in (wlm, flow):
        forecast = model.predict(future, start=0)
        errors[model] = [np.linalg.norm(c.mean(0) - VELOCITY * t) for c, t in zip(forecast, future)]
        in_window = model.predict(TIMES[1:], start=0)
        assert max(np.linalg.norm(c.mean(0) - VELOCITY * t) for c, t in zip(in_window, TIMES[1:])) < 0.1
        assert all(e < s for e, s in zip(errors[model], static)), (type(model).__name__, errors[model], static)
    # WLM carries momentum past the data (the gradient flow's field would have to extrapolate in space)
    assert max(errors[wlm]) < 0.1
    forecast = wlm.predict(future, start=0)[1]
    assert np.abs(forecast.std(0) - 0.3).max() < 0.1, forecast.std(0)
    velocity = wlm.velocity(forecast, 1.25).mean(0)
    assert np.linalg.norm(velocity - VELOCITY) < 0.15 * np.linalg.norm(VELOCITY), velocity


def test_observed_velocities_start_the_rollout():
    snaps = _drifting(velocities=True)
    model = WLM(max_epochs=1, steps_per_epoch=2, **TINY).fit(snaps)
    np.testing.assert_allclose(model.velocity(snaps.clouds[0], 0.0), snaps.velocities[0], atol=1e-5)


def test_save_load_round_trip(fitted, tmp_path):
    model, snaps = fitted
    model.save(tmp_path / "wlm.pt")
    loaded = WLM.load(tmp_path / "wlm.pt")
    np.testing.assert_allclose(loaded.predict([0.6, 1.2], start=0), model.predict([0.6, 1.2], start=0), atol=1e-5)
    np.testing.assert_allclose(loaded.predict([1.0], start=2), model.predict([1.0], start=2), atol=1e-5)
    assert loaded.friction_ == pytest.approx(model.friction_)
    flow = GradientFlow(max_epochs=1, steps_per_epoch=2, **TINY).fit(snaps)
    flow.save(tmp_path / "flow.pt")
    np.testing.assert_allclose(GradientFlow.load(tmp_path / "flow.pt").velocity(snaps.clouds[1], 2.0),
                               flow.velocity(snaps.clouds[1], 2.0), atol=1e-6)


def test_errors_name_the_argument(fitted):
    model, snaps = fitted
    with pytest.raises(ValueError, match="times: expected times >= 0.25 .*extrapolates"):
        model.predict([0.1, 2.0], start=1)
    with pytest.raises(ValueError, match="times: expected non-decreasing"):
        model.predict([2.0, 1.0])
    with pytest.raises(ValueError, match="start_time: expected a time within the fitted range"):
        model.predict([2.0], start=snaps.clouds[0], start_time=1.5)
    with pytest.raises(ValueError, match="start: expected points of dimension 2"):
        model.predict([1.0], start=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="x: expected finite values"):
        model.velocity(np.full((2, 2), np.nan), 0.5)
    with pytest.raises(ValueError, match="t: expected a time from the first fitted time"):
        model.velocity(np.zeros((2, 2)), -1.0)
    with pytest.raises(ValueError, match="n: expected an integer >= 1"):
        model.predict([1.0], n=0)
    with pytest.raises(TypeError, match="snapshots: expected a neuralign.snapshots.Snapshots"):
        WLM(**TINY).fit(np.zeros((3, 5, 2)))
    with pytest.raises(ValueError, match="snapshots: expected at least 2 snapshots"):
        GradientFlow(**TINY).fit(snaps.subset([0]))
    with pytest.raises(ValueError, match="velocity_points: expected an integer >= 2"):
        WLM(velocity_points=1)
    with pytest.raises(ValueError, match="friction: expected a finite number > 0"):
        WLM(friction=-1.0)
    with pytest.raises(ValueError, match="sinkhorn_reg: expected a finite number > 0"):
        GradientFlow(sinkhorn_reg=0)


@pytest.mark.slow
def test_wlm_forecasts_a_rotating_cloud_better_than_the_gradient_flow():
    def rotation(angle):
        return np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])

    def cloud(t, n, rng):
        return (np.array([2.0, 0.0]) + rng.normal(size=(n, 2)) * [0.3, 0.15]) @ rotation(t).T

    import ot

    rng = np.random.default_rng(0)
    times = np.arange(9) * 0.25
    snaps = Snapshots(times, [cloud(t, 200, rng) for t in times])
    future = [2.25, 2.5]
    truth = [cloud(t, 500, np.random.default_rng(1)) for t in future]

    def w1(a, b):
        return ot.emd2(np.full(len(a), 1 / len(a)), np.full(len(b), 1 / len(b)), ot.dist(a, b, metric="euclidean"))

    scores = {}
    for model in (WLM(verbose=False, device="cpu"), GradientFlow(verbose=False, device="cpu")):
        forecast = model.fit(snaps).predict(future, start=0)
        scores[type(model).__name__] = [w1(p, q) for p, q in zip(forecast, truth)]
    static = [w1(snaps.clouds[-1], q) for q in truth]
    assert max(scores["WLM"]) < 0.5 * min(static)
    assert all(a < b for a, b in zip(scores["WLM"], scores["GradientFlow"])), scores
