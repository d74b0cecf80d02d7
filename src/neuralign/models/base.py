"""What every neuralign estimator shares: persistence and the fitted-state check.

A saved model is one file holding ``{format, format_version, class, config, state}``: the class name, the
constructor's configuration as plain values, and a state of tensors and plain values. It is written atomically
and read with ``torch.load(weights_only=True)``, so loading executes no pickled code.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, ClassVar

from neuralign._atomic import load_torch, save_torch
from neuralign._checks import describe

_SAVED: Any = object()  # "the device in the file": the default of ``load``'s device argument

MODEL_FORMAT = "neuralign.model"
MODEL_FORMAT_VERSION = 1
_REGISTRY: dict[str, type["Estimator"]] = {}


class NotFittedError(ValueError, AttributeError):
    """An estimator was used before ``fit``."""


def register_model(cls: type["Estimator"]) -> type["Estimator"]:
    """Class decorator: make ``cls`` loadable by :func:`load_model`."""
    _REGISTRY[cls.__name__] = cls
    return cls


class Estimator:
    """Base class: subclasses define ``config`` (a dataclass), ``_get_state`` and ``_set_state``."""

    config_class: ClassVar[type]

    def __init__(self, config: Any = None, **settings: Any) -> None:
        """Take a ready ``config`` or build one from keyword ``settings`` (not both)."""
        name = type(self).__name__
        if config is not None and settings:
            raise TypeError(f"{name}: pass either config= or keyword settings, not both.")
        if config is None:
            try:
                config = self.config_class(**settings)
            except TypeError as error:
                if "unexpected keyword" not in str(error):
                    raise  # a validation error of the config names its own argument
                raise TypeError(f"{name}: {error}; valid settings: "
                                f"{list(self.config_class.__dataclass_fields__)}.") from None
        if not isinstance(config, self.config_class):
            raise TypeError(f"config: expected a {self.config_class.__name__}, got {describe(config)}.")
        self.config = config
        self.fitted_ = False

    def _check_fitted(self, action: str) -> None:
        if not self.fitted_:
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit(data) before {action}.")

    def _get_state(self) -> dict[str, Any]:
        raise NotImplementedError

    def _set_state(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted model to ``path`` (one file, written atomically)."""
        self._check_fitted("save")
        save_torch({"format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "class": type(self).__name__,
                    "config": dataclasses.asdict(self.config), "state": self._get_state()}, path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, device: str | None = _SAVED) -> "Estimator":
        """Read a model written by ``save``; raises a clear error for a wrong, corrupt or newer file.

        ``device``: where to put it ("cpu", "cuda", "cuda:N", or None for CUDA when available); by default the
        device it was fitted with, or the automatic choice when that one is not on this machine."""
        model = load_model(path, device=device)
        if not isinstance(model, cls):
            raise ValueError(f"path: {str(path)!r} holds a {type(model).__name__}, not a {cls.__name__}; "
                             "use neuralign.models.load_model to load any model.")
        return model


def _load_device(saved: str | None, asked: str | None) -> str | None:
    """The device a loaded model goes to: the one asked for, else the saved one if this machine has it, else auto
    (a model fitted on a GPU loads on a laptop)."""
    from neuralign.train import resolve_device

    if asked is not _SAVED:
        resolve_device(asked)  # a clear error for a bad or missing device
        return asked
    try:
        resolve_device(saved)
    except ValueError:
        warnings.warn(f"this model was fitted on device {saved!r}, which this machine does not have; it is loaded "
                      "on the automatic choice (CUDA when available, else CPU).", stacklevel=3)
        return None
    return saved


def load_model(path: str | os.PathLike, *, device: str | None = _SAVED) -> Estimator:
    """Load any saved neuralign model; the file says which class it is. ``device`` as in ``Estimator.load``."""
    blob = load_torch(path, expected="a saved neuralign model")
    if blob.get("format") != MODEL_FORMAT:
        raise ValueError(f"path: {str(path)!r} is not a saved neuralign model (no '{MODEL_FORMAT}' marker).")
    version = blob.get("format_version")
    if version != MODEL_FORMAT_VERSION:
        raise ValueError(f"path: {str(path)!r} has model format version {version}; this neuralign reads version "
                         f"{MODEL_FORMAT_VERSION}. Upgrade neuralign to read it.")
    name = blob.get("class")
    if name not in _REGISTRY:
        raise ValueError(f"path: {str(path)!r} holds an unknown model class {name!r}; known: {sorted(_REGISTRY)}.")
    cls = _REGISTRY[name]
    config_fields = {f.name for f in dataclasses.fields(cls.config_class)}
    settings = {k: v for k, v in blob["config"].items() if k in config_fields}
    if "device" in config_fields:
        settings["device"] = _load_device(settings.get("device"), device)
    config = cls.config_class(**settings)
    model = cls(config=config)
    model._set_state(blob["state"])
    model.fitted_ = True
    return model
