"""Which flushes reach the provider, and the empty final that answers one that finalised nothing.

livekit's ``AudioRecognition`` flushes at each end of turn (50 ms after a final, often) and on
close, then waits for a final as the flush's answer (2 s on close). Over near-silence a provider
can only invent words ("Ask not! Ask not!" from Whisper), so a flush with nothing to finalise is
not passed on: the stream answers it at once with a final whose text is empty, which livekit
takes as the answer and skips (``audio_recognition.py`` ``_process_stt_event``; livekit's own
AssemblyAI plugin sends empty finals too). Nothing is lost: the audio is still sent, and the
provider's own endpointing finalises it. See :mod:`speechkit.grammar` for where an empty
final may appear.
"""

from __future__ import annotations

from collections.abc import Callable

from livekit.agents import stt

FLUSH_MIN_SPEECH = 0.25
"""Seconds of speech awaiting a final below which a flush has nothing to finalise (silero-vad's
``min_speech_duration_ms`` default, 250 ms: no word is shorter)."""


def empty_final(language: str, at: float, request_id: str) -> stt.SpeechEvent:
    """The answer to a flush that finalised no words: an empty final at ``at`` (stream clock, s)."""
    data = stt.SpeechData(language=language, text="", start_time=at, end_time=at)  # type: ignore[arg-type]
    return stt.SpeechEvent(
        type=stt.SpeechEventType.FINAL_TRANSCRIPT, request_id=request_id, alternatives=[data]
    )


class FlushAnswers:
    """Decides, per flush, whether the provider is asked to finalise; answers the flushes it is not.

    Args:
        has_words: Whether words shown as interims await a final.
        speech_seconds: Seconds of speech (by the pause rule) sent since the last final.
        answer: Sends the empty final that answers a flush.
    """

    def __init__(
        self, has_words: Callable[[], bool], speech_seconds: Callable[[], float], answer: Callable[[], None]
    ) -> None:
        self._has_words, self._speech_seconds, self._answer = has_words, speech_seconds, answer
        self._pending = False  # a flush passed on to the provider awaits its final

    def flushed(self, ending: bool) -> bool:
        """A flush's audio was sent (``ending``: the end of input's); whether to pass it on.

        A flush not passed on is answered now, but at the end of input, where the stream's
        end answers it (livekit's ``end_input()`` flushes first)."""
        if self._has_words() or self._speech_seconds() >= FLUSH_MIN_SPEECH:
            self._pending = not ending
            return True
        if not ending:
            self._answer()
        return False

    def final(self) -> None:
        """A final came: it answers a flush passed on."""
        self._pending = False

    def utterance_ended(self) -> None:
        """An utterance ended: a flush passed on that no final answered is answered now."""
        if self._pending:
            self._pending = False
            self._answer()
