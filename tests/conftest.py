import os
import sys
from pathlib import Path

import pytest

# tests import their fakes as a plain module
sys.path.insert(0, str(Path(__file__).parent))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers per CPU. Most of the suite waits (real-time audio, servers on
    127.0.0.1, CLI subprocesses), so one per CPU leaves the CPUs half idle (measured on 2 CPUs:
    the suite's CPU time is about 1.5x its wall time at 4 workers)."""
    return 2 * (os.cpu_count() or 1)
