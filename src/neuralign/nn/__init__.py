"""neuralign.nn"""

from neuralign.nn.fourier import FourierGPPrior, TimeDomainGPPrior

__all__ = ["FourierGPPrior", "TimeDomainGPPrior"]
