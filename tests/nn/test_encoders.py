"""Tests for neuralign.nn.encoders."""

import pytest
import torch

from neuralign.nn.encoders import BiGRUEncoder

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_frozen_encoder_in_eval_mode_passes_gradients_to_its_input(device):
    # the aligners train a read-in through the frozen, eval-mode encoder (cuDNN's GRU refuses this on CUDA)
    torch.manual_seed(0)
    encoder = BiGRUEncoder(5, 8, 3).to(device).eval().requires_grad_(False)
    x = torch.randn(4, 7, 5, device=device, requires_grad=True)
    mean, log_variance = encoder(x)
    (mean.square().sum() + log_variance.sum()).backward()
    assert mean.shape == log_variance.shape == (4, 7, 3)
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(x.grad.abs().sum()) > 0


@pytest.mark.parametrize("device", DEVICES)
def test_ragged_trials_match_their_unpadded_encoding(device):
    torch.manual_seed(0)
    encoder = BiGRUEncoder(5, 8, 3).to(device).eval()
    x = torch.randn(2, 6, 5, device=device)
    with torch.no_grad():
        mean, _ = encoder(x, lengths=torch.tensor([6, 4]))
        alone, _ = encoder(x[1:, :4])
    torch.testing.assert_close(mean[1, :4], alone[0], rtol=1e-4, atol=1e-5)
