"""The deploy artifact runs: unzip the bundle, install its requirements into a fresh venv, serve it with
functions-framework against the local stack, upload a photo, and the document becomes `ready`."""

from __future__ import annotations

import subprocess
import time
import uuid
import venv
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from gallery.ids import photo_id
from gallery_devstack import processes
from gallery_devstack.stack import DevStack
from tests.infra.test_bundle_zip import FUNCTION_DIR, PACKAGE_DIR, bundle
from tests.paths import ORIENTATION


@pytest.fixture(scope="module")
def installed_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(unzipped source dir, python of a fresh venv holding only the bundle's requirements)."""
    work = tmp_path_factory.mktemp("bundle")
    archive = work / "thumbnailer.zip"
    bundle.build_bundle(archive, FUNCTION_DIR, PACKAGE_DIR)
    source = work / "src"
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(source)
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(source / "requirements.txt")],
        check=True,
        timeout=900,
    )
    return source, python


def test_bundle_serves_a_real_notification(
    installed_bundle: tuple[Path, Path],
    devstack_factory: Callable[..., DevStack],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    source, python = installed_bundle
    # Nothing outside the unzipped bundle and its venv can be imported by the function.
    probe = subprocess.run(
        [str(python), "-c", "import gallery, main; print(gallery.__file__)"],
        cwd=source,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert Path(probe.stdout.strip()).is_relative_to(source), probe.stdout
    stack = devstack_factory(start_function=False)
    function = processes.function(
        port=stack.function_port,
        log_dir=tmp_path,
        source=source / "main.py",
        env=stack.function_environment(),
        python=str(python),
        add_shared_to_path=False,
    )
    function.start()
    try:
        name = f"bundle-{uuid.uuid4().hex[:8]}/landscape_6.jpg"
        bucket = stack.storage_client().bucket(stack.config.uploads_bucket)
        bucket.blob(name).upload_from_string((ORIENTATION / "landscape_6.jpg").read_bytes(), content_type="image/jpeg")
        env = stack.env()
        monkeypatch.setenv("FIRESTORE_EMULATOR_HOST", env["FIRESTORE_EMULATOR_HOST"])
        db = firestore.Client(project=env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials())
        ref = db.collection(env["PHOTOS_COLLECTION"]).document(photo_id(bucket.name, name))
        deadline = time.monotonic() + 60
        doc = None
        while time.monotonic() < deadline:
            snap = ref.get()
            doc = snap.to_dict() if snap.exists else None
            if doc and doc.get("status") == "ready":
                break
            time.sleep(0.1)
        assert doc is not None and doc["status"] == "ready", (doc, (tmp_path / "function.log").read_text()[-3000:])
        assert (doc["width"], doc["height"]) == (600, 450)
    finally:
        function.stop()
