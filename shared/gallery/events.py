"""Parse what Pub/Sub or Eventarc delivers into an `ObjectEvent`.

Accepted shapes:
- a Pub/Sub push envelope: `{"message": {"data", "attributes", "messageId", ...}, "subscription", "deliveryAttempt"}`;
- a CloudEvent `google.cloud.pubsub.topic.v1.messagePublished` in binary mode (`ce-*` headers, the envelope as
  body) or structured mode (`application/cloudevents+json`, the envelope under `data`);
- a CloudEvent `google.cloud.storage.object.v1.finalized|deleted` (Eventarc direct storage trigger).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from gallery.errors import BadEventError
from gallery.model import EventKind, ObjectEvent

PUBSUB_CLOUDEVENT = "google.cloud.pubsub.topic.v1.messagePublished"
_STORAGE_CLOUDEVENTS = {
    "google.cloud.storage.object.v1.finalized": "OBJECT_FINALIZE",
    "google.cloud.storage.object.v1.deleted": "OBJECT_DELETE",
}
_KINDS = {"OBJECT_FINALIZE": EventKind.FINALIZE, "OBJECT_DELETE": EventKind.DELETE}


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadEventError(f"the request body is not JSON: {err}") from err


def _int(value: Any, what: str, *, required: bool = False) -> int | None:
    if value in (None, ""):
        if required:
            raise BadEventError(f"{what} is missing")
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise BadEventError(f"{what} is not an integer: {value!r}") from err


def _object_resource(message: Mapping[str, Any]) -> dict[str, Any]:
    raw = message.get("data")
    if not raw:
        return {}
    try:
        decoded = json.loads(base64.b64decode(raw, validate=True))
    except (binascii.Error, ValueError):
        return {}  # payload format NONE or not JSON: the attributes carry what is needed
    return decoded if isinstance(decoded, dict) else {}


def parse_message(message: Mapping[str, Any], delivery_attempt: Any = None) -> ObjectEvent:
    """A Pub/Sub message (as in a push envelope) carrying a Cloud Storage notification."""
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise BadEventError("message.attributes is not an object")
    event_type = str(attributes.get("eventType") or "")
    if not event_type:
        raise BadEventError("message.attributes.eventType is missing: not a Cloud Storage notification")
    resource = _object_resource(message)
    bucket = attributes.get("bucketId") or resource.get("bucket")
    name = attributes.get("objectId") or resource.get("name")
    if not bucket or not name:
        raise BadEventError("the notification has no bucketId/objectId")
    generation = _int(
        attributes.get("objectGeneration") or resource.get("generation"), "objectGeneration", required=True
    )
    assert generation is not None
    return ObjectEvent(
        kind=_KINDS.get(event_type, EventKind.IGNORE),
        event_type=event_type,
        bucket=str(bucket),
        name=str(name),
        generation=generation,
        content_type=resource.get("contentType"),
        size=_int(resource.get("size"), "size"),
        overwritten_by_generation=_int(attributes.get("overwrittenByGeneration"), "overwrittenByGeneration"),
        overwrote_generation=_int(attributes.get("overwroteGeneration"), "overwroteGeneration"),
        event_time=attributes.get("eventTime"),
        message_id=message.get("messageId") or message.get("message_id"),
        delivery_attempt=_int(delivery_attempt, "deliveryAttempt"),
    )


def _from_envelope(envelope: Any) -> ObjectEvent:
    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("message"), Mapping):
        raise BadEventError("expected a Pub/Sub push envelope with a 'message' object")
    return parse_message(envelope["message"], envelope.get("deliveryAttempt"))


def _from_storage_cloudevent(event_type: str, data: Any) -> ObjectEvent:
    if not isinstance(data, Mapping):
        raise BadEventError("the storage CloudEvent has no object data")
    message = {
        "attributes": {
            "eventType": _STORAGE_CLOUDEVENTS[event_type],
            "bucketId": data.get("bucket"),
            "objectId": data.get("name"),
            "objectGeneration": data.get("generation"),
        },
        "data": base64.b64encode(json.dumps(dict(data)).encode()).decode(),
    }
    return parse_message(message)


def parse_request(headers: Mapping[str, str], body: bytes) -> ObjectEvent:
    """Parse an HTTP request delivered by a push subscription or by Eventarc."""
    lowered = {k.lower(): v for k, v in headers.items()}
    ce_type = lowered.get("ce-type")
    if ce_type:  # binary-mode CloudEvent: attributes in headers, data in the body
        if ce_type == PUBSUB_CLOUDEVENT:
            return _from_envelope(_json(body))
        if ce_type in _STORAGE_CLOUDEVENTS:
            return _from_storage_cloudevent(ce_type, _json(body))
        raise BadEventError(f"unsupported CloudEvent type {ce_type!r}")
    payload = _json(body)
    if lowered.get("content-type", "").startswith("application/cloudevents+json") or (
        isinstance(payload, Mapping) and "specversion" in payload
    ):
        event_type = payload.get("type")
        if event_type == PUBSUB_CLOUDEVENT:
            return _from_envelope(payload.get("data"))
        if event_type in _STORAGE_CLOUDEVENTS:
            return _from_storage_cloudevent(event_type, payload.get("data"))
        raise BadEventError(f"unsupported CloudEvent type {event_type!r}")
    return _from_envelope(payload)
