"""The optimize pass, as pure rules: what it renders, what it names its files, whether a photo needs it, and the
document fields its swap writes.

A photo is `ready` with its live set (fast, fixed quality: `RENDITION_FORMATS`). The optimize pass, a task on the
bulk lane, re-renders the photo's widths as AVIF to a perceptual target with a stronger encoder effort, stores them
under names of their own (a rendition URL never changes content), and swaps the document's renditions in one write:
the AVIF set plus the live formats' renditions up to `fallback_max_width`, for browsers without AVIF. The live
renditions it replaces are superseded: marked, and deleted after a grace period (docs/renditions.md).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from gallery.manifest import rendition_entries, srcset_and_src
from gallery.model import EncodedRendition, OutputFormat, PhotoStatus, RenderResult, RenditionSpec
from gallery.registry_rules import stored_generation

OPTIMIZED_FORMAT: OutputFormat = "avif"

PENDING = "pending"
DONE = "done"
FAILED = "failed"


@dataclass(frozen=True)
class OptimizePlan:
    """The optimize pass's settings: the spec it renders, and the widest live rendition kept as the fallback."""

    spec: RenditionSpec
    fallback_max_width: int = 1280

    @property
    def version(self) -> str:
        """Changes whenever the optimized renditions would: a photo optimized at another version is optimized again."""
        return f"{self.spec.version}-f{self.fallback_max_width}"

    @property
    def tag(self) -> str:
        """The part of an optimized rendition's name that says which pass made it."""
        return "o" + self.spec.version.rsplit("-", 1)[-1][:8]


def optimize_spec(live: RenditionSpec, *, quality_target: float, avif_effort: int) -> RenditionSpec:
    """The live spec's widths and colour handling, as AVIF searched to `quality_target` at `avif_effort`; no
    preset variants (they keep their live encodes)."""
    return replace(
        live,
        formats=(OPTIMIZED_FORMAT,),
        quality_target=quality_target,
        avif_effort=avif_effort,
        presets_digest="",
    )


def optimized_name(photo_id: str, generation: int, rendition: EncodedRendition, tag: str) -> str:
    """Immutable object name of an optimized rendition: beside the live ones of its generation (so deregistering
    and re-rendering remove it with them), never equal to one of them."""
    return f"{photo_id}/{generation}/{rendition.width}.{tag}.{rendition.extension}"


class OptimizeDecision(enum.Enum):
    PROCEED = "proceed"
    DONE = "done"  # already optimized at this version
    STALE = "stale"  # not ready at this generation (not yet, failed, replaced, deleted)


def optimize_decision(doc: dict[str, Any] | None, generation: int, version: str) -> OptimizeDecision:
    """Whether the optimize task of `generation` has work to do on the photo's document."""
    if doc is None or stored_generation(doc) != generation or doc.get("status") != PhotoStatus.READY.value:
        return OptimizeDecision.STALE
    state = doc.get("optimization") or {}
    if state.get("status") == DONE and state.get("version") == version:
        return OptimizeDecision.DONE
    return OptimizeDecision.PROCEED


def optimization_fields(state: dict[str, Any] | None) -> dict[str, Any]:
    """The document's `optimization` record, and its status again as the top-level `optimization_status` that
    `gallery status` counts by (a top-level field: a query needs no path into the map)."""
    return {"optimization": state, "optimization_status": state["status"] if state else None}


def pending_optimization() -> dict[str, Any]:
    """The fields of a photo just made ready whose optimize task is queued."""
    return optimization_fields({"status": PENDING})


def _bytes(entries: Sequence[dict[str, Any]], fmt: str | None = None) -> int:
    return sum(int(e.get("bytes") or 0) for e in entries if fmt is None or e.get("format") == fmt)


def served_format_of(entries: Sequence[dict[str, Any]]) -> str | None:
    """The format a current browser downloads from a document's renditions (AVIF, else WebP, else JPEG)."""
    present = {e.get("format") for e in entries}
    return next((fmt for fmt in ("avif", "webp", "jpeg") if fmt in present), None)


def kept_fallbacks(entries: Sequence[dict[str, Any]], max_width: int) -> list[dict[str, Any]]:
    """The live renditions an optimized photo keeps for browsers without AVIF: its non-AVIF ones up to
    `max_width` (at least the smallest of each format)."""
    kept: list[dict[str, Any]] = []
    for fmt in dict.fromkeys(e["format"] for e in entries if e["format"] != OPTIMIZED_FORMAT):
        of_format = sorted((e for e in entries if e["format"] == fmt), key=lambda e: e["width"])
        kept.extend([e for e in of_format if e["width"] <= max_width] or of_format[:1])
    return kept


def optimized_fields(
    doc: dict[str, Any],
    result: RenderResult,
    photo_id: str,
    generation: int,
    url_prefix: str,
    plan: OptimizePlan,
) -> tuple[dict[str, Any], list[str]]:
    """The fields the swap writes (renditions, `srcset`, `src`, `optimization`), and the object names of the live
    renditions it supersedes."""
    before: list[dict[str, Any]] = list(doc.get("renditions") or [])
    optimized = rendition_entries(
        result.renditions, lambda r: optimized_name(photo_id, generation, r, plan.tag), url_prefix
    )
    kept = kept_fallbacks(before, plan.fallback_max_width)
    after = optimized + kept
    srcset, src = srcset_and_src(after)
    # What the new set no longer lists; never a name it lists again (optimized anew at the same version).
    listed = {e["path"] for e in after}
    superseded = [e["path"] for e in before if e["path"] not in listed]
    served_before = served_format_of(before)
    state = {
        "status": DONE,
        "version": plan.version,
        "render_ms": result.render_ms,
        "served_bytes_before": _bytes(before, served_before),
        "served_bytes_after": _bytes(optimized),
        "stored_bytes_before": _bytes(before),
        "stored_bytes_after": _bytes(after),
        "superseded": superseded,
    }
    return {"renditions": after, "srcset": srcset, "src": src, **optimization_fields(state)}, superseded


def failed_optimization(version: str, code: str, reason: str) -> dict[str, Any]:
    """The `optimization` field of a photo the pass could not optimize: it keeps its live set."""
    return optimization_fields({"status": FAILED, "version": version, "error": {"code": code, "reason": reason}})
