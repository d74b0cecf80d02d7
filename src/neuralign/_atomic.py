"""Atomic file writes: write to a temporary file beside the target, then rename it into place.

A failed write never leaves a half-written file at the target, and an existing file there stays untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in ``path``'s directory; on success it is renamed to ``path``.

    Parameters
    ----------
    path : the final destination; its directory must exist.
    suffix : suffix of the temporary file (default: ``.tmp`` + ``path``'s own suffix, which some writers,
        such as pynwb and numpy.savez, expect).
    """
    target = Path(path)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"path: the directory {str(directory)!r} does not exist; create it first.")
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or ".tmp" + target.suffix,
                                         dir=directory)
    os.close(handle)
    os.unlink(temporary)  # writers such as h5py and pynwb want to create the file themselves
    temporary_path = Path(temporary)
    try:
        yield temporary_path
        os.replace(temporary_path, target)
    finally:
        if temporary_path.exists():
            temporary_path.unlink()


def save_torch(obj: dict, path: str | os.PathLike) -> None:
    """``torch.save`` a dict of plain values and tensors atomically."""
    import torch

    with atomic_path(path) as temporary:
        torch.save(obj, temporary)


def load_torch(path: str | os.PathLike, *, expected: str) -> dict:
    """Load a file written by :func:`save_torch` without executing pickled code.

    Raises a clear error for a missing, truncated, corrupt or foreign file. ``expected`` names what the file
    should hold, for the message.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"path: no file at {str(path)!r} (expected {expected}).")
    if path.stat().st_size == 0:
        raise ValueError(f"path: {str(path)!r} is empty (0 bytes), expected {expected}; was it written completely?")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
        if "weights only load failed" in reason.lower() or "weights_only" in reason:  # torch's advice is unsafe here
            reason = "it holds objects that could only be read by running pickled code, which neuralign never does"
        raise ValueError(f"path: {str(path)!r} is not a readable file holding {expected} (corrupt, truncated or "
                         f"another format): {type(error).__name__}: {reason}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"path: {str(path)!r} holds a {type(obj).__name__}, expected {expected}.")
    return obj


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> None:
    """Call ``write(temporary_path)`` and rename the result onto ``path`` (see :func:`atomic_path`)."""
    with atomic_path(path) as temporary:
        write(str(temporary))
