"""Which provider serves a stream's next connection: the member selector.

A plain stream has one member (:class:`OneProvider`); a fallback chain
(:class:`speechkit.fallback.ChainMembers`) has several and moves between them. The stream
asks its selector for the provider of each connection, tells it when a member's retries are
spent, and asks it after each event whether to move at this utterance boundary; the
selector touches nothing of the stream's.
"""

from __future__ import annotations

from typing import Any, Protocol

from livekit.agents import APIConnectOptions

from ..errors import APIError
from ..provider import Provider


class MemberSelector(Protocol):
    """What a stream needs of its providers.

    Attributes:
        conn_options: Retry policy of one member (its reconnects before it counts as failed).
        max_replay: Seconds of unconfirmed audio the stream keeps for replay.
    """

    conn_options: APIConnectOptions
    max_replay: float

    @property
    def provider(self) -> Provider[Any]:
        """The member serving now (options included)."""

    def next(self) -> Provider[Any]:
        """The provider for the connection about to open (the stream asks once per connection)."""

    def update(self, **options: Any) -> None:
        """Apply options (validated; not the language, which is the stream's) to the member(s)
        that have them.

        Raises:
            ConfigError: an unknown option or a bad value (nothing changed then).
        """

    def failed(self, err: APIError, replay_seconds: float) -> None:
        """The current member's retries are spent: move to the next one.

        Raises:
            APIError: no member is left (the stream fails with it).
        """

    def failover(self) -> tuple[float, float] | None:
        """Once after a move by :meth:`failed`, at the next member's first event:
        ``(seconds since the failure, seconds replayed)``; else None."""

    def move_back(self) -> bool:
        """Called at an utterance boundary with input still coming: whether to move to a
        recovered higher-priority member now (the stream then reconnects in order)."""

    async def recover(self) -> None:
        """Runs while the stream serves: probes failed members (returns at once when none can
        recover)."""


class OneProvider:
    """The selector of a stream with one provider: its failure is the stream's."""

    def __init__(self, provider: Provider[Any], conn_options: APIConnectOptions, max_replay: float) -> None:
        self.provider = provider
        self.conn_options = conn_options
        self.max_replay = max_replay

    def next(self) -> Provider[Any]:
        return self.provider

    def update(self, **options: Any) -> None:
        self.provider = self.provider.with_options(**options) if options else self.provider

    def failed(self, err: APIError, replay_seconds: float) -> None:
        raise err

    def failover(self) -> tuple[float, float] | None:
        return None

    def move_back(self) -> bool:
        return False

    async def recover(self) -> None:
        return None
