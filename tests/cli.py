"""Run the `gallery` console script the way a user does after `make run`: a subprocess in its own folder, attached
to a stack only through the env file the stack wrote (nothing inherited that would point it elsewhere)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from gallery_devstack.stack import DevStack

GALLERY = Path(sys.executable).with_name("gallery")


def run_gallery(
    stack: DevStack, folder: Path, *args: str, timeout: float = 300, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    """`gallery ARGS --env-file FOLDER/stack.env` in `folder`; fails the test unless it exits 0."""
    env_file = stack.write_env_file(folder / "stack.env")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_EMULATOR_HOST") and not k.startswith("PUBSUB_")}
    env.update(extra_env)
    done = subprocess.run(
        [str(GALLERY), *args, "--env-file", str(env_file)],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done
