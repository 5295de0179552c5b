"""The AssemblyAI provider: Universal Streaming v3 over WebSocket.

It follows AssemblyAI's streaming docs (https://www.assemblyai.com/docs/streaming/message-sequence and
https://www.assemblyai.com/docs/api-reference/streaming-api/universal-streaming); the fact-by-fact
sources are in ``docs/protocols/assemblyai.md`` (§2; a bare §N.M below is in that file, source keys
such as AAI-SDK in ``docs/protocols/sources.md``).

Config strings: ``assemblyai/universal-streaming-english:en``, ``assemblyai:en?format_turns=true``,
``assemblyai/u3-rt-pro:es?region=eu``. The key comes from ``ASSEMBLYAI_API_KEY`` or ``api_key``
(sent raw in ``Authorization``, docs/protocols/assemblyai.md §2.1), or a temporary ``token`` (sent
as ``?token=``, §2.1).
Audio goes as raw binary PCM of 50 ms (50-1000 ms allowed, §2.3); the core pads a shorter
flush or end-of-input tail with silence, which the stream clock skips.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from typing import Any, ClassVar, Literal
from urllib.parse import urlencode

import attrs

from speechkit import Capabilities, Provider, ProviderOptions, Session
from speechkit.codecs import encode_pcm
from speechkit.errors import APIError, ErrorKind
from speechkit.events import Finished, ProviderEvent, Ready, SpeechStarted, Transcript, Word
from speechkit.options import keyterms, milliseconds

logger = logging.getLogger("speechkit")

MODELS = (
    *("universal-streaming-english", "universal-streaming-multilingual", "u3-rt-pro", "u3-rt-pro-beta-1"),
    *("universal-3-5-pro", "universal-3-6", "universal-3-6-pro", "whisper-rt"),
)
"""``speech_model`` values (§2.2; ``u3-pro`` is deprecated and left out)."""
RATES = (8000, 16000, 22050, 24000, 44100, 48000)
"""Sample rates sent (Hz); the core resamples to one [I: the docs name no list, these are common]."""
HOSTS = {"us": "wss://streaming.assemblyai.com", "eu": "wss://streaming.eu.assemblyai.com"}
"""Streaming hosts by region (§2.1)."""
FORMAT_WAIT = 1.5
"""Seconds an unformatted end of turn waits for its formatted twin before it is the final (§2.11.2)."""
_LIVE = {  # option -> wire name, of the options UpdateConfiguration changes live (§2.4, AAI-SDK)
    **{"format_turns": "format_turns", "endpointing_confidence": "end_of_turn_confidence_threshold"},
    **{"endpointing": "min_turn_silence", "max_endpointing": "max_turn_silence"},
    "keyterms": "keyterms_prompt",
}
_AUTH, _INVALID = {1008, 4001, 4002, 4003}, {3006, 3007, 4000, 4029, 4032, 4033, 4034, 4100, 4101}
_UNUSED = frozenset({"Warning", "Heartbeat", "Silence", "SpeakerRevision", "LLMGatewayResponse"})
"""Messages of the protocol with nothing for the core (§2.5)."""


_MS = frozenset({"endpointing", "max_endpointing"})
"""Options in seconds that the wire takes in milliseconds (§2.2)."""


def _live_value(options: AssemblyAIOptions, name: str) -> Any:
    """A live option's value in the wire's unit."""
    value = getattr(options, name)
    return milliseconds(value) if name in _MS and value is not None else value


def _range(low: float, high: float) -> Any:  # an optional number within [low, high]
    return attrs.validators.optional([attrs.validators.ge(low), attrs.validators.le(high)])


def _wire_value(value: object, *, text: bool) -> Any:
    """Lists as JSON lists (as JSON text in a query) and booleans lowercase in a query (§2.2)."""
    if isinstance(value, tuple | list):
        return json.dumps(list(value)) if text else list(value)
    return ("true" if value else "false") if text and isinstance(value, bool) else value


@attrs.frozen(kw_only=True)
class AssemblyAIOptions(ProviderOptions):
    """Options of the AssemblyAI provider; wire names (§2.2) in brackets.

    Attributes:
        model: [``speech_model``], required by the API; one of :data:`MODELS`.
        sample_rate: [``sample_rate``] Hz, one of :data:`RATES`.
        language: BCP-47; sent as [``language_codes``] unless English on the English model.
        encoding: [``encoding``] ``pcm_s16le``, or ``pcm_mulaw`` (8-bit G.711, telephony).
        format_turns: [``format_turns``] finals punctuated and cased (a second end-of-turn message).
        endpointing_confidence: [``end_of_turn_confidence_threshold``] 0-1.
        endpointing: [``min_turn_silence``, ms on the wire] seconds of silence before a confident
            end of turn.
        max_endpointing: [``max_turn_silence``, ms on the wire] seconds of silence that always ends
            the turn.
        keyterms: [``keyterms_prompt``] words to boost; ``keyterms=Acme|LiveKit`` in config strings.
        language_detection: [``language_detection``] report each turn's language; None: not sent.
        inactivity_timeout: [``inactivity_timeout``] s without audio before the server closes
            (the API allows 5-3600; at least 10 here, so the KeepAlive the core sends after
            ``keepalive_interval`` = 5 s of silence cannot race it, §2.8).
        diarization: [``speaker_labels``] label speakers.
        token: A temporary token (§2.1), instead of an API key; single-use, so a reconnect
            (a retry, a session rotation) with it is refused: prefer the key for long streams.
        region: ``us`` or ``eu`` host; ``base_url`` overrides both.
    """

    model: str = attrs.field(default="universal-streaming-english", validator=attrs.validators.in_(MODELS))
    sample_rate: int = attrs.field(default=16000, validator=attrs.validators.in_(RATES))
    encoding: Literal["pcm_s16le", "pcm_mulaw"] = "pcm_s16le"
    format_turns: bool = False
    endpointing_confidence: float | None = attrs.field(default=None, validator=_range(0, 1))
    endpointing: float | None = attrs.field(default=None, validator=_range(0, 60))
    max_endpointing: float | None = attrs.field(default=None, validator=_range(0, 60))
    keyterms: tuple[str, ...] = attrs.field(default=(), converter=keyterms)
    language_detection: bool | None = None
    inactivity_timeout: int | None = attrs.field(default=None, validator=_range(10, 3600))
    diarization: bool = False
    token: str | None = attrs.field(default=None, repr=False)
    region: Literal["us", "eu"] = "us"


class AssemblyAIProvider(Provider[AssemblyAIOptions]):
    """AssemblyAI Universal Streaming v3 (§2): raw PCM, JSON ``Turn`` messages, word timings.

    A ``Turn`` with ``end_of_turn`` is the final and closes the utterance; with
    ``format_turns`` the formatted twin is, or the unformatted one after :data:`FORMAT_WAIT`.
    """

    name: ClassVar[str] = "assemblyai"
    options_class = AssemblyAIOptions
    capabilities = Capabilities(
        word_timestamps=True, flush=True, end_of_utterance=True, encodings=("pcm_s16le", "pcm_mulaw"),
        sample_rates=RATES,
    )  # fmt: skip
    credential_env = "ASSEMBLYAI_API_KEY"
    live_options = frozenset(_LIVE)  # UpdateConfiguration changes them live (§2.4, AAI-SDK)
    emulator = "speechkit_conformance.emulators.assemblyai:AssemblyAIEmulator"
    chunk_duration = min_chunk_duration = 0.05  # recommended, and the allowed minimum (§2.3)

    def __init__(self, options: AssemblyAIOptions) -> None:
        """Declares ``diarization`` when asked for; ``MissingCredentialsError`` without key or token."""
        super().__init__(options)
        self.capabilities = attrs.evolve(self.capabilities, diarization=options.diarization)

    _log: ClassVar[dict[str, str]] = {"provider": "assemblyai"}

    @property
    def api_key(self) -> str | None:
        """The API key, or the temporary token when one is given."""
        return self.options.token or super().api_key

    def url(self, session: Session) -> str:
        """``<base>/v3/ws?<query>``: lists as JSON, booleans lowercase, values as given (§2.2, §2.11.7)."""
        o, base = self.options, (self.options.base_url or HOSTS[self.options.region]).rstrip("/")
        lang = session.language.split("-")[0].lower()
        english = lang == "en" and o.model == "universal-streaming-english"
        query: dict[str, Any] = {
            "speech_model": o.model, "sample_rate": session.sample_rate, "encoding": o.encoding,
            "language_codes": None if english or lang == "multi" else [lang],
            **{wire: _live_value(o, name) or None for name, wire in _LIVE.items()},
            "format_turns": o.format_turns, "language_detection": o.language_detection, "token": o.token,
            "inactivity_timeout": o.inactivity_timeout, "speaker_labels": o.diarization or None,
        }  # fmt: skip
        encoded = {k: _wire_value(v, text=True) for k, v in query.items() if v is not None}
        return f"{base if base.endswith('/v3/ws') else base + '/v3/ws'}?{urlencode(encoded)}"

    def headers(self, session: Session) -> dict[str, str]:
        """The raw key in ``Authorization``, no ``Bearer`` (§2.1); a token goes in the query."""
        return {} if self.options.token else {"Authorization": str(self.api_key)}

    def encode_audio(self, pcm: bytes, session: Session) -> bytes:
        """Raw binary audio, no wrapper (§2.3); μ-law when ``encoding`` asks for it."""
        return encode_pcm(pcm, "mulaw") if self.options.encoding == "pcm_mulaw" else pcm

    def flush_message(self, session: Session) -> str:
        """``ForceEndpoint`` ends the current turn at once (§2.4)."""
        return '{"type": "ForceEndpoint"}'

    def end_of_input_message(self, session: Session) -> str:
        """``Terminate``: the server sends the remaining turns, then ``Termination`` (§2.7)."""
        return '{"type": "Terminate"}'

    def keepalive_message(self, session: Session) -> str | None:
        """``KeepAlive`` resets the inactivity timer; only useful with ``inactivity_timeout`` (§2.8)."""
        return '{"type": "KeepAlive"}' if self.options.inactivity_timeout else None

    def update_message(self, previous: Provider[AssemblyAIOptions], session: Session) -> str | None:
        """``UpdateConfiguration`` with the changed :attr:`live_options` (§2.4); None (reconnect)
        when another option changed, or none did."""
        changed = self.live_changes(previous)
        if not changed:
            return None
        values = {_LIVE[n]: _wire_value(_live_value(self.options, n), text=False) for n in sorted(changed)}
        return json.dumps({"type": "UpdateConfiguration", **values})

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        """One JSON message (§2.5) to events.

        Raises:
            APIError: an ``Error`` message, classified by its code (see :meth:`error`).
        """
        data = self.decode_json(message)
        kind = data.get("type")
        if kind == "Begin":  # expires_at: Unix seconds (§2.5)
            expires = data.get("expires_at")
            logger.debug(
                "session began", extra={**self._log, "session_id": data.get("id"), "expires_at": expires}
            )
            return (Ready(expires - time.time() if isinstance(expires, int | float) else None),)
        if kind == "SpeechStarted":
            return (SpeechStarted(data["timestamp"] / 1000 if "timestamp" in data else None),)
        if kind == "Turn":
            return self._turn(data, session)
        if kind == "Termination":
            said, sent = data.get("audio_duration_seconds"), session.audio_seconds
            if isinstance(said, int | float) and abs(said - sent) > 1.5:  # integer seconds (AAI-SDK)
                logger.warning("server counted %ss of audio, %.1fs sent", said, sent, extra=self._log)
            return (*self.on_deadline(session), Finished())
        if kind == "Error" or (kind is None and "error" in data):
            raise self.error(int(data.get("error_code") or 3005), str(data.get("error", "")))
        if kind in _UNUSED:
            return ()
        return self.skip_unknown(kind)

    def _turn(self, data: dict[str, Any], session: Session) -> Iterable[ProviderEvent]:
        """A ``Turn`` (§2.5): word times are integer ms; a final waits for its formatted twin."""
        order, held, out = data.get("turn_order"), session.state.get("held"), list[ProviderEvent]()
        if held is not None and order != session.state.get("held_order"):
            out += self.on_deadline(session)  # the formatted twin never came: the raw one is final
        elif held is None and data.get("turn_is_formatted") and order == session.state.get("released"):
            return ()  # a formatted twin after the fallback final: its words are out already
        w = [
            Word(str(x["text"]), x["start"] / 1000, x["end"] / 1000, x.get("confidence"))
            for x in data.get("words") or ()
        ]
        final, speaker = bool(data.get("end_of_turn")), data.get("speaker_label")
        t = Transcript(  # an interim is every word so far, the non-final ones included (§2.5)
            str(data.get("transcript", "")) if final else " ".join(x.text for x in w),
            final,
            *((w[0].start_time, w[-1].end_time, sum(x.confidence or 0.0 for x in w) / len(w)) if w else ()),
            words=tuple(w) if final else (),
            language=data.get("language_code"),
            speaker_id=speaker if speaker != "UNKNOWN" else None,
            end_of_utterance=final,
        )
        if final and self.options.format_turns and not data.get("turn_is_formatted"):
            session.state.update(held=t, held_order=order)
            session.deadline = time.monotonic() + FORMAT_WAIT
            return [*out, attrs.evolve(t, is_final=False, words=(), end_of_utterance=False)]
        if final and held is not None and order == session.state.get("held_order"):
            session.state["held"], session.deadline = None, None  # the formatted twin replaces it
        return [*out, t] if t.text or final else out

    def on_deadline(self, session: Session) -> Iterable[ProviderEvent]:
        """The held unformatted final, when its formatted twin did not come in time (§2.11.2)."""
        held, session.state["held"], session.deadline = session.state.get("held"), None, None
        if held is None:
            return ()
        session.state["released"] = session.state.get("held_order")
        logger.info("no formatted turn came: the unformatted one is the final", extra=self._log)
        return (held,)

    def error(self, code: int, said: str) -> APIError:
        """Classify an ``Error`` message or close code (§2.9): auth and invalid requests are final;
        concurrency limits (backoff), expiry (a new session), server errors are retried."""
        msg = f"{self.name} error {code}{': ' + said if said else ''}"
        kind: ErrorKind = "invalid" if code in _INVALID else "server"
        if code in (3009, 4102) or "too many concurrent" in said.lower():
            kind = "rate_limit"
        elif code in _AUTH:
            kind = "auth"
        return self.vendor_error(kind, msg, status_code=code)

    def classify_close(self, code: int, reason: str, session: Session) -> APIError | None:
        """A close without a preceding ``Error`` message, classified the same way (§2.9)."""
        return None if code == 1000 else self.error(code, reason)
