"""The recognizers behind the emulators, all behind one :class:`Recognizer` protocol.

An emulator pushes the session's audio (PCM s16le mono, at the rate the recognizer was made
for) and turns the events it yields into its vendor's messages. Two recognizers ship:

* the :mod:`oracle <speechkit_conformance.oracle>` (``"oracle"``): deterministic tone words,
  for every suite test;
* the local provider's Whisper engine (``"local"``, :class:`LocalRecognizer`): real speech, with
  the ``[local]`` extra.

:func:`make_recognizer` picks one by name. A recognizer that decides synchronously (the oracle,
the tests' fakes) subclasses :class:`SyncRecognizer` and writes only ``feed`` and ``finalize``::

    rec = make_recognizer("oracle", 16000)
    rec.push(pcm)
    rec.flush(marker="f1")      # the utterance ends now; Flushed("f1") follows its final
    rec.end_input()
    async for event in rec.events():   # Transcript, SpeechEnded, Flushed, ... Finished
        ...
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal, Protocol, runtime_checkable

import attrs
import numpy as np

from speechkit.events import Finished, SpeechEnded, SpeechStarted, Transcript
from speechkit.stream.input import Resampler

RecognizerKind = Literal["oracle", "local"]
"""The recognizers an emulator may run (its config's ``recognizer`` field)."""
RECOGNIZERS: tuple[RecognizerKind, ...] = ("oracle", "local")


@attrs.frozen
class Flushed:
    """Yielded after every event a :meth:`Recognizer.flush` caused: the flush with ``marker`` is done.

    Attributes:
        marker: What the emulator passed to :meth:`Recognizer.flush` (e.g. the vendor's
            request id), so it can answer that request and no other.
        position: Seconds of audio pushed when the flush was asked for.
        finalized: Whether the flush itself ended an utterance: the final transcript just before
            this marker is the flush's own. False when the recognizer had already ended that
            utterance on silence (or nothing was pending), so a vendor that flags the final a
            flush caused (Deepgram's ``from_finalize``) leaves an endpointed one unflagged.
    """

    marker: object
    position: float
    finalized: bool = False


RecognizerEvent = Transcript | SpeechStarted | SpeechEnded | Flushed | Finished
"""What :meth:`Recognizer.events` yields. ``Transcript`` times are seconds of pushed audio."""
SyncEvent = Transcript | SpeechStarted | SpeechEnded
"""What :meth:`SyncRecognizer.feed` and :meth:`SyncRecognizer.finalize` return."""


@runtime_checkable
class Recognizer(Protocol):
    """A streaming recognizer, as emulators use it. Every method but :meth:`events` and
    :meth:`aclose` is called from the event loop and never blocks.

    Attributes:
        sample_rate: Rate of the PCM pushed, Hz.
        stable: True when an interim's words never change later (the oracle), so an emulator
            may finalise them on its own rule (Speechmatics' ``max_delay``); False when they may
            (Whisper's interims): finals come at utterance ends only.
    """

    sample_rate: int
    stable: bool

    def push(self, pcm: bytes) -> None:
        """Queue PCM s16le mono at :attr:`sample_rate` (any length; an odd byte carries over)."""

    def flush(self, marker: object = None) -> None:
        """End the current utterance now: its final (if it has words), then :class:`Flushed`."""

    def end_input(self) -> None:
        """No more audio: every final, then :class:`~speechkit.events.Finished` (the last event)."""

    def events(self) -> AsyncIterator[RecognizerEvent]:
        """The events, in order, until :class:`~speechkit.events.Finished` (included)."""

    async def aclose(self) -> None:
        """Release the recognizer's resources (threads, models); events end."""


class SyncRecognizer:
    """A :class:`Recognizer` from two synchronous methods: :meth:`feed` and :meth:`finalize`.

    Subclasses call ``super().__init__(sample_rate)`` and write those two; this class queues what
    they return and adds :class:`Flushed` and :class:`~speechkit.events.Finished`.

    Args:
        sample_rate: Rate of the PCM pushed, Hz.
    """

    stable = True

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._pushed = 0  # samples
        self._queue: asyncio.Queue[RecognizerEvent] = asyncio.Queue()

    def feed(self, pcm: bytes) -> list[SyncEvent]:
        """Analyse more PCM; the events it completes."""
        raise NotImplementedError(f"{type(self).__name__} must define feed(pcm) -> list of events")

    def finalize(self) -> list[SyncEvent]:
        """End the current utterance now; its final, if it has words."""
        raise NotImplementedError(f"{type(self).__name__} must define finalize() -> list of events")

    def _put(self, events: list[SyncEvent]) -> None:
        for event in events:
            self._queue.put_nowait(event)

    def push(self, pcm: bytes) -> None:
        self._pushed += len(pcm) // 2
        self._put(self.feed(pcm))

    def flush(self, marker: object = None) -> None:
        events = self.finalize()
        self._put(events)
        finalized = any(isinstance(e, Transcript) and e.is_final for e in events)
        self._queue.put_nowait(Flushed(marker, self._pushed / self.sample_rate, finalized))

    def end_input(self) -> None:
        self._put(self.finalize())
        self._queue.put_nowait(Finished())

    async def events(self) -> AsyncIterator[RecognizerEvent]:
        while not isinstance(event := await self._queue.get(), Finished):
            yield event
        yield event

    async def aclose(self) -> None:
        return None


class LocalRecognizer:
    """The local provider's Whisper engine (tiny.en) as a :class:`Recognizer`; audio at other
    rates than 16 kHz is resampled (python-soxr, as the core does). Needs the ``[local]`` extra.

    Args:
        sample_rate: Rate of the PCM pushed, Hz.
        language: Language code (tiny.en transcribes English only).
        final_after: Silence that ends an utterance, seconds (the engine's endpointer).
    """

    stable = False  # LocalAgreement interims may still change

    def __init__(self, sample_rate: int, language: str = "en", final_after: float = 0.5) -> None:
        try:
            from speechkit_providers.local.models import SharedModel, resolve_model_path
            from speechkit_providers.local.recognizer import StreamingRecognizer
        except ImportError as e:  # faster-whisper missing
            raise ImportError(
                "the emulator's local recognizer needs the local engine: pip install 'speechkit-stt[local]'"
            ) from e

        model = SharedModel.get(resolve_model_path("tiny.en"))
        self.sample_rate = sample_rate
        self._rec = StreamingRecognizer(model, language=language, min_silence=final_after)
        self._resampler = Resampler(sample_rate, 16000) if sample_rate != 16000 else None
        self._pushed = 0  # samples at sample_rate
        self._final_after = final_after

    def push(self, pcm: bytes) -> None:
        self._pushed += len(pcm) // 2
        if self._resampler is None:
            self._rec.push(pcm)
        else:
            out = self._resampler.push(np.frombuffer(pcm[: len(pcm) & ~1], dtype="<i2"))
            self._rec.push(Resampler.to_pcm([out]))

    def flush(self, marker: object = None) -> None:
        self._rec.flush(marker=Flushed(marker, self._pushed / self.sample_rate))

    def end_input(self) -> None:
        if self._resampler is not None:
            self._rec.push(Resampler.to_pcm([self._resampler.flush()]))  # its last samples
        self._rec.end_input()

    async def events(self) -> AsyncIterator[RecognizerEvent]:
        last_end: float | None = None  # end of the last final's words, seconds
        async for event in self._rec.events():
            if isinstance(event, Transcript) and event.is_final and event.words:
                last_end = event.words[-1].end_time
            elif isinstance(event, Flushed):
                # the engine's endpointer ends an utterance after final_after of silence: a final
                # followed by less before the flush's position was the flush's own
                ended = last_end is not None and event.position - last_end < self._final_after
                event, last_end = attrs.evolve(event, finalized=ended), None
            yield event  # type: ignore[misc]

    async def aclose(self) -> None:
        await self._rec.aclose()


def make_recognizer(
    kind: RecognizerKind,
    sample_rate: int,
    *,
    language: str = "en",
    final_after: float = 0.5,
    end_of_speech: float | None = None,
) -> Recognizer:
    """The recognizer an emulator's config names.

    Args:
        kind: ``"oracle"`` (tone words) or ``"local"`` (Whisper tiny.en; the ``[local]`` extra).
        sample_rate: Rate of the PCM that will be pushed, Hz.
        language: Language code (the local engine's; the oracle has one vocabulary).
        final_after: Silence after which the local engine ends an utterance, seconds (the
            oracle's is :data:`~speechkit_conformance.oracle.UTTERANCE_END_S`).
        end_of_speech: Seconds of silence after words at which a
            :class:`~speechkit.events.SpeechEnded` is yielded (the oracle flushes first); None:
            the recognizer's own endpointing (the local engine always has it).

    Raises:
        ValueError: an unknown ``kind`` (the message lists the known ones).
        ImportError: ``"local"`` without the ``[local]`` extra (the message names it).
    """
    if kind == "oracle":
        from .oracle import OracleRecognizer

        return OracleRecognizer(sample_rate, end_of_speech=end_of_speech)
    if kind == "local":
        return LocalRecognizer(sample_rate, language, end_of_speech or final_after)
    raise ValueError(f"unknown recognizer {kind!r}; recognizers: {', '.join(RECOGNIZERS)}")
