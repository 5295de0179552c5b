"""Errors speechkit raises, all in livekit's ``APIError`` family or ``ValueError``.

Two families:

* configuration errors (:class:`ConfigError`, a ``ValueError``) are raised when a
  config string or options are parsed, before any audio flows;
* API errors (livekit's ``APIError`` family) are raised by streams. Their
  ``retryable`` flag drives the core's retry policy: bad credentials and invalid
  requests are never retried, network failures, 5xx, 429 and unexpected closes are.
"""

from __future__ import annotations

from livekit.agents import APIConnectionError, APIError, APIStatusError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "AuthenticationError",
    "ConfigError",
    "InvalidRequestError",
    "MissingCredentialsError",
    "ProviderUnavailableError",
    "RateLimitError",
    "ServerError",
    "error_for_status",
    "parse_retry_after",
]


class ConfigError(ValueError):
    """A config string, option or value is wrong; the message says what is accepted."""


class MissingCredentialsError(ConfigError):
    """A provider needs an API key and none was given nor found in its environment variable."""


class ProviderUnavailableError(ConfigError):
    """A provider is unknown, or known but its dependencies are not installed."""


class AuthenticationError(APIStatusError):
    """The vendor refused the credentials (HTTP 401/403 or the vendor's auth error). Not retried."""

    def __init__(self, message: str, *, status_code: int = 401, body: object | None = None) -> None:
        super().__init__(message, status_code=status_code, body=body, retryable=False)


class InvalidRequestError(APIStatusError):
    """The vendor rejected the request's parameters or audio format. Not retried."""

    def __init__(self, message: str, *, status_code: int = 400, body: object | None = None) -> None:
        super().__init__(message, status_code=status_code, body=body, retryable=False)


class RateLimitError(APIStatusError):
    """Too many requests or sessions (HTTP 429). Retried, after ``retry_after`` seconds if given."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 429,
        retry_after: float | None = None,
        body: object | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, retryable=True)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """The vendor failed (5xx, an internal error frame, an unexpected close). Retried."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int = 500,
        retry_after: float | None = None,
        body: object | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, retryable=True)
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Parse an HTTP ``Retry-After`` header given in seconds.

    Args:
        value: The header value, e.g. ``"3"``; HTTP dates are not used by STT vendors
            and are ignored.

    Returns:
        Seconds to wait (>= 0), or None when absent or not a number.
    """
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds)


def error_for_status(
    status: int,
    *,
    provider: str,
    detail: str = "",
    credential_env: str | None = None,
    retry_after: float | None = None,
    body: object | None = None,
) -> APIStatusError:
    """Classify an HTTP status from a vendor into a retryable or final error.

    Args:
        status: HTTP status of a refused WebSocket handshake or HTTP request.
        provider: Provider name, for the message.
        detail: What the server said, if anything (never transcript text).
        credential_env: The provider's API key variable, named in the fix for 401/403.
        retry_after: Seconds from a ``Retry-After`` header.
        body: The decoded response body, kept on the error.

    Returns:
        ``AuthenticationError`` for 401/403, ``RateLimitError`` for 408/429,
        ``ServerError`` for 5xx, ``InvalidRequestError`` for other 4xx, else a
        retryable ``APIStatusError``.
    """
    said = f": {detail}" if detail else ""
    if status in (401, 403):
        fix = f"set {credential_env} or pass api_key=" if credential_env else "check the credentials"
        return AuthenticationError(
            f"{provider} refused the credentials (HTTP {status}){said}; {fix}",
            status_code=status,
            body=body,
        )
    if status in (408, 429):
        return RateLimitError(
            f"{provider} is rate limiting (HTTP {status}){said}; retrying",
            status_code=status,
            retry_after=retry_after,
            body=body,
        )
    if 400 <= status < 500:
        return InvalidRequestError(
            f"{provider} rejected the request (HTTP {status}){said}; check the provider options",
            status_code=status,
            body=body,
        )
    if status >= 500:
        return ServerError(
            f"{provider} server error (HTTP {status}){said}",
            status_code=status,
            retry_after=retry_after,
            body=body,
        )
    return APIStatusError(
        f"{provider} failed (status {status}){said}", status_code=status, body=body, retryable=True
    )
