"""The generated input corpus dropped into the real local stack: each file ends as its expected outcome."""

from __future__ import annotations

import time
import uuid

from gallery.engine.vips import pyvips
from tests.corpus import Failed, Ready, corpus, too_large
from tests.e2e.conftest import Harness
from tests.paths import ORIENTATION

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def _settled(doc: dict[str, object] | None) -> bool:
    return doc is not None and doc.get("status") in ("ready", "failed")


def test_every_input_ends_ready_or_failed_with_its_code(e2e: Harness) -> None:
    prefix = f"inputs-{uuid.uuid4().hex[:8]}/"
    cases = [*corpus(), too_large(DEFAULT_MAX_BYTES + 1)]
    for item in cases:
        e2e.upload(prefix + item.name, item.data, item.content_type)
    deadline = time.monotonic() + 120
    outcomes: dict[str, dict[str, object]] = {}
    for item in cases:
        doc = e2e.wait_doc(prefix + item.name, _settled, timeout=max(1.0, deadline - time.monotonic()))
        assert doc is not None
        outcomes[item.name] = doc
    wrong = []
    for item in cases:
        doc = outcomes[item.name]
        expect = item.expect
        if isinstance(expect, Ready):
            got: object = (doc["status"], doc.get("format"), doc.get("width"), doc.get("height"), doc.get("has_alpha"))
            want: object = ("ready", expect.format, expect.width, expect.height, expect.alpha)
        else:
            assert isinstance(expect, Failed)
            got = (doc["status"], (doc.get("error") or {}).get("code"))  # type: ignore[attr-defined]
            want = ("failed", expect.code)
        if got != want:
            wrong.append((item.name, got, want, doc.get("error")))
    assert wrong == []
    for item in cases:
        doc = outcomes[item.name]
        names = e2e.rendition_names(prefix + item.name)
        if isinstance(item.expect, Failed):
            assert names == set(), item.name  # nothing half-written
            assert doc["renditions"] == [] and doc["error"]["reason"]  # type: ignore[index]
        else:
            assert names == {r["path"] for r in doc["renditions"]}, item.name  # type: ignore[attr-defined]
    # The animated GIF is rendered from its first frame (the photo), not its second (the negative).
    gif = outcomes["gif_animated.gif"]
    blob = e2e.renditions.get_blob(gif["renditions"][0]["path"])  # type: ignore[index]
    rendition = pyvips.Image.new_from_buffer(blob.download_as_bytes(), "")
    first = pyvips.Image.new_from_file(str(ORIENTATION / "landscape_1.jpg")).thumbnail_image(rendition.width)
    assert abs(rendition[0:3].avg() - first.avg()) < abs(rendition[0:3].avg() - first.invert().avg())
    assert e2e.dead_letters() == []
