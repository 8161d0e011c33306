"""Parsing push envelopes and CloudEvents into object events."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gallery.errors import BadEventError
from gallery.events import parse_request
from gallery.model import EventKind


def message(event_type: str = "OBJECT_FINALIZE", **attrs: str) -> dict[str, Any]:
    resource = {"bucket": "up", "name": "a/b.jpg", "generation": "17", "contentType": "image/jpeg", "size": "1234"}
    return {
        "data": base64.b64encode(json.dumps(resource).encode()).decode(),
        "attributes": {
            "eventType": event_type,
            "bucketId": "up",
            "objectId": "a/b.jpg",
            "objectGeneration": "17",
            "payloadFormat": "JSON_API_V1",
            **attrs,
        },
        "messageId": "m1",
        "publishTime": "2026-01-01T00:00:00Z",
    }


def push(msg: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"message": msg, "subscription": "projects/p/subscriptions/s", **extra}).encode()


def test_push_envelope_finalize() -> None:
    event = parse_request({"Content-Type": "application/json"}, push(message(), deliveryAttempt=3))
    assert event.kind is EventKind.FINALIZE
    assert (event.bucket, event.name, event.generation) == ("up", "a/b.jpg", 17)
    assert (event.content_type, event.size, event.message_id, event.delivery_attempt) == ("image/jpeg", 1234, "m1", 3)


def test_overwrite_attributes_are_kept() -> None:
    delete = parse_request({}, push(message("OBJECT_DELETE", overwrittenByGeneration="18")))
    assert delete.kind is EventKind.DELETE and delete.is_overwrite_delete
    assert delete.overwritten_by_generation == 18
    final = parse_request({}, push(message(overwroteGeneration="16")))
    assert final.overwrote_generation == 16 and not final.is_overwrite_delete


def test_the_lane_a_tool_queued_a_notification_on_is_kept_and_nothing_else() -> None:
    assert parse_request({}, push(message())).queued_on is None  # the bucket's own notification
    assert parse_request({}, push(message(galleryQueuedOn="bulk"))).queued_on == "bulk"
    assert parse_request({}, push(message(galleryQueuedOn="live"))).queued_on == "live"
    assert parse_request({}, push(message(galleryQueuedOn="express"))).queued_on is None


def test_plain_delete_is_a_deregistration() -> None:
    event = parse_request({}, push(message("OBJECT_DELETE")))
    assert event.kind is EventKind.DELETE and not event.is_overwrite_delete


@pytest.mark.parametrize("event_type", ["OBJECT_METADATA_UPDATE", "OBJECT_ARCHIVE"])
def test_other_event_types_are_ignored(event_type: str) -> None:
    assert parse_request({}, push(message(event_type))).kind is EventKind.IGNORE


def test_payload_format_none_uses_attributes_only() -> None:
    msg = message()
    msg["data"] = ""
    event = parse_request({}, push(msg))
    assert (event.bucket, event.name, event.generation, event.size) == ("up", "a/b.jpg", 17, None)


def test_binary_cloudevent() -> None:
    headers = {
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-specversion": "1.0",
        "ce-source": "//pubsub.googleapis.com/projects/p/topics/t",
        "ce-id": "1",
        "Content-Type": "application/json",
    }
    event = parse_request(headers, push(message()))
    assert event.kind is EventKind.FINALIZE and event.generation == 17


def test_structured_cloudevent() -> None:
    body = {
        "specversion": "1.0",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "source": "//pubsub.googleapis.com/projects/p/topics/t",
        "id": "1",
        "data": {"message": message("OBJECT_DELETE"), "subscription": "s"},
    }
    event = parse_request({"Content-Type": "application/cloudevents+json"}, json.dumps(body).encode())
    assert event.kind is EventKind.DELETE


def test_storage_cloudevent_from_eventarc() -> None:
    headers = {"ce-type": "google.cloud.storage.object.v1.finalized", "ce-specversion": "1.0"}
    data = {"bucket": "up", "name": "x.jpg", "generation": "5", "contentType": "image/jpeg", "size": "9"}
    event = parse_request(headers, json.dumps(data).encode())
    assert (event.kind, event.name, event.generation, event.size) == (EventKind.FINALIZE, "x.jpg", 5, 9)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"message": "x"}',
        json.dumps({"message": {"attributes": {}}}).encode(),
        json.dumps({"message": {"attributes": {"eventType": "OBJECT_FINALIZE", "bucketId": "b"}}}).encode(),
        json.dumps(
            {
                "message": {
                    "attributes": {
                        "eventType": "OBJECT_FINALIZE",
                        "bucketId": "b",
                        "objectId": "o",
                        "objectGeneration": "x",
                    }
                }
            }
        ).encode(),
    ],
)
def test_malformed_deliveries_are_bad_events(body: bytes) -> None:
    with pytest.raises(BadEventError):
        parse_request({}, body)


def test_unknown_cloudevent_type_is_refused() -> None:
    with pytest.raises(BadEventError):
        parse_request({"ce-type": "com.example.other"}, b"{}")
