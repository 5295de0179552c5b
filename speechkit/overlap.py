"""Overlap resolution after a reconnect, when the last final carried no times.

On reconnect the core replays the audio no final is known to cover. With timed finals it
knows exactly what was covered; with untimed ones (Telnyx) it only knows a lower bound, so
the replay may hold audio some emitted finals already transcribed. The new connection (or a
chain's next member, timed or not) then transcribes those words again, at the start of its
transcript. :class:`ReplayOverlap` finds them: the new connection's first words that repeat
a *suffix* of the words already emitted (the replay starts somewhere inside them) are
dropped, once, and the rest passes.

A re-decode differs here and there, and a short final can match several suffixes ("it was"
in "it was the best of times, it was the worst..."), so finals are held back while they may
be a repeat and judged together, fuzzily, against every suffix: when one suffix has been
seen whole, those words were repeats; when none can be any more, the held finals pass
unchanged. Words are compared case- and punctuation-insensitively.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Generic, TypeVar

import attrs

from .text import drop_words
from .text import words as words_of

T = TypeVar("T")


@attrs.define
class Resolution(Generic[T]):
    """What to emit after one final of the new connection.

    Attributes:
        emit: ``(final, text)`` pairs to emit now, in order: the final given and earlier held
            ones, each with its text unchanged or trimmed of repeated leading words. Empty
            while finals are held back, and when all were repeats.
    """

    emit: list[tuple[T, str]] = attrs.field(factory=list)


class ReplayOverlap(Generic[T]):
    """Drops the words a new connection repeats from what was already emitted.

    The new connection's finals are held while they may still be a repeat, and judged
    together: a re-decode differs here and there ("Ask!" / "Lock! Lock!" against "Ask not!"),
    so agreement is measured over the whole repeat, not final by final.

    Args:
        emitted: Words of the finals emitted before the reconnect that may cover replayed
            audio, oldest first.
    """

    def __init__(self, emitted: Sequence[str]) -> None:
        self._emitted = list(emitted)
        self._held: list[tuple[T, str, int]] = []  # (final, text, word count)
        self._words: list[str] = []  # the held finals' words, in order
        self.active = bool(self._emitted)

    def final(self, text: str, item: T) -> Resolution[T]:
        """Resolve one final of the new connection; ``item`` is handed back in :attr:`Resolution.emit`."""
        if not self.active:
            return Resolution([(item, text)])
        words = words_of(text)
        if not words:
            return Resolution([] if self._held else [(item, text)])
        self._held.append((item, text, len(words)))
        self._words += words
        a, b = self._emitted, self._words
        complete: list[tuple[int, int, float]] = []  # (suffix start, held words it covers, agreement)
        pending: list[tuple[int, float]] = []  # (suffix start, agreement): may still be repeated whole
        for j in range(len(a)):
            verdict = _judge(a[j:], b)
            if verdict is None:
                continue
            kind, covered, agreement = verdict
            if kind == "complete" and agreement >= MIN_AGREEMENT:
                complete.append((j, covered, agreement))
            elif kind == "pending" and agreement >= MAYBE_AGREEMENT:
                pending.append((j, agreement))
        if complete:
            j, covered, agreement = min(complete)  # the longest suffix that matched whole
            # speech whose phrases repeat ("it was the epoch of belief, it was the epoch of
            # incredulity") makes a short suffix look complete with its last word misheard
            # while a longer one is being repeated word for word: wait for the longer one
            longer_pending = any(pj < j and pa > agreement for pj, pa in pending)
            if not (longer_pending and len(b) <= len(a) + MAX_HELD_EXTRA):
                return Resolution(self._drop(covered))
            return Resolution()
        if (pending or len(b) <= LEADING_JUNK) and len(b) <= len(a) + MAX_HELD_EXTRA:
            return Resolution()  # may still be a repeat (or the junk before one): hold
        return Resolution(self.finish())  # nothing repeated

    def _drop(self, covered: int) -> list[tuple[T, str]]:
        """End the overlap: the held finals less their first ``covered`` words, to emit."""
        out: list[tuple[T, str]] = []
        for item, text, count in self._held:
            if covered >= count:
                covered -= count
                continue
            out.append((item, drop_words(text, covered) if covered else text))
            covered = 0
        self.active, self._held, self._words = False, [], []
        return out

    def repeats(self, text: str) -> bool:
        """True while an interim's words may repeat emitted ones (the core drops it then)."""
        if not self.active:
            return False
        words = self._words + words_of(text)
        return any(_judge(self._emitted[j:], words) is not None for j in range(len(self._emitted)))

    def finish(self) -> list[tuple[T, str]]:
        """End the overlap (the stream ended, or nothing repeats): the held finals, unchanged."""
        return self._drop(0)


MIN_AGREEMENT = 0.75
"""Share of words two transcripts of the same audio must agree on to count as a repeat: a
re-decode from another starting point differs in a word or two ("my" / "am I")."""
MAYBE_AGREEMENT = 0.5
"""Agreement above which finals are held for more evidence instead of passing at once."""
LEADING_JUNK = 2
"""Words a repeat may start with that match nothing: the replay's first, cut-off word decoded."""
MAX_HELD_EXTRA = 10
"""Words held beyond the emitted words compared before giving up on a repeat."""


def _judge(expected: Sequence[str], words: Sequence[str]) -> tuple[str, int, float] | None:
    """Whether ``words`` start by repeating ``expected`` (fuzzily, anchored at both starts).

    Returns:
        ``("complete", covered, agreement)`` when ``words`` repeats all of ``expected`` (in its
        first ``covered`` words); ``("pending", len(words), agreement)`` when all of ``words``
        repeats a prefix of ``expected``; None when they part ways. ``agreement`` is the share
        of matching words over the shorter of the two spans compared.
    """
    if not expected or not words:
        return None
    sm = difflib.SequenceMatcher(a=expected, b=words, autojunk=False)
    blocks = [b for b in sm.get_matching_blocks() if b.size]
    # a repeat starts where the replay did; a replay that starts inside a word may first decode
    # as a word or two of junk ("...Americans" -> "back up.")
    if not blocks or blocks[0].a > 1 or blocks[0].b > LEADING_JUNK:
        return None
    junk = blocks[0].b
    matched = sum(b.size for b in blocks)
    a_end, b_end = blocks[-1].a + blocks[-1].size, blocks[-1].b + blocks[-1].size
    a_left, b_left = len(expected) - a_end, len(words) - b_end
    if a_left == 0 or (a_left == 1 and b_left >= 1):  # all expected seen (the last may be misheard)
        covered = min(len(words), b_end + a_left)
        return "complete", covered, matched / max(len(expected), covered - junk - 1)
    if b_left <= 1:  # all of ``words`` is a repeat; more expected to come
        used = min(len(expected), a_end + b_left)
        return "pending", len(words), matched / max(len(words) - junk - 1, used)
    return None
