"""`gallery presets check FILE`, and what `gallery render --presets` adds: the variants, written and listed."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from gallery.model import EncodedRendition, RenderResult
from gallery.presets.load import InvalidPresetsError, load_presets_file
from gallery.presets.plan import PresetSet, VariantRequest
from gallery.settings import Settings
from gallery_cli.base import EXIT_USAGE, app, err, out
from gallery_cli.terminal import safe_text

presets_app = typer.Typer(no_args_is_help=True, help="Check presets files (docs/presets.md).")
app.add_typer(presets_app, name="presets")


@presets_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(help="Presets JSON file", dir_okay=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Validate a presets file: exit 0 if valid, otherwise 1 with every problem, naming the preset and field."""
    try:
        presets = load_presets_file(file, Settings.from_env().fonts_dir)
    except InvalidPresetsError as exc:
        if as_json:
            out.print_json(json.dumps({"file": str(file), "valid": False, "problems": exc.problems}))
        else:
            err.print(f"[red]{safe_text(file)} is not valid:[/red]", highlight=False)
            for problem in exc.problems:
                err.print(f"  {safe_text(problem)}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    names = [p.name for p in presets.presets]
    if as_json:
        out.print_json(json.dumps({"file": str(file), "valid": True, "presets": names, "digest": presets.digest}))
    else:
        valid = f"{file}: {len(names)} preset(s) valid: {', '.join(names)}"
        out.print(safe_text(valid), highlight=False, soft_wrap=True)


def parse_meta(pairs: Sequence[str]) -> dict[str, str]:
    """`KEY=VALUE` pairs as a metadata dict; exits 2 on a pair without `=`."""
    meta: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            err.print(f"[red]--meta {safe_text(repr(pair))}: expected KEY=VALUE[/red]")
            raise typer.Exit(EXIT_USAGE)
        meta[key] = value
    return meta


def variant_request(
    presets_file: Path | None, configured: PresetSet, fonts_dir: str, name: str | None, meta: dict[str, str]
) -> VariantRequest | None:
    """The variants `gallery render` adds: from `--presets`, else from the settings' presets."""
    try:
        presets = load_presets_file(presets_file, fonts_dir) if presets_file else configured
    except InvalidPresetsError as exc:
        err.print(f"[red]{safe_text(exc.reason)}[/red]")
        raise typer.Exit(EXIT_USAGE) from exc
    request = presets.request(name, meta)
    return request if request.presets else None


def _write(path: Path, rendition: EncodedRendition) -> dict[str, Any]:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(rendition.data)
    return {
        "width": rendition.width,
        "height": rendition.height,
        "format": rendition.format,
        "bytes": len(rendition.data),
        "path": str(path),
    }


def write_result(result: RenderResult, folder: Path) -> dict[str, Any]:
    """Write the default set to `folder/{width}.{ext}` and each variant to `folder/{preset}/[{lang}/]...`."""
    variants = []
    for variant in result.variants:
        base = folder / variant.preset / (variant.language or "")
        variants.append(
            {
                "preset": variant.preset,
                "language": variant.language,
                "renditions": [_write(base / f"{r.width}.{r.extension}", r) for r in variant.renditions],
            }
        )
    return {
        "renditions": [_write(folder / f"{r.width}.{r.extension}", r) for r in result.renditions],
        "variants": variants,
    }
