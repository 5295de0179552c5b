"""The provider benchmark's harness still runs: one Telnyx stream of ours, through the emulator
process, the worker process and the send log, checked word for word (no timing is asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_providers.py"
ROW_KEYS = {
    "provider",
    "streams",
    "ours_cpu_per_audio_s",
    "theirs_cpu_per_audio_s",
    "ours_p99_ms",
    "theirs_p99_ms",
    "words_ok",
}


def test_one_telnyx_stream_of_ours_gets_its_words_and_writes_a_row_of_the_issues_schema(
    tmp_path: Path,
) -> None:
    out, prof = tmp_path / "rows.json", tmp_path / "prof" / "new"  # the profile directory is made
    args = ["--providers", "telnyx", "--impls", "ours", "--streams", "1", "--seconds", "2"]
    run = subprocess.run(
        [sys.executable, str(BENCH), *args, "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SPEECHKIT_BENCH_PROFILE": str(prof)},
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert [p.name for p in prof.iterdir()] == ["ours-telnyx-1.prof"]
    (row,) = json.loads(out.read_text())
    assert set(row) == ROW_KEYS
    assert row["provider"] == "telnyx" and row["streams"] == 1 and row["words_ok"] is True
    assert row["ours_cpu_per_audio_s"] > 0 and row["ours_p99_ms"] >= 0  # latency came from the send log
    assert row["theirs_cpu_per_audio_s"] is None and row["theirs_p99_ms"] is None  # not run


def test_an_unknown_implementation_or_provider_is_refused_not_run_as_livekits_plugin() -> None:
    for args in (["--impls", "speechkit"], ["--providers", "deepgramm"]):
        run = subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and "unknown" in run.stderr and "ours,theirs" in run.stderr, run.stderr
