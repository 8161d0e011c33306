"""Which photo a command-line argument names: a photo id, or an object name in the uploads bucket.

Object names are chosen by whoever uploads, so an object can be named like another photo's id. An argument
that names two different photos (one by id, one by object name) is refused with both listed, never resolved
silently to one of them; ``id:PHOTO_ID`` or ``name:OBJECT_NAME`` then says which one is meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gallery.ids import photo_id
from gallery_cli.base import EXIT_USAGE, err, fail
from gallery_cli.terminal import safe_text

ID_PREFIX, NAME_PREFIX = "id:", "name:"
_PHOTO_ID = re.compile(r"^[a-z2-7]{26}$")  # the shape of gallery.ids.photo_id


def looks_like_photo_id(value: str) -> bool:
    return bool(_PHOTO_ID.match(value))


@dataclass(frozen=True)
class Match:
    photo_id: str
    how: str  # "photo id" or "object name"
    doc: Mapping[str, Any]

    @property
    def object_name(self) -> str:
        return str((self.doc.get("source") or {}).get("name", ""))


def interpretations(argument: str, uploads_bucket: str) -> list[tuple[str, str]]:
    """``(how, photo_id)`` for each way `argument` can name a photo (``id:``/``name:`` pick one)."""
    if argument.startswith(ID_PREFIX):
        pid = argument.removeprefix(ID_PREFIX)
        return [("photo id", pid)] if looks_like_photo_id(pid) else []
    if argument.startswith(NAME_PREFIX):
        return [("object name", photo_id(uploads_bucket, argument.removeprefix(NAME_PREFIX)))]
    by_name = [("object name", photo_id(uploads_bucket, argument))]
    return [("photo id", argument), *by_name] if looks_like_photo_id(argument) else by_name


def matches(argument: str, uploads_bucket: str, get: Callable[[str], Mapping[str, Any] | None]) -> list[Match]:
    """Every photo `argument` names; `get` looks a photo id up (None if there is no such photo)."""
    found: list[Match] = []
    for how, pid in interpretations(argument, uploads_bucket):
        if any(m.photo_id == pid for m in found):
            continue
        doc = get(pid)
        if doc is not None:
            found.append(Match(pid, how, doc))
    return found


def only_match(argument: str, found: list[Match]) -> Match | None:
    """The single match, None if there is none; exits 2 listing the candidates if there are several."""
    if len(found) > 1:
        err.print(f"{safe_text(repr(argument))} names {len(found)} photos:", highlight=False, soft_wrap=True)
        for m in found:
            err.print(
                f"  as {m.how}: {ID_PREFIX}{safe_text(m.photo_id)}  (object {safe_text(repr(m.object_name))})",
                highlight=False,
                soft_wrap=True,
            )
        fail(f"ambiguous photo: say which with {ID_PREFIX}PHOTO_ID or {NAME_PREFIX}OBJECT_NAME", EXIT_USAGE)
    return found[0] if found else None
