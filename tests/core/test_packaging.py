"""The wheel as a user installs it: the base install has no engine and names the extras."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(out)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return next(out.glob("speechkit_stt-*.whl"))


@pytest.fixture(scope="module")
def base_install(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel and its base dependencies only; returns its bin directory."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=True)
    subprocess.run(
        [env / "bin" / "python", "-m", "pip", "install", "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return env / "bin"


def test_the_wheel_carries_py_typed_in_every_package_and_the_license(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    for package in ("speechkit", "speechkit_providers", "speechkit_conformance"):
        assert f"{package}/py.typed" in names
    assert any(n.endswith("licenses/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    assert "License-Expression: Apache-2.0" in metadata


@pytest.mark.slow
def test_the_base_install_has_no_offline_engine(base_install: Path) -> None:
    engines = "('faster_whisper', 'ctranslate2', 'onnxruntime', 'torch')"
    code = f"import importlib.util as u; print([m for m in {engines} if u.find_spec(m)])"
    done = subprocess.run([base_install / "python", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.slow
def test_the_default_config_without_the_local_extra_names_it(base_install: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [base_install / "speechkit", "transcribe", str(ROOT / "samples" / "jfk.flac")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2 and "pip install 'speechkit-stt[local]'" in done.stderr, done.stderr


@pytest.mark.slow
def test_conformance_without_its_extra_names_it(base_install: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [base_install / "speechkit", "conformance", "telnyx"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert done.returncode == 2 and "pip install 'speechkit-stt[conformance]'" in done.stderr, done.stderr
