"""One connection's watchdog: a half-open or mute connection, the end of a drain.

Three bounds, read off the clock only when one may have passed:

* **half-open**: speech went out and no server message at all followed it for the
  provider's ``response_limit`` (or, while draining, the server still owes a final: timed
  finals do not cover speech the buffer holds, or its last transcript was an interim with
  words): the connection is replaced, its audio replayed. Whether audio is paced or pushed
  fast makes no difference.
* **mute** (a silent failure): the server keeps answering (pings, acknowledgements, empty
  results) but no transcript with words came for ``mute_limit`` seconds since an utterance
  of speech (ended by the pause rule) went out, and :data:`MUTE_UTTERANCES` went out by
  then: the connection is as dead as a half-open one. Continuous sound with no pause (hold
  music) never completes an utterance, so it never trips this.
* **drain**: after the end of input, once every answer owed came, ``drain_timeout`` seconds
  of server silence end the connection as finished.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import APIConnectionError
from .pauses import PAUSE_SECONDS

WORD_TAIL = 0.5
"""Seconds a timed transcript's end may fall short of where the pause rule ends its speech
(a word's fading tail), for it to answer that utterance."""


class MuteError(APIConnectionError):
    """A connection that answers but transcribes nothing (retryable, as a half-open one).

    Attributes:
        position: Stream-clock end of the last utterance it left without words.
    """

    def __init__(self, message: str, *, position: float) -> None:
        super().__init__(message)
        self.position = position


MUTE_UTTERANCES = 3
"""Utterances of speech sent with no transcript holding words, at least, before a connection
that still answers counts as mute: one could be a cough, and a vendor finalises each."""


class Watchdog:
    """The bounds of one connection, fed what was sent and heard.

    Args:
        provider: The provider's name, for the error.
        response_limit: Seconds of server silence after unanswered speech that mean
            half-open, or None (no check).
        drain_timeout: Seconds of server silence after the end of input (all answered)
            that end the connection.
        timed: The provider's finals carry times (they then say exactly what they covered,
            so speech still unconfirmed while draining is owed an answer too).
        unconfirmed_speech: Seconds of speech awaiting a final (the replay buffer's).
        now: The time the connection opened (``time.monotonic()``).
        mute_limit: Seconds without words, while utterances went out, that mean a mute
            connection, or None (no check).
    """

    __slots__ = (
        "_drain",
        "_interim_pending",
        "_limit",
        "_mute_limit",
        "_provider",
        "_timed",
        "_unanswered_since",
        "_unconfirmed_speech",
        "_utterances",
        "quiet_since",
    )

    def __init__(
        self,
        *,
        provider: str,
        response_limit: float | None,
        drain_timeout: float,
        timed: bool,
        unconfirmed_speech: Callable[[], float],
        now: float,
        mute_limit: float | None = None,
    ) -> None:
        self._provider = provider
        self._limit = response_limit
        self._drain = drain_timeout
        self._timed = timed
        self._unconfirmed_speech = unconfirmed_speech
        self.quiet_since = now
        """The last server message, or the end of the input (``time.monotonic()``)."""
        self._unanswered_since: float | None = None  # speech sent that no message followed yet
        self._mute_limit = mute_limit
        self._interim_pending = False  # the last transcript was an interim with words: a final is owed
        # (time.monotonic(), stream position) of each utterance sent since the last words, as it ended
        self._utterances: list[tuple[float, float]] = []

    def heard(self, now: float) -> None:
        """A server message arrived."""
        self.quiet_since, self._unanswered_since = now, None

    def spoke(self, now: float) -> None:
        """A chunk of speech was sent."""
        if self._unanswered_since is None:
            self._unanswered_since = now

    def uttered(self, now: float, at: float) -> None:
        """An utterance of speech went out whole (the pause rule ended it at ``at``, stream clock)."""
        self._utterances.append((now, at))

    def closed(self, trusted_until: float) -> None:
        """The server ended the session as finished, after the end of input.

        Args:
            trusted_until: Utterances ending at or before this stream position do not count:
                a connection that replaced a mute one gave its second opinion on them
                (they may just hold no words: a cough, music with pauses).

        Raises:
            MuteError: it left :data:`MUTE_UTTERANCES` utterances without a word (pushed
                faster than real time, a mute connection finishes before the clock can tell).
        """
        unanswered = [at for _, at in self._utterances if at > trusted_until + 1e-6]
        if self._mute_limit is not None and len(unanswered) >= MUTE_UTTERANCES:
            raise MuteError(
                f"{self._provider}: the session ended without a transcript for the last "
                f"{len(unanswered)} utterances of speech (the connection answers but transcribes nothing?)",
                position=unanswered[-1],
            )

    def transcript(self, final: bool, has_words: bool, until: float | None = None) -> None:
        """A transcript came (after :meth:`heard` for its message).

        Args:
            final: It is final.
            has_words: Its text holds words.
            until: Its end (stream clock, seconds), or None when untimed: then it answers every
                utterance sent so far; else those that ended by its end, less a word's tail.
        """
        if has_words:
            if until is None:
                self._utterances.clear()
            else:
                self._utterances = [(t, at) for t, at in self._utterances if at > until + WORD_TAIL]
        if final:
            self._interim_pending = False
        elif has_words:
            self._interim_pending = True

    def _mute_since(self) -> float | None:
        """Since when the server owes words for whole utterances, or None."""
        if self._mute_limit is None or len(self._utterances) < MUTE_UTTERANCES:
            return None
        return self._utterances[0][0]

    def input_ended(self, now: float) -> None:
        """The end of input reached the server: the drain starts counting."""
        self.quiet_since = max(self.quiet_since, now)

    def _owed_since(self, draining: bool) -> float | None:
        """Since when the server owes an answer, or None when it owes none."""
        if self._unanswered_since is not None:
            return self._unanswered_since
        if draining and self._interim_pending:  # words heard that no final closed yet
            return self.quiet_since
        # more than a word's tail past the last final's end
        if draining and self._timed and self._unconfirmed_speech() >= PAUSE_SECONDS:
            return self.quiet_since
        return None

    def timeout(self, now: float, draining: bool) -> float | None:
        """How long the receive loop may wait before it must look at the clock again."""
        owed = self._owed_since(draining)
        if self._limit is not None and owed is not None:
            wait: float | None = max(0.0, owed + self._limit - now)
        elif draining:
            wait = max(0.0, self.quiet_since + self._drain - now)
        else:
            wait = self._limit  # speech may go out meanwhile: look again after one bound
        if self._mute_limit is not None:
            mute = self._mute_since()
            # an utterance may go out meanwhile: look again after one bound
            due = self._mute_limit if mute is None else max(0.0, mute + self._mute_limit - now)
            wait = due if wait is None else min(wait, due)
        return wait

    def drained(self, now: float, draining: bool) -> bool:
        """Whether the connection is done: input out, every answer in, and a drain's silence.

        Raises:
            APIConnectionError: the connection is half-open, or mute (:class:`MuteError`);
                retryable: a new connection gets the unconfirmed audio replayed.
        """
        mute = self._mute_since()
        if mute is not None and self._mute_limit is not None and now - mute >= self._mute_limit - 1e-3:
            raise MuteError(
                f"{self._provider}: no transcript for {self._mute_limit:g} s while {len(self._utterances)} "
                "utterances of speech were sent (the connection answers but transcribes nothing?)",
                position=self._utterances[-1][1],
            )
        owed = self._owed_since(draining)
        answered = True
        if owed is not None and self._limit is not None:
            if now - owed >= self._limit - 1e-3:
                raise APIConnectionError(
                    f"{self._provider}: no server message for {self._limit:g} s while audio awaited "
                    "transcription (half-open connection?)"
                )
            answered = False
        quiet = now - self.quiet_since >= self._drain - 1e-3
        return draining and answered and quiet
