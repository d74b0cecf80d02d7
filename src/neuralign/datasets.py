"""The dataset registry: ``neuralign.datasets.load(name)`` for bundled real recordings and synthetic data.

A thin alias of :mod:`neuralign.data.datasets`; see there for the loaders.
"""

from neuralign.data.datasets import DatasetInfo, list_datasets, load, register

__all__ = ["DatasetInfo", "list_datasets", "load", "register"]
