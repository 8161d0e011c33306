"""A burst of uploads through the local stack while its processes crash and its services freeze.

Shared by tests/e2e/test_crash_recovery.py (which asserts the outcome: every photo ready, none failed, no rendition
but its own generation's) and bench/crash.py (which reports how long recovery took). The faults, in order:

1. a first burst of uploads; while photos are rendering, the live function's gunicorn worker is SIGKILLed
   (an out-of-memory kill), and once a new worker renders again, the whole function process (a lost instance),
   which the local stack restarts;
2. a second burst; while it is in flight, the Pub/Sub emulator's push loop is restarted (pushes in flight lost),
   then the Firestore emulator and then Cloud Storage are frozen (SIGSTOP) for `freeze_seconds` each;
3. once every photo has settled, one fresh upload, which must be ready as usual.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from gallery.ids import photo_id
from gallery_devstack import faults
from gallery_devstack.stack import DevStack, ServiceName

SETTLED = ("ready", "failed")
FAULTS = ("kill_worker", "kill_function", "push_loop", "freeze_firestore", "freeze_gcs")


def firestore_client(stack: DevStack) -> firestore.Client:
    """A Firestore client on the stack's emulator (the client reads FIRESTORE_EMULATOR_HOST when it is built)."""
    env = stack.env()
    previous = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = env["FIRESTORE_EMULATOR_HOST"]
    try:
        return firestore.Client(project=env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials())
    finally:
        if previous is None:
            os.environ.pop("FIRESTORE_EMULATOR_HOST", None)
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = previous


@dataclass
class Fault:
    what: str
    started: float
    ended: float


@dataclass
class CrashRun:
    """What happened: when each fault ended, when each photo settled, and the final documents and renditions."""

    generations: dict[str, int] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    settled_at: dict[str, float] = field(default_factory=dict)
    docs: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    renditions: dict[str, set[str]] = field(default_factory=dict)
    fresh_upload_seconds: float | None = None
    fresh_status: str | None = None
    function_restarts: int = 0

    @property
    def names(self) -> list[str]:
        return list(self.generations)

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for doc in self.docs.values():
            status = str((doc or {}).get("status"))
            counts[status] = counts.get(status, 0) + 1
        return counts

    @property
    def last_fault_end(self) -> float:
        return max((f.ended for f in self.faults), default=0.0)

    @property
    def last_settled(self) -> float:
        return max(self.settled_at.values())


class Watcher:
    """Polls the photos' documents on a thread and notes when each one first settled."""

    def __init__(self, stack: DevStack, db: firestore.Client, run: CrashRun) -> None:
        self._stack = stack
        self._db = db
        self._run = run
        self._names: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="crash-watcher", daemon=True)
        self.processing = 0
        """Photos seen `processing` in the last poll."""

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def watch(self, names: Sequence[str]) -> None:
        with self._lock:
            self._names += names

    def docs(self, names: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """The documents, in one batched read."""
        bucket = self._stack.config.uploads_bucket
        collection = self._db.collection(self._stack.config.photos_collection)
        by_id = {photo_id(bucket, n): n for n in names}
        found: dict[str, dict[str, Any] | None] = dict.fromkeys(names)
        for snap in self._db.get_all([collection.document(pid) for pid in by_id]):
            if snap.exists:
                found[by_id[snap.id]] = snap.to_dict()
        return found

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                pending = [n for n in self._names if n not in self._run.settled_at]
            if pending:
                try:
                    docs = self.docs(pending)
                except Exception:  # the emulator is frozen or restarting: look again
                    time.sleep(0.2)
                    continue
                now = time.monotonic()
                self.processing = sum(1 for d in docs.values() if (d or {}).get("status") == "processing")
                for name, doc in docs.items():
                    if (doc or {}).get("status") in SETTLED:
                        self._run.settled_at.setdefault(name, now)
            time.sleep(0.2)

    def wait(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} after {timeout:.0f}s")
            time.sleep(0.05)


def _upload(stack: DevStack, bucket: Any, name: str, data: bytes) -> int:
    blob = bucket.blob(name)
    blob.upload_from_string(data, content_type="image/jpeg")
    return int(blob.generation)


def _fault(run: CrashRun, what: str, action: Callable[[], object]) -> None:
    started = time.monotonic()
    action()
    run.faults.append(Fault(what, started, time.monotonic()))


def _freezer(stack: DevStack, service: ServiceName, seconds: float) -> Callable[[], None]:
    return lambda: faults.freeze(stack, service, seconds)


def run_crash_scenario(
    stack: DevStack,
    photos: Sequence[bytes],
    *,
    first_burst: int = 30,
    second_burst: int = 15,
    freeze_seconds: float = 10.0,
    timeout: float = 600.0,
    prefix: str = "crash",
    faults_to_inject: Sequence[str] = FAULTS,
) -> CrashRun:
    """Upload `first_burst` + `second_burst` photos (cycling through `photos`) with the faults above."""
    run = CrashRun()
    db = firestore_client(stack)
    bucket = stack.storage_client().bucket(stack.config.uploads_bucket)
    with Watcher(stack, db, run) as watcher:
        warm = f"{prefix}/warm.jpg"
        run.generations[warm] = _upload(stack, bucket, warm, photos[0])
        watcher.watch([warm])
        watcher.wait(lambda: warm in run.settled_at, 120, "the warm-up photo did not settle")
        del run.generations[warm]

        first = [f"{prefix}/a-{i:02d}.jpg" for i in range(first_burst)]
        for i, name in enumerate(first):
            run.generations[name] = _upload(stack, bucket, name, photos[i % len(photos)])
        watcher.watch(first)
        watcher.wait(lambda: watcher.processing > 0, 120, "no photo of the first burst started rendering")
        if "kill_worker" in faults_to_inject:
            _fault(run, "SIGKILL the live function's worker", lambda: faults.kill_workers(stack))
            faults.wait_for_workers(stack)
            settled = set(run.settled_at)  # the new worker renders again once a photo settles after the kill
            watcher.wait(lambda: set(run.settled_at) - settled != set(), 120, "nothing settled after the kill")
        if "kill_function" in faults_to_inject:
            _fault(run, "SIGKILL the live function's main process", lambda: faults.kill_function(stack))
            faults.wait_for_workers(stack, timeout=120)

        second = [f"{prefix}/b-{i:02d}.jpg" for i in range(second_burst)]
        for i, name in enumerate(second):
            run.generations[name] = _upload(stack, bucket, name, photos[(i + first_burst) % len(photos)])
        watcher.watch(second)
        if "push_loop" in faults_to_inject:
            _fault(run, "restart the Pub/Sub push loop", stack.restart_pubsub_push_loop)
        for service, label in (("firestore", "Firestore"), ("gcs", "Cloud Storage")):
            if f"freeze_{service}" in faults_to_inject:
                _fault(run, f"freeze {label} {freeze_seconds:.0f} s", _freezer(stack, service, freeze_seconds))

        watcher.wait(lambda: set(run.generations) <= set(run.settled_at), timeout, "photos still unsettled")
        run.docs = watcher.docs(run.names)

        fresh = f"{prefix}/fresh.jpg"
        started = time.monotonic()
        _upload(stack, bucket, fresh, photos[0])
        watcher.watch([fresh])
        watcher.wait(lambda: fresh in run.settled_at, 120, "the fresh upload did not settle")
        run.fresh_upload_seconds = run.settled_at[fresh] - started
        run.fresh_status = str((watcher.docs([fresh])[fresh] or {}).get("status"))
    run.settled_at = {name: at for name, at in run.settled_at.items() if name in run.generations}

    renditions_bucket = stack.storage_client().bucket(stack.config.renditions_bucket)
    for name in run.names:
        prefix_of = photo_id(stack.config.uploads_bucket, name) + "/"
        run.renditions[name] = {b.name for b in renditions_bucket.list_blobs(prefix=prefix_of)}
    proc = stack.process("function")
    run.function_restarts = proc.restarts if proc is not None else 0
    return run
