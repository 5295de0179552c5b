"""The client-floor benchmark still runs: the bare aiohttp client's audio is understood by the
Telnyx emulator (transcripts come back) and speechkit's stream beside it gets its words."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_floor.py"


def test_the_floor_and_speechkit_both_run_and_the_ratio_is_printed() -> None:
    run = subprocess.run(
        [sys.executable, str(BENCH), "--streams", "2", "--seconds", "3"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    floor = re.search(r"floor .*?([\d.]+) +-> .*\((\d+) transcript messages\)", run.stdout)
    assert floor is not None, run.stdout
    assert float(floor[1]) > 0 and int(floor[2]) > 0
    assert "(words ok: yes)" in run.stdout, run.stdout
    assert re.search(r"speechkit / floor +[\d.]+x", run.stdout), run.stdout
