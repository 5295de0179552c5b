"""The WebSocket connection the core uses for every WebSocket provider (aiohttp)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

import aiohttp

from .errors import APIConnectionError, APIError, ServerError, error_for_status, parse_retry_after

if TYPE_CHECKING:
    from .provider import Message, Provider, Session

logger = logging.getLogger("speechkit")

_CLOSE_TIMEOUT = 0.5  # seconds to wait for the server's close frame; aclose must stay prompt


class WebSocketConnection:
    """A :class:`speechkit.provider.Connection` over an aiohttp WebSocket."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, provider: Provider[object], session: Session):  # type: ignore[type-var]
        self._ws = ws
        self._provider = provider
        self._session = session

    @classmethod
    async def open(cls, provider: Provider, session: Session) -> WebSocketConnection:  # type: ignore[type-arg]
        """Connect to ``provider.url(session)``.

        Raises:
            AuthenticationError: HTTP 401/403 at the handshake (not retried).
            InvalidRequestError: other 4xx (not retried).
            RateLimitError: 408/429, with ``retry_after`` from the header.
            ServerError: 5xx.
            APIConnectionError: DNS, TCP or TLS failure, or the connect timeout.
        """
        if session.http is None:
            raise RuntimeError("a WebSocket provider needs an aiohttp session")
        url = provider.url(session)
        try:
            ws = await session.http.ws_connect(
                url,
                headers=provider.headers(session),
                heartbeat=provider.heartbeat,
                timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=_CLOSE_TIMEOUT),
                autoping=True,
            )
        except aiohttp.WSServerHandshakeError as e:
            headers: Mapping[str, str] = e.headers or {}
            raise error_for_status(
                e.status,
                provider=provider.name,
                detail=e.message,
                credential_env=provider.credential_env,
                retry_after=parse_retry_after(headers.get("Retry-After")),
            ) from e
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise APIConnectionError(f"{provider.name}: could not connect ({type(e).__name__}: {e})") from e
        return cls(ws, provider, session)

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
            raise APIConnectionError(f"{self._provider.name}: connection lost while sending ({e})") from e

    async def receive(self) -> Message | None:
        """The next text/binary frame; None on a normal close.

        Raises:
            APIError: the provider's classification of an abnormal close, or
                ``APIConnectionError`` for a dropped connection / missed heartbeat.
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
                raise APIConnectionError(f"{self._provider.name}: connection dropped without a close frame")
            err: APIError | None = self._provider.classify_close(code, str(msg.extra or ""), self._session)
            if err is not None:
                raise err
            return None
        if msg.type == aiohttp.WSMsgType.ERROR:
            raise APIConnectionError(f"{self._provider.name}: connection error ({self._ws.exception()!r})")
        raise ServerError(f"{self._provider.name}: unexpected WebSocket message type {msg.type!r}")

    async def aclose(self) -> None:
        """Close promptly (at most ~0.5 s waiting for the server's close frame)."""
        try:
            await asyncio.wait_for(self._ws.close(), _CLOSE_TIMEOUT + 0.1)
        except (TimeoutError, aiohttp.ClientError, ConnectionError):
            logger.debug("websocket close timed out", extra={"provider": self._provider.name})
