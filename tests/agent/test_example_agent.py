"""examples/agent.py, the LiveKit agent worker: it loads, builds its STT from ``SPEECHKIT_STT``
(default ``local``), and offers livekit-agents' own command line. No LiveKit server is needed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from livekit.agents import AgentServer

import speechkit
from speechkit.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "examples" / "agent.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("speechkit_example_agent", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_worker_builds_its_stt_from_the_config_string_in_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = load_example()
    monkeypatch.setenv("SPEECHKIT_STT", "telnyx:de?api_key=k, local")
    engine = example.build_stt()
    assert isinstance(engine, speechkit.FallbackSTT)
    assert [m.provider for m in engine.members] == ["telnyx", "local"]
    assert engine.members[0].hooks.options.language == "de"


def test_the_worker_uses_the_local_engine_without_a_config_string(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SPEECHKIT_STT", raising=False)
    engine = load_example().build_stt()
    assert not isinstance(engine, speechkit.FallbackSTT) and engine.provider == "local"


def test_a_bad_config_string_fails_when_the_worker_builds_its_stt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPEECHKIT_STT", "telnyx?nosuch=1")
    with pytest.raises(ConfigError, match="nosuch"):
        load_example().build_stt()


def test_the_worker_is_a_livekit_agent_server_with_livekits_command_line() -> None:
    example = load_example()
    assert isinstance(example.server, AgentServer)
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), "--help"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "dev" in out.stdout and "start" in out.stdout
