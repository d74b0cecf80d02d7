"""Latent variable models, one file each, assembled from ``neuralign.nn`` and trained by ``neuralign.train``."""

from neuralign.models.base import NotFittedError, load_model
from neuralign.models.seqvae import SeqVAE, SeqVAEConfig

__all__ = ["NotFittedError", "SeqVAE", "SeqVAEConfig", "load_model"]
