"""Reconnects on real speech: the Telnyx emulator with the local recognizer behind it (Whisper
tiny.en on samples/jfk.flac), one fault per run, pushed at real time and as fast as possible.

Oracle tone words pause exactly where the recognizer ends its utterances; real speech does not,
so this is where a replay that repeats already-transcribed audio shows up as doubled words.
"""

from __future__ import annotations

import pytest
from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.emulators.telnyx import TelnyxConfig, TelnyxEmulator
from speechkit_conformance.harness import FAST, MAX_WER, REFERENCE, SAMPLE, transcribe, word_error_rate

import speechkit
from speechkit.audio import decode_file

FAULT_AT = 9.0
"""Seconds of audio after which the fault strikes: three finals are out, the fourth is being spoken."""
FAULTS = {
    "drop": FaultPlan(drop_after=FAULT_AT),
    "close1011": FaultPlan(close_code=1011, close_after=FAULT_AT),
    "stall": FaultPlan(stall_after=FAULT_AT),
    # answers but transcribes nothing from the second sentence on: a silent failure
    "mute": FaultPlan(mute_after=2.5),
}


@pytest.mark.slow
@pytest.mark.parametrize("speed", [1.0, None], ids=["realtime", "burst"])
@pytest.mark.parametrize("fault", list(FAULTS))
async def test_a_fault_on_real_speech_loses_and_doubles_no_words(fault: str, speed: float | None) -> None:
    audio = decode_file(SAMPLE)
    async with TelnyxEmulator(TelnyxConfig(recognizer="local"), faults=FAULTS[fault]) as emu:
        # finals-only: the server is silent through an utterance (3-4 s here), so the bound is 6 s
        engine = speechkit.stt(f"telnyx?base_url={emu.url}&api_key={emu.api_key}&response_timeout=6")
        try:
            run = await transcribe(engine, audio.frames, speed=speed, conn_options=FAST, limit=60.0)
        finally:
            await engine.aclose()
    assert len(emu.sessions) == 2, "the fault did not cause exactly one reconnect"
    wer = word_error_rate(REFERENCE, run.text)
    assert wer <= MAX_WER, f"WER {wer:.2f}: {run.text!r}"


@pytest.mark.slow
@pytest.mark.parametrize("speed", [1.0, None], ids=["realtime", "burst"])
async def test_a_vendor_outage_fails_over_to_local_losing_and_doubling_no_words(speed: float | None) -> None:
    # untimed finals (Telnyx) before the failover, timed ones (local) after: the overlap is
    # resolved by words, since the last untimed final gave no time to cut at
    audio = decode_file(SAMPLE)
    async with TelnyxEmulator(
        TelnyxConfig(recognizer="local"), faults=FaultPlan(outage_after=FAULT_AT)
    ) as emu:
        chain = speechkit.stt(f"telnyx?base_url={emu.url}&api_key={emu.api_key}&response_timeout=6, local")
        try:
            run = await transcribe(chain, audio.frames, speed=speed, conn_options=FAST, limit=60.0)
        finally:
            await chain.aclose()
    assert emu.down, "the outage did not strike"
    wer = word_error_rate(REFERENCE, run.text)
    assert wer <= MAX_WER, f"WER {wer:.2f}: {run.text!r}"
