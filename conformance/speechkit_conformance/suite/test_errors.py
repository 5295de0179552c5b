"""Errors (emulator): what fails fast, what is retried and how, and how vendor errors surface."""

from __future__ import annotations

import itertools
import logging
import time
from typing import Any, ClassVar

import pytest
from livekit.agents import APIConnectOptions, stt

from speechkit.errors import APIError

from ..emulator import FaultPlan
from ..harness import FAST, Target, transcribe
from ..requirements import requires

QUICK_HEARTBEAT = 0.3
"""Seconds between pings of the half-open test's provider subclass."""


@pytest.mark.asyncio
@requires("emulator")
class TestErrors:
    """Credentials and options fail at once; 429, 503 and vendor errors are retried, classified.

    Attributes:
        invalid_options: Options the vendor's server rejects; by default the emulator's
            :attr:`~speechkit_conformance.emulator.Emulator.invalid_options` (so ``speechkit
            conformance`` exercises the server's refusal), else a sample rate no one takes.
    """

    invalid_options: ClassVar[dict[str, Any] | None] = None

    @requires("credentials")
    async def test_a_wrong_api_key_fails_fast_without_retry(self, speechkit_target: Target) -> None:
        t0 = time.monotonic()
        with pytest.raises(APIError) as info:
            await transcribe(speechkit_target.stt(api_key="wrong-key"), speechkit_target.audio.frames())
        assert info.value.retryable is False and len(speechkit_target.sessions) == 1
        assert time.monotonic() - t0 < 1.0

    @requires("credentials")
    async def test_a_wrong_api_key_error_names_the_credential_variable(
        self, speechkit_target: Target
    ) -> None:
        env = speechkit_target.provider_class.credential_env
        assert env
        with pytest.raises(APIError, match=env):
            await transcribe(speechkit_target.stt(api_key="wrong-key"), speechkit_target.audio.frames())

    async def test_invalid_options_fail_without_retry(self, speechkit_target: Target) -> None:
        invalid = self.invalid_options or speechkit_target.emu.invalid_options or {"sample_rate": 12345}
        try:
            engine = speechkit_target.stt(**invalid)
        except ValueError:  # rejected when parsed, before any connect: fine, unless the emulator
            # declared them as what its server refuses (then they must get that far)
            assert speechkit_target.sessions == [] and not speechkit_target.emu.invalid_options
            return
        with pytest.raises(APIError) as info:
            await transcribe(engine, speechkit_target.audio.frames())
        assert info.value.retryable is False and len(speechkit_target.sessions) == 1, info.value

    async def test_a_429_with_retry_after_is_retried_after_that_delay(self, speechkit_target: Target) -> None:
        speechkit_target.faults(FaultPlan(refuse_status=429, refuse_count=1, retry_after=0.4))
        run = await transcribe(speechkit_target.stt(), speechkit_target.audio.frames())
        first, second = speechkit_target.sessions
        assert (first.status, second.status) == (429, 101)
        assert second.started - first.started >= 0.4 - 0.02
        speechkit_target.audio.assert_transcribed(run)

    async def test_a_503_is_retried_with_backoff_until_the_server_recovers(
        self, speechkit_target: Target
    ) -> None:
        speechkit_target.faults(FaultPlan(refuse_status=503, refuse_count=2))
        run = await transcribe(speechkit_target.stt(), speechkit_target.audio.frames())
        sessions = speechkit_target.sessions
        assert [s.status for s in sessions] == [503, 503, 101]
        gaps = [b.started - a.started for a, b in itertools.pairwise(sessions)]
        assert min(gaps) >= FAST.retry_interval / 2, f"no backoff between attempts: {gaps}"
        speechkit_target.audio.assert_transcribed(run)

    async def test_retries_stop_after_max_retry(self, speechkit_target: Target) -> None:
        speechkit_target.faults(FaultPlan(refuse_status=503))
        with pytest.raises(APIError):
            await transcribe(speechkit_target.stt(), speechkit_target.audio.frames())
        assert len(speechkit_target.sessions) == FAST.max_retry + 1

    async def test_a_vendor_error_frame_is_raised_as_a_retryable_api_error(
        self, speechkit_target: Target
    ) -> None:
        speechkit_target.faults(FaultPlan(error_after=0.0, fault_sessions=None))
        no_retry = APIConnectOptions(max_retry=0, retry_interval=0.05, timeout=5.0)
        with pytest.raises(APIError) as info:
            await transcribe(speechkit_target.stt(), speechkit_target.audio.frames(), conn_options=no_retry)
        assert info.value.retryable is True and speechkit_target.provider_class.name in str(info.value)

    async def test_a_vendor_error_frame_mid_stream_is_retried_without_losing_words(
        self, speechkit_target: Target
    ) -> None:
        speechkit_target.faults(FaultPlan(error_after=0.5))
        run = await transcribe(speechkit_target.stt(), speechkit_target.audio.frames(), speed=4.0)
        assert len(speechkit_target.sessions) == 2, "the error did not cause one reconnect"
        speechkit_target.audio.assert_transcribed(run)

    @requires("heartbeat")
    async def test_a_half_open_server_is_detected_within_the_heartbeat_timeout(
        self, speechkit_target: Target
    ) -> None:
        cls = speechkit_target.provider_class
        quick = type(f"QuickHeartbeat{cls.__name__}", (cls,), {"heartbeat": QUICK_HEARTBEAT})
        speechkit_target.faults(FaultPlan(stall_after=0.5))
        await transcribe(speechkit_target.stt(quick), speechkit_target.audio.frames(), speed=4.0)
        stalled, replacement = speechkit_target.sessions[:2]
        assert stalled.ended_by == "stall", "the fault did not strike"
        stalled_at = stalled.started + stalled.timeline[-1][0]
        assert replacement.started - stalled_at <= 2 * QUICK_HEARTBEAT + 0.5

    async def test_a_malformed_server_frame_is_raised_as_an_api_error_or_logged(
        self, speechkit_target: Target, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING)
        engine = speechkit_target.stt()
        errors: list[stt.STTError] = []
        engine.on("error", errors.append)
        plan = FaultPlan(malformed_after=0.3)
        speechkit_target.faults(plan)
        await transcribe(engine, speechkit_target.audio.frames(), speed=4.0, limit=20.0)
        assert plan.malformed_frame in speechkit_target.sessions[0].sent, "the fault did not strike"
        classified = [e for e in errors if isinstance(e.error, APIError)]
        warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert classified or warned, "a malformed frame was neither raised as an APIError nor logged"
