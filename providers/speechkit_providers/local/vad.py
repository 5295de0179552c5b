"""Silero VAD for the ``local`` engine: the process-wide ONNX session, its executor, and the
recurrent state one stream carries across calls.

The VAD runs incrementally on whole 512-sample windows; :mod:`.endpointer` turns its
probabilities into utterance boundaries.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from .pcm import F32

VAD_WINDOW: Final = 512
"""Silero VAD window, samples (32 ms at 16 kHz)."""
_VAD_CONTEXT: Final = 64
"""Samples of the previous window that Silero v5/v6 expects in front of each window."""


@functools.cache
def vad_session() -> Any:
    """The process-wide Silero VAD ONNX session shipped with faster-whisper.

    onnxruntime and faster-whisper are imported here, at the first call, so importing this
    module stays cheap.

    Returns:
        An ``onnxruntime.InferenceSession`` on one CPU thread.
    """
    import onnxruntime
    from faster_whisper.utils import get_assets_path

    opts = onnxruntime.SessionOptions()
    # One thread: windows are tiny and the cores belong to the decoder.
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 4
    path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


@functools.cache
def vad_executor() -> concurrent.futures.ThreadPoolExecutor:
    """Executor for VAD batches: separate so VAD never waits behind decodes.

    Returns:
        The process-wide executor (two threads).
    """
    return concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="speechkit-local-vad")


class VadState:
    """Silero VAD recurrent state of one stream."""

    def __init__(self) -> None:
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(_VAD_CONTEXT, dtype=np.float32)

    def run(self, session: Any, audio: F32) -> npt.NDArray[np.float32]:
        """Speech probability of each whole 512-sample window of ``audio`` (blocking).

        Args:
            session: The Silero ONNX session.
            audio: Samples, a multiple of 512 long, continuing the previous call's.

        Returns:
            One probability (0-1) per window.
        """
        windows = audio.reshape(-1, VAD_WINDOW)
        contexts = np.concatenate([self.context[None, :], windows[:-1, -_VAD_CONTEXT:]])
        batch = np.ascontiguousarray(np.concatenate([contexts, windows], axis=1))
        # The model's first axis is time: h/c carry across rows and across calls.
        probs, self.h, self.c = session.run(None, {"input": batch, "h": self.h, "c": self.c})
        self.context = windows[-1, -_VAD_CONTEXT:].copy()
        return np.asarray(probs, dtype=np.float32).reshape(-1)
