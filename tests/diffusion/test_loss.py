import numpy as np
import pytest
import torch

from neuralign.diffusion import SpatioTemporalDenoiser, TrajectoryDiffusion, VPSchedule, denoising_loss

L, D = 12, 2


def sine_latents(n: int = 256, seed: int = 0) -> np.ndarray:
    """Trajectories on an ellipse with random phase, offset and scaled so dims differ: (n, 12, 2)."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    angle = 0.5 * np.arange(L)[None, :] + phase
    latents = np.stack([2.0 * np.sin(angle) + 1.0, np.cos(angle) - 0.5], axis=-1)
    return (latents + 0.05 * rng.normal(size=latents.shape)).astype(np.float32)


def _small_model(kind: str = "cosine") -> TrajectoryDiffusion:
    torch.manual_seed(0)
    return TrajectoryDiffusion(SpatioTemporalDenoiser(L, D, width=16, n_blocks=1), VPSchedule(kind))


def test_denoising_loss_is_a_scalar_with_gradients():
    model = _small_model()
    z0 = torch.randn(5, L, D)
    loss = denoising_loss(model.denoiser, model.schedule, z0, generator=torch.Generator().manual_seed(0))
    assert loss.shape == () and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.denoiser.parameters())
    again = denoising_loss(model.denoiser, model.schedule, z0, generator=torch.Generator().manual_seed(0))
    assert again.item() == pytest.approx(loss.item())


def test_denoising_loss_of_the_exact_denoiser_is_small():
    class Oracle(torch.nn.Module):  # knows the data: z0 = 0, so eps = z_t / sigma_t
        n_time, latent_dim = L, D

        def forward(self, z_t, t):
            return z_t / schedule.std(t)[:, None, None]

    schedule = VPSchedule("linear")
    loss = denoising_loss(Oracle(), schedule, torch.zeros(64, L, D))
    assert loss.item() < 1e-8


def test_fit_lowers_the_loss_and_samples_match_the_data_moments():
    latents = sine_latents()
    model = _small_model()
    z0 = torch.as_tensor(latents)
    generator = torch.Generator().manual_seed(1)
    initial = np.mean([model.loss(z0, generator=generator).item() for _ in range(4)])
    model.fit(latents, max_epochs=100, batch_size=64, learning_rate=3e-3, val_fraction=0.0, device="cpu")
    final = np.mean([model.loss(z0, generator=generator).item() for _ in range(4)])
    assert final < 0.75 * initial
    assert model.history_ is not None and model.history_.epochs_run == 100
    np.testing.assert_allclose(model.data_scale.numpy(), latents.reshape(-1, D).std(0), rtol=1e-5)

    samples = model.sample(1024, generator=torch.Generator().manual_seed(0), steps=50, method="ddpm").numpy()
    assert samples.shape == (1024, L, D) and np.isfinite(samples).all()
    data_std = latents.std(axis=0)
    assert np.abs(samples.mean(0) - latents.mean(0)).max() < 0.35 * data_std.mean()
    assert np.abs(samples.std(0) / data_std - 1).max() < 0.3
    # the structure of the trajectories, not only their moments: points lie near the ellipse of amplitude 1
    radius = np.hypot((samples[..., 0] - 1.0) / 2.0, samples[..., 1] + 0.5)
    assert abs(np.median(radius) - 1.0) < 0.15

    ddim = model.sample(8, generator=torch.Generator().manual_seed(0), steps=20)
    again = model.sample(8, generator=torch.Generator().manual_seed(0), steps=20)
    torch.testing.assert_close(ddim, again)  # DDIM is deterministic given the initial noise
    assert not model.training


def test_noise_time_inverts_the_schedule():
    model = _small_model()
    for level in (0.05, 0.3, 2.0):
        t = torch.tensor(model.noise_time(level))
        assert float(model.schedule.std(t) / model.schedule.mean_coef(t)) == pytest.approx(level, rel=1e-4)
    assert model.noise_time(1e-6) == model.t_min  # below t_min's noise: t_min
    with pytest.raises(ValueError, match="noise_level: expected a finite number > 0"):
        model.noise_time(0.0)
    with pytest.raises(ValueError, match="noise_level: expected a level the schedule reaches"):
        model.noise_time(1e6)


def test_denoise_moves_noisy_trajectories_towards_the_data():
    latents = sine_latents()
    model = _small_model()
    model.fit(latents, max_epochs=150, batch_size=64, learning_rate=3e-3, val_fraction=0.0, device="cpu")
    clean = torch.as_tensor(sine_latents(64, seed=1))
    level = 0.3
    noisy = clean + level * model.data_scale * torch.randn(clean.shape, generator=torch.Generator().manual_seed(2))
    denoised = model.denoise(noisy, level)
    assert denoised.shape == noisy.shape and not model.training
    before, after = ((noisy - clean) ** 2).mean().item(), ((denoised - clean) ** 2).mean().item()
    assert after < 0.7 * before
    with pytest.raises(ValueError, match="z0: expected"):
        model.denoise(torch.zeros(2, L + 1, D), level)


def test_data_scale_makes_the_prior_scale_free():
    model = _small_model()
    latents = sine_latents(32)
    model.fit(latents, max_epochs=1, batch_size=16, device="cpu", val_fraction=0.0)
    generator = torch.Generator().manual_seed(3)
    loss = model.loss(torch.as_tensor(latents), generator=generator)
    model.data_scale.mul_(100.0)
    generator = torch.Generator().manual_seed(3)
    assert model.loss(100.0 * torch.as_tensor(latents), generator=generator).item() == pytest.approx(loss.item(),
                                                                                                   rel=1e-4)


def test_sample_follows_the_model_dtype():
    model = _small_model().double()
    sample = model.sample(2, steps=3, method="ddpm")
    assert sample.dtype == torch.float64 and sample.shape == (2, L, D)


def test_bad_inputs():
    model = _small_model()
    with pytest.raises(ValueError, match=r"z0: expected 3 dimensions"):
        model.loss(torch.randn(L, D))
    with pytest.raises(ValueError, match=r"to match the denoiser"):
        model.loss(torch.randn(4, L, D + 1))
    with pytest.raises(ValueError, match=r"latents: expected 3 dimensions"):
        model.fit(np.zeros((4, L)), max_epochs=1)
    with pytest.raises(ValueError, match=r"latents: expected \(trials, time, latent\) = \(trials, 12, 2\)"):
        model.fit(np.zeros((4, L + 1, D)), max_epochs=1)
    with pytest.raises(ValueError, match=r"latent dimensions \[1\] are constant"):
        model.fit(np.stack([np.random.randn(4, L), np.ones((4, L))], -1), max_epochs=1)
    with pytest.raises(ValueError, match=r"latents: expected finite values"):
        model.fit(np.full((4, L, D), np.nan), max_epochs=1)
    with pytest.raises(ValueError, match="method: expected one of"):
        model.sample(2, method="euler")
    with pytest.raises(ValueError, match="steps: expected an integer >= 1"):
        model.sample(2, steps=0)
    with pytest.raises(TypeError, match="generator: expected a torch.Generator"):
        model.sample(2, generator=0)
    with pytest.raises(TypeError, match="denoiser: expected a module with integer attributes"):
        TrajectoryDiffusion(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="t_min: expected a number in"):
        TrajectoryDiffusion(SpatioTemporalDenoiser(L, D), t_min=1.5)
