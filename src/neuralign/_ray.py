"""Ray, the optional extra ``neuralign[scale]``: the one place that starts or joins a Ray cluster.

``ray.init()`` runs a local cluster by default (``num_cpus`` from the caller, dashboard and usage statistics off,
logs quiet); ``address`` joins a running cluster ("auto", "HOST:PORT" or "ray://HOST:PORT"), checked to answer
before Ray is asked to connect, so a wrong address fails in seconds with a message naming it. Nothing here
imports Ray at module import time: the benchmarks and the sweep import it only when asked to spread work.
"""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any, Iterator

from neuralign._checks import positive_int

INSTALL = "pip install 'neuralign[scale]'  (Ray Tune: ray[tune]>=2.60)"
ADDRESS_TIMEOUT = 5.0  # seconds to wait for a cluster's port to answer


def require_ray(what: str) -> Any:
    """Import and return ``ray``, or raise an ImportError that says exactly what to install."""
    try:
        import ray
        from ray import tune  # noqa: F401  (the sweep needs Tune; a bare `ray` without it is not enough)
    except ImportError as error:
        raise ImportError(f"{what} needs Ray Tune, which is not installed ({error}); install it with: "
                          f"{INSTALL}") from None
    return ray


def check_address(address: str | None) -> str | None:
    """``address`` as given, after checking that something answers there (None and "auto" pass unchecked:
    Ray itself looks for a local cluster and says when there is none)."""
    if address is None or address == "auto":
        return address
    if not isinstance(address, str) or not address.strip():
        raise ValueError(f"address: expected 'auto', 'HOST:PORT' or 'ray://HOST:PORT', got {address!r}.")
    target = address.split("://", 1)[-1]
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"address: expected 'auto', 'HOST:PORT' or 'ray://HOST:PORT', got {address!r}; e.g. "
                         "'10.0.0.5:6379' (the head node's GCS port) or 'ray://10.0.0.5:10001' (Ray Client).")
    try:
        with socket.create_connection((host, int(port)), timeout=ADDRESS_TIMEOUT):
            pass
    except OSError as error:
        raise ValueError(f"address: no Ray cluster answered at {address!r} within {ADDRESS_TIMEOUT:g} s ({error}); "
                         "start one there with `ray start --head`, check the host and port, or leave --address "
                         "out to run on a local cluster.") from None
    return address


@contextlib.contextmanager
def ray_session(*, address: str | None = None, num_cpus: int | None = None, what: str = "this command",
                worker_logs: bool = True) -> Iterator[Any]:
    """Start a local Ray cluster (``num_cpus`` CPUs) or join the one at ``address``; yields ``ray`` and shuts
    down what it started. An already initialised Ray (e.g. a test's) is reused as it is and left running.
    ``worker_logs``: show the workers' output here (a benchmark's progress lines; a sweep's trials are quiet).
    """
    ray = require_ray(what)
    address = check_address(address)
    if num_cpus is not None:
        positive_int("num_cpus", num_cpus)
    if ray.is_initialized():
        yield ray
        return
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    # Ray runs its workers at nice 15; on a shared machine they then get a fraction of the CPU the same work gets
    # in this process (bench align --quick took 2.2x longer on 2 workers than in one process, at load 10)
    os.environ.setdefault("RAY_worker_niceness", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": "ERROR", "log_to_driver": worker_logs,
                               "configure_logging": True}
    if address is None:
        options["num_cpus"] = num_cpus
        # local workers import the same neuralign as this process (an editable or a source checkout)
        path = os.environ.get("PYTHONPATH")
        if path:
            options["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
    else:
        options["address"] = address
        options.pop("include_dashboard")
    ray.init(**options)
    try:
        yield ray
    finally:
        ray.shutdown()
