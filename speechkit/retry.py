"""The one retry policy of speechkit, written with tenacity.

Honours livekit's ``APIConnectOptions``: at most ``max_retry`` retries between
two final transcripts (a final proves the connection worked, so it resets the
budget), exponential backoff from ``retry_interval`` with jitter, capped at
:data:`MAX_BACKOFF`, and never shorter than a ``Retry-After`` the vendor sent.
Only ``APIError`` s with ``retryable=True`` are retried; anything else is raised
at once.
"""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator, Callable

import tenacity
from livekit.agents import APIConnectOptions

from .errors import APIError

logger = logging.getLogger("speechkit")

MAX_BACKOFF = 30.0
"""Longest wait between two attempts, in seconds (a vendor's Retry-After may exceed it)."""

FIRST_RETRY_DELAY = 0.1
"""The first retry after a success comes quickly (as livekit does): most drops are transient."""


def is_retryable(exc: BaseException) -> bool:
    """True for an ``APIError`` marked retryable (network, 5xx, 429, unexpected close)."""
    return isinstance(exc, APIError) and exc.retryable


def backoff(failures: int, retry_interval: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before the retry that follows ``failures`` consecutive failures.

    Args:
        failures: Consecutive failures since the last success, >= 1.
        retry_interval: ``APIConnectOptions.retry_interval`` in seconds.
        rng: Source of jitter (tests pass a seeded one).

    Returns:
        ``FIRST_RETRY_DELAY`` for the first failure, then ``retry_interval * 2**(n-2)``
        capped at ``MAX_BACKOFF``, scaled by a jitter factor in [0.5, 1.0].
    """
    if failures <= 1:
        return FIRST_RETRY_DELAY
    base = min(MAX_BACKOFF, retry_interval * 2 ** (failures - 2))
    jitter: float = (rng or random).random()
    return float(base * (0.5 + 0.5 * jitter))


class RetryPolicy:
    """Retries for one stream, with a budget that a final transcript resets.

    Args:
        conn_options: livekit's connection options (max_retry, retry_interval, timeout).
        on_retry: Called with (error, attempt number, delay in s) before each wait.
    """

    def __init__(
        self,
        conn_options: APIConnectOptions,
        *,
        on_retry: Callable[[APIError, int, float], None] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._opts = conn_options
        self._on_retry = on_retry
        self._rng = rng
        self._attempt = 0  # tenacity's attempt number of the running attempt
        self._reset_at = 0  # attempt number at the last success

    def succeeded(self) -> None:
        """Record a success (a final transcript): the retry budget starts over."""
        self._reset_at = self._attempt - 1

    @property
    def failures(self) -> int:
        """Failures since the last success, counting the running attempt if it fails."""
        return self._attempt - self._reset_at

    def _stop(self, state: tenacity.RetryCallState) -> bool:
        return self.failures > self._opts.max_retry

    def _wait(self, state: tenacity.RetryCallState) -> float:
        delay = backoff(self.failures, self._opts.retry_interval, self._rng)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)):
            delay = max(delay, float(retry_after))
        return delay

    def _before(self, state: tenacity.RetryCallState) -> None:
        self._attempt = state.attempt_number

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        if isinstance(exc, APIError) and self._on_retry:
            self._on_retry(exc, state.attempt_number, delay)

    async def attempts(self) -> AsyncIterator[tenacity.AttemptManager]:
        """Iterate attempts: ``async for attempt in policy.attempts(): with attempt: ...``.

        Raises:
            APIError: the last error once the budget is spent, or at once if not retryable.
        """
        self._attempt = self._reset_at = 0  # tenacity counts from 1 again
        retrying = tenacity.AsyncRetrying(
            stop=self._stop,
            wait=self._wait,
            retry=tenacity.retry_if_exception(is_retryable),
            before=self._before,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            yield attempt
