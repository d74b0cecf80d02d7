"""VocalVAE: fitting through the training loop, latents, persistence, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralign.metrics import mmd_test
from neuralign.models import NotFittedError, VocalVAE, VocalVAEConfig, load_model


def _bars(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """16 x 16 images with one bright horizontal or vertical bar at a random position, plus noise."""
    rng = np.random.default_rng(seed)
    images = rng.normal(0, 0.05, size=(n, 16, 16)).astype(np.float32)
    kind = rng.integers(0, 2, size=n)
    for i in range(n):
        position = rng.integers(3, 13)
        if kind[i]:
            images[i, position - 1:position + 1, 2:14] += 1.0
        else:
            images[i, 2:14, position - 1:position + 1] += 1.0
    return images, kind


@pytest.fixture(scope="module")
def fitted():
    images, kind = _bars(64)
    model = VocalVAE(latent_dim=4, image_size=16, max_epochs=25, kl_warmup_epochs=5, seed=0, verbose=False)
    return model.fit(images), images, kind


def test_fit_learns_and_latents_separate_the_two_kinds(fitted):
    model, images, kind = fitted
    logs = model.history_.logs
    assert logs["train/reconstruction"][-1] < 0.5 * logs["train/reconstruction"][0]
    latents = model.transform(images)
    assert latents.shape == (64, 4) and latents.dtype == np.float32
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    assert cross_val_score(KNeighborsClassifier(3), latents, kind, cv=4).mean() >= 0.8
    assert mmd_test(latents[kind == 0], latents[kind == 1], n_permutations=200).p_value < 0.01


def test_reconstruct_sample_score(fitted):
    model, images, _ = fitted
    reconstruction = model.reconstruct(images[:8])
    assert reconstruction.shape == (8, 16, 16)
    mean_image = images.mean(axis=0)  # the best reconstruction that ignores the latent
    assert np.mean((reconstruction - images[:8]) ** 2) < np.mean((mean_image - images[:8]) ** 2)
    assert model.sample(5, seed=1).shape == (5, 16, 16)
    assert np.array_equal(model.sample(3, seed=2), model.sample(3, seed=2))
    assert np.isfinite(model.score(images))


def test_save_load_roundtrip(fitted, tmp_path):
    model, images, _ = fitted
    path = tmp_path / "vae.pt"
    model.save(path)
    loaded = VocalVAE.load(path)
    assert isinstance(load_model(path), VocalVAE)
    assert loaded.config == model.config
    assert np.allclose(loaded.transform(images), model.transform(images), atol=1e-6)


def test_seeded_fit_is_reproducible():
    images, _ = _bars(24, seed=3)
    first = VocalVAE(latent_dim=2, image_size=16, max_epochs=2, verbose=False).fit(images).transform(images)
    second = VocalVAE(latent_dim=2, image_size=16, max_epochs=2, verbose=False).fit(images).transform(images)
    assert np.allclose(first, second)


def test_sizes_and_device_of_the_network():
    for size in (8, 32, 64):
        model = VocalVAE(latent_dim=3, image_size=size, max_epochs=1, verbose=False, val_fraction=0)
        model.fit(np.random.default_rng(0).random((6, size, size)))
        assert model.transform(np.zeros((2, size, size))).shape == (2, 3)
    assert model._device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="image_size: expected a power of two"):
        VocalVAE(image_size=30)
    with pytest.raises(TypeError, match="valid settings"):
        VocalVAE(latent_dims=3)
    with pytest.raises(TypeError, match="config= or keyword"):
        VocalVAE(VocalVAEConfig(), latent_dim=2)
    with pytest.raises(ValueError, match="latent_dim: expected an integer >= 1"):
        VocalVAEConfig(latent_dim=0)
    model = VocalVAE(latent_dim=2, image_size=16, max_epochs=1, verbose=False)
    with pytest.raises(NotFittedError, match="call fit"):
        model.transform(np.zeros((2, 16, 16)))
    with pytest.raises(ValueError, match=r"images: expected images of shape \(n, 16, 16\)"):
        model.fit(np.zeros((10, 32, 32)))
    with pytest.raises(ValueError, match="images: expected at least 4 images"):
        model.fit(np.zeros((2, 16, 16)))
    with pytest.raises(ValueError, match="images: expected 3 dimensions"):
        model.fit(np.zeros((10, 16)))
    with pytest.raises(ValueError, match="images: expected finite values"):
        model.fit(np.full((10, 16, 16), np.nan))
