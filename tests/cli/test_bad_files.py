"""Bad audio files and pipes on the command line: each gives a clear error (exit 1, the file
named) or a logged warning, never a hang, a traceback, unbounded memory or a silent loss
(issue 19: bad input)."""

from __future__ import annotations

import asyncio
import logging
import os
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeProvider, NullProvider, speech, write_wav

from speechkit import blocking, registry
from speechkit.cli import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, main

TESTS = Path(__file__).resolve().parents[1]
RUNNER = (
    f"import sys; sys.path.insert(0, {str(TESTS)!r}); from fakes import FakeProvider, NullProvider; "
    "from speechkit import registry; registry.register(FakeProvider); registry.register(NullProvider); "
    "from speechkit.cli import main; sys.exit(main(sys.argv[1:]))"
)
UTTERANCES = [[1, 2], [3]]
WORDS = ["w1 w2", "w3"]


@pytest.fixture(autouse=True)
def fakes_registered() -> Iterator[None]:
    registry.register(FakeProvider)
    registry.register(NullProvider)
    yield
    registry._runtime.clear()


def wav_header(rate: int, channels: int, bits: int, data_bytes: int, fmt: int = 1) -> bytes:
    """A RIFF/WAVE header by hand (``wave`` writes neither float nor 1 Hz nor a false size)."""
    align = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, fmt, channels, rate, rate * align, align, bits)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def transcribe(path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    code = main(["transcribe", str(path), "--stt", "fake", *args])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


# -- files that hold no audio ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"", "is empty (0 bytes)"),
        (b"hello, this is not audio\n" * 4, "cannot decode: Invalid data found when processing input"),
        (wav_header(16000, 1, 16, 0), "holds no audio samples"),
        (wav_header(16000, 0, 16, 3200) + bytes(3200), "0 channels is outside 1-64"),
    ],
    ids=["empty", "text-named-wav", "header-only", "zero-channels"],
)
def test_a_file_without_audio_exits_1_naming_it_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, error: str
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(content)
    code, out, err = transcribe(bad, capsys)
    assert (code, out) == (EXIT_FAILURE, [])
    assert err.splitlines() == [
        f"speechkit: {bad}: {error}" + ("; give a WAV, FLAC, MP3 or OGG file" if "cannot" in error else "")
    ]


# -- truncated files --------------------------------------------------------------------------


def test_a_truncated_wav_is_transcribed_to_its_end_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    audio = speech(UTTERANCES).astype(np.int16).tobytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(wav_header(16000, 1, 16, len(audio) * 3) + audio)  # the header says 3x as long
    code, out, _ = transcribe(cut, capsys)
    assert (code, out) == (EXIT_OK, WORDS)
    assert "ends at 1.44 s, but its header declares 4.32 s: the file looks truncated" in caplog.text


def test_a_truncated_flac_gives_the_words_before_the_cut_then_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    whole = write_wav(tmp_path / "whole.wav", speech([[1, 2], [3, 4], [5, 6], [7, 8]] * 4), 16000)
    flac = tmp_path / "whole.flac"
    subprocess.run(["sox", str(whole), str(flac)], check=True)
    data = flac.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 2] + b"\xff" * 64)  # a frame torn midway
    code, out, err = transcribe(cut, capsys)
    assert code == EXIT_FAILURE
    assert out[:4] == ["w1 w2", "w3 w4", "w5 w6", "w7 w8"]  # what decoded was transcribed
    assert err.splitlines()[-1].startswith(f"speechkit: {cut}: decoding failed at ")


# -- rates and channels -----------------------------------------------------------------------


def test_a_1_hz_wav_exits_1_naming_the_rate_and_the_range(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    slow = tmp_path / "slow.wav"
    slow.write_bytes(wav_header(1, 1, 16, 20) + np.array([0, 9000] * 5, np.int16).tobytes())
    code, out, err = transcribe(slow, capsys)
    assert (code, out) == (EXIT_FAILURE, [])  # it was upsampled 16,000 times into "w9" words
    assert err.strip() == f"speechkit: {slow}: a sample rate of 1 Hz is outside 1000-768000 Hz"


@pytest.mark.parametrize(("rate", "channels"), [(384000, 1), (16000, 8), (44100, 8)])
def test_high_rates_and_eight_channels_are_transcribed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rate: int, channels: int
) -> None:
    clip = write_wav(tmp_path / "clip.wav", speech(UTTERANCES, rate=rate), rate, channels)
    assert transcribe(clip, capsys)[:2] == (EXIT_OK, WORDS)


# -- float samples: NaN and Inf -------------------------------------------------------------------


def test_nan_in_a_float_wav_is_silence_and_inf_full_scale_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """FFmpeg turns NaN into -32768: a run of NaN was a full-scale word ("w33") of garbage."""
    samples = speech(UTTERANCES).astype(np.float32) / 32768
    samples[800:1600] = np.nan  # in the lead-in silence
    samples[9000:9400] = np.nan  # in the pause between the utterances
    samples[3000] = np.inf  # single samples within words: clipped, as any peak over 1.0
    samples[3001] = -np.inf
    clip = tmp_path / "float.wav"
    clip.write_bytes(wav_header(16000, 1, 32, 4 * len(samples), fmt=3) + samples.tobytes())
    assert transcribe(clip, capsys)[:2] == (EXIT_OK, WORDS)
    assert "1202 samples were NaN or infinite: NaN is decoded as silence, ±Inf as full scale" in caplog.text


def test_finite_float_samples_decode_as_ffmpeg_converts_them(tmp_path: Path) -> None:
    from speechkit.decode import decode_file

    samples = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -3.0, 1e30, 0.25 / 32768, 1.5 / 32768], np.float32)
    clip = tmp_path / "f.wav"
    clip.write_bytes(wav_header(16000, 1, 32, 4 * len(samples), fmt=3) + samples.tobytes())
    pcm = np.frombuffer(b"".join(bytes(f.data) for f in decode_file(clip).frames), np.int16)
    assert pcm.tolist() == [0, 16384, -16384, 32767, -32768, 32767, -32768, 32767, 0, 2]


# -- a 3-hour file ---------------------------------------------------------------------------------


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _peak_rss_after_reading(proc: subprocess.Popen[bytes], read: int, timeout: float = 120.0) -> int:
    """``proc``'s peak RSS (KiB) once it has read ``read`` bytes (``/proc/PID/io`` rchar)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        io = dict(line.split(": ") for line in Path(f"/proc/{proc.pid}/io").read_text().splitlines())
        if int(io["rchar"]) >= read:
            return _peak_rss_kib(proc.pid)
        time.sleep(0.1)
    raise AssertionError(f"it did not read {read >> 20} MiB within {timeout:.0f} s (exit {proc.poll()})")


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="reads peak RSS and bytes read from /proc")
def test_a_3_hour_file_is_decoded_as_it_is_sent_in_bounded_memory(tmp_path: Path) -> None:
    """3 h of 16 kHz mono is 346 MB of PCM: decoding it whole first held 955 MiB at peak
    (the full run: README). Streaming, the peak stays where it is after the first seconds."""
    long = tmp_path / "3h.wav"
    size = 16000 * 2 * 3 * 3600
    with long.open("wb") as f:
        f.write(wav_header(16000, 1, 16, size))
        f.truncate(44 + size)  # sparse: 3 h of silence that takes no disk
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "transcribe", str(long), "--stt", "null", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # sampled by how much of the file was read, not by wall time: on a loaded machine 4 s
        # may not reach the end of the imports (the modules read count too, some 25 MiB)
        early = _peak_rss_after_reading(proc, 48 << 20)
        late = _peak_rss_after_reading(proc, 112 << 20)  # 64 MiB more: 35 min of audio
        assert proc.poll() is None, "it ended: the test needs a longer file"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
    assert late - early < 20 * 1024, f"peak RSS grew {early // 1024} -> {late // 1024} MiB over 64 MiB of PCM"
    assert late < 400 * 1024
    assert code == EXIT_INTERRUPTED


# -- pipes that stall --------------------------------------------------------------------------------


def test_ctrl_c_on_a_stalled_pipe_exits_130_at_once_keeping_what_was_written() -> None:
    """The writer stays open and sends nothing more: the command waits, as ``cat`` does, and
    Ctrl-C ends it at once (it used to hang: the reader thread kept the loop's executor busy)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "transcribe", "-", "--stt", "fake", "--input-rate", "16000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write(speech([[1, 2]]).astype(np.int16).tobytes())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready and proc.stdout.readline().decode().strip() == "w1 w2"
        time.sleep(0.5)  # stalled, the pipe still open
        proc.send_signal(signal.SIGINT)
        t0 = time.monotonic()
        code = proc.wait(10)
        assert code == EXIT_INTERRUPTED and time.monotonic() - t0 < 5
        assert b"Fatal Python error" not in (proc.stderr.read() if proc.stderr else b"")
    finally:
        proc.kill()
        proc.wait()


def _blocked_opening_a_fifo(pid: int) -> bool:
    return any(
        (task / "wchan").read_text() == "wait_for_partner" for task in Path(f"/proc/{pid}/task").iterdir()
    )


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the threads' wait channel in /proc")
def test_ctrl_c_on_a_fifo_nobody_writes_exits_130_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "live.wav"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "transcribe", str(fifo), "--stt", "fake"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not _blocked_opening_a_fifo(proc.pid):  # started, and waiting for a writer
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(10) == EXIT_INTERRUPTED
    finally:
        proc.kill()
        proc.wait()


async def test_an_input_that_stalls_is_logged_once_while_it_is_awaited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    r, w = os.pipe()

    def frames() -> Iterator[bytes]:
        while data := os.read(r, 100):
            yield data

    got: list[bytes] = []
    with caplog.at_level(logging.WARNING, logger="speechkit"):
        reader = blocking.in_thread(frames(), 1, name="<stdin>", warn_after=0.2)
        os.write(w, b"x")
        got.append(await anext(reader))
        pending = asyncio.ensure_future(anext(reader))
        await asyncio.sleep(0.6)  # three warning periods: one warning
        os.write(w, b"y")
        got.append(await pending)
        os.close(w)
        assert [x async for x in reader] == []
    os.close(r)
    assert got == [b"x", b"y"]
    warnings = [r.getMessage() for r in caplog.records if "no input for" in r.getMessage()]
    assert warnings == ["<stdin>: no input for 0.2 s; still waiting for it (end the input, or press Ctrl-C)"]
