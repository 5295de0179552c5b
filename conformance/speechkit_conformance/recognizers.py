"""The recognizers behind the emulators, both with the local engine's streaming API
(``push``/``flush``/``end_input``, then ``events()`` until :class:`~speechkit.events.Finished`):

* :class:`OracleSession`: the deterministic :mod:`oracle <speechkit_conformance.oracle>` (tone words);
* :class:`LocalSession`: the local provider's Whisper engine (real speech).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from speechkit.events import Finished

from .oracle import OracleRecognizer


class OracleSession:
    """The oracle behind the streaming-recognizer API of the local engine."""

    def __init__(self, rate: int) -> None:
        self._rec = OracleRecognizer(rate, interim_results=True)
        self._queue: asyncio.Queue[object] = asyncio.Queue()

    def push(self, pcm: bytes) -> None:
        for ev in self._rec.feed(pcm):
            self._queue.put_nowait(ev)

    def flush(self) -> None:
        for ev in self._rec.finalize():
            self._queue.put_nowait(ev)

    def end_input(self) -> None:
        self.flush()
        self._queue.put_nowait(Finished())

    async def events(self) -> AsyncIterator[object]:
        while not isinstance(ev := await self._queue.get(), Finished):
            yield ev
        yield ev

    async def aclose(self) -> None:
        return None


class LocalSession:
    """The local provider's Whisper engine (16 kHz only: other rates are resampled)."""

    def __init__(self, rate: int, language: str, final_after: float) -> None:
        from livekit import rtc
        from speechkit_providers.local.models import SharedModel, resolve_model_path
        from speechkit_providers.local.recognizer import StreamingRecognizer

        model = SharedModel.get(resolve_model_path("tiny.en"))
        self._rec = StreamingRecognizer(model, language=language, min_silence=final_after)
        self._rate = rate
        self._resampler = rtc.AudioResampler(rate, 16000) if rate != 16000 else None

    def push(self, pcm: bytes) -> None:
        if self._resampler is None:
            self._rec.push(pcm)
            return
        from livekit import rtc

        for frame in self._resampler.push(rtc.AudioFrame(pcm, self._rate, 1, len(pcm) // 2)):
            self._rec.push(bytes(frame.data))

    def flush(self) -> None:
        self._rec.flush()

    def end_input(self) -> None:
        for frame in self._resampler.flush() if self._resampler is not None else ():
            self._rec.push(bytes(frame.data))  # the resampler's last samples
        self._rec.end_input()

    async def events(self) -> AsyncIterator[object]:
        async for ev in self._rec.events():
            yield ev

    async def aclose(self) -> None:
        await self._rec.aclose()
