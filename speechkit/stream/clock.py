"""The stream clock: one time axis for a stream's events, across connections and padding.

A provider reports times relative to the first audio of its connection, and counts the
silence the core padded short tails with (``Provider.min_chunk_duration``). The clock maps
those times onto seconds of pushed audio since the stream began: the connection's origin
(the start of the audio it was sent first, a replay included) plus the provider's time less
the padding sent before it, plus livekit's ``start_time_offset``.
"""

from __future__ import annotations

import attrs

from ..events import ProviderEvent, SpeechEnded, SpeechStarted, Transcript, Word


class StreamClock:
    """Connection times to stream times, for the connection in use."""

    __slots__ = ("_pads", "origin")

    def __init__(self) -> None:
        self.origin = 0.0
        """Stream-clock seconds of the current connection's first audio."""
        self._pads: list[tuple[float, float]] = []  # (connection seconds, seconds of padding)

    def connect(self, origin: float) -> None:
        """A new connection whose first audio is at ``origin`` (stream clock): no padding yet."""
        self.origin = origin
        self._pads = []

    def pad(self, at: float, seconds: float) -> None:
        """``seconds`` of padding were sent after ``at`` seconds of the connection's audio."""
        self._pads.append((at, seconds))

    def unpad(self, t: float) -> float:
        """Connection seconds to seconds of pushed audio: padding sent before ``t`` is skipped."""
        skipped = 0.0
        for at, pad in self._pads:
            if t <= at:
                break
            skipped += min(pad, t - at)
        return t - skipped

    def at(self, t: float | None, offset: float = 0.0) -> float | None:
        """A connection time on the stream clock (None stays None); ``offset`` is livekit's
        ``start_time_offset``."""
        return None if t is None else self.unpad(t) + (self.origin + offset)

    def to_stream(self, ev: ProviderEvent, offset: float = 0.0) -> ProviderEvent:
        """``ev`` with every time on the stream clock (events without times unchanged)."""
        if isinstance(ev, Transcript):
            base = self.origin + offset
            words = tuple(
                Word(w.text, self.unpad(w.start_time) + base, self.unpad(w.end_time) + base, w.confidence)
                for w in ev.words
            )
            return attrs.evolve(
                ev,
                start_time=self.at(ev.start_time, offset),
                end_time=self.at(ev.end_time, offset),
                words=words,
            )
        if isinstance(ev, (SpeechStarted, SpeechEnded)):
            return type(ev)(self.at(ev.time, offset))
        return ev
