"""Metrics speechkit adds to livekit's ``STTMetrics`` (emitted through ``metrics_collected``)."""

from __future__ import annotations

from livekit.agents.metrics import STTMetrics


class SpeechkitSTTMetrics(STTMetrics):
    """livekit's ``STTMetrics`` plus streaming latencies.

    Usage (``audio_duration``) comes through livekit's own usage metrics; these
    carry ``audio_duration=0`` so totals are not counted twice.

    Attributes:
        time_to_first_interim: Seconds from speech onset (when that audio was pushed)
            to the utterance's first interim transcript, or None.
        final_latency: Seconds from the end of a final's audio (when it was pushed)
            to the final transcript, or None.
        reconnects: Reconnections of this stream so far.
        failover_gap: Seconds from a chain member's failure to the next member's first
            event (fallback chains), or None.
        replayed_seconds: Seconds of audio replayed to that member, or None.
    """

    time_to_first_interim: float | None = None
    final_latency: float | None = None
    reconnects: int = 0
    failover_gap: float | None = None
    replayed_seconds: float | None = None
