"""What every `gallery` command shares: the Typer app, the consoles, common options, settings and preflight.

A command module defines its commands on `app` (imported from here) and is imported once by
`gallery_cli.app`, which is all it takes to register it.

Exit codes: 0 done, 1 some items failed, 2 usage, settings or an unreachable stack/cloud, 3 `--wait` timed out.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, NoReturn
from urllib.parse import urlsplit

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from gallery.settings import SettingsError
from gallery_cli.envfile import find_env_file, load_env_file
from gallery_cli.settings import ToolSettings
from gallery_cli.terminal import SafeConsole, safe_text, visible

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="`gallery`: drop photos and videos in, list and inspect what is registered, backfill, import, render locally.",
)
out = SafeConsole()
err = SafeConsole(stderr=True)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TIMEOUT = 3

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".tif", ".tiff", ".heic", ".heif", ".avif"})
VIDEO_SUFFIXES = frozenset({".mp4", ".mov", ".m4v", ".webm", ".mkv"})
MEDIA_SUFFIXES = PHOTO_SUFFIXES | VIDEO_SUFFIXES
"""The file names `gallery drop` picks from a folder and `gallery import` from a bucket (the function decides by
the bytes, not the name)."""

EnvFileOption = Annotated[
    Path | None, typer.Option("--env-file", help="KEY=VALUE file to attach to (default: .devstack.env if found)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]

Service = str  # "storage" | "firestore" | "pubsub"
_EMULATOR_VARS: dict[Service, str] = {
    "storage": "STORAGE_EMULATOR_HOST",
    "firestore": "FIRESTORE_EMULATOR_HOST",
    "pubsub": "PUBSUB_EMULATOR_HOST",
}


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a one-line error on stderr and exit with `code`. `message` is printed literally (no markup)."""
    err.print(f"[red]error:[/red] {safe_text(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings(env_file: Path | None) -> ToolSettings:
    """Settings from the environment, after applying `--env-file` or `.devstack.env` in the current directory."""
    if env_file is not None and not env_file.is_file():
        raise typer.BadParameter(f"{visible(env_file)} does not exist", param_hint="--env-file")
    path = env_file or find_env_file()
    if path is not None:
        load_env_file(path)
    try:
        return ToolSettings.from_env()
    except SettingsError as exc:
        fail(f"invalid settings: {exc}")


def _host_port(value: str) -> tuple[str, int] | None:
    parts = urlsplit(value if "://" in value else f"//{value}")
    if not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname, port


def unreachable_emulators(services: Iterable[Service], timeout: float = 1.0) -> list[str]:
    """`NAME=VALUE` of each emulator variable (among `services`) that is set but where nothing listens."""
    down: list[str] = []
    for service in services:
        var = _EMULATOR_VARS[service]
        value = os.environ.get(var, "").strip()
        if not value:
            continue
        address = _host_port(value)
        if address is None:
            down.append(f"{var}={value}")
            continue
        try:
            with socket.create_connection(address, timeout=timeout):
                pass
        except OSError:
            down.append(f"{var}={value}")
    return down


def preflight(*services: Service) -> None:
    """Exit 2 with a clear message when the local stack the environment points at is not running.

    Without this, the Google clients retry a refused connection for minutes. Against Google Cloud (no
    emulator variables) there is nothing to check here; credential errors are reported where they occur.
    """
    down = unreachable_emulators(services)
    if down:
        source = find_env_file()
        hint = f" (from {source})" if source else ""
        fail(
            f"the local stack is not reachable: nothing listens at {', '.join(down)}{hint}. "
            "Start it with `make run`, or point --env-file at a running stack."
        )


def progress(*, transient: bool = False) -> Progress:
    """A progress bar on stderr with count, percentage, elapsed time and ETA."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=err,
        transient=transient,
    )
