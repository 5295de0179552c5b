"""One input through one config string, measured: :func:`measure`.

Everything is read from what speechkit already reports, the same way for every provider:

* **transcript**: the finals, joined;
* **time to first interim**: from when the utterance's first audio was pushed to its first
  interim: the stream's own metric (``SpeechkitSTTMetrics.time_to_first_interim``) for
  interims with times; for interims without times the onset is the start of the speech run
  (the core's pause rule) after the last final, measured the same way (the stream's figure
  for those is about 0: it takes the audio sent when the first transcript came as the onset);
* **final latency**: from when the audio at a final's end was pushed to the final, on the
  stream clock: the stream's own metric for finals with times; for finals without times
  (Telnyx) the end is estimated as the transcribe command estimates cue times
  (:class:`speechkit.output.UntimedClock`, the core's pause rule) and measured the same way,
  and counted in ``final_latency_estimated``;
* **connections**: livekit's connection-acquired metric, one per connection (a reconnect or a
  chain's failover opens another); each is open until the failure the core reports for it
  (livekit's ``error`` event), the next connection, or the end of the stream;
* **audio sent**: what the core handed each connection (:attr:`speechkit.Session.audio_seconds`,
  replays included; each provider's ``connect`` hook is wrapped to see its sessions), summed
  by provider (the ``RECOGNITION_USAGE`` events carry no member: a chain's failover would
  give the next member audio the failed one was sent);
* **errors**: livekit's ``error`` events (each retried failure, and the final one).

Latency means what a caller waits only when audio is paced as a live caller speaks
(``realtime=True``); pushed as fast as it goes, it counts the queue too.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
from livekit import rtc
from livekit.agents import APIError, stt
from livekit.agents.metrics import STTMetrics

from .. import blocking, factory
from ..audio import SpeechSegments, push_frames
from ..config import format_chain, parse
from ..connection import Session
from ..credentials import CREDENTIAL_NAMES
from ..decode import AudioFileError, open_file
from ..fallback import FallbackSTT
from ..metrics import SpeechkitSTTMetrics
from ..output import UntimedClock, is_timed
from ..provider import Provider
from ..stream.metrics import PushTimes

E = stt.SpeechEventType


@attrs.define
class Connection:
    """One connection of a run.

    Attributes:
        provider: The provider (a chain's member) it was to.
        model: Its model, or None.
        opened: Seconds from the run's start to the end of its handshake.
        closed: Seconds from the run's start to its end (None while open).
        session: The connection's :class:`speechkit.Session` while the run lasts (its
            ``audio_seconds`` is the audio the core hands that connection).
    """

    provider: str
    model: str | None
    opened: float
    closed: float | None = None
    session: Session | None = attrs.field(default=None, repr=False, eq=False)

    @property
    def seconds(self) -> float:
        """How long it was open."""
        return max(0.0, (self.closed if self.closed is not None else self.opened) - self.opened)


@attrs.define
class Run:
    """One input through one config string.

    Attributes:
        label: The config's label.
        file: The input path.
        audio_seconds: Seconds of audio in the input (pushed).
        transcript: The finals, joined by spaces.
        finals: How many finals came.
        time_to_first_interim: Seconds, one per utterance that had an interim.
        final_latency: Seconds, one per final with a known end.
        final_latency_estimated: How many of those ends were estimated (finals without times).
        connections: Every connection, in order.
        audio_sent: Seconds of audio sent, by provider (replays included).
        errors: ``"ErrorType: message"`` of every error the stream reported, retried ones
            included.
        failed: The error that ended the run (recognition, or an input that cannot be
            decoded), or None when it completed.
        wall_seconds: Seconds the run took.
        reference: The reference transcript, or None.
        wer: WER of ``transcript`` against ``reference`` (:mod:`speechkit.wer`), or None.
    """

    label: str
    file: str
    audio_seconds: float = 0.0
    transcript: str = ""
    finals: int = 0
    time_to_first_interim: list[float] = attrs.field(factory=list)
    final_latency: list[float] = attrs.field(factory=list)
    final_latency_estimated: int = 0
    connections: list[Connection] = attrs.field(factory=list)
    audio_sent: dict[str, float] = attrs.field(factory=dict)
    errors: list[str] = attrs.field(factory=list)
    failed: str | None = None
    wall_seconds: float = 0.0
    reference: str | None = None
    wer: float | None = None

    @property
    def reconnects(self) -> int:
        """Connections after the first (reconnects and failovers)."""
        return max(0, len(self.connections) - 1)

    def session_seconds(self, provider: str) -> float:
        """Seconds the connections to ``provider`` were open, summed."""
        return sum(c.seconds for c in self.connections if c.provider == provider)

    def members(self) -> list[tuple[str, str | None]]:
        """``(provider, model)`` of every provider that served, in order of first use."""
        seen: dict[str, str | None] = {}
        for c in self.connections:
            seen.setdefault(c.provider, c.model)
        for name in self.audio_sent:
            seen.setdefault(name, None)
        return list(seen.items())


def _message(e: BaseException) -> str:
    text = getattr(e, "message", None) or str(e)
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class _Recorder:
    """Listens to one STT's ``metrics_collected`` and ``error`` events for one stream."""

    def __init__(
        self, run: Run, t0: float, serving: Callable[[], tuple[str, str | None, Session | None]]
    ) -> None:
        self.run, self.t0, self.serving = run, t0, serving
        self.ttfi: list[float] = []  # the stream's own, one per utterance's first interim

    def _close_open(self, at: float) -> None:
        for c in self.run.connections:
            if c.closed is None:
                c.closed = max(c.opened, at)

    def metrics(self, m: STTMetrics) -> None:
        if isinstance(m, SpeechkitSTTMetrics):
            if m.time_to_first_interim is not None:
                self.ttfi.append(m.time_to_first_interim)
            if m.final_latency is not None:
                self.run.final_latency.append(m.final_latency)
        elif m.streamed and m.acquire_time is not None and not m.request_id:  # a connection acquired
            now = time.time() - self.t0
            self._close_open(now)
            provider, model, session = self.serving()
            self.run.connections.append(Connection(provider, model, now, session=session))

    def error(self, err: stt.STTError) -> None:
        self.run.errors.append(_message(err.error))
        self._close_open(err.timestamp - self.t0)

    def end(self) -> None:
        self._close_open(time.time() - self.t0)
        sessions = [c.session for c in self.run.connections]
        if sessions and all(s is not None for s in sessions):
            # per connection: exact per chain member (the usage events, reported every few
            # seconds, carry no member, so a failover would give the new one the old one's audio)
            sent: dict[str, float] = {}
            for c in self.run.connections:
                assert c.session is not None
                sent[c.provider] = sent.get(c.provider, 0.0) + c.session.audio_seconds
            self.run.audio_sent = sent
        for c in self.run.connections:
            c.session = None  # read: let it (and the HTTP session it names) go


def _recording(provider: Provider[Any], sessions: list[Session]) -> Provider[Any]:
    """``provider`` as a subclass of its own class whose ``connect`` hook first appends the
    connection's :class:`~speechkit.Session` to ``sessions`` (its ``audio_seconds`` is then the
    audio the core hands that connection)."""
    cls = type(provider)

    async def connect(self: Provider[Any], session: Session) -> Any:
        sessions.append(session)
        return await cls.connect(self, session)

    measured = type(cls.__name__, (cls,), {"connect": connect, "__module__": cls.__module__})
    return measured(provider.options)  # type: ignore[no-any-return]


def label_of(config: str) -> str:
    """A config string as shown in reports: canonical, credential options (``api_key``…) left out.

    Raises:
        ConfigError: the string is bad.
    """
    return format_chain(
        [
            attrs.evolve(s, options=tuple((k, v) for k, v in s.options if k.lower() not in CREDENTIAL_NAMES))
            for s in parse(config)
        ]
    )


async def measure(config: str, path: str, *, label: str | None = None, realtime: bool = False) -> Run:
    """Stream one input through a new STT built from ``config`` and measure it.

    A recognition error or an input that cannot be decoded does not raise: the run records it
    (``failed``) with what came before it. A new STT per run keeps its events (errors carry no
    stream id) its own.

    Args:
        config: A config string (a comma-separated chain is one stream over the chain).
        path: The audio file.
        label: Shown in reports; default :func:`label_of`.
        realtime: Pace the audio at 1x as a live caller (latency means what a caller waits);
            else push it as fast as the stream takes it (a recording).

    Raises:
        ConfigError: ``config`` is bad (before anything is read).
    """
    engine = factory.stt(config)
    sessions: list[Session] = []
    for member in engine.members if isinstance(engine, FallbackSTT) else [engine]:
        member.hooks = _recording(member.hooks, sessions)
    run = Run(label or label_of(config), path)
    t0 = time.time()
    start = time.monotonic()
    try:
        try:
            source = await blocking.call(functools.partial(open_file, path), name=path)
        except AudioFileError as e:
            run.failed = _message(e)
            return run
        frames = blocking.in_thread(iter(source), 50, name=path)
        stream = engine.stream(realtime=realtime)

        def serving() -> tuple[str, str | None, Session | None]:
            p = stream.provider
            # the connection just acquired made the newest connect() call: a failed attempt
            # before it appended its session first
            return p.name, getattr(p.options, "model", None), sessions[-1] if sessions else None

        rec = _Recorder(run, t0, serving)
        engine.on("metrics_collected", rec.metrics)
        engine.on("error", rec.error)
        try:
            await _consume(stream, frames, run, rec.ttfi, realtime=realtime)
        except (APIError, AudioFileError) as e:
            run.failed = _message(e)
        finally:
            rec.end()
            await stream.aclose()
    finally:
        run.wall_seconds = time.monotonic() - start
        await engine.aclose()
    return run


async def _consume(
    stream: Any, frames: AsyncIterator[rtc.AudioFrame], run: Run, core_ttfi: list[float], *, realtime: bool
) -> None:
    """Push the input and read the stream's events into ``run``.

    ``core_ttfi`` fills with the stream's time-to-first-interim metrics as it runs, one per
    utterance's first interim, in order; for an interim without times it is replaced by an
    estimate (the stream measures such an utterance from the audio sent when its first
    transcript came, so its figure is about 0).

    Raises:
        APIError: recognition failed.
        AudioFileError: the input failed to decode midway.
    """
    runs = SpeechSegments()  # the speech runs, for finals without times
    pushed_at = PushTimes()  # when each frame's audio was pushed, for their latency
    clock: UntimedClock | None = None
    texts: list[str] = []
    last_end = 0.0  # end of the last final (stream clock, estimated for one without times)
    first_interim: bool | None = None  # in an utterance, awaiting its first interim
    ttfi: list[float | None] = []  # per first interim: an estimate, or None for the stream's own

    async def audio() -> AsyncIterator[rtc.AudioFrame]:
        async for frame in frames:
            runs.feed(frame)
            yield frame
            run.audio_seconds += frame.samples_per_channel / frame.sample_rate
            pushed_at.record(run.audio_seconds, time.monotonic())

    async def feed() -> None:
        try:
            await push_frames(stream, audio(), speed=1.0 if realtime else None, end_input=False)
        finally:  # an input that fails midway still ends the stream; the error is raised after
            with contextlib.suppress(RuntimeError):
                stream.end_input()

    feeder = asyncio.create_task(feed())
    try:
        async for ev in stream:
            alt = ev.alternatives[0] if ev.alternatives else None
            if ev.type == E.START_OF_SPEECH:
                first_interim = True
            elif ev.type == E.INTERIM_TRANSCRIPT and first_interim and alt is not None:
                first_interim = False
                onset = _onset(runs.segments, last_end) if not is_timed(alt) else None
                ttfi.append(None if onset is None else pushed_at.latency(onset, time.monotonic()))
            elif ev.type == E.FINAL_TRANSCRIPT and alt is not None:
                run.finals += 1
                first_interim = False
                if alt.text.strip():
                    texts.append(alt.text.strip())
                if is_timed(alt):
                    last_end = max(last_end, alt.end_time - stream.start_time_offset)
                else:
                    clock = clock or UntimedClock(runs)
                    _, last_end = clock.span(run.audio_seconds)
                    run.final_latency.append(pushed_at.latency(last_end, time.monotonic()))
                    run.final_latency_estimated += 1
            elif ev.type == E.END_OF_SPEECH:
                first_interim = None
                if clock is not None:
                    clock.end_of_utterance()
            elif ev.type == E.RECOGNITION_USAGE and ev.recognition_usage is not None:
                name = stream.provider.name
                run.audio_sent[name] = run.audio_sent.get(name, 0.0) + ev.recognition_usage.audio_duration
        await feeder
    finally:
        run.transcript = " ".join(texts)
        run.time_to_first_interim = _first_interims(ttfi, core_ttfi)
        feeder.cancel()
        with contextlib.suppress(asyncio.CancelledError, AudioFileError, APIError):
            await feeder


def _onset(segments: list[tuple[float, float]], after: float) -> float:
    """Where the utterance after ``after`` (the last final's end) began: the start of the first
    speech run ending after it (the core's pause rule), at ``after`` at the earliest."""
    start = next((s for s, e in segments if e > after), after)
    return max(start, after)


def _first_interims(estimates: list[float | None], core: list[float]) -> list[float]:
    """Time to first interim per utterance: the stream's own figure where the interim had times
    (``None`` in ``estimates``), the estimate where it had none.

    The stream emits its figure for every utterance's first interim, timed or not, in order;
    when the two lists do not line up (an interim coalesced away), the stream's figures are
    kept only if no interim lacked times.
    """
    if len(core) == len(estimates):
        return [c if e is None else e for e, c in zip(estimates, core, strict=True)]
    untimed = [e for e in estimates if e is not None]
    return untimed if untimed else core


__all__ = ["Connection", "Run", "label_of", "measure"]
