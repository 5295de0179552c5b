"""One connection's runner: send, keep-alive, the ready gate, receive and the watchdog.

The stream opens a connection and hands it here with the parts it shares across
connections (input channel, chunker, replay buffer, clock); the runner sends the start
messages, waits for ``Ready`` where the provider asks, replays the unconfirmed audio, then
sends the input as it comes while a reader task parses the server's messages, until the
input ends and the server is done (drain), the connection fails, or an options change asks
for a new connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from livekit.agents import stt, utils

from ..connection import Connection, Message, Session
from ..errors import APIConnectionError, APIError, ServerError
from ..events import Finished, ProviderEvent, Ready, Transcript
from ..provider import Provider
from .clock import StreamClock
from .input import Chunk, Chunker, PcmBlock, pad_tail
from .metrics import PushTimes
from .replay import ReplayBuffer
from .watchdog import MuteError, Watchdog

logger = logging.getLogger("speechkit")

ROTATE_MARGIN = 10.0
"""Seconds before a session's announced expiry (``Ready.expires_in``) that the stream moves to a
new connection (at most a tenth of the session's remaining time)."""


class OptionsChanged(stt.RecognizeStream._FlushSentinel):
    """Queued on the input channel by an options update, in order with the audio.

    The runner applies it live when :meth:`Provider.update_message` gives a message, else
    ends the connection for a new one; ``reconnect`` always does (a session rotated before it
    expires, a chain returning to a recovered member).
    """

    def __init__(self, version: int, *, reconnect: bool = False) -> None:
        self.version = version
        self.reconnect = reconnect


class KeepAliveDue(stt.RecognizeStream._FlushSentinel):
    """Queued by :class:`IdleTimer` when no input came for the keep-alive interval."""


class IdleTimer:
    """Queues a :class:`KeepAliveDue` after ``interval`` seconds without input, then every
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
                self._channel.send_nowait(KeepAliveDue())
            wait = self._interval
        self._timer = self._loop.call_at(self._loop.time() + wait, self._fire)


CurrentOptions = Callable[[], tuple[Provider[Any], int, str]]
"""The stream's provider (options included), options version and language, now."""


class ConnectionRunner:
    """Runs one connection to its end.

    Args:
        conn: The open connection.
        session: Its session.
        provider: The provider it was opened with (its framing and parsing serve the
            connection; an options change applied live replaces it).
        version: The options version it was opened with.
        channel: The stream's input channel (frames, flush and options sentinels).
        chunker: The stream's chunker.
        replay: The stream's replay buffer.
        clock: The stream clock (padding sent is recorded in it).
        push_times: When each new chunk was complete (for latency).
        current: The stream's options now (see :data:`CurrentOptions`).
        deliver: Takes each provider event (connection times) but ``Ready``/``Finished``.
        sent: Called with the seconds on the wire (padding included) of each chunk sent and
            the provider it went to.
        flushed: Called when a flush's audio was sent (True once the input has ended: the end
            of input's); whether to send the provider's flush message (False: the stream
            answered it, there was nothing to finalise).
        rotate: Called when the session is about to expire (``Ready.expires_in``).
        own_second_opinion: A provider's own new connection may clear it of muteness on
            audio it left without words (a stream with one provider); in a chain only
            another member may (see :meth:`Watchdog.closed`).
    """

    def __init__(
        self,
        *,
        conn: Connection,
        session: Session,
        provider: Provider[Any],
        version: int,
        channel: utils.aio.Chan[Any],
        chunker: Chunker,
        replay: ReplayBuffer,
        clock: StreamClock,
        push_times: PushTimes,
        current: CurrentOptions,
        deliver: Callable[[ProviderEvent], None],
        sent: Callable[[float, Provider[Any]], None],
        rotate: Callable[[], None],
        flushed: Callable[[bool], bool] = lambda ending: True,
        own_second_opinion: bool = True,
    ) -> None:
        self._conn, self._session, self._provider, self._version = conn, session, provider, version
        self._channel, self._chunker, self._replay, self._clock = channel, chunker, replay, clock
        self._current, self._deliver, self._sent, self._rotate = current, deliver, sent, rotate
        self._push_times, self._flushed = push_times, flushed
        self._own_opinion = own_second_opinion
        self._input_sent = asyncio.Event()  # the end of input reached the server
        self._rotation: asyncio.TimerHandle | None = None
        self._watchdog = Watchdog(
            provider=provider.name,
            response_limit=provider.response_limit,
            drain_timeout=provider.drain_timeout,
            timed=provider.capabilities.word_timestamps,
            unconfirmed_speech=lambda: replay.speech_seconds,
            now=time.monotonic(),
            mute_limit=provider.mute_limit,
        )

    async def run(self) -> bool:
        """Send and receive until the connection is done.

        Returns:
            True when it ended for an options change (the stream reconnects, replaying what
            no final covers), False when the input was sent and the server finished.

        Raises:
            APIError: the connection failed (classified), or the server ended the session
                before the input ended, or it went mute (:class:`~.watchdog.MuteError`).
        """
        try:
            return await self._run()
        except MuteError as e:
            # the next connection's second opinion on this audio stands, even without words
            self._replay.mute_trusted = max(self._replay.mute_trusted, e.position)
            self._replay.mute_by = self._provider.name
            raise

    async def _run(self) -> bool:
        send = asyncio.create_task(self._send_all(), name="speechkit.send")
        recv = asyncio.create_task(self._receive(), name="speechkit.recv")
        try:
            done, _ = await asyncio.wait({send, recv}, return_when=asyncio.FIRST_COMPLETED)
            if recv in done:
                recv.result()  # raises the receive error
                if not self._input_sent.is_set():
                    raise ServerError(
                        f"{self._provider.name}: server ended the session before the input ended"
                    )
                self._watchdog.closed(self._second_opinion())
                return False
            if send.result():
                return True
            await recv
            self._watchdog.closed(self._second_opinion())
            return False
        finally:
            await utils.aio.cancel_and_wait(send, recv)

    def _second_opinion(self) -> float:
        """Up to where this connection's verdict on audio a mute one left without words stands."""
        replay = self._replay
        return replay.mute_trusted if self._own_opinion or replay.mute_by != self._provider.name else 0.0

    # -- send ---------------------------------------------------------------------

    async def _send_all(self) -> bool:
        """Send until the input ends (False) or an options change asks to reconnect (True)."""
        provider, session = self._provider, self._session
        for msg in provider.start_messages(session):
            await self._conn.send(msg)
        if provider.wait_for_ready:
            await self._until_ready()
        for chunk in list(self._replay):  # replay what no final covers yet
            await self._send_chunk(chunk)
        keepalive = provider.keepalive_message(session)
        # a keep-alive when the caller pushes nothing for a while: one timer per idle period,
        # not a timeout per frame
        idle = IdleTimer(self._channel, provider.keepalive_interval) if keepalive else None
        try:
            return await self._send_input(keepalive, idle)
        finally:
            if idle is not None:
                idle.cancel()

    async def _send_input(self, keepalive: Message | None, idle: IdleTimer | None) -> bool:
        session, version = self._session, self._version
        while True:
            try:
                item = await self._channel.recv()
            except utils.aio.channel.ChanClosed:
                break
            if isinstance(item, KeepAliveDue):
                if idle is not None and keepalive is not None and idle.due():
                    await self._conn.send(keepalive)
                    idle.touch()
                continue  # queued by a connection's timer, stale when input came since
            if idle is not None:
                idle.touch()
            if isinstance(item, PcmBlock):
                chunker = self._chunker
                room = False
                try:  # the block may complete one more chunk than it holds
                    await self._replay.room_for((len(item.pcm) // 2 + chunker.chunk_samples) / chunker.rate)
                    room = True
                finally:  # a connection lost while waiting: the block joins replay (whole), not oblivion
                    chunks = self._keep(chunker.push(item.pcm), trim=room)
                for chunk in chunks:
                    await self._send_chunk(chunk)
            elif isinstance(item, OptionsChanged):
                if item.version > version:  # else this connection already has those options
                    provider, latest, language = self._current()
                    live = None
                    if language == session.language and not item.reconnect:
                        live = provider.update_message(self._provider, session)
                    if live is None:
                        return True
                    await self._conn.send(live)  # applied on this connection: no reconnect
                    self._provider, version = provider, latest
            else:  # a flush ends the segment as a pause would
                await self._send_chunks(self._chunker.flush())
                if (
                    # after end_input() (which flushes first), the stream's end answers it
                    self._flushed(self._channel.closed)
                    and (flush := self._provider.flush_message(session)) is not None
                ):
                    await self._conn.send(flush)
        await self._send_chunks(self._chunker.flush())  # so does the end of the input
        session.input_ended = True
        if (eoi := self._provider.end_of_input_message(session)) is not None:
            await self._conn.send(eoi)
        self._input_sent.set()
        return False

    async def _until_ready(self) -> None:
        """Hold the audio until the parser reports Ready, at most the connect timeout."""
        session = self._session
        try:
            async with asyncio.timeout(session.timeout):
                await session.ready.wait()
        except TimeoutError as e:
            raise APIConnectionError(
                f"{self._provider.name}: the session was not ready within {session.timeout}s"
            ) from e

    def _keep(self, chunks: list[Chunk], *, trim: bool = True) -> list[Chunk]:
        """``chunks``, each joined to the replay buffer (before any is sent: a connection lost
        midway replays the rest instead of losing it); ``trim``: see :meth:`ReplayBuffer.add`."""
        for chunk in chunks:
            self._replay.add(chunk, trim=trim)
            self._push_times.record(chunk.end, chunk.sent_at)
        return chunks

    async def _send_chunks(self, chunks: list[Chunk]) -> None:
        for chunk in self._keep(chunks):
            await self._send_chunk(chunk)

    async def _send_chunk(self, chunk: Chunk) -> None:
        session, rate = self._session, self._chunker.rate
        data, pad = pad_tail(chunk.data, round(self._provider.min_chunk_duration * rate))
        if pad:  # a flush or end-of-input tail: the stream clock skips the padding
            self._clock.pad(session.audio_seconds + len(chunk.data) / 2 / rate, pad / rate)
        message = self._provider.encode_audio(data, session)
        seconds = len(data) / 2 / rate
        session.chunks_sent += 1  # before the send: the server may acknowledge it before send() returns
        session.audio_seconds += seconds
        await self._conn.send(message)
        if chunk.speech:
            self._watchdog.spoke(time.monotonic())
        elif chunk.pause is not None:
            self._watchdog.uttered(time.monotonic(), chunk.pause)
        self._sent(seconds, self._provider)

    # -- receive ------------------------------------------------------------------

    async def _receive(self) -> None:
        """Handle the server's messages as they come (one reader task: nothing between a message
        and its events) while watching the clock: half-open connection, drain, the provider's
        deadline. The clock is looked at when a bound may have passed, not on every message."""
        session, watchdog = self._session, self._watchdog
        kick = asyncio.Event()  # the reader changed session.deadline: look at the clock again
        reader = asyncio.create_task(self._read(kick))
        input_sent = asyncio.create_task(self._input_sent.wait())
        kicked = asyncio.create_task(kick.wait())
        try:
            while True:
                draining = input_sent.done()
                waiting = {reader, kicked} if draining else {reader, kicked, input_sent}
                timeout = watchdog.timeout(time.monotonic(), draining)
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
                    watchdog.input_ended(now)
                if done or self._deadline_passed():
                    continue
                if watchdog.drained(now, draining):
                    logger.debug("drain timeout", extra={"provider": self._provider.name})
                    return
        finally:
            if self._rotation is not None:
                self._rotation.cancel()
                self._rotation = None
            await utils.aio.cancel_and_wait(reader, input_sent, kicked)

    async def _read(self, kick: asyncio.Event) -> None:
        """Receive, parse and deliver until the connection ends (None) or ``Finished``."""
        session, provider = self._session, self._provider
        while True:
            msg = await self._conn.receive()
            if msg is None:
                return
            self._watchdog.heard(time.monotonic())
            deadline = session.deadline
            try:
                events = list(provider.parse(msg, session))
            except APIError:
                raise
            except Exception as e:  # a malformed frame must not end the stream silently
                raise ServerError(
                    f"{provider.name}: could not parse a server message ({type(e).__name__})"
                ) from e
            if session.deadline != deadline:
                kick.set()
            for ev in events:
                if isinstance(ev, Finished):
                    return
                if isinstance(ev, Ready):
                    session.ready.set()
                    self._schedule_rotation(ev.expires_in)
                    continue
                if isinstance(ev, Transcript):
                    self._watchdog.transcript(ev.is_final, bool(ev.text.strip()), self._clock.at(ev.end_time))
                self._deliver(ev)

    def _deadline_passed(self) -> bool:
        """Call the provider's ``on_deadline`` if ``session.deadline`` passed; whether it did."""
        session = self._session
        if session.deadline is None or time.monotonic() < session.deadline:
            return False
        session.deadline = None
        for ev in self._provider.on_deadline(session):
            if not isinstance(ev, (Ready, Finished)):
                self._deliver(ev)
        return True

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
        self._rotation = asyncio.get_running_loop().call_later(delay, self._rotated)

    def _rotated(self) -> None:
        self._rotation = None
        self._rotate()
