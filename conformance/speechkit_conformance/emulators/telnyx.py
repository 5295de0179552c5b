"""An emulator of the Telnyx Speech-to-Text WebSocket, as ``shared/protocols.md`` §4 documents it.

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
  Telnyx engine honours it is an open question (§6.3) that the emulator answers with the docs.

Transcript frames carry ``transcript``, ``is_final``, ``confidence`` and (Deepgram)
``speech_final``: no timestamps, as documented (§4.5). Behind the engine sits the
:mod:`oracle <speechkit_conformance.oracle>` recognizer, or with ``recognizer="local"`` the
local provider's Whisper engine.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any, Literal

import attrs
import numpy as np
from aiohttp import web

from speechkit.codecs import WavError, mulaw_decode, parse_wav_header
from speechkit.events import Finished, Transcript, Word

from ..emulator import Deadline, Emulator, FaultPlan, SessionContext, SessionRecord
from ..recognizers import LocalSession as _LocalSession
from ..recognizers import OracleSession as _OracleSession

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
    recognizer: Literal["oracle", "local"] = "oracle"
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
class _State:
    engine: str
    input_format: str
    interim: bool
    language: str
    rate: int | None = None
    channels: int = 1
    bits: int = 16
    header: bytearray | None = None  # WAV bytes until the data chunk starts
    rec: _OracleSession | _LocalSession | None = None
    pump: asyncio.Task[None] | None = None
    last_audio: float | None = None
    last_activity: float = attrs.field(factory=time.monotonic)
    pending: bool = False  # audio since the last finalisation
    finishing: bool = False
    timer: Deadline | None = None  # the idle timeout and the final after final_after


class TelnyxEmulator(Emulator):
    """The Telnyx STT WebSocket on 127.0.0.1 (see the module docs).

    Args:
        config: Behaviour where the sources disagree.
        faults: What to do wrong.
        port: 0 for an ephemeral port.
    """

    paths = ("/v2/speech-to-text/transcription", "/public/speech-to-text/transcription")

    def __init__(self, config: TelnyxConfig | None = None, *, faults: FaultPlan | None = None, port: int = 0):
        super().__init__(faults=faults, port=port)
        self.config = config or TelnyxConfig()

    @property  # type: ignore[override]
    def error_close_code(self) -> int:
        """Close code after an ``errors`` frame (from the config, which ``--set`` may change)."""
        return self.config.error_close_code

    @property
    def api_key(self) -> str:
        """The key the emulator accepts."""
        return self.config.api_key

    @classmethod
    def for_cli(cls, *, recognizer: str = "oracle", port: int = 0) -> TelnyxEmulator:
        # documented behaviour: flush finals and close after CloseStream (§4.7, §4.11.6c)
        rec: Literal["oracle", "local"] = "local" if recognizer == "local" else "oracle"
        return cls(TelnyxConfig(recognizer=rec), port=port)

    def handshake(self, request: web.Request, record: SessionRecord) -> web.StreamResponse | None:
        if self.config.reject_origin and "Origin" in request.headers:
            return web.Response(status=403, text="Origin not allowed")
        if request.headers.get("Authorization") != f"Bearer {self.config.api_key}":
            if self.config.auth_failure == "frame":
                record.state["auth_failed"] = True
                return None
            body = error_frame("10009", "Authentication failed", "Missing or invalid API key")
            return web.json_response(body, status=401)
        return None

    async def open_session(self, ctx: SessionContext) -> bool:
        q, cfg = ctx.record.query, self.config
        if ctx.record.state.get("auth_failed"):
            return self._refuse(
                ctx, error_frame("10009", "Authentication failed", "Missing or invalid API key")
            )
        engine = q.get("transcription_engine", "Deepgram")
        canonical = next((e for e in ENGINES if e.lower() == engine.lower()), None)
        if canonical is None or (cfg.case_sensitive_engine and canonical != engine):
            ctx.close(cfg.error_close_code)  # SC75: the socket just closes
            return False
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
        st = _State(
            engine=canonical,
            input_format=fmt,
            interim=q.get("interim_results", "false") == "true",
            language=q.get("language", "en-US"),
            rate=rate,
            channels=int(q["channels"]) if q.get("channels", "").isdigit() else 1,
            header=bytearray() if fmt == "wav" else None,
        )
        ctx.record.state.update(engine=canonical, input_format=fmt, interim_results=st.interim, telnyx=st)
        if rate is not None and fmt in ("linear16", "mulaw"):
            self._start_recognizer(ctx, st)
        st.timer = ctx.deadline(lambda: self._tick(ctx, st))
        if cfg.idle_timeout is not None:
            st.timer.wake(st.last_activity + cfg.idle_timeout)
        return True

    def _refuse(self, ctx: SessionContext, frame: dict[str, Any]) -> bool:
        ctx.send(json.dumps(frame))
        ctx.close(self.config.error_close_code)
        return False

    def _start_recognizer(self, ctx: SessionContext, st: _State) -> None:
        assert st.rate is not None
        ctx.record.state["sample_rate"], ctx.record.state["channels"] = st.rate, st.channels
        if self.config.recognizer == "local":
            st.rec = _LocalSession(st.rate, st.language, self.config.final_after)
        else:
            st.rec = _OracleSession(st.rate)
        st.pump = ctx.spawn(self._pump(ctx, st))

    # -- audio ------------------------------------------------------------------------

    async def on_binary(self, ctx: SessionContext, data: bytes) -> float:
        st: _State = ctx.record.state["telnyx"]
        st.last_audio = st.last_activity = time.monotonic()
        seconds = self._audio(ctx, st, data)
        if st.pending and st.timer is not None:  # the final is due final_after from now
            st.timer.wake(st.last_audio + self.config.final_after)
        return seconds

    def _audio(self, ctx: SessionContext, st: _State, data: bytes) -> float:
        if st.header is not None:  # still inside the WAV header
            st.header += data
            data = self._parse_wav(ctx, st)
            if st.header is not None or st.rec is None:
                return 0.0
        if st.rec is None or st.rate is None or st.finishing:
            return 0.0
        if st.input_format == "mulaw":
            samples = mulaw_decode(data)
        else:
            samples = np.frombuffer(data[: len(data) & ~1], dtype="<i2")
            if st.bits != 16:
                return 0.0
        if st.channels > 1:
            samples = samples[: len(samples) // st.channels * st.channels].reshape(-1, st.channels)
            samples = samples.mean(axis=1).astype(np.int16)
        st.rec.push(samples.astype("<i2").tobytes())
        st.pending = True
        return len(samples) / st.rate

    def _parse_wav(self, ctx: SessionContext, st: _State) -> bytes:
        """Consume RIFF chunks up to ``data``; returns the PCM after the header (§4.3)."""
        buf = st.header
        assert buf is not None
        try:
            header = parse_wav_header(buf)
        except WavError:
            st.header = None
            self._refuse(
                ctx, error_frame("40001", "Invalid input format", "Not a WAV stream", "input_format")
            )
            return b""
        if header is None:
            return b""
        if (fmt := header.format) is not None:
            st.channels, st.rate, st.bits = fmt.channels, fmt.sample_rate, fmt.bits_per_sample
        st.header = None
        if st.rate is None or st.rate not in RATES:
            detail = f"Sample rate {st.rate} is not supported"
            self._refuse(ctx, error_frame("40005", "Invalid sample rate", detail, "sample_rate"))
            return b""
        self._start_recognizer(ctx, st)
        return bytes(buf[header.data_offset :])  # the data size is 0x7FFFFFFF when streaming: to the end

    # -- control ----------------------------------------------------------------------

    async def on_text(self, ctx: SessionContext, text: str) -> None:
        st: _State = ctx.record.state["telnyx"]
        try:
            kind = json.loads(text).get("type")
        except (ValueError, AttributeError):
            return  # §4.4: unknown text frames are ignored
        st.last_activity = time.monotonic()
        if kind == "Finalize" and st.engine == "Deepgram" and st.rec is not None:
            st.rec.flush()
            st.pending = False
        elif kind == "CloseStream":  # every mode: the documented graceful shutdown (§4.7)
            self._finish(ctx, st)

    def _tick(self, ctx: SessionContext, st: _State) -> float | None:
        """The session's timers (its :class:`Deadline`): the idle close, then the final once audio
        stopped for ``final_after``; returns when the next one is due."""
        cfg, now = self.config, time.monotonic()
        idle_due = st.last_activity + cfg.idle_timeout if cfg.idle_timeout is not None else None
        if idle_due is not None and now >= idle_due:
            assert st.timer is not None
            st.timer.cancel()
            ctx.close(cfg.idle_close_code)
            return None
        if st.pending and st.last_audio is not None and now >= st.last_audio + cfg.final_after:
            st.pending = False
            if cfg.end_of_stream == "close_after_final":
                self._finish(ctx, st)
                return None
            if st.rec is not None:
                st.rec.flush()
        final_due = st.last_audio + cfg.final_after if st.pending and st.last_audio is not None else None
        return min((t for t in (idle_due, final_due) if t is not None), default=None)

    def _finish(self, ctx: SessionContext, st: _State) -> None:
        """Stop the timers, flush every final, then close 1000."""
        if st.finishing:
            return
        st.finishing = True
        if st.timer is not None:
            st.timer.cancel()
        if st.rec is not None and st.pump is not None:
            st.rec.end_input()
            ctx.spawn(self._close_after(ctx, st.pump))
        else:
            ctx.close(1000)

    @staticmethod
    async def _close_after(ctx: SessionContext, pump: asyncio.Task[None]) -> None:
        await asyncio.shield(pump)  # the finals go out first
        ctx.close(1000)

    async def _pump(self, ctx: SessionContext, st: _State) -> None:
        assert st.rec is not None
        async for ev in st.rec.events():
            if isinstance(ev, Finished):
                return
            if isinstance(ev, Transcript):
                for frame in self.frames_for(ev, st.engine, st.interim):
                    if self.config.timestamps and frame["transcript"] and ev.start_time is not None:
                        end = ev.end_time if ev.end_time is not None else ev.start_time
                        frame.update(start=round(ev.start_time, 3), duration=round(end - ev.start_time, 3))
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

    def final_message(self, ctx: SessionContext, words: list[Word]) -> object | None:
        st: _State | None = ctx.record.state.get("telnyx")
        ev = Transcript(" ".join(w.text for w in words), True, end_of_utterance=True)
        frames = self.frames_for(ev, st.engine if st else "Telnyx", True)
        return frames[0] if frames else None

    def interim_message(self, ctx: SessionContext, words: list[Word]) -> object | None:
        return {"transcript": " ".join(w.text for w in words), "is_final": False, "confidence": 0.0}

    def final_start(self, message: str) -> float | None:
        data = json.loads(message)  # only finals with the undocumented ``timestamps`` carry times
        start = data.get("start") if isinstance(data, dict) and data.get("is_final") else None
        return float(start) if isinstance(start, (int, float)) else None

    def shift_final(self, message: str, seconds: float) -> str:
        data = json.loads(message)
        data["start"] = round(data["start"] + seconds, 3)
        return json.dumps(data)

    def error_message(self, ctx: SessionContext) -> object:
        # [?] the STT error catalogue has codes we did not retrieve (§4.5): a 5xxxx stands for them
        return error_frame("50001", "Internal error", "The transcription engine failed")

    async def on_client_close(self, ctx: SessionContext) -> None:
        st: _State | None = ctx.record.state.get("telnyx")
        if st is not None and st.rec is not None:
            await st.rec.aclose()
