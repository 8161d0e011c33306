"""Generate the reference tables in the docs from their sources, so they cannot drift: `make docs`.

- docs/settings.md: every `gallery.settings.Settings` field (and the tools' extra settings) with type, default
  and description, from the fields themselves;
- infra/terraform/README.md: the module's inputs (name, type, default, description) from variables.tf and its
  outputs from outputs.tf, parsed with python-hcl2.

Each table sits between `<!-- generated:NAME:start -->` and `<!-- generated:NAME:end -->`. `--check` exits 1
when a document is not what this would write (tests/unit/test_docs.py and tests/infra/test_terraform_docs.py).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SETTINGS_DOC = ROOT / "docs" / "settings.md"
TF_DIR = ROOT / "infra" / "terraform"
TF_DOC = TF_DIR / "README.md"


def settings_table() -> str:
    from gallery.settings import settings_markdown

    return settings_markdown()


def tool_settings_table() -> str:
    from gallery.settings import settings_markdown
    from gallery_cli.settings import ToolSettings

    table = settings_markdown(ToolSettings)
    tool_only = {f"| `{name}` |" for name in ToolSettings.tool_env_names()}
    rows = [line for line in table.splitlines()[2:] if any(line.startswith(key) for key in tool_only)]
    return "\n".join([*table.splitlines()[:2], *rows]) + "\n"


def _hcl(path: Path) -> dict[str, Any]:
    import hcl2
    from hcl2.utils import SerializationOptions

    options = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
    with path.open(encoding="utf-8") as fh:
        return dict(hcl2.load(fh, serialization_options=options))


def _blocks(kind: str, filename: str) -> list[tuple[str, dict[str, Any]]]:
    return [(name, body) for block in _hcl(TF_DIR / filename).get(kind, []) for name, body in block.items()]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _unwrap(value: Any) -> str:
    text = str(value)
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _default(body: dict[str, Any]) -> str:
    if "default" not in body:
        return "**required**"
    value = body["default"]
    if isinstance(value, str) and value.startswith("${"):
        return f"`{_unwrap(value)}`"
    return f"`{json.dumps(value, separators=(', ', ': '))}`"


def inputs_table() -> str:
    lines = ["| name | type | default | description |", "| --- | --- | --- | --- |"]
    for name, body in _blocks("variable", "variables.tf"):
        kind = _unwrap(body.get("type", "any"))
        lines.append(f"| `{name}` | `{_cell(kind)}` | {_cell(_default(body))} | {_cell(body['description'])} |")
    return "\n".join(lines) + "\n"


def outputs_table() -> str:
    lines = ["| name | description |", "| --- | --- |"]
    for name, body in _blocks("output", "outputs.tf"):
        lines.append(f"| `{name}` | {_cell(body['description'])} |")
    return "\n".join(lines) + "\n"


GENERATED: dict[Path, dict[str, Callable[[], str]]] = {
    SETTINGS_DOC: {"settings": settings_table, "tool-settings": tool_settings_table},
    TF_DOC: {"inputs": inputs_table, "outputs": outputs_table},
}


def render(path: Path, text: str) -> str:
    """`text` with every generated section of `path` replaced by what its source says now."""
    for name, make in GENERATED[path].items():
        pattern = re.compile(
            rf"(<!-- generated:{re.escape(name)}:start -->\n).*?(<!-- generated:{re.escape(name)}:end -->)", re.S
        )
        if not pattern.search(text):
            raise ValueError(f"{path}: no generated:{name} markers")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + m.group(2), text)  # type: ignore[misc]
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a document is out of date")
    args = parser.parse_args(argv)
    stale = []
    for path in GENERATED:
        current = path.read_text(encoding="utf-8")
        wanted = render(path, current)
        if wanted != current:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(wanted, encoding="utf-8")
    if stale:
        sys.stdout.write(("out of date: " if args.check else "updated: ") + ", ".join(map(str, stale)) + "\n")
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    raise SystemExit(main())
