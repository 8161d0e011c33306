"""Upload → `ready` latency through the whole local stack (fake-gcs → Pub/Sub → function → Firestore).

Usage: .venv/bin/python scripts/measure_latency.py [--runs N]
Prints the median and p90 for a small JPEG and the 20-megapixel sample.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

from gallery.ids import photo_id
from gallery_devstack.stack import DevStack, DevStackConfig

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = {
    "small JPEG (640x480, 160 KB)": ROOT / "samples" / "gps_DSCN0010.jpg",
    "20 MP JPEG (6028x3391, 4.4 MB)": ROOT / "samples" / "large" / "landscape_20mp.jpg",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as logs, DevStack(DevStackConfig(log_dir=Path(logs))) as stack:
        env = stack.env()
        os.environ["FIRESTORE_EMULATOR_HOST"] = env["FIRESTORE_EMULATOR_HOST"]
        db = firestore.Client(project=env["GOOGLE_CLOUD_PROJECT"], credentials=AnonymousCredentials())
        photos = db.collection(env["PHOTOS_COLLECTION"])
        bucket = stack.storage_client().bucket(env["UPLOADS_BUCKET"])
        for label, path in PHOTOS.items():
            data = path.read_bytes()
            samples: list[float] = []
            for _ in range(args.runs):
                name = f"latency/{uuid.uuid4().hex}{path.suffix}"
                ref = photos.document(photo_id(bucket.name, name))
                started = time.perf_counter()
                bucket.blob(name).upload_from_string(data, content_type="image/jpeg")
                uploaded = time.perf_counter()
                while True:
                    snap = ref.get()
                    if snap.exists and (snap.to_dict() or {}).get("status") == "ready":
                        break
                    if time.perf_counter() - started > 60:
                        raise SystemExit(f"{name} not ready after 60 s")
                    time.sleep(0.01)
                samples.append((time.perf_counter() - uploaded) * 1000)
            samples.sort()
            p90 = samples[min(len(samples) - 1, round(0.9 * (len(samples) - 1)))]
            sys.stdout.write(
                f"{label}: upload→ready median {statistics.median(samples):.0f} ms, p90 {p90:.0f} ms "
                f"over {len(samples)} runs\n"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
