"""The local provider on a real recording (samples/jfk.flac), with the real engine."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import jiwer
import pytest
from livekit.agents import stt
from speechkit_conformance.harness import check_grammar

import speechkit
from speechkit.audio import decode_file, push_frames
from speechkit.text import normalise

E = stt.SpeechEventType
ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "jfk.flac"
REFERENCE = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


async def transcribe(engine: speechkit.STT, pace: float = 0.0) -> list[stt.SpeechEvent]:
    audio = decode_file(SAMPLE)
    stream = engine.stream()

    feeder = asyncio.create_task(push_frames(stream, audio.frames, speed=pace or None))
    events = [ev async for ev in stream]
    await feeder
    await stream.aclose()
    return events


def text_of(events: list[stt.SpeechEvent]) -> str:
    return " ".join(e.alternatives[0].text for e in events if e.type == E.FINAL_TRANSCRIPT)


@pytest.fixture(scope="module")
def engine() -> speechkit.STT:
    made = speechkit.stt("local")
    assert isinstance(made, speechkit.STT)
    return made


@pytest.mark.slow
async def test_file_mode_transcribes_real_speech(engine: speechkit.STT) -> None:
    events = await transcribe(engine)
    assert jiwer.wer(normalise(REFERENCE), normalise(text_of(events))) <= 0.1
    check_grammar(events)


@pytest.mark.slow
async def test_finals_carry_word_timestamps_on_the_stream_clock(engine: speechkit.STT) -> None:
    events = await transcribe(engine)
    words = [w for e in events if e.type == E.FINAL_TRANSCRIPT for w in e.alternatives[0].words or []]
    starts = [w.start_time for w in words]
    assert words and starts == sorted(starts)
    assert 0.0 <= starts[0] < 1.0 and words[-1].end_time <= 11.1


@pytest.mark.slow
async def test_real_time_streams_interims_before_each_final(engine: speechkit.STT) -> None:
    events = await transcribe(engine, pace=1.0)
    kinds = [e.type for e in events if e.type != E.RECOGNITION_USAGE]
    assert E.INTERIM_TRANSCRIPT in kinds[: kinds.index(E.FINAL_TRANSCRIPT)]
    check_grammar(events)


@pytest.mark.slow
async def test_concurrent_streams_share_one_model(engine: speechkit.STT) -> None:
    from speechkit_providers.local.models import SharedModel

    a, b = await asyncio.gather(transcribe(engine), transcribe(engine))
    assert text_of(a) == text_of(b)
    assert len(SharedModel._cache) == 1


@pytest.mark.slow
async def test_decoding_never_blocks_the_event_loop(engine: speechkit.STT) -> None:
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await transcribe(engine)
    tick.cancel()
    assert max(gaps) < 0.25  # a decode takes 0.1-0.3 s: it would show here if run on the loop


@pytest.mark.slow
async def test_aclose_mid_decode_is_prompt(engine: speechkit.STT) -> None:
    stream = engine.stream()
    for frame in decode_file(SAMPLE).frames:
        stream.push_frame(frame)
    await asyncio.sleep(0.3)  # decoding is under way
    t0 = time.monotonic()
    await stream.aclose()
    assert time.monotonic() - t0 < 0.5


def test_a_model_not_on_disk_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(speechkit.ConfigError, match=r"not found.*model\.bin"):
        speechkit.stt(f"local?model={tmp_path / 'nothing'}")


def test_a_named_model_is_found_in_model_dir_before_any_cache(tmp_path: Path) -> None:
    from speechkit_providers.local.models import resolve_model_path

    bundled = resolve_model_path("tiny.en")
    (tmp_path / "base.en").mkdir()
    for f in bundled.iterdir():  # the bundled weights stand in for base.en: no download here
        (tmp_path / "base.en" / f.name).symlink_to(f)
    engine = speechkit.stt(f"local/base.en?model_dir={tmp_path}")
    assert isinstance(engine, speechkit.STT)
    assert engine.hooks.model_path == tmp_path / "base.en"  # type: ignore[attr-defined]


def test_a_named_model_not_on_this_machine_says_how_to_fetch_it(tmp_path: Path) -> None:
    with pytest.raises(speechkit.ConfigError) as err:
        speechkit.stt(f"local/small.en?model_dir={tmp_path}")
    assert "download_model('small.en')" in str(err.value) and "?download=true" in str(err.value)
    with pytest.raises(speechkit.ConfigError, match="faster-whisper model name"):
        speechkit.stt("local/tiny-ish")


@pytest.mark.slow
def test_a_download_that_cannot_reach_the_hub_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "speechkit", "transcribe", str(SAMPLE), "--stt", "local/base.en?download=1"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)},  # never the network
    )
    assert proc.returncode == 2, proc.stderr
    assert "could not be downloaded" in proc.stderr and "download_model('base.en')" in proc.stderr


def test_an_english_only_model_refuses_another_language() -> None:
    with pytest.raises(speechkit.ConfigError, match="English-only"):
        speechkit.stt("local:de")


@pytest.mark.slow
def test_cli_transcribes_the_sample_offline() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "speechkit", "transcribe", str(SAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "ask not what your country can do for you" in normalise(" ".join(out.splitlines()))
    assert "-->" not in out and "00:00" not in out  # text is the plain transcript, as whisper's


def _transcode(src: Path, dst: Path, codec: str, rate: int, layout: str) -> Path:
    """Re-encode ``src`` with PyAV (a compressed format at another rate and channel count)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        resampler = av.AudioResampler(
            format=stream.format.name,
            layout=layout,
            rate=rate,
            frame_size=stream.codec_context.frame_size or 1024,
        )
        for frame in inp.decode(audio=0):
            for f in resampler.resample(frame):
                out.mux(stream.encode(f))
        for f in resampler.resample(None):
            out.mux(stream.encode(f))
        out.mux(stream.encode(None))
    return dst


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "codec", "rate", "layout"),
    [
        ("jfk.mp3", "libmp3lame", 44100, "stereo"),
        ("jfk.ogg", "libopus", 48000, "stereo"),
    ],
)
def test_cli_reads_compressed_formats_at_any_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, codec: str, rate: int, layout: str
) -> None:
    from speechkit.cli import main

    path = _transcode(SAMPLE, tmp_path / name, codec, rate, layout)
    assert main(["transcribe", str(path), "--stt", "local", "--format", "jsonl"]) == 0
    finals = [
        json.loads(line)["text"]
        for line in capsys.readouterr().out.splitlines()
        if '"final_transcript"' in line
    ]
    assert jiwer.wer(normalise(REFERENCE), normalise(" ".join(finals))) <= 0.15


def test_a_phrase_repeated_at_one_instant_by_the_decoder_is_dropped() -> None:
    from speechkit_providers.local.decoder import drop_squeezed_tail

    from speechkit import Word

    said = [Word("fellow", 1.4, 1.76), Word("Americans.", 1.76, 2.12)]
    repeat = [Word("And", 2.12, 2.12), Word("so", 2.12, 2.12), Word("Americans.", 2.12, 2.14)]
    assert drop_squeezed_tail(said + repeat) == tuple(said)
    assert drop_squeezed_tail([*said, Word("a", 2.12, 2.125)]) == (*said, Word("a", 2.12, 2.125))


def test_a_bad_compute_type_is_refused_when_the_string_is_parsed() -> None:
    with pytest.raises(speechkit.ConfigError, match=r"'compute_type' must be one of int8, .*float32"):
        speechkit.stt("local?compute_type=bogus")


def test_options_that_do_not_apply_in_process_are_refused() -> None:
    with pytest.raises(speechkit.ConfigError, match=r"local runs in-process: option 'base_url'"):
        speechkit.stt("local?base_url=ws://127.0.0.1:9")


@pytest.mark.slow
def test_a_final_decoded_after_context_returns_only_the_words_after_it() -> None:
    """Streaming finals hear the previous final's audio as context, its text forced as the
    decoder's prefix: the words that come back are the new ones, timed after the context."""
    import numpy as np
    from speechkit_providers.local.decoder import decode_window
    from speechkit_providers.local.models import SharedModel, resolve_model_path

    model = SharedModel.get(resolve_model_path("tiny.en"))
    audio = decode_file(SAMPLE)
    pcm = np.concatenate([np.frombuffer(f.data, np.int16) for f in audio.frames]).astype(np.float32) / 32768
    context = 2.9  # "And so, my fellow Americans," ends before 2.9 s; "ask not" follows
    decoded = decode_window(
        model.whisper,
        pcm[: int(4.6 * 16000)],
        tokenizer=model.tokenizer("en"),
        prompt="",
        final=True,
        prefix="And so my fellow Americans,",
        prefix_seconds=context,
    )
    said = normalise(" ".join(w.text for w in decoded.words))
    assert said.startswith("ask not") and "americans" not in said, said
    assert all(w.start_time >= context for w in decoded.words)
