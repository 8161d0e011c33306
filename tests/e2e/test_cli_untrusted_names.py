"""Object names are chosen by whoever uploads: the CLI prints them literally and never guesses which photo is meant.

Against the real stack: a photo named with Rich markup (``[/]``, ``[bold]``) and terminal control characters
(ESC, BEL) is listed by ``gallery ls``/``failures``/``show`` without crashing and without a raw control
character on the terminal; an argument that is both one photo's id and another photo's object name is
refused by ``show`` and ``retry`` (exit 2) with both candidates listed, and ``id:``/``name:`` pick one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from gallery.ids import photo_id
from tests.corpus import case
from tests.e2e.conftest import Harness
from tests.paths import SAMPLES

GALLERY = Path(sys.executable).with_name("gallery")


def gallery(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST") and k != "PUBSUB_TOPIC"}
    env["COLUMNS"] = "400"  # wide enough that no cell wraps
    return subprocess.run(
        [str(GALLERY), *args, "--env-file", str(env_file)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=env_file.parent,
        check=False,
    )


def _no_raw_controls(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text, repr(text)


def test_hostile_names_print_literally(e2e: Harness, tmp_path: Path) -> None:
    env_file = e2e.stack.write_env_file(tmp_path / "stack.env")
    prefix = f"hostile-{uuid.uuid4().hex[:8]}/"
    good = prefix + "a[/]b [bold]x\x1b[31mred\x07\u202e.jpg"
    bad = prefix + "broken[/] \x1b]0;title\x07.jpg"
    e2e.upload(good, (SAMPLES / "alpha.png").read_bytes(), "image/png")
    e2e.upload(bad, case("jpeg_truncated.jpg").data)
    e2e.wait_doc(good, lambda d: d is not None and d["status"] == "ready")
    e2e.wait_doc(bad, lambda d: d is not None and d["status"] == "failed")
    shown_good = prefix + "a[/]b [bold]x\\x1b[31mred\\x07\\u202e.jpg"
    shown_bad = prefix + "broken[/] \\x1b]0;title\\x07.jpg"

    listed = gallery(env_file, "ls", "--limit", "100000")
    assert listed.returncode == 0, listed.stderr
    _no_raw_controls(listed.stdout + listed.stderr)
    assert shown_good in listed.stdout and shown_bad in listed.stdout

    failures = gallery(env_file, "failures")
    assert failures.returncode == 0, failures.stderr
    _no_raw_controls(failures.stdout + failures.stderr)
    assert shown_bad in failures.stdout

    shown = gallery(env_file, "show", good)
    assert shown.returncode == 0, shown.stderr
    _no_raw_controls(shown.stdout)
    assert json.loads(shown.stdout)["source"]["name"] == good

    missing = gallery(env_file, "show", prefix + "[/]nothing\x1b.jpg")
    assert missing.returncode == 1
    _no_raw_controls(missing.stderr)
    assert "[/]nothing\\x1b.jpg" in missing.stderr


def test_show_and_retry_refuse_an_argument_that_names_two_photos(e2e: Harness, tmp_path: Path) -> None:
    env_file = e2e.stack.write_env_file(tmp_path / "stack.env")
    prefix = f"ambiguous-{uuid.uuid4().hex[:8]}/"
    bucket = e2e.uploads.name

    # A ready photo, and a second upload named exactly like the first photo's id.
    first = prefix + "first.png"
    e2e.upload(first, (SAMPLES / "alpha.png").read_bytes(), "image/png")
    first_id = photo_id(bucket, first)
    e2e.upload(first_id, (SAMPLES / "alpha.png").read_bytes(), "image/png")
    for name in (first, first_id):
        e2e.wait_doc(name, lambda d: d is not None and d["status"] == "ready")

    refused = gallery(env_file, "show", first_id)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stdout == ""
    assert f"id:{first_id}" in refused.stderr and f"id:{photo_id(bucket, first_id)}" in refused.stderr
    assert "ambiguous" in refused.stderr
    by_id = gallery(env_file, "show", f"id:{first_id}")
    assert json.loads(by_id.stdout)["source"]["name"] == first
    by_name = gallery(env_file, "show", f"name:{first_id}")
    assert json.loads(by_name.stdout)["source"]["name"] == first_id
    unambiguous = gallery(env_file, "show", first)
    assert json.loads(unambiguous.stdout)["source"]["name"] == first

    # The same with two failed photos for retry: nothing is re-queued.
    broken = prefix + "broken.jpg"
    e2e.upload(broken, case("jpeg_truncated.jpg").data)
    broken_id = photo_id(bucket, broken)
    e2e.upload(broken_id, case("jpeg_truncated.jpg").data)
    for name in (broken, broken_id):
        e2e.wait_doc(name, lambda d: d is not None and d["status"] == "failed")
    refused = gallery(env_file, "retry", broken_id)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"id:{broken_id}" in refused.stderr and f"id:{photo_id(bucket, broken_id)}" in refused.stderr
    for name in (broken, broken_id):
        doc = e2e.doc(name)
        assert doc is not None and doc["status"] == "failed"  # not marked retrying
    queued = gallery(env_file, "retry", f"name:{broken_id}", "--json")
    assert queued.returncode in (0, 1), queued.stderr
    assert [r["name"] for r in json.loads(queued.stdout)] == [broken_id]
