"""README's code runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(section: str) -> list[str]:
    """The ```python blocks of one ``## section`` of README.md."""
    text = (ROOT / "README.md").read_text()
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


@pytest.mark.slow
def test_the_in_python_example_runs_as_written() -> None:
    [code] = python_blocks("In Python")
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = " ".join(done.stdout.lower().split())
    assert "ask not what your country can do for you" in re.sub(r"[^a-z ]", "", text), done.stdout
