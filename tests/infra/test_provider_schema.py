"""Every resource and data block in infra/terraform against the Google providers' schemas.

The provider binaries cannot be downloaded here, so `terraform validate` cannot run; the schemas come from
CDK-for-Terraform's prebuilt bindings instead (`make install` extracts them with scripts/provider_schema.py
into .cache/provider-schema.json). A misspelled argument, a block nested in the wrong place, a missing
required argument or a resource type the provider does not have fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.infra.tf import EXAMPLE_DIR, TF_DIR, module
from tests.paths import ROOT

SCHEMA_FILE = ROOT / ".cache" / "provider-schema.json"
META_ARGUMENTS = {"count", "for_each", "depends_on", "lifecycle", "provider", "provisioner", "connection"}


@cache
def schemas() -> dict[str, Any]:
    if not SCHEMA_FILE.is_file():
        pytest.fail(f"{SCHEMA_FILE} is missing: run `make install` (it extracts the provider schemas)", pytrace=False)
    loaded: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return loaded


def _items(value: Any) -> Iterator[Mapping[str, Any]]:
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, Mapping):
            yield item


def problems(body: Mapping[str, Any], schema: Mapping[str, Any], where: str, *, top: bool = True) -> list[str]:
    """What in `body` (a parsed block) the provider's `schema` for it does not allow or requires."""
    found: list[str] = []
    attributes, blocks = schema["attributes"], schema["blocks"]
    for key, value in body.items():
        if top and key in META_ARGUMENTS:
            continue
        if key == "dynamic":
            for dynamic in _items(value):
                for name, spec in dynamic.items():
                    if name not in blocks:
                        found.append(f"{where}: no block {name!r} (dynamic)")
                        continue
                    for content in _items(spec.get("content", [])):
                        found += problems(content, blocks[name], f"{where}.{name}", top=False)
        elif key in blocks:
            for item in _items(value):
                found += problems(item, blocks[key], f"{where}.{key}", top=False)
        elif key not in attributes:
            found.append(f"{where}: no argument or block {key!r}")
    for name, required in attributes.items():
        if required and name not in body:
            found.append(f"{where}: required argument {name!r} is missing")
    return found


def check_module(directory: Path) -> list[str]:
    found: list[str] = []
    parsed = module(directory)
    for kind in ("resource", "data"):
        for address, body in parsed[kind].items():
            rtype = address.split(".")[0]
            beta = str(body.get("provider", "")).strip("${}").startswith("google-beta")
            provider = "google-beta" if beta else "google"
            schema = schemas()[provider][kind].get(rtype)
            if schema is None:
                found.append(f"{kind} {address}: the {provider} provider has no {kind} type {rtype!r}")
                continue
            found += problems(body, schema, f"{kind} {address}")
    return found


@pytest.mark.parametrize("directory", [TF_DIR, EXAMPLE_DIR], ids=["module", "example"])
def test_every_block_matches_the_provider_schema(directory: Path) -> None:
    assert not check_module(directory), "\n".join(check_module(directory))


def test_the_schema_is_the_provider_version_the_module_allows() -> None:
    for provider in ("google", "google-beta"):
        major = int(schemas()[provider]["version"].split(".")[0])
        assert 6 <= major < 8, "versions.tf allows >= 6.0, < 8.0"


def test_the_check_finds_misspelled_arguments_misplaced_blocks_and_missing_ones() -> None:
    schema = schemas()["google"]["resource"]["google_storage_bucket"]
    good = {"name": "b", "location": "EU", "versioning": [{"enabled": True}], "count": 1}
    assert problems(good, schema, "bucket") == []
    assert problems({**good, "versoning": [{"enabled": True}]}, schema, "bucket") == [
        "bucket: no argument or block 'versoning'"
    ]
    assert problems({**good, "lifecycle_rule": [{"enabled": True}]}, schema, "bucket") == [
        "bucket.lifecycle_rule: no argument or block 'enabled'"
    ]
    assert problems({"name": "b"}, schema, "bucket") == ["bucket: required argument 'location' is missing"]
    dynamic = {**good, "dynamic": [{"cors": {"for_each": "x", "content": [{"origins": ["*"]}]}}]}
    assert problems(dynamic, schema, "bucket") == ["bucket.cors: no argument or block 'origins'"]
