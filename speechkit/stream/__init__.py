"""The streaming core, as composed parts (see :mod:`speechkit.stream.core` for the map).

``SpeechStream`` is the livekit-facing adapter; the constants users tune are re-exported.
"""

from .core import SpeechStream
from .pauses import PAUSE_SECONDS, SILENCE_RELATIVE, SILENCE_RMS, PauseDetector
from .replay import MAX_REPLAY_SECONDS, REPLAY_WAIT, ReplayBuffer

__all__ = [
    "MAX_REPLAY_SECONDS",
    "PAUSE_SECONDS",
    "REPLAY_WAIT",
    "SILENCE_RELATIVE",
    "SILENCE_RMS",
    "PauseDetector",
    "ReplayBuffer",
    "SpeechStream",
]
