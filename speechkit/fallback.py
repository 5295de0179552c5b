"""Fallback chains that lose no words: :class:`FallbackSTT`.

A chain is one stream that moves between providers. It is the core's own reconnect with
replay (:mod:`speechkit.stream`), with the next provider on the other end: the audio no final
covers yet is replayed to the new member, fast, and its results are cut where the last final
ended (by time, or by repeated words for untimed finals), so a failover mid-utterance loses no
word and repeats none, and every time stays on the one stream clock.

Unlike livekit's ``stt.FallbackAdapter`` (which forwards only audio pushed after the switch,
livekit/agents#5736), a failed member is not retried with a second billed stream: each member
has a circuit breaker (closed → open → half-open), recovery is probed with a connect and
handshake only, and a live stream returns to a recovered higher-priority member at an
utterance boundary (after a final, before the next speech).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import attrs
from livekit.agents import APIConnectOptions, stt
from livekit.agents.types import NOT_GIVEN, NotGivenOr
from livekit.agents.utils import is_given

from .connection import Session
from .errors import APIConnectionError, APIError, ConfigError
from .plugin import STT
from .provider import Provider
from .stream import SpeechStream

logger = logging.getLogger("speechkit")

REPLAY_SECONDS = 30.0
"""Default bound of the audio awaiting a final that a chain keeps for replay, seconds."""


@attrs.define
class _Breaker:
    """A member's circuit: ``closed`` (usable), ``open`` (failed; probed after ``cooldown``)."""

    open: bool = False
    opened_at: float = 0.0
    cooldown: float = 0.0
    probing: bool = False


class FallbackSTT(STT):
    """A chain of speechkit STTs tried in order; a ``livekit.agents.stt.STT`` itself.

    Usually built from a config string: ``speechkit.stt("assemblyai:en, speechmatics:en, local")``.

    Args:
        members: speechkit STTs in priority order (at least two).
        max_retry_per_stt: Reconnects to the same member before failing over (each replays
            what no final covers).
        retry_interval: Seconds before such a reconnect.
        recovery_interval: Seconds a failed member rests before a probe (a connect and
            handshake, not a transcribing stream); doubles after each failed probe, up to
            ``max_recovery_interval``.
        max_recovery_interval: Upper bound of that rest, seconds.
        replay_seconds: Audio awaiting a final kept for replay, seconds; new audio waits for
            room (backpressure), a warning says when audio had to be dropped.

    Raises:
        TypeError: a member is not a :class:`speechkit.STT` (other livekit STTs have no hooks
            to replay through: use livekit's ``stt.FallbackAdapter`` for them).
        ValueError: fewer than two members.
    """

    def __init__(
        self,
        members: Sequence[STT],
        *,
        max_retry_per_stt: int = 1,
        retry_interval: float = 0.1,
        recovery_interval: float = 5.0,
        max_recovery_interval: float = 60.0,
        replay_seconds: float = REPLAY_SECONDS,
    ) -> None:
        members = list(members)
        if len(members) < 2:
            raise ValueError("a fallback chain needs at least two members")
        for m in members:
            if not isinstance(m, STT) or isinstance(m, FallbackSTT):
                raise TypeError(
                    f"FallbackSTT members must be speechkit STTs, not {type(m).__name__}; "
                    "for other livekit STTs use livekit.agents.stt.FallbackAdapter"
                )
        super().__init__(
            members[0].hooks,
            capabilities=stt.STTCapabilities(
                streaming=True,
                interim_results=all(m.capabilities.interim_results for m in members),
                diarization=all(m.capabilities.diarization for m in members),
                aligned_transcript="word"
                if all(m.capabilities.aligned_transcript for m in members)
                else False,
                offline_recognize=True,
                manual_flush=all(m.capabilities.manual_flush for m in members),
            ),
            label="speechkit.fallback(" + ", ".join(m.provider for m in members) + ")",
        )
        self.members = members
        self.max_retry_per_stt = max_retry_per_stt
        self.retry_interval = retry_interval
        self.recovery_interval = recovery_interval
        self.max_recovery_interval = max_recovery_interval
        self.replay_seconds = replay_seconds
        self._breakers = [_Breaker() for _ in members]

    @property
    def provider(self) -> str:
        return "fallback"

    @property
    def model(self) -> str:
        return ", ".join(f"{m.provider}/{m.model}" for m in self.members)

    def available(self, index: int) -> bool:
        """Whether member ``index``'s circuit is closed."""
        return not self._breakers[index].open

    def _open_stream(
        self, language: str, conn_options: APIConnectOptions, *, realtime: bool
    ) -> FallbackStream:
        """A stream over the chain (see :class:`FallbackStream`)."""
        return FallbackStream(stt=self, language=language, conn_options=conn_options, realtime=realtime)

    def update_options(self, *, language: NotGivenOr[str] = NOT_GIVEN, **options: Any) -> None:
        """Give options to every member that has them, and to open streams.

        Raises:
            ConfigError: no member has one of the options, or a member refuses a value
                (nothing is changed then).
        """
        mine = _split_options([m.hooks for m in self.members], options, self.label)
        language_change = {"language": language} if is_given(language) else {}
        # every member validates before any changes
        updated = [
            m.hooks.with_options(**o, **language_change) for m, o in zip(self.members, mine, strict=True)
        ]
        for m, hooks in zip(self.members, updated, strict=True):
            m.hooks = hooks
        self.hooks = updated[0]
        for s in self.open_streams:
            s.update_options(language=language, **{k: v for k, v in options.items() if k != "sample_rate"})

    async def aclose(self) -> None:
        """Close the chain's streams and HTTP session, then every member."""
        await super().aclose()
        await asyncio.gather(*(m.aclose() for m in self.members), return_exceptions=True)

    # -- circuit breakers ---------------------------------------------------------------

    def member_failed(self, index: int) -> None:
        """Open member ``index``'s circuit (its rest doubles when it was open already)."""
        b = self._breakers[index]
        was_open = b.open
        b.open, b.opened_at = True, time.monotonic()
        b.cooldown = min(self.max_recovery_interval, b.cooldown * 2 if was_open else self.recovery_interval)
        if not was_open:
            event = stt.AvailabilityChangedEvent(self.members[index], False)
            self.emit("stt_availability_changed", event)  # type: ignore[arg-type]  # livekit's event name

    def _recovered(self, index: int) -> None:
        b = self._breakers[index]
        if b.open:
            b.open, b.cooldown = False, 0.0
            event = stt.AvailabilityChangedEvent(self.members[index], True)
            self.emit("stt_availability_changed", event)  # type: ignore[arg-type]

    async def probe(self, index: int, provider: Provider[Any], connect_timeout: float) -> None:
        """Connect and handshake with member ``index``, then close: its circuit closes on success."""
        b = self._breakers[index]
        if b.probing or not b.open or time.monotonic() - b.opened_at < b.cooldown:
            return
        b.probing = True
        try:
            session = Session(
                language=provider.options.language,
                sample_rate=provider.sample_rate,
                attempt=1,
                http=self.http_session() if provider.capabilities.needs_network else None,
                timeout=connect_timeout,
            )
            async with asyncio.timeout(connect_timeout):
                conn = await provider.connect(session)
            await conn.aclose()
        except (APIError, TimeoutError):
            self.member_failed(index)
            return
        finally:
            b.probing = False
        logger.info("%s recovered (probe)", provider.name, extra={"provider": provider.name})
        self._recovered(index)


def _split_options(
    members: Sequence[Provider[Any]], options: dict[str, Any], label: str
) -> list[dict[str, Any]]:
    """Per member, the part of ``options`` its options class has fields for.

    Raises:
        ConfigError: an option no member has (``label`` names the chain).
    """
    mine = [{k: v for k, v in options.items() if k in attrs.fields_dict(type(h.options))} for h in members]
    for key in options:
        if not any(key in m for m in mine):
            raise ConfigError(f"no member of {label} has an option {key!r}")
    return mine


def _cannot_serve(hooks: Provider[Any], *, rate: int, language: str, diarization: bool) -> str | None:
    """Why a member cannot serve a stream (its rate, language, diarization), or None."""
    caps = hooks.capabilities
    if hooks.sample_rate != rate and rate not in caps.sample_rates:
        return f"it cannot take {rate} Hz (it takes {caps.sample_rates})"
    base = language.split("-")[0].lower()
    if (
        caps.languages
        and language != "multi"
        and base not in {lang.split("-")[0].lower() for lang in caps.languages}
    ):
        return f"it does not recognise {language!r} (it recognises {', '.join(caps.languages)})"
    if diarization and not caps.diarization:
        return "it cannot diarize, and the chain asks for diarization"
    return None


class ChainMembers:
    """The member selector of one stream over a chain (see :class:`FallbackStream`).

    Args:
        chain: The chain (its circuit breakers are shared by all its streams).
        members: ``(index in the chain, provider)`` of the members that can serve the stream.
        conn_options: The stream's connect options (their timeout bounds probes too).
    """

    def __init__(
        self, chain: FallbackSTT, members: list[tuple[int, Provider[Any]]], conn_options: APIConnectOptions
    ) -> None:
        self._chain = chain
        self._members = members
        self._active = 0
        self._failures: list[str] = []
        self._failover: tuple[float, float] | None = None  # (monotonic failure time, replayed s)
        self._switching = False  # moving back: no second move before the next connection
        self._probe_timeout = conn_options.timeout
        self.conn_options = APIConnectOptions(
            max_retry=chain.max_retry_per_stt,
            retry_interval=chain.retry_interval,
            timeout=conn_options.timeout,
        )
        self.max_replay = chain.replay_seconds

    @property
    def provider(self) -> Provider[Any]:
        """The member serving now."""
        return self._members[self._active][1]

    def next(self) -> Provider[Any]:
        self._switching = False
        return self.provider

    def update(self, **options: Any) -> None:
        """Each member gets the options it has; the serving one applies them in order with the
        audio (the stream reconnects or updates live).

        Raises:
            ConfigError: an option no member of the stream has, or a value a member refuses
                (nothing changed then).
        """
        mine = _split_options([hooks for _, hooks in self._members], options, self._chain.label)
        updated = [
            (i, h.with_options(**m) if m else h) for (i, h), m in zip(self._members, mine, strict=True)
        ]
        self._members = updated

    def failed(self, err: APIError, replay_seconds: float) -> None:
        """Move to the next usable member, or raise naming every member's failure."""
        index, hooks = self._members[self._active]
        self._failures.append(f"{hooks.name}: {err.message}")
        self._chain.member_failed(index)
        nxt = next(
            (k for k, (i, _) in enumerate(self._members) if k != self._active and self._chain.available(i)),
            None,
        )
        if nxt is None:
            raise APIConnectionError(
                "every provider of the chain failed: " + "; ".join(self._failures), retryable=False
            ) from err
        logger.warning(
            "%s failed (%s): failing over to %s, replaying %.1f s of audio",
            hooks.name,
            type(err).__name__,
            self._members[nxt][1].name,
            replay_seconds,
            extra={"provider": hooks.name},
        )
        self._active = nxt
        self._failover = (time.monotonic(), replay_seconds)

    def failover(self) -> tuple[float, float] | None:
        if self._failover is None:
            return None
        (at, replayed), self._failover = self._failover, None
        return time.monotonic() - at, replayed

    def move_back(self) -> bool:
        """At an utterance boundary: back to the first recovered member above the serving one."""
        if not self._active or self._switching:
            return False
        better = next(
            (k for k, (i, _) in enumerate(self._members[: self._active]) if self._chain.available(i)), None
        )
        if better is None:
            return False
        logger.info(
            "returning to %s at an utterance boundary",
            self._members[better][1].name,
            extra={"provider": self._members[better][1].name},
        )
        self._switching = True
        self._active = better
        return True

    async def recover(self) -> None:
        """Probe failed higher-priority members while a lower one serves."""
        while True:
            await asyncio.sleep(min(1.0, self._chain.recovery_interval))
            for index, hooks in self._members[: self._active]:
                if not self._chain.available(index):
                    await self._chain.probe(index, hooks, self._probe_timeout)


class FallbackStream(SpeechStream):
    """One stream over a chain: the core's stream, moving between members without losing words.

    Members that cannot serve the stream (its sample rate, its language, diarization asked of
    the chain's first member) are skipped with a logged reason.
    A member fails over when its own retries (``max_retry_per_stt``) are spent, whatever the
    error: a refused or timed-out connect, a dropped or half-open connection, a vendor error.
    The switch happens at once (the next member is connected right away and the audio
    replayed), so the gap is one connect plus the replay.

    Raises:
        ConfigError: no member can serve the stream (from the constructor, naming why each
            was skipped).

    Raises (from iteration):
        APIError: every member failed; the message names each one and why.
    """

    def __init__(
        self, *, stt: FallbackSTT, language: str, conn_options: APIConnectOptions, realtime: bool = True
    ) -> None:
        members = stt.members
        rate = members[0].hooks.sample_rate
        diarize = bool(getattr(members[0].hooks.options, "diarization", False))  # asked of the chain
        usable: list[tuple[int, Provider[Any]]] = []
        skipped: list[str] = []
        for i, m in enumerate(members):
            hooks = m.hooks
            why = _cannot_serve(hooks, rate=rate, language=language, diarization=diarize)
            if why is not None:
                skipped.append(f"{hooks.name}: {why}")
                logger.info("%s skipped: %s", hooks.name, why, extra={"provider": hooks.name})
                continue
            usable.append((i, hooks if hooks.sample_rate == rate else hooks.with_options(sample_rate=rate)))
        if not usable:
            raise ConfigError("no member of the chain can serve this stream: " + "; ".join(skipped))
        selector = ChainMembers(stt, usable, conn_options)
        super().__init__(
            stt=stt,
            provider=selector.provider,
            language=language,
            conn_options=conn_options,
            realtime=realtime,
            members=selector,
        )

    @property
    def member(self) -> str:
        """Name of the member serving the stream now."""
        return self.provider.name

    def update_chain_options(self, *, language: NotGivenOr[str] = NOT_GIVEN, **options: Any) -> None:
        """Options for every member that has them; the active one reconnects (or updates live).

        The same as :meth:`update_options` (kept for callers of earlier releases).
        """
        self.update_options(language=language, **options)
