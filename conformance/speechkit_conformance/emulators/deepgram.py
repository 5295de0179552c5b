"""An emulator of Deepgram's live streaming WebSocket (``/v1/listen``), as ``docs/protocols/deepgram.md``
documents it (§ numbers below are that file's).

What it enforces and does (§8):

* ``GET /v1/listen`` with ``Authorization: Token <key>`` (any case of ``Token``; ``Bearer`` for a
  temporary token); a bad or missing key is an HTTP 401 whose ``dg-error`` header and JSON body
  say why (§1, §7);
* the query, checked at the handshake (§2): ``model`` known (or a configured custom one),
  ``encoding`` known, ``sample_rate`` a positive integer and required with a raw ``encoding``,
  booleans ``true``/``false``, ``endpointing`` an integer of ms or ``false``, ``utterance_end_ms``
  an integer and only with ``interim_results=true``, ``keyterm`` only on Nova-3: else HTTP 400 with
  ``dg-error``. Unknown parameters are ignored and recorded;
* binary audio: ``linear16`` or ``mulaw`` at ``sample_rate``, ``channels`` mixed to mono; an
  empty binary frame is taken as ``CloseStream`` (the older protocol's end marker, §3);
* text messages (§4): ``KeepAlive`` resets the idle timer, ``Finalize`` finalises now (the
  final carries ``from_finalize``), ``CloseStream`` sends the last results, a ``Metadata``
  summary and closes 1000, ``Configure`` replaces the keyterms (Nova-3; ``ConfigureSuccess``,
  else ``ConfigureFailure``); anything else is an ``Error`` with variant ``SchemaError`` (§5);
* ``Results`` (§5): interims (``is_final: false``) only with ``interim_results``; finals with
  ``speech_final: true`` when the recognizer ended the utterance on silence in the audio
  (endpointing, unless ``endpointing=false``); ``start``/``duration`` tile the audio;
  ``UtteranceEnd`` once the audio runs ``utterance_end_ms`` past the last final word;
  ``SpeechStarted`` with ``vad_events``. Every rule is on **audio position**, never wall time,
  so audio pushed faster than real time gets one final per utterance, as paced audio does;
* the idle timeout: 10 s without audio or ``KeepAlive`` closes 1011 (``NET-0001``, §6).

Behind the results sits the oracle recognizer (tone words), or with ``recognizer="local"`` the
local provider's Whisper engine. Faults come from the framework's :class:`FaultPlan`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import attrs
import numpy as np
from aiohttp import web

from speechkit.codecs import mulaw_decode
from speechkit.events import Finished, Transcript, Word

from ..emulator import Deadline, Emulator, FaultPlan, SessionContext, SessionRecord
from ..oracle import UTTERANCE_END_S
from ..recognizers import LocalSession, OracleSession

MODELS = (
    *("nova-3", "nova-3-general", "nova-3-medical", "nova-2", "nova-2-general", "nova-2-meeting"),
    *("nova-2-finance", "nova-2-conversationalai", "nova-2-voicemail", "nova-2-video", "nova-2-medical"),
    *("nova-2-drivethru", "nova-2-automotive", "nova", "nova-general", "nova-phonecall", "nova-medical"),
    *("enhanced", "enhanced-general", "enhanced-meeting", "enhanced-phonecall", "enhanced-finance"),
    *("base", "meeting", "phonecall", "finance", "conversationalai", "voicemail", "video"),
)
"""``model`` values of the API reference (§2, DG-SPEC)."""
ENCODINGS = ("linear16", "flac", "mulaw", "alaw", "amr-nb", "amr-wb", "opus", "ogg-opus", "speex", "g729")
"""``encoding`` values (§2); only ``linear16`` and ``mulaw`` are decoded, the others recorded."""
_BOOLS = {
    *("interim_results", "punctuate", "smart_format", "vad_events", "diarize", "multichannel"),
    *("numerals", "profanity_filter", "filler_words", "dictation", "no_delay", "mip_opt_out"),
}
_INTS = {"sample_rate", "channels", "utterance_end_ms"}


@attrs.define(kw_only=True)
class DeepgramConfig:
    """How the emulated service behaves where the sources leave a choice (§8, [I]/[?] items).

    Attributes:
        api_key: The key accepted as ``Token <key>``.
        tokens: Temporary tokens accepted as ``Bearer <token>``.
        custom_models: Model names accepted beyond :data:`MODELS` (a customer's own models).
        idle_timeout: Seconds without audio or ``KeepAlive`` before the close (10 s, §6).
        idle_close_code: Its close code (1011, reason ``NET-0001``; the framework sends no reason).
        empty_frame_closes: An empty binary frame ends the stream as ``CloseStream`` does [?].
        utterance_end_needs_interims: ``utterance_end_ms`` without ``interim_results=true`` is a
            400 [?: the docs say it needs them, not what the server does without].
        recognizer: ``"oracle"`` (tone words) or ``"local"`` (Whisper tiny.en, 16 kHz).
        final_after: Silence that ends an utterance for the local recognizer, seconds.
    """

    api_key: str = "deepgram-test-key"
    tokens: tuple[str, ...] = ("deepgram-test-token",)
    custom_models: tuple[str, ...] = ()
    idle_timeout: float = 10.0
    idle_close_code: int = 1011
    empty_frame_closes: bool = True
    utterance_end_needs_interims: bool = True
    recognizer: Literal["oracle", "local"] = "oracle"
    final_after: float = 0.5


class QueryError(ValueError):
    """A query the service refuses at the handshake (HTTP 400 with ``dg-error``)."""


def parse_query(query: dict[str, str], config: DeepgramConfig) -> dict[str, Any]:
    """Typed values of the known parameters, checked as the service checks them (§2).

    Raises:
        QueryError: the reason, as ``dg-error`` says it.
    """
    out: dict[str, Any] = dict(query)
    for key, raw in query.items():
        if key in _BOOLS:
            if raw.lower() not in ("true", "false"):
                raise QueryError(f"Invalid query string. Failed to parse {key}: expected true or false")
            out[key] = raw.lower() == "true"
        elif key in _INTS:
            if not raw.isdigit() or int(raw) <= 0:
                raise QueryError(f"Invalid query string. Failed to parse {key}: expected a positive integer")
            out[key] = int(raw)
        elif key == "endpointing":
            if raw.lower() != "false" and not raw.isdigit():
                raise QueryError("Invalid query string. endpointing must be an integer of ms or false")
            out[key] = False if raw.lower() == "false" else int(raw)
    model = out.get("model", "base")
    if model not in MODELS and model not in config.custom_models:
        raise QueryError("No such model/language/tier combination found.")
    encoding = out.get("encoding")
    if encoding is not None and encoding not in ENCODINGS:
        raise QueryError(f"Invalid query string. Unknown encoding '{encoding}'")
    if encoding is not None and "sample_rate" not in out:
        raise QueryError("sample_rate is required when encoding is given")
    if "keyterm" in out and not str(model).startswith("nova-3"):
        raise QueryError("Keyterm Prompting is only available with Nova-3 models. Use keywords instead.")
    if "utterance_end_ms" in out and config.utterance_end_needs_interims and not out.get("interim_results"):
        raise QueryError("utterance_end_ms requires interim_results=true")
    return out


def refusal(status: int, reason: str, request_id: str) -> web.Response:
    """A refused upgrade: ``dg-error`` and ``dg-request-id`` headers, the reason in the body too (§7)."""
    code = {400: "Bad Request", 401: "INVALID_AUTH", 403: "INSUFFICIENT_PERMISSIONS"}.get(status, "ERROR")
    body = {"err_code": code, "err_msg": reason, "request_id": request_id}
    return web.json_response(body, status=status, headers={"dg-error": reason, "dg-request-id": request_id})


# -- the vendor's messages (§5) -----------------------------------------------------------------


def results(
    st: _State, words: list[Word], *, start: float, end: float, final: bool, speech_final: bool = False,
    from_finalize: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """A ``Results`` over ``[start, end]`` seconds of audio holding ``words`` (§5)."""
    items: list[dict[str, Any]] = []
    for w in words:
        item: dict[str, Any] = {"word": w.text.lower().strip(".,?!"), "start": round(w.start_time, 3)}
        item |= {"end": round(w.end_time, 3), "confidence": round(w.confidence or 0.9, 4)}
        if st.punctuate:
            item["punctuated_word"] = w.text
        if st.diarize:
            item["speaker"] = 0
        items.append(item)
    transcript = " ".join(str(i.get("punctuated_word", i["word"])) for i in items)
    confidence = round(sum(w.confidence or 0.9 for w in words) / len(words), 4) if words else 0.0
    message: dict[str, Any] = {
        "type": "Results", "channel_index": [0, 1], "duration": round(max(0.0, end - start), 3),
        "start": round(start, 3), "is_final": final, "speech_final": speech_final,
        "channel": {"alternatives": [{"transcript": transcript, "confidence": confidence, "words": items}]},
        "metadata": {"request_id": st.request_id, "model_uuid": st.model_uuid,
                     "model_info": {"name": st.model, "version": "emulated", "arch": st.model}},
    }  # fmt: skip
    if from_finalize:
        message["from_finalize"] = True
    return message


def utterance_end(last_word_end: float) -> dict[str, Any]:
    """An ``UtteranceEnd``: the gap after the word ending at ``last_word_end`` seconds (§5)."""
    return {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": round(last_word_end, 3)}


def metadata(st: _State, seconds: float) -> dict[str, Any]:
    """The summary ``Metadata`` after ``CloseStream`` (§4)."""
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "type": "Metadata", "transaction_key": "deprecated", "request_id": st.request_id,
        "sha256": st.sha256.hexdigest(), "created": created, "duration": round(seconds, 3),
        "channels": st.channels,
    }  # fmt: skip


@attrs.define
class _State:
    """One session's vendor state: its query and where the results stand on the audio clock."""

    query: dict[str, Any]
    rate: int
    encoding: str
    channels: int
    model: str
    request_id: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    model_uuid: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    sha256: Any = attrs.field(factory=hashlib.sha256)
    rec: OracleSession | LocalSession | None = None
    pump: asyncio.Task[None] | None = None
    position: float = 0.0  # seconds of audio received
    cursor: float = 0.0  # end of the last final: where the next Results starts
    finalizes: list[float] = attrs.field(factory=list)  # audio positions of Finalize messages
    last_word_end: float | None = None  # of the last final word no UtteranceEnd followed yet
    speaking: bool = False  # SpeechStarted sent for the current utterance
    last_activity: float = attrs.field(factory=time.monotonic)
    closing: bool = False
    timer: Deadline | None = None

    @property
    def punctuate(self) -> bool:
        return bool(self.query.get("punctuate") or self.query.get("smart_format"))

    @property
    def diarize(self) -> bool:
        return bool(self.query.get("diarize") or self.query.get("diarize_model"))


class DeepgramEmulator(Emulator):
    """Deepgram's ``/v1/listen`` WebSocket on 127.0.0.1 (see the module docs).

    Args:
        config: Behaviour where the sources leave a choice.
        faults: What to do wrong.
        port: 0 for an ephemeral port.
    """

    paths = ("/v1/listen",)
    error_close_code = 1011

    def __init__(
        self, config: DeepgramConfig | None = None, *, faults: FaultPlan | None = None, port: int = 0
    ) -> None:
        super().__init__(faults=faults, port=port)
        self.config = config or DeepgramConfig()

    @property
    def api_key(self) -> str:
        """The key the emulator accepts."""
        return self.config.api_key

    @classmethod
    def for_cli(cls, *, recognizer: str = "oracle", port: int = 0) -> DeepgramEmulator:
        rec: Literal["oracle", "local"] = "local" if recognizer == "local" else "oracle"
        return cls(DeepgramConfig(recognizer=rec), port=port)

    # -- handshake ------------------------------------------------------------------------------

    def handshake(self, request: web.Request, record: SessionRecord) -> web.StreamResponse | None:
        scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
        key_ok = scheme.lower() == "token" and credential.strip() == self.config.api_key
        if not (key_ok or (scheme.lower() == "bearer" and credential.strip() in self.config.tokens)):
            return refusal(401, "Invalid credentials.", str(uuid.uuid4()))
        try:
            record.state["query"] = parse_query(dict(request.query), self.config)
        except QueryError as e:
            return refusal(400, str(e), str(uuid.uuid4()))
        return None

    async def open_session(self, ctx: SessionContext) -> bool:
        q = ctx.record.state["query"]
        encoding = q.get("encoding", "linear16")
        st = _State(q, q.get("sample_rate", 16000), encoding, q.get("channels", 1), q.get("model", "base"))
        ctx.record.state["deepgram"] = st
        if encoding in ("linear16", "mulaw"):
            if self.config.recognizer == "local":  # tiny.en: English whatever language says
                st.rec = LocalSession(st.rate, "en", self.config.final_after)
            else:
                st.rec = OracleSession(st.rate)
            st.pump = ctx.spawn(self._pump(ctx, st))
        st.timer = ctx.deadline(lambda: self._idle(ctx, st))
        st.timer.wake(st.last_activity + self.config.idle_timeout)
        return True

    # -- audio and control ----------------------------------------------------------------------

    async def on_binary(self, ctx: SessionContext, data: bytes) -> float:
        st: _State = ctx.record.state["deepgram"]
        st.last_activity = time.monotonic()
        if st.closing:
            return 0.0
        if not data and self.config.empty_frame_closes:
            self._close_stream(ctx, st)
            return 0.0
        st.sha256.update(data)
        if st.rec is None:
            return 0.0  # compressed audio is recorded, not decoded
        pcm = mulaw_decode(data) if st.encoding == "mulaw" else np.frombuffer(data[: len(data) & ~1], "<i2")
        if st.channels > 1:
            pcm = pcm[: len(pcm) // st.channels * st.channels].reshape(-1, st.channels).mean(axis=1)
        st.rec.push(pcm.astype("<i2").tobytes())
        st.position += len(pcm) / st.rate
        # after the pump has taken the recognizer's events for this audio (they are queued already)
        asyncio.get_running_loop().call_soon(self._utterance_end, ctx, st)
        return len(pcm) / st.rate

    async def on_text(self, ctx: SessionContext, text: str) -> None:
        st: _State = ctx.record.state["deepgram"]
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind not in ("KeepAlive", "Finalize", "CloseStream", "Configure"):
            error = {"type": "Error", "variant": "SchemaError", "message": text[:200]}
            ctx.send(json.dumps(error | {"description": "Could not parse the client message."}))
            return
        st.last_activity = time.monotonic()
        if kind == "Finalize" and st.rec is not None and not st.closing:
            st.finalizes.append(st.position)
            st.rec.flush()
        elif kind == "CloseStream":
            self._close_stream(ctx, st)
        elif kind == "Configure":
            ctx.send(json.dumps(self.configure_answer(st, msg)))

    @staticmethod
    def configure_answer(st: _State, msg: dict[str, Any]) -> dict[str, Any]:
        """``Configure`` replaces the keyterms on Nova-3; any other model refuses (§4, §5.5)."""
        if not st.model.startswith("nova-3"):
            code, said = "CONFIGURE_KEYTERMS_NOT_SUPPORTED", "Only Nova-3 models take keyterm updates"
            return {
                "type": "ConfigureFailure",
                "request_id": st.request_id,
                "code": code,
                "description": said,
            }
        answer: dict[str, Any] = {"type": "ConfigureSuccess", "request_id": st.request_id}
        if isinstance(msg.get("keyterms"), list):
            st.query["keyterm"] = answer["keyterms"] = [str(t) for t in msg["keyterms"]]
        return answer

    def _close_stream(self, ctx: SessionContext, st: _State) -> None:
        """Every result for the audio received, the ``Metadata`` summary, close 1000 (§4)."""
        if not st.closing:
            st.closing = True
            ctx.spawn(self._finish(ctx, st))

    async def _finish(self, ctx: SessionContext, st: _State) -> None:
        if st.rec is not None and st.pump is not None:
            st.finalizes.append(st.position)  # CloseStream finalises what is pending, as Finalize does
            st.rec.end_input()
            await asyncio.shield(st.pump)
        ctx.send(json.dumps(metadata(st, ctx.record.audio_seconds)))
        ctx.close(1000)

    def _idle(self, ctx: SessionContext, st: _State) -> float | None:
        """The 10 s idle close (a :class:`Deadline` tick); returns when it is due next."""
        if ctx.ended.is_set() or st.closing:
            return None
        due = st.last_activity + self.config.idle_timeout
        if time.monotonic() < due:
            return due
        ctx.close(self.config.idle_close_code)  # NET-0001 (§6)
        return None

    # -- results --------------------------------------------------------------------------------

    async def _pump(self, ctx: SessionContext, st: _State) -> None:
        assert st.rec is not None
        async for ev in st.rec.events():
            if isinstance(ev, Finished):
                return
            if isinstance(ev, Transcript) and ev.text.strip():
                for message in self.messages_for(st, ev):
                    ctx.send(json.dumps(message))

    def messages_for(self, st: _State, ev: Transcript) -> list[dict[str, Any]]:
        """The messages one recognizer transcript becomes (§5), on the audio clock alone."""
        words = list(ev.words)
        if not words:
            return []
        out: list[dict[str, Any]] = []
        gap = st.query.get("utterance_end_ms")
        if st.last_word_end is not None and gap and words[0].start_time >= st.last_word_end + gap / 1000:
            out.append(utterance_end(st.last_word_end))  # the gap was in audio the pump had not seen
        if st.last_word_end is not None and words[0].start_time >= st.last_word_end:
            st.last_word_end = None  # words after the last final: the gap is over
        if not st.speaking and st.query.get("vad_events"):
            out.append(
                {"type": "SpeechStarted", "channel": [0, 1], "timestamp": round(words[0].start_time, 3)}
            )
        st.speaking = True
        end = words[-1].end_time
        if not ev.is_final:
            if st.query.get("interim_results"):
                out.append(results(st, words, start=st.cursor, end=max(end, st.cursor), final=False))
            return out
        silence = UTTERANCE_END_S if self.config.recognizer == "oracle" else self.config.final_after
        # a Finalize at a position before the silence that would end the utterance made this final
        flushed = next((p for p in st.finalizes if end - 0.05 <= p < end + silence), None)
        st.finalizes = [p for p in st.finalizes if p > end + silence]
        stop = flushed if flushed is not None else end + silence
        speech_final = flushed is None and st.query.get("endpointing", 10) is not False
        out.append(
            results(
                st,
                words,
                start=st.cursor,
                end=max(stop, st.cursor),
                final=True,
                speech_final=speech_final,
                from_finalize=flushed is not None,
            )
        )
        st.cursor, st.last_word_end, st.speaking = max(stop, st.cursor), end, False
        return out

    def _utterance_end(self, ctx: SessionContext, st: _State) -> None:
        """``UtteranceEnd`` once the audio runs ``utterance_end_ms`` past the last final word (§5)."""
        gap = st.query.get("utterance_end_ms")
        if gap and st.last_word_end is not None and st.position >= st.last_word_end + gap / 1000:
            ctx.send(json.dumps(utterance_end(st.last_word_end)))
            st.last_word_end = None

    # -- the server-message faults' shapes (FaultPlan) ------------------------------------------

    def final_message(self, ctx: SessionContext, words: list[Word]) -> object | None:
        st: _State | None = ctx.record.state.get("deepgram")
        if st is None or not words:
            return None
        return results(
            st, words, start=words[0].start_time, end=words[-1].end_time, final=True, speech_final=True
        )

    def interim_message(self, ctx: SessionContext, words: list[Word]) -> object | None:
        st: _State | None = ctx.record.state.get("deepgram")
        if st is None or not words:
            return None
        return results(st, words, start=words[0].start_time, end=words[-1].end_time, final=False)

    def final_start(self, message: str) -> float | None:
        data = json.loads(message)
        if data.get("type") != "Results" or not data.get("is_final"):
            return None
        words = data["channel"]["alternatives"][0]["words"]
        return float(words[0]["start"]) if words else None

    def shift_final(self, message: str, seconds: float) -> str:
        data = json.loads(message)
        data["start"] = round(data["start"] + seconds, 3)
        for word in data["channel"]["alternatives"][0]["words"]:
            word["start"], word["end"] = (round(word[k] + seconds, 3) for k in ("start", "end"))
        return json.dumps(data)

    def error_message(self, ctx: SessionContext) -> object:
        return {"type": "Error", "variant": "InternalServerError", "description": "NET-0000: internal error"}

    async def on_client_close(self, ctx: SessionContext) -> None:
        st: _State | None = ctx.record.state.get("deepgram")
        if st is not None and st.rec is not None:
            await st.rec.aclose()
