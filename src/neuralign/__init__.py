"""neuralign: latent variable models of neural population recordings, aligned across days, subjects,
regions and modalities."""

from neuralign import datasets
from neuralign.data import TrialData

__version__ = "0.1.0"
__all__ = ["TrialData", "datasets", "__version__"]
