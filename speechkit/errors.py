"""Errors speechkit raises, all in livekit's ``APIError`` family or ``ValueError``.

Two families:

* configuration errors (:class:`ConfigError`, a ``ValueError``) are raised when a
  config string or options are parsed, before any audio flows;
* API errors (livekit's ``APIError`` family) are raised by streams. Their
  ``retryable`` flag drives the core's retry policy: bad credentials and invalid
  requests are never retried, network failures, 5xx, 429 and unexpected closes are.
"""

from __future__ import annotations

from typing import Literal

from livekit.agents import APIConnectionError, APIError, APIStatusError

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "AuthenticationError",
    "ConfigError",
    "ErrorKind",
    "InsecureTransportError",
    "InvalidRequestError",
    "MissingCredentialsError",
    "ProviderUnavailableError",
    "RateLimitError",
    "ServerError",
    "classified_error",
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


class InsecureTransportError(ConfigError, InvalidRequestError):
    """A connection would carry a credential unencrypted (``ws://``, ``http://``) to a host outside
    the loopback range; the message names ``insecure_transport``, the option that allows it.

    Both a :class:`ConfigError` (raised when a config string's ``base_url`` is parsed; the CLI exits
    2) and an :class:`InvalidRequestError` (raised by a stream's connect for a URL built later, e.g.
    from an environment variable: final, never retried), as aiohttp's ``InvalidURL`` is both a
    ``ClientError`` and a ``ValueError``.
    """

    def __init__(self, message: str) -> None:
        InvalidRequestError.__init__(self, message, status_code=400)

    def __str__(self) -> str:
        return self.message  # as a ConfigError prints, not livekit's ``message=..., status_code=...``


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


ErrorKind = Literal["auth", "rate_limit", "invalid", "server"]
"""How a vendor failure is classified: ``auth`` (bad credentials) and ``invalid`` (a request the
vendor refuses) are final; ``rate_limit`` and ``server`` are retried."""


def classified_error(
    kind: ErrorKind,
    message: str,
    *,
    credential_env: str | None = None,
    status_code: int | None = None,
    retry_after: float | None = None,
    body: object | None = None,
) -> APIStatusError:
    """The error of ``kind``, its message ending in the fix every speechkit error of that kind names.

    Args:
        kind: The classification.
        message: What failed, e.g. ``"acme error 4001: bad key"`` (never transcript text).
        credential_env: The provider's API key variable, named in the fix for ``auth``.
        status_code: The HTTP status or vendor code; None for the class's default
            (401, 429, 400, 500).
        retry_after: Seconds to wait before retrying (``rate_limit`` and ``server`` only).
        body: The vendor's message, kept on the error.

    Returns:
        ``auth``: :class:`AuthenticationError`, ending ``"; set <credential_env> or pass api_key="``
        (``"; check the credentials"`` without a variable); ``rate_limit``: :class:`RateLimitError`,
        ``"; retrying"``; ``invalid``: :class:`InvalidRequestError`, ``"; check the provider
        options"``; ``server``: :class:`ServerError`, the message as given.
    """
    code = {} if status_code is None else {"status_code": status_code}
    if kind == "auth":
        fix = f"set {credential_env} or pass api_key=" if credential_env else "check the credentials"
        return AuthenticationError(f"{message}; {fix}", body=body, **code)
    if kind == "rate_limit":
        return RateLimitError(f"{message}; retrying", retry_after=retry_after, body=body, **code)
    if kind == "invalid":
        return InvalidRequestError(f"{message}; check the provider options", body=body, **code)
    return ServerError(message, retry_after=retry_after, body=body, **code)


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


_FAILED: dict[ErrorKind, str] = {
    "auth": "refused the credentials",
    "rate_limit": "is rate limiting",
    "invalid": "rejected the request",
    "server": "server error",
}


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
    kind: ErrorKind | None = None
    if status in (401, 403):
        kind = "auth"
    elif status in (408, 429):
        kind = "rate_limit"
    elif 400 <= status < 500:
        kind = "invalid"
    elif status >= 500:
        kind = "server"
    if kind is None:
        return APIStatusError(
            f"{provider} failed (status {status}){said}", status_code=status, body=body, retryable=True
        )
    return classified_error(
        kind,
        f"{provider} {_FAILED[kind]} (HTTP {status}){said}",
        credential_env=credential_env,
        status_code=status,
        retry_after=retry_after,
        body=body,
    )
