"""The Estimator base: one rule for building a model's config from config= or keyword settings."""

from __future__ import annotations

import pytest

from neuralign.models import GPVAE, MMGPVAE, MultimodalVAE, SeqVAE, VocalVAE
from neuralign.models.neat import NEAT

MODELS = [SeqVAE, MultimodalVAE, VocalVAE, GPVAE, MMGPVAE, NEAT]


@pytest.mark.parametrize("cls", MODELS)
def test_config_and_settings_together_are_rejected(cls):
    with pytest.raises(TypeError, match=rf"{cls.__name__}: pass either config= or keyword settings, not both"):
        cls(cls.config_class(), max_epochs=2)


@pytest.mark.parametrize("cls", MODELS)
def test_unknown_setting_lists_the_valid_ones(cls):
    with pytest.raises(TypeError, match=rf"{cls.__name__}: .*bogus.*valid settings: \[.*'max_epochs'"):
        cls(bogus=1)


@pytest.mark.parametrize("cls", MODELS)
def test_config_of_another_class_is_rejected(cls):
    other = NEAT.config_class() if cls is not NEAT else SeqVAE.config_class()
    with pytest.raises(TypeError, match=rf"config: expected a {cls.config_class.__name__}"):
        cls(other)
