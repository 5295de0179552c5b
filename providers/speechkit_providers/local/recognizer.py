"""Streaming recognition of the ``local`` provider: :class:`StreamingRecognizer`, one session.

Audio (s16le mono 16 kHz) is pushed from the asyncio loop, which never blocks; one driver
task per stream hands it to a :class:`.transcriber.Transcriber`, which runs Silero VAD
incrementally (stateful, 512-sample windows) for endpointing and decodes with a shared
faster-whisper/CTranslate2 model in worker threads, and queues the events it emits for
:meth:`StreamingRecognizer.events`.

Finals depend on the audio alone (see :mod:`.transcriber`). Interims are best-effort: at
most one decode in flight per stream, run only when the stream is caught up with its input
(so a file fed faster than real time does not multiply the work).

All times are seconds from the first sample pushed into the session.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import logging
import time
from collections.abc import AsyncIterator
from typing import Final

from speechkit.events import Finished, SpeechEnded, SpeechStarted, Transcript

from .models import SharedModel
from .pcm import SAMPLE_RATE, whole_samples
from .transcriber import Transcriber

_LOG = logging.getLogger("speechkit.local")

_BEHIND_BACKLOG: Final = int(0.3 * SAMPLE_RATE)
"""Undrained input beyond which the stream counts as behind, samples."""
_BEHIND_RATE: Final = 1.5
"""Arrival rate (x real time) beyond which the stream counts as fed from a file."""


class _Marker(enum.Enum):
    FLUSH = enum.auto()
    END = enum.auto()


_CLOSED: Final = object()


class StreamingRecognizer:
    """One recognition session: push audio, iterate over provider events.

    Example::

        rec = StreamingRecognizer(SharedModel.get(resolve_model_path("tiny.en")))
        rec.push(pcm)            # s16le mono 16 kHz, from the event loop
        rec.end_input()
        async for event in rec.events():
            ...
    """

    SAMPLE_RATE = SAMPLE_RATE

    def __init__(
        self,
        model: SharedModel,
        *,
        language: str = "en",
        interim_results: bool = True,
        interim_interval: float = 1.0,
        min_silence: float = 0.5,
        max_utterance: float = 20.0,
    ) -> None:
        """Create a session (cheap; work starts on the first push).

        Args:
            model: The shared model.
            language: Language code (BCP-47 primary subtag is used: "en-US" -> "en").
            interim_results: Emit interim transcripts while speaking.
            interim_interval: Audio between interim decodes, seconds.
            min_silence: Silence that ends an utterance, seconds.
            max_utterance: Longest utterance before a final is forced, seconds (<= 28).

        Raises:
            ValueError: For a language the model cannot transcribe, or bad timings.
        """
        if interim_interval <= 0 or min_silence <= 0 or not 1.0 <= max_utterance <= 28.0:
            raise ValueError("interim_interval and min_silence must be > 0 s and max_utterance within 1-28 s")
        self._inbox: list[bytes | _Marker] = []
        self._carry = b""
        self._pushed = 0
        self._arrivals: collections.deque[tuple[float, int]] = collections.deque()
        self._input_ended = False
        self._markers: collections.deque[object] = collections.deque()  # one per queued flush
        self._closed = False
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._events: asyncio.Queue[object] | None = None

        self._transcriber = Transcriber(
            model,
            language=language,
            interim_results=interim_results,
            interim_interval=interim_interval,
            min_silence=min_silence,
            max_utterance=max_utterance,
            emit=self._emit,
        )

    # ----------------------------------------------------------------- input

    def push(self, pcm: bytes) -> None:
        """Queue audio; never blocks.

        Args:
            pcm: s16le mono 16 kHz bytes, any length.
        """
        if self._closed or self._input_ended or not pcm:
            return
        samples, self._carry = whole_samples(self._carry, pcm)
        if not samples:
            return
        self._inbox.append(samples)
        self._pushed += len(samples) // 2
        now = time.monotonic()
        self._arrivals.append((now, self._pushed))
        while len(self._arrivals) > 2 and now - self._arrivals[1][0] > 2.0:
            self._arrivals.popleft()
        self._poke()

    def flush(self, marker: object = None) -> None:
        """Finalize the current utterance at the current input position.

        Args:
            marker: When not None, yielded by :meth:`events` right after the flush's final (the
                emulators match a vendor's flush request to its answer with it).
        """
        if not (self._closed or self._input_ended):
            self._inbox.append(_Marker.FLUSH)
            self._markers.append(marker)
            self._poke()

    def end_input(self) -> None:
        """No more audio: finalize everything, then emit ``Finished``."""
        if not (self._closed or self._input_ended):
            self._input_ended = True
            self._inbox.append(_Marker.END)
            self._poke()

    async def events(self) -> AsyncIterator[Transcript | SpeechStarted | SpeechEnded | Finished]:
        """Yield provider events in order; ends after ``Finished`` (or on close).

        Yields:
            SpeechStarted, interim/final Transcript, SpeechEnded, ..., Finished.

        Raises:
            Exception: Whatever broke the recognition driver.
        """
        queue = self._ensure_started()
        while True:
            item = await queue.get()
            if item is _CLOSED:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]  # a provider event, or a flush marker
            if isinstance(item, Finished):
                return

    def __aiter__(self) -> AsyncIterator[Transcript | SpeechStarted | SpeechEnded | Finished]:
        return self.events()

    async def aclose(self) -> None:
        """Stop now: a decode running in a thread may finish, its result is dropped."""
        if self._closed:
            return
        self._closed = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=0.1)
            except (TimeoutError, asyncio.CancelledError):
                pass
            except Exception:  # already reported through events()
                pass
        if self._events is not None:
            self._events.put_nowait(_CLOSED)

    # ---------------------------------------------------------------- driver

    def _ensure_started(self) -> asyncio.Queue[object]:
        if self._events is None:
            self._events = asyncio.Queue()
            self._wake = asyncio.Event()
            if self._inbox:
                self._wake.set()
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="speechkit-local-recognizer"
            )
            if self._closed:
                self._events.put_nowait(_CLOSED)
        return self._events

    def _poke(self) -> None:
        self._ensure_started()
        assert self._wake is not None
        self._wake.set()

    def _emit(self, event: object) -> None:
        assert self._events is not None
        self._events.put_nowait(event)

    async def _run(self) -> None:
        try:
            await self._drive()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _LOG.exception("local STT stream failed")
            self._emit(exc)

    async def _drive(self) -> None:
        assert self._wake is not None
        transcriber = self._transcriber
        while True:
            if not self._inbox and not self._behind():
                await transcriber.decode_ahead()
            if not self._inbox:
                self._wake.clear()
                await self._wake.wait()
                continue
            items, self._inbox = self._inbox, []
            pending: list[bytes] = []
            for item in items:
                if isinstance(item, bytes):
                    pending.append(item)
                    continue
                transcriber.append(pending)
                pending = []
                await transcriber.run_vad()
                if item is _Marker.FLUSH:
                    await transcriber.flush()
                    if (marker := self._markers.popleft()) is not None:
                        self._emit(marker)
                    continue
                await transcriber.flush()
                self._emit(Finished())
                return
            transcriber.append(pending)
            await transcriber.run_vad()

    def _behind(self) -> bool:
        """Whether input arrives faster than we keep up (then interims are skipped)."""
        backlog = sum(len(i) // 2 for i in self._inbox if isinstance(i, bytes))
        if backlog > _BEHIND_BACKLOG or self._input_ended:
            return True
        if len(self._arrivals) >= 2:
            (t0, s0), (t1, s1) = self._arrivals[0], self._arrivals[-1]
            if t1 - t0 >= 0.5 and (s1 - s0) / SAMPLE_RATE > _BEHIND_RATE * (t1 - t0):
                return True
        return False
