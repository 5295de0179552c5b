"""An emulator of Speechmatics' classic Real-Time API v2, as its API reference describes it
(https://docs.speechmatics.com/api-ref/realtime-transcription-websocket); the fact-by-fact sources
are in ``docs/protocols/speechmatics.md`` (§3; a bare §N.M below is in that file, source keys such
as SM-RT in ``docs/protocols/sources.md``).

What it enforces and does (§3.10):

* ``GET /v2`` and ``/v2/<language>`` (``/v2/agent``, Agent STT, is not emulated: 404); the SDKs'
  ``sm-sdk``/``sm-app`` query parameters and ``X-Request-Id`` header are accepted and recorded;
* auth: ``Authorization: Bearer <key>`` or ``?jwt=<temporary key>``; a bad key is an HTTP 401
  (or, with ``auth_failure="frame"``, ``Error not_authorised`` then close 4001). A mock
  ``POST /v1/api_keys?type=rt`` answers 201 ``{"apikey_id": null, "key_value": <jwt>}`` (§3.1);
* exactly one ``StartRecognition`` first, validated (raw ``pcm_s16le``/``pcm_f32le``/``mulaw`` at
  a supported rate, or ``type: file`` as the SDK sends by default: WAV only here, the service
  also reads mp3, ogg, flac…, ``language``, ``operating_point`` or ``model``, ``max_delay`` 0.7–4,
  ``max_delay_mode``, ``diarization``, ``max_speakers`` 2–100, the silence trigger 0–2 s,
  ``additional_vocab``, ``punctuation_overrides``); a violation is the documented ``Error``
  (``protocol_error``, ``invalid_config``, ``invalid_audio_type``, ``invalid_model``) and a close;
* then ``Info recognition_quality`` and ``RecognitionStarted`` (after ``start_delay``);
  audio before it is a ``protocol_error``; each binary frame is acknowledged ``AudioAdded{seq_no}``;
* ``AddPartialTranscript`` (with ``enable_partials``) for the words not final yet, and
  ``AddTranscript`` with word and punctuation ``results`` (``attaches_to``, ``is_eos``): words
  become final once ``max_delay`` of audio has passed them (oracle) or at the utterance end;
* ``EndOfUtterance`` once the configured silence follows words (§3.2 ``conversation_config``);
  ``ForceEndOfUtterance`` finalises at once, then ``EndOfUtterance``;
  ``SetRecognitionConfig`` changes only ``max_delay``, ``max_delay_mode``, ``enable_partials``;
* ``EndOfStream`` flushes every final, then ``EndOfTranscript``, then a close 1000 after
  ``close_after_eot`` (None: the client closes); audio after it gets ``Warning add_audio_after_eos``;
* idle (no audio for ``idle_timeout``, warnings before) and session (``session_timeout``)
  limits: ``Warning``s, then ``Error`` and close 1008 (§3.6). The "no audio and no ping for
  3 min" rule is not emulated: the framework's socket answers pings without telling the emulator.

Behind it sits the :mod:`oracle <speechkit_conformance.oracle>` recognizer, or with
``recognizer="local"`` the local provider's Whisper engine (its endpointer gives the silence).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import uuid
from typing import Any, Literal

import attrs
from aiohttp import web

from speechkit.codecs import WIRE_ENCODINGS
from speechkit.events import SpeechEnded, Transcript, Word

from ..emulator import UNKNOWN_TYPE, SessionContext, SessionRecord
from ..recognizers import Flushed, RecognizerEvent, RecognizerKind
from ..recognizing import RecognizingEmulator, WavError, WavReader

RATES = frozenset({8000, 16000, 22050, 32000, 44100, 48000})
"""Raw sample rates accepted [I: the RT docs name none; the SDK defaults to 44100]."""
CLOSE_CODES = {
    "protocol_error": 1003,  # §3.7 table
    "not_authorised": 4001,
    "quota_exceeded": 4005,
    "job_error": 4013,
    "internal_error": 1011,
    "idle_timeout": 1008,
    "session_timeout": 1008,
    "invalid_config": 4003,  # [I] §3.7: "invalid_* -> 4003 or 1003"
    "invalid_audio_type": 4003,
    "invalid_model": 4003,
    "invalid_message": 4003,
}
"""Close code after each Error type; other types close 1011 [I]."""
_CONFIG_KEYS = frozenset(
    [
        "language",
        "operating_point",
        "model",
        "output_locale",
        "additional_vocab",
        "diarization",
        "max_delay",
        "max_delay_mode",
        "enable_partials",
        "speaker_diarization_config",
        "punctuation_overrides",
        "conversation_config",
        "enable_entities",
        "domain",
        "audio_filtering_config",
        "transcript_filtering_config",
        "streaming_mode",
        "ctrl",
        "channel_diarization_labels",
        "language_hints",
        "language_hints_strict",
        "speaker_change_sensitivity",
    ]
)
"""``transcription_config`` fields known to the spec and the SDK (§3.2, SM-RT ``TranscriptionConfig``)."""
_LIVE_KEYS = frozenset({"max_delay", "max_delay_mode", "enable_partials"})
_LANGUAGE = re.compile(r"[a-z]{2,3}(_[a-z]{2,3})?|auto|multi")
_EDGE = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)  # leading/trailing punctuation of a word


@attrs.define(kw_only=True)
class SpeechmaticsConfig:
    """How the emulated service behaves where the sources are silent or disagree (§3, [?]/[I]).

    Attributes:
        api_key: The only key accepted (besides the temporary keys it issued).
        auth_failure: ``"http"``: a bad key is an HTTP 401 [C:SM-DOCS]; ``"frame"``: upgrade,
            then ``Error not_authorised`` and close 4001.
        recognizer: ``"oracle"`` (tone words) or ``"local"`` (Whisper tiny.en).
        info: Send ``Info concurrent_session_usage`` after the handshake and ``Info
            recognition_quality`` before ``RecognitionStarted``.
        start_delay: Seconds before ``RecognitionStarted`` (large vocabularies take up to 15 s).
        close_after_eot: Seconds after ``EndOfTranscript`` before the server closes 1000; None:
            wait for the client (the guide tells the client to close, §3.5).
        idle_timeout: Seconds without audio before ``Error idle_timeout`` (1 h; scale down in tests).
        idle_warnings: Seconds before the idle timeout at which a ``Warning`` is sent.
        session_timeout: Maximum session length, seconds (48 h).
        session_warnings: Seconds before the session timeout at which a ``Warning`` is sent.
        speakers: With diarization, utterance ``i`` is labelled ``S{i % speakers + 1}`` (the
            oracle cannot tell voices apart; this makes labels testable).
    """

    api_key: str = "speechmatics-test-key"
    auth_failure: Literal["http", "frame"] = "http"
    recognizer: RecognizerKind = "oracle"
    info: bool = True
    start_delay: float = 0.0
    close_after_eot: float | None = 0.2
    idle_timeout: float = 3600.0
    idle_warnings: tuple[float, ...] = (900.0, 600.0, 300.0)
    session_timeout: float = 48 * 3600.0
    session_warnings: tuple[float, ...] = (2700.0, 1800.0, 900.0)
    speakers: int = 1


def _audio_added(seq_no: int) -> str:
    """``AudioAdded`` as ``json.dumps`` spells it, without building it (one per audio frame)."""
    return f'{{"message": "AudioAdded", "seq_no": {seq_no}}}'


def error_message(kind: str, reason: str, **extra: Any) -> dict[str, Any]:
    """A Speechmatics ``Error`` message (§3.7)."""
    return {"message": "Error", "type": kind, "reason": reason, **extra}


_FORCED = "ForceEndOfUtterance"  # the flush marker of a ForceEndOfUtterance


@attrs.define
class SpeechmaticsSession:
    """One session's protocol state (``emulator.sessions[i].state``).

    Attributes:
        audio_format: ``StartRecognition``'s ``audio_format``, as sent.
        transcription_config: Its ``transcription_config``, as sent.
        last_seq_no: ``EndOfStream``'s ``last_seq_no``.
    """

    audio_format: dict[str, Any] | None = None
    transcription_config: dict[str, Any] | None = None
    last_seq_no: int | None = None
    started: bool = False  # StartRecognition accepted
    ready: bool = False  # RecognitionStarted queued
    eos: bool = False
    rate: int = 16000
    encoding: str = "pcm_s16le"
    language: str = "en"
    partials: bool = False
    max_delay: float = 4.0
    max_delay_mode: str = "flexible"
    trigger: float = 0.0
    diarization: bool = False
    marks: list[str] | None = None  # permitted punctuation, None: all
    seq_no: int = 0
    position: float = 0.0  # seconds of audio received
    final_until: float = 0.0  # audio finalised up to here, seconds
    pending: list[Word] = attrs.field(factory=list)  # words in the last partial, not final yet
    utterance: int = 0
    eou_due: bool = False  # words since the last EndOfUtterance
    wav: WavReader | None = None  # type=file: until the WAV header has been read
    channels: int = 1


class SpeechmaticsEmulator(RecognizingEmulator[SpeechmaticsConfig, SpeechmaticsSession]):
    """Speechmatics RT v2 on 127.0.0.1 (see the module docs).

    Args:
        config: Behaviour where the sources are silent.
        faults: What to do wrong; the default vendor error is ``job_error`` (close 4013).
        port: 0 for an ephemeral port.
    """

    paths = ("/v2", "/v2/{language}")
    config_type = SpeechmaticsConfig
    error_close_code = 4013

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.issued: set[str] = set()  # temporary keys handed out

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>/v2``: the RT endpoint, as the SDK's ``url=`` takes it."""
        return f"ws://{self.host}:{self.port}/v2"

    @property
    def auth_url(self) -> str:
        """Base URL of the temporary-key mock (the provider's ``auth_url``, the SDK's ``mp_url``)."""
        return f"http://{self.host}:{self.port}"

    # -- handshake ----------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/api_keys", self._temporary_key)

    async def _temporary_key(self, request: web.Request) -> web.Response:
        """``POST /v1/api_keys?type=rt`` with the API key -> 201 and a temporary key (§3.1)."""
        if request.headers.get("Authorization") != f"Bearer {self.config.api_key}":
            return web.json_response({"code": 401, "error": "Permission Denied"}, status=401)
        if request.query.get("type") != "rt":
            return web.json_response({"code": 400, "error": "type must be rt"}, status=400)
        body = await request.json()
        if not 60 <= int(body.get("ttl", 0)) <= 86400:
            return web.json_response({"code": 400, "error": "ttl must be 60-86400"}, status=400)
        key = "eyJ" + secrets.token_urlsafe(24)
        self.issued.add(key)
        return web.json_response({"apikey_id": None, "key_value": key}, status=201)

    def handshake(self, request: web.Request, record: SessionRecord) -> web.StreamResponse | None:
        if request.match_info.get("language") == "agent":
            return web.Response(status=404, text="Agent STT (/v2/agent) is not emulated")
        auth = request.headers.get("Authorization", "")
        key = auth[7:] if auth.startswith("Bearer ") else request.query.get("jwt", "")
        if key == self.config.api_key or key in self.issued:
            return None
        if self.config.auth_failure == "frame":
            record.refusal = "Permission denied: invalid API key"
            return None
        return web.Response(status=401, text="Unauthorized")

    async def open_session(self, ctx: SessionContext[SpeechmaticsSession]) -> SpeechmaticsSession | None:
        if ctx.record.refusal:
            return self._fail(ctx, "not_authorised", ctx.record.refusal)
        st = SpeechmaticsSession()
        if self.config.info:  # right after the handshake (§3.2)
            quota = self.faults.max_sessions or 20
            usage = {
                "usage": self.active,
                "quota": quota,
                "last_updated": time.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            info = {
                "message": "Info",
                "type": "concurrent_session_usage",
                "reason": "Concurrent session usage",
            }
            ctx.send(json.dumps(info | usage))
        cfg = self.config  # the idle rule counts audio only (§3.6): every binary frame touches
        self._limit(ctx, "idle_timeout", cfg.idle_timeout, cfg.idle_warnings, idle=True)
        self._limit(ctx, "session_timeout", cfg.session_timeout, cfg.session_warnings, idle=False)
        return st

    def _limit(
        self,
        ctx: SessionContext[SpeechmaticsSession],
        kind: str,
        seconds: float,
        warnings: tuple[float, ...],
        *,
        idle: bool,
    ) -> None:
        """A limit of §3.6: ``Warning`` s ahead, then ``Error`` and close 1008."""
        name = kind.replace("_", " ")

        def warn(before: float) -> None:
            reason = f"Session will end in {before:g}s ({name})"
            ctx.send(json.dumps({"message": "Warning", "type": kind, "reason": reason}))

        ctx.limit(
            seconds,
            lambda: self._fail(ctx, kind, f"Session ended: {name}"),
            idle=idle,
            warnings=warnings,
            on_warning=warn,
        )

    def _fail(self, ctx: SessionContext[SpeechmaticsSession], kind: str, reason: str) -> None:
        """Every Error ends the session; the server then closes (§3.7)."""
        ctx.fail(error_message(kind, reason), CLOSE_CODES.get(kind, 1011))

    def error_message(self, ctx: SessionContext[SpeechmaticsSession]) -> object:
        return error_message("job_error", "The job could not be run")

    # -- the server-message faults' shapes (FaultPlan) ------------------------------------

    def unknown_message(self, ctx: SessionContext[SpeechmaticsSession]) -> object:
        return {"message": UNKNOWN_TYPE}

    def final_message(self, ctx: SessionContext[SpeechmaticsSession], words: list[Word]) -> object | None:
        return self.transcript("AddTranscript", ctx.state, words, eos=True)

    def interim_message(self, ctx: SessionContext[SpeechmaticsSession], words: list[Word]) -> object | None:
        return self.transcript("AddPartialTranscript", ctx.state, words)

    def final_start(self, message: str) -> float | None:
        data = json.loads(message)
        if data.get("message") != "AddTranscript" or not data.get("results"):
            return None
        return float(data["metadata"]["start_time"])

    def shift_final(self, message: str, seconds: float) -> str:
        data = json.loads(message)
        for item in (data["metadata"], *data["results"]):
            item["start_time"], item["end_time"] = (
                round(item[k] + seconds, 3) for k in ("start_time", "end_time")
            )
        return json.dumps(data)

    # -- client messages ------------------------------------------------------------------

    async def on_text(self, ctx: SessionContext[SpeechmaticsSession], text: str) -> None:
        st = ctx.state
        try:
            msg = json.loads(text)
            kind = msg.get("message")
        except (ValueError, AttributeError):
            return self._fail(ctx, "invalid_message", "Message is not a JSON object")
        if kind == "StartRecognition":
            if st.started:
                return self._fail(ctx, "protocol_error", "StartRecognition was already received")
            return self._start(ctx, st, msg)
        if not st.started:
            return self._fail(ctx, "protocol_error", f"{kind} before StartRecognition")
        if kind == "EndOfStream":
            st.last_seq_no = msg.get("last_seq_no")
            if not st.eos:  # every final, then EndOfTranscript (a file short of its header has none)
                st.eos = True
                self.end_input(ctx, then=lambda: self._end_of_transcript(ctx))
        elif kind == "ForceEndOfUtterance":
            if ctx.recognizer is not None and not st.eos:
                ctx.recognizer.flush(_FORCED)
        elif kind == "SetRecognitionConfig":
            cfg = msg.get("transcription_config") or {}
            if not isinstance(cfg, dict) or set(cfg) - _LIVE_KEYS:
                return self._fail(
                    ctx, "invalid_config", f"SetRecognitionConfig may change only {sorted(_LIVE_KEYS)}"
                )
            if problem := self._check_live(cfg):
                return self._fail(ctx, "invalid_config", problem)
            st.max_delay = float(cfg.get("max_delay", st.max_delay))
            st.max_delay_mode = cfg.get("max_delay_mode", st.max_delay_mode)
            st.partials = bool(cfg.get("enable_partials", st.partials))
        elif kind == "GetSpeakers" and not st.diarization:  # [I] the docs do not say
            ctx.send(json.dumps({"message": "Warning", "type": "speaker_id", "reason": "Diarization is off"}))
        elif kind == "GetSpeakers":
            labels = [f"S{i + 1}" for i in range(min(self.config.speakers, st.utterance + 1))]
            speakers = [{"label": s, "speaker_identifiers": [f"<{s}>"]} for s in labels]
            ctx.send(json.dumps({"message": "SpeakersResult", "speakers": speakers}))
        else:
            return self._fail(ctx, "invalid_message", f"Unknown message {kind!r}")

    @staticmethod
    def _check_live(cfg: dict[str, Any]) -> str | None:
        delay = cfg.get("max_delay", 4.0)
        if not isinstance(delay, (int, float)) or not 0.7 <= delay <= 4.0:
            return "max_delay must be between 0.7 and 4"
        if cfg.get("max_delay_mode", "flexible") not in ("fixed", "flexible"):
            return "max_delay_mode must be fixed or flexible"
        if not isinstance(cfg.get("enable_partials", False), bool):
            return "enable_partials must be a boolean"
        return None

    def _start(
        self, ctx: SessionContext[SpeechmaticsSession], st: SpeechmaticsSession, msg: dict[str, Any]
    ) -> None:
        fmt, cfg = msg.get("audio_format"), msg.get("transcription_config")
        if not isinstance(fmt, dict) or not isinstance(cfg, dict):
            return self._fail(
                ctx, "invalid_message", "StartRecognition needs audio_format and transcription_config"
            )
        if fmt.get("type") not in ("raw", "file"):
            return self._fail(ctx, "invalid_audio_type", "audio_format.type must be raw or file")
        if fmt["type"] == "raw" and fmt.get("encoding") not in WIRE_ENCODINGS:
            return self._fail(ctx, "invalid_audio_type", f"Unsupported encoding {fmt.get('encoding')!r}")
        if fmt["type"] == "raw" and fmt.get("sample_rate") not in RATES:
            return self._fail(
                ctx, "invalid_audio_type", f"Unsupported sample rate {fmt.get('sample_rate')!r}"
            )
        if kind_reason := self._check_config(cfg):
            return self._fail(ctx, *kind_reason)
        conv = cfg.get("conversation_config") or {}
        punct = cfg.get("punctuation_overrides") or {}
        st.started, st.rate, st.encoding = True, int(fmt.get("sample_rate", 16000)), fmt.get("encoding", "")
        st.language, st.partials = cfg["language"], bool(cfg.get("enable_partials", False))
        st.max_delay, st.max_delay_mode = (
            float(cfg.get("max_delay", 4.0)),
            cfg.get("max_delay_mode", "flexible"),
        )
        st.trigger = float(conv.get("end_of_utterance_silence_trigger", 0.0))
        st.diarization, st.marks = cfg.get("diarization") == "speaker", punct.get("permitted_marks")
        st.audio_format, st.transcription_config = fmt, cfg
        if fmt["type"] == "file":
            st.wav, st.encoding = WavReader(), "pcm_s16le"  # the format comes with the file
        else:
            self._recognizer(ctx, st)
        ctx.spawn(self._started(ctx, st))

    def _recognizer(self, ctx: SessionContext[SpeechmaticsSession], st: SpeechmaticsSession) -> None:
        # the local engine's endpointer gives the trigger's silence; the oracle counts it
        self.start_recognizer(ctx, st.rate, language=st.language, end_of_speech=st.trigger or None)

    def _read_wav(
        self, ctx: SessionContext[SpeechmaticsSession], st: SpeechmaticsSession, data: bytes
    ) -> bytes | str | None:
        """``type: file`` audio: a RIFF WAV header, then PCM s16le [I: the server also reads mp3, ogg,
        flac...; the emulator reads WAV only]. The PCM after the header; None: header incomplete;
        a str: why the file is refused."""
        assert st.wav is not None
        try:
            pcm = st.wav.feed(data)
        except WavError:
            return "The emulator reads WAV files only"
        if pcm is None:
            return None
        if (fmt := st.wav.format) is not None:
            st.channels, st.rate = fmt.channels, fmt.sample_rate
            tag, bits = fmt.format_tag, fmt.bits_per_sample
            st.encoding = "pcm_s16le" if (tag, bits) == (1, 16) else f"format {tag}, {bits} bits"
        if st.rate not in RATES or st.encoding != "pcm_s16le":
            return f"Unsupported WAV: {st.rate} Hz, {st.encoding}"
        self._recognizer(ctx, st)
        return pcm

    def _check_config(self, cfg: dict[str, Any]) -> tuple[str, str] | None:
        """Validate ``transcription_config`` (§3.2); an (Error type, reason) or None."""
        if unknown := set(cfg) - _CONFIG_KEYS:
            return "invalid_config", f"Unknown transcription_config fields {sorted(unknown)}"
        if not isinstance(cfg.get("language"), str) or not _LANGUAGE.fullmatch(cfg["language"]):
            return "invalid_config", "transcription_config.language is required (e.g. 'en')"
        if "model" in cfg and "operating_point" in cfg:
            return "invalid_config", "Give model or operating_point, not both"
        if cfg.get("model", cfg.get("operating_point", "standard")) not in ("standard", "enhanced"):
            return "invalid_model", "operating_point must be standard or enhanced"
        if problem := self._check_live(cfg):
            return "invalid_config", problem
        if cfg.get("diarization", "none") not in ("none", "speaker"):
            return "invalid_config", "diarization must be none or speaker"
        speakers = (cfg.get("speaker_diarization_config") or {}).get("max_speakers", 50)
        if not isinstance(speakers, int) or not 2 <= speakers <= 100:
            return "invalid_config", "max_speakers must be between 2 and 100"
        trigger = (cfg.get("conversation_config") or {}).get("end_of_utterance_silence_trigger", 0.0)
        if not isinstance(trigger, (int, float)) or not 0 <= trigger <= 2:
            return "invalid_config", "end_of_utterance_silence_trigger must be between 0 and 2"
        vocab = cfg.get("additional_vocab", [])
        if not isinstance(vocab, list) or not all(
            isinstance(w, str) or (isinstance(w, dict) and isinstance(w.get("content"), str)) for w in vocab
        ):
            return "invalid_config", "additional_vocab must be words or {content, sounds_like}"
        marks = (cfg.get("punctuation_overrides") or {}).get("permitted_marks", [])
        if not isinstance(marks, list) or not all(isinstance(m, str) for m in marks):
            return "invalid_config", "punctuation_overrides.permitted_marks must be a list of marks"
        return None

    async def _started(self, ctx: SessionContext[SpeechmaticsSession], st: SpeechmaticsSession) -> None:
        """``Info`` then, after ``start_delay``, ``RecognitionStarted``."""
        if self.config.info:
            quality = "telephony" if st.rate <= 8000 else "broadcast"
            info = {"message": "Info", "type": "recognition_quality", "quality": quality}
            ctx.send(json.dumps(info | {"reason": f"Running recognition using a {quality} model quality."}))
        await asyncio.sleep(self.config.start_delay)
        st.ready = True
        pack = {"adapted": False, "itn": True, "language_description": st.language, "word_delimiter": " "}
        started = {"message": "RecognitionStarted", "id": str(uuid.uuid4()), "language_pack_info": pack}
        ctx.send(json.dumps(started | {"orchestrator_version": "emulator"}))

    # -- audio --------------------------------------------------------------------------

    async def on_binary(self, ctx: SessionContext[SpeechmaticsSession], data: bytes) -> float:
        st = ctx.state
        if not st.ready:
            self._fail(ctx, "protocol_error", "Audio received before RecognitionStarted")
            return 0.0
        if st.eos:
            ctx.send(json.dumps({"message": "Warning", "type": "add_audio_after_eos", "reason": "Ignored"}))
            return 0.0
        if st.wav is not None and not st.wav.done:
            read = self._read_wav(ctx, st, data)
            if isinstance(read, str):
                self._fail(ctx, "invalid_audio_type", read)
                return 0.0
            if read is None:  # still inside the header
                st.seq_no += 1
                ctx.send(_audio_added(st.seq_no))
                return 0.0
            data = read
        width = WIRE_ENCODINGS[st.encoding]
        st.seq_no += 1
        ctx.send(_audio_added(st.seq_no))
        seconds = self.push_audio(
            ctx, data[: len(data) // width * width], encoding=st.encoding, channels=st.channels
        )
        st.position += seconds
        self._finalise_due(ctx, st)
        return seconds

    # -- results ------------------------------------------------------------------------

    def on_event(self, ctx: SessionContext[SpeechmaticsSession], event: RecognizerEvent) -> None:
        st = ctx.state
        if isinstance(event, Transcript) and not event.is_final:
            st.pending = [w for w in event.words if w.start_time >= st.final_until - 1e-6]
            st.eou_due = st.eou_due or bool(st.pending)
            if st.partials and st.pending:  # a partial first, even for words final at once
                ctx.send(json.dumps(self.transcript("AddPartialTranscript", st, st.pending)))
            self._finalise_due(ctx, st)
        elif isinstance(event, Transcript):
            words = [w for w in event.words if w.start_time >= st.final_until - 1e-6]
            self._final(ctx, st, words, eos=event.end_of_utterance)
        elif isinstance(event, SpeechEnded) and st.eou_due and st.trigger:
            self._end_of_utterance(ctx, st, event.time if event.time is not None else st.position)
        elif isinstance(event, Flushed) and event.marker == _FORCED and st.eou_due:
            # [I] a force with no words since the last EndOfUtterance gets none: one per utterance
            self._end_of_utterance(ctx, st, event.position)

    def _end_of_utterance(
        self, ctx: SessionContext[SpeechmaticsSession], st: SpeechmaticsSession, t: float
    ) -> None:
        st.eou_due, st.utterance = False, st.utterance + 1
        ctx.send(
            json.dumps(
                {
                    "message": "EndOfUtterance",
                    "metadata": {"start_time": round(t, 3), "end_time": round(t, 3)},
                }
            )
        )

    def _end_of_transcript(self, ctx: SessionContext[SpeechmaticsSession]) -> None:
        """After the last final: ``EndOfTranscript``, then a close after ``close_after_eot`` (§3.5)."""
        ctx.send(json.dumps({"message": "EndOfTranscript"}))
        if (delay := self.config.close_after_eot) is not None:
            ctx.spawn(self._close_later(ctx, delay))

    @staticmethod
    async def _close_later(ctx: SessionContext[SpeechmaticsSession], delay: float) -> None:
        await asyncio.sleep(delay)
        ctx.close(1000)

    def _final(
        self,
        ctx: SessionContext[SpeechmaticsSession],
        st: SpeechmaticsSession,
        words: list[Word],
        *,
        eos: bool,
    ) -> None:
        if words:
            st.eou_due = True
            st.final_until = words[-1].end_time
            st.pending = [w for w in st.pending if w.start_time >= st.final_until - 1e-6]
            ctx.send(json.dumps(self.transcript("AddTranscript", st, words, eos=eos)))

    def _finalise_due(self, ctx: SessionContext[SpeechmaticsSession], st: SpeechmaticsSession) -> None:
        """Words a stable recognizer heard more than ``max_delay`` ago become final (§3.10.5)."""
        if ctx.recognizer is not None and ctx.recognizer.stable:
            due = [w for w in st.pending if w.end_time <= st.position - st.max_delay]
            self._final(ctx, st, due, eos=False)

    def transcript(
        self, kind: str, st: SpeechmaticsSession, words: list[Word], *, eos: bool = False
    ) -> dict[str, Any]:
        """An ``AddTranscript``/``AddPartialTranscript`` (§3.2): word results, punctuation split off
        the words' edges (``attaches_to``), and a closing ``.`` (``is_eos``) at an utterance end."""
        final = kind == "AddTranscript"
        alt: dict[str, Any] = {"language": st.language}
        if st.diarization:
            alt["speaker"] = f"S{st.utterance % max(1, self.config.speakers) + 1}"
        results: list[dict[str, Any]] = []

        def punct(mark: str, t: float, attaches: str) -> None:
            if st.marks is None or mark in st.marks:
                item = {"type": "punctuation", "start_time": t, "end_time": t, "attaches_to": attaches}
                results.append(
                    item
                    | {"is_eos": mark in ".?!", "alternatives": [alt | {"content": mark, "confidence": 1.0}]}
                )

        for w in words:
            m = _EDGE.match(w.text.strip())
            lead, core, trail = m.groups() if m else ("", w.text, "")
            start, end = round(w.start_time, 3), round(w.end_time, 3)
            for mark in lead:
                punct(mark, start, "next")
            confidence = (w.confidence if w.confidence is not None else 0.9) if final else 0.0
            content = alt | {"content": core or w.text.strip(), "confidence": round(confidence, 3)}
            results.append({"type": "word", "start_time": start, "end_time": end, "alternatives": [content]})
            for mark in trail:
                punct(mark, end, "previous")
        if eos and final and not (results and results[-1]["type"] == "punctuation"):
            punct(".", round(words[-1].end_time, 3), "previous")
        text = " ".join(w.text.strip() for w in words)
        meta = {
            "start_time": round(words[0].start_time, 3),
            "end_time": round(words[-1].end_time, 3),
            "transcript": text,
        }
        return {"message": kind, "format": "2.9", "metadata": meta, "results": results}
