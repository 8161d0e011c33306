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
from gallery_cli.settings import ToolSettings
from gallery_devstack.stack import DevStack
from tests.e2e.conftest import DEFAULT_FORMATS, Harness
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
    drop = ToolSettings.env_names() | {
        "STORAGE_EMULATOR_HOST",
        "PUBSUB_EMULATOR_HOST",
        "FIRESTORE_EMULATOR_HOST",
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
    # Dead letters are recorded, not re-queued (DEAD_LETTER_REQUEUES=0), so backfill is what brings them back;
    # tests/e2e/test_crash_recovery.py has the default, where they come back on the bulk lane by themselves.
    stack = devstack_factory(start_function=False, max_delivery_attempts=5, function_env={"DEAD_LETTER_REQUEUES": "0"})
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

    # The dead letters come back to the function (/dead-letters): each photo is recorded failed, dead_lettered.
    deadline = time.monotonic() + 60
    while len(recorded := [s.to_dict() for s in photos.stream()]) < len(names) + 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(recorded) == len(names) + 1
    assert {(d["status"], d["error"]["code"], d["attempts"]) for d in recorded} == {("failed", "dead_lettered", 0)}
    listed = _json(gallery("failures", "--json", "--code", "dead_lettered", "--env-file", str(env_file)))
    assert {r["name"] for r in listed} == {*names, "elsewhere/skip-me.jpg"}

    plan = _json(gallery("backfill", "--prefix", "before-deploy/", "--dry-run", "--json", "--env-file", str(env_file)))
    assert (plan["found"], plan["queued"], plan["states"]) == (6, 6, {"dead_lettered": 6})
    assert sorted(item["name"] for item in plan["items"]) == names
    unchanged = sorted((s.to_dict() for s in photos.stream()), key=lambda d: d["photo_id"])
    assert unchanged == sorted(recorded, key=lambda d: d["photo_id"])  # a dry run changes nothing

    done = gallery("backfill", "--prefix", "before-deploy/", "--rate", "50", "--wait", "--env-file", str(env_file))
    assert done.returncode == 0, done.stderr
    assert "queued" in done.stdout and "6 ready, 0 failed" in done.stdout, done.stdout
    assert "eta" in done.stderr  # the progress bars

    docs = {snap.id: snap.to_dict() for snap in photos.stream()}
    skipped = photo_id(uploads.name, "elsewhere/skip-me.jpg")  # outside the prefix: still dead-lettered
    assert set(docs) == {photo_id(uploads.name, name) for name in names} | {skipped}  # renditions never did
    assert docs[skipped]["error"]["code"] == "dead_lettered"
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
    assert stale["states"] == {"spec_outdated": 6, "dead_lettered": 1}


def test_unreachable_stack_exits_2_with_a_clear_message(
    gallery: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    env_file = tmp_path / "gone.env"
    env_file.write_text(
        "GOOGLE_CLOUD_PROJECT=gallery-local\nSTORAGE_EMULATOR_HOST=http://127.0.0.1:9\n"
        "PUBSUB_EMULATOR_HOST=127.0.0.1:9\nFIRESTORE_EMULATOR_HOST=127.0.0.1:9\n"
        "PUBSUB_TOPIC=projects/gallery-local/topics/t\nPUBSUB_BULK_TOPIC=projects/gallery-local/topics/b\n"
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
        assert doc["renditions"] and all(doc["srcset"][f] for f in DEFAULT_FORMATS)

    second = gallery(*args, "--env-file", str(env_file), env=env)
    assert second.returncode == 0, second.stderr
    assert "20 photo(s) found, copied 0 (0.0 MB), 20 already present, 0 too large, 0 failed" in second.stdout
    generations = {b.name: b.generation for b in e2e.uploads.list_blobs(prefix="imported/")}

    # An import never overwrites: a photo that changed at the source is reported, and the bucket is untouched.
    s3.put_object(Bucket="legacy-photos", Key="camera-roll/2019/cmyk.jpg", Body=(SAMPLES / "alpha.png").read_bytes())
    third = _json(gallery(*args, "--json", "--env-file", str(env_file), env=env))
    assert (third["copied"], third["skipped"], third["already_present"]) == (0, 20, 20)
    changed = [i for i in third["items"] if "differs" in i.get("reason", "")]
    assert [i["name"] for i in changed] == ["imported/2019/cmyk.jpg"]
    assert {b.name: b.generation for b in e2e.uploads.list_blobs(prefix="imported/")} == generations


def test_import_skips_objects_over_max_bytes_without_downloading_them(
    e2e: Harness,
    moto_s3: str,
    gallery: Callable[..., subprocess.CompletedProcess[str]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="big-photos")
    small, large = SAMPLES / "alpha.png", SAMPLES / "cmyk.jpg"
    assert small.stat().st_size < large.stat().st_size
    s3.upload_file(str(small), "big-photos", "small.png")
    s3.upload_file(str(large), "big-photos", "large.jpg")
    env_file = e2e.stack.write_env_file(tmp_path / "stack.env")
    env = _clean_env(**AWS, MAX_BYTES=str(large.stat().st_size - 1))
    args = ["import", "s3://big-photos/", "--endpoint-url", moto_s3, "--dest-prefix", "capped/"]

    done = gallery(*args, "--env-file", str(env_file), env=env)
    assert done.returncode == 0, done.stderr
    assert "2 photo(s) found, copied 1" in done.stdout and "1 too large" in done.stdout
    assert f"skipped large.jpg: larger than MAX_BYTES ({large.stat().st_size} > " in done.stderr
    assert {b.name for b in e2e.uploads.list_blobs(prefix="capped/")} == {"capped/small.png"}

    report = _json(gallery(*args, "--json", "--env-file", str(env_file), env=env))
    assert (report["too_large"], report["already_present"], report["copied"]) == (1, 1, 0)
    large_item = next(i for i in report["items"] if i["key"] == "large.jpg")
    assert large_item["action"] == "skip" and large_item["reason"].startswith("larger than MAX_BYTES")
    # The moto server runs in this process and logs every request: the large object was never fetched.
    requests = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("GET /big-photos/small.png " in m for m in requests), requests
    assert not any("GET /big-photos/large.jpg " in m for m in requests)


def test_import_never_overwrites_an_object_created_after_the_listing(
    e2e: Harness, moto_s3: str, tmp_path: Path
) -> None:
    """The write precondition (if_generation_match=0) reports a name taken meanwhile as already present."""
    from gallery_cli.s3import import Item, copy_item

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_s3,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket="race-photos")
    s3.upload_file(str(SAMPLES / "alpha.png"), "race-photos", "race.png")
    mine = e2e.uploads.blob("raced/race.png")
    mine.upload_from_string(b"uploaded by someone else first", content_type="image/png")
    generation = mine.generation
    # Listed while the name was free, written after someone else took it.
    item = Item("race.png", "raced/race.png", (SAMPLES / "alpha.png").stat().st_size, None, None, "copy")
    copy_item(s3, "race-photos", e2e.uploads, item, 64 * 1024 * 1024)
    assert (item.action, item.reason, item.error, item.generation) == ("skip", "already present", None, None)
    mine.reload()
    assert mine.generation == generation
    assert mine.download_as_bytes() == b"uploaded by someone else first"

    # The download is cut off at MAX_BYTES even when the listing said the object was small.
    item = Item("race.png", "raced/other.png", 10, None, None, "copy")
    copy_item(s3, "race-photos", e2e.uploads, item, 100)
    assert item.action == "skip" and item.reason and item.reason.startswith("larger than MAX_BYTES")
    assert not e2e.uploads.blob("raced/other.png").exists()


def test_import_reports_a_missing_bucket(
    e2e: Harness, moto_s3: str, gallery: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    env_file = e2e.stack.write_env_file(tmp_path / "stack.env")
    done = gallery(
        "import", "s3://no-such-bucket/x", "--endpoint-url", moto_s3, "--env-file", str(env_file), env=_clean_env(**AWS)
    )
    assert done.returncode == 2
    assert "NoSuchBucket" in done.stderr
