"""The Deepgram provider: live streaming over WebSocket, ``/v1/listen``.

It follows Deepgram's public API reference
(https://developers.deepgram.com/reference/speech-to-text/listen-streaming) and feature pages
(https://developers.deepgram.com/docs/finalize, .../close-stream, .../keep-alive), as
``docs/protocols/deepgram.md`` §7.1 writes them down with their sources.

Config strings: ``deepgram/nova-3:en``, ``deepgram:en?endpointing=0.3&utterance_end=1``,
``deepgram/nova-3:multi?keyterms=Acme|LiveKit``. The key comes from ``DEEPGRAM_API_KEY`` or
``api_key``, sent as ``Authorization: Token <key>`` (§7.1). Audio goes as raw binary PCM of 50 ms,
as the LiveKit plugin sends it (§7.3). Times are seconds of the connection's audio (§7.5).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode, urlsplit

import attrs

from speechkit import Capabilities, Provider, ProviderOptions, Session
from speechkit.codecs import encode_pcm
from speechkit.errors import APIError
from speechkit.events import Finished, ProviderEvent, SpeechEnded, SpeechStarted, Transcript, Word
from speechkit.options import keyterms, milliseconds

logger = logging.getLogger("speechkit")

RATES = (8000, 16000, 24000, 44100, 48000)
"""Sample rates sent (Hz); the core resamples to one. The API takes any rate with an
``encoding`` (§7.2); these are the ones Deepgram's docs use."""
_WIRE_ENCODING = {"pcm_s16le": "linear16", "pcm_mulaw": "mulaw"}
_CLOSES = {  # close reasons of the API (§7.7) -> what they mean, for the error message
    "DATA-0000": "the audio could not be decoded (check encoding and sample_rate)",
    "NET-0000": "Deepgram sent no result within its timeout",
    "NET-0001": "no audio or KeepAlive reached Deepgram for 10 s",
}
_UNUSED = frozenset({"ConfigureSuccess"})
"""Messages of the protocol with nothing for the core (§7.5)."""


def _seconds(low: float, high: float) -> Any:  # an optional number of seconds within [low, high]
    return attrs.validators.optional([attrs.validators.ge(low), attrs.validators.le(high)])


@attrs.frozen(kw_only=True)
class DeepgramOptions(ProviderOptions):
    """Options of the Deepgram provider; wire names (§7.2) in brackets. Durations are seconds,
    as in every speechkit provider; the wire takes milliseconds.

    Attributes:
        model: [``model``] e.g. ``nova-3``, ``nova-3-medical``, ``nova-2``, or a custom model's name.
        language: [``language``] BCP-47, or ``multi`` (Nova-3 multilingual).
        sample_rate: [``sample_rate``] Hz, one of :data:`RATES`.
        encoding: [``encoding``] ``pcm_s16le`` (``linear16``) or ``pcm_mulaw`` (``mulaw``, telephony).
        interim_results: [``interim_results``] send interims while speaking.
        punctuate: [``punctuate``] punctuation and capitals.
        smart_format: [``smart_format``] numerals, dates and the like formatted.
        endpointing: [``endpointing``] seconds of silence that end a segment with ``speech_final``;
            0 turns endpointing off; None for Deepgram's default (10 ms).
        utterance_end: [``utterance_end_ms``] seconds of gap after the last final word before an
            ``UtteranceEnd``, which ends the utterance where endpointing missed it (noise); sent
            only with ``interim_results``, which it needs (§7.2); None: not sent.
        vad_events: [``vad_events``] ``SpeechStarted`` messages (``START_OF_SPEECH`` before words).
        keyterms: [``keyterm``, Nova-3; ``keywords`` on other models] words to boost;
            ``keyterms=Acme|LiveKit`` in config strings.
        diarization: [``diarize``] label speakers (``S0``, ``S1``...).
        base_url: ``wss://api.deepgram.com``; a base with a path is the full endpoint.
    """

    model: str = "nova-3"
    sample_rate: int = attrs.field(default=16000, validator=attrs.validators.in_(RATES))
    encoding: Literal["pcm_s16le", "pcm_mulaw"] = "pcm_s16le"
    interim_results: bool = True
    punctuate: bool = True
    smart_format: bool = False
    endpointing: float | None = attrs.field(default=None, validator=_seconds(0, 60))
    utterance_end: float | None = attrs.field(default=1.0, validator=_seconds(0.001, 60))
    vad_events: bool = False
    keyterms: tuple[str, ...] = attrs.field(default=(), converter=keyterms)
    diarization: bool = False
    base_url: str | None = "wss://api.deepgram.com"


class DeepgramProvider(Provider[DeepgramOptions]):
    """Deepgram live streaming (§7.1–§7.7): raw PCM, JSON ``Results`` with word timings.

    A ``Results`` with ``is_final`` is a final; ``speech_final`` (endpointing) or
    ``from_finalize`` (a flush) closes the utterance, and so does an ``UtteranceEnd``.
    """

    name: ClassVar[str] = "deepgram"
    options_class = DeepgramOptions
    capabilities = Capabilities(
        word_timestamps=True, flush=True, end_of_utterance=True, sample_rates=RATES,
        encodings=("pcm_s16le", "pcm_mulaw"),
    )  # fmt: skip
    credential_env = "DEEPGRAM_API_KEY"
    live_options = frozenset({"keyterms"})  # Configure replaces them live, on Nova-3 (§7.4, DG-SDK)
    emulator = "speechkit_conformance.emulators.deepgram:DeepgramEmulator"
    chunk_duration = 0.05  # as the LiveKit plugin sends (§7.3)
    keepalive_interval = 4.0  # the docs: every 3-5 s, within the 10 s idle window (§7.6)

    def __init__(self, options: DeepgramOptions) -> None:
        """Capabilities follow the options; ``MissingCredentialsError`` without a key."""
        super().__init__(options)
        self.capabilities = attrs.evolve(
            self.capabilities, interim_results=options.interim_results, diarization=options.diarization
        )

    def url(self, session: Session) -> str:
        """``<base>/v1/listen?<query>``: booleans lowercase, times in ms, lists repeated (§7.2)."""
        o = self.options
        base = (o.base_url or "wss://api.deepgram.com").rstrip("/")
        if urlsplit(base).path in ("", "/"):
            base += "/v1/listen"
        terms = "keyterm" if o.model.startswith("nova-3") else "keywords"  # keyterm: Nova-3 only
        gap = o.utterance_end if o.interim_results else None  # UtteranceEnd needs interims (§7.2)
        query: dict[str, Any] = {
            "model": o.model, "language": session.language, "encoding": _WIRE_ENCODING[o.encoding],
            "sample_rate": session.sample_rate, "channels": 1, "interim_results": o.interim_results,
            "punctuate": o.punctuate, "smart_format": o.smart_format, "vad_events": o.vad_events,
            "diarize": o.diarization or None, terms: list(o.keyterms) or None,
            "endpointing": None if o.endpointing is None else milliseconds(o.endpointing) or False,
            "utterance_end_ms": milliseconds(gap) if gap else None,
        }  # fmt: skip
        wire = {k: str(v).lower() if isinstance(v, bool) else v for k, v in query.items() if v is not None}
        return f"{base}?{urlencode(wire, doseq=True)}"

    def headers(self, session: Session) -> dict[str, str]:
        """``Authorization: Token <key>`` (§7.1)."""
        return {"Authorization": f"Token {self.api_key}"}

    def encode_audio(self, pcm: bytes, session: Session) -> bytes:
        """Raw binary audio (§7.3); μ-law when ``encoding`` asks for it."""
        return encode_pcm(pcm, "mulaw") if self.options.encoding == "pcm_mulaw" else pcm

    def flush_message(self, session: Session) -> str:
        """``Finalize``: the buffered audio is finalised now, ``from_finalize`` set (§7.4)."""
        return '{"type": "Finalize"}'

    def end_of_input_message(self, session: Session) -> str:
        """``CloseStream``: the server sends the last results, a ``Metadata``, then closes (§7.4)."""
        return '{"type": "CloseStream"}'

    def keepalive_message(self, session: Session) -> str:
        """``KeepAlive`` resets the 10 s idle timer; the server does not answer it (§7.6)."""
        return '{"type": "KeepAlive"}'

    def update_message(self, previous: Provider[DeepgramOptions], session: Session) -> str | None:
        """``Configure`` with the new keyterms on Nova-3 (§7.4); None (reconnect) for another change."""
        if not self.live_changes(previous) or not self.options.model.startswith("nova-3"):
            return None
        return json.dumps({"type": "Configure", "keyterms": list(self.options.keyterms)})

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        """One JSON message (§7.5) to events.

        Raises:
            APIError: an ``Error`` message: ``SchemaError`` (a message of ours it could not read)
                is final, any other is retried.
        """
        data = self.decode_json(message)
        kind = data.get("type")
        if kind == "Results":
            return self._results(data)
        if kind == "SpeechStarted":
            at = data.get("timestamp")
            return (SpeechStarted(float(at) if isinstance(at, int | float) else None),)
        if kind == "UtteranceEnd":
            at = data.get("last_word_end")
            return (SpeechEnded(float(at) if isinstance(at, int | float) else None),)
        if kind == "Metadata":  # the summary after CloseStream (§7.4); one before it is skipped
            logger.debug("metadata", extra={"provider": self.name, "request_id": data.get("request_id")})
            return (Finished(),) if session.input_ended else ()
        if kind == "Error":
            variant, said = str(data.get("variant", "")), str(data.get("description", ""))
            text = f"{self.name} error {variant or '?'}{': ' + said if said else ''}"
            raise self.vendor_error("invalid" if variant == "SchemaError" else "server", text)
        if kind == "ConfigureFailure":  # the stream goes on with the keyterms it had (§7.5.5)
            logger.warning("deepgram kept its keyterms: %s", data.get("code"), extra={"provider": self.name})
            return ()
        if kind in _UNUSED:
            return ()
        return self.skip_unknown(kind)

    def _results(self, data: dict[str, Any]) -> Iterable[ProviderEvent]:
        """A ``Results`` (§7.5): the first alternative; words in seconds; ``punctuated_word`` when
        formatting is on (the transcript's own spelling)."""
        alts = (data.get("channel") or {}).get("alternatives") or [{}]
        alt, final = alts[0], bool(data.get("is_final"))
        spell = "punctuated_word" if self.options.punctuate or self.options.smart_format else "word"
        words = tuple(
            Word(
                str(w.get(spell) or w.get("word", "")),
                float(w["start"]),
                float(w["end"]),
                w.get("confidence"),
            )
            for w in alt.get("words") or ()
        )
        start, duration = data.get("start"), data.get("duration")
        span = (words[0].start_time, words[-1].end_time) if words else (None, None)
        if not words and isinstance(start, int | float) and isinstance(duration, int | float):
            span = (float(start), float(start) + float(duration))
        speakers = Counter(w["speaker"] for w in alt.get("words") or () if "speaker" in w)
        languages = alt.get("languages") or ()
        closes = bool(data.get("speech_final") or data.get("from_finalize"))
        return (
            Transcript(
                str(alt.get("transcript") or ""),
                final,
                start_time=span[0],
                end_time=span[1],
                confidence=alt.get("confidence") if final else None,
                words=words if final else (),
                language=str(languages[0]) if languages else None,
                speaker_id=f"S{speakers.most_common(1)[0][0]}" if speakers and final else None,
                end_of_utterance=final and closes,
            ),
        )

    def classify_close(self, code: int, reason: str, session: Session) -> APIError | None:
        """As the default (1008 and 1003 final, others retried), with what the reason means (§7.7)."""
        meaning = _CLOSES.get(reason.strip())
        return super().classify_close(code, f"{reason}: {meaning}" if meaning else reason, session)
