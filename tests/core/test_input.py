"""The stream's input half: resampling (exact counts, deterministic output, quality) and
queueing blocks that complete chunks no later than frame-by-frame resampling would."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit import rtc

from speechkit.stream.input import Chunker, FrameInput, Resampler
from speechkit.stream.pauses import PauseDetector

RATES = (8000, 16000, 22050, 24000, 44100, 48000)


def _speechlike(rate: int, seconds: float, seed: int = 0) -> np.ndarray:
    """Noise shaped by a syllable-rate envelope plus two tones, s16."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    env = 0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)
    x = env * (0.3 * rng.standard_normal(t.size) + 0.3 * np.sin(2 * np.pi * 440 * t))
    x += 0.2 * np.sin(2 * np.pi * 1500 * t)
    return np.clip(x * 12000, -32768, 32767).astype(np.int16)


def _resample(pcm: np.ndarray, rate_in: int, rate_out: int, cuts: list[int], flushes: set[int]) -> bytes:
    """``pcm`` through one Resampler in pieces of ``cuts`` samples, flushing after the pieces
    whose index is in ``flushes`` and at the end."""
    rs, out, k = Resampler(rate_in, rate_out), [], 0
    for i, n in enumerate(cuts):
        out.append(rs.push(pcm[k : k + n]))
        k += n
        if i in flushes:
            out.append(rs.flush())
    out.append(rs.push(pcm[k:]))
    out.append(rs.flush())
    return Resampler.to_pcm(out)


@settings(max_examples=40, deadline=None)
@given(
    rate_in=st.sampled_from(RATES),
    rate_out=st.sampled_from((8000, 16000, 24000)),
    cuts=st.lists(st.integers(1, 3000), min_size=1, max_size=30),
    data=st.data(),
)
def test_count_is_exact_after_every_flush(
    rate_in: int, rate_out: int, cuts: list[int], data: st.DataObject
) -> None:
    flushes = set(data.draw(st.lists(st.integers(0, len(cuts) - 1), max_size=5)))
    rs = Resampler(rate_in, rate_out)
    pcm = _speechlike(rate_in, sum(cuts) / rate_in + 0.01)
    fed = out = 0
    for i, n in enumerate(cuts):
        out += len(rs.push(pcm[fed : fed + n]))
        fed += n
        if i in flushes or i == len(cuts) - 1:
            out += len(rs.flush())
            assert out == (fed * rate_out + rate_in // 2) // rate_in  # half up, never drifting


@settings(max_examples=25, deadline=None)
@given(
    rate_in=st.sampled_from((8000, 44100, 48000)),
    cuts=st.lists(st.integers(1, 5000), min_size=1, max_size=40),
)
def test_same_audio_same_samples_however_it_is_cut(rate_in: int, cuts: list[int]) -> None:
    """Bit-identical output for any framing and on every run: libsoxr's s16 path (and livekit's
    AudioResampler) dithers with a random seed, which made transcripts of one file differ."""
    pcm = _speechlike(rate_in, 1.5)
    whole = _resample(pcm, rate_in, 16000, [len(pcm)], set())
    assert _resample(pcm, rate_in, 16000, cuts, set()) == whole
    assert _resample(pcm, rate_in, 16000, [rate_in // 50] * 200, set()) == whole


def test_a_long_push_reaches_libsoxr_in_pieces_of_at_most_100_ms() -> None:
    """libsoxr's buffers grow to the longest input it was handed and keep that size (a stream
    fed 1 s at once held 389 KiB, 100 ms at once 93 KiB): a minute in one frame is fed in
    100 ms pieces, and the samples are those of 20 ms frames."""
    pcm = _speechlike(48000, 2.5)
    rs = Resampler(48000, 16000)
    stream = rs._stream
    lengths: list[int] = []
    real = stream.resample_chunk

    def spy(x: np.ndarray, last: bool = False) -> np.ndarray:
        lengths.append(len(x))
        return real(x, last)

    stream.resample_chunk = spy
    out = Resampler.to_pcm([rs.push(pcm), rs.flush()])
    assert max(lengths) == 4800 and sum(lengths) == len(pcm)
    assert out == _resample(pcm, 48000, 16000, [960] * 125, set())


@pytest.mark.parametrize("rate_in", [8000, 44100, 48000])
def test_a_tone_comes_out_clean(rate_in: int) -> None:
    """A 1 kHz tone resampled to 16 kHz against the same tone computed at 16 kHz: better than
    60 dB SNR away from the edges (s16 quantisation alone allows about 90 dB)."""
    n = rate_in * 2
    tone = np.rint(16000 * np.sin(2 * np.pi * 1000 * np.arange(n) / rate_in)).astype(np.int16)
    out = np.frombuffer(_resample(tone, rate_in, 16000, [rate_in // 50] * 99, set()), dtype=np.int16)
    ideal = 16000 * np.sin(2 * np.pi * 1000 * np.arange(out.size) / 16000)
    mid = slice(1600, out.size - 1600)
    noise = out[mid] - ideal[mid]
    snr = 10 * math.log10(np.mean(ideal[mid] ** 2) / np.mean(noise**2))
    assert snr > 60, snr


def _frames(pcm: np.ndarray, rate: int, channels: int = 1) -> list[rtc.AudioFrame]:
    step = rate // 50 * channels
    return [
        rtc.AudioFrame(pcm[k : k + step].tobytes(), rate, channels, len(pcm[k : k + step]) // channels)
        for k in range(0, len(pcm), step)
    ]


def _chunker(chunk_samples: int = 1600) -> Chunker:
    return Chunker(16000, chunk_samples, PauseDetector(), lambda at: None)


@pytest.mark.parametrize(("rate_in", "chunk"), [(48000, 1600), (48000, 800), (44100, 1600), (8000, 1600)])
def test_blocks_complete_chunks_no_later_than_frame_by_frame(rate_in: int, chunk: int) -> None:
    """After each frame, as many chunks are complete as when every frame is resampled as it
    comes (the latency of livekit's per-frame resampling), and blocks are only queued when
    they complete one."""
    chunker = _chunker(chunk)
    inp = FrameInput(16000, chunker)
    eager, eager_samples = Resampler(rate_in, 16000), 0
    chunks = 0
    for frame in _frames(_speechlike(rate_in, 3.0), rate_in):
        eager_samples += len(eager.push(np.frombuffer(frame.data, dtype=np.int16)))
        for block in inp.push(frame):
            got = chunker.push(block.pcm)
            assert got, "a block that completes no chunk"
            chunks += len(got)
        assert chunks == eager_samples // chunk
    assert chunks > 0


def test_flush_and_end_give_every_sample_at_the_providers_rate() -> None:
    chunker = _chunker()
    inp = FrameInput(16000, chunker)
    pcm = _speechlike(48000, 1.01)
    data = b""
    for frame in _frames(pcm, 48000):
        for block in inp.push(frame):
            data += block.pcm
    if (block := inp.flush()) is not None:
        data += block.pcm
    assert len(data) // 2 == (len(pcm) * 16000 + 24000) // 48000
    assert inp.flush() is None  # nothing held back twice


def test_same_rate_passes_through_and_stereo_is_averaged() -> None:
    chunker = _chunker()
    inp = FrameInput(16000, chunker)
    left, right = _speechlike(16000, 0.5, 1), _speechlike(16000, 0.5, 2)
    stereo = np.stack([left, right], axis=1).reshape(-1)
    data = b"".join(b.pcm for f in _frames(stereo, 16000, 2) for b in inp.push(f))
    data += (inp.flush() or FrameInputBlockEmpty).pcm
    mean = ((left.astype(np.int32) + right) / 2).astype(np.int16)
    assert data == mean.tobytes()


class FrameInputBlockEmpty:
    pcm = b""


def test_a_frame_reused_by_the_caller_does_not_change_what_was_pushed() -> None:
    """livekit frames wrap the caller's bytearray: audio held for resampling is a copy."""
    pcm = _speechlike(48000, 0.02).tobytes()
    kept = FrameInput(16000, _chunker())
    kept.push(rtc.AudioFrame(bytearray(pcm), 48000, 1, 960))
    buf = bytearray(pcm)
    reused = FrameInput(16000, _chunker())
    reused.push(rtc.AudioFrame(buf, 48000, 1, 960))
    buf[:] = bytes(len(buf))  # the caller fills its buffer with the next audio
    a, b = kept.flush(), reused.flush()
    assert a is not None and b is not None and a.pcm == b.pcm


def test_a_new_rate_mid_stream_is_refused() -> None:
    inp = FrameInput(16000, _chunker())
    inp.push(rtc.AudioFrame(bytes(1920), 48000, 1, 960))
    with pytest.raises(ValueError, match="48000 Hz, then 16000 Hz"):
        inp.push(rtc.AudioFrame(bytes(640), 16000, 1, 320))
