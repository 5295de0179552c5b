"""The event grammar every provider's stream follows.

Per utterance::

    START_OF_SPEECH (INTERIM_TRANSCRIPT* FINAL_TRANSCRIPT)+ END_OF_SPEECH

or ``START_OF_SPEECH INTERIM_TRANSCRIPT* END_OF_SPEECH`` when voice activity
produced no words (the provider retracted its interims with an empty final).
``RECOGNITION_USAGE`` may appear anywhere, and so may an empty ``FINAL_TRANSCRIPT``
(text ``""``, its times where the flush ended): the stream's answer to a ``flush()`` that
finalised no words, as livekit's ``AudioRecognition`` waits for a final after each flush and
skips an empty one (see :mod:`speechkit.stream.flushes`). The :class:`Grammar` turns provider
events (already on the stream clock) into livekit ``SpeechEvent`` s, synthesising
the START/END events a provider does not send, and never emits an END while an
utterance's words are still awaiting their final: a provider's end-of-speech that
arrives before the final is held until the final arrives.
"""

from __future__ import annotations

import time

from livekit.agents import stt
from livekit.agents.types import TimedString

from .events import ProviderEvent, SpeechEnded, SpeechStarted, Transcript

E = stt.SpeechEventType


class Grammar:
    """State machine from provider events to livekit speech events.

    Args:
        language: Stream language, used where a transcript names none.
        provider_ends_utterances: True when the provider signals utterance ends
            (``SpeechEnded`` or ``Transcript.end_of_utterance``); otherwise every
            non-empty final closes its utterance.
        request_id: Put on every event.
    """

    def __init__(self, *, language: str, provider_ends_utterances: bool, request_id: str = "") -> None:
        self.language = language
        self._provider_ends = provider_ends_utterances
        self._request_id = request_id
        self.in_speech = False
        self._pending_interim: Transcript | None = None  # words not yet covered by a final
        self._end_requested = False

    @property
    def awaiting_final(self) -> bool:
        """Words shown as interims that no final has covered yet."""
        return self._pending_interim is not None

    def feed(self, ev: ProviderEvent) -> list[stt.SpeechEvent]:
        """Events to emit for one provider event (times already on the stream clock)."""
        out: list[stt.SpeechEvent] = []
        if isinstance(ev, SpeechStarted):
            self._start(out, ev.time)
        elif isinstance(ev, SpeechEnded):
            if self.in_speech:
                if self._pending_interim is None:
                    self._end(out)
                else:
                    self._end_requested = True
        elif isinstance(ev, Transcript):
            self._transcript(out, ev)
        return out

    def close(self) -> list[stt.SpeechEvent]:
        """Events that end the stream cleanly: a pending interim becomes the final, then END.

        Called when the provider has sent everything (end of input drained), so the
        last interim is the best transcript of those words there will ever be.
        """
        out: list[stt.SpeechEvent] = []
        if self._pending_interim is not None:
            last = self._pending_interim
            self._emit(
                out,
                E.FINAL_TRANSCRIPT,
                Transcript(
                    text=last.text,
                    is_final=True,
                    start_time=last.start_time,
                    end_time=last.end_time,
                    confidence=last.confidence,
                    words=last.words,
                    language=last.language,
                    speaker_id=last.speaker_id,
                ),
            )
            self._pending_interim = None
        if self.in_speech:
            self._end(out)
        return out

    def _transcript(self, out: list[stt.SpeechEvent], ev: Transcript) -> None:
        has_text = bool(ev.text.strip())
        if not ev.is_final:
            if has_text:
                self._start(out, ev.start_time)
                self._pending_interim = ev
                self._emit(out, E.INTERIM_TRANSCRIPT, ev)
            return
        if has_text:
            self._start(out, ev.start_time)
            self._pending_interim = None
            self._emit(out, E.FINAL_TRANSCRIPT, ev)
        elif self._pending_interim is not None:
            # an empty final over words we showed as interim: those words are gone
            self._pending_interim = None
        closes = ev.end_of_utterance or self._end_requested or (not self._provider_ends and has_text)
        if self.in_speech and closes and self._pending_interim is None:
            self._end(out)

    def _start(self, out: list[stt.SpeechEvent], at: float | None) -> None:
        if not self.in_speech:
            self.in_speech = True
            self._end_requested = False
            out.append(stt.SpeechEvent(type=E.START_OF_SPEECH, request_id=self._request_id))

    def _end(self, out: list[stt.SpeechEvent]) -> None:
        self.in_speech = False
        self._end_requested = False
        out.append(stt.SpeechEvent(type=E.END_OF_SPEECH, request_id=self._request_id))

    def _emit(self, out: list[stt.SpeechEvent], kind: stt.SpeechEventType, ev: Transcript) -> None:
        out.append(
            stt.SpeechEvent(
                type=kind,
                request_id=self._request_id,
                alternatives=[to_speech_data(ev, self.language)],
                created_at=time.time(),
            )
        )


def to_speech_data(ev: Transcript, default_language: str) -> stt.SpeechData:
    """A livekit ``SpeechData`` from a transcript already on the stream clock."""
    words = [
        TimedString(
            w.text,
            start_time=w.start_time,
            end_time=w.end_time,
            confidence=w.confidence if w.confidence is not None else 0.0,
        )
        for w in ev.words
    ] or None
    return stt.SpeechData(
        language=ev.language or default_language,  # type: ignore[arg-type]
        text=ev.text.strip(),
        start_time=ev.start_time or 0.0,
        end_time=ev.end_time or 0.0,
        confidence=ev.confidence if ev.confidence is not None else 0.0,
        speaker_id=ev.speaker_id,
        words=words,
    )
