"""Videos and Live Photos on the real local stack: upload → Firestore → the renditions bucket, and the CLI's view.

An H.264 MP4 with sound and a portrait HEVC MOV stored sideways become ready videos whose moving preview is an MP4
in the renditions bucket (upright for the rotated one); a truncated MOV fails as `corrupt_video`. A Live Photo
(a still and a MOV of the same name in one folder) becomes one item whichever part arrives first, and deleting
either part leaves the other on its own.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av

from gallery.ids import photo_id
from gallery.live_photo import shown_in_gallery
from tests.cli import run_gallery
from tests.e2e.conftest import Harness
from tests.paths import ORIENTATION, SAMPLES
from tests.video_files import Clip, make_video, truncated

Doc = dict[str, Any] | None
TIMEOUT = 120.0


def _ready(doc: Doc) -> bool:
    return doc is not None and doc["status"] == "ready"


def _has(key: str) -> Callable[[Doc], bool]:
    return lambda doc: _ready(doc) and bool((doc or {}).get(key))


def _lacks(key: str) -> Callable[[Doc], bool]:
    return lambda doc: _ready(doc) and not (doc or {}).get(key)


def _motion_file(e2e: Harness, doc: dict[str, Any]) -> av.container.InputContainer:
    """The video's moving preview, read back from the renditions bucket: an MP4 (checked) opened with PyAV."""
    motion = doc["motion"]
    assert motion["content_type"] == "video/mp4" and motion["url"].endswith("/" + motion["path"])
    blob = e2e.renditions.get_blob(motion["path"])
    assert blob is not None, f"{motion['path']} is not in the renditions bucket"
    assert blob.content_type == "video/mp4"
    data = blob.download_as_bytes()
    assert len(data) == motion["bytes"] and data[4:8] == b"ftyp"
    container = av.open(io.BytesIO(data), format="mp4")
    assert container.streams.video[0].codec_context.name == "h264"
    return container


def _listed_kinds(e2e: Harness, folder: Path) -> dict[str, str]:
    """`gallery ls`'s kind column, by object name."""
    lines = run_gallery(e2e.stack, folder, "ls", "--limit", "100000", COLUMNS="400").stdout.splitlines()
    header = next(line for line in lines if "photo id" in line and "kind" in line)
    column = [cell.strip() for cell in header.split("\u2503")].index("kind")  # ┃ between header cells
    name_column = [cell.strip() for cell in header.split("\u2503")].index("object")
    kinds: dict[str, str] = {}
    for line in lines:
        cells = [cell.strip() for cell in line.split("\u2502")]  # │ between body cells
        if len(cells) > column:
            kinds[cells[name_column]] = cells[column]
    return kinds


def _upload_video(e2e: Harness, name: str, clip: Clip) -> None:
    types = {"mp4": "video/mp4", "mov": "video/quicktime"}
    e2e.upload(name, make_video(clip), content_type=types[clip.container])


def test_videos_are_ready_with_an_mp4_preview_and_a_truncated_one_fails(e2e: Harness, tmp_path: Path) -> None:
    folder = f"videos-{uuid.uuid4().hex[:8]}/"
    sound, portrait, broken = folder + "sound.mp4", folder + "portrait.mov", folder + "truncated.mov"
    _upload_video(e2e, sound, Clip(seconds=2.0, audio=True))
    # Portrait, stored landscape with a display rotation, as phones store it.
    _upload_video(e2e, portrait, Clip(codec="hevc", container="mov", width=240, height=320, rotation=90))
    e2e.upload(broken, truncated(make_video(Clip(codec="hevc", container="mov")), 0.5), "video/quicktime")

    doc = e2e.wait_doc(sound, _ready, TIMEOUT)
    assert doc is not None and doc["media_type"] == "video" and doc["format"] == "mp4"
    assert doc["video"]["has_audio"] is True and doc["video"]["codec"] == "h264"
    assert doc["src"] and doc["renditions"], "the poster is rendered like a photo"
    with _motion_file(e2e, doc) as preview:
        assert not preview.streams.audio, "the moving preview is silent"

    doc = e2e.wait_doc(portrait, _ready, TIMEOUT)
    assert doc is not None and doc["media_type"] == "video" and doc["format"] == "mov"
    assert (doc["width"], doc["height"]) == (240, 320), "dimensions as displayed: upright"
    assert doc["video"]["codec"] == "hevc" and doc["video"]["rotation"] in (90, 270)
    assert doc["motion"]["width"] < doc["motion"]["height"]
    with _motion_file(e2e, doc) as preview:
        stream = preview.streams.video[0]
        assert stream.codec_context.width < stream.codec_context.height, "the preview is stored upright"

    doc = e2e.wait_doc(broken, lambda d: d is not None and d["status"] == "failed", TIMEOUT)
    assert doc is not None and doc["error"]["code"] == "corrupt_video" and doc["error"]["reason"]
    assert not e2e.rendition_names(broken), "nothing stored for a file that failed"

    kinds = _listed_kinds(e2e, tmp_path)
    assert (kinds[sound], kinds[portrait], kinds[broken]) == ("video 0:02", "video 0:02", "")


def _linked(e2e: Harness, still: str, motion: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Wait until `still` and `motion` are one Live Photo, and check how each document says so."""
    motion_doc = e2e.wait_doc(motion, _has("part_of"), TIMEOUT)
    still_doc = e2e.wait_doc(still, _has("motion"), TIMEOUT)
    assert still_doc is not None and motion_doc is not None
    still_id, motion_id = photo_id(e2e.uploads.name, still), photo_id(e2e.uploads.name, motion)
    assert still_doc["media_type"] == "photo" and motion_doc["media_type"] == "video"
    assert still_doc["live_photo"]["video_id"] == motion_id
    assert still_doc["live_photo"]["video_name"] == motion
    assert still_doc["motion"] == motion_doc["motion"], "the still plays the video's preview"
    assert motion_doc["part_of"] == still_id and motion_doc["live_photo"]["still_id"] == still_id
    assert shown_in_gallery(still_doc) and not shown_in_gallery(motion_doc), "one item: the still"
    _motion_file(e2e, still_doc).close()
    return still_doc, motion_doc


def test_a_live_photo_is_one_item_whichever_part_comes_first_and_comes_apart_on_delete(
    e2e: Harness, tmp_path: Path
) -> None:
    run = f"live-{uuid.uuid4().hex[:8]}/"
    mov = Clip(codec="hevc", container="mov", seconds=2.5)
    # Still first: the JPEG is ready before the MOV arrives.
    still_a, motion_a = run + "a/IMG_0001.JPG", run + "a/IMG_0001.MOV"
    e2e.upload(still_a, (ORIENTATION / "landscape_1.jpg").read_bytes())
    assert e2e.wait_doc(still_a, _ready, TIMEOUT)
    _upload_video(e2e, motion_a, mov)
    # Video first: the MOV is ready (a video of its own) before the HEIC arrives.
    still_b, motion_b = run + "b/IMG_0002.HEIC", run + "b/IMG_0002.MOV"
    _upload_video(e2e, motion_b, mov)
    alone = e2e.wait_doc(motion_b, _ready, TIMEOUT)
    assert alone is not None and not alone.get("part_of") and alone["motion"]
    e2e.upload(still_b, (SAMPLES / "iphone_13_pro_max.heic").read_bytes(), "image/heic")

    _linked(e2e, still_a, motion_a)
    _, video_b = _linked(e2e, still_b, motion_b)

    # The CLI tells the parts apart, and counts them.
    kinds = _listed_kinds(e2e, tmp_path)
    assert [kinds[still_a], kinds[still_b]] == ["live photo", "live photo"]
    assert [kinds[motion_a], kinds[motion_b]] == ["live motion", "live motion"]
    status = run_gallery(e2e.stack, tmp_path, "status", "--json", COLUMNS="400").stdout
    media = json.loads(status)["photos"]["media"]
    assert media["live_photos"] >= 2 and media["videos"] >= 2

    # The MOV deleted: the still is a photo again, without motion.
    e2e.uploads.blob(motion_a).delete()
    assert e2e.wait_doc(motion_a, lambda d: d is None, TIMEOUT) is None
    still = e2e.wait_doc(still_a, _lacks("motion"), TIMEOUT)
    assert still is not None and not still.get("live_photo") and still["media_type"] == "photo"

    # The still deleted: the video is a video of its own again, its own preview kept.
    e2e.uploads.blob(still_b).delete()
    assert e2e.wait_doc(still_b, lambda d: d is None, TIMEOUT) is None
    video = e2e.wait_doc(motion_b, _lacks("part_of"), TIMEOUT)
    assert video is not None and not video.get("live_photo") and shown_in_gallery(video)
    assert video["motion"] == video_b["motion"]
    _motion_file(e2e, video).close()
