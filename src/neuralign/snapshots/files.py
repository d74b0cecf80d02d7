"""Snapshots in .npz files: the layout that ``neuralign snapshots fit`` reads and writes.

Layout: ``times`` (K,) strictly increasing, and the clouds either as one array ``clouds`` (K, n, d) (equal sizes)
or as ``cloud_0`` ... ``cloud_{K-1}``, each (n_k, d) (sizes may differ; the dimension d may not). Nothing else
is read. Written with ``numpy.savez(path, times=..., clouds=...)`` or ``numpy.savez(path, times=..., cloud_0=...,
cloud_1=...)``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

LAYOUT = ("times (K,) strictly increasing, and clouds (K, n, d) or cloud_0 ... cloud_{K-1} (n_k, d), one "
          "dimension d")


def read_clouds(path: str | os.PathLike, *, name: str = "clouds") -> Any:
    """The ``Snapshots`` of an .npz file in the layout above; errors name ``name`` and the file and say what is
    wrong: missing or unreadable file, no times, no clouds, NaN/Inf, times not increasing, a single cloud,
    clouds of different dimensions."""
    from neuralign.data.io import read_npz_arrays
    from neuralign.snapshots.container import Snapshots

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{name}: no file at {str(path)!r}; expected an .npz file with {LAYOUT}.")
    arrays = read_npz_arrays(path, name=name, expected=f"an .npz file with {LAYOUT}")
    where = f"{name}: {str(path)!r}"
    if "times" not in arrays:
        raise ValueError(f"{where} has no 'times' array (keys: {sorted(arrays)}); expected {LAYOUT}.")
    times = np.asarray(arrays["times"])
    if times.ndim != 1 or not np.issubdtype(times.dtype, np.number) or not np.isfinite(times).all():
        raise ValueError(f"{where}: 'times' must be a 1-D array of finite numbers, got shape {times.shape} "
                         f"and dtype {times.dtype}.")
    numbered = sorted((int(match.group(1)), key) for key in arrays
                      if (match := re.fullmatch(r"cloud_(\d+)", key)))
    if "clouds" in arrays and numbered:
        raise ValueError(f"{where} holds both 'clouds' and cloud_k arrays; keep one of the two layouts.")
    if "clouds" in arrays:
        stacked = np.asarray(arrays["clouds"])
        if stacked.ndim != 3:
            raise ValueError(f"{where}: 'clouds' must be a (K, n, d) array, got shape {stacked.shape}; use "
                             "cloud_0 ... cloud_{K-1} for clouds of different sizes.")
        clouds, keys = list(stacked), [f"clouds[{k}]" for k in range(len(stacked))]
    elif numbered:
        indices = [index for index, _ in numbered]
        if indices != list(range(len(indices))):
            raise ValueError(f"{where}: the cloud_k arrays must be numbered 0 ... K-1 without gaps, got "
                             f"{[key for _, key in numbered]}.")
        clouds, keys = [arrays[key] for _, key in numbered], [key for _, key in numbered]
    else:
        raise ValueError(f"{where} has no clouds (keys: {sorted(arrays)}); expected {LAYOUT}.")
    if len(clouds) != len(times):
        raise ValueError(f"{where}: {len(times)} times but {len(clouds)} clouds; give one time per cloud.")
    if len(clouds) < 2:
        raise ValueError(f"{where} holds a single marginal; expected at least 2 clouds at different times.")
    for key, cloud in zip(keys, clouds):
        cloud = np.asarray(cloud)
        if cloud.ndim != 2 or not np.issubdtype(cloud.dtype, np.number):
            raise ValueError(f"{where}: {key} must be a numeric (n, d) array, got shape {cloud.shape}, dtype "
                             f"{cloud.dtype}.")
        if not np.isfinite(cloud).all():
            raise ValueError(f"{where}: {key} holds {int((~np.isfinite(cloud)).sum())} NaN/Inf values; remove "
                             "those particles first.")
    dims = [np.asarray(cloud).shape[1] for cloud in clouds]
    if len(set(dims)) > 1:
        raise ValueError(f"{where}: the clouds have different dimensions {dims}; every cloud must have the same d.")
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"{where}: 'times' must be strictly increasing (sorted, no duplicates), got "
                         f"{times.tolist()}.")
    return Snapshots(times, clouds, meta={"file": str(path)})


def clouds_arrays(times: Any, clouds: Sequence[Any], *, prefix: str = "cloud_") -> dict[str, np.ndarray]:
    """The arrays of an .npz in the layout above: ``times`` and ``{prefix}k`` per cloud."""
    return {"times": np.asarray(times, dtype=np.float64),
            **{f"{prefix}{k}": np.asarray(cloud, dtype=np.float32) for k, cloud in enumerate(clouds)}}
