"""`gallery failures` lists failed photos with their codes; `gallery retry` re-queues them after a fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from tests.corpus import case
from tests.e2e.conftest import Harness
from tests.paths import ROOT

GALLERY = Path(sys.executable).parent / "gallery"


def gallery(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST") and k != "PUBSUB_TOPIC"}
    env["COLUMNS"] = "250"
    return subprocess.run(
        [str(GALLERY), *args, "--env-file", str(env_file)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=ROOT,
        check=False,
    )


def failed_with(code: str) -> Any:
    return lambda d: d is not None and d.get("status") == "failed" and d["error"]["code"] == code


def test_failures_are_listed_and_retried_after_a_fix(e2e: Harness, tmp_path: Path) -> None:
    env_file = e2e.stack.write_env_file(tmp_path / ".devstack.env")
    prefix = f"cli-{uuid.uuid4().hex[:8]}/"
    gif, broken = prefix + "animation.gif", prefix + "truncated.jpg"
    generation = e2e.upload(gif, case("gif_600_frames.gif").data, "image/gif")
    e2e.upload(broken, case("jpeg_truncated.jpg").data)
    e2e.wait_doc(gif, failed_with("too_many_frames"))
    e2e.wait_doc(broken, failed_with("corrupt_image"))

    listed = gallery(env_file, "failures", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows[gif]["code"] == "too_many_frames" and rows[gif]["generation"] == generation
    assert "600 frames" in rows[gif]["reason"] and rows[gif]["when"]
    assert rows[broken]["code"] == "corrupt_image"
    only = json.loads(gallery(env_file, "failures", "--json", "--code", "corrupt_image").stdout)
    assert {r["code"] for r in only} == {"corrupt_image"}
    table = gallery(env_file, "failures")
    assert table.returncode == 0 and "too_many_frames" in table.stdout

    # The fix: an operator raises MAX_FRAMES and redeploys. Then the failed GIF is re-queued by name.
    e2e.stack.config.function_env["MAX_FRAMES"] = "1000"
    e2e.stack.restart_service("function")
    try:
        retried = gallery(env_file, "retry", gif, "--json")
        assert retried.returncode == 0, retried.stderr
        assert [r["queued"] for r in json.loads(retried.stdout)] == [True]
        doc = e2e.wait_doc(gif, lambda d: d is not None and d.get("status") == "ready", timeout=30)
        assert doc is not None and doc["source"]["generation"] == generation and doc["error"] is None
        assert e2e.rendition_names(gif) == {r["path"] for r in doc["renditions"]}
        # A photo that is still broken fails again, once, with the same code: a retry never loops.
        before = e2e.doc(broken)
        assert before is not None
        again = gallery(env_file, "retry", "--all", "--code", "corrupt_image", "--json")
        assert again.returncode == 0, again.stderr
        assert broken in {r["name"] for r in json.loads(again.stdout) if r["queued"]}
        after = e2e.wait_doc(
            broken, lambda d: failed_with("corrupt_image")(d) and d["attempts"] == before["attempts"] + 1
        )
        assert after is not None and e2e.rendition_names(broken) == set()
    finally:
        del e2e.stack.config.function_env["MAX_FRAMES"]
        e2e.stack.restart_service("function")
    refused = gallery(env_file, "retry", prefix + "never-uploaded.jpg")
    assert refused.returncode == 1 and "not a failed photo" in refused.stderr
    assert gallery(env_file, "retry").returncode == 2
