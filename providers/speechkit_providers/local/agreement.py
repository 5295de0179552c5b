"""LocalAgreement-2 (as in whisper_streaming) for the ``local`` engine's interims.

Words that two consecutive interim decodes agree on are committed. Once an interim window
is long, it is cut after the last committed word with that text as the prompt, which
bounds the cost of each interim decode in run-on speech. Interims only: finals never read
this state (see :mod:`.transcriber`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from speechkit.events import Word
from speechkit.text import words

from .pcm import SAMPLE_RATE

CUT_WINDOW_AFTER: Final = int(8.0 * SAMPLE_RATE)
"""Decode window length beyond which it is cut after committed words, samples."""
_MIN_KEPT_WINDOW: Final = int(1.0 * SAMPLE_RATE)
"""Never cut the window to less than this before the newest audio, samples."""


def _norm(word: Word) -> str:
    """``word`` as hypotheses are compared: its :func:`speechkit.text.words` run together.

    Run together, not spaced: ``"cold-hearted"`` and ``"coldhearted"`` are the same word
    here (the text lower-cased with every run of other characters dropped).
    """
    return "".join(words(word.text))


def _after_committed(hyp: Sequence[Word], committed: Sequence[Word]) -> list[Word]:
    """Drop the part of ``hyp`` that repeats the committed words (by time, then by n-gram)."""
    if not committed:
        return list(hyp)
    last_end = committed[-1].end_time
    out = [w for w in hyp if w.start_time > last_end - 0.1]
    # A word straddling the window cut may come back: drop the longest
    # 1-5 word overlap between the committed tail and the new head.
    for n in range(min(5, len(committed), len(out)), 0, -1):
        if [_norm(w) for w in committed[-n:]] == [_norm(w) for w in out[:n]]:
            return out[n:]
    return out


class LocalAgreement:
    """The interim state of one utterance.

    Attributes:
        win_start: Start of the interim decode window, samples on the session clock.
        committed: Words two consecutive hypotheses agreed on, times in session seconds.
        n_before_window: How many of ``committed`` come before ``win_start`` (the window's
            prompt).
        prev_hyp: The newest hypothesis past the committed words, not agreed on yet.
    """

    def __init__(self, win_start: int = 0) -> None:
        """Nothing committed yet.

        Args:
            win_start: Start of the first interim window, samples.
        """
        self.win_start = win_start
        self.committed: list[Word] = []
        self.n_before_window = 0
        self.prev_hyp: list[Word] = []

    def add(self, hyp_words: Sequence[Word]) -> list[Word]:
        """Commit the head of a new hypothesis that agrees with the previous one.

        Args:
            hyp_words: The words of a new decode of the window, times in session seconds.

        Returns:
            The new hypothesis past the words committed before it.
        """
        hyp = _after_committed(hyp_words, self.committed)
        agreed = 0
        while agreed < min(len(hyp), len(self.prev_hyp)) and _norm(hyp[agreed]) == _norm(
            self.prev_hyp[agreed]
        ):
            agreed += 1
        self.committed.extend(hyp[:agreed])
        self.prev_hyp = hyp[agreed:]
        return hyp

    def maybe_cut(self, end: int) -> None:
        """Start the window after the last committed word once the window is long.

        Args:
            end: End of the window just decoded, samples.
        """
        in_window = len(self.committed) - self.n_before_window
        if end - self.win_start < CUT_WINDOW_AFTER or in_window <= 0:
            return
        last = self.committed[-1]
        cut_s = last.end_time
        if self.prev_hyp:
            cut_s = (last.end_time + self.prev_hyp[0].start_time) / 2
        cut = int(cut_s * SAMPLE_RATE)
        if cut <= self.win_start or cut > end - _MIN_KEPT_WINDOW:
            return
        self.win_start = cut
        self.n_before_window = len(self.committed)
