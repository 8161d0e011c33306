"""Priority lanes on the local stack, with a stub function that records each delivery: the bucket's notifications
arrive on the live lane, what the bulk commands publish on the bulk lane (or the live one with `--lane live`), each
through its own push subscription to its own function process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from gallery_devstack.stack import DevStack
from tests.cli import run_gallery
from tests.e2e.test_cli import AWS, moto_s3
from tests.integration.test_devstack import STUB_FUNCTION, _records, _wait


@pytest.fixture
def stub_stack(devstack_factory: Callable[..., DevStack], tmp_path: Path) -> tuple[DevStack, Path]:
    source = tmp_path / "main.py"
    source.write_text(STUB_FUNCTION)
    records = tmp_path / "records"
    records.mkdir()
    stack = devstack_factory(function_source=source, function_env={"STUB_RECORD_DIR": str(records)})
    return stack, records


__all__ = ["moto_s3"]  # the S3 server fixture


def _deliveries(records: Path) -> list[tuple[str, str]]:
    """(subscription, objectId) of every delivery so far."""
    return [
        (r["envelope"]["subscription"], r["envelope"]["message"]["attributes"].get("objectId", ""))
        for r in _records(records)
    ]


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_each_lane_delivers_its_topic_to_its_own_function_process(stub_stack: tuple[DevStack, Path]) -> None:
    stack, records = stub_stack
    env = stack.env()
    assert env["PUBSUB_BULK_TOPIC"] == stack.bulk_topic_path != env["PUBSUB_TOPIC"]
    assert env["LIVE_SUBSCRIPTION"] == stack.push_subscription_path
    assert env["BULK_SUBSCRIPTION"] == stack.bulk_push_subscription_path
    assert env["BULK_FUNCTION_URL"] == stack.bulk_function_url != env["FUNCTION_URL"]

    stack.storage_client().bucket(stack.config.uploads_bucket).blob("live.jpg").upload_from_string(b"\xff\xd8\xff")
    with stack.pubsub_admin() as (publisher, _):
        publisher.publish(
            topic=stack.bulk_topic_path, messages=[{"data": b"{}", "attributes": {"objectId": "bulk.jpg"}}]
        )
    assert _wait(lambda: len(_deliveries(records)) == 2)
    assert sorted(_deliveries(records)) == sorted(
        [(stack.push_subscription_path, "live.jpg"), (stack.bulk_push_subscription_path, "bulk.jpg")]
    )

    # Two processes from the same source: the bulk one with fewer request threads, at a lower CPU priority.
    live, bulk = stack.process("function"), stack.process("bulk_function")
    assert live is not None and bulk is not None and live.pid != bulk.pid
    assert live.argv == [*bulk.argv[: bulk.argv.index("--port") + 1], str(stack.function_port)]
    assert bulk.env["THREADS"] == str(stack.config.bulk_request_concurrency)
    assert "THREADS" not in live.env or int(live.env["THREADS"]) > stack.config.bulk_request_concurrency
    assert _nice(bulk.pid or 0) == _nice(live.pid or 0) + stack.config.bulk_nice > _nice(live.pid or 0)


def test_each_lane_has_its_own_retry_policy_and_dead_letters_to_the_shared_topic(
    stub_stack: tuple[DevStack, Path],
) -> None:
    stack, _ = stub_stack
    with stack.pubsub_admin() as (_, subscriber):
        subs: dict[str, Any] = {
            lane: subscriber.get_subscription(subscription=path)
            for lane, path in (("live", stack.push_subscription_path), ("bulk", stack.bulk_push_subscription_path))
        }
    c = stack.config
    assert subs["live"].topic == stack.topic_path and subs["bulk"].topic == stack.bulk_topic_path
    assert subs["bulk"].push_config.push_endpoint == stack.bulk_function_url
    for lane, (low, high) in {
        "live": (c.min_backoff_seconds, c.max_backoff_seconds),
        "bulk": (c.bulk_min_backoff_seconds, c.bulk_max_backoff_seconds),
    }.items():
        policy = subs[lane].retry_policy
        assert (policy.minimum_backoff.total_seconds(), policy.maximum_backoff.total_seconds()) == (low, high)
        assert subs[lane].dead_letter_policy.dead_letter_topic == stack.dead_letter_topic_path
        assert subs[lane].dead_letter_policy.max_delivery_attempts == c.max_delivery_attempts


def test_backfill_publishes_to_the_bulk_lane_unless_told_live(
    stub_stack: tuple[DevStack, Path], tmp_path: Path
) -> None:
    stack, records = stub_stack
    stack.storage_client().bucket(stack.config.uploads_bucket).blob("old.jpg").upload_from_string(b"\xff\xd8\xff")
    assert _wait(lambda: (stack.push_subscription_path, "old.jpg") in _deliveries(records))
    # The stub registers nothing, so the photo is still to do for backfill.
    run_gallery(stack, tmp_path, "backfill", "--json")
    assert _wait(lambda: (stack.bulk_push_subscription_path, "old.jpg") in _deliveries(records))
    run_gallery(stack, tmp_path, "backfill", "--json", "--lane", "live")
    assert _wait(lambda: _deliveries(records).count((stack.push_subscription_path, "old.jpg")) == 2)
    assert _deliveries(records).count((stack.bulk_push_subscription_path, "old.jpg")) == 1


def test_import_queues_its_copies_on_the_bulk_lane_unless_told_live(
    stub_stack: tuple[DevStack, Path], tmp_path: Path, moto_s3: str
) -> None:
    stack, records = stub_stack
    s3 = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1", aws_access_key_id="testing",
                      aws_secret_access_key="testing")  # fmt: skip
    s3.create_bucket(Bucket="lanes")
    s3.put_object(Bucket="lanes", Key="a.jpg", Body=b"\xff\xd8\xff")
    s3.put_object(Bucket="lanes", Key="b.jpg", Body=b"\xff\xd8\xff")
    uploads = stack.storage_client().bucket(stack.config.uploads_bucket)

    run_gallery(stack, tmp_path, "import", "s3://lanes/", "--endpoint-url", moto_s3, "--dest-prefix", "bulk/", **AWS)
    # The bucket notifies the live lane as for any upload (whose function leaves a bulk-marked copy alone), and the
    # import queues the copy on the bulk lane, marked as queued there.
    for name in ("bulk/a.jpg", "bulk/b.jpg"):
        assert _wait(lambda n=name: (stack.bulk_push_subscription_path, n) in _deliveries(records))
        assert uploads.get_blob(name).metadata == {"gallery-lane": "bulk"}
    queued = [r["envelope"]["message"] for r in _records(records)]
    marks = {(m["attributes"]["objectId"], m["attributes"].get("galleryQueuedOn")) for m in queued}
    assert marks == {("bulk/a.jpg", None), ("bulk/a.jpg", "bulk"), ("bulk/b.jpg", None), ("bulk/b.jpg", "bulk")}

    args = ("import", "s3://lanes/", "--endpoint-url", moto_s3, "--dest-prefix", "live/", "--lane", "live")
    run_gallery(stack, tmp_path, *args, **AWS)
    assert _wait(lambda: {n for _, n in _deliveries(records)} >= {"live/a.jpg", "live/b.jpg"})
    assert not any(n.startswith("live/") for s, n in _deliveries(records) if s == stack.bulk_push_subscription_path)
    assert uploads.get_blob("live/a.jpg").metadata is None  # an ordinary upload
