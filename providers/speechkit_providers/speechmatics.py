"""The Speechmatics provider: the classic Real-Time API v2 (``shared/protocols.md`` §3.1–3.2, §3.4–3.7).

Config strings: ``speechmatics/enhanced:en``, ``speechmatics:de?diarization=true&max_delay=1.5``.
The key (``SPEECHMATICS_API_KEY`` or ``api_key``) goes as ``Authorization: Bearer``, or is first
exchanged for a temporary key (``temporary_key=true``, §3.1). The endpoint is ``base_url``, else
``SPEECHMATICS_RT_URL``, else ``wss://eu2.rt.speechmatics.com/v2``. Per connection: ``StartRecognition``,
audio only after ``RecognitionStarted`` (the core's ready gate), binary chunks counted as ``seq_no``
and checked against ``AudioAdded``, ``ForceEndOfUtterance`` on flush, ``EndOfStream{last_seq_no}``
at end of input, and ``EndOfTranscript`` ends it (§3.5). Agent STT (§3.3) would be a second model:
another :meth:`SpeechmaticsProvider.transcription_config` and parser over the same connect and framing.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

import aiohttp
import attrs
from attrs import validators as v

from speechkit import Capabilities, Connection, Provider, ProviderOptions, Session
from speechkit.audio import WIRE_ENCODINGS, encode_pcm
from speechkit.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    InvalidRequestError,
    ServerError,
    error_for_status,
)
from speechkit.events import Finished, ProviderEvent, Ready, SpeechEnded, Transcript, Word

logger = logging.getLogger("speechkit")
DEFAULT_URL = "wss://eu2.rt.speechmatics.com/v2"  # §3.1
LIVE = frozenset({"max_delay", "max_delay_mode", "interim_results"})  # SetRecognitionConfig (§3.2)
RETRY_AFTER = 5.0  # §3.1: quota_exceeded, job_error, internal_error: retry after 5-10 s
_FINAL = frozenset(  # §3.7 error types a retry cannot fix
    [
        "invalid_message",
        "invalid_model",
        "invalid_config",
        "invalid_audio_type",
        "invalid_output_format",
        "not_allowed",
        "insufficient_funds",
        "protocol_error",
        "data_error",
        "timelimit_exceeded",
    ]
)
_LATER = {"quota_exceeded": 4005, "job_error": 4013, "internal_error": 1011}  # type -> close code (§3.7)


def _terms(value: str | Iterable[str]) -> tuple[str, ...]:
    """Comma-separated in a config string; any iterable of strings in code."""
    items = value.split(",") if isinstance(value, str) else value
    return tuple(t.strip() for t in items if t.strip())


def _marks(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """Punctuation marks: each character of a string (``.?``), or an iterable of marks."""
    return None if value is None else tuple(c for c in value if c.strip())


@attrs.frozen(kw_only=True)
class SpeechmaticsOptions(ProviderOptions):
    """Options of the Speechmatics provider (``transcription_config``, §3.2; wire names in brackets).

    Attributes:
        model: [``operating_point``] ``standard`` or ``enhanced``: the config string's model part.
        language: BCP-47; its primary subtag is sent (``en-US`` -> ``en``).
        interim_results: [``enable_partials``] ask for partial transcripts.
        max_delay: Seconds (0.7-4) within which a word is finalised.
        max_delay_mode: ``fixed`` or ``flexible`` (may exceed max_delay to finish an entity); None: server's.
        endpointing: [``conversation_config.end_of_utterance_silence_trigger``] seconds of silence (0-2)
            after which the server sends ``EndOfUtterance``; 0 turns it off (the core then ends an
            utterance after every final).
        diarization: [``diarization: speaker``] label speakers; ``max_speakers`` (2-100) caps them.
        keyterms: [``additional_vocab``] words to recognise; comma-separated in a config string.
        output_locale: e.g. ``en-GB`` spelling.
        punctuation_marks: [``punctuation_overrides.permitted_marks``] e.g. ``.?``; with
            ``punctuation_sensitivity`` (0-1).
        encoding: Wire encoding: ``pcm_s16le``, ``pcm_f32le`` or ``mulaw`` (8 kHz telephony).
        temporary_key: Exchange the key for a 60 s temporary key (JWT) at ``auth_url`` first (§3.1).
        base_url: The RT endpoint; a base without a path gets ``/v2``.
    """

    model: str = attrs.field(default="enhanced", validator=v.in_(("standard", "enhanced")))
    interim_results: bool = True
    max_delay: float = attrs.field(default=0.7, validator=[v.ge(0.7), v.le(4.0)])
    max_delay_mode: Literal["fixed", "flexible"] | None = attrs.field(
        default=None, validator=v.optional(v.in_(("fixed", "flexible")))
    )
    endpointing: float = attrs.field(default=0.5, validator=[v.ge(0.0), v.le(2.0)])
    diarization: bool = False
    max_speakers: int | None = attrs.field(default=None, validator=v.optional([v.ge(2), v.le(100)]))
    keyterms: tuple[str, ...] = attrs.field(default=(), converter=_terms)
    output_locale: str | None = None
    punctuation_marks: tuple[str, ...] | None = attrs.field(default=None, converter=_marks)
    punctuation_sensitivity: float | None = attrs.field(
        default=None, validator=v.optional([v.ge(0), v.le(1)])
    )
    encoding: Literal["pcm_s16le", "pcm_f32le", "mulaw"] = attrs.field(
        default="pcm_s16le", validator=v.in_(tuple(WIRE_ENCODINGS))
    )
    temporary_key: bool = False
    auth_url: str = "https://mp.speechmatics.com"


class SpeechmaticsProvider(Provider[SpeechmaticsOptions]):
    """Speechmatics RT v2 (§3.2): finals every ``max_delay``, ``EndOfUtterance`` ends utterances."""

    name: ClassVar[str] = "speechmatics"
    options_class = SpeechmaticsOptions
    credential_env = "SPEECHMATICS_API_KEY"
    emulator = "speechkit_conformance.emulators.speechmatics:SpeechmaticsEmulator"
    capabilities = Capabilities(
        word_timestamps=True,
        flush=True,
        end_of_utterance=True,
        sample_rates=(8000, 16000, 22050, 32000, 44100, 48000),
        encodings=tuple(WIRE_ENCODINGS),
    )
    wait_for_ready = True  # frames before RecognitionStarted are a protocol_error (§3.10.4)
    heartbeat = 20.0  # §3.1: ping every 20-60 s; no audio and no pings for 3 min ends the session

    def __init__(self, options: SpeechmaticsOptions) -> None:
        """Build the provider; capabilities follow the options.

        Raises:
            MissingCredentialsError: no ``api_key`` and no ``SPEECHMATICS_API_KEY``.
        """
        super().__init__(options)
        self.capabilities = attrs.evolve(
            self.capabilities,
            interim_results=options.interim_results,
            diarization=options.diarization,
            end_of_utterance=options.endpointing > 0,
        )
        self._jwt: tuple[str, float] | None = None  # temporary key, usable until (monotonic)

    # -- connect ----------------------------------------------------------------------

    def url(self, session: Session) -> str:
        """``base_url``, else ``SPEECHMATICS_RT_URL``, else the eu2 endpoint; ``/v2`` added to a bare host."""
        base = (self.options.base_url or os.environ.get("SPEECHMATICS_RT_URL") or DEFAULT_URL).rstrip("/")
        return base if base.count("/") > 2 else f"{base}/v2"

    def headers(self, session: Session) -> dict[str, str]:
        """Bearer auth with the key or the temporary key (§3.1)."""
        return {"Authorization": f"Bearer {session.state.get('jwt') or self.api_key}"}

    async def connect(self, session: Session) -> Connection:
        """Fetch a temporary key first when asked, then open the WebSocket."""
        if self.options.temporary_key:
            session.state["jwt"] = await self._temporary_key(session)
        return await super().connect(session)

    async def _temporary_key(self, session: Session) -> str:
        """``POST {auth_url}/v1/api_keys?type=rt`` -> 201 ``{"key_value": ...}`` (§3.1), cached 50 s."""
        if self._jwt and self._jwt[1] > time.monotonic():
            return self._jwt[0]
        assert session.http is not None
        url, auth = (
            f"{self.options.auth_url.rstrip('/')}/v1/api_keys",
            {"Authorization": f"Bearer {self.api_key}"},
        )
        try:
            async with session.http.post(url, params={"type": "rt"}, json={"ttl": 60}, headers=auth) as r:
                if r.status != 201:
                    raise error_for_status(r.status, provider=self.name, credential_env=self.credential_env)
                key = str((await r.json())["key_value"])
        except (aiohttp.ClientError, ValueError, KeyError) as e:
            raise APIConnectionError(f"{self.name}: no temporary key ({type(e).__name__})") from e
        self._jwt = (key, time.monotonic() + 50.0)
        return key

    # -- framing ----------------------------------------------------------------------

    def transcription_config(self, session: Session) -> dict[str, Any]:
        """``transcription_config`` of ``StartRecognition`` from the options (§3.2)."""
        o = self.options
        cfg: dict[str, Any] = {
            "language": session.language.split("-")[0].lower(),
            "operating_point": o.model,
            "enable_partials": o.interim_results,
            "max_delay": o.max_delay,
        }
        optional = {
            "max_delay_mode": o.max_delay_mode,
            "output_locale": o.output_locale,
            "diarization": "speaker" if o.diarization else None,
            "speaker_diarization_config": {"max_speakers": o.max_speakers} if o.max_speakers else None,
            "additional_vocab": [{"content": t} for t in o.keyterms] or None,
            "conversation_config": {"end_of_utterance_silence_trigger": o.endpointing}
            if o.endpointing
            else None,
        }
        if o.punctuation_marks is not None or o.punctuation_sensitivity is not None:
            marks = None if o.punctuation_marks is None else list(o.punctuation_marks)
            overrides = {"permitted_marks": marks, "sensitivity": o.punctuation_sensitivity}
            optional["punctuation_overrides"] = {k: x for k, x in overrides.items() if x is not None}
        return cfg | {k: x for k, x in optional.items() if x is not None}

    def start_messages(self, session: Session) -> list[str]:
        """``StartRecognition`` with raw audio at the provider rate (§3.2); resets the seq_no count."""
        session.state.update(sent=0, seconds=0.0)
        fmt = {"type": "raw", "encoding": self.options.encoding, "sample_rate": session.sample_rate}
        config = self.transcription_config(session)
        return [
            json.dumps({"message": "StartRecognition", "audio_format": fmt, "transcription_config": config})
        ]

    def encode_audio(self, pcm: bytes, session: Session) -> bytes:
        """One binary frame (``AddAudio``) in the wire encoding; counts ``seq_no`` from 1 (§3.4)."""
        session.state["sent"] = session.state.get("sent", 0) + 1
        session.state["seconds"] = session.state.get("seconds", 0.0) + len(pcm) / 2 / session.sample_rate
        return encode_pcm(pcm, self.options.encoding)

    def flush_message(self, session: Session) -> str:
        """``ForceEndOfUtterance`` at the audio sent so far: the server finalises up to it (§3.2, §3.9.5)."""
        return json.dumps(
            {"message": "ForceEndOfUtterance", "timestamp": round(session.state.get("seconds", 0.0), 3)}
        )

    def end_of_input_message(self, session: Session) -> str:
        """``EndOfStream`` with the last seq_no sent; the server answers ``EndOfTranscript`` (§3.5)."""
        return json.dumps({"message": "EndOfStream", "last_seq_no": session.state.get("sent", 0)})

    def update_message(self, previous: Provider[SpeechmaticsOptions], session: Session) -> str | None:
        """``SetRecognitionConfig`` when only max_delay, max_delay_mode or interim_results changed (§3.2)."""
        old, new = attrs.asdict(previous.options), attrs.asdict(self.options)
        if any(old[k] != new[k] for k in old if k not in LIVE) or (
            old["max_delay_mode"] and not new["max_delay_mode"]
        ):
            return None
        cfg = self.transcription_config(session)
        live = {k: cfg[k] for k in ("max_delay", "max_delay_mode", "enable_partials") if k in cfg}
        return json.dumps({"message": "SetRecognitionConfig", "transcription_config": live})

    # -- parsing ----------------------------------------------------------------------

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        """One server message (§3.2) to events.

        Raises:
            APIError: an ``Error`` message (see :meth:`error`), or an ``AudioAdded`` for audio never sent.
        """
        data = json.loads(message if isinstance(message, (str, bytes)) else str(message))
        kind = data.get("message") if isinstance(data, dict) else None
        if kind in ("AddPartialTranscript", "AddTranscript"):
            return self.transcripts(data, kind == "AddTranscript", session)
        if kind == "RecognitionStarted":
            session.state["delimiter"] = (data.get("language_pack_info") or {}).get("word_delimiter", " ")
            return (Ready(),)
        if kind == "AudioAdded" and int(data.get("seq_no", 0)) > session.state.get("sent", 0):
            raise ServerError(f"{self.name} acknowledged seq_no {data.get('seq_no')} that was never sent")
        if kind == "EndOfUtterance":
            return (SpeechEnded((data.get("metadata") or {}).get("end_time")),)
        if kind == "EndOfTranscript":
            return (Finished(),)
        if kind == "Error":
            raise self.error(data)
        if kind in ("Info", "Warning"):  # service notices: never transcript text
            logger.info(
                "speechmatics %s %s: %s",
                kind,
                data.get("type"),
                data.get("reason"),
                extra={"provider": self.name},
            )
        return ()

    def transcripts(self, data: dict[str, Any], final: bool, session: Session) -> list[Transcript]:
        """``results`` to transcripts, one per run of a speaker when diarizing; punctuation glued as
        ``attaches_to`` says (§3.2). Empty results give nothing."""
        runs: list[list[dict[str, Any]]] = []
        for r in data.get("results") or []:
            speaker = r["alternatives"][0].get("speaker") if self.options.diarization else None
            if not runs or (
                r.get("type") == "word" and speaker != runs[-1][0]["alternatives"][0].get("speaker")
            ):
                runs.append([])
            runs[-1].append(r)
        return [self._transcript(run, final, session.state.get("delimiter", " ")) for run in runs if run]

    def _transcript(self, results: list[dict[str, Any]], final: bool, delimiter: str) -> Transcript:
        text, glue, words = "", True, []
        for r in results:
            alt = r["alternatives"][0]
            attaches = r.get("attaches_to", "previous") if r.get("type") == "punctuation" else "none"
            text += ("" if glue or attaches in ("previous", "both") else delimiter) + alt["content"]
            glue = attaches in ("next", "both")
            if r.get("type") == "word":
                words.append(
                    Word(
                        alt["content"],
                        r["start_time"],
                        r["end_time"],
                        alt.get("confidence") if final else None,
                    )
                )
        alt = results[0]["alternatives"][0]
        confidences = [w.confidence for w in words if w.confidence is not None]
        return Transcript(
            text,
            final,
            start_time=results[0]["start_time"],
            end_time=results[-1]["end_time"],
            confidence=sum(confidences) / len(confidences) if confidences else None,
            words=tuple(words),
            language=alt.get("language"),
            speaker_id=alt.get("speaker") if self.options.diarization else None,
        )

    def error(self, data: dict[str, Any]) -> APIError:
        """Classify an ``Error`` (§3.7): bad key, bad config or bad audio are final; quota, job and
        internal errors are retried after :data:`RETRY_AFTER`; timeouts and the rest at once."""
        kind, reason = str(data.get("type", "unknown_error")), str(data.get("reason", ""))
        msg = f"{self.name} error {kind}{f': {reason}' if reason else ''}"
        if kind == "not_authorised":
            return AuthenticationError(f"{msg}; set SPEECHMATICS_API_KEY or pass api_key=", body=data)
        if kind in _FINAL:
            return InvalidRequestError(f"{msg}; check the provider options", body=data)
        return ServerError(msg, retry_after=RETRY_AFTER if kind in _LATER else None, body=data)

    def classify_close(self, code: int, reason: str, session: Session) -> APIError | None:
        """A close without an ``Error`` first (§3.7): 4001 bad key; 4005/4013/1011 retried after a
        delay; 1008 (idle or session timeout) reconnects; the rest as the default."""
        detail = f"{self.name} closed the connection (code {code})"
        if code == 4001:
            return AuthenticationError(
                f"{detail}; set SPEECHMATICS_API_KEY or pass api_key=", status_code=code
            )
        if code in _LATER.values() or code == 1008:
            return ServerError(detail, status_code=code, retry_after=RETRY_AFTER if code != 1008 else None)
        return super().classify_close(code, reason, session)
