"""The conformance plugin runs the shared suite in a fresh pytest process, as a vendor would."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITE = ["-m", "pytest", "-p", "speechkit_conformance.plugin", "--pyargs", "speechkit_conformance.suite"]


@functools.cache
def run_suite(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the suite in a subprocess (cached: several tests read one run)."""
    return subprocess.run(
        [sys.executable, *SUITE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_suite_passes_for_telnyx_through_the_plugin() -> None:
    result = run_suite("--speechkit-provider", "telnyx", "-q", "-rs", "-p", "no:cacheprovider")
    passed = re.search(r"(\d+) passed", result.stdout)
    assert result.returncode == 0 and passed and int(passed.group(1)) > 0, result.stdout[-3000:]


def test_a_missing_capability_is_skipped_with_a_reason_naming_it() -> None:
    result = run_suite("--speechkit-provider", "telnyx", "-q", "-rs", "-p", "no:cacheprovider")
    assert "requires 'flush': telnyx (emulator) does not declare Capabilities.flush" in result.stdout


def test_an_unknown_provider_is_a_usage_error_naming_it() -> None:
    result = run_suite("--speechkit-provider", "nosuchvendor", "-q", "-p", "no:cacheprovider")
    assert result.returncode == 4 and "nosuchvendor" in result.stderr, result.stderr[-2000:]
