"""Same input, same output: the local engine's finals do not depend on timing.

Real speech (samples/jfk.flac) through the real engine. The stream is set up so that every
timing-sensitive path runs: ``endpointing=1.5`` merges the sample's phrases into one long
utterance (interim windows are cut after 8 s), and ``max_utterance=9`` forces a split inside
it. Interims are best-effort and may differ with timing; finals may not.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import subprocess
import sys
from pathlib import Path

import jiwer
import pytest
from livekit import rtc
from livekit.agents import stt
from test_local import REFERENCE, SAMPLE, normalise

import speechkit
from speechkit.audio import decode_file

E = stt.SpeechEventType
CONFIG = "local?endpointing=1.5&max_utterance=16"


async def finals(
    engine: speechkit.STT, frames: list[rtc.AudioFrame], pacing: str, seed: int = 0
) -> list[str]:
    """Push ``frames`` with the given timing; the finals' text and word times."""
    rnd = random.Random(seed)
    stream = engine.stream()

    async def feed() -> None:
        for frame in frames:
            stream.push_frame(frame)
            seconds = frame.samples_per_channel / frame.sample_rate
            if pacing == "paced":  # a little faster than real time: interims still run
                await asyncio.sleep(seconds / 1.4)
            elif pacing == "stalls" and rnd.random() < 0.04:  # bursts, then stalls up to 0.6 s
                await asyncio.sleep(rnd.uniform(0.05, 0.6))
        stream.end_input()

    feeder = asyncio.create_task(feed())
    out = []
    async for ev in stream:
        if ev.type == E.FINAL_TRANSCRIPT:
            alt = ev.alternatives[0]
            words = " ".join(f"{w}@{w.start_time:.2f}-{w.end_time:.2f}" for w in alt.words or [])
            out.append(f"{alt.text} [{words}]")
    await feeder
    await stream.aclose()
    return out


@pytest.mark.slow
async def test_the_same_frames_give_the_same_finals_whatever_the_timing() -> None:
    engine = speechkit.stt(CONFIG)
    assert isinstance(engine, speechkit.STT)
    frames = decode_file(SAMPLE).frames * 2  # 22 s, one run-on utterance at endpointing=1.5
    try:
        fast = await finals(engine, frames, "fast")
        assert len(fast) >= 2, "max_utterance must have split the utterance"
        # The split is at a word boundary: no word lost, doubled or cut in two there.
        said = " ".join(f.split(" [")[0] for f in fast)
        assert jiwer.wer(normalise(REFERENCE + " " + REFERENCE), normalise(said)) <= 0.15, said
        assert await finals(engine, frames, "fast") == fast
        assert await finals(engine, frames, "paced") == fast
        assert await finals(engine, frames, "stalls", seed=1) == fast
        # Concurrent streams compete for the decode workers: still the same finals.
        both = await asyncio.gather(finals(engine, frames, "stalls", seed=2), finals(engine, frames, "paced"))
        assert both == [fast, fast]
    finally:
        await engine.aclose()


def _cli(fmt: str, path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "speechkit", "transcribe", "-q", "-f", fmt, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _out(proc: subprocess.Popen[bytes]) -> bytes:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err.decode()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["text", "jsonl", "srt"])
def test_the_cli_gives_byte_identical_output_for_the_same_file(fmt: str) -> None:
    # One run alone, then two side by side, so the machine's load differs between them.
    first = _out(_cli(fmt, SAMPLE))
    pair = [_cli(fmt, SAMPLE), _cli(fmt, SAMPLE)]
    assert [_out(p) for p in pair] == [first, first]
    assert b"ask not what your country" in first.lower()


@pytest.mark.slow
async def test_file_mode_is_faster_whisper_s_own_transcribe() -> None:
    """recognize() decodes a recording as faster-whisper's transcribe() does without word
    timestamps (asking for them changes its seeks and so its text), on the same weights
    and the same samples: the same words, every time, with word times from the second pass
    that agree with transcribe(word_timestamps=True)'s where the text does."""
    import numpy as np
    from faster_whisper import WhisperModel
    from speechkit_providers.local.models import resolve_model_path

    audio = decode_file(SAMPLE)
    pcm = np.concatenate([np.frombuffer(f.data, np.int16) for f in audio.frames]).astype(np.float32) / 32768
    assert audio.sample_rate == 16000 and audio.num_channels == 1
    reference = WhisperModel(str(resolve_model_path("tiny.en")), device="cpu", compute_type="int8")
    segments, _ = reference.transcribe(pcm, language="en", beam_size=5, vad_filter=True)
    expected = " ".join(s.text.strip() for s in segments)
    timed_segments, _ = reference.transcribe(
        pcm, language="en", beam_size=5, vad_filter=True, word_timestamps=True
    )
    timed = [w for s in timed_segments for w in s.words or ()]

    engine = speechkit.stt("local")
    assert isinstance(engine, speechkit.STT)
    try:
        first = await engine.recognize(audio.frames)
        again = await engine.recognize(audio.frames)
    finally:
        await engine.aclose()
    alt = first.alternatives[0]
    assert alt.text == expected
    assert again.alternatives[0] == alt
    words = alt.words or []
    assert [str(w) for w in words] == [w.word.strip() for w in timed]  # jfk: the same text both ways
    for ours, theirs in zip(words, timed, strict=True):
        assert abs(ours.start_time - theirs.start) <= 0.1 and abs(ours.end_time - theirs.end) <= 0.1


@pytest.mark.slow
async def test_file_mode_words_cover_every_decode_window_of_a_long_recording(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past 30 s transcribe() decodes several windows; each segment's words are aligned in its
    own window, on the recording's clock, and the text is still transcribe()'s on the very
    samples the engine was given (48 kHz stereo, resampled by the core on the way in)."""
    import numpy as np
    import soxr  # type: ignore[import-untyped]
    from faster_whisper import WhisperModel
    from speechkit_providers.local import batch
    from speechkit_providers.local.models import resolve_model_path

    audio = decode_file(SAMPLE)
    pcm = np.concatenate([np.frombuffer(f.data, np.int16) for f in audio.frames]).astype(np.float32)
    gap = np.zeros(2 * audio.sample_rate, dtype=np.float32)
    pcm = np.concatenate([pcm, gap, pcm, gap, pcm])  # 37 s: three times the speech
    up = np.clip(np.rint(soxr.resample(pcm, audio.sample_rate, 48000)), -32768, 32767).astype(np.int16)
    stereo = np.repeat(up, 2)
    frames = [
        rtc.AudioFrame(stereo[i : i + 1920].tobytes(), 48000, 2, len(stereo[i : i + 1920]) // 2)
        for i in range(0, len(stereo), 1920)
    ]
    given: list[bytes] = []
    push = batch.FileRecognizer.push
    monkeypatch.setattr(
        batch.FileRecognizer, "push", lambda self, b: (given.append(bytes(b)), push(self, b))[1]
    )

    engine = speechkit.stt("local")
    assert isinstance(engine, speechkit.STT)
    try:
        alt = (await engine.recognize(frames)).alternatives[0]
    finally:
        await engine.aclose()
    samples = np.frombuffer(b"".join(given), "<i2").astype(np.float32) / 32768
    reference = WhisperModel(str(resolve_model_path("tiny.en")), device="cpu", compute_type="int8")
    segments, _ = reference.transcribe(samples, language="en", beam_size=5, vad_filter=True)
    assert alt.text == " ".join(s.text.strip() for s in segments)
    assert normalise(alt.text).count("ask not what your country") == 3
    words = alt.words or []
    assert len(words) == len(alt.text.split())
    starts = [w.start_time for w in words]
    assert starts == sorted(starts) and all(w.end_time >= w.start_time for w in words)
    # Each repeat's "And" starts where that repeat's speech does (13 s apart), not squeezed.
    ands = [w.start_time for w in words if str(w) == "And"]
    assert len(ands) == 3 and all(abs(b - a - 13.0) < 0.5 for a, b in itertools.pairwise(ands)), ands


@pytest.mark.slow
async def test_a_recording_longer_than_the_replay_room_is_decoded_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A recording's finals all come at its end: the core must neither stall its audio for
    finals nor trim its replay buffer."""
    audio = decode_file(SAMPLE)
    silence = rtc.AudioFrame(bytes(2 * 16000 * 70), 16000, 1, 16000 * 70)  # 70 s, beyond 60 s of room
    caplog.set_level("INFO", logger="speechkit")
    engine = speechkit.stt("local")
    assert isinstance(engine, speechkit.STT)
    try:
        event = await engine.recognize([silence, *audio.frames])
    finally:
        await engine.aclose()
    alt = event.alternatives[0]
    assert "ask not what your country" in normalise(alt.text)
    assert alt.start_time > 69.5  # on the stream clock (VAD pads speech by a few ms)
    assert not any("await a final" in r.getMessage() for r in caplog.records), "replay audio was trimmed"


@pytest.mark.slow
@pytest.mark.parametrize(("rate", "channels"), [(48000, 2), (8000, 1)])
def test_the_cli_is_byte_identical_for_input_it_must_resample(
    tmp_path: Path, rate: int, channels: int
) -> None:
    """A 48 kHz stereo and an 8 kHz recording are resampled to the engine's 16 kHz on the way in.
    livekit's resampler (and libsoxr's s16 path) dither with a random seed, which gave 3-4
    different srt files in 6 runs of one recording; the core's float path gives one."""
    import numpy as np
    import soxr  # type: ignore[import-untyped]

    from speechkit.codecs import wav_header

    audio = decode_file(SAMPLE)
    pcm = np.concatenate([np.frombuffer(f.data, np.int16) for f in audio.frames]).astype(np.float32)
    mono = np.clip(np.rint(soxr.resample(pcm, audio.sample_rate, rate)), -32768, 32767).astype(np.int16)
    data = np.repeat(mono, channels).tobytes()  # the same speech on every channel
    path = tmp_path / f"jfk-{rate}-{channels}.wav"
    path.write_bytes(wav_header(rate, channels=channels, data_size=len(data)) + data)
    first = _out(_cli("srt", path))
    pair = [_cli("srt", path), _cli("srt", path)]
    assert [_out(p) for p in pair] == [first, first]
    assert b"ask not what your country" in first.lower()
