"""Extract the Google providers' resource schemas from CDK-for-Terraform's prebuilt bindings.

The provider binaries cannot be downloaded everywhere the tests run, but the PyPI packages
`cdktn-provider-google` / `cdktn-provider-google-beta` are generated from the providers' schemas and carry
them as a jsii assembly: one class per resource and data source (its docs link names the Terraform type), a
config struct whose properties are the arguments (each linked as `TYPE#argument_name`), and one struct per
nested block. This reduces that to what `tests/infra/test_provider_schema.py` checks against:

    {"google": {"version": "7.46.1", "resource": {TYPE: SCHEMA}, "data": {TYPE: SCHEMA}}, "google-beta": ...}
    SCHEMA = {"attributes": {NAME: REQUIRED}, "blocks": {NAME: SCHEMA}}

Usage: python scripts/provider_schema.py WHEEL... -o .cache/provider-schema.json
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

_LINK = re.compile(
    r"\{@link https://registry\.terraform\.io/providers/hashicorp/(google(?:-beta)?)/([0-9.]+)/docs/"
    r"(resources|data-sources)/\w+ (\w+)\}"
)
_ARGUMENT = re.compile(r"#(\w+) \w+#\w+\}")
_KINDS = {"resources": "resource", "data-sources": "data"}
_BASES = {"cdktn.TerraformResource", "cdktn.TerraformDataSource"}


def read_assembly(wheel: Path) -> dict[str, Any]:
    """The jsii assembly (`.jsii` JSON) inside a cdktn provider wheel."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".jsii.tgz"))
        packed = archive.read(name)
    with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
        member = tar.extractfile("package/.jsii")
        if member is None:
            raise ValueError(f"{wheel}: no package/.jsii in {name}")
        assembly: dict[str, Any] = json.load(member)
    return assembly


def _struct(type_ref: Any, types: dict[str, Any]) -> str | None:
    """The struct fqn a property's type refers to (directly, in a list or a union with IResolvable)."""
    if not isinstance(type_ref, dict):
        return None
    if "fqn" in type_ref:
        found = types.get(type_ref["fqn"])
        return type_ref["fqn"] if found and found.get("datatype") else None
    if "collection" in type_ref:
        return _struct(type_ref["collection"].get("elementtype"), types)
    if "union" in type_ref:
        for option in type_ref["union"]["types"]:
            if fqn := _struct(option, types):
                return fqn
    return None


def _argument_name(prop: dict[str, Any]) -> str:
    docs = prop.get("docs") or {}
    match = _ARGUMENT.search(docs.get("remarks", "") + " " + docs.get("summary", ""))
    if match:
        return match.group(1)
    return re.sub(r"(?<!^)(?=[A-Z])", "_", prop["name"]).lower()


def _schema(fqn: str, types: dict[str, Any], seen: tuple[str, ...] = ()) -> dict[str, Any]:
    attributes: dict[str, bool] = {}
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        name = _argument_name(prop)
        nested = _struct(prop["type"], types)
        if nested and nested not in seen:
            blocks[name] = _schema(nested, types, (*seen, fqn))
        else:
            attributes[name] = not prop.get("optional", False)
    return {"attributes": attributes, "blocks": blocks}


def provider_schema(assembly: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(provider name, {"version", "resource", "data"}) from one provider's assembly."""
    types: dict[str, Any] = assembly["types"]
    out: dict[str, Any] = {"resource": {}, "data": {}}
    provider, version = "", ""
    for klass in types.values():
        if klass.get("kind") != "class" or klass.get("base") not in _BASES:
            continue
        match = _LINK.search((klass.get("docs") or {}).get("summary", ""))
        if not match:
            continue
        provider, version = match.group(1), match.group(2)
        config = next(p for p in klass["initializer"]["parameters"] if p["name"] == "config")
        out[_KINDS[match.group(3)]][match.group(4)] = _schema(config["type"]["fqn"], types)
    if not provider:
        raise ValueError("no Terraform resources found in the assembly")
    return provider, {"version": version, **out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("wheels", nargs="+", type=Path)
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    schemas: dict[str, Any] = {}
    for wheel in args.wheels:
        name, schema = provider_schema(read_assembly(wheel))
        schemas[name] = schema
        sys.stderr.write(f"{wheel.name}: {name} {schema['version']}, {len(schema['resource'])} resources\n")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(schemas, sort_keys=True, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
