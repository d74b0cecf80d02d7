"""Tests of neuralign.metrics.similarity: CCA, Procrustes, relative representations, linear CKA, linear probes."""

from __future__ import annotations

import numpy as np
import pytest

from neuralign.metrics import (cca_project, linear_cka, linear_probe_accuracy, procrustes_align,
                               relative_representation, relative_similarity, similarity_matrix)


def rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


@pytest.fixture(scope="module")
def x() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((300, 4))


def test_cka_is_one_under_rotation_and_scale_and_low_for_unrelated(x):
    assert linear_cka(x, 3.0 * x @ rotation(4, 1) + 5.0) == pytest.approx(1.0)
    unrelated = np.random.default_rng(9).standard_normal((300, 4))
    assert linear_cka(x, unrelated) < 0.1
    assert linear_cka(x, x[:, :2]) == pytest.approx(2 / (2 * np.sqrt(2)), abs=0.05)  # 2 of 4 isotropic dims


def test_relative_similarity_is_one_for_a_rotated_scaled_copy_and_lower_otherwise(x):
    assert relative_similarity(x, 2.0 * x @ rotation(4, 2)) == pytest.approx(1.0)
    assert relative_similarity(x, np.random.default_rng(3).standard_normal((300, 4))) < 0.5
    r = relative_representation(x, x[:5])
    assert r.shape == (300, 5) and np.all(np.abs(r) <= 1 + 1e-9)
    np.testing.assert_allclose(relative_representation(x, x[:3], center=False)[np.arange(3), np.arange(3)], 1.0)


def test_cca_projects_to_the_smaller_dimension_and_finds_a_linear_relation(x):
    other = np.concatenate([x[:, :2] @ rotation(2, 4), np.random.default_rng(5).standard_normal((300, 4))], 1)
    a, b = cca_project(x, other)
    assert a.shape == (300, 4) and b.shape == (300, 4)
    assert np.corrcoef(a[:, 0], b[:, 0])[0, 1] > 0.99
    a, b = cca_project(x, other, n_components=2)
    assert a.shape == (300, 2)


def test_procrustes_recovers_a_rotation_scale_and_shift(x):
    target = 0.5 * x @ rotation(4, 6) + 2.0
    np.testing.assert_allclose(procrustes_align(x, target), target, atol=1e-8)
    assert not np.allclose(procrustes_align(x, target, scaling=False), target)


def test_linear_probe_accuracy_separable_and_chance():
    rng = np.random.default_rng(7)
    labels = np.repeat(np.arange(3), 40)
    separable = np.eye(3)[labels] * 5 + 0.1 * rng.standard_normal((120, 3))
    assert linear_probe_accuracy(separable, labels) == pytest.approx(1.0)
    assert linear_probe_accuracy(rng.standard_normal((120, 3)), labels) < 0.6


def test_similarity_matrix_symmetric_with_unit_diagonal(x):
    latents = {"a": x, "b": x @ rotation(4, 8), "c": x[:, :2]}
    for measure in ("relative", "cka"):
        matrix = similarity_matrix(latents, measure=measure)
        assert matrix.shape == (3, 3) and np.allclose(matrix, matrix.T) and np.allclose(np.diag(matrix), 1)
        assert matrix[0, 1] == pytest.approx(1.0)


@pytest.mark.parametrize("call, match", [
    (lambda x: linear_cka(x, x[:10]), "b"),
    (lambda x: linear_cka(x[:2], x[:2]), "at least 3"),
    (lambda x: linear_cka(np.ones((5, 2)), np.ones((5, 2))), "constant"),
    (lambda x: cca_project(x, x[:, :2], n_components=3), "n_components"),
    (lambda x: procrustes_align(x, x[:, :2]), "target"),
    (lambda x: relative_similarity(x[:5], x[:5], n_anchors=5), "n_anchors"),
    (lambda x: relative_representation(x, x[:3, :2]), "anchors"),
    (lambda x: similarity_matrix([x], measure="cka"), "latents"),
    (lambda x: similarity_matrix([x, x], measure="rsa"), "measure"),
    (lambda x: linear_probe_accuracy(x, np.zeros(10)), "labels"),
    (lambda x: linear_probe_accuracy(x, np.zeros(300)), "labels"),
    (lambda x: linear_cka("abc", x), "a"),
])
def test_bad_inputs_name_the_argument(x, call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(x)
