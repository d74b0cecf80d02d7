import numpy as np
import torch

from neuralign.snapshots.action_matching import _Marginals
from neuralign.snapshots.fields import laplacian
from neuralign.snapshots.quadrature import action_objective, time_nodes


def _tiny_objective(a, c, x0, x1, kinetic="quadrature"):
    """The objective for s(z, u) = a.z u + c u^2 on two one-particle clouds at u = 0 and 1 (trapezoid)."""
    clouds = [torch.tensor([x0], dtype=torch.float64), torch.tensor([x1], dtype=torch.float64)]
    marginals = _Marginals(clouds, time_nodes(np.array([0.0, 1.0]), "trapezoid"), "ot", kinetic)
    terms = marginals.draw(1, torch.Generator().manual_seed(0))

    def potential(points, times):
        return (points @ torch.tensor(a, dtype=torch.float64)) * times[:, 0] + c * times[:, 0] ** 2

    return action_objective(potential, **terms, create_graph=False)


def test_loss_matches_hand_computed_value_and_time_only_terms_cancel():
    # by hand: s(x0,0) - s(x1,1) + [s(x0,1) - s(x0,0)]/2 + [s(x1,1) - s(x1,0)]/2 + (|grad s(x0,0)|^2
    # + |grad s(x1,1)|^2)/4 = a.(x0 - x1)/2 + |a|^2/4, whatever c (a function of time alone adds nothing)
    x0, x1, a = [0.5, -1.0], [2.0, 1.0], [0.3, -0.7]
    expected = 0.5 * np.dot(a, np.subtract(x0, x1)) + 0.25 * np.dot(a, a)
    for c in (0.0, 5.0, -40.0):
        assert abs(float(_tiny_objective(a, c, x0, x1)["loss"].detach()) - expected) < 1e-5


def test_boundary_terms_put_the_minimum_at_the_true_velocity():
    x0, x1 = [0.5, -1.0], [2.0, 1.0]
    true = list(np.subtract(x1, x0))  # the displacement: grad s at u = 1 for s = a.z u
    candidates = [true, [0.0, 0.0], list(-np.add(x0, x1))]
    full = [float(_tiny_objective(a, 0.0, x0, x1)["loss"].detach()) for a in candidates]
    assert int(np.argmin(full)) == 0
    without = [float((lambda out: out["loss"].detach() - out["boundary"])(_tiny_objective(a, 0.0, x0, x1)))
               for a in candidates]
    assert int(np.argmin(without)) == 2  # without the boundary terms another field wins


def test_simpson_weights_sum_to_one_and_include_midpoints():
    nodes = time_nodes(np.array([0.0, 0.2, 1.0]), "simpson")
    assert [round(n.u, 6) for n in nodes] == [0.0, 0.1, 0.2, 0.6, 1.0]
    assert abs(sum(n.weight for n in nodes) - 1.0) < 1e-12
    assert [n.lam for n in nodes] == [0.0, 0.5, 0.0, 0.5, 0.0]


def test_exact_laplacian_equals_hutchinson_in_expectation_on_a_quadratic():
    torch.manual_seed(0)
    d = 6
    root = torch.randn(d, d, dtype=torch.float64)
    matrix = root + root.T

    def potential(z, u):
        return 0.5 * ((z @ matrix) * z).sum(-1) * (1 + u[:, 0])

    z = torch.randn(200, d, dtype=torch.float64)
    u = torch.full((200, 1), 0.5, dtype=torch.float64)
    exact = laplacian(potential, z, u, method="exact", create_graph=False)
    assert torch.allclose(exact, 1.5 * torch.trace(matrix).expand(200))
    estimate = laplacian(potential, z, u, method="hutchinson", n_probes=50,
                         generator=torch.Generator().manual_seed(1), create_graph=False)
    single = laplacian(potential, z, u, method="hutchinson", n_probes=1,
                       generator=torch.Generator().manual_seed(2), create_graph=False)
    assert not torch.allclose(single, exact)  # one probe is noisy ...
    standard_error = single.std() / np.sqrt(50 * 200)
    assert abs(float(estimate.mean() - exact.mean())) < 4 * float(standard_error)  # ... but unbiased


def test_exact_kinetic_term_integrates_linear_in_time_potentials_exactly():
    # s = a.z u on q_0 = delta(x0) at u = 0 and q_1 = delta(x1) at u = 1, q_u = (1 - u) q_0 + u q_1:
    # int E_{q_u} 0.5 |grad s_u|^2 du = 0.5 |a|^2 int u^2 du = |a|^2 / 6; the linear part is as above
    x0, x1, a = [0.5, -1.0], [2.0, 1.0], [0.3, -0.7]
    expected = 0.5 * np.dot(a, np.subtract(x0, x1)) + np.dot(a, a) / 6
    for c in (0.0, 5.0, -40.0):
        assert abs(float(_tiny_objective(a, c, x0, x1, "exact")["loss"].detach()) - expected) < 1e-5
