"""The command line on short clips: formats, exit codes, errors a user can act on."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes import FakeProvider, UntimedProvider, WSProvider, speech, write_wav

import speechkit
from speechkit import registry
from speechkit.cli import EXIT_CONFIG, EXIT_FAILURE, EXIT_OK, main


@pytest.fixture(autouse=True)
def fakes_registered() -> Iterator[None]:
    registry.register(FakeProvider)
    registry.register(UntimedProvider)
    registry.register(WSProvider)
    yield
    registry._runtime.clear()


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "clip.wav", speech([[1, 2], [3]], rate=44100), 44100, channels=2)


def test_text_is_the_plain_transcript_one_utterance_per_line(
    clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(clip), "--stt", "fake"]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == ["w1 w2", "w3"]


def test_tsv_is_start_end_in_ms_and_text_under_whispers_header(
    clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(clip), "--stt", "fake", "--format", "tsv"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["start\tend\ttext", "100\t400\tw1 w2", "860\t980\tw3"]


def test_jsonl_emits_one_event_per_line(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(clip), "--stt", "fake", "--format", "jsonl"]) == EXIT_OK
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start_of_speech" and "recognition_usage" in kinds
    finals = [e for e in events if e["type"] == "final_transcript"]
    assert [(e["text"], e["start"], e["end"]) for e in finals] == [("w1 w2", 0.1, 0.4), ("w3", 0.86, 0.98)]
    assert all(e["file"] == str(clip) for e in events)


@pytest.mark.parametrize(("fmt", "first"), [("srt", "1"), ("vtt", "WEBVTT")])
def test_subtitle_formats(clip: Path, capsys: pytest.CaptureFixture[str], fmt: str, first: str) -> None:
    assert main(["transcribe", str(clip), "--stt", "fake", "--format", fmt]) == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines()[0] == first
    assert ("00:00:00,100 --> 00:00:00,400" if fmt == "srt" else "00:00:00.100 --> 00:00:00.400") in out


def test_untimed_finals_have_null_times_and_confidence_in_jsonl(
    clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(clip), "--stt", "untimed", "--format", "jsonl"]) == EXIT_OK
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    finals = [e for e in events if e["type"] == "final_transcript"]
    assert [e["text"] for e in finals] == ["w1 w2", "w3"]
    assert all(e["start"] is None and e["end"] is None and e["confidence"] is None for e in finals)


def test_untimed_finals_get_cue_times_estimated_on_the_stream_clock(
    clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", str(clip), "--stt", "untimed", "--format", "tsv"]) == EXIT_OK
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()[1:]]
    spans = [(int(start), int(end)) for start, end, _ in rows]
    # the utterances are spoken at 100-400 ms and 860-980 ms; the estimate works on 100 ms windows
    assert len(spans) == 2
    for (start, end), (true_start, true_end) in zip(spans, [(100, 400), (860, 980)], strict=True):
        assert abs(start - true_start) <= 100 and abs(end - true_end) <= 100, spans


def test_output_dir_writes_one_file_per_input_and_no_temporary_files(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_wav(tmp_path / "other.wav", speech([[4]]), 16000)
    out = tmp_path / "out"
    assert (
        main(["transcribe", str(clip), str(other), "--stt", "fake", "-f", "srt", "-o", str(out)]) == EXIT_OK
    )
    assert capsys.readouterr().out == ""
    assert sorted(p.name for p in out.iterdir()) == ["clip.srt", "other.srt"]
    assert (out / "other.srt").read_text() == "1\n00:00:00,100 --> 00:00:00,220\nw4\n\n"


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_output_files_get_the_mode_the_umask_gives_new_files(clip: Path, tmp_path: Path, umask: int) -> None:
    # issue 22 (f): files came out 0600 whatever the umask (the temporary file's mode)
    out = tmp_path / "out"
    old = os.umask(umask)
    try:
        assert main(["transcribe", str(clip), "--stt", "fake", "-o", str(out)]) == EXIT_OK
    finally:
        os.umask(old)
    (written,) = out.iterdir()
    assert stat.S_IMODE(written.stat().st_mode) == 0o666 & ~umask


def test_several_files_to_stdout_restart_cue_numbers_and_carry_file_markers(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = write_wav(tmp_path / "other.wav", speech([[4]]), 16000)
    assert main(["transcribe", str(clip), str(other), "--stt", "fake", "-f", "srt"]) == EXIT_OK
    cues = [b.splitlines()[0] for b in capsys.readouterr().out.strip().split("\n\n")]
    assert cues == ["1", "2", "1"]
    assert main(["transcribe", str(clip), str(other), "--stt", "fake"]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        f"==> {clip} <==",
        "w1 w2",
        "w3",
        f"==> {other} <==",
        "w4",
    ]


def test_language_overrides_the_config_strings(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["transcribe", str(clip), "--stt", "fake:en", "--language", "de", "-f", "jsonl"]
    assert main(args) == EXIT_OK
    finals = [json.loads(x) for x in capsys.readouterr().out.splitlines() if "final_transcript" in x]
    assert {e["language"] for e in finals} == {"de"}


def test_a_bad_language_is_a_usage_error(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", str(clip), "--stt", "fake", "--language", "e n"]) == EXIT_CONFIG
    assert "BCP-47" in capsys.readouterr().err


def test_verbosity_flags_are_accepted_after_the_subcommand(clip: Path) -> None:
    assert main(["transcribe", str(clip), "--stt", "fake", "-q", "--no-progress"]) == EXIT_OK
    assert main(["-v", "transcribe", str(clip), "--stt", "fake", "-v"]) == EXIT_OK


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"speechkit {speechkit.__version__}"


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["transcribe", "--help"])
    out = capsys.readouterr().out
    assert all(f"\n  {code} " in out for code in ("0", "1", "2", "130"))


def test_progress_bar_shows_audio_recognised_on_a_terminal(
    clip: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["transcribe", str(clip), "--stt", "fake"]) == EXIT_OK
    captured = capsys.readouterr()
    # the last final ends at 0.98 s of the clip's 1.4 s: recognised, not pushed
    assert "1.0/1.4 s recognised" in captured.err and "1.4/1.4" not in captured.err
    assert "recognised" not in captured.out
    assert main(["transcribe", str(clip), "--stt", "fake", "--no-progress"]) == EXIT_OK
    assert "recognised" not in capsys.readouterr().err


def test_no_progress_bar_when_stdout_is_not_a_terminal(
    clip: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["transcribe", str(clip), "--stt", "fake"]) == EXIT_OK
    assert "recognised" not in capsys.readouterr().err


def test_realtime_paces_at_one_x(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import time

    short = write_wav(tmp_path / "s.wav", speech([[1]]), 16000)  # 0.68 s
    t0 = time.monotonic()
    assert main(["transcribe", str(short), "--stt", "fake", "--realtime"]) == EXIT_OK
    assert time.monotonic() - t0 >= 0.6


def test_missing_file_exits_1_and_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", "nowhere.wav", "--stt", "fake"]) == EXIT_FAILURE
    assert "nowhere.wav: no such file" in capsys.readouterr().err


def test_undecodable_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio at all")
    assert main(["transcribe", str(bad), "--stt", "fake"]) == EXIT_FAILURE
    assert f"{bad}: cannot decode" in capsys.readouterr().err


def test_a_bad_file_does_not_stop_the_others(clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["transcribe", "nowhere.wav", str(clip), "--stt", "fake"]) == EXIT_FAILURE
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


def test_providers_lists_example_capabilities_options_credentials_and_network(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAKEWS_API_KEY", raising=False)
    assert main(["providers", "--json"]) == EXIT_OK
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert {"local", "telnyx", "fake", "fakews"} <= set(rows)
    local, telnyx = rows["local"], rows["telnyx"]
    assert local["example"] == "local/tiny.en:en" and telnyx["example"] == "telnyx:en"
    assert local["network"] is False and "needs_network" not in local["capabilities"]
    assert local["capabilities"]["word_timestamps"] is True and local["capabilities"]["languages"] == ["en"]
    assert local["options"]["endpointing"] == {
        "type": "float",
        "default": 0.5,
        "doc": "Seconds of silence that end an utterance (voice-activity endpointing).",
    }
    assert telnyx["options"]["interim_results"]["type"] == "bool | None"
    assert "api_key" not in telnyx["options"] and "base_url" not in local["options"]
    assert telnyx["credential_env"] == "TELNYX_API_KEY" and local["credential_env"] is None
    assert rows["fakews"]["credentials_configured"] is False
    assert local["available"] is True and local["install"] is None


def test_providers_text_shows_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "  config:       telnyx:en" in out and "TELNYX_API_KEY" in out
    assert "    endpointing: float = 0.5  Seconds of silence that end an utterance" in out


def test_providers_prints_no_sphinx_markup(capsys: pytest.CaptureFixture[str]) -> None:
    # issue 22 (g): the docstrings' cross-references reached the terminal as written
    assert main(["providers"]) == EXIT_OK
    out = capsys.readouterr().out
    assert not re.search(r":[a-z]+:`|``", out), re.findall(r".*(?::[a-z]+:`|``).*", out)[:3]
    assert "fails with `InsecureTransportError`" in out  # ~speechkit.errors.InsecureTransportError
    assert "one of `MODELS`" in out  # :data:`MODELS`


@pytest.fixture
def without_faster_whisper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # find_spec() now reports it missing
    monkeypatch.delenv("SPEECHKIT_STT", raising=False)


@pytest.mark.usefixtures("without_faster_whisper")
def test_local_without_its_extra_fails_at_parse_time_naming_the_extra(
    clip: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(speechkit.ProviderUnavailableError, match=r"pip install 'speechkit-stt\[local\]'"):
        speechkit.stt("local")
    assert main(["transcribe", str(clip)]) == EXIT_CONFIG
    assert "speechkit-stt[local]" in capsys.readouterr().err


@pytest.mark.usefixtures("without_faster_whisper")
def test_providers_names_the_extra_of_an_uninstalled_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "--json"]) == EXIT_OK
    local = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "local")
    assert local["available"] is False and local["install"] == "pip install 'speechkit-stt[local]'"
    assert main(["providers"]) == EXIT_OK
    assert "not installed — pip install 'speechkit-stt[local]'" in capsys.readouterr().out
