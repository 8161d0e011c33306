"""The `gallery` console script against the real local stack: backfill, S3 import (moto server), exit codes.

The command runs as a subprocess with a clean environment and `--env-file` written by the stack itself, the
way a user runs it after `make run`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from moto.server import ThreadedMotoServer

from gallery.ids import photo_id
from gallery.settings import Settings
from gallery_devstack.stack import DevStack
from tests.e2e.conftest import Harness
from tests.paths import ORIENTATION, SAMPLES

GALLERY = Path(sys.executable).with_name("gallery")
# 20 real photos: the 16 orientation samples, an RGBA PNG, a CMYK JPEG, a JPEG with GPS EXIF and a phone HEIC.
IMPORT_PHOTOS = [
    *sorted(ORIENTATION.glob("*.jpg")),
    SAMPLES / "alpha.png",
    SAMPLES / "cmyk.jpg",
    SAMPLES / "gps_DSCN0010.jpg",
    SAMPLES / "iphone_13_pro_max.heic",
]


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without anything that would point the CLI at some other stack."""
    drop = Settings.env_names() | {
        "STORAGE_EMULATOR_HOST",
        "PUBSUB_EMULATOR_HOST",
        "FIRESTORE_EMULATOR_HOST",
        "PUBSUB_TOPIC",
        "GOOGLE_APPLICATION_CREDENTIALS",
    }
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("AWS_")}
    env.update(COLUMNS="100", **extra)
    return env


@pytest.fixture
def gallery(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the console script in an empty folder (so no `.devstack.env` is picked up by accident)."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(GALLERY), *args],
            cwd=tmp_path,
            env=env or _clean_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    assert done.returncode == 0, f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return json.loads(done.stdout)


def _db(stack: DevStack, monkeypatch: pytest.MonkeyPatch) -> firestore.Client:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", stack.firestore_emulator_host)
    return firestore.Client(project=stack.config.project, credentials=AnonymousCredentials())


# ---------------------------------------------------------------------------------------------- backfill


def test_backfill_registers_photos_uploaded_while_the_function_was_down_exactly_once(
    devstack_factory: Callable[..., DevStack],
    gallery: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stack = devstack_factory(start_function=False, max_delivery_attempts=5)
    env_file = stack.write_env_file(tmp_path / "stack.env")
    uploads = stack.storage_client().bucket(stack.config.uploads_bucket)
    names = [f"before-deploy/{p.name}" for p in sorted(ORIENTATION.glob("landscape_*.jpg"))[:6]]
    for name in names:
        uploads.blob(name).upload_from_filename(str(ORIENTATION / name.split("/")[-1]), content_type="image/jpeg")
    uploads.blob("elsewhere/skip-me.jpg").upload_from_filename(str(ORIENTATION / "portrait_1.jpg"))

    # Nothing listens: every notification ends in the dead-letter topic, nothing is registered.
    with stack.pubsub_admin() as (_, subscriber):
        dead: list[Any] = []
        deadline = time.monotonic() + 60
        while len(dead) < len(names) + 1 and time.monotonic() < deadline:
            response = subscriber.pull(
                request={"subscription": stack.dead_letter_subscription_path, "max_messages": 50}, timeout=5
            )
            dead += response.received_messages
        assert len(dead) == len(names) + 1
        subscriber.acknowledge(subscription=stack.dead_letter_subscription_path, ack_ids=[m.ack_id for m in dead])
    stack.start_function()
    db = _db(stack, monkeypatch)
    photos = db.collection(stack.config.photos_collection)
    assert list(photos.stream()) == []

    plan = _json(gallery("backfill", "--prefix", "before-deploy/", "--dry-run", "--json", "--env-file", str(env_file)))
    assert (plan["found"], plan["queued"], plan["states"]) == (6, 6, {"unregistered": 6})
    assert sorted(item["name"] for item in plan["items"]) == names
    assert list(photos.stream()) == []  # a dry run changes nothing

    done = gallery("backfill", "--prefix", "before-deploy/", "--rate", "50", "--wait", "--env-file", str(env_file))
    assert done.returncode == 0, done.stderr
    assert "queued" in done.stdout and "6 ready, 0 failed" in done.stdout, done.stdout
    assert "eta" in done.stderr  # the progress bars

    docs = {snap.id: snap.to_dict() for snap in photos.stream()}
    assert set(docs) == {photo_id(uploads.name, name) for name in names}  # renditions never became photos
    for name in names:
        doc = docs[photo_id(uploads.name, name)]
        assert doc["status"] == "ready", doc
        assert doc["attempts"] == 1  # processed exactly once
        assert doc["source"]["generation"] == uploads.get_blob(name).generation

    again = _json(gallery("backfill", "--prefix", "before-deploy/", "--json", "--env-file", str(env_file)))
    assert (again["found"], again["already_done"], again["queued"]) == (6, 6, 0)

    # A new rendition spec makes every photo stale; the rest of the bucket is still unregistered.
    stale = _json(
        gallery(
            "backfill",
            "--dry-run",
            "--json",
            "--env-file",
            str(env_file),
            env=_clean_env(RENDITION_QUALITY="81"),
        )
    )
    assert stale["states"] == {"spec_outdated": 6, "unregistered": 1}


def test_unreachable_stack_exits_2_with_a_clear_message(
    gallery: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    env_file = tmp_path / "gone.env"
    env_file.write_text(
        "GOOGLE_CLOUD_PROJECT=gallery-local\nSTORAGE_EMULATOR_HOST=http://127.0.0.1:9\n"
        "PUBSUB_EMULATOR_HOST=127.0.0.1:9\nFIRESTORE_EMULATOR_HOST=127.0.0.1:9\n"
        "PUBSUB_TOPIC=projects/gallery-local/topics/t\n"
    )
    for args in (["backfill"], ["ls"], ["drop", str(SAMPLES / "alpha.png")]):
        done = gallery(*args, "--env-file", str(env_file), timeout=30)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert "local stack is not reachable" in done.stderr and "make run" in done.stderr
    missing = gallery("backfill", "--env-file", str(tmp_path / "nope.env"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr


# ---------------------------------------------------------------------------------------------- import


@pytest.fixture(scope="module")
def moto_s3() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def test_import_from_s3_brings_20_photos_in_and_a_rerun_copies_nothing(
    e2e: Harness,
    moto_s3: str,
    gallery: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="legacy-photos")
    for photo in IMPORT_PHOTOS:
        s3.upload_file(str(photo), "legacy-photos", f"camera-roll/2019/{photo.name}")
    s3.put_object(Bucket="legacy-photos", Key="camera-roll/2019/notes.txt", Body=b"not a photo")
    s3.put_object(Bucket="legacy-photos", Key="elsewhere/other.jpg", Body=(SAMPLES / "cmyk.jpg").read_bytes())
    assert len(IMPORT_PHOTOS) == 20

    env_file = e2e.stack.write_env_file(tmp_path / "stack.env")
    env = _clean_env(**AWS)
    args = ["import", "s3://legacy-photos/camera-roll/", "--endpoint-url", moto_s3, "--dest-prefix", "imported/"]
    first = _json(gallery(*args, "--json", "--wait", "--timeout", "240", "--env-file", str(env_file), env=env))
    assert (first["found"], first["copied"], first["skipped"], first["failed"]) == (20, 20, 0, 0)
    assert first["wait"] == {
        "ready": 20,
        "failed": 0,
        "superseded": 0,
        "still_pending": [],
        "other_spec_versions": {},
    }

    expected = {f"imported/2019/{p.name}": p.stat().st_size for p in IMPORT_PHOTOS}
    arrived = {b.name: b.size for b in e2e.uploads.list_blobs(prefix="imported/")}
    assert arrived == expected
    for name in expected:
        doc = e2e.doc(name)
        assert doc is not None and doc["status"] == "ready", doc
        assert doc["renditions"] and doc["srcset"]["webp"]

    second = gallery(*args, "--env-file", str(env_file), env=env)
    assert second.returncode == 0, second.stderr
    assert "20 photo(s) found, copied 0 (0.0 MB), 20 already present, 0 failed" in second.stdout
    generations = {b.name: b.generation for b in e2e.uploads.list_blobs(prefix="imported/")}

    # A photo that changed at the source is copied again (same name, new generation); nothing else is touched.
    s3.put_object(Bucket="legacy-photos", Key="camera-roll/2019/cmyk.jpg", Body=(SAMPLES / "alpha.png").read_bytes())
    third = _json(gallery(*args, "--json", "--env-file", str(env_file), env=env))
    assert (third["copied"], third["skipped"]) == (1, 19)
    assert [i["name"] for i in third["items"] if i["action"] == "replace"] == ["imported/2019/cmyk.jpg"]
    now = {b.name: b.generation for b in e2e.uploads.list_blobs(prefix="imported/")}
    assert {n for n in now if now[n] != generations[n]} == {"imported/2019/cmyk.jpg"}


def test_import_reports_a_missing_bucket(
    e2e: Harness, moto_s3: str, gallery: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    env_file = e2e.stack.write_env_file(tmp_path / "stack.env")
    done = gallery(
        "import", "s3://no-such-bucket/x", "--endpoint-url", moto_s3, "--env-file", str(env_file), env=_clean_env(**AWS)
    )
    assert done.returncode == 2
    assert "NoSuchBucket" in done.stderr
