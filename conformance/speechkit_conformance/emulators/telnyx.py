"""An emulator of the Telnyx Speech-to-Text WebSocket, as Telnyx's STT WebSocket docs describe it
(https://developers.telnyx.com/docs/voice/stt/websocket-streaming); the fact-by-fact sources are
in ``docs/protocols/telnyx.md`` (§4; a bare §N.M below is in that file, source keys such as SC75
in ``docs/protocols/sources.md``).

What it enforces and does (§4.11):

* ``GET /v2/speech-to-text/transcription`` and ``/public/speech-to-text/transcription`` with
  ``Authorization: Bearer <key>``; a bad or missing key is an HTTP 401 (or, with
  ``auth_failure="frame"``, an upgrade then an ``errors`` frame and a close) (§4.1);
* query validation after the upgrade: 40001 unknown ``input_format``, 40002 format not
  supported by the engine, 40003 raw format without ``sample_rate``, 40004 rate not a
  positive integer, 40005 rate not supported; one ``{"errors": [...]}`` frame, then a close
  with ``error_close_code`` (§4.2, §4.5);
* ``wav`` audio: the RIFF header is parsed even alone in the first frame, with the
  0x7FFFFFFF streaming sizes, or split across frames; rate and channels come from it.
  ``linear16`` and ``mulaw`` use ``sample_rate``; other formats are recorded only (§4.3);
* engine profiles (§4.6): ``Deepgram`` sends interims (confidence 0.0) only with
  ``interim_results=true`` and finals with ``speech_final`` plus an ``utterance_end`` frame;
  ``Speechmatics``/``Soniox`` interims and finals; ``Telnyx`` and the rest finals only
  (``Telnyx`` with ``confidence`` :attr:`TelnyxConfig.telnyx_confidence`, null by default);
* control messages (§4.4): ``Finalize`` (Deepgram) finalises now, ``KeepAlive`` resets the
  idle timer, ``CloseStream`` flushes every final and closes 1000, in every end-of-stream
  mode (the documented graceful shutdown, §4.7, §4.11.5); anything else is ignored;
* end of stream (§4.7), :attr:`TelnyxConfig.end_of_stream`, when audio simply stops *without*
  ``CloseStream``: ``close_after_final`` (a: final then close 1000 once audio stopped for
  ``final_after`` s, SC75), ``stay_open`` (b: final, then the socket stays open until the
  client closes, SC78), ``close_stream`` (c: finals after each pause, close 1000 only after
  ``CloseStream``, TX-DOCS). ``CloseStream`` ends the session in all three; whether the
  Telnyx engine honours it is an open question (docs/protocols/common.md §6.3) that the
  emulator answers with the docs.

Transcript frames carry ``transcript``, ``is_final``, ``confidence`` and (Deepgram)
``speech_final``: no timestamps, as documented (§4.5). Behind the engine sits the
:mod:`oracle <speechkit_conformance.oracle>` recognizer, or with ``recognizer="local"`` the
local provider's Whisper engine.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import attrs
from aiohttp import web

from speechkit.events import Transcript, Word

from ..emulator import Deadline, SessionContext, SessionRecord
from ..recognizers import RecognizerEvent, RecognizerKind
from ..recognizing import RecognizingEmulator, WavError, WavReader

ENGINES = ("Deepgram", "Telnyx", "Google", "Azure", "xAI", "AssemblyAI", "Speechmatics", "Soniox")
"""Engines as the docs spell them (§4.2)."""
FORMATS = (
    *("mp3", "wav", "webm", "webm_opus", "ogg", "ogg_opus", "flac"),
    *("linear16", "linear32", "mulaw", "alaw", "opus", "g729", "amr_nb", "amr_wb", "speex"),
)
"""Accepted ``input_format`` values (§4.2)."""
RAW_FORMATS = frozenset(FORMATS[7:])
RATES = frozenset({8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000})
"""Sample rates accepted [I: the docs list none; 40005 says "invalid for the format or engine"]."""
UNSUPPORTED = {"Azure": frozenset({"flac"})}
"""Engine -> formats refused with 40002 (the docs' own example, §4.5)."""
_PARTIALS = frozenset({"Deepgram", "Speechmatics", "Soniox"})
EndOfStream = Literal["close_after_final", "stay_open", "close_stream"]


@attrs.define(kw_only=True)
class TelnyxConfig:
    """How the emulated Telnyx service behaves where the sources disagree (§4, [?] items).

    Attributes:
        api_key: The only key accepted.
        auth_failure: ``"http"``: a bad key is an HTTP 401 at the handshake [I];
            ``"frame"``: upgrade, send an ``errors`` frame (code 10009), then close.
        reject_origin: Refuse (403) an upgrade carrying an ``Origin`` header (VA-TX).
        case_sensitive_engine: Only the docs' spelling of ``transcription_engine`` works;
            another case closes the socket with ``error_close_code`` and no frame (SC75).
        end_of_stream: What happens when audio stops without ``CloseStream``: mode (a), (b) or
            (c), see the module docs. ``CloseStream`` flushes the finals and closes 1000 in each.
        final_after: Seconds without audio after which the pending words are finalised.
        error_close_code: Close code after an ``errors`` frame (undocumented, §4.5).
        recognizer: ``"oracle"`` (tone words) or ``"local"`` (Whisper tiny.en, 16 kHz).
        telnyx_confidence: ``confidence`` on the Telnyx engine's finals (SC75: null).
        suppress_output_with_interims: The Telnyx engine sends nothing when
            ``interim_results=true`` (SC75 quirk).
        utterance_end: The Deepgram profile sends ``utterance_end`` frames.
        idle_timeout: Close after this many seconds without audio or KeepAlive; None: never.
        idle_close_code: Close code of the idle timeout.
        timestamps: Add ``start``/``duration`` (seconds of session audio) to transcripts;
            undocumented fields the Telnyx SDKs read (§4.5) [?]. Off: the documented shape.
    """

    api_key: str = "telnyx-test-key"
    auth_failure: Literal["http", "frame"] = "http"
    reject_origin: bool = False
    case_sensitive_engine: bool = False
    end_of_stream: EndOfStream = "close_stream"
    final_after: float = 0.3
    error_close_code: int = 1008
    recognizer: RecognizerKind = "oracle"
    telnyx_confidence: float | None = None
    suppress_output_with_interims: bool = False
    utterance_end: bool = True
    idle_timeout: float | None = None
    idle_close_code: int = 1000
    timestamps: bool = False


def error_frame(code: str, title: str, detail: str, parameter: str | None = None) -> dict[str, Any]:
    """A Telnyx ``{"errors": [...]}`` message (§4.5); codes are strings."""
    err: dict[str, Any] = {"code": code, "title": title, "detail": detail}
    if parameter:
        err["source"] = {"parameter": parameter}
    return {"errors": [err]}


@attrs.define
class TelnyxSession:
    """One session's state (``emulator.sessions[i].state``).

    Attributes:
        engine: ``transcription_engine`` as the docs spell it.
        input_format: ``input_format``.
        interim_results: ``interim_results=true`` was asked for.
        language: ``language``.
        sample_rate: From the query (raw formats) or the WAV header; None until known.
        channels: Channels of the audio (query, or the WAV header).
        bits: Bits per sample (the WAV header; 16 for raw formats).
    """

    engine: str
    input_format: str
    interim_results: bool
    language: str
    sample_rate: int | None = None
    channels: int = 1
    bits: int = 16
    wav: WavReader | None = None  # until the WAV header has been read
    last_audio: float | None = None
    pending: bool = False  # audio since the last finalisation
    finishing: bool = False
    timer: Deadline | None = None  # the final after final_after


class TelnyxEmulator(RecognizingEmulator[TelnyxConfig, TelnyxSession]):
    """The Telnyx STT WebSocket on 127.0.0.1 (see the module docs).

    Args:
        config: Behaviour where the sources disagree.
        faults: What to do wrong.
        port: 0 for an ephemeral port.
    """

    paths = ("/v2/speech-to-text/transcription", "/public/speech-to-text/transcription")
    config_type = TelnyxConfig

    @property  # type: ignore[override]
    def error_close_code(self) -> int:
        """Close code after an ``errors`` frame (from the config, which ``--set`` may change)."""
        return self.config.error_close_code

    def handshake(self, request: web.Request, record: SessionRecord) -> web.StreamResponse | None:
        if self.config.reject_origin and "Origin" in request.headers:
            return web.Response(status=403, text="Origin not allowed")
        if request.headers.get("Authorization") != f"Bearer {self.config.api_key}":
            if self.config.auth_failure == "frame":
                record.refusal = "Missing or invalid API key"
                return None
            body = error_frame("10009", "Authentication failed", "Missing or invalid API key")
            return web.json_response(body, status=401)
        return None

    async def open_session(self, ctx: SessionContext[TelnyxSession]) -> TelnyxSession | None:
        q, cfg = ctx.record.query, self.config
        if ctx.record.refusal:
            return self._refuse(
                ctx, error_frame("10009", "Authentication failed", "Missing or invalid API key")
            )
        engine = q.get("transcription_engine", "Deepgram")
        canonical = next((e for e in ENGINES if e.lower() == engine.lower()), None)
        if canonical is None or (cfg.case_sensitive_engine and canonical != engine):
            ctx.close(cfg.error_close_code)  # SC75: the socket just closes
            return None
        fmt = q.get("input_format", "mp3")
        if fmt not in FORMATS:
            return self._refuse(
                ctx, error_frame("40001", "Invalid input format", f"Unknown format '{fmt}'", "input_format")
            )
        if fmt in UNSUPPORTED.get(canonical, ()):
            detail = f"Format '{fmt}' is not supported by engine '{canonical}'"
            return self._refuse(ctx, error_frame("40002", "Unsupported format", detail, "input_format"))
        rate: int | None = None
        if fmt in RAW_FORMATS:
            raw = q.get("sample_rate")
            if raw is None:
                detail = f"sample_rate is required for '{fmt}'"
                return self._refuse(ctx, error_frame("40003", "Missing sample rate", detail, "sample_rate"))
            if not raw.isdigit() or int(raw) <= 0:
                detail = "sample_rate must be a positive integer"
                return self._refuse(ctx, error_frame("40004", "Invalid sample rate", detail, "sample_rate"))
            if int(raw) not in RATES:
                detail = f"Sample rate {raw} is not supported for '{fmt}'"
                return self._refuse(ctx, error_frame("40005", "Invalid sample rate", detail, "sample_rate"))
            rate = int(raw)
        st = TelnyxSession(
            engine=canonical,
            input_format=fmt,
            interim_results=q.get("interim_results", "false") == "true",
            language=q.get("language", "en-US"),
            sample_rate=rate,
            channels=int(q["channels"]) if q.get("channels", "").isdigit() else 1,
            wav=WavReader() if fmt == "wav" else None,
        )
        if rate is not None and fmt in ("linear16", "mulaw"):
            self._start(ctx, st)
        st.timer = ctx.deadline(lambda: self._final_due(ctx, st))
        ctx.limit(cfg.idle_timeout, lambda: ctx.close(cfg.idle_close_code), idle=True)
        return st

    def _refuse(self, ctx: SessionContext[TelnyxSession], frame: dict[str, Any]) -> None:
        ctx.fail(frame, self.config.error_close_code)

    def _start(self, ctx: SessionContext[TelnyxSession], st: TelnyxSession) -> None:
        assert st.sample_rate is not None
        self.start_recognizer(ctx, st.sample_rate, language=st.language, final_after=self.config.final_after)

    # -- audio ------------------------------------------------------------------------

    async def on_binary(self, ctx: SessionContext[TelnyxSession], data: bytes) -> float:
        st = ctx.state
        st.last_audio = time.monotonic()
        seconds = self._audio(ctx, st, data)
        if st.pending and st.timer is not None:  # the final is due final_after from now
            st.timer.wake(st.last_audio + self.config.final_after)
        return seconds

    def _audio(self, ctx: SessionContext[TelnyxSession], st: TelnyxSession, data: bytes) -> float:
        if st.wav is not None and not st.wav.done:  # still inside the WAV header (§4.3)
            try:
                pcm = st.wav.feed(data)
            except WavError:
                st.wav = None
                self._refuse(
                    ctx, error_frame("40001", "Invalid input format", "Not a WAV stream", "input_format")
                )
                return 0.0
            if pcm is None:
                return 0.0
            if (fmt := st.wav.format) is not None:
                st.channels, st.sample_rate, st.bits = fmt.channels, fmt.sample_rate, fmt.bits_per_sample
            if st.sample_rate is None or st.sample_rate not in RATES:
                detail = f"Sample rate {st.sample_rate} is not supported"
                self._refuse(ctx, error_frame("40005", "Invalid sample rate", detail, "sample_rate"))
                return 0.0
            self._start(ctx, st)
            data = pcm
        if st.finishing or (st.bits != 16 and st.input_format != "mulaw"):
            return 0.0
        encoding = "mulaw" if st.input_format == "mulaw" else "pcm_s16le"
        seconds = self.push_audio(ctx, data, encoding=encoding, channels=st.channels)
        st.pending = st.pending or seconds > 0
        return seconds

    # -- control ----------------------------------------------------------------------

    async def on_text(self, ctx: SessionContext[TelnyxSession], text: str) -> None:
        st = ctx.state
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            return  # §4.4: unknown text frames are ignored
        ctx.touch()
        if kind == "Finalize" and st.engine == "Deepgram" and ctx.recognizer is not None:
            ctx.recognizer.flush()
            st.pending = False
        elif kind == "CloseStream":  # every mode: the documented graceful shutdown (§4.7)
            self._finish(ctx, st)

    def _final_due(self, ctx: SessionContext[TelnyxSession], st: TelnyxSession) -> float | None:
        """The final once audio stopped for ``final_after`` (a :class:`Deadline` tick); returns
        when it is due next."""
        now, after = time.monotonic(), self.config.final_after
        if st.pending and st.last_audio is not None and now >= st.last_audio + after:
            st.pending = False
            if self.config.end_of_stream == "close_after_final":
                self._finish(ctx, st)
                return None
            if ctx.recognizer is not None:
                ctx.recognizer.flush()
        return st.last_audio + after if st.pending and st.last_audio is not None else None

    def _finish(self, ctx: SessionContext[TelnyxSession], st: TelnyxSession) -> None:
        """Flush every final, then close 1000."""
        if st.finishing:
            return
        st.finishing = True
        if st.timer is not None:
            st.timer.cancel()
        self.end_input(ctx, then=lambda: ctx.close(1000))

    def on_event(self, ctx: SessionContext[TelnyxSession], event: RecognizerEvent) -> None:
        if not isinstance(event, Transcript):
            return
        for frame in self.frames_for(event, ctx.state.engine, ctx.state.interim_results):
            if self.config.timestamps and frame["transcript"] and event.start_time is not None:
                end = event.end_time if event.end_time is not None else event.start_time
                frame.update(start=round(event.start_time, 3), duration=round(end - event.start_time, 3))
            ctx.send(json.dumps(frame))

    def frames_for(self, ev: Transcript, engine: str, interim_results: bool) -> list[dict[str, Any]]:
        """Telnyx frames for one recognizer transcript under an engine profile (§4.5, §4.6)."""
        text = ev.text.strip()
        if not text:
            return []
        if engine == "Telnyx" and interim_results and self.config.suppress_output_with_interims:
            return []
        if not ev.is_final:
            if engine in _PARTIALS and interim_results:
                return [{"transcript": text, "is_final": False, "confidence": 0.0}]
            return []
        confidence = round(ev.confidence if ev.confidence is not None else 0.9, 3)
        if engine == "Telnyx":
            return [{"transcript": text, "is_final": True, "confidence": self.config.telnyx_confidence}]
        if engine != "Deepgram":
            return [{"transcript": text, "is_final": True, "confidence": confidence}]
        out: list[dict[str, Any]] = [
            {
                "transcript": text,
                "is_final": True,
                "speech_final": ev.end_of_utterance,
                "confidence": confidence,
            }
        ]
        if self.config.utterance_end and ev.end_of_utterance:
            out.append({"transcript": "", "is_final": True, "utterance_end": True})
        return out

    # -- the server-message faults' shapes (FaultPlan) --------------------------------

    def final_message(self, ctx: SessionContext[TelnyxSession], words: list[Word]) -> object | None:
        ev = Transcript(" ".join(w.text for w in words), True, end_of_utterance=True)
        frames = self.frames_for(ev, ctx.state.engine, True)
        return frames[0] if frames else None

    def interim_message(self, ctx: SessionContext[TelnyxSession], words: list[Word]) -> object | None:
        return {"transcript": " ".join(w.text for w in words), "is_final": False, "confidence": 0.0}

    def final_start(self, message: str) -> float | None:
        data = json.loads(message)  # only finals with the undocumented ``timestamps`` carry times
        start = data.get("start") if isinstance(data, dict) and data.get("is_final") else None
        return float(start) if isinstance(start, (int, float)) else None

    def shift_final(self, message: str, seconds: float) -> str:
        data = json.loads(message)
        data["start"] = round(data["start"] + seconds, 3)
        return json.dumps(data)

    def error_message(self, ctx: SessionContext[TelnyxSession]) -> object:
        # [?] the STT error catalogue has codes we did not retrieve (§4.5): a 5xxxx stands for them
        return error_frame("50001", "Internal error", "The transcription engine failed")
