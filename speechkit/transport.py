"""The WebSocket connection the core uses for every WebSocket provider (aiohttp)."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterable, Mapping
from types import SimpleNamespace

import aiohttp

from .connection import Message, Session
from .credentials import check_transport, redact, scrubbed, secrets_in
from .errors import APIConnectionError, APIError, ServerError, error_for_status, parse_retry_after

CloseClassifier = Callable[[int, str, Session], APIError | None]
"""A provider's ``classify_close``: close code, reason, session -> error, or None for normal."""

logger = logging.getLogger("speechkit")

_CLOSE_TIMEOUT = 0.5  # seconds to wait for the server's close frame; aclose must stay prompt
REFUSAL_BODY_LIMIT = 4096
"""Bytes of a refused handshake's body kept for the error (a vendor's reason is short)."""
_REASON_CHARS = 300  # of the body and the error headers, in the message
_refusal: contextvars.ContextVar[list[bytes] | None] = contextvars.ContextVar("_refusal", default=None)


async def _keep_refusal_body(
    session: aiohttp.ClientSession, context: SimpleNamespace, params: aiohttp.TraceRequestEndParams
) -> None:
    """Read the body of an upgrade the server refused, before aiohttp drops it: aiohttp's
    ``WSServerHandshakeError`` says only "Invalid response status"; the vendor's reason is in
    the body (or a header)."""
    held = _refusal.get()
    if held is None or params.response.status == 101:
        return
    # no body: the status and headers still say something
    with contextlib.suppress(TimeoutError, aiohttp.ClientError, OSError):
        held.append(await params.response.content.read(REFUSAL_BODY_LIMIT))


def handshake_trace() -> aiohttp.TraceConfig:
    """The trace config an aiohttp session needs for a refused WebSocket handshake to keep the
    vendor's reason (the response body; see :meth:`WebSocketConnection.connect`). Only upgrade
    requests made by :meth:`WebSocketConnection.connect` are read; other requests pass."""
    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(_keep_refusal_body)
    return trace


def refusal_reason(headers: Mapping[str, str], body: bytes) -> str:
    """What a refused handshake said: the headers naming an error (``dg-error``,
    ``x-error-message``…) and the body, whitespace collapsed, each cut to 300 characters."""
    parts = [f"{k}: {v}" for k, v in headers.items() if "error" in k.lower() and v.strip()]
    text = " ".join(body.decode("utf-8", "replace").split())
    if text:
        parts.append(text)
    return "; ".join(p if len(p) <= _REASON_CHARS else p[: _REASON_CHARS - 1] + "…" for p in parts)


class WebSocketConnection:
    """A :class:`speechkit.connection.Connection` over an aiohttp WebSocket."""

    def __init__(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        session: Session,
        *,
        provider: str,
        classify_close: CloseClassifier,
    ) -> None:
        self._ws = ws
        self._session = session
        self._name = provider
        self._classify_close = classify_close

    @classmethod
    async def open(
        cls,
        session: Session,
        *,
        url: str,
        headers: Mapping[str, str],
        heartbeat: float | None,
        provider: str,
        credential_env: str | None,
        classify_close: CloseClassifier,
        secrets: Iterable[str | None] = (),
        insecure_transport: bool = False,
    ) -> WebSocketConnection:
        """Connect to ``url`` (a provider's :meth:`~speechkit.Provider.connect` passes its hooks).

        The credentials never leave in the clear (:func:`speechkit.credentials.check_transport`,
        before any network I/O) nor show in an error: every message has them removed, and the
        ``__cause__`` is a :class:`~speechkit.credentials.RedactedError` standing in for aiohttp's
        exception (whose text holds the URL, query included, and whose ``repr`` the headers).

        Args:
            session: The connection's session (its ``http`` client session is used).
            url: WebSocket URL, query included.
            headers: Upgrade headers (auth); never logged.
            heartbeat: WebSocket ping interval, seconds, or None.
            provider: The provider's name, for messages.
            credential_env: The key's environment variable, named in an auth error.
            classify_close: Turns the server's close code into an error.
            secrets: Credentials the request carries (the API key), removed from every error
                message (with those found in ``headers`` and the query, see
                :func:`speechkit.credentials.secrets_in`).
            insecure_transport: Allow a credential over ``ws://`` to a host outside the
                loopback range (a test rig); TLS verification stays on either way.

        Raises:
            InsecureTransportError: the request carries a credential over ``ws://`` to a host
                that is not loopback and ``insecure_transport`` is off; raised before any
                network I/O (not retried).
            AuthenticationError: HTTP 401/403 at the handshake (not retried).
            InvalidRequestError: other 4xx (not retried).
            RateLimitError: 408/429, with ``retry_after`` from the header.
            ServerError: 5xx.
            APIConnectionError: DNS, TCP or TLS failure, or the connect timeout; a server
                certificate that fails verification is final (not retried).
        """
        if session.http is None:
            raise RuntimeError("a WebSocket provider needs an aiohttp session")
        hidden = secrets_in(url, headers, secrets)
        check_transport(
            url, credentialed=bool(hidden), insecure_transport=insecure_transport, provider=provider
        )
        held: list[bytes] = []
        token = _refusal.set(held)
        try:
            ws = await session.http.ws_connect(
                url,
                headers=dict(headers),
                heartbeat=heartbeat,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_CLOSE_TIMEOUT),
                autoping=True,
            )
        except aiohttp.WSServerHandshakeError as e:
            answer: Mapping[str, str] = e.headers or {}
            said = refusal_reason(answer, held[0] if held else b"")
            failure: APIError = error_for_status(
                e.status,
                provider=provider,
                detail=redact(f"{e.message}; the server said: {said}" if said else e.message, hidden),
                credential_env=credential_env,
                retry_after=parse_retry_after(answer.get("Retry-After")),
            )
            cause = scrubbed(e, hidden)
        except aiohttp.ClientConnectorCertificateError as e:
            failure = APIConnectionError(  # retrying cannot make the certificate verify
                f"{provider}: TLS certificate verification failed for {e.host}:{e.port} "
                f"({redact(str(e.certificate_error), hidden)}); the server needs a certificate "
                "a trusted CA signed (speechkit never turns verification off)",
                retryable=False,
            )
            cause = scrubbed(e, hidden)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            detail = redact(str(e), hidden)
            failure = APIConnectionError(f"{provider}: could not connect ({type(e).__name__}: {detail})")
            cause = scrubbed(e, hidden)
        else:
            return cls(ws, session, provider=provider, classify_close=classify_close)
        finally:
            _refusal.reset(token)
        # raised out of the except blocks: aiohttp's exception is not kept as the __context__
        raise failure from cause

    async def send(self, message: Message) -> None:
        """Send a text or binary frame.

        Raises:
            APIConnectionError: the connection is gone.
        """
        try:
            if isinstance(message, bytes):
                await self._ws.send_bytes(message)
            elif isinstance(message, str):
                await self._ws.send_str(message)
            else:
                raise TypeError(f"a WebSocket sends bytes or str, not {type(message).__name__}")
        except (aiohttp.ClientError, ConnectionError) as e:
            raise self._too_big() or APIConnectionError(
                f"{self._name}: connection lost while sending ({e})"
            ) from e

    async def receive(self) -> Message | None:
        """The next text/binary frame; None on a normal close.

        Raises:
            APIError: the provider's classification of an abnormal close, or
                ``APIConnectionError`` for a dropped connection / missed heartbeat.
            ServerError: a message over aiohttp's size limit (4 MiB; it closes 1009); retried.
        """
        msg = await self._ws.receive()
        if msg.type == aiohttp.WSMsgType.TEXT:
            return str(msg.data)
        if msg.type == aiohttp.WSMsgType.BINARY:
            return bytes(msg.data)
        if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            # the server's own code is in its CLOSE frame; ws.close_code turns into 1006 when
            # aiohttp's reply handshake times out, which is not the server's doing
            code = msg.data if msg.type == aiohttp.WSMsgType.CLOSE and msg.data else self._ws.close_code
            if code is None:
                raise APIConnectionError(f"{self._name}: connection dropped without a close frame")
            err: APIError | None = self._classify_close(code, str(msg.extra or ""), self._session)
            if err is not None:
                raise err
            return None
        if msg.type == aiohttp.WSMsgType.ERROR:
            cause = msg.data if isinstance(msg.data, BaseException) else self._ws.exception()
            raise self._too_big(str(cause)) or APIConnectionError(
                f"{self._name}: connection error ({cause!r})"
            )
        raise ServerError(f"{self._name}: unexpected WebSocket message type {msg.type!r}")

    def _too_big(self, detail: str = "WebSocket close 1009") -> ServerError | None:
        """The error once aiohttp refused a server message over its size limit (4 MiB) and closed
        1009, the sender's failure that follows included; None for any other failure."""
        if self._ws.close_code != aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
            return None
        return ServerError(
            f"{self._name}: the server sent a message too big to receive ({detail})", status_code=1009
        )

    async def aclose(self) -> None:
        """Close promptly (at most ~0.5 s waiting for the server's close frame)."""
        try:
            await asyncio.wait_for(self._ws.close(), _CLOSE_TIMEOUT + 0.1)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            logger.debug("websocket close timed out", extra={"provider": self._name})
