"""What one stream reports on its STT's ``metrics_collected``: usage, connection times, latencies.

Each report names the provider it concerns (``AgentSession.usage`` groups by model and
provider), so a fallback chain's usage shows one entry per member that served, not one
``fallback`` entry. Usage goes out as metrics at once, not through livekit's monitor of the
``RECOGNITION_USAGE`` events (which runs later, as its own task): livekit's ``AgentSession``
stops listening to the STT before it closes the stream, so what is reported later is lost.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from livekit.agents import stt
from livekit.agents.metrics import STTMetrics
from livekit.agents.metrics.base import Metadata

from .metrics import PushTimes, Usage, provider_metadata, stream_metrics


class Reports:
    """The metrics one stream emits, labelled with the member they concern.

    Args:
        emit: Emits one record on the STT's ``metrics_collected``.
        send: Puts one event on the stream's output (for ``RECOGNITION_USAGE``).
        request_id: The stream's id, on every record.
        serving: The provider serving now (a chain's member) and the reconnects so far.
        push_times: When the audio was pushed, for latencies (times without the stream's offset).
    """

    def __init__(
        self,
        emit: Callable[[STTMetrics], None],
        send: Callable[[stt.SpeechEvent], None],
        request_id: str,
        serving: Callable[[], tuple[Any, int]],
        push_times: PushTimes,
    ) -> None:
        self._emit, self._send, self._request_id = emit, send, request_id
        self._serving, self.push_times = serving, push_times
        self._usage = Usage()
        self._by: Metadata | None = None  # the member whose sent audio the usage counts
        self._by_provider: Any = None  # the provider object it was made of
        self._onset: float | None = None  # the utterance's onset until its first interim
        self.closing = False  # aclose() was called: usage goes out as metrics only

    def sent(self, seconds: float, provider: Any) -> None:
        """``seconds`` of audio went to ``provider`` (the member serving); usage is reported
        every :data:`~.metrics.USAGE_INTERVAL` and when the member sent to changes."""
        if provider is not self._by_provider:  # per chunk: metadata only when the member changes
            self._by_provider = provider
            by = provider_metadata(provider)
            if self._by is None or (self._by.model_provider, self._by.model_name) != (
                by.model_provider,
                by.model_name,
            ):
                self.usage()  # the audio counted so far went to the member before (a chain)
                self._by = by
        if self._usage.add(seconds):
            self.usage()

    def usage(self) -> None:
        """The seconds sent since the last report (none when none), as metrics at once and as a
        ``RECOGNITION_USAGE`` event (not after ``aclose()``: the event channel is going away)."""
        seconds, by = self._usage.take(), self._by
        if seconds <= 0 or by is None:
            return
        self._emit(
            STTMetrics(
                request_id=self._request_id,
                timestamp=time.time(),
                duration=0.0,
                label=f"speechkit.{by.model_provider}",
                audio_duration=seconds,
                streamed=True,
                metadata=by,
            )
        )
        if not self.closing:
            usage = stt.RecognitionUsage(audio_duration=seconds)
            self._send(
                stt.SpeechEvent(
                    type=stt.SpeechEventType.RECOGNITION_USAGE,
                    request_id=self._request_id,
                    recognition_usage=usage,
                )
            )

    def connection_acquired(self, acquire_time: float, reused: bool) -> None:
        """livekit's connection timing record (seconds), labelled with the member connected
        (``request_id`` empty, as livekit's own: a connection is not a request)."""
        provider = self._serving()[0]
        self._emit(
            STTMetrics(
                request_id="",
                timestamp=time.time(),
                duration=0.0,
                label=f"speechkit.{provider.name}",
                audio_duration=0.0,
                streamed=True,
                acquire_time=acquire_time,
                connection_reused=reused,
                metadata=provider_metadata(provider),
            )
        )

    def stream(self, **fields: float | None) -> None:
        """A stream metrics record with ``fields`` (see :func:`.metrics.stream_metrics`)."""
        provider, reconnects = self._serving()
        metadata = provider_metadata(provider)
        self._emit(stream_metrics(provider.name, self._request_id, reconnects, metadata, **fields))

    def utterance_started(self, onset: float) -> None:
        """An utterance began at ``onset`` (s, no offset): its first interim's latency is from there."""
        self._onset = onset

    def interim(self, now: float) -> None:
        """An interim came at ``now`` (``time.monotonic()``): the utterance's first reports its
        time to first interim."""
        if self._onset is not None:
            self.stream(time_to_first_interim=self.push_times.latency(self._onset, now))
            self._onset = None

    def final(self, end: float, now: float) -> None:
        """A final covering audio to ``end`` (s, no offset; 0: untimed) came at ``now``."""
        self._onset = None
        if end > 0:
            self.stream(final_latency=self.push_times.latency(end, now))
