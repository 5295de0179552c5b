"""The event guard: what a server says that cannot be right, made harmless before the grammar.

A transcript (with words) on a connection that has been sent no audio yet transcribes nothing
the caller said: it is dropped, where emitting it would put words nobody spoke in an agent's
transcript. Times outside the audio are clamped onto it, so no event leaves the stream with a
negative time or out of order (livekit's ``AudioRecognition`` takes a final's ``end_time`` as
when the user last spoke): a time before the connection's first audio (a negative provider
time) moves up to it, a time past the audio sent moves back to its end, and a final that
goes back in time (it starts before the last final started, or ends before it ended) moves to
the last final's end (shifted: its own durations kept). Each kind of fault is warned once per
stream; the words stay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import attrs

from ..events import ProviderEvent, SpeechEnded, SpeechStarted, Transcript, Word

logger = logging.getLogger("speechkit")

TOLERANCE = 0.01
"""Seconds a time may be moved without a warning (vendors round times to milliseconds)."""

_WHY = {
    "before_audio": "a transcript before any audio was sent: dropped",
    "negative": "transcript times before the connection's first audio (negative): clamped to it",
    "future": "transcript times past the audio sent: clamped to its end",
    "backwards": "a final earlier than the last final: moved to start at its end",
}


class EventGuard:
    """Checks a stream's provider events (on the stream clock, after de-duplication); one per stream.

    Args:
        provider: The name of the provider serving the stream now (asked when a warning is logged).
        stream_id: The stream's id, for the warnings' ``extra``.
    """

    __slots__ = ("_end", "_provider", "_start", "_stream_id", "_warned")

    def __init__(self, provider: Callable[[], str], stream_id: str) -> None:
        self._provider, self._stream_id = provider, stream_id
        self._start: float | None = None  # the latest start and end of the timed finals let through
        self._end: float | None = None
        self._warned: set[str] = set()

    def check(self, ev: ProviderEvent, *, sent: float, floor: float, ceiling: float) -> ProviderEvent | None:
        """``ev`` as the stream may emit it, or None to drop it.

        Args:
            ev: A provider event on the stream clock.
            sent: Seconds of audio sent on the connection so far.
            floor: Stream-clock time of the connection's first audio.
            ceiling: Stream-clock end of the audio sent on the connection so far.
        """
        ceiling = max(floor, ceiling)
        if isinstance(ev, Transcript):
            if not sent and ev.text.strip():
                self._warn("before_audio")
                return None
            if ev.start_time is None and ev.end_time is None and not ev.words:
                return ev  # untimed (Telnyx): nothing to check
            return self._timed(ev, floor, ceiling)
        if isinstance(ev, (SpeechStarted, SpeechEnded)) and ev.time is not None:
            t = min(max(ev.time, floor), ceiling)
            return ev if t == ev.time else type(ev)(t)
        return ev

    def _timed(self, ev: Transcript, floor: float, high: float) -> Transcript:
        final = ev.is_final and bool(ev.text.strip())
        start, end, shift = ev.start_time, ev.end_time, 0.0
        if final and self._start is not None and self._end is not None:
            if start is not None and start < self._start - TOLERANCE:
                shift = self._end - start
            elif end is not None and end < self._end - TOLERANCE:
                shift = self._end - (start if start is not None else end)
            if shift:
                self._warn("backwards")

        def fit(t: float) -> float:
            if t < floor - TOLERANCE:
                self._warn("negative")
            elif t > high + TOLERANCE:
                self._warn("future")
            return min(max(t + shift, floor), high)

        new_start = None if start is None else fit(start)
        new_end = None if end is None else max(fit(end), floor if new_start is None else new_start)
        words = []
        for w in ev.words:
            word_start = fit(w.start_time)
            words.append(Word(w.text, word_start, max(fit(w.end_time), word_start), w.confidence))
        if final:
            if new_start is not None:
                self._start = new_start if self._start is None else max(self._start, new_start)
            if new_end is not None:
                self._end = new_end if self._end is None else max(self._end, new_end)
        if (new_start, new_end, tuple(words)) == (start, end, ev.words):
            return ev
        return attrs.evolve(ev, start_time=new_start, end_time=new_end, words=tuple(words))

    def _warn(self, why: str) -> None:
        if why in self._warned:
            return
        self._warned.add(why)
        name = self._provider()
        logger.warning("%s sent %s", name, _WHY[why], extra={"provider": name, "stream_id": self._stream_id})
