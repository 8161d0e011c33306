"""Memory figures of a running server process, read from /proc (Linux)."""

from __future__ import annotations

import re
import time
from pathlib import Path


def worker_pid(master: int) -> int:
    """The gunicorn worker (functions-framework runs one) that serves the requests."""
    deadline = time.monotonic() + 20
    while not (children := Path(f"/proc/{master}/task/{master}/children").read_text().split()):
        assert time.monotonic() < deadline, "no gunicorn worker"
        time.sleep(0.05)
    assert len(children) == 1, children
    return int(children[0])


def status_mib(pid: int, key: str) -> float:
    """A /proc/PID/status figure (VmRSS, VmHWM, ...) in MiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
    assert match, key
    return int(match.group(1)) / 1024
