"""Tests for the shared argument checks in neuralign._checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from neuralign._checks import as_array, describe, fraction, one_of, positive_float, positive_int


class TestDescribe:
    def test_array(self):
        assert describe(np.zeros((2, 3), dtype=np.float32)) == "array of shape (2, 3) and dtype float32"

    def test_tensor(self):
        text = describe(torch.zeros(4, 5))
        assert "Tensor" in text and "(4, 5)" in text and "float32" in text

    def test_scalar_and_long_repr(self):
        assert describe(3) == "int 3"
        assert describe("abc") == "str 'abc'"
        long = describe("x" * 200)
        assert long.startswith("str ") and long.endswith("...") and len(long) <= 64


class TestAsArray:
    def test_converts_list_to_float32(self):
        array = as_array("x", [[1, 2], [3, 4]], ndim=2)
        assert isinstance(array, np.ndarray) and array.dtype == np.float32
        np.testing.assert_array_equal(array, [[1, 2], [3, 4]])

    def test_keeps_dtype_when_none(self):
        assert as_array("x", np.array([1, 2], dtype=np.int32), dtype=None).dtype == np.int32
        assert as_array("x", np.array([1, 2]), dtype=np.float64).dtype == np.float64

    def test_accepts_bool(self):
        array = as_array("x", [True, False], dtype=None)
        assert array.dtype == bool

    def test_torch_tensor(self):
        tensor = torch.arange(6, dtype=torch.float64).reshape(2, 3)
        array = as_array("x", tensor, ndim=2)
        assert isinstance(array, np.ndarray) and array.dtype == np.float32
        np.testing.assert_array_equal(array, tensor.numpy())

    def test_torch_tensor_requiring_grad(self):
        tensor = torch.ones(3, requires_grad=True)
        array = as_array("x", tensor)
        np.testing.assert_array_equal(array, [1, 1, 1])

    def test_torch_tensor_nan_rejected(self):
        with pytest.raises(ValueError, match="x: expected finite"):
            as_array("x", torch.tensor([1.0, float("nan")]))

    def test_none(self):
        with pytest.raises(TypeError, match="weights: expected an array, got None"):
            as_array("weights", None)

    @pytest.mark.parametrize("value", ["abc", ["a", "b"], [object(), 1], {"a": 1}])
    def test_non_numeric(self, value):
        with pytest.raises(TypeError, match="weights: expected"):
            as_array("weights", value)

    def test_ragged(self):
        with pytest.raises(TypeError, match="weights: expected an array-like of numbers"):
            as_array("weights", [[1.0, 2.0], [1.0]])

    def test_ndim(self):
        with pytest.raises(ValueError, match=r"weights: expected 2 dimensions, got array of shape \(3,\)"):
            as_array("weights", [1.0, 2.0, 3.0], ndim=2)

    def test_empty(self):
        with pytest.raises(ValueError, match="weights: expected a non-empty array"):
            as_array("weights", np.zeros((0, 3)))
        assert as_array("weights", np.zeros((0, 3)), allow_empty=True).shape == (0, 3)

    @pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
    def test_nonfinite(self, bad):
        with pytest.raises(ValueError, match="weights: expected finite values, got 1 NaN/Inf"):
            as_array("weights", [1.0, bad, 2.0])
        assert not np.isfinite(as_array("weights", [1.0, bad], finite=False)).all()

    @pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
    def test_overflow_to_float32_rejected(self):
        with pytest.raises(ValueError, match="weights: expected finite"):
            as_array("weights", np.array([1e300]))

    def test_nonnegative(self):
        with pytest.raises(ValueError, match="weights: expected non-negative values, got minimum -2"):
            as_array("weights", [1.0, -2.0], nonnegative=True)
        np.testing.assert_array_equal(as_array("weights", [0.0, 2.0], nonnegative=True), [0, 2])
        np.testing.assert_array_equal(as_array("weights", [-1.0]), [-1.0])


class TestPositiveInt:
    @pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(2)])
    def test_good(self, value):
        result = positive_int("n", value)
        assert result == value and type(result) is int

    def test_minimum(self):
        assert positive_int("n", 0, minimum=0) == 0
        with pytest.raises(ValueError, match="n: expected an integer >= 2, got 1"):
            positive_int("n", 1, minimum=2)

    @pytest.mark.parametrize("value", [0, -1])
    def test_too_small(self, value):
        with pytest.raises(ValueError, match="n_epochs: expected an integer >= 1"):
            positive_int("n_epochs", value)

    @pytest.mark.parametrize("value", [1.0, 2.5, "3", None, True, False, np.array(3)])
    def test_wrong_type(self, value):
        with pytest.raises(TypeError, match="n_epochs: expected an integer"):
            positive_int("n_epochs", value)


class TestPositiveFloat:
    @pytest.mark.parametrize("value", [0.5, 2, np.float32(0.25), np.int64(4), 1e-12])
    def test_good(self, value):
        result = positive_float("lr", value)
        assert result == pytest.approx(float(value)) and type(result) is float

    def test_allow_zero(self):
        assert positive_float("lr", 0, allow_zero=True) == 0.0
        with pytest.raises(ValueError, match="lr: expected a finite number >= 0"):
            positive_float("lr", -1e-3, allow_zero=True)

    @pytest.mark.parametrize("value", [0, 0.0, -1.0, np.nan, np.inf, -np.inf, np.float32(np.nan)])
    def test_bad_values(self, value):
        with pytest.raises(ValueError, match="lr: expected a finite number > 0"):
            positive_float("lr", value)

    @pytest.mark.parametrize("value", ["0.1", None, True, [0.1], np.array([0.1])])
    def test_wrong_type(self, value):
        with pytest.raises(TypeError, match="lr: expected a number"):
            positive_float("lr", value)


class TestFraction:
    @pytest.mark.parametrize("value", [0.5, 1e-6, 0.999, np.float64(0.2)])
    def test_good(self, value):
        assert fraction("p", value) == pytest.approx(float(value))

    @pytest.mark.parametrize("value", [0, 0.0, 1, 1.0, 1.5, -0.1, np.nan, np.inf])
    def test_bad(self, value):
        with pytest.raises(ValueError, match=r"p: expected a number in \(0, 1\)"):
            fraction("p", value)

    def test_closed_at_zero(self):
        assert fraction("p", 0.0, open_interval=False) == 0.0
        with pytest.raises(ValueError, match=r"p: expected a number in \[0, 1\)"):
            fraction("p", 1.0, open_interval=False)

    @pytest.mark.parametrize("value", ["0.5", None, True])
    def test_wrong_type(self, value):
        with pytest.raises(TypeError, match="p: expected a number"):
            fraction("p", value)


class TestOneOf:
    def test_good(self):
        assert one_of("kind", "b", ("a", "b")) == "b"
        assert one_of("kind", "a", ["a"]) == "a"

    @pytest.mark.parametrize("value", ["c", "", None, "A"])
    def test_bad(self, value):
        with pytest.raises(ValueError, match=r"kind: expected one of \['a', 'b'\], got"):
            one_of("kind", value, ("b", "a"))
