"""The command line on short clips: formats, exit codes, errors a user can act on."""

from __future__ import annotations

import json
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fakes import FakeProvider, WSProvider, speech

from speechkit import registry
from speechkit.cli import EXIT_CONFIG, EXIT_INPUT, EXIT_OK, main


@pytest.fixture(autouse=True)
def fakes_registered() -> Iterator[None]:
    registry.register(FakeProvider)
    registry.register(WSProvider)
    yield
    registry._runtime.clear()


def write_wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(samples, channels).astype(np.int16).tobytes())
    return path


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "clip.wav", speech([[1, 2], [3]], rate=44100), 44100, channels=2)


def test_text_format_prints_finals_with_times(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(clip), "--stt", "fake"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["[00:00:00.100 --> 00:00:00.400] w1 w2", "[00:00:00.860 --> 00:00:00.980] w3"]


def test_jsonl_emits_one_event_per_line(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(clip), "--stt", "fake", "--format", "jsonl"]) == EXIT_OK
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start_of_speech" and "recognition_usage" in kinds
    assert [e["text"] for e in events if e["type"] == "final_transcript"] == ["w1 w2", "w3"]
    assert all(e["file"] == str(clip) for e in events)


@pytest.mark.parametrize(("fmt", "first"), [("srt", "1"), ("vtt", "WEBVTT")])
def test_subtitle_formats(clip: Path, capsys: pytest.CaptureFixture[str], fmt: str, first: str) -> None:
    assert main(["transcribe", str(clip), "--stt", "fake", "--format", fmt]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines()[0] == first
    assert ("00:00:00,100 --> 00:00:00,400" if fmt == "srt" else "00:00:00.100 --> 00:00:00.400") in out


def test_realtime_paces_at_one_x(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    short = write_wav(tmp_path / "s.wav", speech([[1]]), 16000)  # 0.68 s
    t0 = time.monotonic()
    assert main(["transcribe", str(short), "--stt", "fake", "--realtime"]) == EXIT_OK
    assert time.monotonic() - t0 >= 0.6


def test_missing_file_exits_3_and_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", "nowhere.wav", "--stt", "fake"]) == EXIT_INPUT
    assert "nowhere.wav: no such file" in capsys.readouterr().err


def test_undecodable_file_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    assert main(["transcribe", str(bad), "--stt", "fake"]) == EXIT_INPUT
    assert "cannot decode" in capsys.readouterr().err


def test_a_bad_file_does_not_stop_the_others(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", "nowhere.wav", str(clip), "--stt", "fake"]) == EXIT_INPUT
    assert "w1 w2" in capsys.readouterr().out


def test_unknown_provider_exits_2_with_a_suggestion(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(clip), "--stt", "fak"]) == EXIT_CONFIG
    assert "did you mean 'fake'" in capsys.readouterr().err


def test_missing_key_exits_2_naming_the_variable(
    clip: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKEWS_API_KEY", raising=False)
    assert main(["transcribe", str(clip), "--stt", "fakews"]) == EXIT_CONFIG
    assert "FAKEWS_API_KEY" in capsys.readouterr().err


def test_providers_lists_capabilities_options_and_credentials(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKEWS_API_KEY", raising=False)
    assert main(["providers", "--json"]) == EXIT_OK
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"local", "fake", "fakews"} <= set(rows)
    assert rows["fakews"]["credentials_configured"] is False
    assert rows["local"]["credential_env"] is None and rows["local"]["options"]["model"] == "tiny.en"
    assert rows["fake"]["capabilities"]["interim_results"] is True
