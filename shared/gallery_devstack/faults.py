"""Faults an instance meets on Google Cloud, injected into the local stack's processes.

- ``kill_workers``: SIGKILL the function's gunicorn worker (what Cloud Run does to an instance over its memory
  limit); gunicorn's arbiter forks a new one.
- ``kill_function``: SIGKILL the function's main process too (a lost host); the stack's supervisor starts it again.
- ``frozen``: SIGSTOP an emulator (Firestore, Cloud Storage) for a while, then SIGCONT: a service that stops
  answering without closing its connections, the hardest kind of outage for a client.
- ``DevStack.restart_pubsub_push_loop``: the Pub/Sub emulator's push loop restarted, in-flight pushes lost.

Used by the crash-recovery tests and by ``bench/crash.py``; nothing here runs in the deployed function.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

from gallery_devstack.processes import ManagedProcess
from gallery_devstack.stack import DevStack, ServiceName

logger = logging.getLogger(__name__)


class FaultError(RuntimeError):
    """The fault could not be injected (the service is not running as a subprocess of this stack)."""


def _process(stack: DevStack, service: ServiceName) -> ManagedProcess:
    proc = stack.process(service)
    if proc is None or proc.pid is None:
        raise FaultError(f"{service} is not running as a subprocess of this stack")
    return proc


def children(pid: int) -> list[int]:
    """The direct children of a process (Linux /proc)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def worker_pids(stack: DevStack, service: ServiceName = "function") -> list[int]:
    """The gunicorn worker processes serving a function (children of its main process)."""
    pid = _process(stack, service).pid
    assert pid is not None
    return children(pid)


def wait_for_workers(stack: DevStack, service: ServiceName = "function", timeout: float = 60.0) -> list[int]:
    """Block until the function has a worker again (after a kill) and answers; returns the workers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = stack.process(service)
        if proc is not None and proc.pid is not None and proc.running and proc.is_ready():
            workers = children(proc.pid)
            if workers:
                return workers
        time.sleep(0.1)
    raise FaultError(f"{service} has no worker after {timeout:.0f}s")


def kill_workers(stack: DevStack, service: ServiceName = "function") -> list[int]:
    """SIGKILL every worker of a function mid-work, as an out-of-memory kill would; returns the pids killed."""
    pids = worker_pids(stack, service)
    if not pids:
        raise FaultError(f"{service} has no worker to kill")
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    logger.warning("fault: SIGKILL %s worker(s) %s", service, pids)
    return pids


def kill_function(stack: DevStack, service: ServiceName = "function") -> int:
    """SIGKILL a function's workers and its main process (the whole instance); the stack restarts it."""
    proc = _process(stack, service)
    pid = proc.pid
    assert pid is not None
    with contextlib.suppress(FaultError):
        kill_workers(stack, service)
    proc.send_signal(signal.SIGKILL)
    logger.warning("fault: SIGKILL %s main process %d", service, pid)
    return pid


@contextlib.contextmanager
def frozen(stack: DevStack, service: ServiceName) -> Iterator[int]:
    """SIGSTOP a service's process for the duration of the block, SIGCONT after (even if the block fails)."""
    pid = _process(stack, service).pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    logger.warning("fault: %s (pid %d) frozen", service, pid)
    try:
        yield pid
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
        logger.warning("fault: %s (pid %d) resumed", service, pid)


def freeze(stack: DevStack, service: ServiceName, seconds: float) -> None:
    """Freeze a service for `seconds` (blocking)."""
    with frozen(stack, service):
        time.sleep(seconds)
