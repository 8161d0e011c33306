"""Cloud Storage: read uploads at a pinned generation, write and delete renditions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from google.api_core import exceptions as gexc
from google.cloud import storage  # type: ignore[attr-defined]
from google.cloud.storage.retry import DEFAULT_RETRY

from gallery.adapters.classify import classify
from gallery.errors import LimitExceededError, SourceGoneError
from gallery.ids import rendition_prefix
from gallery.model import LANE_METADATA_KEY, LiveObject

logger = logging.getLogger(__name__)

CACHE_CONTROL = "public, max-age=31536000, immutable"
_TIMEOUT = (10, 60)  # connect, read
# Retry inside one delivery only briefly; past that, answer 503 and let Pub/Sub's backoff take over.
DEFAULT_RETRY_SECONDS = 30.0


class GcsSourceStore:
    """The uploads bucket, read only."""

    def __init__(self, client: storage.Client, retry_seconds: float = DEFAULT_RETRY_SECONDS) -> None:
        self._client = client
        self._retry = DEFAULT_RETRY.with_timeout(retry_seconds)

    def live_object(self, bucket: str, name: str) -> LiveObject | None:
        """A metadata read of the live generation (objects.get without a generation)."""
        try:
            blob = self._client.bucket(bucket).get_blob(name, timeout=_TIMEOUT, retry=self._retry)
        except Exception as err:
            raise classify(err, f"stat gs://{bucket}/{name}") from err
        if blob is None or blob.generation is None:
            return None
        return LiveObject(
            generation=int(blob.generation),
            size=int(blob.size) if blob.size is not None else None,
            content_type=blob.content_type,
            lane=(blob.metadata or {}).get(LANE_METADATA_KEY),
        )

    def list_names(self, bucket: str, prefix: str, limit: int = 20) -> list[str]:
        try:
            blobs = self._client.list_blobs(
                bucket, prefix=prefix, max_results=limit, timeout=_TIMEOUT, retry=self._retry
            )
            return [blob.name for blob in blobs]
        except Exception as err:
            raise classify(err, f"list gs://{bucket}/{prefix}") from err

    def download(self, bucket: str, name: str, generation: int, max_bytes: int) -> bytes:
        blob = self._client.bucket(bucket).blob(name, generation=generation)
        try:
            blob.reload(timeout=_TIMEOUT, retry=self._retry)
            if blob.size is not None and blob.size > max_bytes:
                raise LimitExceededError(
                    f"the file is {blob.size} bytes, over the {max_bytes}-byte limit", code="too_large"
                )
            data: bytes = blob.download_as_bytes(timeout=_TIMEOUT, checksum="crc32c", retry=self._retry)
        except gexc.NotFound as err:
            raise SourceGoneError(f"gs://{bucket}/{name}#{generation} no longer exists") from err
        except Exception as err:
            raise classify(err, f"download gs://{bucket}/{name}#{generation}") from err
        if blob.generation is not None and int(blob.generation) != generation:
            raise SourceGoneError(f"gs://{bucket}/{name}#{generation} was replaced by #{blob.generation}")
        return data

    def metadata(self, bucket: str, name: str, generation: int) -> dict[str, str]:
        blob = self._client.bucket(bucket).blob(name, generation=generation)
        try:
            blob.reload(timeout=_TIMEOUT, retry=self._retry)
        except gexc.NotFound as err:
            raise SourceGoneError(f"gs://{bucket}/{name}#{generation} no longer exists") from err
        except Exception as err:
            raise classify(err, f"read the metadata of gs://{bucket}/{name}#{generation}") from err
        return {str(k): str(v) for k, v in (blob.metadata or {}).items()}


class GcsRenditionStore:
    """The renditions bucket: immutable objects under `{photo_id}/{generation}/`."""

    def __init__(self, client: storage.Client, bucket: str, retry_seconds: float = DEFAULT_RETRY_SECONDS) -> None:
        self._bucket = client.bucket(bucket)
        self._retry = DEFAULT_RETRY.with_timeout(retry_seconds)

    def put(self, name: str, data: bytes, content_type: str) -> None:
        blob = self._bucket.blob(name)
        blob.cache_control = CACHE_CONTROL
        try:
            # Same name, same bytes on every attempt: safe to retry without a generation precondition.
            blob.upload_from_string(data, content_type=content_type, timeout=_TIMEOUT, retry=self._retry)
        except Exception as err:
            raise classify(err, f"upload gs://{self._bucket.name}/{name}") from err

    def delete_prefix(self, prefix: str) -> int:
        deleted = 0
        try:
            for blob in self._bucket.list_blobs(prefix=prefix, timeout=_TIMEOUT, retry=self._retry):
                try:
                    blob.delete(timeout=_TIMEOUT, retry=self._retry)
                    deleted += 1
                except gexc.NotFound:
                    continue  # another delivery deleted it first
        except Exception as err:
            raise classify(err, f"delete gs://{self._bucket.name}/{prefix}*") from err
        return deleted

    def list_generations(self, photo_id: str) -> set[int]:
        prefix = rendition_prefix(photo_id)
        generations: set[int] = set()
        try:
            for blob in self._bucket.list_blobs(prefix=prefix, timeout=_TIMEOUT, retry=self._retry):
                part = blob.name[len(prefix) :].split("/", 1)[0]
                if part.isdigit():
                    generations.add(int(part))
        except Exception as err:
            raise classify(err, f"list gs://{self._bucket.name}/{prefix}") from err
        return generations

    def mark_superseded(self, names: Sequence[str]) -> None:
        """Set each object's `customTime` (once: Cloud Storage only lets it move forward), which the bucket's
        lifecycle rule `daysSinceCustomTime` counts from."""
        now = datetime.now(UTC)
        for name in names:
            try:
                blob = self._bucket.get_blob(name, timeout=_TIMEOUT, retry=self._retry)
                if blob is None or blob.custom_time is not None:
                    continue
                blob.custom_time = now
                blob.patch(timeout=_TIMEOUT, retry=self._retry)
            except gexc.NotFound:
                continue
            except Exception as err:
                raise classify(err, f"mark gs://{self._bucket.name}/{name} superseded") from err

    def prune_superseded(self, marked_before: datetime) -> int:
        """Delete the renditions marked superseded before `marked_before` (what the lifecycle rule does, for a
        bucket without it); returns how many were deleted. Streams the listing: memory does not grow with it."""
        deleted = 0
        try:
            for blob in self._bucket.list_blobs(timeout=_TIMEOUT, retry=self._retry):
                if blob.custom_time is None or blob.custom_time >= marked_before:
                    continue
                try:
                    blob.delete(timeout=_TIMEOUT, retry=self._retry)
                    deleted += 1
                except gexc.NotFound:
                    continue
        except Exception as err:
            raise classify(err, f"prune gs://{self._bucket.name}") from err
        return deleted
