"""The command line as a process: standard input, exit codes, Ctrl-C, ``--help`` speed."""

from __future__ import annotations

import io
import select
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
from fakes import speech

from speechkit.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK

TESTS = Path(__file__).resolve().parents[1]
# the fakes are registered at run time, as a notebook would; the rest is the real command
RUNNER = (
    f"import sys; sys.path.insert(0, {str(TESTS)!r}); from fakes import FakeProvider; "
    "from speechkit import registry; registry.register(FakeProvider); "
    "from speechkit.cli import main; sys.exit(main(sys.argv[1:]))"
)


def speechkit(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", RUNNER, *args], input=stdin, capture_output=True, timeout=60, check=False
    )


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.astype(np.int16).tobytes())
    return buf.getvalue()


def test_dash_reads_a_container_from_stdin() -> None:
    done = speechkit("transcribe", "-", "--stt", "fake", stdin=wav_bytes(speech([[1, 2], [3]]), 16000))
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout.decode().splitlines() == ["w1 w2", "w3"]


def test_dash_reads_raw_pcm_with_input_rate_and_channels() -> None:
    stereo = np.repeat(speech([[5, 6]], rate=22050), 2).astype(np.int16).tobytes()
    done = speechkit(
        "transcribe", "-", "--stt", "fake", "--input-rate", "22050", "--input-channels", "2", stdin=stereo
    )
    assert done.returncode == EXIT_OK, done.stderr
    assert done.stdout.decode().splitlines() == ["w5 w6"]


def test_a_live_pipe_is_transcribed_as_it_arrives() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", RUNNER, "transcribe", "-", "--stt", "fake", "--input-rate", "16000"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        first = np.concatenate([speech([[1, 2]]), np.zeros(8000, np.int16)])
        proc.stdin.write(first.astype(np.int16).tobytes())
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        assert ready, "no transcript while the pipe is still open"
        assert proc.stdout.readline().decode().strip() == "w1 w2"
        proc.stdin.write(speech([[3]]).astype(np.int16).tobytes())
        proc.stdin.close()
        assert proc.wait(30) == EXIT_OK
        assert proc.stdout.read().decode().split() == ["w3"]
    finally:
        proc.kill()
        proc.wait()


def test_an_undecodable_input_is_named_the_others_run_and_the_exit_is_1(tmp_path: Path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    good = tmp_path / "good.wav"
    good.write_bytes(wav_bytes(speech([[7]]), 16000))
    done = speechkit("transcribe", str(bad), str(good), "--stt", "fake")
    assert done.returncode == EXIT_FAILURE
    assert f"{bad}: cannot decode" in done.stderr.decode()
    assert "w7" in done.stdout.decode()


def test_a_config_mistake_exits_2_before_any_input_is_read(tmp_path: Path) -> None:
    done = speechkit("transcribe", str(tmp_path / "missing.wav"), "--stt", "fake?colour=red")
    assert done.returncode == EXIT_CONFIG and "no option 'colour'" in done.stderr.decode()
    assert "missing.wav" not in done.stderr.decode()


def test_an_unknown_argument_exits_2() -> None:
    assert speechkit("transcribe", "x.wav", "--bogus").returncode == EXIT_CONFIG


def test_ctrl_c_exits_130_and_leaves_no_partial_output_file(tmp_path: Path) -> None:
    clip = tmp_path / "long.wav"
    clip.write_bytes(wav_bytes(speech([[1, 2]] * 20), 16000))  # 16 s, paced at 1x
    out = tmp_path / "out"
    cmd = [
        sys.executable,
        "-c",
        RUNNER,
        "transcribe",
        str(clip),
        "--stt",
        "fake",
        "--realtime",
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (out.exists() and any(out.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.05)  # the temporary file exists once transcription started
    time.sleep(1.5)  # some finals written to it
    proc.send_signal(signal.SIGINT)
    assert proc.wait(30) == EXIT_INTERRUPTED, proc.stderr.read() if proc.stderr else ""
    assert list(out.iterdir()) == []


def test_help_answers_without_importing_the_heavy_modules() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from speechkit.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "import speechkit\n"
        "print(sorted(m for m in ('livekit.agents', 'aiohttp', 'numpy', 'av') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_undecodable_stdin_is_named_and_exits_1() -> None:
    done = speechkit("transcribe", "-", "--stt", "fake", stdin=b"not audio at all" * 100)
    assert done.returncode == EXIT_FAILURE and "<stdin>: cannot decode" in done.stderr.decode()
    empty = speechkit("transcribe", "-", "--stt", "fake", "--input-rate", "16000", stdin=b"")
    assert empty.returncode == EXIT_FAILURE and "<stdin>: holds no audio" in empty.stderr.decode()
