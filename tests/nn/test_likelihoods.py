"""Tests of neuralign.nn.likelihoods, neuralign.nn.encoders and neuralign.nn.readin."""

from __future__ import annotations

import pytest
import torch
from torch.distributions import Normal, Poisson

from neuralign.nn.encoders import BiGRUEncoder
from neuralign.nn.likelihoods import GaussianLikelihood, PoissonLikelihood
from neuralign.nn.readin import PerSessionLinear


def _counts_and_log_rates(seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    log_rates = torch.randn(3, 7, 4, generator=generator, dtype=torch.float64)
    counts = torch.poisson(torch.exp(log_rates), generator=generator)
    return counts, log_rates


# ------------------------------------------------------------------------------------------------- Poisson
def test_poisson_log_prob_equals_torch_poisson_for_integer_counts():
    counts, log_rates = _counts_and_log_rates()
    expected = Poisson(torch.exp(log_rates)).log_prob(counts).sum(dim=(1, 2))
    log_prob = PoissonLikelihood().log_prob(counts, log_rates)
    assert log_prob.shape == (3,)
    torch.testing.assert_close(log_prob, expected)


def test_poisson_log_prob_mask_excludes_padding_bins():
    counts, log_rates = _counts_and_log_rates(1)
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[1, 4:] = False
    mask[2, 1:] = False
    expected = (Poisson(torch.exp(log_rates)).log_prob(counts) * mask.unsqueeze(-1)).sum(dim=(1, 2))
    likelihood = PoissonLikelihood()
    log_prob = likelihood.log_prob(counts, log_rates, mask)
    torch.testing.assert_close(log_prob, expected)
    changed = counts.clone()
    changed[1, 4:] = 1000.0
    torch.testing.assert_close(likelihood.log_prob(changed, log_rates, mask), log_prob)


def test_poisson_mean_is_exp_of_log_rates():
    _, log_rates = _counts_and_log_rates()
    torch.testing.assert_close(PoissonLikelihood.mean(log_rates), torch.exp(log_rates))


def test_poisson_log_prob_accepts_non_integer_counts_and_is_finite():
    counts = torch.full((1, 2, 2), 0.5)
    assert torch.isfinite(PoissonLikelihood().log_prob(counts, torch.zeros(1, 2, 2))).all()


# ------------------------------------------------------------------------------------------------ Gaussian
def test_gaussian_log_prob_matches_torch_normal():
    generator = torch.Generator().manual_seed(2)
    x = torch.randn(3, 5, 4, generator=generator)
    mean = torch.randn(3, 5, 4, generator=generator)
    likelihood = GaussianLikelihood(4)
    with torch.no_grad():
        likelihood.log_variance.copy_(torch.tensor([-1.0, 0.0, 0.5, 2.0]))
    expected = Normal(mean, torch.exp(0.5 * likelihood.log_variance)).log_prob(x).sum(dim=(1, 2))
    torch.testing.assert_close(likelihood.log_prob(x, mean), expected.detach())


def test_gaussian_log_prob_mask_and_fixed_variance():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(2, 6, 3, generator=generator)
    mean = torch.zeros(2, 6, 3)
    mask = torch.tensor([[True] * 6, [True] * 2 + [False] * 4])
    likelihood = GaussianLikelihood(3, learn_variance=False)
    assert not likelihood.log_variance.requires_grad
    expected = (Normal(mean, 1.0).log_prob(x) * mask.unsqueeze(-1)).sum(dim=(1, 2))
    torch.testing.assert_close(likelihood.log_prob(x, mean, mask), expected)


def test_gaussian_variance_is_learnable():
    likelihood = GaussianLikelihood(2)
    likelihood.log_prob(torch.full((1, 3, 2), 2.0), torch.zeros(1, 3, 2)).sum().backward()
    assert likelihood.log_variance.grad is not None
    assert torch.all(likelihood.log_variance.grad != 0)


# ------------------------------------------------------------------------------------------------- encoder
def test_bigru_encoder_shapes_and_clamped_log_variance():
    torch.manual_seed(0)
    encoder = BiGRUEncoder(5, 6, 3).eval()
    mean, log_variance = encoder(100.0 * torch.randn(4, 9, 5))
    assert mean.shape == log_variance.shape == (4, 9, 3)
    assert log_variance.min() >= -12.0 and log_variance.max() <= 6.0


def test_bigru_encoder_valid_bins_independent_of_padding_content():
    torch.manual_seed(0)
    encoder = BiGRUEncoder(5, 6, 3).eval()
    x = torch.randn(3, 8, 5)
    lengths = torch.tensor([8, 5, 2])
    mean, log_variance = encoder(x, lengths)
    changed = x.clone()
    changed[1, 5:] = 50.0 * torch.randn(3, 5)
    changed[2, 2:] = -7.0
    changed_mean, changed_log_variance = encoder(changed, lengths)
    for trial, length in enumerate(lengths.tolist()):
        torch.testing.assert_close(changed_mean[trial, :length], mean[trial, :length])
        torch.testing.assert_close(changed_log_variance[trial, :length], log_variance[trial, :length])
    # a ragged trial's valid bins equal encoding its valid prefix alone (the backward pass starts at its end)
    alone_mean, _ = encoder(x[1:2, :5])
    torch.testing.assert_close(mean[1, :5], alone_mean[0])
    # with every trial full length, lengths change nothing
    full_mean, _ = encoder(x, torch.tensor([8, 8, 8]))
    torch.testing.assert_close(full_mean, encoder(x)[0])


def test_bigru_encoder_backpropagates_through_packed_sequences():
    encoder = BiGRUEncoder(2, 3, 2)
    x = torch.randn(2, 4, 2, requires_grad=True)
    mean, log_variance = encoder(x, torch.tensor([4, 2]))
    (mean[1, :2].sum() + log_variance[1, :2].sum()).backward()
    assert torch.all(x.grad[1, 2:] == 0)
    assert torch.any(x.grad[1, :2] != 0)


# ---------------------------------------------------------------------------------------------- read-in
def test_per_session_linear_maps_each_session_with_its_own_layer():
    torch.manual_seed(0)
    read_in = PerSessionLinear([4, 7], 3)
    read_out = PerSessionLinear(3, [4, 7])
    assert len(read_in) == len(read_out) == 2
    assert read_in(torch.randn(2, 5, 4), 0).shape == (2, 5, 3)
    assert read_in(torch.randn(2, 5, 7), 1).shape == (2, 5, 3)
    assert read_out(torch.randn(2, 5, 3), 1).shape == (2, 5, 7)
    with pytest.raises(RuntimeError):
        read_in(torch.randn(2, 5, 7), 0)


def test_per_session_linear_add_session_appends_and_leaves_others_unchanged():
    torch.manual_seed(0)
    layers = PerSessionLinear([4, 7], 3).double()
    before = {k: v.clone() for k, v in layers.state_dict().items()}
    index = layers.add_session(9, 3)
    assert index == 2 and len(layers) == 3
    new = layers.layers[index]
    assert (new.in_features, new.out_features) == (9, 3)
    assert new.weight.dtype == torch.float64  # follows the existing layers' dtype and device
    assert layers(torch.randn(2, 5, 9, dtype=torch.float64), index).shape == (2, 5, 3)
    after = layers.state_dict()
    for key, value in before.items():
        assert torch.equal(after[key], value), key
    assert layers.add_session(2, 3) == 3


def test_per_session_linear_with_two_ints_has_one_session():
    layers = PerSessionLinear(3, 4)
    assert len(layers) == 1
    assert layers(torch.randn(2, 3), 0).shape == (2, 4)


def test_per_session_linear_lists_of_different_lengths_raise():
    with pytest.raises(ValueError, match="in_features, out_features"):
        PerSessionLinear([3, 4], [5, 6, 7])
