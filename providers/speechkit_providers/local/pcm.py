"""The audio format of the ``local`` engine: 16 kHz mono, pushed as s16le bytes, decoded as float32.

Shared by the streaming recognizer (:mod:`.recognizer`) and file mode (:mod:`.batch`).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

SAMPLE_RATE: Final = 16000
"""Sample rate, Hz."""

F32 = npt.NDArray[np.float32]
"""Float32 mono samples."""


def whole_samples(carry: bytes, pcm: bytes) -> tuple[bytes, bytes]:
    """Split ``carry + pcm`` (s16le) into whole samples and the odd byte left for the next push."""
    data = carry + bytes(pcm)
    usable = len(data) & ~1
    return data[:usable], data[usable:]
