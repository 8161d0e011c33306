"""The whole local stack (DevStack and `python -m gallery_devstack run`) with a stub function."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from gallery_devstack.processes import LOCALHOST, REPO_ROOT, PortInUseError, port_open
from gallery_devstack.stack import ENV_FILE_KEYS, DevStack, DevStackConfig
from tests.polling import wait_until

STUB_FUNCTION = textwrap.dedent(
    """
    import json, os, pathlib

    KEYS = ["GOOGLE_CLOUD_PROJECT", "STORAGE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "FIRESTORE_EMULATOR_HOST",
            "UPLOADS_BUCKET", "RENDITIONS_BUCKET", "PHOTOS_COLLECTION", "RENDITIONS_BASE_URL", "VIPS_CONCURRENCY",
            "EXTRA"]

    def handle(request):
        envelope = request.get_json()
        message = envelope["message"]
        out = pathlib.Path(os.environ["STUB_RECORD_DIR"])
        if request.path == "/dead-letters":  # the dead-letter topic's push subscription
            (out / f"{message['attributes'].get('objectId')}.dead").write_text(json.dumps(envelope))
            return ("", 204)
        name = f"{message['messageId']}-{envelope.get('deliveryAttempt')}.json"
        record = json.dumps({"envelope": envelope, "env": {k: os.environ.get(k) for k in KEYS}})
        (out / (name + ".tmp")).write_text(record)
        (out / (name + ".tmp")).rename(out / name)  # whole files only: the test reads while pushes arrive
        if message["attributes"].get("objectId", "").startswith("poison"):
            return ("permanent trouble", 500)
        return ("", 204)
    """
)


def _records(directory: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]


def _wait(predicate: Callable[[], bool], timeout: float = 15.0) -> bool:
    return wait_until(predicate, timeout)


def _object_ids(directory: Path) -> list[str]:
    return [r["envelope"]["message"]["attributes"].get("objectId", "") for r in _records(directory)]


def test_devstack_end_to_end_with_stub_function(
    devstack_factory: Callable[..., DevStack], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "main.py"
    source.write_text(STUB_FUNCTION)
    records = tmp_path / "records"
    records.mkdir()
    stack = devstack_factory(
        function_source=source,
        function_env={"STUB_RECORD_DIR": str(records), "EXTRA": "yes"},
        max_delivery_attempts=5,
    )
    env = stack.env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    uploads = stack.storage_client().bucket(stack.config.uploads_bucket)

    # upload → fake-gcs notification → Pub/Sub push → function
    blob = uploads.blob("holiday/beach.jpg")
    blob.upload_from_string(b"\xff\xd8\xff", content_type="image/jpeg")
    assert _wait(lambda: "holiday/beach.jpg" in _object_ids(records))
    record = _records(records)[0]
    envelope = record["envelope"]
    assert envelope["subscription"] == stack.push_subscription_path
    assert envelope["deliveryAttempt"] == 1
    assert envelope["message"]["attributes"]["eventType"] == "OBJECT_FINALIZE"
    assert envelope["message"]["attributes"]["objectGeneration"] == str(blob.generation)
    assert record["env"] == {
        "GOOGLE_CLOUD_PROJECT": stack.config.project,
        "STORAGE_EMULATOR_HOST": stack.gcs_url,
        "PUBSUB_EMULATOR_HOST": stack.pubsub_emulator_host,
        "FIRESTORE_EMULATOR_HOST": stack.firestore_emulator_host,
        "UPLOADS_BUCKET": "gallery-uploads",
        "RENDITIONS_BUCKET": "gallery-renditions",
        "PHOTOS_COLLECTION": "photos",
        "RENDITIONS_BASE_URL": f"{stack.gcs_url}/gallery-renditions",
        "VIPS_CONCURRENCY": "1",
        "EXTRA": "yes",
    }

    # a message the function keeps failing goes to the dead-letter subscription after 5 attempts
    uploads.blob("poison.jpg").upload_from_string(b"x", content_type="image/jpeg")
    subscriber = pubsub_v1.SubscriberClient()
    try:
        dead: list[Any] = []
        deadline = time.monotonic() + 20
        while not dead and time.monotonic() < deadline:
            resp = subscriber.pull(
                request={"subscription": env["DEAD_LETTER_SUBSCRIPTION"], "max_messages": 5}, timeout=5
            )
            dead = list(resp.received_messages)
        assert [dict(m.message.attributes)["objectId"] for m in dead] == ["poison.jpg"]
        subscriber.acknowledge(subscription=env["DEAD_LETTER_SUBSCRIPTION"], ack_ids=[m.ack_id for m in dead])
    finally:
        subscriber.close()
    assert _object_ids(records).count("poison.jpg") == 5
    # ...and the dead-letter topic pushes it back to the function's /dead-letters path
    assert _wait(lambda: (records / "poison.jpg.dead").is_file())
    dead_envelope = json.loads((records / "poison.jpg.dead").read_text())
    assert dead_envelope["subscription"] == stack.dead_letter_recorder_path
    assert dead_envelope["message"]["attributes"]["CloudPubSubDeadLetterSourceDeliveryCount"] == "5"

    # the function goes away: Pub/Sub retries until it is back on the same port
    stack.stop_function()
    assert not port_open("127.0.0.1", stack.function_port)
    uploads.blob("late.jpg").upload_from_string(b"x", content_type="image/jpeg")
    time.sleep(0.5)
    stack.start_function()
    assert _wait(lambda: "late.jpg" in _object_ids(records))

    # a restarted Pub/Sub emulator gets its topics and subscriptions back
    stack.restart_service("pubsub")
    uploads.blob("after-restart.jpg").upload_from_string(b"x", content_type="image/jpeg")
    assert _wait(lambda: "after-restart.jpg" in _object_ids(records))

    env_file = stack.write_env_file(tmp_path / ".devstack.env")
    lines = [ln for ln in env_file.read_text().splitlines() if ln and not ln.startswith("#")]
    # then the settings the test stack's function was given (the fixture turns the optimize pass off)
    assert [ln.split("=", 1)[0] for ln in lines] == [*ENV_FILE_KEYS, "OPTIMIZE"]
    assert "OPTIMIZE=false" in lines
    assert f"FUNCTION_URL=http://127.0.0.1:{stack.function_port}/" in lines

    ports = [stack.gcs_port, stack.pubsub_port, stack.firestore_port, stack.function_port]
    stack.stop()
    assert not any(port_open("127.0.0.1", p) for p in ports)


def test_cli_run_writes_env_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    env_file = tmp_path / ".devstack.env"
    log_dir = tmp_path / "logs"
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT / "shared")
    argv = [sys.executable, "-m", "gallery_devstack", "run", "--no-function", "--env-file", str(env_file),
            "--log-dir", str(log_dir)]  # fmt: skip
    for service in ("gcs", "pubsub", "firestore", "function"):
        argv += [f"--{service}-port", "0"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert _wait(env_file.exists, timeout=30), "the stack did not come up"
        values = dict(
            line.split("=", 1) for line in env_file.read_text().splitlines() if line and not line.startswith("#")
        )
        assert set(values) == set(ENV_FILE_KEYS)
        gcs_port = int(values["STORAGE_EMULATOR_HOST"].rsplit(":", 1)[1])
        firestore_port = int(values["FIRESTORE_EMULATOR_HOST"].rsplit(":", 1)[1])
        assert port_open("127.0.0.1", gcs_port)
        assert port_open("127.0.0.1", firestore_port)
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out.decode(errors="replace")
        assert b"upload_from_filename" in out
        assert not env_file.exists()
        assert not port_open("127.0.0.1", gcs_port)
        assert (log_dir / "fake-gcs-server.log").exists()
        assert (log_dir / "pubsub-emulator.log").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_unique_names_do_not_leak(devstack_factory: Callable[..., DevStack]) -> None:
    """Two stacks side by side (free ports) do not see each other's objects."""
    a = devstack_factory(start_function=False, create_push_subscription=False, pubsub_in_process=True)
    b = devstack_factory(start_function=False, create_push_subscription=False, pubsub_in_process=True)
    name = f"{uuid.uuid4().hex}.jpg"
    a.storage_client().bucket("gallery-uploads").blob(name).upload_from_string(b"x")
    assert a.storage_client().bucket("gallery-uploads").blob(name).exists()
    assert not b.storage_client().bucket("gallery-uploads").blob(name).exists()
    assert a.pubsub_emulator is not None
    assert a.pubsub_emulator.topic_names() == sorted([a.topic_path, a.bulk_topic_path, a.dead_letter_topic_path])
    a.stop()
    b.stop()


def _stub_stack(tmp_path: Path, **overrides: Any) -> DevStack:
    source = tmp_path / "main.py"
    source.write_text(STUB_FUNCTION)
    return DevStack(
        DevStackConfig(
            log_dir=tmp_path / "logs",
            function_source=source,
            function_env={"STUB_RECORD_DIR": str(tmp_path)},
            **overrides,
        )
    )


def test_a_picked_port_taken_before_its_service_starts_is_picked_again(tmp_path: Path) -> None:
    """Several stacks starting at once (parallel test workers) can take each other's picked ports."""
    stack = _stub_stack(tmp_path)
    taken = stack.bulk_function_port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((LOCALHOST, taken))
        squatter.listen()
        try:
            stack.start_service("bulk_function")
            assert stack.bulk_function_port != taken
            assert port_open(LOCALHOST, stack.bulk_function_port)
            assert stack.bulk_function_url == f"http://{LOCALHOST}:{stack.bulk_function_port}/"
        finally:
            stack.stop_service("bulk_function")


def test_a_configured_port_that_is_taken_is_reported_not_replaced(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind((LOCALHOST, 0))
        squatter.listen()
        port = int(squatter.getsockname()[1])
        stack = _stub_stack(tmp_path, bulk_function_port=port)
        with pytest.raises(PortInUseError, match="already in use"):
            stack.start_service("bulk_function")
        assert stack.bulk_function_port == port


def test_the_firestore_emulator_counts_the_documents_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A load run reads Firestore's write rate from the emulator (`DevStack.firestore_writes`)."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    stack = _stub_stack(tmp_path)
    stack.start_service("firestore")
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", stack.firestore_emulator_host)
    try:
        before = stack.firestore_writes()
        client = firestore.Client(project=stack.config.project, credentials=AnonymousCredentials())
        client.collection("counted").document("one").set({"n": 1})
        batch = client.batch()
        for name in ("two", "three"):
            batch.set(client.collection("counted").document(name), {"n": 2})
        batch.commit()
        after = stack.firestore_writes()
        assert (after["commits"] - before["commits"], after["writes"] - before["writes"]) == (2, 3)
    finally:
        stack.stop_service("firestore")
