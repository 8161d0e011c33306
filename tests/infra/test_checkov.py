"""checkov finds no failed check in infra/terraform (suppressions are inline, each with a reason).

checkov pins bc-python-hcl2, whose `hcl2` module overwrites python-hcl2's in a shared environment (the wiring
tests need the real python-hcl2), so checkov lives in its own virtualenv. It is found, in order, at
$CHECKOV, .venv-checkov/bin/checkov in the repository, or `checkov` on PATH.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.tf import ROOT, TF_DIR, tf_files


def _checkov() -> str:
    candidates = [os.environ.get("CHECKOV", ""), str(ROOT / ".venv-checkov" / "bin" / "checkov")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = shutil.which("checkov")
    if on_path:
        return on_path
    pytest.fail(
        "checkov not found: create its own virtualenv with "
        "`python -m venv .venv-checkov && .venv-checkov/bin/pip install 'checkov>=3,<4'` "
        "(not in the project venv: its bc-python-hcl2 clobbers python-hcl2), or set CHECKOV=/path/to/checkov"
    )


@pytest.fixture(scope="module")
def report() -> list[dict[str, Any]]:
    result = subprocess.run(
        [_checkov(), "-d", str(TF_DIR), "--framework", "terraform", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    # Exit code 1 means failed checks; the JSON below says which. Anything else is checkov itself failing.
    assert result.returncode in (0, 1), f"checkov did not run (exit {result.returncode}):\n{result.stderr[-4000:]}"
    parsed = json.loads(result.stdout)
    return parsed if isinstance(parsed, list) else [parsed]


def test_checkov_scanned_the_module(report: list[dict[str, Any]]) -> None:
    summary = report[0]["summary"]
    assert report[0]["check_type"] == "terraform"
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= 25, summary
    assert summary["passed"] > 0, summary


def test_checkov_has_no_failed_check(report: list[dict[str, Any]]) -> None:
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for r in report
        for c in r["results"].get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks (fix them, or skip inline with a reason):\n" + "\n".join(failed)


def test_every_inline_suppression_gives_a_reason() -> None:
    pattern = re.compile(r"checkov:skip=([A-Z0-9_]+)(.*)")
    for path in tf_files(TF_DIR):
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = pattern.search(line)
            if match:
                reason = match.group(2).lstrip(":").strip()
                assert len(reason) >= 20, f"{path.name}:{lineno}: checkov skip of {match.group(1)} without a reason"
