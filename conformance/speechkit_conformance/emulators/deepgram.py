"""An emulator of Deepgram's live streaming WebSocket (``/v1/listen``), on the recognizing emulator.

It follows Deepgram's public API reference
(https://developers.deepgram.com/reference/speech-to-text/listen-streaming) and its feature pages
(endpointing, utterance end, finalize, close stream, keep alive), as the notes
``docs/protocols/deepgram.md`` §7.8 list what it does, each fact with its source:

* ``GET /v1/listen`` with ``Authorization: Token <key>`` (any case of ``Token``; ``Bearer`` for a
  temporary token); a bad or missing key is an HTTP 401 whose ``dg-error`` header and JSON body
  say why (§7.1, §7.7);
* the query, checked at the handshake (§7.2): ``model`` known (or a configured custom one),
  ``encoding`` known, ``sample_rate`` required with ``encoding``, booleans ``true``/``false``,
  ``endpointing`` an integer of ms or ``false``, ``utterance_end_ms`` an integer and only with
  ``interim_results=true``, ``keyterm`` only on Nova-3: else HTTP 400 with ``dg-error``;
* binary ``linear16`` or ``mulaw`` audio, ``channels`` mixed to mono; an empty binary frame is
  taken as ``CloseStream`` (§7.3);
* text messages (§7.4): ``KeepAlive`` resets the idle timer, ``Finalize`` finalises now (the
  final it caused carries ``from_finalize``), ``CloseStream`` sends the last results, a
  ``Metadata`` summary and closes 1000, ``Configure`` replaces the keyterms on Nova-3; anything
  else is an ``Error`` with variant ``SchemaError`` (§7.5.5);
* ``Results`` (§7.5.1): interims only with ``interim_results``; finals with ``speech_final`` when
  the recognizer ended the utterance on silence in the audio (unless ``endpointing=false``);
  ``UtteranceEnd`` when the recognizer saw ``utterance_end_ms`` of silence after words (§7.5.2);
  ``SpeechStarted`` with ``vad_events`` (§7.5.3). Every rule is on audio position, never wall time;
* 10 s without audio or ``KeepAlive`` closes 1011 with reason ``NET-0001`` (§7.6).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

import attrs
from aiohttp import web

from speechkit.events import SpeechEnded, Transcript, Word

from ..emulator import SessionContext, SessionRecord
from ..recognizers import Flushed, RecognizerEvent, RecognizerKind
from ..recognizing import RecognizingEmulator

MODELS = (
    *("nova-3", "nova-3-general", "nova-3-medical", "nova-2", "nova-2-general", "nova-2-meeting"),
    *("nova-2-finance", "nova-2-conversationalai", "nova-2-voicemail", "nova-2-video", "nova-2-medical"),
    *("nova-2-drivethru", "nova-2-automotive", "nova", "nova-general", "nova-phonecall", "nova-medical"),
    *("enhanced", "enhanced-general", "enhanced-meeting", "enhanced-phonecall", "enhanced-finance"),
    *("base", "meeting", "phonecall", "finance", "conversationalai", "voicemail", "video"),
)
"""``model`` values of the API reference (§7.2, DG-SPEC)."""
ENCODINGS = ("linear16", "flac", "mulaw", "alaw", "amr-nb", "amr-wb", "opus", "ogg-opus", "speex", "g729")
"""``encoding`` values (§7.2); only ``linear16`` and ``mulaw`` are decoded, the others recorded."""
_DECODED = {"linear16": "pcm_s16le", "mulaw": "mulaw"}
_BOOLS = {
    *("interim_results", "punctuate", "smart_format", "vad_events", "diarize", "multichannel"),
    *("numerals", "profanity_filter", "filler_words", "dictation", "no_delay", "mip_opt_out"),
}
_INTS = {"sample_rate", "channels", "utterance_end_ms"}
_CONTROL = ("KeepAlive", "Finalize", "CloseStream", "Configure")


@attrs.define(kw_only=True)
class DeepgramConfig:
    """How the emulated service behaves where the sources leave a choice (§7.8, the [I]/[?] items).

    Attributes:
        api_key: The key accepted as ``Token <key>``.
        recognizer: ``"oracle"`` (tone words) or ``"local"`` (Whisper tiny.en).
        tokens: Temporary tokens accepted as ``Bearer <token>``.
        custom_models: Model names accepted beyond :data:`MODELS` (a customer's own models).
        idle_timeout: Seconds without audio or ``KeepAlive`` before the close (10 s, §7.6).
        empty_frame_closes: An empty binary frame ends the stream as ``CloseStream`` does [?].
        utterance_end_needs_interims: ``utterance_end_ms`` without ``interim_results=true`` is a
            400 [?: the docs say it needs them, not what the server does without].
        final_after: Silence that ends an utterance for the local recognizer, seconds.
    """

    api_key: str = "deepgram-test-key"
    recognizer: RecognizerKind = "oracle"
    tokens: tuple[str, ...] = ("deepgram-test-token",)
    custom_models: tuple[str, ...] = ()
    idle_timeout: float = 10.0
    empty_frame_closes: bool = True
    utterance_end_needs_interims: bool = True
    final_after: float = 0.5


class QueryError(ValueError):
    """A query the service refuses at the handshake (HTTP 400 with ``dg-error``)."""


@attrs.define
class DeepgramSession:
    """One session: what its query asked for (§7.2), and where its results stand on the audio clock.

    Attributes:
        endpointing: ms of silence for ``speech_final``; False: off; None: Deepgram's default.
        utterance_end: ``utterance_end_ms`` in seconds; None: no ``UtteranceEnd``.
        flushes: ``Finalize`` (and ``CloseStream``) requests the recognizer has not answered yet.
        held: Recognizer events held while a flush is pending, so that the final it caused can
            carry ``from_finalize`` (the :class:`Flushed` marker comes after that final).
        cursor: End of the last final, seconds: where the next ``Results`` starts.
        last_word_end: End of the last final word no ``UtteranceEnd`` followed yet, seconds.
    """

    model: str = "base"
    encoding: str = "linear16"
    sample_rate: int = 16000
    channels: int = 1
    interim: bool = False
    punctuate: bool = False
    diarize: bool = False
    vad_events: bool = False
    endpointing: int | Literal[False] | None = None
    utterance_end: float | None = None
    keyterms: list[str] = attrs.field(factory=list)
    request_id: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    model_uuid: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    flushes: int = 0
    held: list[RecognizerEvent] = attrs.field(factory=list)
    cursor: float = 0.0
    last_word_end: float | None = None
    speaking: bool = False
    closing: bool = False


def parse_query(query: dict[str, str], keyterms: list[str], config: DeepgramConfig) -> DeepgramSession:
    """The session a query asks for, checked as the service checks it (§7.2).

    Args:
        query: The upgrade's query (last value of each parameter).
        keyterms: Every ``keyterm`` value (the parameter repeats).
        config: The emulator's config (custom models, the ``utterance_end_ms`` rule).

    Raises:
        QueryError: the reason, as ``dg-error`` says it.
    """
    values: dict[str, Any] = {}
    for key, raw in query.items():
        if key in _BOOLS:
            if raw.lower() not in ("true", "false"):
                raise QueryError(f"Invalid query string. Failed to parse {key}: expected true or false")
            values[key] = raw.lower() == "true"
        elif key in _INTS:
            if not raw.isdigit() or int(raw) <= 0:
                raise QueryError(f"Invalid query string. Failed to parse {key}: expected a positive integer")
            values[key] = int(raw)
        elif key == "endpointing" and raw.lower() != "false" and not raw.isdigit():
            raise QueryError("Invalid query string. endpointing must be an integer of ms or false")
    model = query.get("model", "base")
    if model not in MODELS and model not in config.custom_models:
        raise QueryError("No such model/language/tier combination found.")
    encoding = query.get("encoding")
    if encoding is not None and encoding not in ENCODINGS:
        raise QueryError(f"Invalid query string. Unknown encoding '{encoding}'")
    if encoding is not None and "sample_rate" not in values:
        raise QueryError("sample_rate is required when encoding is given")
    if keyterms and not model.startswith("nova-3"):
        raise QueryError("Keyterm Prompting is only available with Nova-3 models. Use keywords instead.")
    gap = values.get("utterance_end_ms")
    if gap and config.utterance_end_needs_interims and not values.get("interim_results"):
        raise QueryError("utterance_end_ms requires interim_results=true")
    endpointing = query.get("endpointing")
    return DeepgramSession(
        model, encoding or "linear16", values.get("sample_rate", 16000), values.get("channels", 1),
        interim=values.get("interim_results", False),
        punctuate=values.get("punctuate", False) or values.get("smart_format", False),
        diarize=values.get("diarize", False) or "diarize_model" in query,
        vad_events=values.get("vad_events", False),
        endpointing=None if endpointing is None else endpointing.isdigit() and int(endpointing),
        utterance_end=gap / 1000 if gap else None, keyterms=keyterms,
    )  # fmt: skip


def refusal(status: int, reason: str) -> web.Response:
    """A refused upgrade: ``dg-error`` and ``dg-request-id`` headers, the reason in the body too (§7.7)."""
    code = {400: "Bad Request", 401: "INVALID_AUTH", 403: "INSUFFICIENT_PERMISSIONS"}.get(status, "ERROR")
    request_id = str(uuid.uuid4())
    body = {"err_code": code, "err_msg": reason, "request_id": request_id}
    return web.json_response(body, status=status, headers={"dg-error": reason, "dg-request-id": request_id})


# -- the vendor's messages (§7.5) -----------------------------------------------------------------


def results(
    st: DeepgramSession, words: list[Word], *, start: float, end: float, final: bool,
    speech_final: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """A ``Results`` over ``[start, end]`` seconds of audio holding ``words`` (§7.5.1)."""
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
    return {
        "type": "Results", "channel_index": [0, 1], "duration": round(max(0.0, end - start), 3),
        "start": round(start, 3), "is_final": final, "speech_final": speech_final,
        "channel": {"alternatives": [{"transcript": transcript, "confidence": confidence, "words": items}]},
        "metadata": {"request_id": st.request_id, "model_uuid": st.model_uuid,
                     "model_info": {"name": st.model, "version": "emulated", "arch": st.model}},
    }  # fmt: skip


def metadata(st: DeepgramSession, record: SessionRecord) -> dict[str, Any]:
    """The summary ``Metadata`` after ``CloseStream`` (§7.5.4)."""
    created = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {
        "type": "Metadata", "transaction_key": "deprecated", "request_id": st.request_id,
        "sha256": hashlib.sha256(record.audio).hexdigest(), "created": created,
        "duration": round(record.audio_seconds, 3), "channels": st.channels,
    }  # fmt: skip


def configure_answer(st: DeepgramSession, msg: dict[str, Any]) -> dict[str, Any]:
    """``Configure`` replaces the keyterms on Nova-3; any other model refuses (§7.4, §7.5.5)."""
    if not st.model.startswith("nova-3"):
        said = "Only Nova-3 models take keyterm updates"
        return {"type": "ConfigureFailure", "request_id": st.request_id,
                "code": "CONFIGURE_KEYTERMS_NOT_SUPPORTED", "description": said}  # fmt: skip
    answer: dict[str, Any] = {"type": "ConfigureSuccess", "request_id": st.request_id}
    if isinstance(msg.get("keyterms"), list):
        st.keyterms = answer["keyterms"] = [str(t) for t in msg["keyterms"]]
    return answer


class DeepgramEmulator(RecognizingEmulator[DeepgramConfig, DeepgramSession]):
    """Deepgram's ``/v1/listen`` WebSocket on 127.0.0.1 (see the module docs)."""

    paths = ("/v1/listen",)
    config_type = DeepgramConfig
    error_close_code = 1011
    invalid_options: ClassVar[dict[str, Any]] = {"model": "nova-0"}  # parses; a 400 at the handshake (§7.7)

    def handshake(self, request: web.Request, record: SessionRecord) -> web.StreamResponse | None:
        scheme, _, credential = request.headers.get("Authorization", "").strip().partition(" ")
        key_ok = scheme.lower() == "token" and credential.strip() == self.config.api_key
        if not (key_ok or (scheme.lower() == "bearer" and credential.strip() in self.config.tokens)):
            return refusal(401, "Invalid credentials.")
        try:
            self._session_of(request)
        except QueryError as e:
            return refusal(400, str(e))
        return None

    def _session_of(self, request: web.Request) -> DeepgramSession:
        return parse_query(dict(request.query), request.query.getall("keyterm", []), self.config)

    async def open_session(self, ctx: SessionContext[DeepgramSession]) -> DeepgramSession:
        st = self._session_of(ctx.request)  # the handshake accepted this query
        if st.encoding in _DECODED:  # compressed audio is recorded, not transcribed
            self.start_recognizer(  # tiny.en: English whatever the language asked
                ctx, st.sample_rate, final_after=self.config.final_after, end_of_speech=st.utterance_end
            )
        ctx.limit(self.config.idle_timeout, lambda: self._idle(ctx, st), idle=True)
        return st

    def _idle(self, ctx: SessionContext[DeepgramSession], st: DeepgramSession) -> None:
        if not st.closing:
            ctx.close(1011, "NET-0001")  # §7.6

    # -- audio and control ----------------------------------------------------------------------

    async def on_binary(self, ctx: SessionContext[DeepgramSession], data: bytes) -> float:
        st = ctx.state
        if not data and self.config.empty_frame_closes:
            self._close_stream(ctx, st)
            return 0.0
        return self.push_audio(ctx, data, encoding=_DECODED.get(st.encoding, ""), channels=st.channels)

    async def on_text(self, ctx: SessionContext[DeepgramSession], text: str) -> None:
        st = ctx.state
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind not in _CONTROL:
            error = {"type": "Error", "variant": "SchemaError", "message": text[:200]}
            ctx.send(json.dumps(error | {"description": "Could not parse the client message."}))
        elif kind == "KeepAlive":  # audio and KeepAlive, nothing else, count against idle (§7.6)
            ctx.touch()
        elif kind == "Finalize":
            self._flush(ctx, st)
        elif kind == "CloseStream":
            self._close_stream(ctx, st)
        else:
            ctx.send(json.dumps(configure_answer(st, msg)))

    def _flush(self, ctx: SessionContext[DeepgramSession], st: DeepgramSession) -> None:
        if ctx.recognizer is not None and not st.closing:
            st.flushes += 1
            ctx.recognizer.flush()

    def _close_stream(self, ctx: SessionContext[DeepgramSession], st: DeepgramSession) -> None:
        """Every result for the audio received, the ``Metadata`` summary, close 1000 (§7.4)."""
        if st.closing:
            return
        self._flush(ctx, st)  # its final carries from_finalize, as a Finalize's does [I]
        st.closing = True

        def done() -> None:
            ctx.send(json.dumps(metadata(st, ctx.record)))
            ctx.close(1000)

        self.end_input(ctx, then=done)

    # -- results --------------------------------------------------------------------------------

    def on_event(self, ctx: SessionContext[DeepgramSession], event: RecognizerEvent) -> None:
        st = ctx.state
        if isinstance(event, Flushed):
            # the last final before the marker is the flush's own unless silence had ended it
            st.flushes, held, st.held = st.flushes - 1, st.held, []
            finals = [e for e in held if isinstance(e, Transcript) and e.is_final]
            caused = finals[-1] if finals and event.finalized else None
            for e in held:
                self._answer(ctx, st, e, flushed_at=event.position if e is caused else None)
        elif st.flushes:
            st.held.append(event)
        else:
            self._answer(ctx, st, event)

    def _answer(
        self,
        ctx: SessionContext[DeepgramSession],
        st: DeepgramSession,
        event: RecognizerEvent,
        flushed_at: float | None = None,
    ) -> None:
        """The messages of one recognizer event (§7.5), on the audio clock alone."""
        if isinstance(event, SpeechEnded) and st.utterance_end and st.last_word_end is not None:
            # the recognizer saw utterance_end_ms of silence after the last final word (§7.5.2)
            ended = {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": round(st.last_word_end, 3)}
            ctx.send(json.dumps(ended))
            st.last_word_end = None
        if not isinstance(event, Transcript):
            return
        words = list(event.words)
        if not words:
            return
        if not st.speaking and st.vad_events:
            started = {"type": "SpeechStarted", "channel": [0, 1], "timestamp": round(words[0].start_time, 3)}
            ctx.send(json.dumps(started))
        st.speaking = True
        end = max(words[-1].end_time, st.cursor)
        if not event.is_final:
            if st.interim:
                ctx.send(json.dumps(results(st, words, start=st.cursor, end=end, final=False)))
            return
        stop = max(flushed_at if flushed_at is not None else end, end)
        flushed = flushed_at is not None
        speech_final = not flushed and st.endpointing is not False
        message = results(st, words, start=st.cursor, end=stop, final=True, speech_final=speech_final)
        ctx.send(json.dumps(message | ({"from_finalize": True} if flushed else {})))
        st.cursor, st.last_word_end, st.speaking = stop, words[-1].end_time, False

    # -- the server-message faults' shapes (FaultPlan) ------------------------------------------

    def error_message(self, ctx: SessionContext[DeepgramSession]) -> object:
        return {"type": "Error", "variant": "InternalServerError", "description": "NET-0000: internal error"}

    def final_message(self, ctx: SessionContext[DeepgramSession], words: list[Word]) -> object | None:
        w = words
        return results(ctx.state, w, start=w[0].start_time, end=w[-1].end_time, final=True, speech_final=True)

    def interim_message(self, ctx: SessionContext[DeepgramSession], words: list[Word]) -> object | None:
        return results(ctx.state, words, start=words[0].start_time, end=words[-1].end_time, final=False)

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
