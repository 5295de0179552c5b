"""speechkit inside a real livekit-agents ``AgentSession`` (issue 22, part 2), as a user runs it.

No room: the caller is a recording fed at real time through an ``AudioInput``, voice activity is
livekit's own Silero plugin, the LLM and TTS are scripted (:mod:`agent_harness`). What is
checked is what a voice agent relies on: every word the caller said reaches
``user_input_transcribed`` finals once, the LLM is given each committed user turn (so the turns
follow the STT's events), usage names the providers that served, and the session closes
without a leaked HTTP session, a destroyed task or an unawaited coroutine.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import numpy as np
import pytest
from agent_harness import SessionRun, run_session, silero_vad
from speechkit_conformance.emulator import FaultPlan
from speechkit_conformance.emulators.telnyx import TelnyxConfig, TelnyxEmulator
from speechkit_conformance.harness import SAMPLE

import speechkit
from speechkit.decode import decode_file
from speechkit.wer import english_normaliser, wer

pytestmark = pytest.mark.slow

CUT = 7.6
"""Seconds of samples/jfk.flac the caller says: two turns (the pause after "Americans")."""
SAID = "And so, my fellow Americans, ask not what your country can do for you"
"""What the caller says in those seconds."""
MAX_WER = 0.2
"""WER allowed against :data:`SAID`: tiny.en, fed turn by turn, hears "my" as "am I" at times
(2 errors of 14 words, 0.14); a lost turn ("ask not") adds 2 more."""
GUARD = 120.0
"""Seconds a session may run before the test gives up: a guard against a hang (an STT that never
answers livekit's close-time flush), not a speed bound."""


@pytest.fixture(scope="module")
def caller() -> tuple[np.ndarray, int]:
    """The first :data:`CUT` seconds of samples/jfk.flac, mono int16, and its rate."""
    audio = decode_file(SAMPLE)
    pcm = np.concatenate(
        [np.frombuffer(f.data, np.int16).reshape(-1, f.num_channels)[:, 0] for f in audio.frames]
    )
    rate = audio.frames[0].sample_rate
    return pcm[: int(CUT * rate)], rate


def words(text: str) -> list[str]:
    return english_normaliser()(text).split()


def doubled(said: str, heard: str) -> list[str]:
    """Words said that were heard more often than said, and words heard twice in a row ("ask
    not ask not"); a misheard word ("am I" for "my") is neither."""
    said_words, heard_words = words(said), words(heard)
    extra = Counter(heard_words) - Counter(said_words)
    repeats = [a for a, b in itertools.pairwise(heard_words) if a == b]
    return sorted(w for w in extra.elements() if w in said_words) + repeats


def turns_of(run: SessionRun) -> list[tuple[str, str]]:
    """Per committed user turn: the finals since the turn before, joined, and the turn's text."""
    out, finals = [], []
    for kind, detail in run.events:
        if kind == "final":
            finals.append(detail)
        elif kind == "turn":
            out.append((" ".join(finals), detail))
            finals = []
    assert finals == [], f"finals after the last committed turn: {finals}"
    return out


def check_session(run: SessionRun) -> None:
    """What every session must show, whatever the STT (see the module docstring)."""
    print(f"finals {run.finals} usage {run.usage_seconds} close {run.close_seconds:.3f}s")
    assert wer(" ".join(words(SAID)), " ".join(words(run.text))) <= MAX_WER, run.finals
    assert doubled(SAID, run.text) == [], run.finals
    # the turns follow the events: each committed turn holds the finals since the one before
    turns = turns_of(run)
    assert len(turns) >= 2, run.events  # the pause after "Americans" ends a turn
    assert [words(f) for f, _ in turns] == [words(t) for _, t in turns], run.events
    # a turn starts when the user speaks: the first event of the session, then one per turn
    assert run.events[0] == ("user", "speaking"), run.events
    unclean = [w for w in run.warnings if "Unclosed" in w or "destroyed" in w or "never awaited" in w]
    assert unclean == [], run.warnings


async def test_a_session_on_the_local_engine_hears_every_word_once(caller: tuple[np.ndarray, int]) -> None:
    pcm, rate = caller
    run = await asyncio.wait_for(run_session(speechkit.stt("local"), pcm, rate, vad=silero_vad()), GUARD)
    check_session(run)
    assert set(run.usage_seconds) == {("local", "tiny.en")}, run.usage_seconds


async def test_a_session_on_a_chain_whose_first_member_goes_down_mid_call_hears_every_word_once(
    caller: tuple[np.ndarray, int],
) -> None:
    pcm, rate = caller
    # Telnyx (its emulator, the local engine behind it) goes down 2 s into the call, in the middle
    # of "my fellow Americans": the chain moves to local and replays what no final covered. Its
    # Deepgram engine takes a flush (CloseStream), so the chain declares manual_flush and
    # livekit flushes it at each end of turn and on close, as it does the local engine
    emulator = TelnyxEmulator(TelnyxConfig(recognizer="local"), faults=FaultPlan(outage_after=2.0))
    async with emulator as emu:
        chain = speechkit.stt(f"telnyx?base_url={emu.url}&api_key={emu.api_key}&engine=Deepgram, local")
        assert chain.capabilities.manual_flush
        run = await asyncio.wait_for(run_session(chain, pcm, rate, vad=silero_vad()), GUARD)
        assert emu.down, "the outage never came"
    check_session(run)
    assert {provider for provider, _ in run.usage_seconds} == {"telnyx", "local"}, run.usage_seconds
