"""Pytest fixtures that start the REAL local emulators on free 127.0.0.1 ports.

Registered for the whole suite by ``pytest_plugins = ["tests.fixtures_devstack"]`` in ``tests/conftest.py``.
Nothing here changes ``os.environ``: each fixture yields an info object with an ``env`` dict, and a test
that needs the official clients applies it with ``monkeypatch.setenv``.

* ``pubsub_emulator`` (session): this package's Pub/Sub emulator, in-process (so tests can read its RPC counts).
* ``fake_gcs`` (session): fake-gcs-server publishing finalize/delete events of bucket ``gallery-uploads`` to
  topic ``gallery-uploads-events`` of project ``gallery-it`` on ``pubsub_emulator`` (topic created first).
* ``firestore_emulator`` (session): the Node Firestore emulator (needs ``npm ci`` at the repo root).
* ``devstack_factory`` (session): ``devstack_factory(**DevStackConfig fields) -> DevStack``, started, logged
  under a temp dir, and stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials

from gallery_devstack import processes
from gallery_devstack.processes import LOCALHOST, REPO_ROOT, ManagedProcess, MissingDependencyError
from gallery_devstack.pubsub_emulator import PubSubEmulator
from gallery_devstack.stack import DevStack, DevStackConfig

IT_PROJECT = "gallery-it"
IT_TOPIC = "gallery-uploads-events"
IT_UPLOADS_BUCKET = "gallery-uploads"


@dataclass(frozen=True)
class PubSubEmulatorInfo:
    host: str
    port: int
    emulator: PubSubEmulator

    @property
    def emulator_host(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"PUBSUB_EMULATOR_HOST": self.emulator_host}


@dataclass(frozen=True)
class FakeGcsInfo:
    host: str
    port: int
    project: str
    topic: str
    """Full topic path the server publishes object events to."""
    uploads_bucket: str
    """The only bucket whose objects produce events."""
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"STORAGE_EMULATOR_HOST": self.url, "GOOGLE_CLOUD_PROJECT": self.project}

    def client(self) -> Any:
        """A ``google.cloud.storage.Client`` for this server, no environment needed."""
        storage = importlib.import_module("google.cloud.storage")
        return storage.Client(
            project=self.project,
            credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            client_options={"api_endpoint": self.url},
        )

    def ensure_bucket(self, name: str) -> Any:
        client = self.client()
        with contextlib.suppress(gexc.Conflict):
            return client.create_bucket(name)
        return client.bucket(name)


@dataclass(frozen=True)
class FirestoreEmulatorInfo:
    host: str
    port: int
    process: ManagedProcess

    @property
    def emulator_host(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        return {"FIRESTORE_EMULATOR_HOST": self.emulator_host, "GOOGLE_CLOUD_PROJECT": IT_PROJECT}


def _require(make: Callable[[], ManagedProcess]) -> ManagedProcess:
    try:
        return make()
    except MissingDependencyError as err:
        pytest.fail(f"local stack dependency missing: {err}", pytrace=False)


@pytest.fixture(scope="session")
def devstack_log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's emulator logs go (kept by pytest under its basetemp)."""
    return tmp_path_factory.mktemp("devstack-logs")


@pytest.fixture(scope="session")
def pubsub_emulator() -> Iterator[PubSubEmulatorInfo]:
    emulator = PubSubEmulator(LOCALHOST, 0)
    port = emulator.start()
    try:
        yield PubSubEmulatorInfo(LOCALHOST, port, emulator)
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def fake_gcs(pubsub_emulator: PubSubEmulatorInfo, devstack_log_dir: Path) -> Iterator[FakeGcsInfo]:
    topic = f"projects/{IT_PROJECT}/topics/{IT_TOPIC}"
    pubsub_emulator.emulator.create_topic(topic)  # before the server starts: it drops events for missing topics
    port = processes.free_port()
    proc = _require(
        lambda: processes.fake_gcs_server(
            port=port,
            log_dir=devstack_log_dir,
            pubsub_emulator_host=pubsub_emulator.emulator_host,
            project=IT_PROJECT,
            topic=IT_TOPIC,
            event_bucket=IT_UPLOADS_BUCKET,
        )
    )
    proc.start()
    try:
        yield FakeGcsInfo(LOCALHOST, port, IT_PROJECT, topic, IT_UPLOADS_BUCKET, proc)
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def firestore_emulator(devstack_log_dir: Path) -> Iterator[FirestoreEmulatorInfo]:
    port = processes.free_port()
    proc = _require(lambda: processes.firestore_emulator(port=port, log_dir=devstack_log_dir, repo_root=REPO_ROOT))
    proc.start()
    try:
        yield FirestoreEmulatorInfo(LOCALHOST, port, proc)
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def devstack_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., DevStack]]:
    """Start whole stacks: ``devstack_factory(start_function=False, min_backoff_seconds=0.1, ...)``.

    Keyword arguments are DevStackConfig fields; ports default to free ones and logs go to a temp dir.
    Every stack started here is stopped at the end of the session (or earlier with ``stack.stop()``).

    The optimize pass is off unless ``function_env`` turns it on (``OPTIMIZE=true``, as tests/e2e/test_optimize.py
    does): it rewrites a document after `ready`, which the tests of the live set, reading the ready document and
    the bucket, would race with.
    """
    stacks: list[DevStack] = []

    def make(**overrides: Any) -> DevStack:
        overrides.setdefault("log_dir", tmp_path_factory.mktemp("devstack"))
        overrides.setdefault("min_backoff_seconds", 0.1)
        overrides.setdefault("max_backoff_seconds", 1.0)
        overrides["function_env"] = {"OPTIMIZE": "false", **overrides.get("function_env", {})}
        stack = DevStack(DevStackConfig(**overrides))
        stacks.append(stack)
        try:
            return stack.start()
        except MissingDependencyError as err:
            pytest.fail(f"local stack dependency missing: {err}", pytrace=False)

    try:
        yield make
    finally:
        for stack in reversed(stacks):
            stack.stop()
