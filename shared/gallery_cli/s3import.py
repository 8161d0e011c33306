"""`gallery import s3://BUCKET/PREFIX`: copy photos from S3 (or an S3-compatible store) into the uploads bucket.

Every copied object is an upload, so Cloud Storage notifies the function; by default the import queues the photos
on the bulk lane (gallery_cli.lanes): each copy carries the custom metadata ``gallery-lane: bulk``, so the live
lane acknowledges the bucket's notification without rendering it, and the import publishes the same notification
to the bulk topic, whose function renders it. ``--lane live`` makes the copies ordinary uploads instead.
An import never overwrites: a name already in the uploads bucket is skipped ("already present", with a note
when its size or MD5 differs from the source), and every write carries ``if_generation_match=0``, so an object
created meanwhile is reported as already present too. Re-running an import copies only what is new. Objects
larger than ``MAX_BYTES`` (the function would refuse them) are skipped without being downloaded.
"""

from __future__ import annotations

import base64
import binascii
import json
import mimetypes
import re
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import typer

from gallery.ids import photo_id
from gallery.model import LANE_METADATA_KEY
from gallery.service import ServiceConfig
from gallery_cli.backfill import Candidate, PublishResult, publish_with_progress
from gallery_cli.base import (
    MEDIA_SUFFIXES,
    VIDEO_SUFFIXES,
    EnvFileOption,
    JsonOption,
    app,
    err,
    fail,
    load_settings,
    out,
    preflight,
    progress,
)
from gallery_cli.lanes import Lane, LaneOption, NoTopicError, TopicOption, publish_target
from gallery_cli.status import Pending
from gallery_cli.terminal import safe_text
from gallery_cli.waiting import hint_and_exit, report_wait, wait_for_function

SPOOL_BYTES = 32 * 1024 * 1024
_PLAIN_MD5 = re.compile(r"^[0-9a-f]{32}$")

Action = Literal["copy", "skip"]
ALREADY_PRESENT = "already present"
DIFFERS = "already present, differs from the source (delete it from the uploads bucket to import it again)"
TOO_LARGE = "larger than MAX_BYTES"


class TooLargeError(Exception):
    """The object grew past MAX_BYTES between the listing and the download."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` → ``("bucket", "some/prefix")``."""
    if not url.startswith("s3://"):
        raise typer.BadParameter("expected s3://BUCKET[/PREFIX]", param_hint="SOURCE")
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise typer.BadParameter("the S3 URL has no bucket", param_hint="SOURCE")
    return bucket, prefix


def destination_name(key: str, prefix: str, dest_prefix: str) -> str:
    """Object name in the uploads bucket: the key below the prefix's folder, under `dest_prefix`.

    ``s3://b/2024/trip/`` + ``2024/trip/a.jpg`` → ``a.jpg``; ``s3://b/2024/tr`` + ``2024/trip/a.jpg`` →
    ``trip/a.jpg`` (like ``aws s3 cp --recursive``).
    """
    folder = prefix[: prefix.rfind("/") + 1]
    return dest_prefix + key.removeprefix(folder)


def s3_md5(etag: str | None) -> str | None:
    """The object's MD5 (hex) when its ETag is one (single-part upload without SSE-KMS), else None."""
    value = (etag or "").strip('"').lower()
    return value if _PLAIN_MD5.match(value) else None


def gcs_md5(md5_hash: str | None) -> str | None:
    """A GCS ``md5Hash`` (base64) as hex; composite objects have none."""
    if not md5_hash:
        return None
    try:
        return base64.b64decode(md5_hash).hex()
    except (binascii.Error, ValueError):
        return None


@dataclass(frozen=True)
class Existing:
    size: int
    md5: str | None
    generation: int


def decide(size: int, etag: str | None, existing: Existing | None, max_bytes: int) -> tuple[Action, str | None]:
    """Copy what is missing and fits MAX_BYTES; skip the rest, with the reason. Nothing is ever replaced."""
    if size > max_bytes:
        return "skip", f"{TOO_LARGE} ({size} > {max_bytes} bytes)"
    if existing is None:
        return "copy", None
    ours, theirs = s3_md5(etag), existing.md5
    if existing.size != size or (ours and theirs and ours != theirs):
        return "skip", DIFFERS
    return "skip", ALREADY_PRESENT


@dataclass
class Item:
    key: str
    name: str
    size: int
    etag: str | None
    content_type: str | None
    action: Action
    reason: str | None = None
    generation: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"key": self.key, "name": self.name, "bytes": self.size, "action": self.action}
        if self.reason:
            data["reason"] = self.reason
        if self.generation is not None:
            data["generation"] = self.generation
        if self.error:
            data["error"] = self.error
        return data


def _list_s3(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def _copy(s3: Any, source_bucket: str, uploads: Any, item: Item, max_bytes: int, lane: Lane) -> Item:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
        response = s3.get_object(Bucket=source_bucket, Key=item.key)
        body = response["Body"]
        try:
            for chunk in iter(lambda: body.read(1024 * 1024), b""):
                spool.write(chunk)
                if spool.tell() > max_bytes:
                    raise TooLargeError(f"{TOO_LARGE} (more than {max_bytes} bytes downloaded)")
        finally:
            body.close()
        size = spool.tell()
        spool.seek(0)
        content_type = item.content_type
        if not content_type or content_type in ("binary/octet-stream", "application/octet-stream"):
            content_type = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
        blob = uploads.blob(item.name)
        if lane == "bulk":  # the live lane leaves the bucket's notification of this upload to the bulk lane
            blob.metadata = {LANE_METADATA_KEY: lane}
        # Only if no object of this name exists: an import never overwrites a photo.
        blob.upload_from_file(spool, size=size, content_type=content_type, if_generation_match=0, checksum="md5")
    item.generation = int(blob.generation)
    return item


def copy_item(s3: Any, source_bucket: str, uploads: Any, item: Item, max_bytes: int, lane: Lane = "live") -> Item:
    """`_copy`, with the outcome recorded on the item: copied, skipped (with the reason) or failed."""
    from google.api_core.exceptions import PreconditionFailed

    try:
        _copy(s3, source_bucket, uploads, item, max_bytes, lane)
    except PreconditionFailed:  # created since the listing: left as it is
        item.action, item.reason = "skip", ALREADY_PRESENT
    except TooLargeError as exc:
        item.action, item.reason = "skip", str(exc)
    except Exception as exc:
        item.error = f"{type(exc).__name__}: {exc}"
    return item


def _s3_client(endpoint_url: str | None, region: str | None) -> Any:
    try:
        import boto3
    except ImportError:  # pragma: no cover - boto3 is a dependency of the dev extra
        fail("`gallery import` needs boto3: pip install boto3")
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region)


@app.command("import")
def import_s3(
    source: Annotated[str, typer.Argument(help="s3://BUCKET[/PREFIX] to copy from")],
    endpoint_url: Annotated[
        str | None, typer.Option(help="S3-compatible endpoint (MinIO, R2, moto, ...); default: AWS")
    ] = None,
    region: Annotated[str | None, typer.Option(help="AWS region of the source bucket")] = None,
    dest_prefix: Annotated[str, typer.Option(help="Object-name prefix in the uploads bucket")] = "",
    all_files: Annotated[
        bool, typer.Option("--all-files", help="Copy every object, not only photo file names")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Objects copied at once")] = 4,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only report what would be copied")] = False,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the copied photos are ready or failed")] = False,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds --wait waits at most")] = 600.0,
    lane: LaneOption = "bulk",
    topic: TopicOption = None,
    env_file: EnvFileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Copy photos from S3 into the uploads bucket (skipping what is already there), so they get processed: on
    the bulk lane by default, so live uploads never wait behind an import (`--lane live` to override)."""
    from gallery.wiring import build_catalog, storage_client

    source_bucket, prefix = parse_s3_url(source)
    settings = load_settings(env_file)
    target = ""
    if lane == "bulk" and not dry_run:
        try:
            target = publish_target(settings, lane, topic)
        except NoTopicError as exc:
            fail(str(exc))
    preflight("storage", *(("firestore",) if wait else ()), *(("pubsub",) if target else ()))
    s3 = _s3_client(endpoint_url, region)
    uploads = storage_client(settings).bucket(settings.uploads_bucket)
    listed = _list_source(s3, source, source_bucket, prefix, all_files)
    limit = byte_limit(settings.max_bytes, settings.video_max_bytes)
    items = _plan(listed, prefix, dest_prefix, _existing(uploads, dest_prefix), limit)
    run = ImportRun(source, settings.uploads_bucket, dry_run, items)
    if not dry_run and run.to_copy:
        _copy_all(s3, source_bucket, uploads, run.to_copy, concurrency, limit, lane)
    copied = run.copied
    if target and copied:
        _queue_on_bulk_lane(target, settings.uploads_bucket, copied)
    spec_version = ServiceConfig.from_settings(settings).spec.version
    waited = None
    if wait and copied:
        pending = [Pending(photo_id(settings.uploads_bucket, i.name), i.generation or 0, i.name) for i in copied]
        waited = wait_for_function(build_catalog(settings), pending, spec_version, timeout)
    if as_json:
        summary = run.as_dict()
        out.print_json(json.dumps({**summary, **({"wait": waited.as_dict()} if waited else {})}))
    else:
        run.print()
        report_wait(waited, timeout, as_json=False)
    hint_and_exit(waited, spec_version, item_errors=bool(run.failed))


def _list_source(s3: Any, source: str, bucket: str, prefix: str, all_files: bool) -> list[dict[str, Any]]:
    """The S3 objects to consider: photo file names (every object with `all_files`), no folder markers."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        return [
            o
            for o in _list_s3(s3, bucket, prefix)
            if not o["Key"].endswith("/") and (all_files or any(o["Key"].lower().endswith(s) for s in MEDIA_SUFFIXES))
        ]
    except NoCredentialsError:
        fail("no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or an instance role")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        fail(f"cannot list {source}: {code or exc}")
    except BotoCoreError as exc:
        fail(f"cannot list {source}: {exc}")


def _existing(uploads: Any, dest_prefix: str) -> dict[str, Existing]:
    try:
        return {
            b.name: Existing(int(b.size or 0), gcs_md5(b.md5_hash), int(b.generation))
            for b in uploads.client.list_blobs(uploads.name, prefix=dest_prefix or None)
        }
    except Exception as exc:
        fail(f"cannot list gs://{uploads.name}: {type(exc).__name__}: {exc}")


def byte_limit(photo_bytes: int, video_bytes: int) -> Callable[[str], int]:
    """The size limit of an object by its name: a video file's is VIDEO_MAX_BYTES, anything else's MAX_BYTES (the
    function decides by the bytes and holds each kind to its own limit)."""
    return lambda key: video_bytes if key.lower().endswith(tuple(VIDEO_SUFFIXES)) else photo_bytes


def _plan(
    listed: list[dict[str, Any]],
    prefix: str,
    dest_prefix: str,
    existing: dict[str, Existing],
    limit: Callable[[str], int],
) -> list[Item]:
    items: list[Item] = []
    for obj in listed:
        name = destination_name(obj["Key"], prefix, dest_prefix)
        size = int(obj.get("Size", 0))
        action, reason = decide(size, obj.get("ETag"), existing.get(name), limit(obj["Key"]))
        items.append(Item(obj["Key"], name, size, obj.get("ETag"), None, action, reason))
    return items


def _copy_all(
    s3: Any,
    source_bucket: str,
    uploads: Any,
    to_copy: list[Item],
    concurrency: int,
    limit: Callable[[str], int],
    lane: Lane,
) -> None:
    """Copy every item, `concurrency` at once; each outcome (copied, skipped, failed) is recorded on its item."""
    with progress() as bar, ThreadPoolExecutor(max_workers=concurrency) as pool:
        task = bar.add_task("copying", total=len(to_copy))
        futures = [pool.submit(copy_item, s3, source_bucket, uploads, i, limit(i.key), lane) for i in to_copy]
        for _ in as_completed(futures):
            bar.advance(task)


def _queue_on_bulk_lane(target: str, bucket: str, copied: list[Item]) -> None:
    """Publish the copies' notifications to the bulk lane; an item that could not be queued is marked failed."""
    candidates = [
        Candidate(
            i.name,
            i.generation or 0,
            photo_id(bucket, i.name),
            "unregistered",
            {"bucket": bucket, "name": i.name, "generation": str(i.generation), "size": str(i.size)},
        )
        for i in copied
    ]
    result = publish_with_progress(target, "bulk", candidates, rate=0, concurrency=16, before=PublishResult())
    for i in copied:
        if i.name in result.errors:
            i.error = f"copied, but not queued on the bulk lane (`gallery backfill` queues it): {result.errors[i.name]}"


@dataclass(frozen=True)
class ImportRun:
    """What one import found and did, for its JSON summary and its printed report."""

    source: str
    bucket: str
    dry_run: bool
    items: list[Item]

    @property
    def to_copy(self) -> list[Item]:
        return [i for i in self.items if i.action == "copy"]

    @property
    def copied(self) -> list[Item]:
        return [i for i in self.to_copy if i.generation is not None]

    @property
    def failed(self) -> list[Item]:
        return [i for i in self.to_copy if i.error]

    def as_dict(self) -> dict[str, Any]:
        items, to_copy, copied = self.items, self.to_copy, self.copied
        return {
            "source": self.source,
            "bucket": self.bucket,
            "dry_run": self.dry_run,
            "found": len(items),
            "copied": len(copied),
            "would_copy": len(to_copy) if self.dry_run else 0,
            "skipped": sum(1 for i in items if i.action == "skip"),
            "already_present": len(_present(items)),
            "too_large": len(_too_large(items)),
            "failed": len(self.failed),
            "bytes_copied": sum(i.size for i in copied),
            "items": [i.as_dict() for i in items],
        }

    def print(self) -> None:
        items, to_copy, copied, failed = self.items, self.to_copy, self.copied, self.failed
        if self.dry_run:
            for i in to_copy:
                out.print(safe_text(f"would copy {i.key} → gs://{self.bucket}/{i.name}"), highlight=False)
        for i in items:
            if i.reason and i.reason != ALREADY_PRESENT:
                err.print(safe_text(f"skipped {i.key}: {i.reason}"), highlight=False, soft_wrap=True)
        verb = "would copy" if self.dry_run else "copied"
        done = len(to_copy) if self.dry_run else len(copied)
        megabytes = sum(i.size for i in (to_copy if self.dry_run else copied)) / 1e6
        out.print(
            f"{safe_text(self.source)}: {len(items)} photo(s) found, {verb} {done} ({megabytes:.1f} MB), "
            f"{len(_present(items))} already present, {len(_too_large(items))} too large, {len(failed)} failed",
            highlight=False,
            soft_wrap=True,
        )
        for i in failed:
            err.print(f"[red]could not copy {safe_text(i.key)}:[/red] {safe_text(i.error)}", highlight=False)


def _present(items: list[Item]) -> list[Item]:
    return [i for i in items if i.reason and i.reason.startswith(ALREADY_PRESENT)]


def _too_large(items: list[Item]) -> list[Item]:
    return [i for i in items if i.reason and i.reason.startswith(TOO_LARGE)]
