"""Interim pacing: a server that floods interims does not flood the stream's consumer.

An interim is the server's running guess, superseded by the next interim and by the final that
follows. Up to :data:`BURST` interims go out at once, then :data:`RATE` a second; past that only
the newest waiting interim is kept, and it goes out as soon as the rate allows or before the
next event of any other kind, whichever comes first. So the events a stream holds for its
consumer grow with time, never with the number of interims a server sends (livekit's event
channel is unbounded: a flood of thousands a second used to become as many events); no other
event is held, and order is kept. Streams that send interims at a speaking pace, a burst after
a reconnect's replay included, never reach the limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from livekit.agents import stt, utils

BURST = 50
"""Interims that may go out at once."""
RATE = 50.0
"""Interims a second past the burst."""


class InterimPacer:
    """Sends a stream's events to its channel, interims paced; one per stream.

    Args:
        channel: The stream's event channel (livekit's ``RecognizeStream._event_ch``).
    """

    __slots__ = ("_at", "_channel", "_held", "_timer", "_tokens")

    def __init__(self, channel: utils.aio.Chan[stt.SpeechEvent]) -> None:
        self._channel = channel
        self._tokens = float(BURST)
        self._at = time.monotonic()
        self._held: stt.SpeechEvent | None = None  # the newest interim waiting for the rate
        self._timer: asyncio.TimerHandle | None = None

    def send(self, ev: stt.SpeechEvent) -> None:
        """Send ``ev`` now, or (an interim over the rate) keep it as the newest waiting one."""
        if ev.type != stt.SpeechEventType.INTERIM_TRANSCRIPT:
            self._release()
            self._put(ev)
            return
        self._refill()
        if self._held is None and self._tokens >= 1.0:
            self._tokens -= 1.0
            self._put(ev)
            return
        self._held = ev  # the one it replaces is stale: this one says more
        if self._timer is None:
            wait = (1.0 - self._tokens) / RATE
            self._timer = asyncio.get_running_loop().call_later(wait, self._on_time)

    def close(self) -> None:
        """The stream ended: no timer left (the stream's last events released any waiting interim)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refill(self) -> None:
        now = time.monotonic()
        self._tokens, self._at = min(float(BURST), self._tokens + (now - self._at) * RATE), now

    def _on_time(self) -> None:
        self._timer = None
        self._refill()
        self._tokens = max(0.0, self._tokens - 1.0)
        self._release()

    def _release(self) -> None:
        held, self._held = self._held, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if held is not None:
            self._put(held)

    def _put(self, ev: stt.SpeechEvent) -> None:
        with contextlib.suppress(utils.aio.channel.ChanClosed):
            self._channel.send_nowait(ev)
