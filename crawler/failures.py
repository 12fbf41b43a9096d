"""Name the reason a request failed, so that every failure is counted under a reason."""

from __future__ import annotations

from scrapy import exceptions as scrapy_errors
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet import error as twisted_errors
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

_TIMEOUTS = (
    scrapy_errors.DownloadTimeoutError,
    twisted_errors.TimeoutError,
    twisted_errors.TCPTimedOutError,
    TimeoutError,
)
_DNS = (scrapy_errors.CannotResolveHostError, twisted_errors.DNSLookupError)
_CONNECTION = (
    scrapy_errors.DownloadConnectionRefusedError,
    scrapy_errors.DownloadFailedError,
    scrapy_errors.ResponseDataLossError,
    twisted_errors.ConnectError,
    twisted_errors.ConnectionLost,
    ConnectionError,
)


def failure_reason(failure: Failure) -> str:
    """A short, stable name for a download failure: ``http_404``, ``timeout``, ``too_large``..."""
    error = failure.value
    if isinstance(error, HttpError):
        return f"http_{error.response.status}"
    if isinstance(error, scrapy_errors.IgnoreRequest):
        return "robots_txt" if "robots.txt" in str(error) else "ignored"
    if isinstance(error, scrapy_errors.DownloadCancelledError | CancelledError):
        return "too_large" if "max size" in str(error) else "cancelled"
    if isinstance(error, _TIMEOUTS):
        return "timeout"
    if isinstance(error, _DNS):
        return "dns"
    if isinstance(error, _CONNECTION):
        return "connection"
    return type(error).__name__
