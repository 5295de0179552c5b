"""Overlap resolution after a reconnect, for finals that carry no times.

On reconnect the core replays the audio no final is known to cover. With timed finals it
knows exactly what was covered; with untimed ones (Telnyx) it only knows a lower bound, so
the replay may hold audio some emitted finals already transcribed. The new connection then
transcribes those words again, at the start of its transcript. :class:`ReplayOverlap`
finds them: the new connection's first words that repeat a *suffix* of the words already
emitted (the replay starts somewhere inside them) are dropped, once, and the rest passes.

Several suffixes can match a short final ("it was" in "it was the best of times, it was
the worst..."), so every candidate is kept and finals are held back until one candidate's
whole suffix has been seen (then those words were repeats) or none matches any more (then
nothing was: the held finals pass unchanged). Words are compared case- and
punctuation-insensitively.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Generic, TypeVar

import attrs

_NON_WORD = re.compile(r"[^\w']+")


def words_of(text: str) -> list[str]:
    """Lower-case words of ``text``, punctuation dropped (``"Times, it"`` -> ``["times", "it"]``)."""
    return _NON_WORD.sub(" ", text.lower()).split()


def drop_words(text: str, count: int) -> str:
    """``text`` without its first ``count`` words (as :func:`words_of` counts them)."""
    tokens = text.split()
    seen = 0
    for i, token in enumerate(tokens):
        if seen >= count:
            return " ".join(tokens[i:])
        seen += len(words_of(token))
    return ""


T = TypeVar("T")


@attrs.define
class Resolution(Generic[T]):
    """What to emit after one final of the new connection.

    Attributes:
        release: Held finals to emit now, unchanged, in order (the overlap turned out to
            hold none of their words).
        emit: The text to emit for the final just given: unchanged, trimmed of its repeated
            leading words, or None (a repeat, or held back).
    """

    release: list[T] = attrs.field(factory=list)
    emit: str | None = None


class ReplayOverlap(Generic[T]):
    """Drops the words a new connection repeats from what was already emitted.

    Args:
        emitted: Words of the finals emitted before the reconnect that may cover replayed
            audio, oldest first.
    """

    def __init__(self, emitted: Sequence[str]) -> None:
        self._emitted = list(emitted)
        # (suffix start, next expected index) of every suffix still consistent with the finals
        self._candidates = [(j, j) for j in range(len(self._emitted))]
        self._held: list[T] = []
        self.active = bool(self._emitted)

    def final(self, text: str, item: T) -> Resolution[T]:
        """Resolve one final of the new connection; ``item`` is what to hand back if held."""
        if not self.active:
            return Resolution(emit=text)
        words = words_of(text)
        if not words:
            return Resolution(emit=None if self._held else text)
        complete: list[tuple[int, int]] = []  # (suffix start, words of this final it covers)
        pending: list[tuple[int, int]] = []
        for start, pos in self._candidates:
            match = _match(self._emitted[pos:], words)
            if match is None:
                continue
            expected_used, covered = match
            if pos + expected_used >= len(self._emitted):
                complete.append((start, covered))
            else:
                pending.append((start, pos + expected_used))
        if complete:
            _, k = min(complete)  # the longest suffix that matched whole
            self.active, self._held = False, []  # every held final was a repeat
            return Resolution(emit=drop_words(text, k) or None)
        if pending:
            self._candidates = pending
            self._held.append(item)
            return Resolution()
        return Resolution(release=self.finish(), emit=text)  # nothing repeated

    def repeats(self, text: str) -> bool:
        """True while an interim's words may repeat emitted ones (the core drops it then)."""
        if not self.active:
            return False
        words = words_of(text)
        return any(_match(self._emitted[pos:], words) is not None for _, pos in self._candidates)

    def finish(self) -> list[T]:
        """End the overlap (the stream ended, or no candidate is left): the held finals, to emit."""
        self.active = False
        held, self._held = self._held, []
        return held


MIN_AGREEMENT = 0.75
"""Share of words two transcripts of the same audio must agree on to count as a repeat: a
re-decode from another starting point differs in a word or two ("my" / "am I")."""


def _match(expected: Sequence[str], words: Sequence[str]) -> tuple[int, int] | None:
    """Whether ``words`` start by repeating ``expected`` (fuzzily, anchored at both starts).

    Returns:
        ``(expected words used, words of ``words`` they cover)`` when ``words`` repeats all of
        ``expected`` (then the cover may end inside ``words``) or ``words`` is all a repeat of
        a prefix of ``expected``; None when they disagree.
    """
    if not expected or not words:
        return None
    sm = difflib.SequenceMatcher(a=expected, b=words, autojunk=False)
    blocks = [b for b in sm.get_matching_blocks() if b.size]
    if not blocks or blocks[0].a > 1 or blocks[0].b > 1:  # a repeat starts where the replay did
        return None
    matched = sum(b.size for b in blocks)
    a_end, b_end = blocks[-1].a + blocks[-1].size, blocks[-1].b + blocks[-1].size
    a_left, b_left = len(expected) - a_end, len(words) - b_end
    if a_left == 0 or (a_left == 1 and b_left >= 1):  # all expected seen (the last may be misheard)
        if matched < MIN_AGREEMENT * len(expected):
            return None
        return len(expected), min(len(words), b_end + a_left)
    if b_left <= 1:  # all of ``words`` is a repeat; more expected to come
        if matched < MIN_AGREEMENT * len(words):
            return None
        return min(len(expected), a_end + b_left), len(words)
    return None
