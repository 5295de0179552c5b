"""The emulator framework: a real aiohttp WebSocket server on 127.0.0.1 that records what it
receives and fails on command.

A vendor emulator subclasses :class:`Emulator` (or, to run a recognizer behind it,
:class:`~speechkit_conformance.recognizing.RecognizingEmulator`), names its ``paths`` and its
``config_type`` (an attrs class with at least ``api_key``), and implements the protocol hooks
(:meth:`Emulator.handshake`, :meth:`Emulator.open_session`, :meth:`Emulator.on_binary`,
:meth:`Emulator.on_text`, :meth:`Emulator.error_message`). A missing one fails when the class
is defined, with a message naming it. The base owns the server, the per-session
:class:`SessionRecord`, the outbox (so a response delay keeps message order), the session's
limits (:meth:`SessionContext.limit`) and every fault of a :class:`FaultPlan`::

    async with TelnyxEmulator(faults=FaultPlan(drop_after=1.0)) as emu:
        provider = TelnyxProvider(TelnyxOptions(base_url=emu.url, api_key=emu.api_key))
        ...
        assert emu.sessions[0].audio_seconds >= 1.0

The contract, as the harness and ``speechkit emulate`` use it: ``cls(config=None, *,
faults=None, port=0)`` builds an emulator with the vendor's defaults; ``emulator.config`` is an
instance of ``config_type``, whose fields ``speechkit emulate --set FIELD=VALUE`` sets; the
vendor's per-session state is what :meth:`Emulator.open_session` returns, typed, at
:attr:`SessionContext.state` (and :attr:`SessionRecord.state` for tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any, ClassVar, Generic, Literal, Self, TypeVar

import attrs
from aiohttp import WSMsgType, web

from speechkit.events import Word


@attrs.define(kw_only=True)
class FaultPlan:
    """What an emulator does wrong, and when. Every field defaults to "behave".

    Mid-stream faults (``close_*``, ``drop_after``, ``stall_after``, ``malformed_after``,
    ``error_after``, ``huge_after``, ``unknown_after``, ``interim_flood_after``) trigger once the
    session has received that many seconds of audio (0.0: on the first audio frame) and apply to
    the first ``fault_sessions`` accepted sessions only, so a reconnect finds a healthy server;
    so do ``early_final`` and ``bad_times``. The server-message faults are generic: a vendor
    emulator supplies only its messages' shape (:meth:`Emulator.unknown_message`,
    :meth:`Emulator.final_message`, :meth:`Emulator.interim_message`, :meth:`Emulator.final_start`,
    :meth:`Emulator.shift_final`); a fault whose hook the vendor leaves out is not sent.

    Attributes:
        refuse_status: Refuse the WebSocket handshake with this HTTP status (401, 403, 429,
            500, 503...).
        refuse_count: Refuse only the first N connects; None refuses every one.
        retry_after: ``Retry-After`` header (seconds) on refusals (429/503) and over capacity.
        close_code: Close with this WebSocket code after ``close_after`` seconds of audio.
        close_after: Seconds of audio before ``close_code``.
        drop_after: Seconds of audio after which the TCP connection is aborted with no
            close frame.
        stall_after: Seconds of audio after which the session goes half-open: the socket
            stays up but the server neither reads, answers pings nor sends.
        delay: Seconds every server message (and the server's close) is held back.
        malformed_after: Seconds of audio after which one malformed text frame is sent.
        malformed_frame: The malformed frame.
        error_after: Seconds of audio after which the vendor's error message is sent and the
            session closed (see :meth:`Emulator.error_message`).
        error_message: Overrides the vendor's default error message (a JSON-able object or str).
        error_close_code: Close code after the error; None for the vendor's default.
        max_sessions: Concurrent sessions allowed; one more is refused with
            ``capacity_status``.
        capacity_status: HTTP status for a connect over ``max_sessions``.
        fault_sessions: Mid-stream faults apply to the first N accepted sessions; None: all.
        outage_after: Seconds of audio after which the vendor goes down: the connection
            drops and every later connect is refused with 503 until the emulator restarts.
        mute_after: Seconds of audio after which the session keeps answering (pings,
            acknowledgements, messages without words) but sends no transcript with words:
            a silent failure (see :func:`carries_words`).
        huge_after: Seconds of audio after which one text frame of ``huge_size`` bytes is sent
            (the vendor's :meth:`~Emulator.unknown_message` with a padding field).
        huge_size: Bytes of padding in that frame (50 MB; aiohttp clients refuse over 4 MiB).
        unknown_after: Seconds of audio after which one message of a type the vendor's protocol
            does not define is sent (:meth:`Emulator.unknown_message`).
        early_final: Send a final of ``injected_text`` right after the session opens, before
            any audio arrived (:meth:`Emulator.final_message`).
        bad_times: Rewrite the times of the session's finals (timed vendors,
            :meth:`Emulator.final_start` and :meth:`Emulator.shift_final`): ``"negative"`` moves
            every final 1 s earlier (before the session's first audio); ``"decreasing"`` moves each
            final after the first to start at half the previous one's start (start times that go
            back, never below zero).
        interim_flood_after: Seconds of audio after which ``interim_flood`` interims of
            ``injected_text`` are sent (:meth:`Emulator.interim_message`), queued before any later
            message, so the next final still comes after them.
        interim_flood: How many interims the flood sends.
        interim_flood_rate: Interims a second; None: all at once, as fast as the socket takes them.
        injected_text: The words of the finals and interims the faults make up.
    """

    refuse_status: int | None = None
    refuse_count: int | None = None
    retry_after: float | None = None
    close_code: int | None = None
    close_after: float = 0.0
    drop_after: float | None = None
    stall_after: float | None = None
    delay: float = 0.0
    malformed_after: float | None = None
    malformed_frame: str = '{"transcript": "unterminated'
    error_after: float | None = None
    error_message: object | None = None
    error_close_code: int | None = None
    max_sessions: int | None = None
    capacity_status: int = 429
    fault_sessions: int | None = 1
    outage_after: float | None = None
    mute_after: float | None = None
    huge_after: float | None = None
    huge_size: int = 50_000_000
    unknown_after: float | None = None
    early_final: bool = False
    bad_times: Literal["negative", "decreasing"] | None = None
    interim_flood_after: float | None = None
    interim_flood: int = 5000
    interim_flood_rate: float | None = None
    injected_text: str = "zulu"


UNKNOWN_TYPE = "NotInTheProtocol"
"""The ``type`` of the default :meth:`Emulator.unknown_message`."""
NEGATIVE_SHIFT = -1.0
"""Seconds :attr:`FaultPlan.bad_times` ``"negative"`` adds to every final's times."""


def spread_words(text: str, start: float, end: float) -> list[Word]:
    """``text``'s words sharing ``[start, end]`` evenly (the made-up transcripts of the faults)."""
    texts = text.split()
    step = (end - start) / max(1, len(texts))
    return [Word(t, start + i * step, start + (i + 1) * step, 0.9) for i, t in enumerate(texts)]


@attrs.define(kw_only=True)
class SessionRecord:
    """What one connect sent and got, for tests to assert on.

    Attributes:
        index: 1-based connect number (refused handshakes count).
        path: Request path.
        query: Query parameters (last value wins), as decoded by the server.
        raw_query: The query string as sent (to check URL-encoding).
        headers: Upgrade request headers.
        status: 101 when upgraded, else the HTTP status it was refused with.
        binary: Every binary frame, in order.
        texts: Every text frame from the client, in order.
        sent: Every text frame the server sent, in order.
        timeline: ``(seconds since connect, "bin"|"text"|"sent"|"close", size or code)``.
        audio_seconds: Seconds of audio the vendor hook counted.
        close_code: The close code the session ended with, if any.
        ended_by: ``"client"``, ``"server"``, ``"drop"``, ``"stall"`` or ``""`` while open.
        muted: The session went mute (:attr:`FaultPlan.mute_after`).
        state: The vendor's session state, as :meth:`Emulator.open_session` returned it (None
            before, and for a refused session).
        close_reason: The reason sent with the server's close frame ("" when none).
        refusal: Why :meth:`Emulator.handshake` let a bad request upgrade, for
            :meth:`Emulator.open_session` to refuse it the vendor's way (an error message after
            the upgrade, e.g. for a bad key); "" for a good request.
    """

    index: int
    path: str
    query: dict[str, str]
    raw_query: str
    headers: dict[str, str]
    status: int = 101
    binary: list[bytes] = attrs.field(factory=list)
    texts: list[str] = attrs.field(factory=list)
    sent: list[str] = attrs.field(factory=list)
    timeline: list[tuple[float, str, int]] = attrs.field(factory=list)
    audio_seconds: float = 0.0
    close_code: int | None = None
    ended_by: str = ""
    muted: bool = False
    state: Any = None
    close_reason: str = ""
    refusal: str = ""
    started: float = attrs.field(factory=time.monotonic)

    @property
    def audio(self) -> bytes:
        """All binary frames joined."""
        return b"".join(self.binary)

    def mark(self, kind: str, size: int) -> None:
        """Add a timeline entry now."""
        self.timeline.append((time.monotonic() - self.started, kind, size))


_Item = tuple[Literal["text", "close"], str | tuple[int, str]]


class Deadline:
    """A session's timers on one ``loop.call_at`` handle, armed for the next moment anything is due:
    no wakeups while nothing is (a session that polled every 10 ms cost 100 wakeups a second).

    ``tick()`` does what is due now and returns the next moment (``time.monotonic()`` seconds) it
    has to run at, or None when nothing is pending. :meth:`wake` says something may be due as early
    as ``when``: it re-arms only when that is earlier than the armed moment, so calling it for every
    message costs a comparison. A moment that moved *later* (the last audio came later) needs no
    call: the handle fires at the old one, ``tick`` finds nothing due yet and returns the new one.
    Made by :meth:`SessionContext.deadline`, cancelled with the session's tasks.
    """

    __slots__ = ("_at", "_cancelled", "_handle", "_tick")

    def __init__(self, tick: Callable[[], float | None]) -> None:
        self._tick = tick
        self._handle: asyncio.TimerHandle | None = None
        self._at = math.inf  # the armed moment; inf: not armed
        self._cancelled = False

    def wake(self, when: float | None = None) -> None:
        """Run ``tick`` at ``when`` (default: now) unless it is armed for an earlier moment."""
        if self._cancelled:
            return
        when = time.monotonic() if when is None else when
        if when < self._at:
            self._arm(when)

    def cancel(self) -> None:
        """No more ticks, whatever :meth:`wake` says later."""
        self._cancelled = True
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        loop = asyncio.get_running_loop()
        self._at = when
        self._handle = loop.call_at(loop.time() + (when - time.monotonic()), self._fire)

    def _fire(self) -> None:
        self._handle, self._at = None, math.inf
        if self._cancelled:
            return
        when = self._tick()
        if when is not None and not self._cancelled and when < self._at:
            self._arm(when)


_WORD_KEYS = frozenset({"transcript", "text", "content", "utterance"})


def carries_words(message: str) -> bool:
    """Whether a vendor's JSON message holds transcript words (a non-empty string under
    ``transcript``, ``text``, ``content`` or ``utterance`` at any depth): what a muted session
    holds back. The three vendors' transcripts all put words under one of these keys."""
    try:
        data = json.loads(message)
    except ValueError:
        return False

    def walk(node: object) -> bool:
        if isinstance(node, dict):
            return any(
                (k in _WORD_KEYS and isinstance(v, str) and v.strip()) or walk(v) for k, v in node.items()
            )
        if isinstance(node, list):
            return any(walk(v) for v in node)
        return False

    return walk(data)


StateT = TypeVar("StateT")
ConfigT = TypeVar("ConfigT")


@attrs.define
class _Limit:
    """One of a session's time limits (:meth:`SessionContext.limit`)."""

    seconds: float
    on_expiry: Callable[[], None]
    idle: bool
    warnings: tuple[float, ...]
    on_warning: Callable[[float], None] | None
    warned: set[tuple[float, float]] = attrs.field(factory=set)  # (seconds before, since)


class SessionContext(Generic[StateT]):
    """One upgraded session: the socket, its record, its outbox, its limits and its tasks.

    Vendor hooks send with :meth:`send`, end the session with :meth:`close` (or :meth:`fail`:
    an error message, then a close); both go through the outbox, so :attr:`FaultPlan.delay`
    delays them without reordering.

    Attributes:
        state: The vendor's session state (what :meth:`Emulator.open_session` returned).
        recognizer: The session's recognizer, once a
            :class:`~speechkit_conformance.recognizing.RecognizingEmulator` started one.
        input_ended: The recognizer's input was ended
            (:meth:`~speechkit_conformance.recognizing.RecognizingEmulator.end_input`).
        last_activity: ``time.monotonic()`` of the last binary frame or :meth:`touch`.
    """

    def __init__(
        self,
        emulator: Emulator[Any, StateT],
        ws: web.WebSocketResponse,
        request: web.Request,
        record: SessionRecord,
    ):
        self.emulator = emulator
        self.ws = ws
        self.request = request
        self.record = record
        self.faulty = (
            emulator.faults.fault_sessions is None or emulator.accepted <= emulator.faults.fault_sessions
        )
        self.stalled = False
        self.muted = False
        self.ended = asyncio.Event()
        self.recognizer: Any = None
        self.pump: asyncio.Task[None] | None = None
        self.input_ended = False
        self.last_activity = time.monotonic()
        self._outbox: asyncio.Queue[tuple[float, _Item]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self._deadlines: list[Deadline] = []
        self._limits: list[_Limit] = []
        self._limit_timer: Deadline | None = None
        self._fired: set[str] = set()
        self._final_start: float | None = None  # the last final's start, as bad_times sent it
        self.spawn(self._sender())

    @property
    def state(self) -> StateT:
        """The vendor's session state (:meth:`Emulator.open_session`'s return).

        Raises:
            RuntimeError: before the session was opened.
        """
        if self.record.state is None:
            raise RuntimeError("the session has no state yet: open_session has not returned it")
        return self.record.state  # type: ignore[no-any-return]

    def touch(self) -> None:
        """Activity now: idle limits (:meth:`limit` with ``idle=True``) count from here. Every
        binary frame touches; a vendor touches for the text messages its idle rule counts."""
        self.last_activity = time.monotonic()

    def limit(
        self,
        seconds: float | None,
        on_expiry: Callable[[], None],
        *,
        idle: bool = False,
        warnings: tuple[float, ...] = (),
        on_warning: Callable[[float], None] | None = None,
    ) -> None:
        """A time limit of the session: ``on_expiry()`` runs once ``seconds`` have passed since
        the session opened (``idle=False``) or since the last activity (``idle=True``, see
        :meth:`touch`); ``on_warning(before)`` runs ``before`` seconds ahead, for each of
        ``warnings`` (again after activity moved an idle limit). All limits share one timer,
        armed for the next moment due. A limit that expired is gone; ``seconds=None``: no limit.
        Limits stop when the session ends.
        """
        if seconds is None:
            return
        self._limits.append(_Limit(seconds, on_expiry, idle, warnings, on_warning))
        if self._limit_timer is None:
            self._limit_timer = self.deadline(self._check_limits)
        self._limit_timer.wake(self._next_limit())

    def _since(self, limit: _Limit) -> float:
        return self.last_activity if limit.idle else self.record.started

    def _next_limit(self) -> float | None:
        return min(
            (
                self._since(lim) + lim.seconds - before
                for lim in self._limits
                for before in (0.0, *(b for b in lim.warnings if (b, self._since(lim)) not in lim.warned))
            ),
            default=None,
        )

    def _check_limits(self) -> float | None:
        if self.ended.is_set() or self.stalled:
            return None
        now = time.monotonic()
        for lim in list(self._limits):
            since = self._since(lim)
            if now >= since + lim.seconds:
                self._limits.remove(lim)
                lim.on_expiry()
                if self.ended.is_set():
                    return None
                continue
            for before in lim.warnings:
                if now >= since + lim.seconds - before and (before, since) not in lim.warned:
                    lim.warned.add((before, since))
                    if lim.on_warning is not None:
                        lim.on_warning(before)
        return self._next_limit()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a task for the session's lifetime (cancelled when it ends)."""
        task = asyncio.ensure_future(coro)
        self._tasks.append(task)
        return task

    def deadline(self, tick: Callable[[], float | None]) -> Deadline:
        """A :class:`Deadline` running ``tick`` for the session's lifetime (cancelled when it ends)."""
        deadline = Deadline(tick)
        self._deadlines.append(deadline)
        return deadline

    def send(self, message: str) -> None:
        """Queue a text frame (sent after :attr:`FaultPlan.delay`; dropped while stalled, and
        while muted when it carries words)."""
        if self.muted and carries_words(message):
            return
        if self.emulator.faults.bad_times is not None and self.faulty:
            message = self._retimed(message)
        self._queue(message)

    def _queue(self, message: str) -> None:
        self._outbox.put_nowait((time.monotonic() + self.emulator.faults.delay, ("text", message)))

    def inject(self, message: object | None) -> None:
        """Queue a message a fault made up (None: the vendor has no such message), as sent."""
        if message is not None:
            self._queue(message if isinstance(message, str) else self.emulator.encode(message))

    def _retimed(self, message: str) -> str:
        """A final with the times :attr:`FaultPlan.bad_times` asks for (other messages unchanged)."""
        emulator = self.emulator
        start = emulator.final_start(message)
        if start is None:
            return message
        if emulator.faults.bad_times == "negative":
            shift = NEGATIVE_SHIFT
        else:  # decreasing: each final starts at half the previous one's start
            shift = 0.0 if self._final_start is None else self._final_start / 2 - start
        self._final_start = start + shift
        return emulator.shift_final(message, shift) if shift else message

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Queue a close with ``code`` and ``reason`` (at most 123 bytes of UTF-8, RFC 6455 section 5.5)
        after everything already queued."""
        item: _Item = ("close", (code, reason))
        self._outbox.put_nowait((time.monotonic() + self.emulator.faults.delay, item))

    def fail(self, message: object, code: int, reason: str = "") -> None:
        """The vendor's error message (a str as is, else :meth:`Emulator.encode` d), then a close
        with ``code``: how every vendor here reports an error."""
        self.send(message if isinstance(message, str) else self.emulator.encode(message))
        self.close(code, reason)

    async def _sender(self) -> None:
        while True:
            due, (kind, value) = await self._outbox.get()
            # always one loop turn: a stall that strikes meanwhile drops the frame, as the
            # suite's half-open cases expect (without it, acme's stall-after-the-last-audio case
            # loses its last word: see the note on issue 18)
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if self.stalled or self.ws.closed:
                continue
            if kind == "text":
                assert isinstance(value, str)
                self.record.sent.append(value)
                self.record.mark("sent", len(value))
                if self.emulator.send_log is not None:
                    self.emulator.send_log.append((self.record.index, time.monotonic(), value))
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.send_str(value)
            else:
                assert isinstance(value, tuple)
                await self._close_now(value[0], "server", value[1])

    async def _close_now(self, code: int, by: str, reason: str = "") -> None:
        self.record.close_code, self.record.ended_by, self.record.close_reason = code, by, reason
        self.record.mark("close", code)
        self.ended.set()
        message = reason.encode()[:123]
        with contextlib.suppress(ConnectionError, RuntimeError, asyncio.TimeoutError):
            await asyncio.wait_for(self.ws.close(code=code, message=message), 1.0)

    def drop(self) -> None:
        """Abort the TCP connection: no close frame (the client sees a dropped connection)."""
        if not self.stalled:  # stop() aborts stalled sessions too; keep what they did
            self.record.ended_by = "drop"
            self.record.mark("close", 1006)
        self.ended.set()
        if self.request.transport is not None:
            self.request.transport.abort()

    def stall(self) -> None:
        """Go half-open: stop sending, reading and answering pings; keep the socket."""
        self.stalled = True
        self.record.ended_by = "stall"
        if self.request.transport is not None:
            self.request.transport.pause_reading()

    async def check_faults(self) -> None:
        """Fire the mid-stream faults whose audio threshold has been reached."""
        plan, t = self.emulator.faults, self.record.audio_seconds
        if not self.faulty or self.ended.is_set() or self.stalled:
            return

        def due(name: str, after: float | None) -> bool:
            if after is None or t < after or name in self._fired:
                return False
            self._fired.add(name)
            return True

        if due("malformed", plan.malformed_after):
            self.send(plan.malformed_frame)
        if due("unknown", plan.unknown_after):
            self.inject(self.emulator.unknown_message(self))
        if due("huge", plan.huge_after):
            self.inject(self.emulator.huge_message(self, plan.huge_size))
        if due("flood", plan.interim_flood_after):
            self._flood()
        if due("error", plan.error_after):
            msg = plan.error_message if plan.error_message is not None else self.emulator.error_message(self)
            self.fail(msg, plan.error_close_code or self.emulator.error_close_code)
        if plan.close_code is not None and due("close", plan.close_after):
            await self._close_now(plan.close_code, "server")
        if due("drop", plan.drop_after):
            self.drop()
        if due("stall", plan.stall_after):
            self.stall()
        if due("mute", plan.mute_after):
            self.muted = True
            self.record.muted = True
        if due("outage", plan.outage_after):
            self.emulator.down = True
            self.drop()

    def opened(self) -> None:
        """The session was accepted: :attr:`FaultPlan.early_final` strikes now, before any audio."""
        plan = self.emulator.faults
        if plan.early_final and self.faulty:
            self.inject(self.emulator.final_message(self, spread_words(plan.injected_text, 0.0, 0.5)))

    def _flood(self) -> None:
        """:attr:`FaultPlan.interim_flood` interims of the made-up words, ending where the audio is."""
        plan, t = self.emulator.faults, self.record.audio_seconds
        message = self.emulator.interim_message(self, spread_words(plan.injected_text, max(0.0, t - 0.3), t))
        if message is None:
            return
        frame = message if isinstance(message, str) else self.emulator.encode(message)
        if plan.interim_flood_rate is None:
            for _ in range(plan.interim_flood):  # all queued now: before every later message
                self._queue(frame)
        else:
            self.spawn(self._paced_flood(frame, plan.interim_flood, plan.interim_flood_rate))

    async def _paced_flood(self, frame: str, count: int, rate: float) -> None:
        batch, queued, t0 = max(1, round(rate / 100)), 0, time.monotonic()  # a batch every 10 ms
        while queued < count and not self.ended.is_set():
            for _ in range(min(batch, count - queued)):
                self._queue(frame)
            queued += min(batch, count - queued)
            await asyncio.sleep(max(0.0, t0 + queued / rate - time.monotonic()))

    async def finish(self) -> None:
        """Cancel the session's tasks and deadlines."""
        for deadline in self._deadlines:
            deadline.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


GUIDE = "docs/vendor-guide.md"
"""Where the emulator contract is written out (named by the errors of a broken contract)."""


class Emulator(Generic[ConfigT, StateT]):
    """Base of a vendor emulator: server lifecycle, records, faults; vendors add the protocol.

    A subclass sets :attr:`paths` and :attr:`config_type` and writes the hooks it needs; a
    subclass that leaves one of those two out fails when it is defined (set ``abstract = True``
    in an intermediate base to skip the check).

    Args:
        config: The vendor's behaviour where its sources leave a choice (default:
            ``config_type()``).
        faults: What to do wrong (default: nothing).
        host: Interface to bind (loopback only: there is no network here).
        port: Port, or 0 for an ephemeral one.

    Attributes:
        paths: WebSocket paths served (aiohttp route patterns).
        config_type: The vendor's config, an attrs class with at least ``api_key: str`` (the
            credential the emulator accepts); ``speechkit emulate --set`` sets its fields.
        error_close_code: Close code after the vendor's error message.
        invalid_options: Provider options (as config strings name them) that parse but that
            this vendor's server refuses after the handshake (a model it does not serve): the
            suite's ``TestErrors`` connects with them and expects a final error, so a
            ``speechkit conformance`` run exercises the server's refusal path. Empty: none.
        config: The config in use.
        sessions: One :class:`SessionRecord` per connect, refused ones included.
        accepted: Sessions upgraded so far.
        active: Sessions open now.
        down: The vendor is down (:attr:`FaultPlan.outage_after`): every connect is refused
            with 503 until :meth:`start` runs again.
        send_log: None unless :meth:`log_sends` turned it on: then ``(session index,
            time.monotonic(), frame)`` for every text frame sent, taken just before it goes out.
    """

    abstract: ClassVar[bool] = True
    paths: ClassVar[tuple[str, ...]] = ()
    config_type: ClassVar[type[Any]]
    error_close_code: int = 1008
    invalid_options: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        cls.abstract = False
        name = cls.__name__
        if not cls.paths:
            raise TypeError(
                f"{name} must set `paths`: the WebSocket paths it serves, e.g. ('/v1/listen',) ({GUIDE})"
            )
        config_type = getattr(cls, "config_type", None)
        if config_type is None or not attrs.has(config_type):
            raise TypeError(
                f"{name} must set `config_type` to an attrs class of its behaviour, with an "
                f"`api_key: str` field ({GUIDE})"
            )
        if "api_key" not in attrs.fields_dict(config_type):
            raise TypeError(
                f"{name}.config_type ({config_type.__name__}) needs an `api_key: str` field ({GUIDE})"
            )
        for hook, what in (
            ("open_session", "validate a session and return its state"),
            ("on_binary", "take audio"),
        ):
            if getattr(cls, hook) is getattr(Emulator, hook):
                raise TypeError(f"{name} must define `{hook}` ({what}; {GUIDE})")

    def __init__(
        self,
        config: ConfigT | None = None,
        *,
        faults: FaultPlan | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if type(self).abstract:
            raise TypeError(f"{type(self).__name__} is a base class: subclass it ({GUIDE})")
        self.config: ConfigT = config if config is not None else self.config_type()
        self.faults = faults or FaultPlan()
        self.send_log: list[tuple[int, float, str]] | None = None
        self.host = host
        self.port = port
        self.sessions: list[SessionRecord] = []
        self.accepted = 0
        self.active = 0
        self.down = False
        self._runner: web.AppRunner | None = None
        self._contexts: set[SessionContext[StateT]] = set()
        self._stopping = asyncio.Event()

    @classmethod
    def for_cli(cls, *, recognizer: str = "oracle", port: int = 0) -> Self:
        """An emulator as ``speechkit emulate`` starts it: the vendor's default config, with the
        chosen recognizer when the config has a ``recognizer`` field.

        Args:
            recognizer: ``"oracle"`` (tone words) or ``"local"`` (the local engine, real speech).
            port: TCP port on 127.0.0.1; 0 for an ephemeral one.

        Raises:
            speechkit.ConfigError: a recognizer this emulator does not run.
        """
        from speechkit.errors import ConfigError

        config = cls.config_type()
        if "recognizer" in attrs.fields_dict(cls.config_type):
            if recognizer not in ("oracle", "local"):
                raise ConfigError(f"unknown recognizer {recognizer!r}; recognizers: oracle, local")
            config = attrs.evolve(config, recognizer=recognizer)
        elif recognizer != "oracle":
            raise ConfigError(f"{cls.__name__} runs no recognizer but its own (asked for {recognizer!r})")
        return cls(config, port=port)

    @property
    def api_key(self) -> str:
        """The credential the emulator accepts (its config's ``api_key``)."""
        return str(self.config.api_key)  # type: ignore[attr-defined]

    def configure(self, changes: dict[str, str]) -> None:
        """Set fields of the emulator's :attr:`config` and of its :class:`FaultPlan`.

        Values are config-string values (``true``, ``15``, ``none``), converted by the field's
        type; a field both have is set in both. Used by ``speechkit emulate --set FIELD=VALUE``.

        Raises:
            speechkit.ConfigError: an unknown field (the message lists the valid ones), or a
                value its type or validators refuse.
        """
        import typing

        from speechkit.errors import ConfigError
        from speechkit.options import convert_value, suggest

        targets: dict[str, Any] = {"faults": self.faults, "config": self.config}
        fields = {name: {f.name for f in attrs.fields(type(obj))} for name, obj in targets.items()}
        known = sorted(set().union(*fields.values()))
        for key in changes:
            if key not in known:
                hint = suggest(key, known)
                raise ConfigError(
                    f"{type(self).__name__} has no field {key!r}; fields: {', '.join(known)}{hint}"
                )
        for name, obj in targets.items():
            hints = typing.get_type_hints(type(obj))
            mine = {
                k: convert_value(k, v, hints.get(k, str)) for k, v in changes.items() if k in fields[name]
            }
            try:
                setattr(self, name, attrs.evolve(obj, **mine))
            except (TypeError, ValueError) as e:
                raise ConfigError(f"{type(self).__name__}: {e}") from e

    def log_sends(self) -> Self:
        """Opt in to :attr:`send_log`, for a client on the same machine to measure latency from
        (``bench/bench_providers.py``); call before :meth:`start`. ``time.monotonic()`` is the
        system-wide monotonic clock on Linux, so it compares with another process's. The log is
        also served as JSON at ``GET /_send_log`` (``?clear=1`` empties it after the answer)."""
        self.send_log = []
        return self

    # -- lifecycle ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:<port>``: the base URL to give a provider."""
        return f"ws://{self.host}:{self.port}"

    async def start(self) -> Self:
        """Start serving; :attr:`port` is set when it was 0."""
        self._stopping = asyncio.Event()
        self.down = False
        app = web.Application()
        for path in self.paths:
            app.router.add_get(path, self._handle)
        if self.send_log is not None:
            app.router.add_get("/_send_log", self._serve_send_log)
        self.add_routes(app)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handle_signals=False)
        await self._runner.setup()
        # a benchmark opens hundreds of sessions at once: a full accept queue drops SYNs, retried 1 s later
        await web.TCPSite(self._runner, self.host, self.port, backlog=1024).start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Stop serving: open sessions (stalled ones included) are aborted."""
        self._stopping.set()
        for ctx in list(self._contexts):
            ctx.drop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _serve_send_log(self, request: web.Request) -> web.Response:
        log = self.send_log if self.send_log is not None else []
        body = web.json_response(log)
        if request.query.get("clear"):
            log.clear()
        return body

    # -- vendor hooks -------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Add the vendor's plain HTTP endpoints (e.g. a temporary-key mock) next to the WebSocket."""

    def handshake(self, request: web.Request, record: SessionRecord) -> web.StreamResponse | None:
        """Check the upgrade request (auth); return a response to refuse it, or None."""
        return None

    async def open_session(self, ctx: SessionContext[StateT]) -> StateT | None:
        """Validate the session after the upgrade and return its state (any object: it becomes
        :attr:`SessionContext.state`); None when the session was refused (the hook has queued the
        vendor's error and close, e.g. with :meth:`SessionContext.fail`)."""
        raise NotImplementedError(f"{type(self).__name__} must define open_session ({GUIDE})")

    async def on_binary(self, ctx: SessionContext[StateT], data: bytes) -> float:
        """Handle one binary frame; return the seconds of audio it carried."""
        return 0.0

    async def on_text(self, ctx: SessionContext[StateT], text: str) -> None:
        """Handle one text frame from the client."""

    async def on_client_close(self, ctx: SessionContext[StateT]) -> None:
        """The client closed (or the session ended); release vendor resources."""

    def error_message(self, ctx: SessionContext[StateT]) -> object:
        """The vendor's generic error message for :attr:`FaultPlan.error_after`."""
        return {"error": "internal error"}

    def encode(self, message: object) -> str:
        """Serialise a vendor message (JSON by default)."""
        return json.dumps(message)

    # the shapes of the server-message faults (see FaultPlan): None where the vendor has none

    def unknown_message(self, ctx: SessionContext[StateT]) -> object:
        """A message of a type the vendor's protocol does not define (:attr:`FaultPlan.unknown_after`)."""
        return {"type": UNKNOWN_TYPE}

    def huge_message(self, ctx: SessionContext[StateT], size: int) -> object:
        """:meth:`unknown_message` padded with ``size`` bytes (:attr:`FaultPlan.huge_after`)."""
        message = self.unknown_message(ctx)
        padding = "x" * size
        return {**message, "padding": padding} if isinstance(message, dict) else f"{message}{padding}"

    def final_message(self, ctx: SessionContext[StateT], words: list[Word]) -> object | None:
        """The vendor's final transcript of ``words`` (times: seconds of session audio), or None."""
        return None

    def interim_message(self, ctx: SessionContext[StateT], words: list[Word]) -> object | None:
        """The vendor's interim transcript of ``words``, or None."""
        return None

    def final_start(self, message: str) -> float | None:
        """The start (seconds) of a timed final the emulator is about to send; None for any other
        message, or when the vendor's finals carry no times (:attr:`FaultPlan.bad_times`)."""
        return None

    def shift_final(self, message: str, seconds: float) -> str:
        """``message`` (a final :meth:`final_start` timed) with every time moved by ``seconds``."""
        return message

    # -- the server ---------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        plan = self.faults
        record = SessionRecord(
            index=len(self.sessions) + 1,
            path=request.path,
            query=dict(request.query),
            raw_query=request.raw_path.partition("?")[2],
            headers=dict(request.headers),
        )
        self.sessions.append(record)
        retry = {"Retry-After": f"{plan.retry_after:g}"} if plan.retry_after is not None else {}
        refused: web.StreamResponse | None = None
        if self.down:
            refused = web.Response(status=503, headers=retry, text="service unavailable (outage)")
        elif plan.refuse_status and (plan.refuse_count is None or record.index <= plan.refuse_count):
            refused = web.Response(status=plan.refuse_status, headers=retry, text="refused by the fault plan")
        elif plan.max_sessions is not None and self.active >= plan.max_sessions:
            refused = web.Response(status=plan.capacity_status, headers=retry, text="too many sessions")
        else:
            refused = self.handshake(request, record)
        if refused is not None:
            record.status = refused.status
            return refused
        ws = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await ws.prepare(request)
        self.accepted += 1
        self.active += 1
        ctx = SessionContext(self, ws, request, record)
        self._contexts.add(ctx)
        try:
            state = await self.open_session(ctx)
            if state is not None:
                record.state = state
                ctx.opened()
                await self._serve(ctx)
            if ctx.stalled:
                await self._stopping.wait()  # half-open until stop()
            else:
                await asyncio.wait_for(ctx.ended.wait(), 2.0)  # let queued frames and the close go out
        except (TimeoutError, asyncio.CancelledError):
            pass
        finally:
            self.active -= 1
            self._contexts.discard(ctx)
            await self.on_client_close(ctx)
            await ctx.finish()
            if record.close_code is None and ws.close_code is not None:
                record.close_code = ws.close_code
        return ws

    async def _serve(self, ctx: SessionContext[StateT]) -> None:
        record = ctx.record
        while not ctx.ended.is_set() and not ctx.stalled:
            msg = await ctx.ws.receive()
            if ctx.stalled:
                return
            if msg.type == WSMsgType.BINARY:
                ctx.touch()
                record.binary.append(bytes(msg.data))
                record.mark("bin", len(msg.data))
                record.audio_seconds += await self.on_binary(ctx, bytes(msg.data))
                await ctx.check_faults()
            elif msg.type == WSMsgType.TEXT:
                record.texts.append(str(msg.data))
                record.mark("text", len(msg.data))
                await self.on_text(ctx, str(msg.data))
            else:  # the client closed, or the connection is gone
                if not record.ended_by:
                    record.ended_by = "client"
                    record.close_code = ctx.ws.close_code
                ctx.ended.set()
                return
