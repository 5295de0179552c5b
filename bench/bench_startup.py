"""Start-up: ``import speechkit`` and ``speechkit --help``, next to importing livekit.agents (what a
speechkit import no longer pays for), each a fresh process, median of N runs.

    python bench/bench_startup.py [-n 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS = {
    "import speechkit": [sys.executable, "-c", "import speechkit"],
    "speechkit --help": [sys.executable, "-m", "speechkit", "--help"],
    "import livekit.agents (reference)": [sys.executable, "-c", "import livekit.agents"],
}


def median_seconds(cmd: list[str], runs: int) -> float:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("-n", type=int, default=7)
    args = p.parse_args()
    results = {name: median_seconds(cmd, args.n) for name, cmd in COMMANDS.items()}
    reference = results["import livekit.agents (reference)"]
    for name, seconds in results.items():
        print(f"{name:36} {seconds:7.3f} s   ({seconds / reference:5.2f}x the livekit.agents import)")


if __name__ == "__main__":
    main()
