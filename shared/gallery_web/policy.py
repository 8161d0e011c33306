"""What the gallery page's server lets in and out: trusted Host names, the response headers, stream slots.

The server listens on the loopback interface and reads Firestore with the operator's credentials, so a web page
on another origin must not be able to read it: a DNS-rebinding page reaches 127.0.0.1 under its own host name,
which the Host allowlist refuses. The Content Security Policy lets the page run only its own script and style
files, load images only from itself and the renditions' origin, and play media (the videos' and Live Photos'
moving previews, stored beside the renditions) only from the renditions' origin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

DEFAULT_ALLOWED_HOSTS = ("127.0.0.1", "localhost")
DEFAULT_MAX_STREAMS = 32
READ_METHODS = frozenset({"GET", "HEAD"})
WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::", "[::]"})


def allowed_hosts(names: Iterable[str], bind_host: str) -> list[str]:
    """The Host names the server answers to: the given ones plus the bind address when it is a single address."""
    hosts = [name.strip().lower() for name in names if name.strip()]
    if bind_host not in WILDCARD_ADDRESSES and bind_host.lower() not in hosts:
        hosts.append(bind_host.lower())
    return hosts


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL; empty if it has none."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def content_security_policy(image_origins: Iterable[str]) -> str:
    """The page's policy: own scripts and styles only, images from here, thumbhash data URLs and the renditions,
    video from here and the renditions (the moving previews)."""
    renditions = sorted({o for o in image_origins if o})
    images = " ".join(["'self'", "data:", *renditions])
    media = " ".join(["'self'", *renditions])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            f"media-src {media}",
            "connect-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def security_headers(image_origins: Iterable[str]) -> dict[str, str]:
    """Headers every response carries."""
    return {
        "Content-Security-Policy": content_security_policy(image_origins),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Resource-Policy": "same-origin",
    }


class StreamSlots:
    """At most `limit` open event streams. `acquire` returns the slot's release function, or None when full."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("the stream limit must be at least 1")
        self.limit = limit
        self._open = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> int:
        with self._lock:
            return self._open

    def acquire(self) -> Callable[[], None] | None:
        with self._lock:
            if self._open >= self.limit:
                return None
            self._open += 1
        released = threading.Event()

        def release() -> None:  # idempotent: a response may be closed more than once
            with self._lock:
                if not released.is_set():
                    released.set()
                    self._open -= 1

        return release
