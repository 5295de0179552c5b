"""The Telnyx provider: Speech-to-Text over WebSocket.

It follows Telnyx's STT WebSocket docs (https://developers.telnyx.com/docs/voice/stt/websocket-streaming,
with its parameters, responses and errors pages); the fact-by-fact sources are in
``docs/protocols/telnyx.md`` (§4; a bare §N.M below is in that file, source keys such as SC75 in
``docs/protocols/sources.md``).

Config strings: ``telnyx:en``, ``telnyx?engine=Deepgram&interim_results=true``. The key
comes from ``TELNYX_API_KEY`` or ``api_key``. Audio goes as a streaming WAV (a 44-byte
RIFF header on every connection, then raw s16le mono), like the LiveKit plugin, so the
server reads the rate from the header (docs/protocols/telnyx.md §4.3). Documented transcripts
carry no timestamps (§4.5); ``start``/``duration`` are read when present (the Telnyx SDKs read them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, ClassVar
from urllib.parse import urlencode, urlsplit

import attrs

from speechkit import Capabilities, Provider, ProviderOptions, Session
from speechkit.codecs import wav_header
from speechkit.errors import APIError, ErrorKind, InvalidRequestError
from speechkit.events import ProviderEvent, SpeechEnded, Transcript

ENGINES = ("Telnyx", "Deepgram", "Google", "Azure", "xAI", "AssemblyAI", "Speechmatics", "Soniox")
"""``transcription_engine`` values, spelled as the Telnyx docs do (§4.2)."""
_PARTIALS = frozenset({"Deepgram", "Speechmatics", "Soniox"})  # engines that stream interims (§4.6)
_PATH = "/v2/speech-to-text/transcription"
_MIN_CHUNK, _MAX_CHUNK = 2048, 8192  # recommended binary frame sizes, bytes (§4.3)


def _engine(value: str) -> str:
    """Accept any case, send the docs' spelling: [SC75: streamcore-server issue #75] saw lowercase
    ``telnyx`` close the socket."""
    for engine in ENGINES:
        if engine.lower() == str(value).lower():
            return engine
    raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {value!r}")


@attrs.frozen(kw_only=True)
class TelnyxOptions(ProviderOptions):
    """Options of the Telnyx provider (query parameters, §4.2; fixed per connection).

    Attributes:
        engine: ``transcription_engine``, any case (sent as the docs spell it, e.g. ``Telnyx``).
        model: Engine model (``nova-3`` for Deepgram); empty to use the engine's default.
        language: ``language``, e.g. ``en`` or ``en-US``.
        interim_results: Ask for interims; None asks only engines that stream them
            (Deepgram, Speechmatics, Soniox, §4.6). The value is always sent: the server's
            default is ``false`` and the LiveKit plugin never sent it (§4.10.1). SC75 reports
            that ``true`` silences the Telnyx engine, hence the None default.
        sample_rate: Rate of the PCM in Hz, announced in the WAV header.
        base_url: ``wss://api.telnyx.com``; a base with a path is used as the full endpoint
            (``wss://transcription.telnyx.com/public/speech-to-text/transcription``, §4.1).
    """

    engine: str = attrs.field(default="Telnyx", converter=_engine)
    model: str = ""
    language: str = "en"
    interim_results: bool | None = None
    base_url: str | None = "wss://api.telnyx.com"


class TelnyxProvider(Provider[TelnyxOptions]):
    """Telnyx STT over WebSocket (§4): WAV framing, Bearer auth, JSON transcripts.

    Each final ends its utterance unless it says ``speech_final: false`` (Deepgram);
    ``utterance_end`` frames end it too, so ``end_of_utterance`` is always declared.
    """

    name: ClassVar[str] = "telnyx"
    options_class = TelnyxOptions
    capabilities = Capabilities(
        end_of_utterance=True, interim_results=False, sample_rates=(8000, 16000, 48000)
    )
    credential_env = "TELNYX_API_KEY"
    emulator = "speechkit_conformance.emulators.telnyx:TelnyxEmulator"
    # Telnyx sends the last final a few hundred ms after audio stops and then may keep the
    # socket open with no end marker (§4.7, SC78): 2 s of silence after CloseStream means done.
    drain_timeout = 2.0
    # finals-only engines (Telnyx, Google, Azure) say nothing until an utterance ends (§4.6):
    # a long sentence is 10-15 s of silence from a healthy server. Past 20 s of speech with
    # no answer the socket is half-open (the 30 s heartbeat covers the silences between).
    response_timeout = 20.0

    def __init__(self, options: TelnyxOptions) -> None:
        """Build the provider; capabilities follow the engine (§4.4, §4.6).

        Raises:
            MissingCredentialsError: no ``api_key`` and no ``TELNYX_API_KEY``.
        """
        super().__init__(options)
        partials = options.engine in _PARTIALS
        self.interims = partials if options.interim_results is None else options.interim_results
        # per-instance capabilities: they depend on the engine option
        self.capabilities = attrs.evolve(
            self.capabilities, interim_results=partials and self.interims, flush=options.engine == "Deepgram"
        )
        # 100 ms chunks, clamped into the recommended 2048-8192 bytes (s16le: 2 bytes/sample)
        rate = options.sample_rate
        self.chunk_duration = min(max(0.1, _MIN_CHUNK / 2 / rate), _MAX_CHUNK / 2 / rate)

    # -- connect ----------------------------------------------------------------------

    def url(self, session: Session) -> str:
        """The endpoint with an URL-encoded query (LK did not encode it, §4.10.8)."""
        base = (self.options.base_url or "wss://api.telnyx.com").rstrip("/")
        if urlsplit(base).path in ("", "/"):
            base += _PATH
        query = {
            "transcription_engine": self.options.engine,
            "input_format": "wav",
            "language": session.language,
            "interim_results": "true" if self.interims else "false",
        }
        if self.options.model:
            query["model"] = self.options.model
        return f"{base}?{urlencode(query)}"

    def headers(self, session: Session) -> dict[str, str]:
        """Bearer auth on the upgrade (§4.1); no ``Origin`` (VA-TX: the edge rejects it)."""
        return {"Authorization": f"Bearer {self.api_key}"}

    # -- framing ----------------------------------------------------------------------

    def start_messages(self, session: Session) -> list[bytes]:
        """A fresh streaming WAV header (s16le mono, sizes 0x7FFFFFFF as LK sends) on every
        connection, alone in the first frame (§4.3)."""
        return [wav_header(session.sample_rate)]

    def flush_message(self, session: Session) -> str | None:
        """``Finalize`` forces a final, Deepgram engine only (§4.4); others get nothing."""
        return json.dumps({"type": "Finalize"}) if self.options.engine == "Deepgram" else None

    def end_of_input_message(self, session: Session) -> str:
        """``CloseStream``: flush the finals, then close (§4.7). Unknown text is ignored (§4.4)."""
        return json.dumps({"type": "CloseStream"})

    def keepalive_message(self, session: Session) -> str:
        """``KeepAlive`` resets the idle timer (§4.8); engines without it ignore it (§4.4)."""
        return json.dumps({"type": "KeepAlive"})

    # -- parsing ----------------------------------------------------------------------

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        """One JSON frame (§4.5) to events; there is no ``type`` field to rely on.

        Raises:
            APIError: an ``errors`` frame (see :meth:`error`).
        """
        data = self.decode_json(message)
        if data.get("errors"):
            raise self.error(data)
        if data.get("utterance_end"):
            return (SpeechEnded(),)
        if "transcript" not in data:
            return self.skip_unknown(data.get("type", "without a transcript"))
        is_final = bool(data.get("is_final"))
        confidence = data.get("confidence")
        if not is_final or not isinstance(confidence, (int, float)):
            confidence = None  # null from the Telnyx engine (SC75); interims carry a 0.0 placeholder
        start, duration = data.get("start"), data.get("duration")  # undocumented; TX-SDK reads them
        timed = isinstance(start, (int, float)) and isinstance(duration, (int, float))
        times = (float(start), float(start) + float(duration)) if timed else (None, None)  # type: ignore[arg-type]
        return (
            Transcript(
                str(data["transcript"] or ""),
                is_final,
                start_time=times[0],
                end_time=times[1],
                confidence=confidence,
                end_of_utterance=is_final and data.get("speech_final") is not False,
            ),
        )

    def error(self, data: dict[str, Any]) -> APIError:
        """Classify an ``errors`` frame: 4xxxx parameter errors are final, others retried (§4.5)."""
        errors = data["errors"] if isinstance(data["errors"], list) else [data["errors"]]
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        code = str(first.get("code", "?"))
        source = first.get("source")
        param = source.get("parameter") if isinstance(source, dict) else None
        said = "; ".join(str(first[k]) for k in ("title", "detail") if first.get(k))
        on = f" on parameter {param!r}" if param else ""
        msg = f"{self.name} error {code}{on}{f': {said}' if said else ''}"
        # 10009: the general Telnyx auth code (§4.1)
        kind: ErrorKind = "auth" if code == "10009" else "invalid" if code.startswith("4") else "server"
        return self.vendor_error(kind, msg, body=data)

    def classify_close(self, code: int, reason: str, session: Session) -> APIError | None:
        """As the default, with a hint: Telnyx closes on a bad engine name with no frame (§4.10.2)."""
        err = super().classify_close(code, reason, session)
        if isinstance(err, InvalidRequestError):
            return InvalidRequestError(
                f"{err}; check transcription_engine={self.options.engine!r}", status_code=code
            )
        return err
