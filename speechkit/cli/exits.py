"""The command line's exit codes, its usage error and its verbosity, shared by every command."""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG, EXIT_INTERRUPTED = 0, 1, 2, 130

EXIT_CODES = """exit codes:
  0    success
  1    runtime failure: a recognition error (network, vendor), or an input that cannot be
       read or decoded (reported by name; the other inputs still run)
  2    bad usage or config: unknown option, provider or value, missing key or extra
  130  interrupted (Ctrl-C); -o DIR never leaves a partial file
"""


class UsageError(Exception):
    """A command-line mistake found after argument parsing (exit 2)."""


def verbosity(args: argparse.Namespace) -> int:
    """``-v`` count less ``-q`` count."""
    return int(getattr(args, "verbose", 0)) - int(getattr(args, "quiet", 0))
