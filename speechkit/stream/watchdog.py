"""One connection's watchdog: a half-open connection, the end of a drain.

Two bounds, read off the clock only when one may have passed:

* **half-open**: speech went out and no server message at all followed it for the
  provider's ``response_limit`` (or, while draining, timed finals still owe speech the
  buffer holds): the connection is replaced, its audio replayed. Whether audio is paced or
  pushed fast makes no difference.
* **drain**: after the end of input, once every answer owed came, ``drain_timeout`` seconds
  of server silence end the connection as finished.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import APIConnectionError
from .pauses import PAUSE_SECONDS


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
    """

    __slots__ = (
        "_drain",
        "_limit",
        "_provider",
        "_timed",
        "_unanswered_since",
        "_unconfirmed_speech",
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
    ) -> None:
        self._provider = provider
        self._limit = response_limit
        self._drain = drain_timeout
        self._timed = timed
        self._unconfirmed_speech = unconfirmed_speech
        self.quiet_since = now
        """The last server message, or the end of the input (``time.monotonic()``)."""
        self._unanswered_since: float | None = None  # speech sent that no message followed yet

    def heard(self, now: float) -> None:
        """A server message arrived."""
        self.quiet_since, self._unanswered_since = now, None

    def spoke(self, now: float) -> None:
        """A chunk of speech was sent."""
        if self._unanswered_since is None:
            self._unanswered_since = now

    def input_ended(self, now: float) -> None:
        """The end of input reached the server: the drain starts counting."""
        self.quiet_since = max(self.quiet_since, now)

    def _owed_since(self, draining: bool) -> float | None:
        """Since when the server owes an answer, or None when it owes none."""
        if self._unanswered_since is not None:
            return self._unanswered_since
        # more than a word's tail past the last final's end
        if draining and self._timed and self._unconfirmed_speech() >= PAUSE_SECONDS:
            return self.quiet_since
        return None

    def timeout(self, now: float, draining: bool) -> float | None:
        """How long the receive loop may wait before it must look at the clock again."""
        owed = self._owed_since(draining)
        if self._limit is not None and owed is not None:
            return max(0.0, owed + self._limit - now)
        if draining:
            return max(0.0, self.quiet_since + self._drain - now)
        return self._limit  # speech may go out meanwhile: look again after one bound

    def drained(self, now: float, draining: bool) -> bool:
        """Whether the connection is done: input out, every answer in, and a drain's silence.

        Raises:
            APIConnectionError: the connection is half-open (retryable: a new connection
                gets the unconfirmed audio replayed).
        """
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
