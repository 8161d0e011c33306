"""One place that decides whether an exception from a Google client is transient or permanent."""

from __future__ import annotations

from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exc

from gallery.errors import GalleryError, PermanentError, TransientError

try:  # requests is what google-cloud-storage speaks HTTP with
    import requests

    _NETWORK: tuple[type[BaseException], ...] = (
        requests.ConnectionError,
        requests.Timeout,
        ConnectionError,
        TimeoutError,
    )
except ImportError:  # pragma: no cover
    _NETWORK = (ConnectionError, TimeoutError)

_TRANSIENT_API = (
    gexc.TooManyRequests,
    gexc.InternalServerError,
    gexc.BadGateway,
    gexc.ServiceUnavailable,
    gexc.GatewayTimeout,
    gexc.DeadlineExceeded,
    gexc.Aborted,
    gexc.RetryError,
    gexc.Unknown,
    gexc.Cancelled,
    gexc.ResourceExhausted,
)


def classify(err: BaseException, what: str) -> GalleryError:
    """Map a client exception to TransientError (retry) or PermanentError (record and ack)."""
    if isinstance(err, GalleryError):
        return err
    if isinstance(err, _TRANSIENT_API + _NETWORK):
        return TransientError(f"{what}: {type(err).__name__}: {err}", code="dependency_unavailable")
    if isinstance(err, auth_exc.TransportError):
        return TransientError(f"{what}: {err}", code="dependency_unavailable")
    if isinstance(err, gexc.Forbidden | gexc.Unauthorized | auth_exc.DefaultCredentialsError):
        # A missing grant is fixed by an operator, and the message should survive until then: retry.
        return TransientError(f"{what}: permission denied: {err}", code="permission_denied")
    if isinstance(err, gexc.GoogleAPICallError):
        return PermanentError(f"{what}: {type(err).__name__}: {err}", code="dependency_rejected")
    return TransientError(f"{what}: unexpected {type(err).__name__}: {err}", code="unexpected")
