"""Event grammar, usage, timestamps and language: what every stream's events must look like."""

from __future__ import annotations

import pytest
from livekit.agents import stt

import speechkit
from speechkit.text import normalise

from ..harness import OracleAudio, Target, carries_language, check_grammar, transcribe
from ..requirements import requires

E = stt.SpeechEventType
UTTERANCES_3 = (("alpha", "bravo"), ("charlie", "delta", "echo"), ("foxtrot", "golf"))
"""Three utterances: merging two of them still fails the per-utterance test."""
OTHER_LANGUAGE = "de-DE"
"""A language no provider defaults to, sent to check that ``stream(language=...)`` reaches the server."""


def utterances_of(events: list[stt.SpeechEvent]) -> list[list[str]]:
    """The final words between each START_OF_SPEECH and the next one."""
    out: list[list[str]] = []
    for ev in events:
        if ev.type == E.START_OF_SPEECH:
            out.append([])
        elif ev.type == E.FINAL_TRANSCRIPT and out and ev.alternatives:
            out[-1] += normalise(ev.alternatives[0].text).split()
    return out


@pytest.mark.asyncio
class TestEventGrammar:
    """START → (INTERIM* FINAL)+ → END per utterance; usage, times and language on every event."""

    async def test_events_follow_start_interims_finals_end_per_utterance(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        run = await transcribe(speechkit_stt, speechkit_target.audio.frames())
        check_grammar(run.events, require_final=speechkit_target.audio.exact)

    @requires("end_of_utterance", "exact_words")
    @pytest.mark.parametrize("speed", [None, 1.0], ids=["burst", "paced"])
    async def test_each_utterance_gets_its_own_start_and_end(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT, speed: float | None
    ) -> None:
        # burst: the whole recording before the first answer; an emulator that ends an utterance
        # by wall time instead of audio position merges them there (one START/END for three)
        audio = OracleAudio(utterances=UTTERANCES_3)
        run = await transcribe(speechkit_stt, audio.frames(), speed=speed)
        starts, ends = run.types.count(E.START_OF_SPEECH), run.types.count(E.END_OF_SPEECH)
        assert starts == ends == len(UTTERANCES_3), run.types
        assert utterances_of(run.events) == [list(u) for u in UTTERANCES_3]

    async def test_usage_reports_the_seconds_pushed_within_one_chunk(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio
        run = await transcribe(speechkit_stt, audio.frames())
        assert abs(run.usage_seconds - audio.duration) <= speechkit_stt.hooks.chunk_duration + 1e-6

    @requires("emulator")
    async def test_usage_reports_the_seconds_the_server_received_within_one_chunk(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        run = await transcribe(speechkit_stt, speechkit_target.audio.frames())
        received = sum(s.audio_seconds for s in speechkit_target.sessions)
        assert abs(run.usage_seconds - received) <= speechkit_stt.hooks.chunk_duration + 1e-6

    async def test_final_times_are_monotonic_and_inside_the_audio(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        audio = speechkit_target.audio
        run = await transcribe(speechkit_stt, audio.frames())
        spans = [(f.start_time, f.end_time) for f in run.finals]
        limit = audio.duration + speechkit_stt.hooks.chunk_duration
        assert spans and [s for s, _ in spans] == sorted(s for s, _ in spans), spans
        assert all(0.0 <= s <= e <= limit for s, e in spans), spans

    @requires("word_timestamps")
    async def test_word_times_are_monotonic_and_inside_their_final(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        run = await transcribe(speechkit_stt, speechkit_target.audio.frames())
        words = run.word_spans
        assert words and [s for s, _, _ in words] == sorted(s for s, _, _ in words)
        tolerance = 0.05  # engines round word edges
        assert all(f.start_time - tolerance <= s <= e <= f.end_time + tolerance for s, e, f in words), [
            (s, e, f.start_time, f.end_time) for s, e, f in words
        ]

    @requires("interim_results")
    async def test_interims_arrive_before_the_final_of_their_utterance(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        # real time, as a live caller: an engine may skip interims for audio that arrives faster
        run = await transcribe(speechkit_stt, speechkit_target.audio.short().frames(), speed=1.0)
        kinds = [t for t in run.types if t in (E.INTERIM_TRANSCRIPT, E.FINAL_TRANSCRIPT)]
        assert E.INTERIM_TRANSCRIPT in kinds and E.FINAL_TRANSCRIPT in kinds, kinds
        assert kinds.index(E.INTERIM_TRANSCRIPT) < len(kinds) - 1 - kinds[::-1].index(E.FINAL_TRANSCRIPT)

    @requires("diarization")
    async def test_finals_carry_a_speaker_id(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        run = await transcribe(speechkit_stt, speechkit_target.audio.frames())
        assert run.finals and all(f.speaker_id for f in run.finals)

    async def test_finals_report_the_stream_language(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        run = await transcribe(speechkit_stt, speechkit_target.audio.frames())
        primary = speechkit_stt.language.split("-")[0].lower()
        assert run.finals and {str(f.language).split("-")[0].lower() for f in run.finals} == {primary}

    @requires("emulator")
    async def test_the_stream_language_reaches_the_server(
        self, speechkit_target: Target, speechkit_stt: speechkit.STT
    ) -> None:
        await transcribe(speechkit_stt, speechkit_target.audio.short().frames(), language=OTHER_LANGUAGE)
        session = speechkit_target.sessions[0]
        assert carries_language(session, OTHER_LANGUAGE), (
            f"{OTHER_LANGUAGE} in neither {session.query} nor {session.texts}"
        )
