"""Small fake providers for the core's tests: an in-process one and a WebSocket one
served by a real aiohttp server on 127.0.0.1.

Audio convention ("level words"): a word is a run of constant samples at level
``k * 1000`` (k = 1..20) lasting at least 60 ms; 40 ms of silence separates words,
300 ms of silence ends an utterance. The recogniser reports word ``wk``. Resampling
keeps the level of a constant run (edges aside), so lost, duplicated or reordered
audio shows up as lost, duplicated or reordered words.
"""

from __future__ import annotations

import asyncio
import json
import wave
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np
from aiohttp import WSMsgType, web
from livekit import rtc
from speechkit_conformance.recognizers import SyncRecognizer

import speechkit
from speechkit import Capabilities, ProviderOptions, Session
from speechkit.errors import APIError
from speechkit.events import Finished, ProviderEvent, SpeechEnded, SpeechStarted, Transcript, Word

RATE = 16000
WORD_S = 0.12
GAP_S = 0.06
PAUSE_S = 0.4


def speech(utterances: Sequence[Sequence[int]], rate: int = RATE, lead: float = 0.1) -> np.ndarray:
    """PCM s16le samples for utterances of level words, with pauses between utterances."""
    parts = [np.zeros(int(lead * rate), np.int16)]
    for utt in utterances:
        for k in utt:
            parts.append(np.full(int(WORD_S * rate), k * 1000, np.int16))
            parts.append(np.zeros(int(GAP_S * rate), np.int16))
        parts.append(np.zeros(int(PAUSE_S * rate), np.int16))
    return np.concatenate(parts)


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    """``samples`` (mono, int16) as a PCM s16le WAV file at ``path``, copied to ``channels``."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(samples, channels).astype(np.int16).tobytes())
    return path


def frames(samples: np.ndarray, rate: int = RATE, size: int = 320, channels: int = 1) -> list[rtc.AudioFrame]:
    """Cut samples into frames of ``size`` samples (the last may be shorter)."""
    out = []
    for i in range(0, len(samples), size):
        part = samples[i : i + size]
        data = np.repeat(part, channels) if channels > 1 else part
        out.append(rtc.AudioFrame(data.astype(np.int16).tobytes(), rate, channels, len(part)))
    return out


class LevelRecognizer(SyncRecognizer):
    """Deterministic recogniser of level words; times in seconds from its first sample. A
    :class:`~speechkit_conformance.recognizers.Recognizer` (through ``SyncRecognizer``)."""

    def __init__(self, rate: int = RATE, interim: bool = True) -> None:
        super().__init__(rate)
        self.rate = rate
        self.interim = interim
        self.pos = 0  # samples seen
        self.run_levels: dict[int, int] = {}
        self.run_len = 0
        self.run_start = 0
        self.silence = 0
        self.words: list[Word] = []  # current utterance
        self.in_speech = False

    def feed(self, pcm: bytes) -> list[ProviderEvent]:
        out: list[ProviderEvent] = []
        for s in np.frombuffer(pcm, np.int16):
            level = round(abs(int(s)) / 1000)
            if level:
                if not self.in_speech:
                    self.in_speech = True
                    out.append(SpeechStarted(self.pos / self.rate))
                if self.run_len == 0:
                    self.run_start = self.pos
                self.run_len += 1
                self.run_levels[level] = self.run_levels.get(level, 0) + 1  # edges ring; the mode wins
                self.silence = 0
            else:
                if self.run_len:
                    self._end_word(out)
                self.silence += 1
                if self.in_speech and self.silence >= int(0.3 * self.rate):
                    out.extend(self.finalize())
            self.pos += 1
        return out

    def _end_word(self, out: list[ProviderEvent]) -> None:
        if self.run_len >= int(0.06 * self.rate):
            start = self.run_start / self.rate
            level = max(self.run_levels, key=self.run_levels.__getitem__)
            self.words.append(Word(f"w{level}", start, self.pos / self.rate))
            if self.interim:
                out.append(
                    Transcript(
                        " ".join(w.text for w in self.words),
                        False,
                        self.words[0].start_time,
                        self.words[-1].end_time,
                    )
                )
        self.run_len = 0
        self.run_levels = {}

    def finalize(self) -> list[ProviderEvent]:
        out: list[ProviderEvent] = []
        if self.run_len:
            self._end_word(out)
        if self.words:
            out.append(
                Transcript(
                    " ".join(w.text for w in self.words),
                    True,
                    self.words[0].start_time,
                    self.words[-1].end_time,
                    confidence=1.0,
                    words=tuple(self.words),
                    end_of_utterance=True,
                )
            )
        if self.in_speech:
            out.append(SpeechEnded(self.pos / self.rate))
        self.words = []
        self.in_speech = False
        return out


FLUSH = object()
END = object()


@attrs.frozen(kw_only=True)
class FakeOptions(ProviderOptions):
    model: str = "level"
    interim_results: bool = True
    fail_connects: int = 0  # refuse this many connects (retryable)
    auth_fail: bool = False  # refuse every connect (not retryable)
    drop_after: float = 0.0  # drop the first connection after this many seconds of audio
    retry_after: float = 0.0


class InProcessConnection:
    def __init__(self, provider: FakeProvider) -> None:
        self.provider = provider
        self.rec = LevelRecognizer(interim=provider.options.interim_results)
        self.out: asyncio.Queue[ProviderEvent | None] = asyncio.Queue()
        self.closed = False

    async def send(self, message: object) -> None:
        self.provider.received.append(message)
        if isinstance(message, str):  # control text (keep-alive): nothing to recognise
            return
        if message is FLUSH:
            events: list[ProviderEvent] = self.rec.finalize()
        elif message is END:
            events = [*self.rec.finalize(), Finished()]
        else:
            assert isinstance(message, bytes)
            events = self.rec.feed(message)
            drop = self.provider.options.drop_after
            if drop and self.provider.connects == 1 and self.rec.pos / RATE >= drop:
                self.out.put_nowait(None)
                raise speechkit.ServerError("fake: connection dropped", status_code=1006)
        for ev in events:
            self.out.put_nowait(ev)

    async def receive(self) -> object | None:
        ev = await self.out.get()
        if ev is None:
            raise speechkit.ServerError("fake: connection dropped", status_code=1006)
        return ev

    async def aclose(self) -> None:
        self.closed = True


class FakeProvider(speechkit.Provider[FakeOptions]):
    """In-process provider over :class:`LevelRecognizer`, with scripted failures."""

    name: ClassVar[str] = "fake"
    options_class = FakeOptions
    capabilities = Capabilities(
        interim_results=True, word_timestamps=True, flush=True, end_of_utterance=True, needs_network=False
    )
    chunk_duration = 0.05

    def __init__(self, options: FakeOptions) -> None:
        super().__init__(options)
        self.connects = 0
        self.received: list[object] = []

    async def connect(self, session: Session) -> InProcessConnection:
        self.connects += 1
        if self.options.auth_fail:
            raise speechkit.AuthenticationError("fake refused the credentials; set FAKE_API_KEY")
        if self.connects <= self.options.fail_connects:
            if self.options.retry_after:
                raise speechkit.RateLimitError(
                    "fake: too many sessions", retry_after=self.options.retry_after
                )
            raise speechkit.ServerError("fake: 503", status_code=503)
        return InProcessConnection(self)

    def flush_message(self, session: Session) -> object:
        return FLUSH

    def end_of_input_message(self, session: Session) -> object:
        return END

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        assert isinstance(message, (Transcript, SpeechStarted, SpeechEnded, Finished))
        return [message]

    def audio_bytes(self) -> bytes:
        return b"".join(m for m in self.received if isinstance(m, bytes))


class UntimedProvider(FakeProvider):
    """The fake without times or confidence, as Telnyx sends its finals."""

    name: ClassVar[str] = "untimed"
    capabilities = Capabilities(interim_results=True, end_of_utterance=True, needs_network=False)

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        if isinstance(message, Transcript):
            return [attrs.evolve(message, start_time=None, end_time=None, words=(), confidence=None)]
        return super().parse(message, session)


# -- a WebSocket flavour, served by a real aiohttp server on 127.0.0.1 -------------------


@attrs.frozen(kw_only=True)
class WSOptions(ProviderOptions):
    model: str = "level"
    base_url: str | None = None


class WSProvider(speechkit.Provider[WSOptions]):
    """JSON-over-WebSocket flavour of the fake, for the core's transport paths."""

    name: ClassVar[str] = "fakews"
    options_class = WSOptions
    capabilities = Capabilities(interim_results=True, word_timestamps=True, end_of_utterance=True)
    credential_env = "FAKEWS_API_KEY"
    drain_timeout = 2.0

    def url(self, session: Session) -> str:
        return f"{self.options.base_url}/listen"

    def headers(self, session: Session) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def end_of_input_message(self, session: Session) -> str:
        return json.dumps({"type": "end"})

    def parse(self, message: object, session: Session) -> Iterable[ProviderEvent]:
        data = json.loads(str(message))
        if "error" in data:
            raise APIError(f"fakews error: {data['error']}", retryable=bool(data.get("retryable")))
        if data["type"] == "final":
            yield Transcript(data["text"], True, data["start"], data["end"], end_of_utterance=True)
        elif data["type"] == "interim":
            yield Transcript(data["text"], False, data["start"], data["end"])
        elif data["type"] == "done":
            yield Finished()


@attrs.define
class WSServerPlan:
    status: int | None = None  # refuse the handshake with this status
    retry_after: str | None = None
    error_frame: dict[str, Any] | None = None
    close_code: int | None = None  # close with this code after the first audio
    refuse_first: int = 0  # refuse this many handshakes with 503
    connects: int = 0
    audio: bytearray = attrs.field(factory=bytearray)


async def start_ws_server(plan: WSServerPlan) -> tuple[web.AppRunner, str]:
    async def handler(request: web.Request) -> web.StreamResponse:
        plan.connects += 1
        if request.headers.get("Authorization") != "Bearer good":
            return web.Response(status=401, text="bad key")
        if plan.status or plan.connects <= plan.refuse_first:
            headers = {"Retry-After": plan.retry_after} if plan.retry_after else {}
            return web.Response(status=plan.status or 503, headers=headers)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        rec = LevelRecognizer()
        async for msg in ws:
            if msg.type == WSMsgType.BINARY:
                plan.audio.extend(msg.data)
                if plan.error_frame:
                    await ws.send_str(json.dumps(plan.error_frame))
                    await ws.close(code=1008)
                    break
                if plan.close_code:
                    await ws.close(code=plan.close_code)
                    break
                events = rec.feed(msg.data)
            elif msg.type == WSMsgType.TEXT:
                events = [*rec.finalize(), Finished()]
            else:
                break
            for ev in events:
                if isinstance(ev, Transcript):
                    kind = "final" if ev.is_final else "interim"
                    await ws.send_str(
                        json.dumps(
                            {"type": kind, "text": ev.text, "start": ev.start_time, "end": ev.end_time}
                        )
                    )
                elif isinstance(ev, Finished):
                    await ws.send_str(json.dumps({"type": "done"}))
                    await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/listen", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


class _NullConnection:
    def __init__(self, provider: NullProvider) -> None:
        self.provider = provider
        self.out: asyncio.Queue[ProviderEvent] = asyncio.Queue()

    async def send(self, message: object) -> None:
        if isinstance(message, bytes):
            self.provider.bytes_received += len(message)
        elif message is END:
            self.out.put_nowait(Finished())

    async def receive(self) -> object | None:
        return await self.out.get()

    async def aclose(self) -> None:
        pass


class NullProvider(FakeProvider):
    """Recognises nothing and keeps nothing, only counts the audio bytes it is sent: for
    inputs too long for the level recogniser (hours)."""

    name: ClassVar[str] = "null"
    chunk_duration = 0.1

    def __init__(self, options: FakeOptions) -> None:
        super().__init__(options)
        self.bytes_received = 0

    async def connect(self, session: Session) -> _NullConnection:  # type: ignore[override]
        self.connects += 1
        return _NullConnection(self)
