"""An emulator of AssemblyAI's Universal Streaming v3 WebSocket, as AssemblyAI's streaming docs
describe it (https://www.assemblyai.com/docs/api-reference/streaming-api/universal-streaming); the
fact-by-fact sources are in ``docs/protocols/assemblyai.md`` (§2; a bare §N.M below is in that
file, source keys such as AAI-SDK in ``docs/protocols/sources.md``).

What it enforces and does (§2.12):

* ``GET /v3/ws`` with the raw key in ``Authorization`` (``Bearer <key>`` accepted too) or a
  temporary ``?token=`` (§2.1). A bad or missing credential upgrades, sends an ``Error`` and
  closes 1008 (or, with ``auth_failure="http"``, refuses with HTTP 401) (§2.9);
* the query (§2.2): booleans in any case (the SDK sends ``True``), JSON lists for
  ``keyterms_prompt``/``language_codes``, numbers checked; a missing or unknown
  ``speech_model``, a PCM encoding without a positive ``sample_rate`` or a malformed value is
  an ``Error`` 3006 and close 3006. Unknown parameters are ignored and recorded (§2.2);
* ``Begin`` right after the upgrade: a UUID ``id``, ``expires_at`` (Unix seconds) and the
  echoed ``configuration`` (§2.5);
* binary audio only; each frame must hold 50-1000 ms (``pcm_s16le``: 2 bytes a sample,
  ``pcm_mulaw``: 1), else ``Error`` 3007 "Input duration violation" and close 3007 (§2.3);
* text messages (§2.4): ``UpdateConfiguration`` is applied silently (and recorded),
  ``ForceEndpoint`` ends the turn now, ``KeepAlive`` resets the inactivity timer,
  ``Terminate`` flushes the turns, sends ``Termination`` (integer seconds) and closes 1000
  (§2.7); invalid JSON or an unknown type is ``Error`` 3006 and close 3006;
* ``Turn`` messages (§2.5): Universal-Streaming models send a partial per word (``transcript``
  holds the finalised words; ``words`` adds the non-final one), one unformatted end of turn,
  and with ``format_turns`` its formatted twin (same ``turn_order``); the U3 Pro family sends
  ``SpeechStarted`` first and formatted finals with ``utterance == transcript``;
  ``language_code`` with ``language_detection``, ``speaker_label`` with ``speaker_labels``;
* timers: ``inactivity_timeout`` (``Error`` + close ``idle_close_code``, [?]) and the session
  expiry (``Error`` 3008, close 3008) (§2.8, §2.10).

Behind the turns sits the oracle recognizer (tone words), or with ``recognizer="local"`` the
local provider's Whisper engine. Faults come from the framework's :class:`FaultPlan`.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any, Literal

import attrs
from aiohttp import web

from speechkit.events import Transcript, Word

from ..emulator import SessionContext, SessionRecord
from ..recognizers import RecognizerEvent, RecognizerKind
from ..recognizing import RecognizingEmulator

MODELS = (
    *("universal-streaming-english", "universal-streaming-multilingual", "u3-rt-pro", "u3-rt-pro-beta-1"),
    *("universal-3-5-pro", "universal-3-6", "universal-3-6-pro", "whisper-rt", "u3-pro"),
)
"""``speech_model`` values the service knows (§2.2, AAI-SDK ``SpeechModel``)."""
ENCODINGS = ("pcm_s16le", "pcm_mulaw", "opus", "ogg_opus", "aac")
"""``encoding`` values (§2.2); only the PCM ones are decoded, the others are recorded."""
UPDATABLE = frozenset(
    {
        *("end_of_turn_confidence_threshold", "min_turn_silence", "max_turn_silence", "vad_threshold"),
        *("format_turns", "keyterms_prompt", "filter_profanity", "prompt", "agent_context"),
        *("interruption_delay", "turn_left_pad_ms", "language_codes", "session_heartbeat"),
        *("acknowledge_silence", "min_end_of_turn_silence_when_confident"),
    }
)
"""Fields an ``UpdateConfiguration`` may carry (§2.4, AAI-SDK ``RealTimeSessionParameters``)."""
_BOOLS = {
    *("format_turns", "language_detection", "speaker_labels", "continuous_partials", "filter_profanity"),
    *("redact_pii", "session_heartbeat", "acknowledge_silence", "include_partial_turns"),
}
_INTS = {"sample_rate", "min_turn_silence", "max_turn_silence", "inactivity_timeout", "max_speakers"}
_INTS |= {"interruption_delay", "previous_context_n_turns", "min_end_of_turn_silence_when_confident"}
_FLOATS = {"end_of_turn_confidence_threshold", "vad_threshold", "voice_focus_threshold"}
_LISTS = {"keyterms_prompt", "language_codes", "redact_pii_policies"}


@attrs.define(kw_only=True)
class AssemblyAIConfig:
    """How the emulated service behaves where the sources leave a choice (§2, [I]/[?] items).

    Attributes:
        api_key: The key accepted in ``Authorization``.
        tokens: Temporary tokens accepted (as ``?token=`` or in ``Authorization``).
        single_use_tokens: A token opens one session only (§2.1); a second use is refused.
        auth_failure: ``"close"``: upgrade, ``Error`` 1008, close 1008 (seen in practice);
            ``"http"``: HTTP 401 at the handshake.
        require_speech_model: A missing ``speech_model`` is an error 3006 (the docs: required) [I].
        strict_chunks: Enforce the 50-1000 ms frame duration (3007).
        max_session_duration: Seconds until ``expires_at`` (3 h; tokens may set less).
        formatted_twins: Send the formatted end of turn when ``format_turns`` is on; False
            reproduces pitfall §2.11.2 (it never comes).
        idle_close_code: Close code of ``inactivity_timeout`` (undocumented for v3, §2.8) [?].
        max_realtime_factor: Refuse audio arriving faster than this multiple of real time
            (after a one-second allowance) with 3007 "Audio Transmission Rate Exceeded" (§2.3);
            None (default) accepts any pace. The docs give no threshold [?].
        recognizer: ``"oracle"`` (tone words) or ``"local"`` (Whisper tiny.en, 16 kHz).
        final_after: Silence that ends a turn for the local recognizer, seconds.
    """

    api_key: str = "assemblyai-test-key"
    tokens: tuple[str, ...] = ("assemblyai-test-token",)
    single_use_tokens: bool = True
    auth_failure: Literal["close", "http"] = "close"
    require_speech_model: bool = True
    strict_chunks: bool = True
    max_session_duration: float = 10800.0
    formatted_twins: bool = True
    idle_close_code: int = 3005
    max_realtime_factor: float | None = None
    recognizer: RecognizerKind = "oracle"
    final_after: float = 0.5


class QueryError(ValueError):
    """A query parameter the service refuses (an ``Error`` 3006)."""


def parse_query(query: dict[str, str]) -> dict[str, Any]:
    """Typed values of the known parameters; unknown ones pass as strings (§2.2).

    Raises:
        QueryError: a boolean, number or JSON list that does not parse.
    """
    out: dict[str, Any] = dict(query)
    for key, raw in query.items():
        try:
            if key in _BOOLS:
                if raw.lower() not in ("true", "false"):
                    raise ValueError
                out[key] = raw.lower() == "true"
            elif key in _INTS:
                out[key] = int(raw)
            elif key in _FLOATS:
                out[key] = float(raw)
            elif key in _LISTS:
                out[key] = json.loads(raw)
                if not isinstance(out[key], list):
                    raise ValueError
        except ValueError:
            raise QueryError(f"Input validation error: invalid value for '{key}'") from None
    return out


def error(code: int, text: str) -> str:
    """An ``Error`` message; ``error_code`` equals the close code that follows (§2.5)."""
    return json.dumps({"type": "Error", "error_code": code, "error": text})


def _plain(text: str) -> str:
    """A word as unformatted turns spell it: lower case, no punctuation."""
    return re.sub(r"[^\w' ]+", "", text).lower()


def _formatted(text: str) -> str:
    """A turn as formatted turns spell it: capitalised, ending in punctuation (the recognizer's own
    casing and punctuation kept)."""
    text = text[:1].upper() + text[1:]
    return text if not text or text[-1] in ".?!" else text + "."


@attrs.define
class AssemblyAISession:
    """One session's state (``emulator.sessions[i].state``).

    Attributes:
        config: The query, typed (:func:`parse_query`), with every ``UpdateConfiguration`` applied.
        sample_rate: ``sample_rate``, Hz.
        encoding: ``encoding``.
        id: The session id ``Begin`` gave.
        updates: Each ``UpdateConfiguration``'s known fields, in order.
    """

    config: dict[str, Any]
    sample_rate: int
    encoding: str
    id: str = attrs.field(factory=lambda: str(uuid.uuid4()))
    updates: list[dict[str, Any]] = attrs.field(factory=list)
    turn_order: int = 0
    turn_open: bool = False
    terminating: bool = False


class AssemblyAIEmulator(RecognizingEmulator[AssemblyAIConfig, AssemblyAISession]):
    """AssemblyAI's v3 streaming WebSocket on 127.0.0.1 (see the module docs).

    Args:
        config: Behaviour where the sources leave a choice.
        faults: What to do wrong.
        port: 0 for an ephemeral port.
    """

    paths = ("/v3/ws",)
    config_type = AssemblyAIConfig
    error_close_code = 3005

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._redeemed: set[str] = set()

    # -- handshake and query ----------------------------------------------------------------

    def handshake(self, request: web.Request, record: SessionRecord) -> web.StreamResponse | None:
        auth = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        token = request.query.get("token") or (auth if auth in self.config.tokens else None)
        if auth == self.config.api_key or (token in self.config.tokens and token not in self._redeemed):
            if token and self.config.single_use_tokens:
                self._redeemed.add(token)  # a temporary token opens one session (§2.1)
            return None
        if self.config.auth_failure == "http":
            return web.json_response({"error": "Unauthorized"}, status=401)
        record.refusal = "Missing Authorization header" if not (auth or token) else "Invalid API key"
        return None

    async def open_session(self, ctx: SessionContext[AssemblyAISession]) -> AssemblyAISession | None:
        if why := ctx.record.refusal:
            return self._fail(ctx, 1008, f"Unauthorized Connection: {why}")
        try:
            q = parse_query(ctx.record.query)
        except QueryError as e:
            return self._fail(ctx, 3006, str(e))
        model = q.get("speech_model")
        if model is None and self.config.require_speech_model:
            return self._fail(ctx, 3006, "Input validation error: speech_model is required")
        if model is not None and model not in MODELS:
            return self._fail(ctx, 3006, f"Input validation error: unknown speech_model '{model}'")
        encoding = q.get("encoding", "pcm_s16le")
        if encoding not in ENCODINGS:
            return self._fail(ctx, 3006, f"Input validation error: unknown encoding '{encoding}'")
        rate = q.get("sample_rate", 16000)
        if encoding.startswith("pcm") and rate <= 0:
            return self._fail(ctx, 3006, "Input validation error: sample_rate must be a positive integer")
        st = AssemblyAISession(q, rate, encoding)
        expires = int(time.time() + self.config.max_session_duration)
        configuration = {"model": model or "universal-streaming-english", "api_version": "1.0.0"}
        if self._u3(st):
            configuration["mode"] = q.get("mode", "balanced")
        begin = {"type": "Begin", "id": st.id, "expires_at": expires, "configuration": configuration}
        ctx.send(json.dumps(begin))
        if encoding.startswith("pcm"):  # tiny.en: English whatever language_codes say
            self.start_recognizer(ctx, rate, final_after=self.config.final_after)
        # a terminating session has no limits left (§2.8, §2.10)
        expired = "Session Expired: Maximum session duration exceeded"
        ctx.limit(expires - time.time(), lambda: st.terminating or self._fail(ctx, 3008, expired))
        idle = q.get("inactivity_timeout")
        idled = "Session idle for too long"
        code = self.config.idle_close_code
        ctx.limit(
            idle if isinstance(idle, int) else None,
            lambda: st.terminating or self._fail(ctx, code, idled),
            idle=True,
        )
        return st

    def _fail(self, ctx: SessionContext[AssemblyAISession], code: int, text: str) -> None:
        ctx.fail(error(code, text), code)

    @staticmethod
    def _u3(st: AssemblyAISession) -> bool:
        model = str(st.config.get("speech_model", ""))
        return model.startswith(("u3", "universal-3"))

    @staticmethod
    def _language(st: AssemblyAISession) -> str:
        codes = st.config.get("language_codes") or ["en"]
        return str(codes[0]) if codes[0] != "multi" else "en"

    # -- audio and control ----------------------------------------------------------------------

    async def on_binary(self, ctx: SessionContext[AssemblyAISession], data: bytes) -> float:
        st = ctx.state
        if st.terminating or ctx.ended.is_set():
            return 0.0
        if not st.encoding.startswith("pcm"):
            return 0.0  # compressed audio is recorded, not decoded
        width = 2 if st.encoding == "pcm_s16le" else 1
        ms = len(data) / width / st.sample_rate * 1000
        if self.config.strict_chunks and not 50 - 1e-6 <= ms <= 1000 + 1e-6:
            self._fail(ctx, 3007, f"Input duration violation: {ms:.0f} ms. Expected between 50 and 1000 ms")
            st.terminating = True
            return 0.0
        elapsed = time.monotonic() - ctx.record.started
        sent = ctx.record.audio_seconds + ms / 1000
        if (factor := self.config.max_realtime_factor) is not None and sent > factor * elapsed + 1.0:
            text = f"Audio Transmission Rate Exceeded: Received {sent:.1f} sec. audio in {elapsed:.1f} sec"
            self._fail(ctx, 3007, text)
            st.terminating = True
            return 0.0
        return self.push_audio(ctx, data, encoding="mulaw" if width == 1 else "pcm_s16le")

    async def on_text(self, ctx: SessionContext[AssemblyAISession], text: str) -> None:
        st = ctx.state
        ctx.touch()
        try:
            msg = json.loads(text)
        except ValueError:
            self._fail(ctx, 3006, "Invalid JSON: could not parse the message")
            return
        kind = msg.get("type") if isinstance(msg, dict) else None
        if kind == "UpdateConfiguration":
            fields = {k: v for k, v in msg.items() if k in UPDATABLE}
            st.updates.append(fields)
            st.config.update(fields)
        elif kind == "ForceEndpoint":
            if ctx.recognizer is not None:
                ctx.recognizer.flush()
        elif kind == "KeepAlive":
            pass
        elif kind == "Terminate":
            if not st.terminating:
                st.terminating = True
                self.end_input(ctx, then=lambda: self._terminated(ctx))
        else:
            self._fail(ctx, 3006, f"Invalid Message Type: {kind if isinstance(kind, str) else 'missing'}")

    def _terminated(self, ctx: SessionContext[AssemblyAISession]) -> None:
        """After the last turn: ``Termination`` (integer seconds), then close 1000 (§2.7)."""
        termination = {
            "type": "Termination",
            "audio_duration_seconds": round(ctx.record.audio_seconds),
            "session_duration_seconds": round(time.monotonic() - ctx.record.started),
        }
        ctx.send(json.dumps(termination))
        ctx.close(1000)

    # -- turns ----------------------------------------------------------------------------------

    def on_event(self, ctx: SessionContext[AssemblyAISession], event: RecognizerEvent) -> None:
        if isinstance(event, Transcript) and event.text.strip():
            for message in self.turn_messages(ctx.state, event):
                ctx.send(json.dumps(message))

    def turn_messages(self, st: AssemblyAISession, ev: Transcript) -> list[dict[str, Any]]:
        """The messages one recognizer transcript becomes under the session's model (§2.5)."""
        u3, cfg = self._u3(st), st.config
        words = [w for w in (list(ev.words) or self._spread(ev)) if _plain(w.text)]
        plain = [attrs.evolve(w, text=_plain(w.text)) for w in words]
        out: list[dict[str, Any]] = []
        if not words:
            return out
        if not st.turn_open and u3:
            start = round(words[0].start_time * 1000)
            out.append({"type": "SpeechStarted", "timestamp": start, "confidence": 0.9})
        st.turn_open = True
        if not ev.is_final:
            final = [w.text for w in plain[:-1]]
            transcript = " ".join(w.text for w in plain) if u3 else " ".join(final)
            out.append(self._turn(st, plain, transcript, end=False, formatted=False, tail=not u3))
            return out
        text = _formatted(" ".join(w.text for w in words))
        if u3:
            out.append(self._turn(st, words, text, end=True, formatted=True, utterance=True))
        else:
            out.append(self._turn(st, plain, " ".join(w.text for w in plain), end=True, formatted=False))
            if cfg.get("format_turns") and self.config.formatted_twins:
                out.append(self._turn(st, words, text, end=True, formatted=True))
        st.turn_order += 1
        st.turn_open = False
        return out

    @staticmethod
    def _spread(ev: Transcript) -> list[Word]:
        """Word timings for a transcript that has none: its span shared evenly."""
        texts = ev.text.split()
        start = ev.start_time or 0.0
        step = max(0.0, ((ev.end_time or start) - start) / len(texts))
        return [Word(t, start + i * step, start + (i + 1) * step, ev.confidence) for i, t in enumerate(texts)]

    def _turn(
        self,
        st: AssemblyAISession,
        words: list[Word],
        transcript: str,
        *,
        end: bool,
        formatted: bool,
        tail: bool = False,
        utterance: bool = False,
    ) -> dict[str, Any]:
        cfg = st.config
        texts = [w.text for w in words]
        if formatted:
            texts = _formatted(" ".join(texts)).split(" ")
        wire_words = []
        for i, (w, text) in enumerate(zip(words, texts, strict=True)):
            item: dict[str, Any] = {
                "start": round(w.start_time * 1000),
                "end": round(w.end_time * 1000),
                "text": text,
                "confidence": round(w.confidence if w.confidence else 0.9, 6),
                "word_is_final": end or not (tail and i == len(words) - 1),
            }
            if cfg.get("speaker_labels"):
                item["speaker"] = "A"
            wire_words.append(item)
        message: dict[str, Any] = {
            "type": "Turn",
            "turn_order": st.turn_order,
            "turn_is_formatted": formatted,
            "end_of_turn": end,
            "transcript": transcript,
            "end_of_turn_confidence": 0.95 if end else 0.02,
            "utterance": transcript if utterance else "",
            "words": wire_words,
        }
        if cfg.get("language_detection"):
            message |= {"language_code": self._language(st), "language_confidence": 0.98}
        if cfg.get("speaker_labels"):
            message["speaker_label"] = "A"
        return message

    # -- the server-message faults' shapes (FaultPlan) ------------------------------------------

    def final_message(self, ctx: SessionContext[AssemblyAISession], words: list[Word]) -> object | None:
        st = ctx.state
        turn = self._turn(st, words, " ".join(w.text for w in words), end=True, formatted=False)
        st.turn_order += 1
        return turn

    def interim_message(self, ctx: SessionContext[AssemblyAISession], words: list[Word]) -> object | None:
        st = ctx.state
        text = " ".join(w.text for w in words[:-1])  # the finalised words; ``words`` adds the last
        return self._turn(st, words, text, end=False, formatted=False, tail=True)

    def final_start(self, message: str) -> float | None:
        data = json.loads(message)
        if data.get("type") != "Turn" or not data.get("end_of_turn") or not data.get("words"):
            return None
        return float(data["words"][0]["start"]) / 1000

    def shift_final(self, message: str, seconds: float) -> str:
        data = json.loads(message)
        for word in data["words"]:  # integer milliseconds (§2.5)
            word["start"], word["end"] = (round(word[k] + seconds * 1000) for k in ("start", "end"))
        return json.dumps(data)

    def error_message(self, ctx: SessionContext[AssemblyAISession]) -> object:
        return {"type": "Error", "error_code": 3005, "error": "Session Cancelled: An error occurred"}
