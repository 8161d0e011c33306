"""FirestoreCatalog against the Firestore emulator: the same answers as the in-memory catalog."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from gallery.adapters.firestore_catalog import FirestoreCatalog
from tests.catalog_contract import check_catalog
from tests.fixtures_devstack import FirestoreEmulatorInfo


def test_the_firestore_catalog_answers_like_every_catalog(
    firestore_emulator: FirestoreEmulatorInfo, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in firestore_emulator.env.items():
        monkeypatch.setenv(key, value)
    client = firestore.Client(project="gallery-it", credentials=AnonymousCredentials())
    collection = f"photos-{uuid.uuid4().hex[:8]}"

    def store(pid: str, body: dict[str, Any]) -> None:
        client.collection(collection).document(pid).set(body)

    check_catalog(FirestoreCatalog(client, collection), store)
