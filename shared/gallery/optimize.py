"""The optimize pass, run on the bulk lane for a ready photo: fewer bytes on every view, paid for once.

One task per photo generation, queued when the photo became ready (message attribute ``galleryTask: optimize``).
It is idempotent and generation-checked like every other message: it does nothing unless the photo is still
`ready` at that generation and not yet optimized at the current version, and its one document write
(`Registry.record_optimization`) only lands if the photo's renditions are still the ones it started from. The
rules are in `gallery.optimize_plan`; nothing here can fail a ready photo: a photo the pass cannot optimize
keeps its live set, with the reason under `optimization`.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from gallery.errors import PermanentError, SourceGoneError
from gallery.model import Limits, ObjectEvent, RenderResult, RenditionSpec
from gallery.optimize_plan import (
    OptimizeDecision,
    OptimizePlan,
    failed_optimization,
    optimize_decision,
    optimized_fields,
    optimized_name,
)
from gallery.ports import Registry, RenditionStore, SourceStore

logger = logging.getLogger(__name__)

Admit = Callable[[bytes, RenditionSpec], AbstractContextManager[int]]
"""Holds the render's estimated memory in the instance's budget while the block runs (`PhotoService`'s)."""


@dataclass(frozen=True)
class Optimized:
    """What one optimize task did: `outcome` is optimized, duplicate, stale or failed."""

    outcome: str
    fields: dict[str, Any] | None = None


class Optimizer:
    """The optimize stage: read, render, store, swap, supersede."""

    def __init__(
        self,
        *,
        sources: SourceStore,
        renditions: RenditionStore,
        registry: Registry,
        plan: OptimizePlan,
        limits: Limits,
        url_prefix: str,
        renderer: Callable[..., RenderResult],
        admit: Admit,
    ) -> None:
        self._sources = sources
        self._renditions = renditions
        self._registry = registry
        self._plan = plan
        self._limits = limits
        self._url_prefix = url_prefix
        self._render = renderer
        self._admit = admit
        # The engine's renderer makes a video's moving preview too; the live render made it already.
        self._render_options = {"motion": False} if "motion" in inspect.signature(renderer).parameters else {}

    @property
    def plan(self) -> OptimizePlan:
        return self._plan

    def run(self, pid: str, event: ObjectEvent) -> Optimized:
        """Optimize the photo `event` names, at `event.generation`. Raises TransientError to be redelivered."""
        started = time.perf_counter()
        doc = self._registry.get(pid)
        decision = optimize_decision(doc, event.generation, self._plan.version)
        if decision is OptimizeDecision.DONE:
            assert doc is not None
            # A redelivery after the swap: the marks may be what failed last time (marking is idempotent).
            self._renditions.mark_superseded(list((doc.get("optimization") or {}).get("superseded") or []))
            logger.info("already optimized at this version; duplicate task acked")
            return Optimized("duplicate")
        live = self._sources.live_object(event.bucket, event.name)
        if decision is OptimizeDecision.STALE or live is None or live.generation != event.generation:
            logger.info("photo not ready at this generation any more; optimize task acked as stale")
            return Optimized("stale")
        assert doc is not None
        try:
            data = self._sources.download(event.bucket, event.name, event.generation, self._limits.download_bytes)
            with self._admit(data, self._plan.spec):
                result = self._render(data, self._plan.spec, self._limits, **self._render_options)
        except SourceGoneError:
            logger.info("source generation gone while optimizing; acked as stale")
            return Optimized("stale")
        except PermanentError as err:
            return self._failed(pid, event.generation, doc, err)
        return self._swap(pid, event.generation, doc, result, started)

    def _swap(self, pid: str, generation: int, doc: dict[str, Any], result: RenderResult, started: float) -> Optimized:
        """Store the optimized renditions, swap the document to them, and mark what they supersede."""
        names = [optimized_name(pid, generation, r, self._plan.tag) for r in result.renditions]
        for name, rendition in zip(names, result.renditions, strict=True):
            self._renditions.put(name, rendition.data, rendition.content_type)
        fields, superseded = optimized_fields(doc, result, pid, generation, self._url_prefix, self._plan)
        fields["optimization"]["total_ms"] = round((time.perf_counter() - started) * 1000, 1)
        if not self._registry.record_optimization(pid, generation, doc.get("renditions") or [], fields):
            self._withdraw(pid, names)
            logger.info("photo changed while optimizing; optimized renditions withdrawn")
            return Optimized("stale")
        self._renditions.mark_superseded(superseded)
        state = fields["optimization"]
        logger.info(
            "photo optimized",
            extra={
                "json_fields": {
                    "outcome": "optimized",
                    "served_bytes_before": state["served_bytes_before"],
                    "served_bytes_after": state["served_bytes_after"],
                    "stored_bytes_before": state["stored_bytes_before"],
                    "stored_bytes_after": state["stored_bytes_after"],
                    "superseded": len(superseded),
                    "render_ms": result.render_ms,
                    "total_ms": state["total_ms"],
                }
            },
        )
        return Optimized("optimized", fields)

    def _withdraw(self, pid: str, names: list[str]) -> None:
        """Delete the renditions a refused swap stored, but any the document refers to now (a duplicate task's
        swap landed first with the same names)."""
        doc = self._registry.get(pid) or {}
        referenced = {e.get("path") for e in doc.get("renditions") or []}
        for name in names:
            if name not in referenced:
                self._renditions.delete_prefix(name)

    def _failed(self, pid: str, generation: int, doc: dict[str, Any], err: PermanentError) -> Optimized:
        fields = failed_optimization(self._plan.version, err.code, err.reason)
        recorded = self._registry.record_optimization(pid, generation, doc.get("renditions") or [], fields)
        logger.warning(
            "photo not optimized; it keeps its live set: %s",
            err.reason,
            extra={"json_fields": {"outcome": "optimize_failed", "error_code": err.code, "recorded": recorded}},
        )
        return Optimized("failed", fields)
