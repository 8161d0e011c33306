"""Every query the photo catalog makes is served by the indexes infra/terraform declares.

Each public method of `FirestoreCatalog` runs on a fake Firestore client that records the queries it builds
(filters with their operators, orders with their directions). Each query is then held to Firestore's rules:

- no filter and no order (a listener or a count on the whole collection): the built-in document-name index;
- filters and orders on one field, or equality filters only: the automatic single-field index of each field,
  so no single-field exemption (`google_firestore_field` with an empty `index_config`) may cover them;
- equality filters and an order (or a range) on another field: a declared composite index made of the
  equality fields, then the ordered fields with the same directions. Composite indexes do not depend on the
  single-field settings, so an exempt field may be part of one.

The front-end queries documented in firestore.tf are held to the same rules.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from google.cloud.firestore_v1.base_query import FieldFilter

from gallery.adapters.firestore_catalog import FirestoreCatalog
from gallery.model import PhotoStatus
from tests.infra.tf import module, resources, unwrap

ASC, DESC = "ASCENDING", "DESCENDING"
EQUALITY = frozenset({"==", "in", "array_contains", "array_contains_any"})
PHOTOS = "var.photos_collection"

Order = tuple[str, str]  # (field path, direction)


# --------------------------------------------------------------------------------------------------------------------
# A Firestore client that records queries
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    filters: tuple[tuple[str, str], ...] = ()  # (field path, operator)
    orders: tuple[Order, ...] = ()

    def __str__(self) -> str:
        parts = []
        if self.filters:
            parts.append("WHERE " + " AND ".join(f"{path} {op} ?" for path, op in self.filters))
        if self.orders:
            parts.append("ORDER BY " + ", ".join(f"{path} {direction}" for path, direction in self.orders))
        return " ".join(parts)


@dataclass
class Recorder:
    queries: list[Query] = field(default_factory=list)
    lookups: int = 0  # documents read by id


class _Snapshot:
    exists = False
    id = ""

    def to_dict(self) -> dict[str, Any] | None:
        return None


class _Watch:
    is_active = True

    def unsubscribe(self) -> None:
        self.is_active = False


class _Aggregation:
    def __init__(self, recorder: Recorder, query: Query) -> None:
        self._recorder, self._query = recorder, query

    def get(self) -> list[list[SimpleNamespace]]:
        self._recorder.queries.append(self._query)
        return [[SimpleNamespace(value=0)]]


class _Document:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    def get(self) -> _Snapshot:
        self._recorder.lookups += 1
        return _Snapshot()


class FakeQuery:
    """The query builder calls the catalog uses; anything else fails with AttributeError."""

    def __init__(self, recorder: Recorder, query: Query = Query()) -> None:
        self._recorder, self._query = recorder, query

    def _with(self, query: Query) -> FakeQuery:
        return FakeQuery(self._recorder, query)

    def where(
        self, field_path: str | None = None, op_string: str | None = None, value: Any = None, *, filter: Any = None
    ) -> FakeQuery:
        if filter is None:
            filter = FieldFilter(str(field_path), str(op_string), value)
        assert isinstance(filter, FieldFilter), f"{filter!r}: only field filters are checked here"
        return self._with(replace(self._query, filters=(*self._query.filters, (filter.field_path, filter.op_string))))

    def order_by(self, field_path: str, direction: str = ASC) -> FakeQuery:
        return self._with(replace(self._query, orders=(*self._query.orders, (field_path, direction))))

    def limit(self, count: int) -> FakeQuery:
        return self

    def select(self, field_paths: Sequence[str]) -> FakeQuery:
        return self  # a projection reads index-free

    def count(self) -> _Aggregation:
        return _Aggregation(self._recorder, self._query)

    def stream(self) -> Iterator[_Snapshot]:
        self._recorder.queries.append(self._query)
        return iter(())

    def on_snapshot(self, callback: Callable[..., None]) -> _Watch:
        self._recorder.queries.append(self._query)
        return _Watch()


class FakeCollection(FakeQuery):
    def document(self, document_id: str) -> _Document:
        return _Document(self._recorder)


class FakeClient:
    def __init__(self) -> None:
        self.recorder = Recorder()

    def collection(self, name: str) -> FakeCollection:
        return FakeCollection(self.recorder)

    def get_all(self, references: Sequence[_Document]) -> Iterator[_Snapshot]:
        self.recorder.lookups += len(references)
        return iter(())


def _watch_and_stop(catalog: FirestoreCatalog) -> None:
    catalog.watch(lambda _docs: None).stop()


# Every public method of the catalog, called the ways its callers call it.
CALLS: dict[str, Callable[[FirestoreCatalog], object]] = {
    "get": lambda c: c.get("photo-1"),
    "get_many": lambda c: c.get_many(["photo-1", "photo-2"]),
    "recent": lambda c: [c.recent(50), *(c.recent(50, status) for status in PhotoStatus)],
    "failures": lambda c: [c.failures(), c.failures("corrupt_image", 10)],
    "counts": lambda c: c.counts(),
    "optimization_counts": lambda c: c.optimization_counts(),
    "media_counts": lambda c: c.media_counts(),
    "settled_since": lambda c: c.settled_since(datetime(2024, 1, 1, tzinfo=UTC), 100),
    "failure_codes": lambda c: c.failure_codes(),
    "watch": _watch_and_stop,
}
DOCUMENT_READS = {"get", "get_many"}  # by id: no query, no index


def recorded(method: str) -> Recorder:
    client = FakeClient()
    CALLS[method](FirestoreCatalog(cast(Any, client), "photos", watchdog_seconds=0.01))
    return client.recorder


# --------------------------------------------------------------------------------------------------------------------
# The indexes infra/terraform declares
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Indexes:
    composites: frozenset[tuple[Order, ...]]
    exempt: frozenset[str]  # field paths without single-field indexes, with their subfields

    def single_field(self, path: str) -> bool:
        return not any(path == exempt or path.startswith(f"{exempt}.") for exempt in self.exempt)


def _instances(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(each.key, each.value) of every instance of a resource: for_each over a local map or list, or one."""
    if "for_each" not in body:
        return [("", "")]
    expression = unwrap(body["for_each"])
    found = re.fullmatch(r"(?:toset\()?local\.([a-z_0-9]+)\)?", expression)
    assert found, f"for_each = {expression}: this test reads a local map or list only"
    value = module()["locals"][found.group(1)]
    if isinstance(value, dict):
        return [(str(key), str(item)) for key, item in value.items()]
    return [(str(item), str(item)) for item in value]


def _each(text: Any, key: str, value: str) -> str:
    return str(text).replace("${each.key}", key).replace("${each.value}", value)


def _on_photos(address: str, body: dict[str, Any]) -> None:
    assert unwrap(body["collection"]) == PHOTOS, f"{address} is not on the photos collection"
    assert unwrap(body["database"]) == "local.firestore_database_name", address


def declared_composites() -> frozenset[tuple[Order, ...]]:
    found: set[tuple[Order, ...]] = set()
    for address, body in resources("google_firestore_index").items():
        _on_photos(address, body)
        assert body.get("query_scope", "COLLECTION") == "COLLECTION", address
        for key, value in _instances(body):
            found.add(tuple((_each(f["field_path"], key, value), str(f["order"])) for f in body["fields"]))
    return frozenset(found)


def declared_exemptions() -> frozenset[str]:
    found: set[str] = set()
    for address, body in resources("google_firestore_field").items():
        _on_photos(address, body)
        assert body.get("index_config") == [{}], f"{address}: only full exemptions (empty index_config) are read"
        found.update(_each(body["field"], key, value) for key, value in _instances(body))
    return frozenset(found)


def declared() -> Indexes:
    return Indexes(declared_composites(), declared_exemptions())


# --------------------------------------------------------------------------------------------------------------------
# Firestore's rules
# --------------------------------------------------------------------------------------------------------------------


def _ordering(query: Query) -> tuple[Order, ...]:
    """The explicit orders, then the range-filtered fields not ordered (Firestore orders them ascending)."""
    ordered = {path for path, _ in query.orders}
    ranged = dict.fromkeys(path for path, op in query.filters if op not in EQUALITY and path not in ordered)
    return (*query.orders, *((path, ASC) for path in ranged))


def _serves(index: tuple[Order, ...], equality: set[str], ordering: tuple[Order, ...]) -> bool:
    prefix, rest = index[: len(equality)], index[len(equality) :]
    return {path for path, _ in prefix} == equality and rest == ordering


def unserved(query: Query, indexes: Indexes) -> str | None:
    """Why the declared indexes cannot serve `query`, or None when they can."""
    equality = {path for path, op in query.filters if op in EQUALITY}
    ordering = _ordering(query)
    paths = equality | {path for path, _ in ordering}
    if not paths:
        return None
    if len(paths) == 1 or not ordering:
        missing = sorted(path for path in paths if not indexes.single_field(path))
        return f"{query}: needs the single-field index of {', '.join(missing)}, which is exempt" if missing else None
    if any(_serves(index, equality, ordering) for index in indexes.composites):
        return None
    wanted = [*sorted(equality), *(f"{path} {direction}" for path, direction in ordering)]
    return f"{query}: needs a composite index ({', '.join(wanted)}), none is declared"


# Documented in firestore.tf as the front end's queries (its contract), whether or not this code makes them.
FRONT_END_QUERIES = {
    "gallery feed": Query(filters=(("status", "=="),), orders=(("created_at", DESC),)),
    "gallery by capture date": Query(filters=(("status", "=="),), orders=(("exif.taken_at", DESC),)),
}


# --------------------------------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------------------------------


def test_every_public_method_of_the_catalog_is_exercised() -> None:
    public = {name for name, _ in inspect.getmembers(FirestoreCatalog, inspect.isfunction) if not name.startswith("_")}
    assert public == set(CALLS), "call each public method of FirestoreCatalog in CALLS so its queries are checked"


@pytest.mark.parametrize("method", sorted(CALLS))
def test_each_method_queries_or_reads_by_id(method: str) -> None:
    recorder = recorded(method)
    if method in DOCUMENT_READS:
        assert not recorder.queries and recorder.lookups > 0
    else:
        assert recorder.queries, f"{method} made no query the fake client saw"


@pytest.mark.parametrize("method", sorted(set(CALLS) - DOCUMENT_READS))
def test_every_query_is_served_by_the_declared_indexes(method: str) -> None:
    indexes = declared()
    problems = [problem for query in dict.fromkeys(recorded(method).queries) if (problem := unserved(query, indexes))]
    assert not problems, f"{method}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", sorted(FRONT_END_QUERIES))
def test_documented_front_end_queries_are_served(name: str) -> None:
    assert unserved(FRONT_END_QUERIES[name], declared()) is None


def test_the_catalog_queries_are_the_known_shapes() -> None:
    """What the checks above saw, so a new shape of query is a visible change here."""
    shapes = {str(query) for method in set(CALLS) - DOCUMENT_READS for query in recorded(method).queries}
    assert shapes == {
        "",
        "ORDER BY created_at DESCENDING",
        "WHERE status == ? ORDER BY created_at DESCENDING",
        "WHERE status == ?",
        "WHERE optimization_status == ?",
        "WHERE media_type == ?",
        "WHERE part_of > ?",
        "WHERE updated_at >= ? ORDER BY updated_at DESCENDING",
    }


def test_the_write_heavy_fields_are_exempt() -> None:
    exempt = declared_exemptions()
    assert {"lease_expires_at", "renditions", "srcset", "preview", "timings", "optimization"} <= exempt
    assert {"video", "motion"} <= exempt  # a video's facts and its moving preview: read, never queried
    queried = {
        *("status", "optimization_status", "created_at", "updated_at", "exif", "exif.taken_at"),
        *("media_type", "part_of"),  # `gallery status` counts videos and Live Photos by them
    }
    assert not {path for path in queried if not declared().single_field(path)}
    fields = module()["locals"]["photo_unindexed_fields"]
    assert len(fields) == len(set(fields)), "a field listed twice"


def test_the_rules_reject_what_the_indexes_cannot_serve() -> None:
    """The checks above can fail: a missing composite and an exempt field are both caught."""
    nothing = Indexes(composites=frozenset(), exempt=frozenset())
    feed = FRONT_END_QUERIES["gallery feed"]
    assert unserved(feed, nothing) is not None
    assert unserved(feed, replace(nothing, composites=frozenset({(("status", ASC), ("created_at", ASC))}))) is not None
    assert unserved(feed, replace(nothing, composites=frozenset({(("status", ASC), ("created_at", DESC))}))) is None
    newest = Query(orders=(("created_at", DESC),))
    assert unserved(newest, nothing) is None
    assert unserved(newest, replace(nothing, exempt=frozenset({"created_at"}))) is not None
    nested = Query(filters=(("exif.taken_at", ">="),))
    assert unserved(nested, replace(nothing, exempt=frozenset({"exif"}))) is not None
    assert unserved(nested, replace(nothing, exempt=frozenset({"exi"}))) is None
    ranged = Query(filters=(("status", "=="), ("updated_at", ">=")))
    assert unserved(ranged, replace(nothing, composites=frozenset({(("status", ASC), ("updated_at", ASC))}))) is None
