"""Forged, replayed, malformed and poison deliveries through the whole local stack.

Anyone who can publish to the uploads topic reaches the function, and Pub/Sub may deliver any old message
again. Whatever such a message claims, the live photo (its document and its renditions) must stay exactly as
it is; only what Cloud Storage says changes anything. See docs/events.md.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery.ids import photo_id
from gallery_devstack.stack import DevStack
from tests.e2e.conftest import Harness, build_harness
from tests.e2e.poison_function import CRASH_MARKER
from tests.e2e.test_ordering import delete, finalize, publish, ready_at
from tests.paths import ORIENTATION, SAMPLES

PHOTO = (ORIENTATION / "landscape_1.jpg").read_bytes()
OTHER = (SAMPLES / "gps_DSCN0010.jpg").read_bytes()
POISON_FUNCTION = Path(__file__).with_name("poison_function.py")


def unique(name: str) -> str:
    return f"trust-{uuid.uuid4().hex[:8]}/{name}"


def function_log(h: Harness, needle: str) -> list[str]:
    process = h.stack.process("function")
    assert process is not None
    return [line for line in process.log_path.read_text().splitlines() if needle in line]


def wait_log(h: Harness, pid: str, message: str, count: int, timeout: float = 20.0) -> None:
    """Wait until the function logged `message` for photo `pid` at least `count` times (each message processed)."""
    deadline = time.monotonic() + timeout
    while True:
        seen = [line for line in function_log(h, pid) if message in line]
        if len(seen) >= count:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(seen)}/{count} deliveries logged {message!r} for {pid}")
        time.sleep(0.1)


def snapshot(h: Harness, name: str, generation: int) -> tuple[dict[str, Any], set[str]]:
    doc = h.wait_doc(name, ready_at(generation))
    assert doc is not None
    deadline = time.monotonic() + 10  # superseded renditions go right after the document is written
    while h.rendition_names(name) != {r["path"] for r in doc["renditions"]} and time.monotonic() < deadline:
        time.sleep(0.05)
    names = h.rendition_names(name)
    assert names == {r["path"] for r in doc["renditions"]} and names
    return doc, names


def assert_unharmed(h: Harness, name: str, doc: dict[str, Any], names: set[str]) -> None:
    time.sleep(0.5)  # let any straggler land
    assert h.doc(name) == doc
    assert h.rendition_names(name) == names
    assert h.uploads.get_blob(name) is not None  # and the original is where it was


def test_a_forged_finalize_with_a_higher_generation_leaves_the_live_photo(e2e: Harness) -> None:
    name = unique("forged-finalize.jpg")
    generation = e2e.upload(name, PHOTO)
    doc, names = snapshot(e2e, name, generation)
    publish(e2e, finalize(name, generation + 1), finalize(name, generation + 10**6))
    wait_log(e2e, doc["photo_id"], "notified generation is not live", 2)
    assert_unharmed(e2e, name, doc, names)


def test_a_forged_delete_of_the_live_generation_leaves_the_live_photo(e2e: Harness) -> None:
    name = unique("forged-delete.jpg")
    generation = e2e.upload(name, PHOTO)
    doc, names = snapshot(e2e, name, generation)
    publish(e2e, delete(name, generation), delete(name, generation + 1))
    wait_log(e2e, doc["photo_id"], "delete of the live generation ignored", 1)
    wait_log(e2e, doc["photo_id"], "delete of an unregistered, older or live generation", 1)
    assert_unharmed(e2e, name, doc, names)


def test_replayed_finalize_and_delete_of_an_older_generation_leave_the_live_photo(e2e: Harness) -> None:
    name = unique("replayed.jpg")
    old = e2e.upload(name, PHOTO)
    e2e.wait_doc(name, ready_at(old))
    e2e.uploads.blob(name).delete()
    e2e.wait_doc(name, lambda d: d is None)
    live = e2e.upload(name, OTHER)  # the same name again: a new object, not an overwrite
    doc, names = snapshot(e2e, name, live)
    publish(e2e, finalize(name, old), delete(name, old), finalize(name, old), delete(name, old))
    wait_log(e2e, doc["photo_id"], "notified generation is not live", 2)
    wait_log(e2e, doc["photo_id"], "delete of an unregistered, older or live generation", 2)
    assert_unharmed(e2e, name, doc, names)


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as err:
        return int(err.code), json.loads(err.read())


def test_malformed_deliveries_to_the_served_function_answer_400(e2e: Harness) -> None:
    url = e2e.stack.function_url
    envelope = {
        "message": {
            "attributes": {
                "eventType": "OBJECT_FINALIZE",
                "bucketId": e2e.uploads.name,
                "objectId": "a.jpg",
                "objectGeneration": str(2**64),
            }
        }
    }
    cases = {
        "generation beyond 64 bits": json.dumps(envelope).encode(),
        "not JSON": b"\xff\xfe garbage",
        "2 MB body": b'{"message": {"data": "' + b"A" * 2_000_000 + b'"}}',
    }
    for case, body in cases.items():
        status, payload = post(url, body, {"Content-Type": "application/json"})
        assert (status, payload["error"]) == (400, "bad_event"), case

    def chunks() -> Iterator[bytes]:
        for _ in range(40):
            yield b" " * 50_000  # 2 MB with no Content-Length: the cap holds on what is actually read

    request = urllib.request.Request(url, data=chunks(), method="POST", headers={"Transfer-Encoding": "chunked"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 400 and json.loads(refused.value.read())["error"] == "bad_event"


# --------------------------------------------------------------------------------------------- poison


@pytest.fixture(scope="module")
def poisoned(devstack_factory: Callable[..., DevStack]) -> Iterator[Harness]:
    stack = devstack_factory(
        function_source=POISON_FUNCTION,
        function_env={"LOG_LEVEL": "INFO", "MAX_ATTEMPTS": "2", "PROCESSING_LEASE_SECONDS": "10"},
        max_delivery_attempts=100,  # well above MAX_ATTEMPTS: the function's own cap must decide
        min_backoff_seconds=0.2,
        max_backoff_seconds=1.0,
    )
    try:
        yield build_harness(stack)
    finally:
        stack.stop()


def test_a_photo_that_kills_its_worker_ends_failed_and_other_photos_are_unharmed(poisoned: Harness) -> None:
    h = poisoned
    poison = unique("poison.jpg")
    h.upload(poison, PHOTO + CRASH_MARKER)  # a valid JPEG: only the test renderer's crash stops it
    pid = photo_id(h.uploads.name, poison)
    h.wait_doc(poison, lambda d: d is not None and d.get("attempts") == 1, timeout=30)
    deadline = time.monotonic() + 20
    while not function_log(h, "killing the worker process") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert function_log(h, "killing the worker process"), "the worker never crashed"

    # The instance comes back and takes other work while the dead delivery's lease runs out.
    others = [unique(f"bystander-{i}.jpg") for i in range(3)]
    for name in others:
        h.upload(name, OTHER)
    for name in others:
        h.wait_doc(name, lambda d: d is not None and d.get("status") == "ready", timeout=60)

    doc = h.wait_doc(poison, lambda d: d is not None and d.get("status") == "failed", timeout=90)
    assert doc is not None and doc["error"]["code"] == "too_many_attempts", doc
    assert doc["attempts"] == 2 and "2 deliveries" in doc["error"]["reason"]
    assert len(function_log(h, "killing the worker process")) == 2  # rendered twice, never again
    assert h.rendition_names(poison) == set()
    assert [line for line in function_log(h, pid) if "another delivery holds this photo's lease" in line]
    time.sleep(1.5)
    assert len(function_log(h, "killing the worker process")) == 2
    for name in others:
        ready = h.doc(name)
        assert ready is not None and ready["status"] == "ready" and h.rendition_names(name)
