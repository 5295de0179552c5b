"""The recognizing emulator: an :class:`~speechkit_conformance.emulator.Emulator` with a
:class:`~speechkit_conformance.recognizers.Recognizer` behind every session.

It owns the plumbing every vendor emulator needs, so a vendor's emulator keeps only its
messages and rules:

* choosing the recognizer its config names (``config.recognizer``: ``"oracle"`` or ``"local"``)
  and pumping the recognizer's events into the vendor hook :meth:`RecognizingEmulator.on_event`;
* decoding wire audio (PCM s16le, PCM f32le, μ-law) and mixing channels to mono
  (:meth:`RecognizingEmulator.push_audio`);
* a WAV header arriving in pieces (:class:`WavReader`);
* ending the recognizer's input and acting once its last event went out
  (:meth:`RecognizingEmulator.end_input`), and closing it with the session.

A vendor writes::

    @attrs.define(kw_only=True)
    class AcmeConfig:
        api_key: str = "acme-test-key"
        recognizer: RecognizerKind = "oracle"

    class AcmeEmulator(RecognizingEmulator[AcmeConfig, AcmeState]):
        paths = ("/v1/listen",)
        config_type = AcmeConfig

        async def open_session(self, ctx):
            self.start_recognizer(ctx, 16000)
            return AcmeState()

        async def on_binary(self, ctx, data):
            return self.push_audio(ctx, data, encoding="pcm_s16le")

        def on_event(self, ctx, event):
            if isinstance(event, Transcript):
                ctx.send(json.dumps({"type": "final" if event.is_final else "partial", "text": event.text}))
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import numpy as np

from speechkit.codecs import WavError, WavFormat, mulaw_decode, parse_wav_header
from speechkit.events import Finished

from .emulator import GUIDE, ConfigT, Emulator, SessionContext, StateT
from .recognizers import Recognizer, RecognizerEvent, make_recognizer

ENCODINGS = ("pcm_s16le", "pcm_f32le", "mulaw")
"""Wire encodings :func:`decode_audio` reads (vendors map their own names onto these)."""


def decode_audio(data: bytes, encoding: str, channels: int = 1) -> bytes:
    """Wire audio as PCM s16le mono: the channels averaged, a partial sample or frame dropped.

    Args:
        data: The frame's bytes.
        encoding: One of :data:`ENCODINGS`.
        channels: Interleaved channels in ``data``.

    Raises:
        ValueError: an encoding not in :data:`ENCODINGS`.
    """
    if encoding == "mulaw":
        samples: np.ndarray[Any, Any] = mulaw_decode(data)
    elif encoding == "pcm_s16le":
        samples = np.frombuffer(data[: len(data) & ~1], dtype="<i2")
    elif encoding == "pcm_f32le":
        f32 = np.frombuffer(data[: len(data) // 4 * 4], dtype="<f4")
        samples = (np.clip(f32, -1.0, 1.0) * 32767).astype("<i2")
    else:
        raise ValueError(f"cannot decode {encoding!r}; encodings: {', '.join(ENCODINGS)}")
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(axis=1)
    return samples.astype("<i2").tobytes()


class WavReader:
    """A RIFF WAV header that may arrive in pieces (alone in the first frame, split across
    frames, with the 0x7FFFFFFF sizes of a stream), then the PCM after it.

    Attributes:
        format: The ``fmt `` chunk, once read (None before, or when the file has none).
        done: The header has been read: :meth:`feed` passes data through.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self.format: WavFormat | None = None
        self.done = False

    def feed(self, data: bytes) -> bytes | None:
        """The PCM in ``data`` after the header; None while the header is incomplete.

        Raises:
            speechkit.codecs.WavError: not a RIFF WAV stream.
        """
        if self.done:
            return data
        self._buf += data
        header = parse_wav_header(self._buf)
        if header is None:
            return None
        self.format, self.done = header.format, True
        return bytes(self._buf[header.data_offset :])  # a stream's data size is 0x7FFFFFFF: to the end


class RecognizingEmulator(Emulator[ConfigT, StateT]):
    """An emulator with a recognizer behind each session (see the module docs).

    ``config_type`` must have a ``recognizer`` field (``"oracle"`` or ``"local"``, default
    ``"oracle"``); a subclass must define :meth:`on_event`. The session's recognizer is at
    :attr:`SessionContext.recognizer` once :meth:`start_recognizer` made it; it is closed when
    the session ends.
    """

    abstract: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("abstract", False):
            return
        if "recognizer" not in attrs.fields_dict(cls.config_type):
            raise TypeError(
                f"{cls.__name__}.config_type ({cls.config_type.__name__}) needs a "
                f'`recognizer: RecognizerKind = "oracle"` field ({GUIDE})'
            )
        if cls.on_event is RecognizingEmulator.on_event:
            raise TypeError(
                f"{cls.__name__} must define `on_event` (the recognizer's events as messages; {GUIDE})"
            )

    # -- vendor hooks -------------------------------------------------------------------

    def on_event(self, ctx: SessionContext[StateT], event: RecognizerEvent) -> None:
        """Send the vendor's messages for one recognizer event (a transcript, the end of speech,
        a :class:`~speechkit_conformance.recognizers.Flushed`); called in order, from the
        session's pump. :class:`~speechkit.events.Finished` goes to :meth:`on_finished`."""
        raise NotImplementedError

    def on_finished(self, ctx: SessionContext[StateT]) -> None:
        """The recognizer yielded its last event (after :meth:`end_input`)."""

    # -- plumbing -----------------------------------------------------------------------

    def start_recognizer(
        self,
        ctx: SessionContext[StateT],
        sample_rate: int,
        *,
        language: str = "en",
        final_after: float = 0.5,
        end_of_speech: float | None = None,
    ) -> Recognizer:
        """Make the session's recognizer (the one ``config.recognizer`` names) and start pumping
        its events into :meth:`on_event`; see
        :func:`~speechkit_conformance.recognizers.make_recognizer` for the arguments.

        Raises:
            RuntimeError: the session has a recognizer already.
        """
        if ctx.recognizer is not None:
            raise RuntimeError("the session has a recognizer already")
        kind = self.config.recognizer  # type: ignore[attr-defined]
        rec = make_recognizer(
            kind, sample_rate, language=language, final_after=final_after, end_of_speech=end_of_speech
        )
        ctx.recognizer = rec
        ctx.pump = ctx.spawn(self._pump(ctx, rec))
        return rec

    def push_audio(
        self, ctx: SessionContext[StateT], data: bytes, *, encoding: str, channels: int = 1
    ) -> float:
        """Decode a frame (:func:`decode_audio`) and push it to the session's recognizer.

        Returns:
            The seconds of audio the frame carried (0.0 before :meth:`start_recognizer`, or after
            :meth:`end_input`).
        """
        rec: Recognizer | None = ctx.recognizer
        if rec is None or ctx.input_ended:
            return 0.0
        pcm = decode_audio(data, encoding, channels)
        rec.push(pcm)
        return len(pcm) / 2 / rec.sample_rate

    def end_input(self, ctx: SessionContext[StateT], then: Callable[[], None] | None = None) -> None:
        """End the recognizer's input; once its last event has been handled (:meth:`on_finished`
        included), call ``then`` (e.g. send the vendor's end message and close). Without a
        recognizer, ``then`` runs now. A second call does nothing.
        """
        if ctx.input_ended:
            return
        ctx.input_ended = True
        if ctx.recognizer is None or ctx.pump is None:
            if then is not None:
                then()
            return
        ctx.recognizer.end_input()
        if then is not None:
            ctx.spawn(self._after_pump(ctx.pump, then))

    @staticmethod
    async def _after_pump(pump: asyncio.Task[None], then: Callable[[], None]) -> None:
        with contextlib.suppress(Exception):
            await asyncio.shield(pump)  # the last messages go out first
        then()

    async def _pump(self, ctx: SessionContext[StateT], rec: Recognizer) -> None:
        async for event in rec.events():
            if isinstance(event, Finished):
                self.on_finished(ctx)
                return
            self.on_event(ctx, event)

    async def on_client_close(self, ctx: SessionContext[StateT]) -> None:
        if ctx.recognizer is not None:
            await ctx.recognizer.aclose()


__all__ = ["ENCODINGS", "RecognizingEmulator", "WavError", "WavReader", "decode_audio"]
