"""One emulator per built-in provider, each a :class:`~speechkit_conformance.emulator.Emulator`."""

from __future__ import annotations

from .telnyx import TelnyxConfig, TelnyxEmulator

__all__ = ["TelnyxConfig", "TelnyxEmulator"]
