"""The CLI prints untrusted text literally, reads `.devstack.env` from the current folder only, and refuses
an argument that names two photos."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import typer
from rich.console import Console
from rich.table import Table

from gallery.ids import photo_id
from gallery_cli.envfile import find_env_file
from gallery_cli.resolve import matches, only_match
from gallery_cli.terminal import SafeConsole, safe_text, visible

HOSTILE = "a[/]b [bold]x[/bold] [link=https://evil.example]y\x1b[31mred\x07\r\b\u202e\u2028.jpg"
SHOWN = "a[/]b [bold]x[/bold] [link=https://evil.example]y\\x1b[31mred\\x07\\x0d\\x08\\u202e\\u2028.jpg"


def _render(*objects: object) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=400, color_system=None).print(*objects, highlight=False, soft_wrap=True)
    return buffer.getvalue()


def test_safe_text_prints_exactly_what_is_stored_with_controls_made_visible() -> None:
    assert visible(HOSTILE) == SHOWN
    assert _render(safe_text(HOSTILE)) == SHOWN + "\n"
    assert _render(f"[red]error:[/red] {safe_text(HOSTILE)}") == f"error: {SHOWN}\n"
    table = Table("object")
    table.add_row(safe_text(HOSTILE))
    assert SHOWN in _render(table)
    assert safe_text("ÉOS 東京 trip") == "ÉOS 東京 trip"  # ordinary text is untouched
    assert _render(f"[red]{safe_text('trip' + chr(92))}[/red]") == "trip\\\n"  # a trailing backslash escapes nothing


def test_unescaped_markup_is_what_crashes_or_restyles() -> None:
    with pytest.raises(Exception, match="closing tag"):
        _render("a[/]b.jpg")
    assert _render("[bold]x[/bold]") == "x\n"  # the tag would be eaten


def test_json_output_is_ascii() -> None:
    buffer = io.StringIO()
    SafeConsole(file=buffer, width=400, color_system=None).print_json(json.dumps({"name": HOSTILE, "city": "東京"}))
    text = buffer.getvalue()
    assert text.isascii() and "\\u202e" in text and "\\u001b" in text
    assert json.loads(text) == {"name": HOSTILE, "city": "東京"}


def test_env_file_is_read_from_the_current_folder_only(tmp_path: Path) -> None:
    child = tmp_path / "project" / "sub"
    child.mkdir(parents=True)
    (tmp_path / ".devstack.env").write_text("STORAGE_EMULATOR_HOST=http://attacker:1\n")
    assert find_env_file(child) is None
    assert find_env_file(tmp_path / "project") is None
    assert find_env_file(tmp_path) == tmp_path / ".devstack.env"


def test_an_argument_naming_two_photos_is_refused_with_both_listed(capsys: pytest.CaptureFixture[str]) -> None:
    bucket = "uploads"
    first = "trip/first.jpg"
    first_id = photo_id(bucket, first)
    # Someone uploaded an object named exactly like the first photo's id.
    docs = {
        first_id: {"source": {"name": first}},
        photo_id(bucket, first_id): {"source": {"name": first_id}},
    }
    found = matches(first_id, bucket, docs.get)
    assert [(m.how, m.photo_id) for m in found] == [("photo id", first_id), ("object name", photo_id(bucket, first_id))]
    with pytest.raises(typer.Exit) as exited:
        only_match(first_id, found)
    assert exited.value.exit_code == 2
    stderr = capsys.readouterr().err
    assert f"id:{first_id}" in stderr and f"id:{photo_id(bucket, first_id)}" in stderr and "ambiguous" in stderr

    picked = only_match(first_id, matches(f"id:{first_id}", bucket, docs.get))
    assert picked is not None and picked.object_name == first
    picked = only_match(first_id, matches(f"name:{first_id}", bucket, docs.get))
    assert picked is not None and picked.object_name == first_id


def test_names_and_ids_resolve_without_guessing() -> None:
    bucket = "uploads"
    docs = {photo_id(bucket, "a.jpg"): {"source": {"name": "a.jpg"}}}
    lookups: list[str] = []

    def get(pid: str) -> dict[str, object] | None:
        lookups.append(pid)
        return docs.get(pid)

    assert [m.how for m in matches("a.jpg", bucket, get)] == ["object name"]
    assert lookups == [photo_id(bucket, "a.jpg")]  # "a.jpg" is not shaped like an id: never looked up as one
    assert [m.how for m in matches(photo_id(bucket, "a.jpg"), bucket, get)] == ["photo id"]
    assert matches("nothing.jpg", bucket, get) == []
    assert matches("id:not/an-id", bucket, get) == []
    assert only_match("nothing.jpg", []) is None
