"""Live Photos: a still (HEIC or JPEG) and a short video (MOV or MP4) that belong together become one gallery item.

They belong together when they have the same name but for the extension, in the same folder: `IMG_1234.HEIC`
and `IMG_1234.MOV`, as an iPhone's camera roll exports them (and as Photos, iCloud and image-capture tools copy
them). The name decides, not Apple's content identifier, because copies made through other tools often strip
the still's maker notes; the video's identifier, when it has one, is kept on the item.

The still is the item: once both are `ready`, its document carries the video's moving preview as its `motion` and
a `live_photo` map naming the video; the video's document gets `part_of` (the still's id), which hides it from
the gallery. Order of arrival does not matter: whichever becomes ready second finds the other ready and links
them, in one transaction over both documents (each side looks for the other after its own document is written,
so of two concurrent renders at least one sees both). Deleting either unlinks the other: a deleted still leaves
the video as a video of its own, a deleted video leaves the still as a photo. A video longer than
`MAX_MOTION_SECONDS` is never the motion of a still, whatever its name.

Everything here is pure: names and documents in, document updates out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

Doc = Mapping[str, Any]
Role = Literal["still", "motion"]

STILL_SUFFIXES = (".heic", ".heif", ".jpg", ".jpeg")
MOTION_SUFFIXES = (".mov", ".mp4")
MAX_MOTION_SECONDS = 10.0


def role(name: str) -> Role | None:
    """What part of a Live Photo an object of this name can be, by its extension."""
    lower = name.lower()
    if lower.endswith(STILL_SUFFIXES):
        return "still"
    if lower.endswith(MOTION_SUFFIXES):
        return "motion"
    return None


def sibling_prefix(name: str) -> str | None:
    """The listing prefix of the objects that share this name but for the extension (`dir/IMG_1.`)."""
    base = name.rsplit("/", 1)[-1]
    if "." not in base:
        return None
    return name[: name.rfind(".") + 1]


def partners(name: str, listed: Iterable[str]) -> list[str]:
    """The other part's candidates among `listed` (names under `sibling_prefix(name)`), stills HEIC first."""
    mine, prefix = role(name), sibling_prefix(name)
    if mine is None or prefix is None:
        return []
    wanted: Role = "motion" if mine == "still" else "still"
    found = [
        other
        for other in listed
        if other != name
        and other.startswith(prefix)
        and "." not in other[len(prefix) :]
        and "/" not in other[len(prefix) :]
        and role(other) == wanted
    ]
    order = STILL_SUFFIXES if wanted == "still" else MOTION_SUFFIXES
    return sorted(found, key=lambda n: (order.index("." + n.rsplit(".", 1)[-1].lower()), n))


def _ready(doc: Doc | None) -> bool:
    return doc is not None and doc.get("status") == "ready"


def may_link(still: Doc | None, motion: Doc | None) -> bool:
    """Both ready; the still a photo; the motion a video short enough to be a Live Photo's."""
    if not (_ready(still) and _ready(motion)):
        return False
    assert still is not None and motion is not None
    video = motion.get("video") or {}
    short = float(video.get("duration_s") or 0) <= MAX_MOTION_SECONDS
    return still.get("media_type", "photo") == "photo" and motion.get("media_type") == "video" and short


def linked_documents(
    still: Doc | None, motion: Doc | None, still_id: str, motion_id: str
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The two documents linked as one Live Photo, or None when they may not be linked or already are."""
    if not may_link(still, motion):
        return None
    assert still is not None and motion is not None
    video = motion.get("video") or {}
    live = {
        "video_id": motion_id,
        "video_name": (motion.get("source") or {}).get("name"),
        "video_generation": (motion.get("source") or {}).get("generation"),
        "duration_s": video.get("duration_s"),
        "content_identifier": video.get("content_identifier"),
    }
    part = {"still_id": still_id, "still_name": (still.get("source") or {}).get("name")}
    new_still = {**still, "live_photo": live, "motion": motion.get("motion")}
    new_motion = {**motion, "part_of": still_id, "live_photo": part}
    if new_still == dict(still) and new_motion == dict(motion):
        return None
    return new_still, new_motion


def unlinked_document(partner: Doc | None, removed_id: str) -> dict[str, Any] | None:
    """The partner of a removed part, no longer linked to it; None if it was not linked to it."""
    if partner is None:
        return None
    if (partner.get("live_photo") or {}).get("video_id") == removed_id:
        return {**partner, "live_photo": None, "motion": None}  # a still again: no motion of its own
    if partner.get("part_of") == removed_id:
        return {**partner, "live_photo": None, "part_of": None}  # a video of its own again
    return None


def shown_in_gallery(doc: Doc) -> bool:
    """False for the video part of a Live Photo: the still stands for both."""
    return not doc.get("part_of")
