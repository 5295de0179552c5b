"""The emulator framework's contracts, as a vendor meets them: the Recognizer protocol, the
recognizing emulator's plumbing, what a subclass must define, close reasons, session limits,
and the suite's exports."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import pkgutil

import aiohttp
import attrs
import pytest
from speechkit_conformance import suite
from speechkit_conformance.emulator import Emulator, FaultPlan, SessionContext, SessionRecord
from speechkit_conformance.harness import SpeechAudio
from speechkit_conformance.oracle import OracleRecognizer, synthesize
from speechkit_conformance.recognizers import (
    Flushed,
    Recognizer,
    RecognizerEvent,
    RecognizerKind,
    make_recognizer,
)
from speechkit_conformance.recognizing import RecognizingEmulator, WavReader, decode_audio

from speechkit.codecs import wav_header
from speechkit.events import Finished, SpeechEnded, Transcript
from tests.fakes import LevelRecognizer

RATE = 16000


# -- the Recognizer protocol ----------------------------------------------------------------------


def test_the_oracle_and_the_tests_fake_are_recognizers() -> None:
    assert isinstance(OracleRecognizer(RATE), Recognizer)
    assert isinstance(LevelRecognizer(), Recognizer)
    assert isinstance(make_recognizer("oracle", RATE), Recognizer)


@pytest.mark.slow
async def test_the_local_engine_is_a_recognizer_and_marks_its_flushes() -> None:
    pytest.importorskip("faster_whisper")
    rec = make_recognizer("local", 8000)  # resampled to 16 kHz inside
    assert isinstance(rec, Recognizer) and not rec.stable
    rec.push(bytes(8000))  # 0.5 s of silence at 8 kHz
    rec.flush("m1")
    rec.end_input()
    events = [e async for e in rec.events()]
    await rec.aclose()
    assert Flushed("m1", 0.5) in events and isinstance(events[-1], Finished)


def test_an_unknown_recognizer_is_named_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="oracle, local"):
        make_recognizer("whisper-large", RATE)  # type: ignore[arg-type]


async def _events(rec: Recognizer) -> list[RecognizerEvent]:
    return [e async for e in rec.events()]


async def test_a_flush_marker_follows_the_final_it_caused_and_carries_the_position() -> None:
    rec = make_recognizer("oracle", RATE)
    pcm = synthesize([["alpha", "bravo"]], RATE, lead=0.1)[: int(0.6 * RATE)]  # the words, no pause
    rec.push(pcm.tobytes())
    rec.flush("first")
    rec.flush("second")  # nothing pending: a marker, no final
    rec.end_input()
    events = await _events(rec)
    kinds = [type(e).__name__ for e in events if not (isinstance(e, Transcript) and not e.is_final)]
    assert kinds == ["Transcript", "Flushed", "Flushed", "Finished"]
    flushed = [e for e in events if isinstance(e, Flushed)]
    assert [f.marker for f in flushed] == ["first", "second"] and flushed[0].position == pytest.approx(0.6)
    assert [f.finalized for f in flushed] == [True, False]


@pytest.mark.parametrize("kind", ["oracle", pytest.param("local", marks=pytest.mark.slow)])
async def test_a_flush_after_the_silence_that_ended_an_utterance_did_not_finalize_it(kind: str) -> None:
    if kind == "local":
        pytest.importorskip("faster_whisper")
        pcm = SpeechAudio().short().pcm(RATE)
    else:
        pcm = synthesize([["alpha", "bravo"]], RATE, lead=0.1)
    rec = make_recognizer(kind, RATE)  # type: ignore[arg-type]
    rec.push(pcm.tobytes() + bytes(2 * RATE * 2))  # the words, then 2 s of silence: endpointed
    rec.flush("late")
    rec.end_input()
    events = await _events(rec)
    await rec.aclose()
    finals = [e for e in events if isinstance(e, Transcript) and e.is_final]
    flushed = next(e for e in events if isinstance(e, Flushed))
    assert finals and events.index(finals[-1]) < events.index(flushed) and not flushed.finalized


async def test_end_of_speech_yields_speech_ended_after_that_much_silence_once_per_utterance() -> None:
    rec = make_recognizer("oracle", RATE, end_of_speech=0.5)
    rec.push(synthesize([["alpha"], ["bravo"]], RATE).tobytes())  # each utterance ends in 0.5 s pause
    rec.push(bytes(RATE * 2))  # 1 s more silence: no second SpeechEnded for the last utterance
    rec.end_input()
    events = await _events(rec)
    ended = [e for e in events if isinstance(e, SpeechEnded)]
    finals = [e for e in events if isinstance(e, Transcript) and e.is_final]
    assert len(ended) == len(finals) == 2
    assert all(f.end_time is not None and e.time is not None and e.time >= f.end_time + 0.5 - 0.02
               for f, e in zip(finals, ended, strict=True))  # fmt: skip


# -- audio plumbing -------------------------------------------------------------------------------


def test_decode_audio_mixes_channels_and_reads_the_three_encodings() -> None:
    import numpy as np

    stereo = np.array([100, 300, -200, -400], dtype="<i2").tobytes()
    assert np.frombuffer(decode_audio(stereo, "pcm_s16le", 2), "<i2").tolist() == [200, -300]
    f32 = np.array([0.5, -1.5], dtype="<f4").tobytes()
    assert np.frombuffer(decode_audio(f32, "pcm_f32le"), "<i2").tolist() == [16383, -32767]
    assert len(decode_audio(bytes(80), "mulaw")) == 160
    with pytest.raises(ValueError, match="pcm_s16le, pcm_f32le, mulaw"):
        decode_audio(b"", "opus")


def test_a_wav_header_split_across_frames_is_read_then_audio_passes_through() -> None:
    header = wav_header(8000, channels=2)
    reader = WavReader()
    assert reader.feed(header[:10]) is None and not reader.done
    assert reader.feed(header[10:] + b"\x01\x02") == b"\x01\x02"
    assert reader.format is not None and (reader.format.sample_rate, reader.format.channels) == (8000, 2)
    assert reader.feed(b"\x03\x04") == b"\x03\x04"


# -- what a vendor must define ----------------------------------------------------------------------


@attrs.define
class _Config:
    api_key: str = "k"
    recognizer: RecognizerKind = "oracle"


def test_an_emulator_without_paths_fails_when_defined_naming_what_is_missing() -> None:
    with pytest.raises(TypeError, match=r"must set `paths`.*vendor-guide"):

        class _NoPaths(Emulator[_Config, object]):
            config_type = _Config


def test_an_emulator_without_a_config_with_an_api_key_fails_when_defined() -> None:
    with pytest.raises(TypeError, match="config_type"):

        class _NoConfig(Emulator[_Config, object]):
            paths = ("/x",)

    @attrs.define
    class Keyless:
        recognizer: str = "oracle"

    with pytest.raises(TypeError, match="api_key"):

        class _Keyless(Emulator[Keyless, object]):
            paths = ("/x",)
            config_type = Keyless


def test_an_emulator_without_open_session_or_on_event_fails_when_defined() -> None:
    with pytest.raises(TypeError, match="must define `open_session`"):

        class _NoOpen(Emulator[_Config, object]):
            paths = ("/x",)
            config_type = _Config

    with pytest.raises(TypeError, match="must define `on_event`"):

        class _NoEvents(RecognizingEmulator[_Config, object]):
            paths = ("/x",)
            config_type = _Config

            async def open_session(self, ctx: SessionContext[object]) -> object | None:
                return object()

            async def on_binary(self, ctx: SessionContext[object], data: bytes) -> float:
                return 0.0


def test_a_recognizing_emulator_needs_a_recognizer_field() -> None:
    @attrs.define
    class NoRecognizer:
        api_key: str = "k"

    with pytest.raises(TypeError, match="recognizer"):

        class _Bad(RecognizingEmulator[NoRecognizer, object]):
            paths = ("/x",)
            config_type = NoRecognizer

            async def open_session(self, ctx: SessionContext[object]) -> object | None:
                return object()

            async def on_binary(self, ctx: SessionContext[object], data: bytes) -> float:
                return 0.0


# -- a whole vendor on the base: echo ---------------------------------------------------------------


@attrs.define
class _EchoState:
    flushes: list[str] = attrs.field(factory=list)


class _Echo(RecognizingEmulator[_Config, _EchoState]):
    """A minimal vendor: finals as ``{"final": text}``, ``{"flush": id}`` answered by id, an
    idle rule, ``{"end": 1}`` -> every final, ``{"done": 1}``, close 1000 with a reason."""

    paths = ("/listen",)
    config_type = _Config
    idle: float | None = None

    async def open_session(self, ctx: SessionContext[_EchoState]) -> _EchoState | None:
        if ctx.record.query.get("rate") != str(RATE):
            ctx.fail({"error": "bad rate"}, 4000, reason="bad rate")
            return None
        self.start_recognizer(ctx, RATE)
        ctx.limit(self.idle, lambda: ctx.fail({"error": "idle"}, 4008, reason="idle"), idle=True)
        return _EchoState()

    async def on_binary(self, ctx: SessionContext[_EchoState], data: bytes) -> float:
        return self.push_audio(ctx, data, encoding="pcm_s16le")

    async def on_text(self, ctx: SessionContext[_EchoState], text: str) -> None:
        msg = json.loads(text)
        if "flush" in msg and ctx.recognizer is not None:
            ctx.recognizer.flush(msg["flush"])
        elif "end" in msg:
            self.end_input(ctx, then=lambda: (ctx.send('{"done": 1}'), ctx.close(1000, "bye")))

    def on_event(self, ctx: SessionContext[_EchoState], event: RecognizerEvent) -> None:
        if isinstance(event, Transcript) and event.is_final:
            ctx.send(json.dumps({"final": event.text}))
        elif isinstance(event, Flushed):
            ctx.state.flushes.append(str(event.marker))
            ctx.send(json.dumps({"flushed": event.marker}))


async def _talk(emu: _Echo, *messages: bytes | str, query: str = f"rate={RATE}") -> list[object]:
    got: list[object] = []
    async with aiohttp.ClientSession() as http, http.ws_connect(f"{emu.url}/listen?{query}") as ws:
        for m in messages:
            await (ws.send_bytes(m) if isinstance(m, bytes) else ws.send_str(m))
        async for msg in ws:
            got.append(json.loads(msg.data))
        got.append(("close", ws.close_code))
    return got


async def test_a_vendor_on_the_base_keeps_only_its_messages_and_answers_each_flush_by_its_id() -> None:
    pcm = synthesize([["alpha", "bravo"], ["charlie"]], RATE).tobytes()
    async with _Echo() as emu:
        got = await _talk(emu, pcm[: len(pcm) // 2], '{"flush": "a"}', pcm[len(pcm) // 2 :], '{"end": 1}')
    finals = [m["final"] for m in got if isinstance(m, dict) and "final" in m]
    assert " ".join(finals).split() == ["alpha", "bravo", "charlie"]
    assert {"flushed": "a"} in got and got[-2:] == [{"done": 1}, ("close", 1000)]
    record = emu.sessions[0]
    assert record.close_reason == "bye" and record.state.flushes == ["a"]
    assert record.audio_seconds == pytest.approx(len(pcm) / 2 / RATE)


async def test_fail_sends_the_error_then_closes_with_its_code_and_reason() -> None:
    async with _Echo() as emu:
        got = await _talk(emu, query="rate=8000")
    assert got == [{"error": "bad rate"}, ("close", 4000)]
    assert emu.sessions[0].close_reason == "bad rate" and emu.sessions[0].state is None


async def test_an_idle_limit_counts_from_the_last_audio() -> None:
    async with _Echo() as emu:
        emu.idle = 0.3
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{emu.url}/listen?rate={RATE}") as ws:
            for _ in range(4):  # audio every 0.2 s (less than the limit) keeps it open
                await ws.send_bytes(bytes(640))
                await asyncio.sleep(0.2)
            msg = await ws.receive_json(timeout=5)
            closed = await ws.receive()
    assert msg == {"error": "idle"} and closed.data == 4008 and closed.extra == "idle"
    timeline = emu.sessions[0].timeline  # the server's own clock: the close counts from the last audio
    audio = [t for t, kind, _ in timeline if kind == "bin"]
    close = next(t for t, kind, _ in timeline if kind == "close")
    assert len(audio) == 4 and close >= audio[-1] + 0.3 - 1e-3


async def test_session_limit_warnings_come_before_the_expiry() -> None:
    seen: list[str] = []

    class Limited(_Echo):
        async def open_session(self, ctx: SessionContext[_EchoState]) -> _EchoState | None:
            ctx.limit(0.4, lambda: (seen.append("expired"), ctx.close(1000)), warnings=(0.2,),
                      on_warning=lambda before: seen.append(f"warn {before:g}"))  # fmt: skip
            return _EchoState()

    async with Limited() as emu:
        got = await _talk(emu)
    assert seen == ["warn 0.2", "expired"] and got == [("close", 1000)]


def test_emulate_set_reaches_the_config_and_the_fault_plan() -> None:
    emu = _Echo.for_cli(recognizer="local")
    assert emu.config.recognizer == "local"
    emu.configure({"api_key": "other", "delay": "0.5"})
    assert emu.api_key == "other" and emu.faults.delay == 0.5
    assert isinstance(emu.faults, FaultPlan) and isinstance(emu.sessions, list)
    assert SessionRecord(index=1, path="/", query={}, raw_query="", headers={}).state is None


# -- the suite's exports -----------------------------------------------------------------------------


def test_the_suite_exports_every_test_class_it_defines() -> None:
    defined = set()
    for info in pkgutil.iter_modules(suite.__path__):
        module = importlib.import_module(f"{suite.__name__}.{info.name}")
        defined |= {
            name
            for name, obj in inspect.getmembers(module, inspect.isclass)
            if name.startswith("Test") and obj.__module__ == module.__name__
        }
    assert defined and set(suite.__all__) == defined, sorted(defined ^ set(suite.__all__))
