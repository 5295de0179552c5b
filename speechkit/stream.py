"""The streaming core: one ``RecognizeStream`` for every provider.

It owns what every provider shares: resampling (livekit's ``AudioResampler``,
in the base class), down-mixing, chunking to the provider's chunk duration
(``AudioByteStream``), flush and end-of-input framing, one send loop and one
receive loop per connection, draining after end of input, the retry policy,
reconnect with replay of the audio no final covers yet, the event grammar on
one stream clock, usage events and metrics.
"""

from __future__ import annotations

import array
import asyncio
import bisect
import collections
import contextlib
import logging
import math
import time
import uuid
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from livekit import rtc
from livekit.agents import APIConnectOptions, stt, utils
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from .connection import Connection, Message, Session
from .errors import APIConnectionError, APIError, ConfigError, ServerError
from .events import Finished, ProviderEvent, Ready, SpeechEnded, SpeechStarted, Transcript, Word
from .grammar import Grammar
from .metrics import SpeechkitSTTMetrics
from .overlap import ReplayOverlap
from .provider import Provider
from .retry import RetryPolicy
from .text import words as words_of

if TYPE_CHECKING:
    from .stt import STT

logger = logging.getLogger("speechkit")

USAGE_INTERVAL = 5.0
"""Seconds of sent audio between two RECOGNITION_USAGE events (the rest comes at the end)."""

PAUSE_SECONDS = 0.3
"""Silence that makes a pause boundary, for replay bookkeeping of finals without times."""

SILENCE_RMS = 0.01 * 32768
"""Chunk RMS (s16 units, -40 dBFS) below which a chunk always counts as silence."""

SILENCE_RELATIVE = 0.1
"""A chunk under this fraction of the loudest chunk's RMS so far (-20 dB) is silence too,
so background noise in real recordings does not hide pauses."""

MAX_REPLAY_SECONDS = 60.0
"""Audio awaiting a final kept for replay at most (default). New audio waits while this much
awaits one (backpressure: a file pushed faster than the server transcribes is sent as finals
free room), so nothing is dropped; only a single frame longer than the room is trimmed, with a
warning."""


MAX_OVERLAP_FINALS = 64
"""Finals remembered (their words) for overlap resolution after a reconnect."""


REPLAY_WAIT = 5.0
"""Seconds new audio waits for a final to free replay room before it is sent regardless."""

ROTATE_MARGIN = 10.0
"""Seconds before a session's announced expiry (``Ready.expires_in``) that the stream moves to a
new connection (at most a tenth of the session's remaining time)."""


@attrs.define
class _Chunk:
    data: bytes
    start: float  # stream clock, seconds
    end: float
    sent_at: float  # monotonic time the chunk was complete and first sent
    speech: bool = False  # louder than the silence threshold


def _trimmed(ev: Transcript, text: str) -> Transcript:
    """``ev`` with only ``text``, its last words; word timings follow when they map one to one."""
    dropped = len(words_of(ev.text)) - len(words_of(text))
    if ev.words and len(ev.words) == len(words_of(ev.text)) and 0 < dropped < len(ev.words):
        words = ev.words[dropped:]
        return attrs.evolve(ev, text=text, words=words, start_time=words[0].start_time)
    return attrs.evolve(ev, text=text)


class _UpdateSentinel(stt.RecognizeStream._FlushSentinel):
    """Queued by update_options, in order with the audio (a flush sentinel to the base's types).

    The send loop applies it live when :meth:`Provider.update_message` gives a message, else
    reconnects; ``reconnect`` always reconnects (a session rotated before it expires).
    """

    def __init__(self, version: int, *, reconnect: bool = False) -> None:
        self.version = version
        self.reconnect = reconnect


class _KeepAliveSentinel(stt.RecognizeStream._FlushSentinel):
    """Queued by :class:`_IdleTimer` when no input came for the keep-alive interval."""


class _IdleTimer:
    """Queues a :class:`_KeepAliveSentinel` after ``interval`` seconds without input, then every
    ``interval`` while idle; :meth:`touch` (one clock read per item) restarts the count."""

    def __init__(self, channel: utils.aio.Chan[Any], interval: float) -> None:
        self._channel, self._interval = channel, interval
        self._loop = asyncio.get_running_loop()
        self._last = time.monotonic()
        self._timer = self._loop.call_at(self._loop.time() + interval, self._fire)

    def touch(self) -> None:
        self._last = time.monotonic()

    def due(self) -> bool:
        return time.monotonic() - self._last >= self._interval - 1e-3

    def cancel(self) -> None:
        self._timer.cancel()

    def _fire(self) -> None:
        wait = self._last + self._interval - time.monotonic()
        if wait <= 1e-3:
            with contextlib.suppress(utils.aio.channel.ChanClosed):
                self._channel.send_nowait(_KeepAliveSentinel())
            wait = self._interval
        self._timer = self._loop.call_at(self._loop.time() + wait, self._fire)


class SpeechStream(stt.RecognizeStream):
    """A streaming recognition session over any provider.

    Push ``rtc.AudioFrame`` s (any sample rate, mono or multi-channel PCM s16le;
    the rate must stay the same within a stream), call ``flush()`` to finalise a
    segment and ``end_input()`` when done, and iterate livekit ``SpeechEvent`` s.
    The iterator ends after the final transcript of the last words.

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
    ) -> None:
        self._provider = provider
        self._language = language
        self._realtime = realtime
        self._rate = provider.sample_rate
        self._chunk_samples = max(1, int(self._rate * provider.chunk_duration))
        self._bytestream = utils.audio.AudioByteStream(self._rate, 1, samples_per_channel=self._chunk_samples)
        self._unconfirmed: collections.deque[_Chunk] = collections.deque()
        self._audio_pos = 0.0  # seconds of audio chunked so far (stream clock)
        # pause boundaries (stream clock) not yet matched by an untimed final, for _confirm
        self._pauses: collections.deque[float] = collections.deque()
        self._silence_start: float | None = None
        self._speech_since_pause = False
        self._peak_rms = 0.0
        self._replay_trimmed = False
        self._max_replay = MAX_REPLAY_SECONDS if provider.max_replay is None else provider.max_replay
        self._finals_stalled = False  # REPLAY_WAIT ran out with no final: stop waiting until one
        self._pushed_seconds = 0.0  # audio handed to push_frame (some may not be chunked yet)
        self._confirmed = asyncio.Event()  # set when a final frees replay room
        # recent chunk ends / their send times, for latency; arrays: 8 bytes an entry, not 32
        self._sent_ends = array.array("d")
        self._sent_times = array.array("d")
        self._usage_pending = 0.0
        # reconnects emit each word once: timed results are cut at the last final's end,
        # untimed ones by the words they repeat (speechkit.overlap)
        self._final_end: float | None = None  # end of the last timed final, stream clock
        self._replay_cut: float | None = None  # this connection drops timed results before it
        self._recent_finals: collections.deque[tuple[float, list[str]]] = collections.deque(
            maxlen=MAX_OVERLAP_FINALS
        )  # (monotonic receive time, words) of finals
        self._overlap: ReplayOverlap[Transcript] | None = None
        # half-open detection: when speech went out that no server message has followed yet
        self._unanswered_since: float | None = None
        self._quiet_since = 0.0  # the receive loop's: the last server message, or the end of input
        self._request_id = uuid.uuid4().hex[:12]
        self._grammar = Grammar(
            language=language,
            provider_ends_utterances=provider.capabilities.end_of_utterance,
            request_id=self._request_id,
        )
        self._input_sent = asyncio.Event()  # end of input reached the server (this connection)
        self._ttfi_pending_since: float | None = None  # stream time of utterance onset
        self._connections = 0
        self._policy = RetryPolicy(conn_options, on_retry=self._log_retry)
        self._updating = False  # the last connection ended for update_options
        self._options_version = 0  # bumped by update_options; each connection knows its own
        self._pads: list[tuple[float, float]] = []  # (connection time, seconds) of silence padding sent
        self._rotation: asyncio.TimerHandle | None = None  # reconnects before the session expires
        self._owner = stt
        super().__init__(stt=stt, conn_options=conn_options, sample_rate=self._rate)

    # -- input --------------------------------------------------------------------

    def push_frame(self, frame: rtc.AudioFrame) -> None:
        """Push audio: PCM s16le, any rate (resampled), any channel count (averaged to mono).

        Raises:
            ValueError: the sample rate differs from earlier frames of this stream.
            RuntimeError: after ``end_input()`` or ``aclose()``.
        """
        if frame.samples_per_channel == 0:
            self._check_input_not_ended()
            self._check_not_closed()
            return
        if frame.num_channels > 1:
            pcm = np.frombuffer(frame.data, dtype=np.int16).reshape(-1, frame.num_channels)
            mono = pcm.mean(axis=1).astype(np.int16)
            frame = rtc.AudioFrame(mono.tobytes(), frame.sample_rate, 1, frame.samples_per_channel)
        if self._pushed_sr and self._pushed_sr != frame.sample_rate:
            raise ValueError(
                f"sample rate changed within a stream: {self._pushed_sr} Hz, then "
                f"{frame.sample_rate} Hz; open a new stream for a new rate (nothing pushed before is lost)"
            )
        super().push_frame(frame)
        self._pushed_seconds += frame.samples_per_channel / frame.sample_rate

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
        if not self._provider.capabilities.update_options:
            raise ConfigError(f"{self._provider.name} cannot change options on a live stream")
        if "sample_rate" in options and options["sample_rate"] != self._rate:
            raise ConfigError("sample_rate cannot change on a live stream; open a new stream")
        provider = self._provider.with_options(**options) if options else self._provider
        if is_given(language):
            self._language = self._grammar.language = language
        self._provider = provider
        self._options_version += 1
        if not self._input_ch.closed:
            # in order with the audio: what was pushed before goes out with the old options
            self._input_ch.send_nowait(_UpdateSentinel(self._options_version))

    # -- retry loop ---------------------------------------------------------------

    def _log_retry(self, err: APIError, attempt: int, delay: float) -> None:
        self._emit_error(err, recoverable=True)
        logger.warning(
            "%s stream failed, retrying in %.2fs: %s",
            self._provider.name,
            delay,
            type(err).__name__,
            extra={"provider": self._provider.name, "attempt": attempt, "stream_id": self._request_id},
        )

    async def _main_task(self) -> None:
        try:
            await self._serve()
        except Exception as e:
            if isinstance(e, APIError) and (gap := self._untranscribed()) > 0:
                # never a silent gap: the error says how much audio no final covers
                e.message = f"{e.message}; {gap:.1f} s of audio were never transcribed"
                e.args = (e.message, *e.args[1:])
                e.untranscribed_seconds = gap  # type: ignore[attr-defined]
            self._emit_error(e, recoverable=False)
            raise
        finally:
            self._end_overlap()
            for ev in self._grammar.close():
                self._send_event(ev)
            self._emit_usage()

    async def _serve(self) -> None:
        """Connections until the input is done, under the retry policy.

        Raises:
            APIError: a non-retryable error, or the last one once retries are spent.
        """
        self._updating = True
        while self._updating:  # update_options ends a connection on purpose: not a failure
            async for attempt in self._policy.attempts():
                with attempt:
                    await self._run()

    def _unconfirmed_speech(self) -> float:
        """Seconds of speech sent that no final is known to cover."""
        return sum(c.end - c.start for c in self._unconfirmed if c.speech)

    def _untranscribed(self) -> float:
        """Seconds of speech no final is known to cover, plus audio never sent."""
        return self._unconfirmed_speech() + max(0.0, self._pushed_seconds - self._audio_pos)

    async def _run(self) -> None:
        """One connection; ``_updating`` tells whether it ended for update_options."""
        self._updating = False
        version = self._options_version
        session = Session(
            language=self._language,
            sample_rate=self._rate,
            attempt=self._policy.failures,
            http=self._owner._http_session() if self._provider.capabilities.needs_network else None,
            timeout=self._conn_options.timeout,
            realtime=self._realtime,
        )
        # times the provider reports are relative to the first audio of this connection
        origin = self._unconfirmed[0].start if self._unconfirmed else self._audio_pos
        self._prepare_replay()
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(self._conn_options.timeout):
                conn = await self._provider.connect(session)
        except TimeoutError as e:
            raise APIConnectionError(
                f"{self._provider.name}: connect timed out after {self._conn_options.timeout}s"
            ) from e
        self._connections += 1
        self._report_connection_acquired(time.perf_counter() - t0, False)
        self._input_sent.clear()
        self._unanswered_since = None
        try:
            send = asyncio.create_task(self._send_loop(conn, session, version), name="speechkit.send")
            recv = asyncio.create_task(self._recv_loop(conn, session, origin), name="speechkit.recv")
            try:
                done, _ = await asyncio.wait({send, recv}, return_when=asyncio.FIRST_COMPLETED)
                if recv in done:
                    recv.result()  # raises the receive error
                    if not self._input_sent.is_set():
                        raise ServerError(
                            f"{self._provider.name}: server ended the session before the input ended"
                        )
                elif send.result():  # ended for update_options: reconnect, replaying what is unconfirmed
                    self._updating = True
                else:
                    await recv
            finally:
                await utils.aio.cancel_and_wait(send, recv)
        finally:
            await asyncio.shield(conn.aclose())

    # -- send ---------------------------------------------------------------------

    async def _send_loop(self, conn: Connection, session: Session, version: int) -> bool:
        """Send until the input ends (False) or an options update asks to reconnect (True)."""
        self._pads = []
        opened_with = self._provider
        for msg in opened_with.start_messages(session):
            await conn.send(msg)
        if opened_with.wait_for_ready:
            await self._until_ready(session)
        for chunk in list(self._unconfirmed):  # replay what no final covers yet
            await self._send_audio(conn, session, chunk)
        keepalive = self._provider.keepalive_message(session)
        # a keep-alive when the caller pushes nothing for a while: one timer per idle period,
        # not a timeout per frame
        idle = _IdleTimer(self._input_ch, self._provider.keepalive_interval) if keepalive else None
        try:
            return await self._send_input(conn, session, version, opened_with, keepalive, idle)
        finally:
            if idle is not None:
                idle.cancel()

    async def _send_input(
        self,
        conn: Connection,
        session: Session,
        version: int,
        opened_with: Provider[Any],
        keepalive: Message | None,
        idle: _IdleTimer | None,
    ) -> bool:
        while True:
            try:
                item = await self._input_ch.recv()
            except utils.aio.channel.ChanClosed:
                break
            if isinstance(item, _KeepAliveSentinel):
                if idle is not None and keepalive is not None and idle.due():
                    await conn.send(keepalive)
                    idle.touch()
                continue  # queued by a connection's timer, stale when input came since
            if idle is not None:
                idle.touch()
            if isinstance(item, rtc.AudioFrame):
                await self._room_for_audio(item.samples_per_channel / item.sample_rate)
                await self._send_chunks(conn, session, self._bytestream.push(item.data))
            elif isinstance(item, _UpdateSentinel):
                if item.version > version:  # else this connection already has those options
                    same_language = self._language == session.language
                    live = None
                    if same_language and not item.reconnect:
                        live = self._provider.update_message(opened_with, session)
                    if live is None:
                        return True
                    await conn.send(live)  # applied on this connection: no reconnect
                    opened_with, version = self._provider, self._options_version
            else:
                await self._send_chunks(conn, session, self._bytestream.flush())
                self._mark_boundary()  # a flush ends the segment as a pause would
                if (flush := self._provider.flush_message(session)) is not None:
                    await conn.send(flush)
        await self._send_chunks(conn, session, self._bytestream.flush())
        self._mark_boundary()  # so does the end of the input
        if (eoi := self._provider.end_of_input_message(session)) is not None:
            await conn.send(eoi)
        self._input_sent.set()
        return False

    async def _room_for_audio(self, seconds: float) -> None:
        """Backpressure: hold new audio while the replay buffer is full and finals keep freeing
        it; a server that finalises nothing for REPLAY_WAIT seconds gets the audio anyway (then
        the oldest unconfirmed audio is trimmed, with a warning)."""
        seconds += self._chunk_samples / self._rate  # the byte stream may complete one more chunk
        while self._unconfirmed and self._audio_pos + seconds - self._unconfirmed[0].start > self._max_replay:
            if self._finals_stalled:  # waited once already; a final resets it
                return
            self._confirmed.clear()
            try:
                async with asyncio.timeout(REPLAY_WAIT):
                    await self._confirmed.wait()
            except TimeoutError:
                self._finals_stalled = True
                return

    async def _until_ready(self, session: Session) -> None:
        """Hold the audio until the parser reports Ready, at most the connect timeout."""
        try:
            async with asyncio.timeout(session.timeout):
                await session.ready.wait()
        except TimeoutError as e:
            raise APIConnectionError(
                f"{self._provider.name}: the session was not ready within {session.timeout}s"
            ) from e

    async def _send_chunks(self, conn: Connection, session: Session, frames: list[rtc.AudioFrame]) -> None:
        # every chunk joins the replay buffer before the first await: a connection lost
        # midway replays the rest instead of losing it
        for chunk in [self._new_chunk(frame) for frame in frames]:
            await self._send_audio(conn, session, chunk)

    def _new_chunk(self, frame: rtc.AudioFrame) -> _Chunk:
        start = self._audio_pos
        self._audio_pos += frame.samples_per_channel / self._rate
        chunk = _Chunk(bytes(frame.data), start, self._audio_pos, time.monotonic())
        self._unconfirmed.append(chunk)  # before sending: a failed send replays it
        chunk.speech = self._track_pauses(chunk)
        if chunk.end - self._unconfirmed[0].start > self._max_replay:
            dropped = self._unconfirmed.popleft()
            if not self._replay_trimmed:  # once per stream
                self._replay_trimmed = True
                logger.warning(
                    "over %.0f s of audio await a final: only the newest is kept for replay on reconnect",
                    self._max_replay,
                    extra={
                        "provider": self._provider.name,
                        "stream_id": self._request_id,
                        "at": dropped.start,
                    },
                )
        self._sent_ends.append(chunk.end)
        self._sent_times.append(chunk.sent_at)
        if len(self._sent_ends) > 4096:  # keep a bounded history for latency lookups
            del self._sent_ends[:2048], self._sent_times[:2048]
        return chunk

    async def _send_audio(self, conn: Connection, session: Session, chunk: _Chunk) -> None:
        data = chunk.data
        short = round(self._provider.min_chunk_duration * self._rate) - len(data) // 2
        if short > 0:  # a flush or end-of-input tail: pad it; the stream clock skips the padding
            self._pads.append((session.audio_seconds + len(data) / 2 / self._rate, short / self._rate))
            data += bytes(2 * short)
        message = self._provider.encode_audio(data, session)
        seconds = len(data) / 2 / self._rate
        session.chunks_sent += 1  # before the send: the server may acknowledge it before send() returns
        session.audio_seconds += seconds
        await conn.send(message)
        if chunk.speech and self._unanswered_since is None:
            self._unanswered_since = time.monotonic()
        self._usage_pending += seconds
        if self._usage_pending >= USAGE_INTERVAL:
            self._emit_usage()

    # -- receive ------------------------------------------------------------------

    async def _recv_loop(self, conn: Connection, session: Session, origin: float) -> None:
        """Handle the server's messages as they come (one reader task: nothing between a message
        and its events) while watching the clock: half-open connection, drain, the provider's
        deadline. The clock is looked at when a bound may have passed, not on every message."""
        self._quiet_since = time.monotonic()  # the last server message, or the end of the input
        kick = asyncio.Event()  # the reader changed session.deadline: look at the clock again
        reader = asyncio.create_task(self._read_messages(conn, session, origin, kick))
        input_sent = asyncio.create_task(self._input_sent.wait())
        kicked = asyncio.create_task(kick.wait())
        try:
            while True:
                draining = input_sent.done()
                waiting = {reader, kicked} if draining else {reader, kicked, input_sent}
                timeout = self._recv_timeout(draining, self._quiet_since)
                if session.deadline is not None:
                    due = max(0.0, session.deadline - time.monotonic())
                    timeout = due if timeout is None else min(timeout, due)
                done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                if reader in done:
                    return reader.result()  # the connection ended or Finished came; or it raises
                now = time.monotonic()
                if kicked in done:
                    kick.clear()
                    kicked = asyncio.create_task(kick.wait())
                if input_sent in done:  # the input just ended: wait again, now draining
                    self._quiet_since = max(self._quiet_since, now)
                if done:
                    continue
                if self._deadline_passed(session, origin):
                    continue
                answered = self._check_answered(now, draining, self._quiet_since)
                # drain: once the input is out and all speech answered, this much server
                # silence means it is done
                quiet = now - self._quiet_since >= self._provider.drain_timeout - 1e-3
                if draining and answered and quiet:
                    logger.debug("drain timeout", extra={"provider": self._provider.name})
                    return
        finally:
            if self._rotation is not None:
                self._rotation.cancel()
                self._rotation = None
            await utils.aio.cancel_and_wait(reader, input_sent, kicked)

    async def _read_messages(
        self, conn: Connection, session: Session, origin: float, kick: asyncio.Event
    ) -> None:
        """Receive, parse and deliver until the connection ends (None) or ``Finished``."""
        while True:
            msg = await conn.receive()
            if msg is None:
                return
            self._quiet_since, self._unanswered_since = time.monotonic(), None
            deadline = session.deadline
            try:
                events = list(self._provider.parse(msg, session))
            except APIError:
                raise
            except Exception as e:  # a malformed frame must not end the stream silently
                raise ServerError(
                    f"{self._provider.name}: could not parse a server message ({type(e).__name__})"
                ) from e
            if session.deadline != deadline:
                kick.set()
            for ev in events:
                if isinstance(ev, Finished):
                    return
                if isinstance(ev, Ready):
                    session.ready.set()
                    self._schedule_rotation(ev.expires_in)
                else:
                    self._deliver(ev, origin)

    def _awaiting_since(self, draining: bool, quiet_since: float) -> float | None:
        """Since when the server owes an answer (monotonic), or None when it owes none.

        It owes one for speech sent after its last message; and, while draining, for timed
        finals of speech still unconfirmed (times say exactly what finals covered; untimed
        finals only bound it, so for them the first rule alone applies).
        """
        if self._unanswered_since is not None:
            return self._unanswered_since
        timed = self._provider.capabilities.word_timestamps
        # more than a word's tail past the last final's end
        if draining and timed and self._unconfirmed_speech() >= PAUSE_SECONDS:
            return quiet_since
        return None

    def _recv_timeout(self, draining: bool, quiet_since: float) -> float | None:
        """How long the receive loop may wait before it must look at the clock again."""
        now, limit = time.monotonic(), self._provider.response_limit
        owed = self._awaiting_since(draining, quiet_since)
        if limit is not None and owed is not None:
            return max(0.0, owed + limit - now)
        if draining:
            return max(0.0, quiet_since + self._provider.drain_timeout - now)
        return limit  # speech may go out meanwhile: look again after one bound

    def _check_answered(self, now: float, draining: bool, quiet_since: float) -> bool:
        """Whether the server owes nothing now; raise when it owed an answer for the bound.

        Raises:
            APIConnectionError: the connection is half-open (retried: a new connection
                gets the unconfirmed audio replayed).
        """
        limit, owed = self._provider.response_limit, self._awaiting_since(draining, quiet_since)
        if owed is None or limit is None:
            return True
        if now - owed < limit - 1e-3:
            return False
        raise APIConnectionError(
            f"{self._provider.name}: no server message for {limit:g} s while audio awaited "
            "transcription (half-open connection?)"
        )

    # -- one emission per word across reconnects ----------------------------------

    def _prepare_replay(self) -> None:
        """Before a connection: what its replay repeats, to drop from its results."""
        self._end_overlap()  # finals held by an unresolved overlap go out now: lose nothing
        replaying = self._connections > 0 and bool(self._unconfirmed)
        self._replay_cut = self._final_end if replaying else None
        if replaying:
            since = self._unconfirmed[0].sent_at  # a final received before this covers no replay
            emitted = [w for at, words in self._recent_finals if at >= since for w in words]
            self._overlap = ReplayOverlap(emitted) if emitted else None

    def _end_overlap(self) -> None:
        if self._overlap is not None:
            for held, _ in self._overlap.finish():
                self._handle(held)
            self._overlap = None

    def _dedupe(self, ev: ProviderEvent) -> list[ProviderEvent]:
        """Drop or trim what a replaying connection repeats; other events pass unchanged."""
        cut = self._replay_cut
        if isinstance(ev, Transcript) and ev.end_time is not None and cut is not None:
            if ev.start_time is None or ev.start_time >= cut - 1e-3:
                return [ev]
            if ev.end_time <= cut + 1e-3:
                return []  # wholly before the last final: a repeat
            if not ev.words:
                return [ev]
            kept = tuple(w for w in ev.words if (w.start_time + w.end_time) / 2 >= cut)
            if not kept:
                return []
            text = " ".join(w.text for w in kept)
            return [attrs.evolve(ev, text=text, start_time=kept[0].start_time, words=kept)]
        if isinstance(ev, (SpeechStarted, SpeechEnded)) and ev.time is not None:
            return [] if cut is not None and ev.time < cut else [ev]
        overlap = self._overlap
        if overlap is None or not overlap.active:
            return [ev]
        if not isinstance(ev, Transcript):
            return []  # untimed speech markers inside a repeat
        if not ev.is_final:
            return [] if overlap.repeats(ev.text) else [ev]
        return [e if text == e.text else _trimmed(e, text) for e, text in overlap.final(ev.text, ev).emit]

    def _deadline_passed(self, session: Session, origin: float) -> bool:
        """Call the provider's ``on_deadline`` if ``session.deadline`` passed; whether it did."""
        if session.deadline is None or time.monotonic() < session.deadline:
            return False
        session.deadline = None
        for ev in self._provider.on_deadline(session):
            if not isinstance(ev, (Ready, Finished)):
                self._deliver(ev, origin)
        return True

    def _deliver(self, ev: ProviderEvent, origin: float) -> None:
        """One provider event: onto the stream clock, past the replay's repeats, into the grammar."""
        for out in self._dedupe(self._to_stream_clock(ev, origin)):
            self._handle(out)

    def _schedule_rotation(self, expires_in: float | None) -> None:
        """Move to a new connection shortly before the session expires (no word lost: replay).

        An expiry under a second away (or past: a skewed clock) is left to the server's own
        close, so a wrong clock cannot make the stream reconnect in a loop.
        """
        if expires_in is None or expires_in < 1.0:
            return
        if self._rotation is not None:
            self._rotation.cancel()
        delay = max(0.0, expires_in - min(ROTATE_MARGIN, expires_in / 10))
        self._rotation = asyncio.get_running_loop().call_later(delay, self._rotate)

    def _rotate(self) -> None:
        self._rotation = None
        if not self._input_ch.closed:  # after end of input the session just drains
            logger.info(
                "session about to expire: moving to a new connection",
                extra={"provider": self._provider.name, "stream_id": self._request_id},
            )
            self._reconnect_in_order()

    def _reconnect_in_order(self) -> None:
        """Move to a new connection after the audio pushed so far (replaying what no final covers)."""
        self._options_version += 1
        with contextlib.suppress(utils.aio.channel.ChanClosed):
            self._input_ch.send_nowait(_UpdateSentinel(self._options_version, reconnect=True))

    def _to_stream_clock(self, ev: ProviderEvent, origin: float) -> ProviderEvent:
        offset = origin + self.start_time_offset

        def at(t: float | None) -> float | None:
            return None if t is None else self._unpad(t) + offset

        if isinstance(ev, Transcript):
            words = tuple(
                Word(
                    w.text, self._unpad(w.start_time) + offset, self._unpad(w.end_time) + offset, w.confidence
                )
                for w in ev.words
            )
            return attrs.evolve(ev, start_time=at(ev.start_time), end_time=at(ev.end_time), words=words)
        if isinstance(ev, (SpeechStarted, SpeechEnded)):
            return type(ev)(at(ev.time))
        return ev

    def _unpad(self, t: float) -> float:
        """Connection-clock seconds to seconds of pushed audio: padding sent before ``t`` is skipped."""
        skipped = 0.0
        for at, pad in self._pads:
            if t <= at:
                break
            skipped += min(pad, t - at)
        return t - skipped

    def _handle(self, ev: ProviderEvent) -> None:
        was_in_speech = self._grammar.in_speech
        out = self._grammar.feed(ev)
        now = time.monotonic()
        for sev in out:
            if sev.type == stt.SpeechEventType.START_OF_SPEECH and not was_in_speech:
                onset = ev.time if isinstance(ev, SpeechStarted) else getattr(ev, "start_time", None)
                self._ttfi_pending_since = onset if onset is not None else self._audio_pos
            elif sev.type == stt.SpeechEventType.INTERIM_TRANSCRIPT and self._ttfi_pending_since is not None:
                self._emit_metrics(time_to_first_interim=self._latency(self._ttfi_pending_since, now))
                self._ttfi_pending_since = None
            elif sev.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
                self._ttfi_pending_since = None
                end = sev.alternatives[0].end_time - self.start_time_offset if sev.alternatives else 0.0
                if end > 0:
                    self._emit_metrics(final_latency=self._latency(end, now))
                if isinstance(ev, Transcript):
                    if ev.end_time is not None:
                        self._final_end = max(self._final_end or 0.0, ev.end_time)
                    # by words too: the next connection (a chain's next member) may give no times
                    self._recent_finals.append((now, words_of(ev.text)))
                eou = isinstance(ev, Transcript) and ev.end_of_utterance
                self._confirm(end if end > 0 else None, eou)
                self._policy.succeeded()
            self._send_event(sev)

    def _track_pauses(self, chunk: _Chunk) -> bool:
        """Note where pauses (>= PAUSE_SECONDS of silence after speech) begin; True for speech."""
        pcm = np.frombuffer(chunk.data, dtype=np.int16).astype(np.float64)
        rms = math.sqrt(float(pcm @ pcm) / pcm.size) if pcm.size else 0.0  # one dot: no temporaries
        self._peak_rms = max(self._peak_rms, rms)
        silent = rms < max(SILENCE_RMS, SILENCE_RELATIVE * self._peak_rms)
        if not silent:
            self._silence_start = None
            self._speech_since_pause = True
            return True
        if self._silence_start is None:
            self._silence_start = chunk.start
        if self._speech_since_pause and chunk.end - self._silence_start >= PAUSE_SECONDS - 1e-6:
            self._pauses.append(self._silence_start)
            self._speech_since_pause = False
        return False

    def _mark_boundary(self) -> None:
        """A segment boundary at the current end of audio (flush, end of input)."""
        if self._speech_since_pause:
            self._pauses.append(self._audio_pos)
            self._speech_since_pause = False

    def _confirm(self, end: float | None, end_of_utterance: bool) -> None:
        """Drop replay audio a final covers.

        A final with an end time covers audio up to it. A final without times (Telnyx)
        covers its utterance: audio up to the oldest pause not yet matched by a final.
        Finals that do not close an utterance confirm nothing then: replaying audio a
        final covered would repeat words, but dropping audio none covered loses them.
        """
        if end is None:
            if not end_of_utterance or not self._pauses:
                return
            end = self._pauses.popleft()
        while self._pauses and self._pauses[0] <= end:
            self._pauses.popleft()
        while self._unconfirmed and self._unconfirmed[0].end <= end + 1e-6:
            self._unconfirmed.popleft()
            self._confirmed.set()
            self._finals_stalled = False

    def _latency(self, stream_time: float, now: float) -> float:
        """Seconds from when the audio at ``stream_time`` was pushed to ``now``."""
        i = bisect.bisect_left(self._sent_ends, stream_time - self.start_time_offset - 1e-6)
        if i >= len(self._sent_ends):
            return 0.0
        chunk_end = self._sent_ends[i]
        # the chunk went out when its last sample arrived; the sample at stream_time came earlier
        pushed_at = self._sent_times[i] - max(0.0, chunk_end - (stream_time - self.start_time_offset))
        return max(0.0, now - pushed_at)

    # -- output -------------------------------------------------------------------

    def _send_event(self, ev: stt.SpeechEvent) -> None:
        with contextlib.suppress(utils.aio.channel.ChanClosed):
            self._event_ch.send_nowait(ev)

    def _emit_usage(self) -> None:
        if self._usage_pending <= 0:
            return
        seconds, self._usage_pending = self._usage_pending, 0.0
        self._send_event(
            stt.SpeechEvent(
                type=stt.SpeechEventType.RECOGNITION_USAGE,
                request_id=self._request_id,
                recognition_usage=stt.RecognitionUsage(audio_duration=seconds),
            )
        )

    def _emit_metrics(
        self,
        *,
        time_to_first_interim: float | None = None,
        final_latency: float | None = None,
        failover_gap: float | None = None,
        replayed_seconds: float | None = None,
    ) -> None:
        self._owner.emit(
            "metrics_collected",
            SpeechkitSTTMetrics(
                label=f"speechkit.{self._provider.name}",  # the provider that served (a chain has several)
                request_id=self._request_id,
                timestamp=time.time(),
                duration=0.0,
                audio_duration=0.0,
                streamed=True,
                reconnects=max(0, self._connections - 1),
                time_to_first_interim=time_to_first_interim,
                final_latency=final_latency,
                failover_gap=failover_gap,
                replayed_seconds=replayed_seconds,
                metadata=self._owner.usage_metadata(),
            ),
        )
