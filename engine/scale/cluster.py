"""The Ray cluster a run's workers live on: the one at ``run.ray_address``, or one started on
this machine for the run (and stopped with it)."""

from __future__ import annotations

import math
import os
import signal
import socket
import time

import psutil
import ray

from engine.executor import ExecutorError

LOCAL_START_ATTEMPTS = 2   # a Ray started here gives its raylet 30 s to come up: a busy machine may need another go


class ClusterError(ExecutorError):
    """The Ray cluster cannot be reached or used; the message names the setting and the fix."""


def connect(run_cfg, *, cpus_needed: float = 0) -> tuple[str, bool]:
    """Connect this engine to the run's cluster; (its address, whether it was started here).

    A Ray started here declares at least ``cpus_needed`` CPUs (the workers' and trainers' shares),
    so the placement never waits on a machine with fewer cores than workers."""
    if ray.is_initialized():
        return ray.get_runtime_context().gcs_address, False
    problem = _unreachable(run_cfg.ray_address) if run_cfg.ray_address not in ("", "auto") else None
    if problem:  # ray.init would retry for many minutes
        raise ClusterError(f"run.ray_address = {run_cfg.ray_address!r}: no Ray cluster answers there ({problem}); "
                           "start one with 'ray start --head' and give its address (host:port, or 'auto' on "
                           "one of its nodes), or leave run.ray_address empty for a Ray on this machine")
    handler = signal.getsignal(signal.SIGTERM)   # ray.init installs its own; the engine's stops the run cleanly
    options = {"include_dashboard": False, "log_to_driver": False, "namespace": "seal"}
    try:
        for attempt in range(1 if run_cfg.ray_address else LOCAL_START_ATTEMPTS):
            before, since = _children(), time.time()
            try:
                if run_cfg.ray_address:
                    ray.init(address=run_cfg.ray_address, **options)
                else:
                    ray.init(address="local", num_cpus=max(os.cpu_count() or 1, math.ceil(cpus_needed)), **options)
                break
            except Exception as exc:  # Ray raises plain Exception too (a raylet slow to start on a busy machine)
                ray.shutdown()
                _end_leftovers(before, since)   # what the failed start left running (ray.shutdown does not know it)
                if attempt + 1 < (1 if run_cfg.ray_address else LOCAL_START_ATTEMPTS):
                    continue
                where = f"run.ray_address = {run_cfg.ray_address!r}" if run_cfg.ray_address else "a Ray on this machine"
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ClusterError(f"{where}: cannot start or join Ray ({first}); start a cluster with 'ray start "
                                   "--head' and give its address (or 'auto'), or leave run.ray_address empty") from None
    finally:
        signal.signal(signal.SIGTERM, handler)
    return ray.get_runtime_context().gcs_address, not run_cfg.ray_address


def _children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def _end_leftovers(before: set[int], since: float) -> None:
    """End what a failed start of a Ray here left running: this process's new children, and the
    processes writing to its session's folder (``session_..._<pid>``; its raylet's agents outlive
    the raylet). Nothing of another Ray session is touched."""
    mine, new = f"_{os.getpid()}/", _children() - before
    for p in psutil.process_iter(["pid", "create_time"]):
        if p.pid == os.getpid() or p.info["create_time"] < since - 1:
            continue
        try:
            if p.pid in new or any("/session_" in f.path and mine in f.path for f in p.open_files()):
                p.kill()
        except psutil.Error:
            continue


def _unreachable(address: str, timeout: float = 5.0) -> str | None:
    """Why nothing listens at ``address`` (host:port, ray://host:port), or None."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return "expected host:port, e.g. 10.0.0.1:6379"
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def disconnect() -> None:
    """Leave the cluster: a Ray started here stops; a shared one keeps running without our actors."""
    if ray.is_initialized():
        ray.shutdown()
