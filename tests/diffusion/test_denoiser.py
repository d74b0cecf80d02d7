import pytest
import torch

from neuralign.diffusion import SpatioTemporalDenoiser

L, D = 7, 3


def _model(**kwargs):
    torch.manual_seed(0)
    return SpatioTemporalDenoiser(L, D, width=16, n_blocks=2, n_heads=4, **kwargs).eval()


@pytest.mark.parametrize("spatial,temporal", [(True, True), (True, False), (False, True), (False, False)])
def test_output_shape(spatial, temporal):
    model = _model(spatial=spatial, temporal=temporal)
    out = model(torch.randn(5, L, D), torch.rand(5))
    assert out.shape == (5, L, D) and torch.isfinite(out).all()


def test_scalar_time_is_broadcast_and_dtype_followed():
    model = _model().double()
    z = torch.randn(2, L, D, dtype=torch.float64)
    out = model(z, 0.5)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out, model(z, torch.full((2,), 0.5, dtype=torch.float64)))


def test_spatial_only_model_mixes_nothing_across_time_bins():
    model = _model(spatial=True, temporal=False)
    z, t = torch.randn(4, L, D), torch.rand(4)
    perturbed = z.clone()
    perturbed[:, 2, :] += torch.randn(4, D)
    out, out_perturbed = model(z, t), model(perturbed, t)
    unchanged = [b for b in range(L) if b != 2]
    torch.testing.assert_close(out[:, unchanged], out_perturbed[:, unchanged])
    assert (out[:, 2] - out_perturbed[:, 2]).abs().max() > 1e-3


def test_temporal_only_model_mixes_nothing_across_latent_dimensions():
    model = _model(spatial=False, temporal=True)
    z, t = torch.randn(4, L, D), torch.rand(4)
    perturbed = z.clone()
    perturbed[:, :, 1] += torch.randn(4, L)
    out, out_perturbed = model(z, t), model(perturbed, t)
    torch.testing.assert_close(out[:, :, [0, 2]], out_perturbed[:, :, [0, 2]])
    assert (out[:, :, 1] - out_perturbed[:, :, 1]).abs().max() > 1e-3


def test_full_model_mixes_across_time_and_latents():
    model = _model()
    z, t = torch.randn(4, L, D), torch.rand(4)
    perturbed = z.clone()
    perturbed[:, 0, 0] += 1.0
    assert (model(z, t)[:, -1, -1] - model(perturbed, t)[:, -1, -1]).abs().max() > 1e-4


def test_positional_embeddings_break_time_permutation_equivariance():
    model = _model()
    z, t = torch.randn(4, L, D), torch.rand(4)
    order = list(range(L))
    order[1], order[4] = 4, 1
    swapped_output = model(z[:, order], t)
    assert (swapped_output - model(z, t)[:, order]).abs().max() > 1e-3


def test_time_embedding_changes_the_output():
    model = _model()
    z = torch.randn(3, L, D)
    assert (model(z, torch.full((3,), 0.1)) - model(z, torch.full((3,), 0.9))).abs().max() > 1e-4


def test_bad_inputs():
    model = _model()
    with pytest.raises(ValueError, match=r"z_t: expected 3 dimensions"):
        model(torch.randn(L, D), torch.rand(1))
    with pytest.raises(ValueError, match=r"to match the denoiser"):
        model(torch.randn(2, L + 1, D), torch.rand(2))
    with pytest.raises(ValueError, match=r"to match the denoiser"):
        model(torch.randn(2, L, D + 1), torch.rand(2))
    with pytest.raises(ValueError, match=r"t: expected shape \(2,\)"):
        model(torch.randn(2, L, D), torch.rand(3))
    with pytest.raises(TypeError, match="z_t: expected a torch.Tensor"):
        model([[0.0]], torch.rand(1))
    with pytest.raises(ValueError, match="width: expected a multiple of n_heads"):
        SpatioTemporalDenoiser(L, D, width=10, n_heads=4)
    with pytest.raises(ValueError, match="latent_dim: expected an integer >= 1"):
        SpatioTemporalDenoiser(L, 0)
