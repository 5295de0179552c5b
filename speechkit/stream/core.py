"""``SpeechStream``: the livekit ``RecognizeStream`` over any provider.

The adapter between livekit's stream (frames in, ``SpeechEvent`` s out) and the core's
parts, which it composes:

* :mod:`.input`: resampling, down-mixing and chunking to the provider's chunks on the stream clock;
* :mod:`.pauses`: the pause rule, marking chunks speech or silence;
* :mod:`.replay`: the unconfirmed audio, backpressure, confirmation by finals;
* :mod:`.runner`: one connection (send, keep-alive, ready gate, receive, :mod:`.watchdog`);
* :mod:`.clock`: provider times onto the stream clock;
* :mod:`.dedupe`: what a replaying connection repeats, dropped;
* :mod:`.guard`, :mod:`.interims`: what cannot be right, dropped or clamped; interim floods, paced;
* :mod:`.metrics`, :mod:`.reports`: usage and latency bookkeeping; the metrics, per member;
* :mod:`.flushes`: which flushes reach the provider, and answering the others;
* :mod:`.members`: which provider serves the next connection (a chain's member selector).

Here: livekit's input and output channels, the retry loop over connections, the event
grammar and emitting events and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterable
from typing import TYPE_CHECKING, Any

from livekit import rtc
from livekit.agents import APIConnectOptions, stt, utils
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from ..connection import Session
from ..errors import APIConnectionError, APIError, ConfigError
from ..events import ProviderEvent, SpeechStarted, Transcript
from ..grammar import Grammar
from ..provider import Provider
from ..retry import RetryPolicy
from . import replay as replay_module
from .clock import StreamClock
from .dedupe import Deduplicator
from .flushes import FlushAnswers, empty_final
from .guard import EventGuard
from .input import Chunker, FrameInput
from .interims import InterimPacer
from .members import MemberSelector, OneProvider
from .metrics import PushTimes
from .pauses import PauseDetector
from .replay import ReplayBuffer
from .reports import Reports
from .runner import ConnectionRunner, OptionsChanged

if TYPE_CHECKING:
    from ..plugin import STT

logger = logging.getLogger("speechkit")


class SpeechStream(stt.RecognizeStream):
    """A streaming recognition session over any provider.

    Push ``rtc.AudioFrame`` s (any sample rate, mono or multi-channel PCM s16le;
    the rate must stay the same within a stream), call ``flush()`` to finalise a
    segment and ``end_input()`` when done, and iterate livekit ``SpeechEvent`` s.
    The iterator ends after the final transcript of the last words.

    Args:
        stt: The STT that opened it (metrics are emitted on it; its HTTP session is used).
        provider: The provider; ignored when ``members`` is given.
        language: Language of the speech (BCP-47).
        conn_options: Retry and timeout policy.
        realtime: False for a recording pushed faster than real time.
        members: A member selector (a fallback chain's); default: ``provider`` alone.

    Raises (from iteration):
        APIError: a non-retryable error, or the last one once retries are spent.
    """

    def __init__(
        self,
        *,
        stt: STT,
        provider: Provider[Any],
        language: str,
        conn_options: APIConnectOptions,
        realtime: bool = True,
        members: MemberSelector | None = None,
    ) -> None:
        if members is None:
            room = replay_module.MAX_REPLAY_SECONDS if provider.max_replay is None else provider.max_replay
            members = OneProvider(provider, conn_options, room)
        self._members = members
        provider = members.provider
        self._owner = stt
        self._language = language
        self._realtime = realtime
        self._rate = provider.sample_rate
        self._request_id = uuid.uuid4().hex[:12]
        self._replay = ReplayBuffer(
            members.max_replay,
            wait=replay_module.REPLAY_WAIT,
            log_extra=lambda: {"provider": self._members.provider.name, "stream_id": self._request_id},
        )
        self._chunker = Chunker(
            self._rate, self._chunk_samples(provider), PauseDetector(), self._replay.add_boundary
        )
        self._input = FrameInput(self._rate, self._chunker)
        self._clock = StreamClock()
        self._dedupe = Deduplicator()
        self._guard = EventGuard(lambda: self._members.provider.name, self._request_id)
        self._session: Session | None = None  # the connection's, for the audio sent on it
        self._reports = Reports(
            lambda m: self._owner.emit("metrics_collected", m),
            self._send_event,
            self._request_id,
            lambda: (self._members.provider, max(0, self._connections - 1)),
            PushTimes(),
        )
        self._grammar = Grammar(
            language=language,
            provider_ends_utterances=provider.capabilities.end_of_utterance,
            request_id=self._request_id,
        )
        self._pushed_seconds = 0.0  # audio handed to push_frame (some may not be chunked yet)
        self._connections = 0
        self._options_version = 0  # bumped by each options change; each connection knows its own
        self._policy = RetryPolicy(members.conn_options, on_retry=self._log_retry)
        self._flushes = FlushAnswers(
            lambda: self._grammar.awaiting_final,
            lambda: self._replay.speech_seconds,
            lambda: self._send_event(
                empty_final(self._language, self.start_time_offset + self.sent_seconds, self._request_id)
            ),
        )
        stt.hold_http_session()  # before the main task can end (its end releases it)
        super().__init__(stt=stt, conn_options=conn_options, sample_rate=self._rate)
        self._pacer = InterimPacer(self._event_ch)

    def _chunk_samples(self, provider: Provider[Any]) -> int:
        return max(1, int(self._rate * provider.chunk_duration))

    @property
    def provider(self) -> Provider[Any]:
        """The provider serving the stream now (a chain's current member)."""
        return self._members.provider

    @property
    def language(self) -> str:
        """The stream's language (BCP-47)."""
        return self._language

    @property
    def unconfirmed_seconds(self) -> float:
        """Seconds of audio sent that no final is known to cover yet (kept for replay)."""
        return self._replay.seconds

    @property
    def sent_seconds(self) -> float:
        """Seconds of audio cut into chunks for the provider so far (the stream clock's end)."""
        return self._chunker.position

    @property
    def queued_seconds(self) -> float:
        """Seconds of audio pushed that the connection has not taken yet (backpressure)."""
        return self._chunker.queued / 2 / self._rate

    # -- input --------------------------------------------------------------------

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        """Push audio: PCM s16le, any rate (resampled), any channel count (averaged to mono).

        A frame with no samples is ignored; a long one is queued in blocks of at most 1 s.

        Raises:
            TypeError: ``frame`` is not an ``rtc.AudioFrame``.
            ValueError: the rate differs from earlier frames', or the frame is malformed
                (:func:`~speechkit.stream.input.check_frame`); what was pushed before stays.
            RuntimeError: after ``end_input()`` or ``aclose()``.
        """
        if self._input_ch.closed or self._event_ch.closed:  # livekit's errors (per frame: one test)
            self._check_input_not_ended()
            self._check_not_closed()
        blocks = self._input.push(frame)
        if frame.samples_per_channel == 0:
            return
        self._pushed_sr = frame.sample_rate
        self._pushed_seconds += frame.samples_per_channel / frame.sample_rate
        for block in blocks:
            self._input_ch.send_nowait(block)

    def flush(self) -> None:
        """End the current segment: the audio pushed so far goes out and the provider is asked
        to finalise it.

        Raises:
            RuntimeError: after ``end_input()`` or ``aclose()``.
        """
        self._check_input_not_ended()
        self._check_not_closed()
        if (block := self._input.flush()) is not None:
            self._input_ch.send_nowait(block)
        self._input_ch.send_nowait(self._FlushSentinel())

    def update_options(self, *, language: NotGivenOr[str] = NOT_GIVEN, **options: Any) -> None:
        """Change options on the live stream: it reconnects with them and replays the audio
        no final covers yet, so no word is lost or repeated.

        Args:
            language: New stream language (BCP-47).
            **options: Fields of the provider's options class, typed values.

        Raises:
            ConfigError: unknown option or bad value; a change of ``sample_rate`` (the
                stream resamples to one rate: open a new stream); a provider that
                declares it cannot update options.
        """
        provider = self._members.provider
        if not provider.capabilities.update_options:
            raise ConfigError(f"{provider.name} cannot change options on a live stream")
        if "sample_rate" in options and options["sample_rate"] != self._rate:
            raise ConfigError("sample_rate cannot change on a live stream; open a new stream")
        self._members.update(**options)
        if is_given(language):
            self._language = self._grammar.language = language
        self._options_version += 1
        if not self._input_ch.closed:
            # in order with the audio: what was pushed before goes out with the old options
            self._input_ch.send_nowait(OptionsChanged(self._options_version))

    def _reconnect_in_order(self) -> None:
        """Move to a new connection after the audio pushed so far (replaying what no final covers)."""
        self._options_version += 1
        with contextlib.suppress(utils.aio.channel.ChanClosed):
            self._input_ch.send_nowait(OptionsChanged(self._options_version, reconnect=True))

    def _rotate(self) -> None:
        if not self._input_ch.closed:  # after end of input the session just drains
            logger.info(
                "session about to expire: moving to a new connection",
                extra={"provider": self._members.provider.name, "stream_id": self._request_id},
            )
            self._reconnect_in_order()

    # -- retry loop ---------------------------------------------------------------

    def _log_retry(self, err: APIError, attempt: int, delay: float) -> None:
        self._emit_error(err, recoverable=True)
        name = self._members.provider.name
        logger.warning(
            "%s stream failed, retrying in %.2fs: %s",
            name,
            delay,
            type(err).__name__,
            extra={"provider": name, "attempt": attempt, "stream_id": self._request_id},
        )

    async def _main_task(self) -> None:
        try:
            await self._run()
        except Exception as e:
            unsent = max(0.0, self._pushed_seconds - self._chunker.position)
            if isinstance(e, APIError) and (gap := self._replay.untranscribed + unsent) > 0:
                # never a silent gap: the error says how much audio no final covers (or was never sent)
                e.message = f"{e.message}; {gap:.1f} s of audio were never transcribed"
                e.args = (e.message, *e.args[1:])
                e.untranscribed_seconds = gap  # type: ignore[attr-defined]
            self._emit_error(e, recoverable=False)
            raise
        finally:
            for held in self._dedupe.finish():
                self._handle(held)
            for ev in self._grammar.close():
                self._send_event(ev)
            self._reports.usage()
            self._pacer.close()
            await self._owner.release_http_session()

    async def _run(self) -> None:
        """Connections until the input is done (livekit's hook, called by ``_main_task``).

        Each member serves under its retry policy; a member whose retries are spent is
        handed to the selector, which moves on or raises.

        Raises:
            APIError: a non-retryable error, or the last one once retries (and members) are spent.
        """
        recovery = asyncio.create_task(self._members.recover(), name="speechkit.recover")
        try:
            while True:
                try:
                    reconnect = True
                    while reconnect:  # an options change ends a connection on purpose: not a failure
                        async for attempt in self._policy.attempts():
                            with attempt:
                                reconnect = await self._connection()
                    return
                except APIError as e:
                    self._members.failed(e, self._replay.seconds)
                    self._policy = RetryPolicy(self._members.conn_options, on_retry=self._log_retry)
        finally:
            await utils.aio.cancel_and_wait(recovery)

    async def _connection(self) -> bool:
        """One connection; True when it ended for an options change (reconnect)."""
        provider, version = self._members.next(), self._options_version
        for chunk in self._chunker.resize(self._chunk_samples(provider)):  # a member framing otherwise
            self._replay.add(chunk)  # sent to this member first
            self._reports.push_times.record(chunk.end, chunk.sent_at)
        session = Session(
            language=self._language,
            sample_rate=self._rate,
            attempt=self._policy.failures,
            http=self._owner.http_session() if provider.capabilities.needs_network else None,
            timeout=self._conn_options.timeout,
            realtime=self._realtime,
        )
        self._session = session
        # times the provider reports are relative to the first audio of this connection
        start = self._replay.start
        self._clock.connect(self._chunker.position if start is None else start)
        replaying = self._connections > 0 and start is not None
        if self._connections > 0:
            self._replay.report_dropped()  # never a quiet gap: what a full room dropped is named
        for held in self._dedupe.replay(start if replaying else None, self._replay.speech_before):
            self._handle(held)  # finals an unresolved overlap held go out now: lose nothing
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(self._conn_options.timeout):
                conn = await provider.connect(session)
        except TimeoutError as e:
            raise APIConnectionError(
                f"{provider.name}: connect timed out after {self._conn_options.timeout}s"
            ) from e
        self._connections += 1
        self._reports.connection_acquired(time.perf_counter() - t0, False)  # labelled with the member
        runner = ConnectionRunner(
            conn=conn,
            session=session,
            provider=provider,
            version=version,
            channel=self._input_ch,
            chunker=self._chunker,
            replay=self._replay,
            clock=self._clock,
            push_times=self._reports.push_times,
            current=lambda: (self._members.provider, self._options_version, self._language),
            deliver=self._deliver,
            sent=self._reports.sent,
            flushed=self._flushed,
            rotate=self._rotate,
            own_second_opinion=isinstance(self._members, OneProvider),
        )
        try:
            return await runner.run()
        finally:
            await asyncio.shield(conn.aclose())

    # -- events -------------------------------------------------------------------

    def _flushed(self, ending: bool) -> bool:
        """A flush's audio was sent (``ending``: input ended): whether to pass it on (:mod:`.flushes`)."""
        self._reports.usage()  # a segment ends; AgentSession stops listening before it closes the stream
        return self._flushes.flushed(ending)

    def _deliver(self, ev: ProviderEvent) -> None:
        """An event: onto the stream clock, past the replay's repeats and the guard, into the grammar."""
        offset, sent = self.start_time_offset, self._session.audio_seconds if self._session else 0.0
        floor, ceiling = self._clock.origin + offset, self._clock.origin + offset + self._clock.unpad(sent)
        for out in self._dedupe.filter(self._clock.to_stream(ev, offset)):
            if (checked := self._guard.check(out, sent=sent, floor=floor, ceiling=ceiling)) is not None:
                self._handle(checked)

    def _handle(self, ev: ProviderEvent) -> None:
        was_in_speech = self._grammar.in_speech
        now = time.monotonic()
        for sev in self._grammar.feed(ev):
            if sev.type == stt.SpeechEventType.START_OF_SPEECH and not was_in_speech:
                onset = ev.time if isinstance(ev, SpeechStarted) else getattr(ev, "start_time", None)
                at = onset - self.start_time_offset if onset is not None else self._chunker.position
                self._reports.utterance_started(at)
            elif sev.type == stt.SpeechEventType.INTERIM_TRANSCRIPT:
                self._reports.interim(now)
            elif sev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                end = sev.alternatives[0].end_time - self.start_time_offset if sev.alternatives else 0.0
                self._reports.final(end, now)
                if isinstance(ev, Transcript):
                    self._dedupe.final(ev, self._chunker.position)
                eou = isinstance(ev, Transcript) and ev.end_of_utterance
                self._replay.confirm(end if end > 0 else None, eou)
                self._policy.succeeded()
                self._flushes.final()
            self._send_event(sev)
            if sev.type == stt.SpeechEventType.END_OF_SPEECH:
                self._flushes.utterance_ended()  # a flushed utterance that ended without words
            elif sev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                self._reports.usage()  # an utterance's audio is reported when its words are
        if (failover := self._members.failover()) is not None:  # a new member's first event: the gap
            self._reports.stream(failover_gap=failover[0], replayed_seconds=failover[1])
        if not self._grammar.in_speech and not self._input_ch.closed and self._members.move_back():
            self._reconnect_in_order()  # an utterance boundary: back to a recovered member

    # -- output -------------------------------------------------------------------

    def _send_event(self, ev: stt.SpeechEvent) -> None:
        self._pacer.send(ev)  # a flood of interims is coalesced (.interims)

    async def _metrics_monitor_task(self, event_aiter: AsyncIterable[stt.SpeechEvent]) -> None:
        """livekit's monitor of the events would emit usage labelled with the STT (a chain as one
        ``fallback`` entry): :class:`.reports.Reports` emits it per member; this only drains."""
        async for _ in event_aiter:
            pass

    async def aclose(self) -> None:
        """Close the stream now (no drain); the usage of the audio sent is still reported."""
        self._reports.closing = True
        await super().aclose()
        self._reports.usage()
