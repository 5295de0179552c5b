"""Options of the Speechmatics provider: what a config string's ``?key=value`` map onto.

They are the ``transcription_config`` of Speechmatics' Realtime API
(https://docs.speechmatics.com/api-ref/realtime-transcription-websocket), as
``docs/protocols/speechmatics.md`` §3.2 sources them. Both Speechmatics protocols read them: the classic
RT v2 model now, Agent STT (§3.3) later.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
from attrs import validators as v

from speechkit import ProviderOptions
from speechkit.codecs import WIRE_ENCODINGS
from speechkit.options import keyterms


def _within(low: float, high: float) -> list[Any]:
    return [v.ge(low), v.le(high)]


def _one_of(*choices: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in choices:
            raise ValueError(f"{attribute.name} must be one of {', '.join(choices)}; got {value!r}")

    return check


@attrs.frozen(kw_only=True)
class SpeechmaticsOptions(ProviderOptions):
    """Options of the Speechmatics provider (``transcription_config``, §3.2; wire names in brackets).

    Attributes:
        model: [``operating_point``] ``standard`` or ``enhanced``: the config string's model part.
        language: BCP-47; its primary subtag is sent (``en-US`` -> ``en``).
        interim_results: [``enable_partials``] ask for partial transcripts.
        max_delay: Seconds (0.7-4) within which a word is finalised.
        max_delay_mode: ``fixed``, or ``flexible`` (may exceed max_delay to finish an entity); None: the
            server's default.
        endpointing: [``conversation_config.end_of_utterance_silence_trigger``] seconds of silence
            (0-2) after which the server sends ``EndOfUtterance``; 0: off (the core then ends an
            utterance after every final).
        diarization: [``diarization: speaker``] label speakers; ``max_speakers`` (2-100) caps them.
        keyterms: [``additional_vocab``] words to recognise.
        output_locale: e.g. ``en-GB`` spelling.
        punctuation_marks: [``punctuation_overrides.permitted_marks``] e.g. ``.?``, with
            ``punctuation_sensitivity`` (0-1).
        encoding: Wire encoding: ``pcm_s16le``, ``pcm_f32le`` or ``mulaw`` (8 kHz telephony).
        temporary_key: Swap the key for a 60 s temporary key (JWT) at ``auth_url`` first (§3.1).
        base_url: The RT endpoint; a bare host gets ``/v2``.
    """

    model: str = attrs.field(default="enhanced", validator=_one_of("standard", "enhanced"))
    interim_results: bool = True
    max_delay: float = attrs.field(default=0.7, validator=_within(0.7, 4.0))
    max_delay_mode: Literal["fixed", "flexible"] | None = attrs.field(
        default=None, validator=v.optional(_one_of("fixed", "flexible"))
    )
    endpointing: float = attrs.field(default=0.5, validator=_within(0.0, 2.0))
    diarization: bool = False
    max_speakers: int | None = attrs.field(default=None, validator=v.optional(_within(2, 100)))
    keyterms: tuple[str, ...] = attrs.field(default=(), converter=keyterms)
    output_locale: str | None = None
    punctuation_marks: str | None = None
    punctuation_sensitivity: float | None = attrs.field(default=None, validator=v.optional(_within(0, 1)))
    encoding: Literal["pcm_s16le", "pcm_f32le", "mulaw"] = attrs.field(
        default="pcm_s16le", validator=_one_of(*WIRE_ENCODINGS)
    )
    temporary_key: bool = False
    auth_url: str = "https://mp.speechmatics.com"
