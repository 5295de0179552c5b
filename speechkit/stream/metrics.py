"""A stream's metrics bookkeeping: usage to report, and when audio was pushed (for latency).

The stream emits what these compute: ``RECOGNITION_USAGE`` events with the audio seconds
sent, and :class:`speechkit.metrics.SpeechkitSTTMetrics` with time to first interim and final
latency, both measured from when the audio they cover was pushed.
"""

from __future__ import annotations

import array
import bisect
import time
from typing import Any

from livekit.agents.metrics.base import Metadata

from ..metrics import SpeechkitSTTMetrics

USAGE_INTERVAL = 1.0
"""Seconds of sent audio between two usage reports (more come at each flush and final, and at
the end). Short because livekit's ``AgentSession`` stops listening to the STT's metrics before
it closes the stream: what was not reported by then is not counted in ``AgentSession.usage``."""

HISTORY = 4096
"""Chunk ends remembered for latency lookups (7 min of a call at 100 ms chunks); half are
dropped when it fills."""


class Usage:
    """Audio seconds sent and not yet reported."""

    __slots__ = ("_interval", "_pending")

    def __init__(self, interval: float = USAGE_INTERVAL) -> None:
        self._interval = interval
        self._pending = 0.0

    def add(self, seconds: float) -> bool:
        """Count ``seconds`` sent; whether a report is due."""
        self._pending += seconds
        return self._pending >= self._interval

    def take(self) -> float:
        """The seconds to report now (0 when none), counted as reported."""
        seconds, self._pending = self._pending, 0.0
        return seconds


class PushTimes:
    """When each chunk's audio was complete, to measure latency from the audio pushed.

    Two float arrays (8 bytes an entry), bounded to :data:`HISTORY` entries.
    """

    __slots__ = ("_ends", "_times")

    def __init__(self) -> None:
        self._ends = array.array("d")
        self._times = array.array("d")

    def record(self, end: float, sent_at: float) -> None:
        """A chunk ending at ``end`` (stream clock, no offset) was complete at ``sent_at``."""
        self._ends.append(end)
        self._times.append(sent_at)
        if len(self._ends) > HISTORY:
            del self._ends[: HISTORY // 2], self._times[: HISTORY // 2]

    def latency(self, stream_time: float, now: float) -> float:
        """Seconds from when the audio at ``stream_time`` (no offset) was pushed to ``now``;
        0 for audio not in the history."""
        i = bisect.bisect_left(self._ends, stream_time - 1e-6)
        if i >= len(self._ends):
            return 0.0
        # the chunk went out when its last sample arrived; the sample at stream_time came earlier
        pushed_at = self._times[i] - max(0.0, self._ends[i] - stream_time)
        return max(0.0, now - pushed_at)


def provider_metadata(provider: Any) -> Metadata:
    """The model and provider a metrics event names (``AgentSession.usage`` groups by them):
    the provider's model option (``unknown`` when it has none) and its name."""
    return Metadata(model_name=provider.options.model or "unknown", model_provider=provider.name)


def stream_metrics(
    provider: str,
    request_id: str,
    reconnects: int,
    metadata: Any,
    *,
    time_to_first_interim: float | None = None,
    final_latency: float | None = None,
    failover_gap: float | None = None,
    replayed_seconds: float | None = None,
) -> SpeechkitSTTMetrics:
    """One stream metrics record, labelled with the provider that served (seconds throughout)."""
    return SpeechkitSTTMetrics(
        label=f"speechkit.{provider}",
        request_id=request_id,
        timestamp=time.time(),
        duration=0.0,
        audio_duration=0.0,
        streamed=True,
        reconnects=reconnects,
        time_to_first_interim=time_to_first_interim,
        final_latency=final_latency,
        failover_gap=failover_gap,
        replayed_seconds=replayed_seconds,
        metadata=metadata,
    )
