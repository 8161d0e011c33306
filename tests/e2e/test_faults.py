"""Transient faults through the real stack: retried by Pub/Sub, visible on the document, dead-lettered at the end.

The function reaches fake-gcs-server through `tests.faultproxy`, which answers chosen requests with an
error status the way Cloud Storage does (the official client raises its real exceptions, which
`gallery.adapters.classify` maps); the Firestore emulator is stopped and restarted for real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gallery_devstack import processes
from gallery_devstack.stack import DevStack
from tests.e2e.conftest import Harness, build_harness
from tests.faultproxy import FaultProxy, fault_proxy
from tests.paths import ORIENTATION

PHOTO = (ORIENTATION / "landscape_1.jpg").read_bytes()
MAX_ATTEMPTS = 5


@pytest.fixture(scope="module")
def faulty(devstack_factory: Callable[..., DevStack]) -> Iterator[tuple[Harness, FaultProxy]]:
    gcs_port = processes.free_port()
    with fault_proxy(processes.LOCALHOST, gcs_port) as proxy:
        stack = devstack_factory(
            gcs_port=gcs_port,
            function_env={"STORAGE_EMULATOR_HOST": proxy.url, "LOG_LEVEL": "INFO"},
            max_delivery_attempts=MAX_ATTEMPTS,
            min_backoff_seconds=0.1,
            max_backoff_seconds=0.5,
        )
        try:
            yield build_harness(stack), proxy
        finally:
            stack.stop()


def unique() -> str:
    return f"fault-{uuid.uuid4().hex[:10]}.jpg"  # no "/": the proxy matches the object name in request paths


def _watch(h: Harness, name: str, until: Callable[[dict[str, Any] | None], bool], timeout: float) -> list[Any]:
    """Every distinct document state seen until `until` holds."""
    seen: list[Any] = []
    deadline = time.monotonic() + timeout
    while True:
        doc = h.doc(name)
        state = None if doc is None else (doc.get("status"), doc.get("attempts"), doc.get("last_error"))
        if not seen or seen[-1] != state:
            seen.append(state)
        if until(doc):
            return seen
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; states seen: {seen}")
        time.sleep(0.02)


def _dead_letters_for(h: Harness, name: str, wait: float) -> list[Any]:
    found: list[Any] = []
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for received in h.dead_letters():
            with h.stack.pubsub_admin() as (_, subscriber):
                subscriber.acknowledge(
                    request={"subscription": h.stack.dead_letter_subscription_path, "ack_ids": [received.ack_id]}
                )
            if received.message.attributes.get("objectId") == name:
                found.append(received)
    return found


def test_a_denied_download_is_retried_by_pubsub_until_it_succeeds(faulty: tuple[Harness, FaultProxy]) -> None:
    h, proxy = faulty
    name = unique()
    # the download (pinned to the generation) is denied, e.g. a missing IAM grant, fixed after two deliveries
    proxy.fail(403, f"{name}?generation=", times=2)
    h.upload(name, PHOTO)
    states = _watch(h, name, lambda d: d is not None and d.get("status") == "ready", timeout=30)
    doc = h.doc(name)
    assert doc is not None and doc["attempts"] == 3
    assert doc["last_error"]["code"] == "permission_denied" and "403" in doc["last_error"]["reason"]
    retrying = [s for s in states if s and s[0] == "processing" and s[2]]
    assert retrying, states  # attempts and last_error were visible while Pub/Sub retried
    assert h.rendition_names(name) == {r["path"] for r in doc["renditions"]}
    assert _dead_letters_for(h, name, wait=0.5) == []


def test_storage_5xx_is_retried_inside_the_delivery(faulty: tuple[Harness, FaultProxy]) -> None:
    h, proxy = faulty
    name = unique()
    rule = proxy.fail(503, name, times=2)
    h.upload(name, PHOTO)
    doc = h.wait_doc(name, lambda d: d is not None and d.get("status") == "ready", timeout=30)
    assert rule.hits == 2
    assert doc is not None and doc["attempts"] == 1  # the client's own short retry absorbed the blip


def test_a_persistent_fault_dead_letters_the_message_exactly_once_and_the_photo_shows_it(
    faulty: tuple[Harness, FaultProxy], tmp_path: Path
) -> None:
    h, proxy = faulty
    name = unique()
    proxy.fail(403, f"{name}?generation=", times=1000)  # the pinned download, after the live-generation check
    generation = h.upload(name, PHOTO)
    h.wait_doc(name, lambda d: d is not None and d.get("attempts") == MAX_ATTEMPTS and d.get("last_error"), 30)
    letters = _dead_letters_for(h, name, wait=3.0)
    assert len(letters) == 1
    message = letters[0].message
    assert message.attributes["eventType"] == "OBJECT_FINALIZE"
    assert message.attributes["objectGeneration"] == str(generation)
    # The dead-letter subscription pushes it back to the function's /dead-letters path, which records it.
    doc = h.wait_doc(name, lambda d: d is not None and d.get("status") == "failed", timeout=30)
    assert doc is not None and doc["error"]["code"] == "dead_lettered", doc
    assert f"after {MAX_ATTEMPTS} deliveries" in doc["error"]["reason"]
    assert "permission_denied" in doc["error"]["reason"]  # the last error the photo saw
    assert doc["attempts"] == MAX_ATTEMPTS and doc["last_error"]["code"] == "permission_denied"
    assert h.rendition_names(name) == set()
    proxy.clear()

    env_file = h.stack.write_env_file(tmp_path / ".devstack.env")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST") and k != "PUBSUB_TOPIC"}

    def gallery(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [str(Path(sys.executable).parent / "gallery"), *args, "--json", "--env-file", str(env_file)]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, check=False)

    listed = gallery("failures", "--code", "dead_lettered")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows[name]["code"] == "dead_lettered" and rows[name]["generation"] == generation
    assert rows[name]["attempts"] == MAX_ATTEMPTS

    # Its deliveries reached MAX_ATTEMPTS: backfill and retry leave it alone unless forced.
    plan = json.loads(gallery("backfill", "--prefix", name, "--dry-run").stdout)
    assert (plan["states"], plan["queued"]) == ({"over_cap": 1}, 0)
    refused = gallery("retry", name)
    assert refused.returncode == 1 and json.loads(refused.stdout)[0]["queued"] is False
    assert "--force" in json.loads(refused.stdout)[0]["note"]
    forced = gallery("retry", name, "--force")
    assert forced.returncode == 0 and json.loads(forced.stdout)[0]["queued"] is True, forced.stdout
    doc = h.wait_doc(name, lambda d: d is not None and d.get("status") == "ready", timeout=30)
    assert doc is not None and doc["attempts"] == 1 and doc["error"] is None  # a fresh count


def test_firestore_stopped_and_restarted_mid_flight(faulty: tuple[Harness, FaultProxy]) -> None:
    h, _ = faulty
    name = unique()
    h.stack.stop_service("firestore")
    try:
        generation = h.upload(name, PHOTO)
        time.sleep(2.0)  # the delivery is in flight, its Firestore calls failing
    finally:
        h.stack.start_service("firestore")  # an empty emulator: it keeps nothing across a restart
    doc = h.wait_doc(name, lambda d: d is not None and d.get("status") == "ready", timeout=60)
    assert doc is not None and doc["source"]["generation"] == generation
    assert h.rendition_names(name) == {r["path"] for r in doc["renditions"]}
    assert _dead_letters_for(h, name, wait=0.5) == []
