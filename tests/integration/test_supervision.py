"""Supervision of the local stack's processes, as Cloud Run supervises instances.

A killed gunicorn worker is re-forked by the gunicorn arbiter (the functions-framework process); a killed
function process, bulk function process or gallery page is started again by its ManagedProcess on the same
port; a deliberate stop stays a stop; a process that keeps dying quickly is eventually left down.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gallery_devstack.processes import LOCALHOST, ManagedProcess, free_port, http_ok, port_open
from gallery_devstack.stack import DevStack, ServiceName
from tests.polling import wait_until

DEADLINE_SECONDS = 60.0
"""Generous: a restart is well under a second alone, but parallel test workers share the machine."""


@pytest.fixture(scope="module")
def stack(devstack_factory: Callable[..., DevStack]) -> DevStack:
    """The real stack with the real function (functions/thumbnailer/main.py) and the gallery page."""
    return devstack_factory(start_gallery=True)


def _wait(predicate: Callable[[], bool], timeout: float = DEADLINE_SECONDS) -> bool:
    return wait_until(predicate, timeout)


def _children(pid: int) -> list[int]:
    """Live child processes of `pid` (zombies waiting to be reaped left out)."""
    found = []
    for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            state = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(child))
    return found


def _group_members(pgid: int) -> list[int]:
    """Live processes of process group `pgid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def _health_url(stack: DevStack, name: ServiceName) -> str:
    return {
        "function": stack.function_url,
        "bulk_function": stack.bulk_function_url,
        "gallery": f"{stack.gallery_url}healthz",
    }[name]


def _process(stack: DevStack, name: ServiceName) -> ManagedProcess:
    proc = stack.process(name)
    assert proc is not None and proc.running, f"{name} does not run"
    assert proc.restart_on_exit
    return proc


def _kill_leader_and_wait_for_replacement(stack: DevStack, name: ServiceName) -> tuple[ManagedProcess, int]:
    """SIGKILL the process (its group leader only, as the kernel's OOM killer would); returns it and its old pid."""
    proc = _process(stack, name)
    old_pid = proc.pid
    assert old_pid is not None
    before = proc.restarts
    os.kill(old_pid, signal.SIGKILL)
    url = _health_url(stack, name)
    assert _wait(lambda: proc.restarts == before + 1 and proc.pid != old_pid and http_ok(url)), (
        f"{name} did not come back:\n{proc.log_tail()}"
    )
    return proc, old_pid


def test_gunicorn_replaces_a_killed_worker_itself(stack: DevStack) -> None:
    proc = _process(stack, "function")
    leader = proc.pid
    assert leader is not None
    before = proc.restarts
    assert _wait(lambda: len(_children(leader)) == 1), _children(leader)  # functions-framework: one worker
    [worker] = _children(leader)

    os.kill(worker, signal.SIGKILL)

    assert _wait(lambda: _children(leader) not in ([], [worker]) and http_ok(stack.function_url))
    assert len(_children(leader)) == 1
    assert proc.pid == leader and proc.running
    assert proc.restarts == before  # gunicorn's doing, not the supervisor's
    log = proc.log_path.read_text(errors="replace")
    assert f"Worker (pid:{worker}) was sent SIGKILL! Perhaps out of memory?" in log


@pytest.mark.parametrize("name", ["function", "bulk_function", "gallery"])
def test_a_killed_process_comes_back_on_the_same_url(
    stack: DevStack, name: ServiceName, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gallery_devstack.processes"):
        proc, old_pid = _kill_leader_and_wait_for_replacement(stack, name)

    assert proc.restarts == 1
    assert not proc.gave_up
    message = f"{proc.name} exited with code -9; restarting"
    assert message in caplog.messages
    assert message in proc.log_path.read_text(errors="replace")
    assert _group_members(old_pid) == []  # its orphaned workers (holding the port) went too


def test_stop_after_a_crash_restart_stops_for_good(stack: DevStack) -> None:
    proc, _ = _kill_leader_and_wait_for_replacement(stack, "bulk_function")
    restarts = proc.restarts
    try:
        stack.stop_service("bulk_function")
        assert not proc.running
        assert not port_open(LOCALHOST, stack.bulk_function_port)
        time.sleep(2 * proc.restart_backoff + 1.0)  # longer than any restart the supervisor could attempt
        assert not port_open(LOCALHOST, stack.bulk_function_port)
        assert not proc.running and proc.pid is None
        assert proc.restarts == restarts
        # (other stacks of the test session supervise processes of the same name, on other ports)
        assert not [t for t in threading.enumerate() if t.name == f"supervise-{proc.name}:{proc.port}"]
    finally:
        stack.start_service("bulk_function")  # the module's other tests use the whole stack


CRASHING_SERVER = textwrap.dedent(
    """
    import socket, sys, time
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", int(sys.argv[1])))
    server.listen()
    time.sleep(0.5)
    sys.exit(3)
    """
)


def _crasher(log_dir: Path, **supervision: Any) -> ManagedProcess:
    """A supervised server that listens, then exits with code 3 a moment later, every time it is started."""
    port = free_port()
    return ManagedProcess(
        "crasher",
        [sys.executable, "-c", CRASHING_SERVER, str(port)],
        port=port,
        log_dir=log_dir,
        restart_on_exit=True,
        restart_backoff=0.05,
        **supervision,
    )


def test_a_process_that_keeps_dying_quickly_is_given_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    proc = _crasher(tmp_path, max_restart_backoff=0.2, max_rapid_restarts=3)
    with caplog.at_level(logging.WARNING, logger="gallery_devstack.processes"):
        proc.start()
        try:
            assert _wait(lambda: proc.gave_up)
        finally:
            proc.stop()

    assert proc.restarts == 3
    assert caplog.messages.count("crasher exited with code 3; restarting") == 3
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["crasher exited with code 3, its 4 quick death(s) in a row; not restarting it again"]
    assert "not restarting it again" in proc.log_path.read_text()
    assert not port_open(LOCALHOST, proc.port)


def test_start_after_giving_up_supervises_afresh(tmp_path: Path) -> None:
    proc = _crasher(tmp_path, max_rapid_restarts=0)
    proc.start()
    try:
        assert _wait(lambda: proc.gave_up)
        assert proc.restarts == 0
        proc.start()
        assert not proc.gave_up
        assert _wait(lambda: proc.gave_up)
    finally:
        proc.stop()


def test_an_orderly_exit_after_sigterm_is_left_alone(tmp_path: Path) -> None:
    """SIGTERM from elsewhere is a stop, as Cloud Run stops an instance with it: nothing to replace."""
    port = free_port()
    server = CRASHING_SERVER.replace("time.sleep(0.5)", "time.sleep(60)")
    proc = ManagedProcess(
        "stoppable", [sys.executable, "-c", server, str(port)], port=port, log_dir=tmp_path, restart_on_exit=True
    )
    proc.start()
    try:
        pid = proc.pid
        assert pid is not None
        os.kill(pid, signal.SIGTERM)
        assert _wait(lambda: not proc.running)
        time.sleep(2 * proc.restart_backoff + 1.0)
        assert not proc.running and proc.restarts == 0 and not proc.gave_up
        assert not port_open(LOCALHOST, port)
        assert "stoppable exited with code -15, as told to; not restarting it" in proc.log_path.read_text()
    finally:
        proc.stop()
