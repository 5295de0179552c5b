"""Bad config on the command line: any ``--stt`` string, ``--language`` or input format gives a
one-line ``speechkit: ...`` error and exit 2 (or runs), never a traceback (issue 19: bad input)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bad_strings import config_strings
from fakes import FakeProvider
from hypothesis import HealthCheck, example, given, settings

from speechkit import registry
from speechkit.cli import EXIT_CONFIG, EXIT_FAILURE, main

MISSING = "/nonexistent/speechkit-test.wav"  # a string that builds fails on the file, exit 1


@pytest.fixture(autouse=True)
def keys_and_fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("TELNYX_API_KEY", "SPEECHMATICS_API_KEY", "ASSEMBLYAI_API_KEY"):
        monkeypatch.setenv(var, "test-key")
    registry.register(FakeProvider)
    yield
    registry._runtime.clear()


def _one_line_error(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("speechkit: "), err[-2000:]
    return lines[0]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(config_strings)
@example("local?model=~nosuchuser/x")  # a RuntimeError from the provider: a traceback
@example("fake?model=" + "a" * 5000 + "&x")  # the whole string echoed in the error
def test_any_stt_string_exits_2_with_one_line_or_builds(text: str) -> None:
    with pytest.MonkeyPatch.context() as mp:
        errors: list[str] = []
        mp.setattr("sys.stderr", _Capture(errors))
        code = main(["transcribe", MISSING, f"--stt={text}", "-q"])
    line = _one_line_error("".join(errors))
    assert code == EXIT_CONFIG or (code == EXIT_FAILURE and line.endswith("no such file")), line
    assert len(line) < 2000


class _Capture:
    """A stderr that keeps what is written (capsys does not reset between hypothesis examples)."""

    def __init__(self, out: list[str]) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


@pytest.mark.parametrize("language", ["en,de", "en?interim_results=false", "en, fake", "e n", "", "日本"])
def test_a_language_that_is_not_a_tag_exits_2_naming_it(
    language: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["transcribe", MISSING, "--stt", "fake", "--language", language]) == EXIT_CONFIG
    assert "bad language" in _one_line_error(capsys.readouterr().err)


@pytest.mark.parametrize(
    "args",
    [
        ["--input-rate", "0"],
        ["--input-rate", "-16000"],
        ["--input-rate", "1"],
        ["--input-rate", "99999999999"],
        ["--input-rate", "16000", "--input-channels", "0"],
        ["--input-rate", "16000", "--input-channels", "-2"],
        ["--input-rate", "16000", "--input-channels", "1000"],
    ],
)
def test_a_raw_input_format_out_of_range_exits_2_before_any_input_is_read(
    args: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "raw.pcm").write_bytes(bytes(3200))
    assert main(["transcribe", str(tmp_path / "raw.pcm"), "--stt", "fake", *args]) == EXIT_CONFIG
    line = _one_line_error(capsys.readouterr().err)
    assert "--input-" in line and "raw.pcm" not in line


def test_a_provider_that_cannot_be_built_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("speechkit_providers.local")
    assert main(["transcribe", MISSING, "--stt", "local?model=~nosuchuser/x"]) == EXIT_CONFIG
    assert "Could not determine home directory" in _one_line_error(capsys.readouterr().err)
