"""One root exception; every failure is either permanent (record it, ack) or transient (retry)."""

from __future__ import annotations


class GalleryError(Exception):
    """Root of every error the product raises on purpose."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def reason(self) -> str:
        return str(self)


class PermanentError(GalleryError):
    """Retrying cannot help: the photo is recorded as failed with `code` and the message is acked."""

    code = "permanent"


class TransientError(GalleryError):
    """A dependency blipped: answer non-2xx so Pub/Sub redelivers with backoff."""

    code = "transient"


class BadEventError(PermanentError):
    """The request is not a notification this function understands."""

    code = "bad_event"


class UnsupportedImageError(PermanentError):
    """The bytes are not an image in a supported format (whatever the name or content type says)."""

    code = "unsupported_format"


class CorruptImageError(PermanentError):
    """The image is truncated or its data is damaged."""

    code = "corrupt_image"


class CorruptVideoError(CorruptImageError):
    """The video's container or stream is truncated, damaged or holds nothing to show."""

    code = "corrupt_video"


class LimitExceededError(PermanentError):
    """The image is over a configured limit (pixels, bytes, frames); refused before decoding."""

    code = "limit_exceeded"


class SourceGoneError(PermanentError):
    """The notified generation no longer exists in the uploads bucket."""

    code = "source_gone"
