"""`gallery backfill` interrupted and resumed on the real emulators, counted message by message.

The function is not started and no push subscription exists: a pull subscription on the bulk topic, created
before the runs, receives every notification a backfill publishes, so the test counts exactly what was sent per
object. Some objects already have a ready document (what `status.classify` counts as done): they must never be
published. The runs use small listing pages (``--page-size``) so a few hundred objects make many pages.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from gallery.adapters.firestore_checkpoints import CHECKPOINTS_COLLECTION
from gallery.ids import photo_id
from gallery_cli.backfill_cursor import CheckpointKey
from gallery_devstack.stack import DevStack
from tests.cli import GALLERY
from tests.polling import wait_until

RESUME_HINT = "run the same command again to resume"


@pytest.fixture(scope="module")
def stack(devstack_factory: Callable[..., DevStack]) -> DevStack:
    return devstack_factory(start_function=False, create_push_subscription=False)


@pytest.fixture
def db(stack: DevStack, monkeypatch: pytest.MonkeyPatch) -> firestore.Client:
    monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", stack.firestore_emulator_host)
    return firestore.Client(project=stack.config.project, credentials=AnonymousCredentials())


class Gallery:
    """The console script attached to the stack through its env file, as a user runs it."""

    def __init__(self, stack: DevStack, folder: Path) -> None:
        self.env_file = stack.write_env_file(folder / "stack.env")
        self.folder = folder
        self.env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST")}
        self.env = {k: v for k, v in self.env.items() if not k.startswith("PUBSUB_")}

    def argv(self, *args: str) -> list[str]:
        return [str(GALLERY), "backfill", *args, "--env-file", str(self.env_file)]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=300, check=False
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.argv(*args),
            cwd=self.folder,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def json(self, *args: str) -> dict[str, Any]:
        done = self.run(*args, "--json")
        assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        result: dict[str, Any] = json.loads(done.stdout)
        return result


@pytest.fixture
def gallery(stack: DevStack, tmp_path: Path) -> Gallery:
    return Gallery(stack, tmp_path)


def _upload(stack: DevStack, names: list[str]) -> dict[str, int]:
    """Tiny objects; returns each one's generation."""
    bucket = stack.storage_client().bucket(stack.config.uploads_bucket)

    def put(name: str) -> tuple[str, int]:
        blob = bucket.blob(name)
        blob.upload_from_string(b"\xff\xd8\xff", content_type="image/jpeg")
        return name, int(blob.generation)

    with ThreadPoolExecutor(8) as pool:
        return dict(pool.map(put, names))


def _mark_done(stack: DevStack, db: firestore.Client, generations: dict[str, int], spec_version: str) -> None:
    """Ready documents of the current spec for these objects, as the function leaves them (the fields the
    classification reads)."""
    bucket = stack.config.uploads_bucket
    photos = db.collection(stack.config.photos_collection)
    now = datetime.now(UTC)
    batch = db.batch()
    for name, generation in generations.items():
        pid = photo_id(bucket, name)
        batch.set(
            photos.document(pid),
            {
                "photo_id": pid,
                "source": {"bucket": bucket, "name": name, "generation": generation},
                "status": "ready",
                "spec_version": spec_version,
                "attempts": 1,
                "error": None,
                "created_at": now,
                "updated_at": now,
            },
        )
    batch.commit()


@pytest.fixture
def bulk_subscription(stack: DevStack) -> Iterator[str]:
    """A pull subscription on the bulk topic, created before the backfill runs."""
    path = f"projects/{stack.config.project}/subscriptions/count-{uuid.uuid4().hex[:8]}"
    with stack.pubsub_admin() as (_, sub):
        sub.create_subscription(
            request={"name": path, "topic": stack.bulk_topic_path, "ack_deadline_seconds": 600}, timeout=10
        )
    try:
        yield path
    finally:
        with stack.pubsub_admin() as (_, sub):
            sub.delete_subscription(subscription=path, timeout=10)


def _published(stack: DevStack, subscription: str, prefix: str) -> Counter[str]:
    """How many notifications each object under `prefix` got: every message in the subscription, pulled and acked."""
    counts: Counter[str] = Counter()
    with stack.pubsub_admin() as (_, sub):
        while True:  # every publish was confirmed before the command exited: an empty pull means all are in
            response = sub.pull(request={"subscription": subscription, "max_messages": 1000}, timeout=2)
            received = response.received_messages
            if not received:
                break
            for m in received:
                attributes = m.message.attributes
                assert attributes["eventType"] == "OBJECT_FINALIZE" and attributes["galleryQueuedOn"] == "bulk"
                assert json.loads(m.message.data)["name"] == attributes["objectId"]
                counts[attributes["objectId"]] += 1
            sub.acknowledge(subscription=subscription, ack_ids=[m.ack_id for m in received])
    return Counter({name: n for name, n in counts.items() if name.startswith(prefix)})


def _checkpoint(db: firestore.Client, checkpoint_id: str) -> dict[str, Any]:
    snap = db.collection(CHECKPOINTS_COLLECTION).document(checkpoint_id).get()
    return snap.to_dict() or {} if snap.exists else {}


def _prepare(
    stack: DevStack, db: firestore.Client, gallery: Gallery, prefix: str, count: int, done_every: int
) -> tuple[set[str], set[str], str]:
    """`count` objects under `prefix` in three folders, every `done_every`-th one ready: (pending, done, spec)."""
    names = [f"{prefix}{folder}/{i:04d}.jpg" for i in range(count) for folder in ("a", "b", "c")][:count]
    generations = _upload(stack, names)
    first = gallery.json("--prefix", prefix, "--dry-run")
    assert (first["found"], first["states"]) == (count, {"unregistered": count})
    spec = str(first["spec_version"])
    done = {n for i, n in enumerate(sorted(names)) if i % done_every == 0}
    _mark_done(stack, db, {n: generations[n] for n in done}, spec)
    plan = gallery.json("--prefix", prefix, "--dry-run")
    assert (plan["found"], plan["already_done"], plan["queued"]) == (count, len(done), count - len(done))
    return set(names) - done, done, spec


def test_an_interrupted_backfill_resumes_and_publishes_each_pending_object_exactly_once(
    stack: DevStack, db: firestore.Client, gallery: Gallery, bulk_subscription: str
) -> None:
    prefix = "resume/"
    pending, done, _ = _prepare(stack, db, gallery, prefix, 300, 3)
    assert (len(pending), len(done)) == (200, 100)
    common = ("--prefix", prefix, "--rate", "0")

    # --limit stops the run; the checkpoint stays unfinished and says where.
    first = gallery.json(*common, "--page-size", "25", "--limit", "40")
    assert (first["stopped"], first["complete"], first["queued"], first["left_for_next_run"]) == (
        "limit",
        False,
        40,
        None,
    )
    checkpoint_id = first["checkpoint"]["id"]
    saved = _checkpoint(db, checkpoint_id)
    assert (saved["status"], saved["after"], saved["counters"]["queued"]) == (
        "stopped",
        first["checkpoint"]["after"],
        40,
    )
    assert first["checkpoint"]["after"].startswith(prefix)

    # A run resumes there and is stopped by SIGTERM once its checkpoint shows progress.
    running = gallery.start(*common[:2], "--rate", "5", "--page-size", "10", "--json")
    try:
        assert wait_until(
            lambda: (
                _checkpoint(db, checkpoint_id).get("counters", {}).get("queued", 0) >= 80
                and _checkpoint(db, checkpoint_id).get("status") == "running"
            ),
            timeout=120,
        ), running.stderr
        # The same backfill cannot run twice at once, even with --restart.
        for extra in ((), ("--restart",)):
            refused = gallery.run(*common, *extra)
            assert refused.returncode == 2, refused.stderr
            assert "the same backfill is running" in refused.stderr and "--restart does not change" in refused.stderr
        running.send_signal(signal.SIGTERM)
        stdout, stderr = running.communicate(timeout=120)
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 128 + signal.SIGTERM, stderr
    assert "resuming after" in stderr and "40 queued so far" in stderr
    assert "stopped by SIGTERM" in stderr and RESUME_HINT in stderr
    interrupted = json.loads(stdout)
    assert (interrupted["stopped"], interrupted["signal"], interrupted["resumed_after"]) == (
        "signal",
        "SIGTERM",
        first["checkpoint"]["after"],
    )
    assert interrupted["checkpoint"]["status"] == "stopped" and interrupted["queued"] >= 80
    saved = _checkpoint(db, checkpoint_id)
    assert (saved["status"], saved["after"]) == ("stopped", interrupted["checkpoint"]["after"])
    assert saved["counters"]["queued"] == interrupted["queued"]  # everything in flight settled before the last write

    # A dry run mentions the unfinished run and changes nothing.
    peek = gallery.run(*common, "--dry-run")
    assert peek.returncode == 0 and f"would resume after {saved['after']}" in peek.stderr
    assert _checkpoint(db, checkpoint_id)["updated_at"] == saved["updated_at"]

    # The next run finishes the listing.
    last = gallery.run(*common, "--page-size", "25", "--json")
    assert last.returncode == 0, last.stderr
    assert f"resuming after {saved['after']}" in last.stderr
    final = json.loads(last.stdout)
    assert (final["complete"], final["stopped"], final["left_for_next_run"]) == (True, None, 0)
    assert (final["found"], final["already_done"], final["queued"]) == (300, 100, 200)
    assert final["this_run"]["queued"] == 200 - interrupted["queued"]
    assert _checkpoint(db, checkpoint_id)["status"] == "done"

    published = _published(stack, bulk_subscription, prefix)
    assert set(published) == pending  # nothing skipped, no done object
    assert [n for n, times in published.items() if times != 1] == []  # each exactly once

    # A finished backfill starts over: a dry run mentions nothing and sees every object pending again (the
    # function did not run).
    again = gallery.run(*common, "--dry-run", "--json")
    assert "would resume" not in again.stderr and json.loads(again.stdout)["queued"] == 200


def test_a_killed_backfill_resumes_at_once_and_resends_only_what_followed_its_last_checkpoint(
    stack: DevStack, db: firestore.Client, gallery: Gallery, bulk_subscription: str
) -> None:
    prefix = "killed/"
    pending, _, spec = _prepare(stack, db, gallery, prefix, 150, 4)
    key = CheckpointKey(stack.config.uploads_bucket, prefix, stack.bulk_topic_path, spec, None, False)
    running = gallery.start("--prefix", prefix, "--rate", "20", "--page-size", "10", "--json")
    try:
        assert wait_until(lambda: _checkpoint(db, key.id).get("counters", {}).get("queued", 0) >= 30, timeout=120), (
            running.stderr
        )
    finally:
        running.kill()
        running.communicate(timeout=60)
    assert running.returncode == -signal.SIGKILL
    at_kill = _checkpoint(db, key.id)
    assert at_kill["status"] == "running"

    # The holder was a process of this machine that is gone: the next run takes the checkpoint over at once.
    resumed = gallery.run("--prefix", prefix, "--rate", "0", "--page-size", "10", "--json")
    assert resumed.returncode == 0, resumed.stderr
    assert "is gone; taking its checkpoint over" in resumed.stderr
    assert f"resuming after {at_kill['after']}" in resumed.stderr
    assert json.loads(resumed.stdout)["complete"] is True

    published = _published(stack, bulk_subscription, prefix)
    assert set(published) == pending  # nothing skipped, no done object
    repeated = {n for n, times in published.items() if times > 1}
    assert all(n > at_kill["after"] for n in repeated)  # only what was published after the last checkpoint write
    assert all(times <= 2 for times in published.values())


def test_shards_of_one_bucket_run_side_by_side_and_cover_it_once(
    stack: DevStack, db: firestore.Client, gallery: Gallery, bulk_subscription: str
) -> None:
    prefix = "shard/"
    pending, _, _ = _prepare(stack, db, gallery, prefix, 90, 5)
    bounds = [None, "shard/a/0010.jpg", "shard/b/0005.jpg", None]
    runs = []
    for start, end in pairwise(bounds):
        args = ["--prefix", prefix, "--rate", "0", "--page-size", "7", "--json"]
        args += ["--start-offset", start] if start else []
        args += ["--end-offset", end] if end else []
        runs.append(gallery.start(*args))
    results = []
    for run in runs:
        stdout, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
        results.append(json.loads(stdout))
    assert len({r["checkpoint"]["id"] for r in results}) == 3  # one checkpoint per shard
    assert sum(r["found"] for r in results) == 90 and sum(r["queued"] for r in results) == len(pending)
    assert results[1]["start_offset"] == "shard/a/0010.jpg" and results[1]["end_offset"] == "shard/b/0005.jpg"
    assert Counter(_published(stack, bulk_subscription, prefix)) == Counter(pending)
