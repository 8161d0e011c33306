"""Parse what Pub/Sub or Eventarc delivers into an `ObjectEvent`.

Accepted shapes:
- a Pub/Sub push envelope: `{"message": {"data", "attributes", "messageId", ...}, "subscription", "deliveryAttempt"}`;
- a CloudEvent `google.cloud.pubsub.topic.v1.messagePublished` in binary mode (`ce-*` headers, the envelope as
  body) or structured mode (`application/cloudevents+json`, the envelope under `data`);
- a CloudEvent `google.cloud.storage.object.v1.finalized|deleted` (Eventarc direct storage trigger).

Anything else is a `BadEventError` (answered 400): not JSON, missing or mistyped fields, data that is not
base64 or not the object resource, a generation that is not a positive 64-bit integer, an object name that
Cloud Storage could not have (empty, over 1024 UTF-8 bytes, a carriage return or line feed, "." or "..",
under ".well-known/acme-challenge/"), an unknown event type. Other control characters are valid in Cloud
Storage names (discouraged, not refused), so they are left to the bucket check like any other name.
Parsing never trusts what it accepts: the service checks every state change against the bucket.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from gallery.errors import BadEventError
from gallery.model import LANES, QUEUED_ON_ATTRIBUTE, TASK_ATTRIBUTE, TASKS, EventKind, ObjectEvent

PUBSUB_CLOUDEVENT = "google.cloud.pubsub.topic.v1.messagePublished"
_STORAGE_CLOUDEVENTS = {
    "google.cloud.storage.object.v1.finalized": "OBJECT_FINALIZE",
    "google.cloud.storage.object.v1.deleted": "OBJECT_DELETE",
}
_KINDS = {"OBJECT_FINALIZE": EventKind.FINALIZE, "OBJECT_DELETE": EventKind.DELETE}
# Cloud Storage's notification event types; the two above are acted on, the others acknowledged and ignored.
EVENT_TYPES = frozenset({*_KINDS, "OBJECT_METADATA_UPDATE", "OBJECT_ARCHIVE"})
MAX_GENERATION = 2**63 - 1  # generations are signed 64-bit integers
MAX_NAME_BYTES = 1024  # Cloud Storage's limit on object names, in UTF-8 bytes
MAX_BUCKET_CHARS = 222
_DIGITS = re.compile(r"[0-9]{1,19}")


def _json(body: bytes) -> Any:
    try:
        return json.loads(body or b"null")
    except RecursionError as err:
        raise BadEventError("the request body is JSON nested too deeply") from err
    except (UnicodeDecodeError, ValueError) as err:  # JSONDecodeError, and ints over Python's digit limit
        raise BadEventError(f"the request body is not JSON: {err}") from err


def _number(value: Any, what: str, *, minimum: int, required: bool = False) -> int | None:
    """A decimal string or JSON integer between `minimum` and 2**63-1 (Cloud Storage sends int64 as strings)."""
    if value is None or value == "":
        if required:
            raise BadEventError(f"{what} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadEventError(f"{what} is not an integer: {str(value)[:40]!r}")
    if isinstance(value, str) and not _DIGITS.fullmatch(value):
        raise BadEventError(f"{what} is not a 64-bit integer: {value[:40]!r}")
    number = int(value)
    if not minimum <= number <= MAX_GENERATION:
        raise BadEventError(f"{what} is out of range ({minimum}..2**63-1): {str(value)[:40]}")
    return number


def _text(value: Any, what: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadEventError(f"{what} is not a string")
    return value


def object_name(value: Any) -> str:
    """An object name Cloud Storage could have: 1-1024 UTF-8 bytes, no CR or LF, not . or .., not ACME's."""
    name = _text(value, "the object name")
    if name is None:
        raise BadEventError("the notification has no object name")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError as err:
        raise BadEventError("the object name is not valid UTF-8") from err
    if size > MAX_NAME_BYTES:
        raise BadEventError(f"the object name is {size} bytes, over Cloud Storage's {MAX_NAME_BYTES}")
    if "\r" in name or "\n" in name:
        raise BadEventError("the object name contains a carriage return or line feed")
    if name in (".", "..") or name.startswith(".well-known/acme-challenge/"):
        raise BadEventError(f"{name[:60]!r} is not a valid object name")
    return name


def bucket_name(value: Any) -> str:
    bucket = _text(value, "the bucket name")
    if bucket is None:
        raise BadEventError("the notification has no bucket")
    if len(bucket) > MAX_BUCKET_CHARS or not bucket.isprintable():
        raise BadEventError("the bucket name is not a bucket name")
    return bucket


def _object_resource(message: Mapping[str, Any], attributes: Mapping[str, Any]) -> dict[str, Any]:
    """The object resource in the message data (payload format JSON_API_V1), or {} when there is none."""
    raw = message.get("data")
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        raise BadEventError("message.data is not a base64 string")
    try:
        decoded = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as err:
        raise BadEventError("message.data is not base64") from err
    if attributes.get("payloadFormat", "JSON_API_V1") != "JSON_API_V1":
        return {}  # payload format NONE: the attributes carry what is needed
    resource = _json(decoded)
    if not isinstance(resource, dict):
        raise BadEventError("message.data is not a JSON object resource")
    return resource


def _agree(attribute: Any, resource: Any, what: str) -> Any:
    """The attribute, or the resource's field when the attribute is absent; both present must agree."""
    if attribute in (None, "") or resource in (None, ""):
        return resource if attribute in (None, "") else attribute
    if str(attribute) != str(resource):
        raise BadEventError(
            f"the attributes and the object resource disagree on the {what}: "
            f"{str(attribute)[:40]!r} != {str(resource)[:40]!r}"
        )
    return attribute


def _custom_metadata(resource: Mapping[str, Any]) -> dict[str, str] | None:
    """The object's custom metadata; None when there is no object resource to read it from."""
    if not resource:
        return None
    metadata = resource.get("metadata")
    if not isinstance(metadata, Mapping):
        return {}
    return {k: v for k, v in metadata.items() if isinstance(k, str) and isinstance(v, str)}


def parse_message(message: Mapping[str, Any], delivery_attempt: Any = None) -> ObjectEvent:
    """A Pub/Sub message (as in a push envelope) carrying a Cloud Storage notification."""
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise BadEventError("message.attributes is not an object")
    if not all(isinstance(v, str) for v in attributes.values()):
        raise BadEventError("message.attributes values must be strings")
    event_type = attributes.get("eventType") or ""
    if not event_type:
        raise BadEventError("message.attributes.eventType is missing: not a Cloud Storage notification")
    if event_type not in EVENT_TYPES:
        raise BadEventError(f"unknown Cloud Storage event type {event_type[:60]!r}")
    resource = _object_resource(message, attributes)
    bucket = bucket_name(_agree(attributes.get("bucketId"), resource.get("bucket"), "bucket"))
    name = object_name(_agree(attributes.get("objectId"), resource.get("name"), "object name"))
    generation = _number(
        _agree(attributes.get("objectGeneration"), resource.get("generation"), "generation"),
        "objectGeneration",
        minimum=1,
        required=True,
    )
    assert generation is not None
    message_id = message.get("messageId") or message.get("message_id")
    try:
        attempt = _number(delivery_attempt, "deliveryAttempt", minimum=0)
    except BadEventError:
        attempt = None  # informational only
    return ObjectEvent(
        kind=_KINDS.get(event_type, EventKind.IGNORE),
        event_type=event_type,
        bucket=bucket,
        name=name,
        generation=generation,
        content_type=_text(resource.get("contentType"), "contentType"),
        size=_number(resource.get("size"), "size", minimum=0),
        overwritten_by_generation=_number(
            attributes.get("overwrittenByGeneration"), "overwrittenByGeneration", minimum=1
        ),
        overwrote_generation=_number(attributes.get("overwroteGeneration"), "overwroteGeneration", minimum=1),
        event_time=attributes.get("eventTime"),
        message_id=str(message_id)[:100] if message_id else None,
        delivery_attempt=attempt,
        metadata=_custom_metadata(resource),
        queued_on=lane if (lane := attributes.get(QUEUED_ON_ATTRIBUTE)) in LANES else None,
        task=task if (task := attributes.get(TASK_ATTRIBUTE)) in TASKS else None,
    )


def dead_letter_delivery_count(message: Mapping[str, Any]) -> int | None:
    """How many deliveries Pub/Sub made before dead-lettering (its `CloudPubSubDeadLetterSourceDeliveryCount`)."""
    attributes = message.get("attributes") or {}
    try:
        return _number(attributes.get("CloudPubSubDeadLetterSourceDeliveryCount"), "delivery count", minimum=1)
    except BadEventError:
        return None


def _message(envelope: Any) -> tuple[Mapping[str, Any], Any]:
    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("message"), Mapping):
        raise BadEventError("expected a Pub/Sub push envelope with a 'message' object")
    return envelope["message"], envelope.get("deliveryAttempt")


def _from_storage_cloudevent(event_type: str, data: Any) -> ObjectEvent:
    if not isinstance(data, Mapping):
        raise BadEventError("the storage CloudEvent has no object data")
    for key in ("bucket", "name", "generation"):
        if not isinstance(data.get(key), str | int) or isinstance(data.get(key), bool):
            raise BadEventError(f"the storage CloudEvent's data has no valid {key!r}")
    message = {
        "attributes": {
            "eventType": _STORAGE_CLOUDEVENTS[event_type],
            "bucketId": str(data["bucket"]),
            "objectId": str(data["name"]),
            "objectGeneration": str(data["generation"]),
        },
        "data": base64.b64encode(json.dumps(dict(data)).encode()).decode(),
    }
    return parse_message(message)


def _cloudevent_type(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise BadEventError("the CloudEvent has no type")
    if value != PUBSUB_CLOUDEVENT and value not in _STORAGE_CLOUDEVENTS:
        raise BadEventError(f"unsupported CloudEvent type {value[:80]!r}")
    return value


def parse_delivery(headers: Mapping[str, str], body: bytes) -> tuple[ObjectEvent, Mapping[str, Any]]:
    """Parse an HTTP request delivered by a push subscription or by Eventarc.

    Returns the event and the Pub/Sub message it came in (empty for a storage CloudEvent).
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    if "ce-type" in lowered:  # binary-mode CloudEvent: attributes in headers, data in the body
        ce_type = _cloudevent_type(lowered["ce-type"])
        payload = _json(body)
        if ce_type == PUBSUB_CLOUDEVENT:
            message, attempt = _message(payload)
            return parse_message(message, attempt), message
        return _from_storage_cloudevent(ce_type, payload), {}
    payload = _json(body)
    if lowered.get("content-type", "").startswith("application/cloudevents+json") or (
        isinstance(payload, Mapping) and "specversion" in payload
    ):
        if not isinstance(payload, Mapping):
            raise BadEventError("a structured CloudEvent must be a JSON object")
        event_type = _cloudevent_type(payload.get("type"))
        if event_type == PUBSUB_CLOUDEVENT:
            message, attempt = _message(payload.get("data"))
            return parse_message(message, attempt), message
        return _from_storage_cloudevent(event_type, payload.get("data")), {}
    message, attempt = _message(payload)
    return parse_message(message, attempt), message


def parse_request(headers: Mapping[str, str], body: bytes) -> ObjectEvent:
    """Parse an HTTP request delivered by a push subscription or by Eventarc into its event."""
    return parse_delivery(headers, body)[0]


def finalize_notification(
    resource: Mapping[str, Any], lane: str, event_time: str | None = None, **extra: str
) -> tuple[bytes, dict[str, str]]:
    """Data and attributes of the ``OBJECT_FINALIZE`` notification (payload ``JSON_API_V1``) Cloud Storage would
    publish for an object resource, marked as queued on `lane` (by a tool, or by the function re-queuing a dead
    letter); `extra` attributes are added as they are."""
    when = event_time or str(resource.get("updated") or resource.get("timeCreated") or "")
    if not when:
        when = datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    attributes = {
        "eventType": "OBJECT_FINALIZE",
        "bucketId": str(resource["bucket"]),
        "objectId": str(resource["name"]),
        "objectGeneration": str(resource["generation"]),
        "payloadFormat": "JSON_API_V1",
        "eventTime": when,
        QUEUED_ON_ATTRIBUTE: lane,
        **extra,
    }
    return json.dumps(dict(resource), separators=(",", ":")).encode(), attributes
