"""Snapshot estimators by name (``neuralign.snapshots.METHODS``), built the same way by the benchmark and the CLI."""

from __future__ import annotations

import dataclasses
from typing import Any

from neuralign._checks import describe


def method_class(name: Any) -> type:
    """The estimator class registered as ``name`` in ``neuralign.snapshots.METHODS``."""
    from neuralign.snapshots import METHODS

    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(f"method: expected one of {sorted(METHODS)}, got {describe(name)}.")
    return METHODS[name]


def build_method(name: str, settings: dict[str, Any] | None = None, *, seed: int = 0, quiet: bool = True,
                 device: str | None = "cpu") -> Any:
    """An unfitted estimator ``name`` with ``settings``; ``seed``, ``verbose`` (off when ``quiet``) and ``device``
    are set where the estimator's config has them (a setting given in ``settings`` wins)."""
    cls = method_class(name)
    fields = {field.name for field in dataclasses.fields(cls.config_class)}
    common = {"seed": seed, "verbose": not quiet, "device": device}
    chosen = {key: value for key, value in common.items() if key in fields}
    return cls(**{**chosen, **(settings or {})})
