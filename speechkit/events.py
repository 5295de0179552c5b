"""What a provider's parser hands the core: provider events, before the event grammar.

A provider turns each server message into zero or more of these. The core's
grammar (:mod:`speechkit.grammar`) turns them into livekit ``SpeechEvent`` s,
synthesising ``START_OF_SPEECH``/``END_OF_SPEECH`` where a provider sends none,
and moves every time onto the stream clock.

All times are seconds relative to the start of the audio sent on the *current
connection* (the provider's own clock); the core adds the connection's origin
on the stream clock.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Word:
    """One recognised word with its timing.

    Attributes:
        text: The word as the provider spelled it.
        start_time: Start, seconds on the connection clock.
        end_time: End, seconds on the connection clock.
        confidence: 0–1, or None when the provider gives none.
    """

    text: str
    start_time: float
    end_time: float
    confidence: float | None = None


@attrs.frozen
class Transcript:
    """An interim or final transcript of (part of) an utterance.

    Attributes:
        text: The transcript text; may be empty (an empty final closes nothing).
        is_final: True for a final transcript (will not change), False for an interim.
        start_time: Start of the transcribed audio, seconds on the connection clock,
            or None when the provider gives no timing.
        end_time: End of the transcribed audio, seconds on the connection clock,
            or None.
        confidence: 0–1, or None when unknown.
        words: Word timings, when the provider gives them.
        language: BCP-47 language the provider reports, or None to use the stream's.
        speaker_id: Speaker label when the provider diarizes.
        end_of_utterance: True when the provider says this final closes the
            utterance (so the core emits ``END_OF_SPEECH`` right after it).
    """

    text: str
    is_final: bool
    start_time: float | None = None
    end_time: float | None = None
    confidence: float | None = None
    words: tuple[Word, ...] = ()
    language: str | None = None
    speaker_id: str | None = None
    end_of_utterance: bool = False


@attrs.frozen
class SpeechStarted:
    """The provider detected the start of speech (voice activity).

    Attributes:
        time: Onset, seconds on the connection clock, or None.
    """

    time: float | None = None


@attrs.frozen
class SpeechEnded:
    """The provider detected the end of an utterance (endpointing).

    Attributes:
        time: End of speech, seconds on the connection clock, or None.
    """

    time: float | None = None


@attrs.frozen
class Ready:
    """The session is ready for audio (e.g. a vendor's ``SessionBegins``/``RecognitionStarted``).

    Attributes:
        expires_in: Seconds until the vendor ends the session (a maximum duration), or
            None. The core moves the stream to a new connection shortly before, replaying
            the audio no final covers yet.
    """

    expires_in: float | None = None


@attrs.frozen
class Finished:
    """The provider has sent everything for the audio it received; the session may end."""


ProviderEvent = Transcript | SpeechStarted | SpeechEnded | Ready | Finished
"""Union of everything a provider's parser may return."""
