"""De-duplication across reconnects: each word emitted once.

A new connection is sent the audio no final covers yet, so it transcribes some of it again.
Timed results are cut at the end of the last final (by their times, word by word). Untimed
ones start from what the stream knows exactly: a final cannot cover audio sent after it
arrived, so only finals that arrived after the replayed audio was cut can repeat it, and a
replay with no speech before the last of them arrived repeats nothing. What remains is
resolved by the words repeated (:class:`speechkit.overlap.ReplayOverlap`). All of it works on
stream-clock positions, not on when things happened, so the same audio gives the same result.
"""

from __future__ import annotations

import collections
from collections.abc import Callable

import attrs

from ..events import ProviderEvent, SpeechEnded, SpeechStarted, Transcript
from ..overlap import ReplayOverlap
from ..text import words

MAX_OVERLAP_FINALS = 64
"""Finals remembered (their words) for overlap resolution after a reconnect."""


def trimmed(ev: Transcript, text: str) -> Transcript:
    """``ev`` with only ``text``, its last words; word timings follow when they map one to one."""
    dropped = len(words(ev.text)) - len(words(text))
    if ev.words and len(ev.words) == len(words(ev.text)) and 0 < dropped < len(ev.words):
        kept = ev.words[dropped:]
        return attrs.evolve(ev, text=text, words=kept, start_time=kept[0].start_time)
    return attrs.evolve(ev, text=text)


class Deduplicator:
    """Drops or trims what a replaying connection repeats; one per stream."""

    __slots__ = ("_cut", "_overlap", "_recent", "final_end")

    def __init__(self) -> None:
        self.final_end: float | None = None
        """End of the last timed final emitted (stream clock), or None."""
        self._cut: float | None = None  # the current connection drops timed results before it
        # (stream position sent when it arrived, words) of recent finals, for untimed overlap
        self._recent: collections.deque[tuple[float, list[str]]] = collections.deque(
            maxlen=MAX_OVERLAP_FINALS
        )
        self._overlap: ReplayOverlap[Transcript] | None = None

    def final(self, ev: Transcript, sent: float) -> None:
        """A final was emitted when audio up to ``sent`` (stream clock, seconds) had been cut
        for sending: it covers nothing after that."""
        if ev.end_time is not None:
            self.final_end = max(self.final_end or 0.0, ev.end_time)
        # by words too: the next connection (a chain's next member) may give no times
        self._recent.append((sent, words(ev.text)))

    def replay(self, start: float | None, speech_before: Callable[[float], float]) -> list[Transcript]:
        """A new connection starts, replaying audio from ``start`` (stream clock, seconds), or
        nothing (None).

        Args:
            start: Where the replayed audio starts.
            speech_before: Seconds of speech in the replayed audio before a stream position.

        Returns:
            Finals an unresolved overlap still held, to emit now (nothing is lost).
        """
        held = self.finish()
        self._cut = self.final_end if start is not None else None
        if start is not None:
            # finals that arrived before the replayed audio was cut cannot cover any of it
            later = [(sent, ws) for sent, ws in self._recent if sent > start + 1e-6]
            known = max((sent for sent, _ in later), default=start)
            emitted = [w for _, ws in later for w in ws] if speech_before(known) > 0 else []
            self._overlap = ReplayOverlap(emitted) if emitted else None
        return held

    def finish(self) -> list[Transcript]:
        """End any overlap (the stream ends): the finals it held, unchanged."""
        if self._overlap is None:
            return []
        held = [ev for ev, _ in self._overlap.finish()]
        self._overlap = None
        return held

    def filter(self, ev: ProviderEvent) -> list[ProviderEvent]:
        """``ev`` (on the stream clock) less what the replay repeats: none, it, or it trimmed."""
        cut = self._cut
        if isinstance(ev, Transcript) and ev.end_time is not None and cut is not None:
            if ev.start_time is None or ev.start_time >= cut - 1e-3:
                return [ev]
            if ev.end_time <= cut + 1e-3:
                return []  # wholly before the last final: a repeat
            if not ev.words:
                return [ev]
            kept = tuple(w for w in ev.words if (w.start_time + w.end_time) / 2 >= cut)
            if not kept:
                return []
            text = " ".join(w.text for w in kept)
            return [attrs.evolve(ev, text=text, start_time=kept[0].start_time, words=kept)]
        if isinstance(ev, (SpeechStarted, SpeechEnded)) and ev.time is not None:
            return [] if cut is not None and ev.time < cut else [ev]
        overlap = self._overlap
        if overlap is None or not overlap.active:
            return [ev]
        if not isinstance(ev, Transcript):
            return []  # untimed speech markers inside a repeat
        if not ev.is_final:
            return [] if overlap.repeats(ev.text) else [ev]
        return [e if text == e.text else trimmed(e, text) for e, text in overlap.final(ev.text, ev).emit]
