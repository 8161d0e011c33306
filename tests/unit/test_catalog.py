"""The read side's rules, through the in-memory catalog (the Firestore one runs the same checks in integration)."""

from __future__ import annotations

from typing import Any

from gallery.catalog import changes, count_statuses
from gallery.model import PhotoStatus
from gallery.registry_rules import is_done
from tests.catalog_contract import check_catalog, doc
from tests.unit.fakes import FakeCatalog


def test_the_in_memory_catalog_answers_like_every_catalog() -> None:
    catalog = FakeCatalog()

    def store(pid: str, body: dict[str, Any]) -> None:
        catalog.docs[pid] = body
        catalog.changed()

    check_catalog(catalog, store)


def test_an_unknown_status_counts_as_processing() -> None:
    counts = count_statuses([{"status": "ready"}, {"status": "weird"}, {}])
    assert counts[PhotoStatus.READY] == 1 and counts[PhotoStatus.PROCESSING] == 2


def test_changes_are_upserts_and_removes() -> None:
    before = {"a": {"status": "processing"}, "b": {"status": "ready"}}
    after = {"a": {"status": "ready"}, "c": {"status": "processing"}}
    assert sorted((kind, pid) for kind, pid, _ in changes(before, after)) == [
        ("remove", "b"),
        ("upsert", "a"),
        ("upsert", "c"),
    ]


def test_settled_is_ready_or_failed_of_that_generation_and_spec() -> None:
    ready = {**doc("a", "ready", 1), "spec_version": "v1"}  # generation 2
    assert is_done(ready, 2, "v1")
    assert not is_done(ready, 2, "v2") and not is_done(ready, 3, "v1")
    assert is_done({**ready, "status": "failed"}, 2, "v1")
    assert not is_done({**ready, "status": "retrying"}, 2, "v1")
    assert not is_done({**ready, "status": "processing"}, 2, "v1")
    assert not is_done(None, 2, "v1")
    assert [s.value for s in PhotoStatus if s.settled] == ["ready", "failed"]
