"""A vendor's provider package outside the tree (``examples/third_party_provider``): installed, found
through its entry point, and green on ``speechkit conformance``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "third_party_provider"


@pytest.fixture(scope="module")
def vendor_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of a process with the example package installed (into its own directory)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(EXAMPLE)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return {**os.environ, "PYTHONPATH": str(target)}


def speechkit(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "speechkit", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_the_vendor_package_is_found_through_its_entry_point(
    vendor_env: dict[str, str], tmp_path: Path
) -> None:
    done = speechkit(vendor_env, "providers", "--json", cwd=tmp_path)
    acme = next(r for r in json.loads(done.stdout) if r["name"] == "acme")
    assert (
        acme["available"] and acme["credential_env"] == "ACME_API_KEY" and acme["example"] == "acme/fast:en"
    )


@pytest.mark.slow
def test_speechkit_conformance_passes_for_the_vendor_package(
    vendor_env: dict[str, str], tmp_path: Path
) -> None:
    done = speechkit(vendor_env, "conformance", "acme", "-q", "-p", "no:cacheprovider", cwd=tmp_path)
    passed = re.search(r"(\d+) passed", done.stdout)
    assert done.returncode == 0 and passed and int(passed.group(1)) >= 60, done.stdout[-3000:]
    assert "failed" not in done.stdout
