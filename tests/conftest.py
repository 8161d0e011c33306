from pathlib import Path

import pytest

from tests.heavy import write_heavy_set

pytest_plugins = ["tests.fixtures_devstack"]


@pytest.fixture(scope="session")
def heavy_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The heavy-but-legal inputs of tests/heavy.py, written once per session: {name: Path}."""
    folder = tmp_path_factory.mktemp("heavy")
    return {path.name: path for path in write_heavy_set(folder)}
