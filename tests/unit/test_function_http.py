"""The entry point through functions-framework's own app: every delivery shape, every malformed delivery.

`functions_framework.create_app` loads functions/thumbnailer/main.py exactly as the deployed function does;
the service (built from in-memory fakes) and the settings go into the Flask app's config, the entry point's
documented seam, so nothing is patched.
"""

from __future__ import annotations

import base64
import io
import json
import sys
from collections.abc import Iterator
from typing import Any

import functions_framework
import pytest
from flask.testing import FlaskClient

from gallery.errors import BadEventError, TransientError
from gallery.settings import Settings
from tests.paths import ROOT
from tests.unit.test_service import BUCKET, NAME, PHOTO, World

MAIN = ROOT / "functions" / "thumbnailer" / "main.py"
LIMIT = 64 * 1024
GEN = 7


@pytest.fixture(scope="module")
def app() -> Any:
    return functions_framework.create_app("handle", str(MAIN))


@pytest.fixture
def world(app: Any) -> Iterator[World]:
    world = World()
    world.upload(GEN)
    app.config["GALLERY_SERVICE"] = world.service
    app.config["GALLERY_SETTINGS"] = Settings(
        uploads_bucket=BUCKET, renditions_bucket="renditions", max_request_bytes=LIMIT
    )
    yield world
    app.config.pop("GALLERY_SERVICE")
    app.config.pop("GALLERY_SETTINGS")


@pytest.fixture
def client(app: Any, world: World) -> FlaskClient:
    return app.test_client()  # type: ignore[no-any-return]


def resource(**over: Any) -> dict[str, Any]:
    return {"bucket": BUCKET, "name": NAME, "generation": str(GEN), "contentType": "image/jpeg", **over}


def message(event_type: str = "OBJECT_FINALIZE", data: Any = None, **attrs: Any) -> dict[str, Any]:
    attributes = {
        "eventType": event_type,
        "bucketId": BUCKET,
        "objectId": NAME,
        "objectGeneration": str(GEN),
        "payloadFormat": "JSON_API_V1",
        **attrs,
    }
    if data is None:
        data = base64.b64encode(json.dumps(resource(name=attributes["objectId"])).encode()).decode()
    return {"data": data, "attributes": attributes, "messageId": "1", "publishTime": "2026-01-01T00:00:00Z"}


def envelope(msg: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"message": msg or message(), "subscription": "projects/p/subscriptions/s"}).encode()


PUBSUB_CE = "google.cloud.pubsub.topic.v1.messagePublished"
STORAGE_CE = "google.cloud.storage.object.v1.finalized"


def binary_ce(ce_type: str) -> dict[str, str]:
    return {"ce-type": ce_type, "ce-specversion": "1.0", "ce-source": "//x", "ce-id": "1"}


def structured(ce_type: Any, data: Any) -> bytes:
    return json.dumps({"specversion": "1.0", "type": ce_type, "source": "//x", "id": "1", "data": data}).encode()


# --------------------------------------------------------------------------------------------- delivery shapes

SHAPES: dict[str, tuple[dict[str, str], bytes]] = {
    "push envelope": ({"Content-Type": "application/json"}, envelope()),
    "binary pubsub CloudEvent": (binary_ce(PUBSUB_CE), envelope()),
    "structured pubsub CloudEvent": (
        {"Content-Type": "application/cloudevents+json"},
        structured(PUBSUB_CE, {"message": message(), "subscription": "s"}),
    ),
    "binary storage CloudEvent": (binary_ce(STORAGE_CE), json.dumps(resource()).encode()),
    "structured storage CloudEvent": (
        {"Content-Type": "application/cloudevents+json"},
        structured(STORAGE_CE, resource()),
    ),
}


@pytest.mark.parametrize("shape", SHAPES)
def test_every_delivery_shape_registers_the_photo(shape: str, client: FlaskClient, world: World) -> None:
    headers, body = SHAPES[shape]
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {"outcome": "registered"}
    doc = world.doc()
    assert doc is not None and doc["status"] == "ready" and doc["source"]["generation"] == GEN  # type: ignore[index]
    again = client.post("/", data=body, headers=headers)
    assert again.status_code == 200 and again.get_json() == {"outcome": "duplicate"}


def test_other_buckets_and_event_types_are_acknowledged_and_ignored(client: FlaskClient, world: World) -> None:
    other = message(bucketId="renditions", data=base64.b64encode(b'{"bucket": "renditions"}').decode())
    for body in (envelope(other), envelope(message("OBJECT_METADATA_UPDATE"))):
        response = client.post("/", data=body)
        assert response.status_code == 200 and response.get_json() == {"outcome": "ignored"}
    assert world.registry.docs == {}


def test_a_forged_generation_is_acknowledged_as_stale(client: FlaskClient, world: World) -> None:
    forged = message(objectGeneration=str(GEN + 1), data="")
    response = client.post("/", data=envelope(forged))
    assert response.status_code == 200 and response.get_json() == {"outcome": "stale"}
    assert world.registry.docs == {} and world.sources.downloads == 0


def test_an_unreachable_bucket_answers_503(client: FlaskClient, world: World) -> None:
    world.sources.fail_stat.append(TransientError("storage unavailable", code="dependency_unavailable"))
    response = client.post("/", data=envelope())
    assert response.status_code == 503 and response.get_json()["error"] == "dependency_unavailable"


def test_dead_letters_are_requeued_then_recorded_on_their_own_path(client: FlaskClient, world: World) -> None:
    dead = message(CloudPubSubDeadLetterSourceDeliveryCount="5")
    response = client.post("/dead-letters", data=envelope(dead))
    assert response.status_code == 200 and response.get_json() == {"outcome": "requeued"}  # once, on the bulk lane
    assert len(world.queue.published) == 1
    response = client.post("/dead-letters", data=envelope(dead))
    assert response.status_code == 200 and response.get_json() == {"outcome": "failed"}
    doc = world.doc()
    assert doc is not None and doc["error"]["code"] == "dead_lettered"  # type: ignore[index]
    assert "5 deliveries" in doc["error"]["reason"]  # type: ignore[index]
    assert world.sources.downloads == 0


def test_names_cloud_storage_allows_are_left_to_the_bucket_check(client: FlaskClient, world: World) -> None:
    # Control characters other than CR/LF are valid (if discouraged) in Cloud Storage names: such a photo
    # exists for real, so it is processed; a message naming one that does not exist is merely stale.
    odd = "odd\x1b[31mname\x07\x00.jpg"
    world.sources.put(BUCKET, odd, GEN, PHOTO)
    response = client.post("/", data=envelope(message(objectId=odd)))
    assert response.status_code == 200 and response.get_json() == {"outcome": "registered"}
    missing = client.post("/", data=envelope(message(objectId="missing\x1b.jpg")))
    assert missing.status_code == 200 and missing.get_json() == {"outcome": "stale"}


def test_unknown_paths_answer_404(client: FlaskClient) -> None:
    response = client.post("/anything", data=envelope())
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


# --------------------------------------------------------------------------------------------- malformed


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def with_name(name: str) -> bytes:
    return envelope(message(objectId=name, data=""))


def with_generation(value: Any) -> bytes:
    return envelope(message(objectGeneration=value, data=""))


MALFORMED: dict[str, tuple[dict[str, str], bytes]] = {
    "not JSON": ({}, b"not json"),
    "empty body": ({}, b""),
    "JSON that is not an object": ({}, b"[1, 2]"),
    "no message": ({}, b"{}"),
    "message is not an object": ({}, b'{"message": "x"}'),
    "no attributes": ({}, envelope({"data": ""})),
    "no object name": ({}, envelope({"attributes": {"eventType": "OBJECT_FINALIZE", "bucketId": BUCKET}})),
    "no generation": ({}, envelope(message(objectGeneration="", data=""))),
    "unknown event type": ({}, envelope(message("OBJECT_EXPLODED"))),
    "attribute that is not a string": ({}, envelope(message(objectGeneration=7))),
    "data not base64": ({}, envelope(message(data="%%% not base64 %%%"))),
    "data not JSON": ({}, envelope(message(data=b64(b"\x00\x01 binary")))),
    "data JSON but not an object": ({}, envelope(message(data=b64(b"[1]")))),
    "attributes and data disagree": ({}, envelope(message(data=b64(json.dumps(resource(generation="8")).encode())))),
    "generation -1": ({}, with_generation("-1")),
    "generation 0": ({}, with_generation("0")),
    "generation 2**63": ({}, with_generation(str(2**63))),
    "generation beyond 64 bits": ({}, with_generation(str(2**64 + 5))),
    "generation with 5000 digits": ({}, with_generation("9" * 5000)),
    "generation 1.5": ({}, with_generation("1.5")),
    "generation 1e3": ({}, with_generation("1e3")),
    "name of 1500 bytes": ({}, with_name("a" * 1500)),
    "name of 1025 UTF-8 bytes": ({}, with_name("é" * 512 + "a")),
    "name with a line feed": ({}, with_name("a\nb.jpg")),
    "name with a carriage return": ({}, with_name("a\rb.jpg")),
    "name under .well-known/acme-challenge/": ({}, with_name(".well-known/acme-challenge/x")),
    "name ..": ({}, with_name("..")),
    "name not UTF-8 (lone surrogate)": ({}, b'{"message": {"attributes": {"eventType": "OBJECT_FINALIZE", '
                                         b'"bucketId": "uploads", "objectId": "\\ud800", "objectGeneration": "7"}}}'),
    "JSON nested too deeply": ({}, b"[" * 50_000),
    "unknown CloudEvent type": (binary_ce("com.example.other"), envelope()),
    "binary pubsub CloudEvent without an envelope": (binary_ce(PUBSUB_CE), b'{"data": 1}'),
    "binary storage CloudEvent without data": (binary_ce(STORAGE_CE), b"null"),
    "storage CloudEvent with a bad generation": (binary_ce(STORAGE_CE), json.dumps(resource(generation="x")).encode()),
    "storage CloudEvent without a name": (binary_ce(STORAGE_CE), json.dumps({"bucket": BUCKET, "generation": 1}).encode()),  # noqa: E501
    "structured CloudEvent without a type": ({"Content-Type": "application/cloudevents+json"}, structured(None, {})),
    "structured CloudEvent that is a list": ({"Content-Type": "application/cloudevents+json"}, b"[]"),
    "structured pubsub CloudEvent with string data": (
        {"Content-Type": "application/cloudevents+json"},
        structured(PUBSUB_CE, "x"),
    ),
    "body over the cap (2 MB)": ({}, envelope(message(data=b64(b" " * 2_000_000)))),
}  # fmt: skip


@pytest.mark.parametrize("case", MALFORMED)
def test_every_malformed_delivery_answers_400_with_a_json_error_and_changes_nothing(
    case: str, client: FlaskClient, world: World
) -> None:
    headers, body = MALFORMED[case]
    response = client.post("/", data=body, headers=headers)
    assert response.status_code == 400, (case, response.status_code, response.get_data(as_text=True)[:300])
    payload = response.get_json()
    assert payload["error"] == "bad_event" and payload["reason"]
    # Already dead-lettered (the pull subscription keeps it): acknowledged with the error, never pushed again.
    dead = client.post("/dead-letters", data=body, headers=headers)
    assert dead.status_code == 200 and dead.get_json()["error"] == "bad_event", case
    assert dead.get_json()["outcome"] == "ignored"
    assert world.registry.docs == {} and world.sources.downloads == 0 and world.sources.stats == 0


def test_a_body_over_the_cap_is_refused_without_content_length(client: FlaskClient) -> None:
    body = envelope(message(data=b64(b" " * (LIMIT + 10))))
    response = client.post(
        "/",
        input_stream=io.BytesIO(body),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 400 and "limit" in response.get_json()["reason"]


def test_a_body_under_the_cap_without_content_length_is_read(client: FlaskClient, world: World) -> None:
    response = client.post(
        "/",
        input_stream=io.BytesIO(envelope()),
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True},
    )
    assert response.status_code == 200 and response.get_json() == {"outcome": "registered"}


def test_a_content_length_over_the_cap_is_refused_before_reading(app: Any) -> None:
    class Unreadable(io.RawIOBase):
        def read(self, size: int = -1) -> bytes:
            raise AssertionError("the body was read")

    read_body = sys.modules["main"].read_body  # the module create_app loaded
    with pytest.raises(BadEventError, match="over the 65536-byte limit"):
        read_body(Unreadable(), LIMIT + 1, LIMIT)
    assert read_body(io.BytesIO(b"{}"), None, LIMIT) == b"{}"


def test_the_photo_itself_is_in_the_bucket_not_the_message(client: FlaskClient, world: World) -> None:
    assert len(PHOTO) > LIMIT  # the cap bounds notifications, never photos
    assert client.post("/", data=envelope()).status_code == 200
