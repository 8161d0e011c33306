"""`terraform fmt -check` over infra/terraform: the Terraform is in canonical format."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.infra.tf import TF_DIR


def test_terraform_fmt_leaves_no_diff() -> None:
    terraform = shutil.which("terraform")
    if terraform is None:
        pytest.fail(
            "the terraform binary is not on PATH; install Terraform >= 1.5 (CI does) to run the format check "
            "(`terraform fmt -check -recursive infra/terraform`)"
        )
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", str(TF_DIR)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "TF_IN_AUTOMATION": "1", "CHECKPOINT_DISABLE": "1"},
    )
    assert result.returncode == 0, (
        f"terraform fmt would change these files (run `terraform fmt -recursive infra/terraform`):\n"
        f"{result.stdout}{result.stderr}"
    )
