"""The conformance plugin runs the shared suite in a fresh pytest process, as a vendor would."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = ["-m", "pytest", "-p", "speechkit_conformance.plugin", "--pyargs", "speechkit_conformance.suite"]


@functools.cache
def run_suite(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the suite in a subprocess (cached: several tests read one run)."""
    return subprocess.run(
        [sys.executable, *SUITE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


@functools.cache
def run_cli(provider: str) -> subprocess.CompletedProcess[str]:
    """``speechkit conformance PROVIDER -q`` (cached: several tests read one run)."""
    return subprocess.run(
        [sys.executable, "-m", "speechkit", "conformance", provider, "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("provider", ["telnyx", "local", "speechmatics", "assemblyai", "deepgram"])
def test_speechkit_conformance_passes_for_each_built_in_provider(provider: str) -> None:
    result = run_cli(provider)
    passed = re.search(r"(\d+) passed", result.stdout)
    assert result.returncode == 0 and passed and int(passed.group(1)) > 0, result.stdout[-3000:]


def test_skips_are_summarised_one_line_per_reason_with_its_count() -> None:
    out = run_cli("telnyx").stdout
    skipped = int(re.search(r"(\d+) skipped", out).group(1))  # type: ignore[union-attr]
    lines = re.findall(r"^ +(\d+) (.+)$", out.split("skipped, by reason", 1)[1], re.M)
    reasons = [reason for _, reason in lines]
    assert sum(int(n) for n, _ in lines) == skipped and len(set(reasons)) == len(reasons)
    assert "set TELNYX_API_KEY to run against the live service" in reasons
    assert "SKIPPED [" not in out  # no line per skipped test


def test_conformance_without_its_extra_names_it_and_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from speechkit.cli import EXIT_CONFIG, main

    monkeypatch.setitem(sys.modules, "jiwer", None)  # find_spec() now reports it missing
    assert main(["conformance", "telnyx"]) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "jiwer" in err and "pip install 'speechkit-stt[conformance]'" in err


def test_a_missing_capability_is_skipped_with_a_reason_naming_it() -> None:
    result = run_suite("--speechkit-provider", "telnyx", "-q", "-rs", "-p", "no:cacheprovider")
    assert "requires 'flush': telnyx (emulator) does not declare Capabilities.flush" in result.stdout


def test_an_unknown_provider_is_a_usage_error_naming_it() -> None:
    result = run_suite("--speechkit-provider", "nosuchvendor", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 4 and "nosuchvendor" in result.stderr, result.stderr[-2000:]
