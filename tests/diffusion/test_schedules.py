import pytest
import torch

from neuralign.diffusion import VPSchedule

KINDS = ["cosine", "linear"]


@pytest.mark.parametrize("kind", KINDS)
def test_mean_and_std_are_variance_preserving_and_monotone(kind):
    schedule = VPSchedule(kind)
    t = torch.linspace(0.0, 1.0, 501, dtype=torch.float64)
    mu, sigma = schedule.mean_coef(t), schedule.std(t)
    torch.testing.assert_close(mu ** 2 + sigma ** 2, torch.ones_like(t))
    assert torch.all(mu[1:] < mu[:-1]) and torch.all(sigma[1:] > sigma[:-1])
    assert mu[0] == pytest.approx(1.0) and sigma[-1] > 0.99
    assert torch.all(schedule.alpha_bar(t) > 0)


@pytest.mark.parametrize("kind", KINDS)
def test_beta_is_minus_derivative_of_log_alpha_bar(kind):
    schedule = VPSchedule(kind)
    t = torch.linspace(0.01, 0.99, 97, dtype=torch.float64)
    h = 1e-6
    finite_difference = -(schedule.log_alpha_bar(t + h) - schedule.log_alpha_bar(t - h)) / (2 * h)
    torch.testing.assert_close(schedule.beta(t), finite_difference, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(schedule.g2(t), schedule.beta(t))


def test_linear_schedule_values():
    schedule = VPSchedule("linear", beta_min=0.1, beta_max=20.0)
    t = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)
    torch.testing.assert_close(schedule.beta(t), torch.tensor([0.1, 10.05, 20.0], dtype=torch.float64))
    expected = torch.exp(-(0.1 * t + 0.5 * 19.9 * t ** 2))
    torch.testing.assert_close(schedule.alpha_bar(t), expected)


def test_cosine_schedule_follows_nichol_dhariwal_until_clipped():
    schedule = VPSchedule("cosine")
    s = 0.008
    t = torch.linspace(0.0, 0.85, 11, dtype=torch.float64)
    f = torch.cos((t + s) / (1 + s) * torch.pi / 2) ** 2
    f0 = torch.cos(torch.tensor(s / (1 + s) * torch.pi / 2, dtype=torch.float64)) ** 2
    torch.testing.assert_close(schedule.alpha_bar(t), f / f0)
    late = torch.tensor([0.95, 1.0], dtype=torch.float64)
    assert torch.all(schedule.beta(late) == schedule.beta_max)
    assert torch.isfinite(schedule.log_alpha_bar(late)).all()


def test_schedule_follows_input_dtype():
    schedule = VPSchedule()
    assert schedule.std(torch.rand(3, dtype=torch.float64)).dtype == torch.float64
    assert schedule.beta(torch.rand(3, dtype=torch.float32)).dtype == torch.float32


def test_bad_schedule_arguments():
    with pytest.raises(ValueError, match="kind: expected one of"):
        VPSchedule("quadratic")
    with pytest.raises(ValueError, match="beta_max: expected a number > beta_min"):
        VPSchedule("linear", beta_min=5.0, beta_max=1.0)
