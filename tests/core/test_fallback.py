"""Fallback chains on the emulators with the oracle recognizer: whatever member fails, wherever and
however, the chain's finals are the spoken words exactly, once each, on one clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from livekit.agents import APIError, stt
from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.emulators.telnyx import TelnyxEmulator
from speechkit_conformance.harness import FAST, OracleAudio, transcribe
from speechkit_conformance.oracle import GAP_S, LEAD_S, PAUSE_S, TONE_S
from speechkit_providers.telnyx import TelnyxOptions, TelnyxProvider

import speechkit
from speechkit.metrics import SpeechkitSTTMetrics

AUDIO = OracleAudio()
LONG = OracleAudio(
    utterances=(("alpha", "bravo"), ("charlie", "delta"), ("echo", "foxtrot"), ("golf", "hotel"))
)
MID_UTTERANCE = LEAD_S + (4 * TONE_S + GAP_S) + PAUSE_S + (2 * TONE_S + GAP_S) + TONE_S
"""Seconds of the oracle audio inside "delta", the second word of the second utterance."""
FAULTS: dict[str, Callable[[float], FaultPlan]] = {
    "outage": lambda at: FaultPlan(outage_after=at),  # drop, then 503 on every reconnect
    "close1011": lambda at: FaultPlan(close_code=1011, close_after=at, fault_sessions=None),
    "drop": lambda at: FaultPlan(drop_after=at, fault_sessions=None),
    "stall": lambda at: FaultPlan(stall_after=at, fault_sessions=None),
}


def member(emu: TelnyxEmulator, **options: object) -> speechkit.STT:
    options = {"response_timeout": 1.5, **options}
    opts = TelnyxOptions(base_url=emu.url, api_key=emu.api_key, **options)  # type: ignore[arg-type]
    return speechkit.STT(TelnyxProvider(opts))


@pytest.fixture
async def emulators() -> AsyncIterator[list[TelnyxEmulator]]:
    emus = [TelnyxEmulator() for _ in range(3)]
    for e in emus:
        await e.start()
    yield emus
    for e in emus:
        await e.stop()


def accepted(emu: TelnyxEmulator) -> int:
    return sum(s.status == 101 for s in emu.sessions)


@pytest.mark.parametrize("speed", [4.0, None], ids=["paced", "burst"])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_the_primary_failing_mid_utterance_loses_and_doubles_no_word(
    emulators: list[TelnyxEmulator], fault: str, speed: float | None
) -> None:
    a, b, _ = emulators
    a.faults = FAULTS[fault](MID_UTTERANCE)
    chain = speechkit.FallbackSTT([member(a), member(b)])
    run = await transcribe(chain, AUDIO.frames(), speed=speed)
    await chain.aclose()
    assert accepted(b) >= 1, "the chain never failed over"
    assert run.final_words == AUDIO.words
    starts = [f.start_time for f in run.finals]
    assert starts == sorted(starts)


async def test_a_three_member_chain_where_two_fail_is_served_by_the_third(
    emulators: list[TelnyxEmulator],
) -> None:
    a, b, c = emulators
    a.faults = FaultPlan(outage_after=0.3)
    b.faults = FaultPlan(outage_after=MID_UTTERANCE - 0.3)
    chain = speechkit.FallbackSTT([member(a), member(b), member(c)])
    run = await transcribe(chain, AUDIO.frames(), speed=4.0)
    await chain.aclose()
    assert a.down and b.down and accepted(c) == 1
    assert run.final_words == AUDIO.words


async def test_when_every_member_fails_one_error_names_each_and_why(emulators: list[TelnyxEmulator]) -> None:
    a, b, _ = emulators
    a.faults = FaultPlan(refuse_status=503)
    b.faults = FaultPlan(refuse_status=401)
    chain = speechkit.FallbackSTT([member(a), member(b)])
    with pytest.raises(APIError) as err:
        await transcribe(chain, AUDIO.frames(), speed=None)
    await chain.aclose()
    assert "every provider of the chain failed" in err.value.message
    assert "HTTP 503" in err.value.message and "HTTP 401" in err.value.message
    assert "never transcribed" in err.value.message


async def test_a_recovered_primary_serves_again_from_an_utterance_boundary(
    emulators: list[TelnyxEmulator],
) -> None:
    a, b, _ = emulators
    a.faults = FaultPlan(outage_after=0.4)
    chain = speechkit.FallbackSTT([member(a), member(b)], recovery_interval=0.2)
    changes: list[bool] = []
    chain.on("stt_availability_changed", lambda ev: changes.append(ev.available))

    async def restart_a() -> None:
        await asyncio.sleep(0.6)  # the outage struck at 0.4 s of audio
        a.faults = FaultPlan()
        await a.stop()
        await a.start()  # same port: the vendor is back

    restarting = asyncio.create_task(restart_a())
    run = await transcribe(chain, LONG.frames(), speed=1.0)
    await restarting
    await chain.aclose()
    assert changes[:2] == [False, True], changes
    served = [(s.ended_by, round(s.audio_seconds, 2)) for s in a.sessions]
    # the outage, refusals while down, probes (a handshake, no audio), then one serving session
    assert [x for x in served[1:] if x[1] > 0] == [served[-1]], f"the primary did not serve again: {served}"
    assert run.final_words == LONG.words


async def test_a_failover_reports_its_gap_and_the_replayed_audio(emulators: list[TelnyxEmulator]) -> None:
    a, b, _ = emulators
    a.faults = FaultPlan(outage_after=MID_UTTERANCE)
    chain = speechkit.FallbackSTT([member(a), member(b)])
    metrics: list[SpeechkitSTTMetrics] = []
    chain.on("metrics_collected", metrics.append)
    await transcribe(chain, AUDIO.frames(), speed=4.0)
    await chain.aclose()
    failovers = [m for m in metrics if isinstance(m, SpeechkitSTTMetrics) and m.failover_gap is not None]
    assert len(failovers) == 1 and failovers[0].failover_gap < 1.0
    assert failovers[0].replayed_seconds and failovers[0].replayed_seconds > 0


async def test_a_member_that_cannot_take_the_stream_rate_is_skipped_with_a_reason(
    emulators: list[TelnyxEmulator], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="speechkit")
    a, b, _ = emulators

    class OnlyWideband(TelnyxProvider):
        name = "wideband"
        capabilities = TelnyxProvider.capabilities

        def __init__(self, options: TelnyxOptions) -> None:
            super().__init__(options)
            self.capabilities = type(self.capabilities)(sample_rates=(16000,))

    narrow = member(a, sample_rate=8000)
    wide = speechkit.STT(OnlyWideband(TelnyxOptions(base_url=b.url, api_key=b.api_key)))
    chain = speechkit.FallbackSTT([narrow, wide])
    run = await transcribe(chain, AUDIO.frames(8000), speed=None)
    await chain.aclose()
    assert "wideband skipped: it cannot take 8000 Hz" in caplog.text
    assert run.final_words == AUDIO.words and not b.sessions


async def test_a_member_that_cannot_recognise_the_language_is_skipped_with_a_reason(
    emulators: list[TelnyxEmulator], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="speechkit")
    chain = speechkit.stt(f"telnyx:de?base_url={emulators[0].url}&api_key={emulators[0].api_key}, local")
    assert isinstance(chain, speechkit.FallbackSTT)
    stream = chain.stream(language="de")
    assert stream.member == "telnyx"
    assert "local skipped: it does not recognise 'de' (it recognises en)" in caplog.text
    await stream.aclose()
    with pytest.raises(speechkit.ConfigError, match="no member of the chain can serve"):
        speechkit.FallbackSTT([speechkit.stt("local"), speechkit.stt("local")]).stream(language="de")
    await chain.aclose()


def test_a_config_string_chain_is_a_fallback_stt() -> None:
    chain = speechkit.stt("telnyx:en?api_key=k1, telnyx:en?api_key=k2&engine=Deepgram")
    assert isinstance(chain, speechkit.FallbackSTT) and isinstance(chain, stt.STT)
    assert [m.hooks.options.engine for m in chain.members] == ["Telnyx", "Deepgram"]


def test_options_given_to_the_chain_reach_every_member_that_has_them() -> None:
    chain = speechkit.stt("telnyx?api_key=k1, telnyx?api_key=k2")
    assert isinstance(chain, speechkit.FallbackSTT)
    chain.update_options(language="de", response_timeout=3.0)
    assert [(m.language, m.hooks.options.response_timeout) for m in chain.members] == [("de", 3.0)] * 2
    with pytest.raises(speechkit.ConfigError, match="no member"):
        chain.update_options(no_such_option=1)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    at=st.floats(0.05, AUDIO.duration - 0.05),
    fault=st.sampled_from(sorted(FAULTS)),
    sizes=st.lists(st.integers(40, 2400), min_size=1, max_size=4),
    burst=st.booleans(),
)
async def test_any_failure_anywhere_loses_and_doubles_no_word(
    emulators: list[TelnyxEmulator], at: float, fault: str, sizes: list[int], burst: bool
) -> None:
    a, b, _ = emulators
    for e in (a, b):
        e.sessions.clear()
    a.down = False
    a.faults = FAULTS[fault](at)
    chain = speechkit.FallbackSTT([member(a), member(b)])
    run = await transcribe(chain, AUDIO.frames(sizes=sizes), speed=None if burst else 4.0, conn_options=FAST)
    await chain.aclose()
    assert run.final_words == AUDIO.words


async def test_recognize_on_a_chain_survives_the_primary_going_down(emulators: list[TelnyxEmulator]) -> None:
    a, b, _ = emulators
    a.faults = FaultPlan(outage_after=MID_UTTERANCE)
    chain = speechkit.FallbackSTT([member(a), member(b)])
    event = await chain.recognize(AUDIO.frames(), conn_options=FAST)
    await chain.aclose()
    assert a.down and event.alternatives[0].text.split() == AUDIO.words


async def test_speech_a_full_replay_room_dropped_before_a_failover_is_named_not_quiet(
    emulators: list[TelnyxEmulator], caplog: pytest.LogCaptureFixture
) -> None:
    # issue 19.3: a member that finalises nothing fills the room; the failover then cannot
    # replay what the room dropped, and says how much instead of leaving a quiet gap
    a, b, _ = emulators
    a.faults = FaultPlan(mute_after=0.0, outage_after=LONG.duration - 0.5)
    quiet = member(a, transcript_timeout=60.0, response_timeout=60.0)  # mute, yet not judged dead
    chain = speechkit.FallbackSTT([quiet, member(b)], replay_seconds=1.0)
    caplog.set_level(logging.WARNING, logger="speechkit")
    run = await transcribe(chain, LONG.frames(), speed=4.0)
    await chain.aclose()
    assert a.down and accepted(b) == 1, "the chain never failed over"
    named = [r.getMessage() for r in caplog.records if "full replay room dropped" in r.getMessage()]
    assert len(named) == 1 and named[0].startswith("reconnecting without "), named
    dropped = float(named[0].split()[2])
    assert dropped > 0.5
    assert run.final_words == LONG.words[-len(run.final_words) :] and len(run.final_words) < len(LONG.words)


async def test_a_member_that_answers_but_transcribes_nothing_is_failed_over(
    emulators: list[TelnyxEmulator],
) -> None:
    # issue 19.2: chains that never failed over while most sessions errored silently
    a, b, _ = emulators
    a.faults = FaultPlan(mute_after=0.0, fault_sessions=None)  # every session of a is mute
    chain = speechkit.FallbackSTT([member(a, transcript_timeout=1.0), member(b)])
    run = await transcribe(chain, LONG.frames(), speed=2.0)
    await chain.aclose()
    assert all(s.muted for s in a.sessions if s.status == 101) and accepted(b) == 1
    assert run.final_words == LONG.words
