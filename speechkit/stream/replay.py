"""The replay buffer: audio no final is known to cover yet, kept for the next connection.

Every chunk joins the buffer before it is sent, so a connection lost midway replays the rest
instead of losing it. Finals free it: a final with an end time covers audio up to it; a final
without times (Telnyx) that closes an utterance covers audio up to the oldest pause boundary
no final has matched yet (the pause rule, :mod:`speechkit.stream.pauses`). New audio waits
while the buffer is full (backpressure), so a recording pushed faster than the server
transcribes is sent as finals free room; a server that finalises nothing gets the audio
anyway after one wait, and the oldest audio is then trimmed, with one warning.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable, Iterator
from typing import Any

from .input import Chunk

logger = logging.getLogger("speechkit")

MAX_REPLAY_SECONDS = 60.0
"""Audio awaiting a final kept for replay at most (default), seconds. New audio waits while
this much awaits one (backpressure), so nothing is dropped; only a single frame longer than
the room is trimmed, with a warning."""

REPLAY_WAIT = 5.0
"""Seconds new audio waits for a final to free replay room before it is sent regardless."""


class ReplayBuffer:
    """The unconfirmed audio of one stream, oldest first.

    Args:
        max_seconds: Room, seconds of audio (``math.inf``: unbounded, never waits).
        wait: Seconds :meth:`room_for` waits for a final before giving up (once, until the
            next final).
        log_extra: Fields for the trim warning's ``extra`` (provider, stream id), asked when
            it is logged.
    """

    __slots__ = (
        "_chunks",
        "_confirmed",
        "_dropped_reported",
        "_log_extra",
        "_pauses",
        "_stalled",
        "_trimmed",
        "_wait",
        "dropped_speech",
        "max_seconds",
        "mute_by",
        "mute_trusted",
    )

    def __init__(
        self,
        max_seconds: float = MAX_REPLAY_SECONDS,
        *,
        wait: float = REPLAY_WAIT,
        log_extra: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.max_seconds = max_seconds
        self._wait = wait
        self._log_extra = log_extra
        self._chunks: collections.deque[Chunk] = collections.deque()
        self._pauses: collections.deque[float] = collections.deque()  # boundaries no final matched
        self._confirmed = asyncio.Event()  # set when a final frees room
        self._stalled = False  # a wait ran out with no final: do not wait again until one
        self._trimmed = False
        self._dropped_reported = 0.0
        self.mute_trusted = 0.0
        """Stream position up to which a connection that replaced a mute one gave its second
        opinion (see :meth:`speechkit.stream.watchdog.Watchdog.closed`)."""
        self.mute_by: str | None = None
        """The provider whose connection went mute last."""
        self.dropped_speech = 0.0
        """Seconds of speech dropped from the room before a final was known to cover them: a
        reconnect after it cannot replay them, so they may never be transcribed."""

    def __iter__(self) -> Iterator[Chunk]:
        return iter(self._chunks)

    def __len__(self) -> int:
        return len(self._chunks)

    @property
    def start(self) -> float | None:
        """Stream-clock start of the oldest unconfirmed chunk, or None when all is confirmed."""
        return self._chunks[0].start if self._chunks else None

    @property
    def seconds(self) -> float:
        """Seconds of audio awaiting a final."""
        return sum(c.end - c.start for c in self._chunks)

    @property
    def speech_seconds(self) -> float:
        """Seconds of speech awaiting a final (silent chunks left out)."""
        return sum(c.end - c.start for c in self._chunks if c.speech)

    @property
    def untranscribed(self) -> float:
        """Seconds of speech no final is known to cover: held for replay, or dropped from a
        full room."""
        return self.speech_seconds + self.dropped_speech

    def speech_before(self, until: float) -> float:
        """Seconds of speech awaiting a final that starts before ``until`` (stream clock)."""
        return sum(min(c.end, until) - c.start for c in self._chunks if c.speech and c.start < until)

    def add(self, chunk: Chunk, *, trim: bool = True) -> None:
        """Keep ``chunk`` (before it is sent); past the room, the oldest is dropped (warned once)
        unless ``trim`` is False (audio taken from the input whose connection failed while it
        waited for room: dropping any would lose it)."""
        self._chunks.append(chunk)
        if trim and chunk.end - self._chunks[0].start > self.max_seconds:
            dropped = self._chunks.popleft()
            if dropped.speech:
                self.dropped_speech += dropped.end - dropped.start
            if not self._trimmed:
                self._trimmed = True
                logger.warning(
                    "over %.0f s of audio await a final: only the newest is kept for replay on reconnect",
                    self.max_seconds,
                    extra={**self._log_extra(), "at": dropped.start},
                )

    def report_dropped(self) -> None:
        """Log, at a reconnect, the speech dropped since the last report: it cannot be replayed,
        and whether the old connection finalised it is unknown."""
        if self.dropped_speech > self._dropped_reported:
            self._dropped_reported = self.dropped_speech
            logger.error(
                "reconnecting without %.1f s of speech the full replay room dropped before a final "
                "covered them: they may never be transcribed",
                self.dropped_speech,
                extra=self._log_extra(),
            )

    def add_boundary(self, at: float) -> None:
        """A pause boundary at ``at`` (stream clock), for finals without times."""
        self._pauses.append(at)

    async def room_for(self, seconds: float) -> None:
        """Wait until ``seconds`` more audio fit in the room, while finals keep freeing it.

        A server that finalises nothing for ``wait`` seconds gets the audio anyway, and no
        further wait happens until a final comes (waiting per chunk would stall a file for
        ever); the buffer then trims its oldest audio.
        """
        while self._chunks and self._chunks[-1].end + seconds - self._chunks[0].start > self.max_seconds:
            if self._stalled:
                return
            self._confirmed.clear()
            try:
                async with asyncio.timeout(self._wait):
                    await self._confirmed.wait()
            except TimeoutError:
                self._stalled = True
                return

    def confirm(self, end: float | None, end_of_utterance: bool) -> None:
        """Drop the audio a final covers.

        Args:
            end: The final's end time (stream clock), or None for a final without times:
                it covers its utterance, the audio up to the oldest pause boundary not yet
                matched by a final.
            end_of_utterance: The final closes its utterance. An untimed final that does
                not confirms nothing: replaying audio a final covered would repeat words,
                but dropping audio none covered loses them.
        """
        if end is None:
            if not end_of_utterance or not self._pauses:
                return
            end = self._pauses.popleft()
        while self._pauses and self._pauses[0] <= end:
            self._pauses.popleft()
        while self._chunks and self._chunks[0].end <= end + 1e-6:
            self._chunks.popleft()
            self._confirmed.set()
            self._stalled = False
