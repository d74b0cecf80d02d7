"""Latent variable models, one file each, assembled from ``neuralign.nn`` and trained by ``neuralign.train``."""

from neuralign.models.base import NotFittedError, load_model
from neuralign.models.seqvae import SeqVAE, SeqVAEConfig
from neuralign.models.lfads import LFADS, LFADSConfig
from neuralign.models.multimodal import MultimodalVAE, MultimodalVAEConfig
from neuralign.models.vocalvae import VocalVAE, VocalVAEConfig
from neuralign.models.gpvae import GPVAE, GPVAEConfig, MMGPVAE, MMGPVAEConfig
from neuralign.models.ndt2 import NDT2, NDT2Config

__all__ = ["LFADS", "LFADSConfig", "MultimodalVAE", "MultimodalVAEConfig", "NotFittedError", "SeqVAE", "SeqVAEConfig", "load_model",
           "VocalVAE", "VocalVAEConfig", "GPVAE", "GPVAEConfig", "MMGPVAE", "MMGPVAEConfig",
           "NDT2", "NDT2Config"]
