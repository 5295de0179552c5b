"""AssemblyAI's own Python SDK (PyPI ``assemblyai``, the ``conformance`` extra) against the emulator:
a client nobody here wrote must connect, stream, get ``Turn`` events and a ``Termination``.

The SDK's client is synchronous (threads and blocking websockets), so the emulator runs on an
event loop in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

aai = pytest.importorskip("assemblyai.streaming.v3")
# the SDK calls websockets' connect() outside a context manager (websockets >= 14 warns)
pytestmark = [
    pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*"),
]

from speechkit_conformance.emulators.assemblyai import AssemblyAIConfig, AssemblyAIEmulator  # noqa: E402
from speechkit_conformance.oracle import synthesize  # noqa: E402

RATE = 16000
UTTERANCES = [["alpha", "bravo"], ["charlie", "delta", "echo"]]


async def _shutdown(emu: AssemblyAIEmulator) -> None:
    """Stop the emulator and end every task of its loop (none is left to be collected later)."""
    await emu.stop()
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@contextlib.contextmanager
def serving(config: AssemblyAIConfig | None = None) -> Iterator[AssemblyAIEmulator]:
    """The emulator, serving from its own loop in a thread; every thread started meanwhile
    (the SDK's readers and writers) is joined before the next test."""
    before = set(threading.enumerate())
    loop = asyncio.new_event_loop()
    emu = AssemblyAIEmulator(config)
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(emu.start(), loop).result(5)
    try:
        yield emu
    finally:
        asyncio.run_coroutine_threadsafe(_shutdown(emu), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        for t in set(threading.enumerate()) - before:
            t.join(5)
        loop.close()


@pytest.fixture
def emulator() -> Iterator[AssemblyAIEmulator]:
    """The emulator for one test."""
    with serving() as emu:
        yield emu


def stream_with_sdk(emu: AssemblyAIEmulator, **params: Any) -> dict[str, list[Any]]:
    """Connect the SDK's StreamingClient, stream the oracle words in 50 ms chunks, terminate."""
    seen: dict[str, list[Any]] = {"begin": [], "turn": [], "termination": [], "error": []}
    client = aai.StreamingClient(aai.StreamingClientOptions(api_host=emu.url, api_key=emu.api_key))
    client.on(aai.StreamingEvents.Begin, lambda _c, e: seen["begin"].append(e))
    client.on(aai.StreamingEvents.Turn, lambda _c, e: seen["turn"].append(e))
    client.on(aai.StreamingEvents.Termination, lambda _c, e: seen["termination"].append(e))
    client.on(aai.StreamingEvents.Error, lambda _c, e: seen["error"].append(e))
    client.connect(aai.StreamingParameters(sample_rate=RATE, **params))
    pcm = synthesize(UTTERANCES, RATE).tobytes()
    step = RATE // 20 * 2  # 50 ms of s16le
    client.stream(pcm[i : i + step] for i in range(0, len(pcm) - step + 1, step))
    client.disconnect(terminate=True)
    return seen


def test_the_sdk_connects_streams_and_gets_partial_final_and_termination(
    emulator: AssemblyAIEmulator,
) -> None:
    seen = stream_with_sdk(emulator, speech_model=aai.SpeechModel.universal_streaming_english)
    assert not seen["error"], seen["error"]
    assert len(seen["begin"]) == 1 and seen["begin"][0].configuration.model == "universal-streaming-english"
    partials = [t for t in seen["turn"] if not t.end_of_turn]
    finals = [t.transcript for t in seen["turn"] if t.end_of_turn]
    assert partials and finals == ["alpha bravo", "charlie delta echo"]
    assert seen["termination"] and seen["termination"][0].audio_duration_seconds == 2


def test_the_sdk_sends_the_raw_key_and_appends_v3_ws(emulator: AssemblyAIEmulator) -> None:
    stream_with_sdk(emulator, speech_model=aai.SpeechModel.universal_streaming_english)
    session = emulator.sessions[0]
    assert session.path == "/v3/ws" and session.headers["Authorization"] == emulator.api_key


def test_format_turns_gives_a_formatted_twin_of_each_end_of_turn(emulator: AssemblyAIEmulator) -> None:
    seen = stream_with_sdk(
        emulator, speech_model=aai.SpeechModel.universal_streaming_english, format_turns=True
    )
    ends = [(t.turn_order, t.turn_is_formatted, t.transcript) for t in seen["turn"] if t.end_of_turn]
    assert ends == [
        (0, False, "alpha bravo"),
        (0, True, "Alpha bravo."),
        (1, False, "charlie delta echo"),
        (1, True, "Charlie delta echo."),
    ]


@pytest.mark.parametrize(
    "model", ["universal-streaming-multilingual", "u3-rt-pro", "whisper-rt", "universal-3-6-pro"]
)
def test_every_current_speech_model_is_accepted(emulator: AssemblyAIEmulator, model: str) -> None:
    seen = stream_with_sdk(emulator, speech_model=aai.SpeechModel(model))
    assert not seen["error"] and seen["begin"][0].configuration.model == model
    assert [t.transcript.lower().rstrip(".") for t in seen["turn"] if t.end_of_turn] == [
        "alpha bravo",
        "charlie delta echo",
    ]


def test_the_parameters_of_the_current_api_are_accepted_and_recorded(emulator: AssemblyAIEmulator) -> None:
    seen = stream_with_sdk(
        emulator,
        speech_model=aai.SpeechModel.u3_rt_pro,
        language_codes=["en", "es"],
        session_heartbeat=True,
        min_turn_silence=200,
        max_turn_silence=1200,
        keyterms_prompt=["LiveKit", "Speechmatics"],
        speaker_labels=True,
        mode=aai.StreamingMode.balanced,
    )
    assert not seen["error"], seen["error"]
    config = emulator.sessions[0].state.config
    assert config["language_codes"] == ["en", "es"] and config["keyterms_prompt"] == [
        "LiveKit",
        "Speechmatics",
    ]
    assert config["session_heartbeat"] is True and config["min_turn_silence"] == 200  # the SDK sends "True"
    assert {t.speaker_label for t in seen["turn"]} == {"A"}


def test_set_params_sends_an_update_configuration_the_emulator_applies(emulator: AssemblyAIEmulator) -> None:
    client = aai.StreamingClient(aai.StreamingClientOptions(api_host=emulator.url, api_key=emulator.api_key))
    client.connect(aai.StreamingParameters(sample_rate=RATE, speech_model=aai.SpeechModel.u3_rt_pro))
    client.set_params(aai.StreamingSessionParameters(max_turn_silence=900, keyterms_prompt=["Acme"]))
    client.stream(bytes(RATE // 10 * 2))
    client.disconnect(terminate=True)
    session = emulator.sessions[0]
    assert [json.loads(t)["type"] for t in session.texts] == ["UpdateConfiguration", "Terminate"]
    assert session.state.updates == [{"max_turn_silence": 900, "keyterms_prompt": ["Acme"]}]


def test_a_wrong_key_reaches_the_sdk_as_a_1008_error(emulator: AssemblyAIEmulator) -> None:
    errors: list[Any] = []
    client = aai.StreamingClient(aai.StreamingClientOptions(api_host=emulator.url, api_key="wrong"))
    client.on(aai.StreamingEvents.Error, lambda _c, e: errors.append(e))
    client.connect(aai.StreamingParameters(sample_rate=RATE, speech_model="universal-streaming-english"))
    client.disconnect(terminate=True)
    assert [e.code for e in errors] == [1008]
