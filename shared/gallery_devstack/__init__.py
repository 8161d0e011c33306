"""Local emulator stack for gallery-backend: Pub/Sub emulator, fake-gcs-server, Firestore emulator, function.

Nothing here is deployed; it exists so that `python -m gallery_devstack run` and the integration and e2e
tests drive the same event flow as Google Cloud, on 127.0.0.1 only.
"""

from gallery_devstack.pubsub_emulator import PubSubEmulator, push_envelope

__all__ = ["PubSubEmulator", "push_envelope"]
