"""The whole local stack with the real function, shared by the end-to-end tests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from playwright.sync_api import Browser, sync_playwright

from gallery.ids import photo_id
from gallery.model import PhotoStatus
from gallery.settings import Settings
from gallery_devstack.stack import DevStack

# The output formats the local function writes (it runs with the default set), in the order it writes them.
DEFAULT_FORMATS: tuple[str, ...] = Settings().rendition_formats


@dataclass
class Harness:
    stack: DevStack
    storage: Any
    db: firestore.Client

    @property
    def uploads(self) -> Any:
        return self.storage.bucket(self.stack.config.uploads_bucket)

    @property
    def renditions(self) -> Any:
        return self.storage.bucket(self.stack.config.renditions_bucket)

    def upload(self, name: str, data: bytes, content_type: str = "image/jpeg") -> int:
        blob = self.uploads.blob(name)
        blob.upload_from_string(data, content_type=content_type)
        return int(blob.generation)

    def doc(self, name: str) -> dict[str, Any] | None:
        snap = self.db.collection(self.stack.config.photos_collection).document(photo_id(self.uploads.name, name)).get()
        return snap.to_dict() if snap.exists else None

    def wait_doc(
        self, name: str, predicate: Callable[[dict[str, Any] | None], bool], timeout: float = 30.0
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        doc = self.doc(name)
        while not predicate(doc):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {name}; last document: {doc}")
            time.sleep(0.05)
            doc = self.doc(name)
        return doc

    def rendition_names(self, name: str) -> set[str]:
        return {b.name for b in self.renditions.list_blobs(prefix=photo_id(self.uploads.name, name) + "/")}

    def dead_letters(self) -> list[Any]:
        with self.stack.pubsub_admin() as (_, subscriber):
            response = subscriber.pull(
                request={"subscription": self.stack.dead_letter_subscription_path, "max_messages": 100},
                timeout=5,
            )
        return list(response.received_messages)


def settled(doc: dict[str, Any] | None) -> bool:
    """The document has its outcome: ready or failed (PhotoStatus.settled)."""
    status = PhotoStatus.of(doc)
    return status is not None and status.settled


def build_harness(stack: DevStack) -> Harness:
    """A Harness for another stack (the Firestore client reads FIRESTORE_EMULATOR_HOST when it is built)."""
    env = stack.env()
    mp = pytest.MonkeyPatch()
    mp.setenv("FIRESTORE_EMULATOR_HOST", env["FIRESTORE_EMULATOR_HOST"])
    try:
        db = firestore.Client(project=env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials())
    finally:
        mp.undo()
    return Harness(stack=stack, storage=stack.storage_client(), db=db)


@pytest.fixture(scope="session")
def e2e(devstack_factory: Callable[..., DevStack]) -> Iterator[Harness]:
    stack = devstack_factory(function_env={"LOG_LEVEL": "INFO"}, max_delivery_attempts=5)
    env = stack.env()
    mp = pytest.MonkeyPatch()
    mp.setenv("FIRESTORE_EMULATOR_HOST", env["FIRESTORE_EMULATOR_HOST"])
    db = firestore.Client(project=env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials())
    try:
        yield Harness(stack=stack, storage=stack.storage_client(), db=db)
    finally:
        mp.undo()


# ---------------------------------------------------------------------------------------------- the browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (never `playwright install`)", pytrace=False)
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
