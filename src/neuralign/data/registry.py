"""The dataset registry itself: what a registered dataset is, the ``register`` decorator, and bundled-file access.

Data modules (``synthetic``, ``paired``, ...) register their generators here; ``neuralign.data.datasets`` holds the
bundled recordings' loaders and ``load`` / ``list_datasets``, and imports the data modules on first use. Keeping
the registry apart keeps imports one-way: data modules -> registry <- datasets.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from neuralign._checks import describe, one_of

KINDS = ("real", "synthetic")
BUNDLED = Path(__file__).parent / "bundled"


@dataclass(frozen=True)
class DatasetInfo:
    """What the registry knows about one dataset.

    Parameters
    ----------
    name : the name passed to :func:`load`.
    kind : ``"real"`` (a bundled recording) or ``"synthetic"`` (a generator).
    description : one or two sentences on what the data are.
    returns : what ``load(name)`` gives, with shapes.
    citation : the paper(s) to cite when using the data (empty for synthetic data).
    license : the upstream licence of the data (empty for synthetic data).
    loader : the function ``load`` calls with the keyword arguments it is given.
    """

    name: str
    kind: str
    description: str
    returns: str
    citation: str = ""
    license: str = ""
    loader: Callable[..., Any] = field(default=None, repr=False, compare=False)  # type: ignore[assignment]

    @property
    def parameters(self) -> dict[str, Any]:
        """The loader's keyword arguments and their defaults."""
        return {name: parameter.default for name, parameter in inspect.signature(self.loader).parameters.items()}


_REGISTRY: dict[str, DatasetInfo] = {}


def register(name: str, *, kind: str, description: str, returns: str, citation: str = "",
             license: str = "") -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator that registers a loader (or generator) function under ``name``.

    The decorated function is returned unchanged; ``load(name, **kwargs)`` calls it with ``kwargs``.

    Example (``neuralign.data.datasets.load`` then finds it)::

        @register("my_zeros", kind="synthetic", description="All zeros.", returns="TrialData (1, 2, 3)")
        def my_zeros():
            return TrialData(np.zeros((1, 2, 3)))
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name: expected a non-empty string, got {describe(name)}.")
    one_of("kind", kind, KINDS)
    for argument, value in (("description", description), ("returns", returns), ("citation", citation),
                            ("license", license)):
        if not isinstance(value, str):
            raise TypeError(f"{argument}: expected a string, got {describe(value)}.")

    def decorator(loader: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(loader):
            raise TypeError(f"register('{name}'): expected a function to register, got {describe(loader)}.")
        existing = _REGISTRY.get(name)
        if existing is not None and _qualified(existing.loader) != _qualified(loader):
            raise ValueError(f"register: a dataset named '{name}' is already registered "
                             f"(by {_qualified(existing.loader)}); choose another name.")
        _REGISTRY[name] = DatasetInfo(name=name, kind=kind, description=description, returns=returns,
                                      citation=citation, license=license, loader=loader)
        return loader

    return decorator


def _qualified(function: Callable[..., Any]) -> str:
    return f"{getattr(function, '__module__', '?')}.{getattr(function, '__qualname__', repr(function))}"



def _bundled(folder: str, filename: str) -> Path:
    path = BUNDLED / folder / filename
    if not path.is_file():
        raise FileNotFoundError(f"bundled data file {path} is missing; the neuralign installation is incomplete, "
                                "reinstall the package (its package data holds data/bundled/**).")
    return path


def _bundled_meta(dataset: str, **entries: Any) -> dict[str, Any]:
    return {"dataset": dataset, **entries}
