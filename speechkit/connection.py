"""What the core and a provider exchange about one connection: its messages, the
:class:`Connection` protocol and the per-connection :class:`Session`.

The lowest layer of the hook API: :mod:`speechkit.transport` implements :class:`Connection`
for WebSockets, :mod:`speechkit.provider` hands a :class:`Session` to every hook.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import aiohttp
import attrs

Message = bytes | str | object
"""A message on a connection: ``bytes``/``str`` frames for a WebSocket, any object in-process."""


class Connection(Protocol):
    """One session with a vendor (a WebSocket) or an engine (in-process).

    ``receive`` returns None when the peer closed normally, and raises a
    classified ``APIError`` when the connection failed.
    """

    async def send(self, message: Message) -> None: ...

    async def receive(self) -> Message | None: ...

    async def aclose(self) -> None: ...


@attrs.define
class Session:
    """Per-connection context handed to every hook.

    Attributes:
        language: Language of this stream.
        sample_rate: Rate (Hz) of the audio sent.
        attempt: 1 for the first connection of a stream, then 2, 3… on reconnects.
        http: The STT's aiohttp session (for WebSocket providers).
        timeout: Connect timeout in seconds (``APIConnectOptions.timeout``).
        state: Free per-connection state for the provider's parser (left out of the
            ``repr``: a provider may keep a temporary key there).
        ready: Set when the parser returns :class:`~speechkit.events.Ready`; with
            :attr:`Provider.wait_for_ready` no audio is sent before it.
        chunks_sent: Audio chunks handed to this connection so far (replayed ones included).
        audio_seconds: Seconds of audio in them (padding included), kept by the core; e.g.
            to timestamp a control message or check a vendor's own count.
        deadline: ``time.monotonic()`` time at which the core calls
            :meth:`Provider.on_deadline` unless a server message comes first; the parser
            sets it (e.g. to bound a wait for a follow-up message) and the core clears it.
        realtime: False when the stream carries a recording pushed faster than real time
            (``stream(realtime=False)``, ``recognize()``, the CLI without ``--realtime``):
            latency matters less than accuracy, so a provider may decode with more context
            (``local`` decodes the whole recording as faster-whisper's ``transcribe()``
            does, emitting finals after a flush or the end of input).
        input_ended: True once the stream's input has ended on this connection: set by the core
            just before it calls :meth:`Provider.end_of_input_message`, so that hook and the
            parser after it can tell the end of the stream from a flush.
    """

    language: str
    sample_rate: int
    attempt: int
    http: aiohttp.ClientSession | None
    timeout: float
    state: dict[str, Any] = attrs.field(factory=dict, repr=False)  # may hold a temporary key
    ready: asyncio.Event = attrs.field(factory=asyncio.Event)
    chunks_sent: int = 0
    audio_seconds: float = 0.0
    deadline: float | None = None
    realtime: bool = True
    input_ended: bool = False
