"""Read the Terraform in infra/terraform with python-hcl2 and answer questions about its wiring.

python-hcl2 8 keeps string quotes and marks blocks unless told otherwise; with the options below it gives:
attributes as plain values, blocks as lists of dicts, quoted strings unquoted, and every expression or template
as a string with its interpolations spelled ``${...}`` (``"${var.x}"`` for a bare expression).

checkov ships bc-python-hcl2, which installs an ``hcl2`` module of its own into the same directory and silently
breaks python-hcl2 (and loses parentheses in expressions). checkov therefore runs from its own environment
(see test_checkov.py); this module refuses the fork with a clear message instead of misparsing.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TF_DIR = ROOT / "infra" / "terraform"
EXAMPLE_DIR = TF_DIR / "examples" / "basic"
DEPLOY_DOC = TF_DIR / "README.md"
PERFORMANCE_DOC = ROOT / "docs" / "performance.md"


def _options() -> Any:
    try:
        import hcl2
        from hcl2.utils import SerializationOptions
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "python-hcl2>=8 is required (pip install 'python-hcl2>=8,<9'). If checkov is installed in the same "
            "environment, its bc-python-hcl2 dependency overwrote the `hcl2` module: install checkov in a "
            f"separate virtualenv instead. ({err})"
        ) from err
    del hcl2
    return SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)


@cache
def parse_file(path: Path) -> dict[str, Any]:
    import hcl2

    with path.open(encoding="utf-8") as fh:
        return dict(hcl2.load(fh, serialization_options=_options()))


def tf_files(directory: Path = TF_DIR) -> list[Path]:
    return sorted(directory.glob("*.tf"))


@cache
def module(directory: Path = TF_DIR) -> dict[str, Any]:
    """All top-level blocks of one Terraform module, merged across its files."""
    merged: dict[str, Any] = {
        "resource": {},
        "data": {},
        "variable": {},
        "output": {},
        "locals": {},
        "module": {},
        "terraform": [],
        "provider": [],
        "moved": [],
    }
    for path in tf_files(directory):
        parsed = parse_file(path)
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for rtype, named in block.items():
                    for name, body in named.items():
                        key = f"{rtype}.{name}"
                        assert key not in merged[kind], f"{kind} {key} declared twice"
                        merged[kind][key] = body
        for kind in ("variable", "output", "module"):
            for block in parsed.get(kind, []):
                for name, body in block.items():
                    assert name not in merged[kind], f"{kind} {name} declared twice"
                    merged[kind][name] = body
        for block in parsed.get("locals", []):
            for name, value in block.items():
                assert name not in merged["locals"], f"local {name} declared twice"
                merged["locals"][name] = value
        merged["moved"].extend(parsed.get("moved", []))
        merged["terraform"].extend(parsed.get("terraform", []))
        merged["provider"].extend(parsed.get("provider", []))
    return merged


def resources(rtype: str | None = None) -> dict[str, dict[str, Any]]:
    all_resources: dict[str, dict[str, Any]] = module()["resource"]
    if rtype is None:
        return all_resources
    return {k: v for k, v in all_resources.items() if k.split(".")[0] == rtype}


def resource(address: str) -> dict[str, Any]:
    found = module()["resource"].get(address)
    assert isinstance(found, dict), f"resource {address} not found in {TF_DIR}"
    return found


def block(body: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The single nested block ``name`` of a resource body."""
    blocks = body.get(name)
    assert isinstance(blocks, list) and len(blocks) == 1, f"expected exactly one {name} block, got {blocks!r}"
    inner = blocks[0]
    assert isinstance(inner, dict)
    return inner


def unwrap(value: Any) -> str:
    """``"${expr}"`` -> ``"expr"`` when the whole value is one interpolation; other values as strings."""
    text = str(value)
    if text.startswith("${") and text.endswith("}"):
        depth = 0
        for i, ch in enumerate(text[1:], start=1):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0 and i != len(text) - 1:
                    return text  # a template such as "${a}-${b}"
        return text[2:-1].strip()
    return text


def variable_default(name: str) -> Any:
    var = module()["variable"][name]
    assert "default" in var, f"variable {name} has no default"
    return var["default"]


def strings(value: Any) -> Iterator[str]:
    """Every string anywhere inside a parsed value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield str(key)
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


_ALLOWED_CALLS = {"max": max, "min": min, "floor": math.floor}
_VAR = re.compile(r"\bvar\.([a-z_][a-z0-9_]*)")


def evaluate(expression: str, variables: Mapping[str, float]) -> float:
    """Evaluate a numeric HCL expression made of var.*, numbers, + - * /, max, min and floor."""
    missing = sorted(set(_VAR.findall(expression)) - set(variables))
    assert not missing, f"no value given for {missing} in {expression!r}"
    python = _VAR.sub(lambda m: repr(variables[m.group(1)]), unwrap(expression))
    tree = ast.parse(python, mode="eval")
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name) and node.func.id in _ALLOWED_CALLS, ast.dump(node)
        elif isinstance(node, ast.Name):
            assert node.id in _ALLOWED_CALLS, f"unexpected name {node.id} in {expression!r}"
        elif not isinstance(
            node,
            ast.Expression | ast.BinOp | ast.Constant | ast.Load | ast.Add | ast.Sub | ast.Mult | ast.Div | ast.UnaryOp,
        ) and not isinstance(node, ast.USub):
            raise AssertionError(f"unexpected syntax {type(node).__name__} in {expression!r}")
    result = eval(compile(tree, "<hcl>", "eval"), {"__builtins__": {}}, dict(_ALLOWED_CALLS))
    assert isinstance(result, int | float)
    return result
