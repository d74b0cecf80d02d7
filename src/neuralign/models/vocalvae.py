"""A small convolutional VAE for fixed-size spectrogram images (syllables), trained by ``neuralign.train``.

For an image x (size x size, e.g. a normalised syllable log-spectrogram):

    q(z | x) = N(mu(x), diag sigma^2(x))       mu, log sigma^2 = Linear(ConvNet(x)),  z in R^latent_dim
    p(z)     = N(0, I)
    p(x | z) = N(x; g(z), s^2 I)               g = transposed ConvNet, s^2 one learned variance (initially the
                                               pixel variance of the training images)

    loss per image = [-log p(x | z) + beta_e KL(q(z | x) || p(z))] / pixels,   z = mu + sigma * eps

with beta_e ramping linearly from 1 / kl_warmup_epochs to 1. The encoder halves the image with stride-2
convolutions down to 4 x 4; ``transform`` returns the posterior means mu(x), the latents that are compared
between groups with the MMD test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from neuralign._checks import as_array, positive_float, positive_int
from neuralign.models.base import Estimator, register_model
from neuralign.nn.likelihoods import GaussianLikelihood
from neuralign.nn.priors import StandardNormalPrior
from neuralign.train import History, TrainConfig, resolve_device, train


@dataclass
class VocalVAEConfig:
    """Settings of :class:`VocalVAE`.

    latent_dim : latent dimensions (32 in the original). image_size : side of the square input images (a power
    of two, 8 to 256). channels : channels of the first convolution (doubled at each halving, capped at 8x).
    kl_warmup_epochs : epochs of the linear KL ramp (0: none). Training: max_epochs, batch_size, learning_rate,
    weight_decay, val_fraction, patience, seed, device (None: CUDA if available), verbose.
    """

    latent_dim: int = 32
    image_size: int = 32
    channels: int = 8
    kl_warmup_epochs: int = 10
    max_epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    val_fraction: float = 0.1
    patience: int = 15
    seed: int = 0
    device: str | None = None
    verbose: bool = True

    def __post_init__(self) -> None:
        positive_int("latent_dim", self.latent_dim)
        positive_int("image_size", self.image_size, minimum=8)
        if self.image_size > 256 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size: expected a power of two from 8 to 256, got {self.image_size}; resize "
                             "the images first (neuralign.analysis.vocal.resize_images).")
        positive_int("channels", self.channels)
        positive_int("kl_warmup_epochs", self.kl_warmup_epochs, minimum=0)
        positive_float("weight_decay", self.weight_decay, allow_zero=True)
        self.train_config()  # validates the training settings

    def train_config(self) -> TrainConfig:
        return TrainConfig(max_epochs=self.max_epochs, batch_size=self.batch_size, learning_rate=self.learning_rate,
                           weight_decay=self.weight_decay, val_fraction=self.val_fraction, patience=self.patience,
                           min_epochs=self.kl_warmup_epochs, seed=self.seed, device=self.device,
                           verbose=self.verbose)


class VocalVAENetwork(nn.Module):
    """Encoder (stride-2 convolutions to 4 x 4, linear to mean and log-variance) and a mirrored decoder."""

    def __init__(self, config: VocalVAEConfig) -> None:
        super().__init__()
        halvings = int(math.log2(config.image_size)) - 2
        widths = [min(config.channels * 2 ** i, config.channels * 8) for i in range(halvings)]
        encoder, previous = [], 1
        for width in widths:
            encoder += [nn.Conv2d(previous, width, 4, stride=2, padding=1), nn.LeakyReLU(0.1)]
            previous = width
        self.encoder = nn.Sequential(*encoder, nn.Flatten())
        self.feature_shape = (previous, 4, 4)
        features = previous * 16
        self.to_posterior = nn.Linear(features, 2 * config.latent_dim)
        self.from_latent = nn.Linear(config.latent_dim, features)
        decoder = []
        for index in range(halvings - 1, -1, -1):
            out = widths[index - 1] if index > 0 else 1
            decoder.append(nn.ConvTranspose2d(widths[index], out, 4, stride=2, padding=1))
            if index > 0:
                decoder.append(nn.LeakyReLU(0.1))
        self.decoder = nn.Sequential(*decoder)
        self.likelihood = GaussianLikelihood(1)
        self.prior = StandardNormalPrior(config.latent_dim)

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """images (n, size, size) -> posterior mean and log-variance, (n, latent_dim) each."""
        mean, log_variance = self.to_posterior(self.encoder(images[:, None])).chunk(2, dim=1)
        return mean, log_variance.clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z (n, latent_dim) -> image means (n, size, size)."""
        return self.decoder(self.from_latent(z).view(-1, *self.feature_shape))[:, 0]


@register_model
class VocalVAE(Estimator):
    """Convolutional VAE of square spectrogram images (see the module docstring for the equations).

    Examples
    --------
    >>> images = np.random.default_rng(0).random((40, 16, 16)).astype(np.float32)
    >>> model = VocalVAE(latent_dim=4, image_size=16, max_epochs=2, verbose=False).fit(images)
    >>> model.transform(images).shape
    (40, 4)
    """

    config_class = VocalVAEConfig

    def __init__(self, config: VocalVAEConfig | None = None, **settings: Any) -> None:
        super().__init__(config, **settings)
        self.network_: VocalVAENetwork | None = None
        self.history_: History | None = None

    # ------------------------------------------------------------------------------------------ fitting
    def fit(self, images: Any) -> "VocalVAE":
        """Fit on (n, image_size, image_size) images (at least 4)."""
        tensor = self._images("images", images, minimum=4)
        torch.manual_seed(self.config.seed)
        self.network_ = VocalVAENetwork(self.config)
        with torch.no_grad():  # start the observation variance at the pixel variance, not at 1
            self.network_.likelihood.log_variance.fill_(float(torch.log(tensor.var().clamp(min=1e-6))))
        self.history_ = train(self.network_, self._loss, [{"images": tensor}], self.config.train_config())
        self.network_.eval()
        self.fitted_ = True
        return self

    def _loss(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        network, images = self.network_, batch["images"]
        mean, log_variance = network.encode(images)
        z = mean + torch.exp(0.5 * log_variance) * torch.randn_like(mean) if network.training else mean
        reconstruction = network.decode(z)
        n, pixels = images.shape[0], images.shape[1] * images.shape[2]
        nll = -network.likelihood.log_prob(images.reshape(n, pixels, 1), reconstruction.reshape(n, pixels, 1))
        kl = network.prior.kl(mean[:, None], log_variance[:, None])
        warmup = self.config.kl_warmup_epochs
        beta = min(1.0, (batch["epoch"] + 1) / warmup) if warmup > 0 else 1.0
        return {"loss": ((nll + beta * kl) / pixels).mean(), "reconstruction": (nll / pixels).mean(),
                "kl": kl.mean()}

    # --------------------------------------------------------------------------------------- inference
    @torch.no_grad()
    def transform(self, images: Any) -> np.ndarray:
        """Posterior means, (n, latent_dim)."""
        self._check_fitted("transform")
        return self._encode(self._images("images", images))[0].cpu().numpy()

    @torch.no_grad()
    def reconstruct(self, images: Any) -> np.ndarray:
        """Decoded posterior means, (n, size, size)."""
        self._check_fitted("reconstruct")
        mean, _ = self._encode(self._images("images", images))
        return self.network_.decode(mean).cpu().numpy()

    @torch.no_grad()
    def score(self, images: Any) -> float:
        """Evidence lower bound per image (nats; higher is better), with the posterior mean as the sample."""
        self._check_fitted("score")
        tensor = self._images("images", images)
        network = self.network_
        mean, log_variance = self._encode(tensor)
        n, pixels = tensor.shape[0], tensor.shape[1] * tensor.shape[2]
        log_likelihood = network.likelihood.log_prob(tensor.reshape(n, pixels, 1),
                                                     network.decode(mean).reshape(n, pixels, 1))
        return float((log_likelihood - network.prior.kl(mean[:, None], log_variance[:, None])).mean())

    @torch.no_grad()
    def sample(self, n_samples: int, *, seed: int = 0) -> np.ndarray:
        """Images decoded from prior draws z ~ N(0, I), (n_samples, size, size) (decoder means)."""
        self._check_fitted("sample")
        n_samples = positive_int("n_samples", n_samples)
        generator = torch.Generator().manual_seed(positive_int("seed", seed, minimum=0))
        z = torch.randn(n_samples, self.config.latent_dim, generator=generator).to(self._device())
        return self.network_.decode(z).cpu().numpy()

    # ------------------------------------------------------------------------------------------ helpers
    def _device(self) -> torch.device:
        return self.network_.to_posterior.weight.device if self.network_ is not None \
            else resolve_device(self.config.device)

    def _encode(self, tensor: torch.Tensor, chunk: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
        self.network_.eval()
        parts = [self.network_.encode(tensor[i:i + chunk]) for i in range(0, tensor.shape[0], chunk)]
        return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])

    def _images(self, name: str, images: Any, minimum: int = 1) -> torch.Tensor:
        array = as_array(name, images, ndim=3)
        size = self.config.image_size
        if array.shape[1:] != (size, size):
            raise ValueError(f"{name}: expected images of shape (n, {size}, {size}) (image_size={size}), got "
                             f"{array.shape}; resize them (neuralign.analysis.vocal.resize_images) or set "
                             "image_size.")
        if array.shape[0] < minimum:
            raise ValueError(f"{name}: expected at least {minimum} images, got {array.shape[0]}.")
        return torch.as_tensor(array, device=self._device())

    # ---------------------------------------------------------------------------------- persistence
    def _get_state(self) -> dict[str, Any]:
        return {"network": self.network_.state_dict()}

    def _set_state(self, state: dict[str, Any]) -> None:
        self.network_ = VocalVAENetwork(self.config)
        self.network_.load_state_dict(state["network"])
        self.network_.to(resolve_device(self.config.device)).eval()

