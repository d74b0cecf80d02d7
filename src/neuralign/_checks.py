"""Argument validation shared by every public entry point.

Every check raises ``ValueError`` or ``TypeError`` whose message names the argument, what was expected,
what was given and, where it helps, how to fix it. Nothing here imports anything else from neuralign.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def describe(value: Any) -> str:
    """A short description of ``value`` for error messages: type, and shape/dtype for arrays."""
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape} and dtype {value.dtype}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"{type(value).__name__} of shape {tuple(value.shape)} and dtype {value.dtype}"
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def as_array(name: str, value: Any, *, ndim: int | None = None, dtype: Any = np.float32,
             finite: bool = True, nonnegative: bool = False, allow_empty: bool = False) -> np.ndarray:
    """Convert ``value`` to a NumPy array and check its dimensionality and values.

    Parameters
    ----------
    name : the argument's name, used in the error message.
    ndim : required number of dimensions, or None for any.
    dtype : dtype to convert to (None keeps the input's).
    finite : reject NaN and Inf.
    nonnegative : reject negative values.
    allow_empty : accept arrays with a zero-length axis.
    """
    if value is None:
        raise TypeError(f"{name}: expected an array, got None.")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        array = np.asarray(value)
    except Exception as error:  # ragged nested lists and the like
        raise TypeError(f"{name}: expected an array-like of numbers, got {describe(value)} ({error}).") from None
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise TypeError(f"{name}: expected numeric values, got {describe(array)}.")
    if dtype is not None:
        array = array.astype(dtype, copy=False)
    if ndim is not None and array.ndim != ndim:
        raise ValueError(f"{name}: expected {ndim} dimensions, got {describe(array)}.")
    if not allow_empty and array.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got {describe(array)}.")
    if finite and np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{name}: expected finite values, got {bad} NaN/Inf entries in {describe(array)}; "
                         "remove or impute them first.")
    if nonnegative and array.size and array.min() < 0:
        raise ValueError(f"{name}: expected non-negative values, got minimum {array.min():g} in {describe(array)}.")
    return array


def positive_int(name: str, value: Any, *, minimum: int = 1) -> int:
    """Check that ``value`` is an integer >= ``minimum`` (bools rejected)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {describe(value)}.")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}.")
    return int(value)


def positive_float(name: str, value: Any, *, allow_zero: bool = False) -> float:
    """Check that ``value`` is a finite real number > 0 (or >= 0 when ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {describe(value)}.")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name}: expected a finite number {bound}, got {value}.")
    return value


def fraction(name: str, value: Any, *, open_interval: bool = True) -> float:
    """Check that ``value`` lies in (0, 1) (or [0, 1) when ``open_interval`` is False)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number in (0, 1), got {describe(value)}.")
    value = float(value)
    low_ok = value > 0 if open_interval else value >= 0
    if not (low_ok and value < 1):
        interval = "(0, 1)" if open_interval else "[0, 1)"
        raise ValueError(f"{name}: expected a number in {interval}, got {value}.")
    return value


def one_of(name: str, value: Any, options: list[str] | tuple[str, ...]) -> str:
    """Check that ``value`` is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name}: expected one of {sorted(options)}, got {value!r}.")
    return value


def window_signs(name: str, before: float, after: float) -> None:
    """Refuse a negative ``before`` or ``after`` of an event window (before, after), stating the convention and
    the window such a value would have read."""
    if before >= 0 and after >= 0:
        return
    start = f"t - {before:g}" if before >= 0 else f"t + {-before:g}"
    end = f"t + {after:g}" if after >= 0 else f"t - {-after:g}"
    hint = (f" For {abs(before):g} s before to {abs(after):g} s after the event, pass ({abs(before):g}, "
            f"{abs(after):g}).")
    what = "a window that does not contain the event" if before + after > 0 else "no time at all"
    raise ValueError(f"{name}: expected (before, after), the seconds before and after each event t, both >= 0: a "
                     f"trial covers [t - before, t + after). Got ({before:g}, {after:g}), which would read "
                     f"[{start}, {end}), {what}."
                     + hint)


class Note(UserWarning):
    """Information about how an input was read (the command line prints it as ``note: ...``), not a problem."""
