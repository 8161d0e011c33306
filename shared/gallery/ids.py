"""Stable, URL-safe identifiers and object names."""

from __future__ import annotations

import base64
import hashlib


def photo_id(bucket: str, name: str) -> str:
    """A 26-character id, stable for a bucket + object name, safe in URLs and Firestore paths."""
    digest = hashlib.sha256(f"{bucket}/{name}".encode()).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:26]


def rendition_prefix(pid: str, generation: int | None = None) -> str:
    """Object-name prefix of a photo's renditions, or of one generation's."""
    return f"{pid}/" if generation is None else f"{pid}/{generation}/"


def rendition_name(pid: str, generation: int, width: int, ext: str) -> str:
    """Immutable object name of one rendition: a new generation never reuses a name."""
    return f"{pid}/{generation}/{width}.{ext}"


def motion_name(pid: str, generation: int, ext: str = "mp4") -> str:
    """Immutable object name of a video's moving preview."""
    return f"{pid}/{generation}/motion.{ext}"
