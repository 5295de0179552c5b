"""``speechkit emulate --set``: any field of an emulator's config or fault plan, from the command line."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from speechkit_conformance.oracle import synthesize

from speechkit.cli import EXIT_CONFIG, EXIT_OK, main

UTTERANCES = [["alpha", "bravo"], ["charlie", "delta", "echo"]]


def test_an_unknown_field_is_refused_with_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate", "telnyx", "--set", "stal_after=1"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "'stal_after'" in err and "did you mean 'stall_after'" in err and "end_of_stream" in err


def test_a_value_of_the_wrong_type_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate", "telnyx", "--set", "drop_after=soon"]) == EXIT_CONFIG
    assert "'drop_after' must be a number" in capsys.readouterr().err


def test_a_value_outside_a_literal_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate", "telnyx", "--set", "end_of_stream=never"]) == EXIT_CONFIG
    assert "close_after_final" in capsys.readouterr().err


def test_the_server_message_faults_are_set_by_their_field_types() -> None:
    from speechkit_conformance.emulators.telnyx import TelnyxEmulator

    emu = TelnyxEmulator()
    sets = {"huge_after": "1", "unknown_after": "0", "early_final": "true", "bad_times": "negative"}
    emu.configure(
        {**sets, "interim_flood_after": "2.5", "interim_flood": "100", "interim_flood_rate": "none"}
    )
    f = emu.faults
    assert (f.huge_after, f.unknown_after, f.early_final, f.bad_times) == (1.0, 0.0, True, "negative")
    assert (f.interim_flood_after, f.interim_flood, f.interim_flood_rate) == (2.5, 100, None)


def test_a_bad_times_value_outside_its_modes_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulate", "telnyx", "--set", "bad_times=sideways"]) == EXIT_CONFIG
    assert "negative, decreasing" in capsys.readouterr().err


def oracle_wav(path: Path) -> Path:
    """The oracle utterances as a 16 kHz WAV file."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(synthesize(UTTERANCES, 16000).tobytes())
    return path


@contextlib.contextmanager
def emulating(*sets: str) -> Iterator[str]:
    """``speechkit emulate telnyx --set ...`` in a subprocess; yields a config string for it."""
    args = [a for s in sets for a in ("--set", s)]
    emulator = subprocess.Popen(
        [sys.executable, "-m", "speechkit", "emulate", "telnyx", *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert emulator.stdout is not None
        first = emulator.stdout.readline().split()  # one line: URL and key, before serving
        url = next(w for w in first if w.startswith("ws://"))
        key = next(w for w in first if w.startswith("api_key=")).partition("=")[2]
        yield f"telnyx?base_url={url}&api_key={key}"
    finally:
        emulator.terminate()
        emulator.wait(10)


def transcribe(clip: Path, config: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "speechkit", "transcribe", str(clip), *args, "--stt", config],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_fault_set_on_the_command_line_strikes_and_the_transcript_survives(tmp_path: Path) -> None:
    clip = oracle_wav(tmp_path / "oracle.wav")
    with emulating("stall_after=0.5", "end_of_stream=close_after_final") as config:
        done = transcribe(clip, config + "&response_timeout=1")
    assert done.returncode == EXIT_OK, done.stderr
    assert "retrying" in done.stderr, "the stall did not strike"
    assert done.stdout.split() == [w for u in UTTERANCES for w in u]


def test_telnyx_finals_without_times_get_null_in_jsonl_and_estimated_cue_times(tmp_path: Path) -> None:
    clip = oracle_wav(tmp_path / "oracle.wav")
    with emulating("end_of_stream=close_after_final") as config:
        runs = {fmt: transcribe(clip, config, "-f", fmt) for fmt in ("jsonl", "tsv")}
    assert all(r.returncode == EXIT_OK for r in runs.values()), runs["tsv"].stderr
    events = [json.loads(line) for line in runs["jsonl"].stdout.splitlines()]
    finals = [e for e in events if e["type"] == "final_transcript"]
    assert [e["text"].split() for e in finals] == UTTERANCES
    assert all(e["start"] is None and e["end"] is None and e["confidence"] is None for e in finals)
    rows = [line.split("\t") for line in runs["tsv"].stdout.splitlines()[1:]]
    # the oracle speaks at 0.10-0.50 s and 1.00-1.64 s; the estimate works on 100 ms windows
    for (start, end, _), (true_start, true_end) in zip(rows, [(100, 500), (1000, 1640)], strict=True):
        assert abs(int(start) - true_start) <= 150 and abs(int(end) - true_end) <= 150, rows
