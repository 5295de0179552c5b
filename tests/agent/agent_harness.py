"""A livekit-agents ``AgentSession`` run as a user runs it, without a room.

The user's audio is a recording fed at real time through livekit's ``AudioInput``; voice
activity is livekit's own Silero plugin (``livekit-plugins-silero``, its model on disk);
the LLM answers each turn with one scripted line and the TTS speaks it as a short tone
into an audio output that plays it at once. What the session did is recorded from its
own events: ``user_input_transcribed``, ``user_state_changed``, ``conversation_item_added``.
"""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from livekit import rtc
from livekit.agents import Agent, AgentSession, APIConnectOptions, llm, tts, utils
from livekit.agents.stt import STT
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS
from livekit.agents.voice import io

FRAME_S = 0.02
"""Seconds of audio per input frame (what a room's track delivers)."""
ANSWER = "Noted."
"""The scripted LLM's answer to every user turn."""


class RecordingInput(io.AudioInput):
    """A recording as a microphone: 20 ms frames at real time, then silence until closed.

    Args:
        frames: The recording's frames (any rate; cut to 20 ms here).
        trailing: Seconds of silence after the recording before the input ends
            (``None``: silence until the session detaches the input).
    """

    def __init__(self, samples: np.ndarray, rate: int, *, trailing: float | None = None) -> None:
        super().__init__(label="recording")
        self._samples, self._rate, self._trailing = samples, rate, trailing
        self._step = int(rate * FRAME_S)
        self._pos = 0
        self._t0: float | None = None
        self.pushed_seconds = 0.0
        self.done = asyncio.Event()  # the recording's last frame went out

    async def __anext__(self) -> rtc.AudioFrame:
        if self._t0 is None:
            self._t0 = time.monotonic()
        n = len(self._samples)
        if self._pos >= n:
            self.done.set()
            silent = self._pos - n
            if self._trailing is not None and silent >= self._trailing * self._rate:
                raise StopAsyncIteration
            part = np.zeros(self._step, np.int16)
        else:
            part = self._samples[self._pos : self._pos + self._step]
        # real time: a frame is delivered when its last sample would have been spoken
        due = self._t0 + (self._pos + len(part)) / self._rate
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        self._pos += len(part)
        self.pushed_seconds += len(part) / self._rate
        return rtc.AudioFrame(part.astype("<i2").tobytes(), self._rate, 1, len(part))


class InstantOutput(io.AudioOutput):
    """An audio output that plays each segment the moment it is flushed (nothing is heard)."""

    def __init__(self, sample_rate: int) -> None:
        super().__init__(
            label="instant", capabilities=io.AudioOutputCapabilities(pause=False), sample_rate=sample_rate
        )
        self._seconds = 0.0

    async def capture_frame(self, frame: rtc.AudioFrame) -> None:
        await super().capture_frame(frame)
        self._seconds += frame.duration

    def flush(self) -> None:
        super().flush()
        self.on_playback_finished(playback_position=self._seconds, interrupted=False)
        self._seconds = 0.0

    def clear_buffer(self) -> None:
        self.on_playback_finished(playback_position=self._seconds, interrupted=True)
        self._seconds = 0.0


class ScriptedLLM(llm.LLM):
    """Answers every turn with :data:`ANSWER`; records the user messages it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.turns: list[str] = []

    def chat(
        self,
        *,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        **_: Any,
    ) -> llm.LLMStream:
        users = [m for m in chat_ctx.messages() if m.role == "user"]
        self.turns.append(users[-1].text_content or "" if users else "")
        return _ScriptedStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _ScriptedStream(llm.LLMStream):
    async def _run(self) -> None:
        self._event_ch.send_nowait(
            llm.ChatChunk(id=utils.shortuuid(), delta=llm.ChoiceDelta(role="assistant", content=ANSWER))
        )


class ToneTTS(tts.TTS):
    """Speaks any text as 0.2 s of a quiet tone (16 kHz mono)."""

    def __init__(self) -> None:
        super().__init__(capabilities=tts.TTSCapabilities(streaming=False), sample_rate=16000, num_channels=1)

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> tts.ChunkedStream:
        return _ToneStream(tts=self, input_text=text, conn_options=conn_options)


class _ToneStream(tts.ChunkedStream):
    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=utils.shortuuid(), sample_rate=16000, num_channels=1, mime_type="audio/pcm"
        )
        t = np.arange(int(0.2 * 16000)) / 16000
        output_emitter.push((np.sin(2 * np.pi * 440 * t) * 1000).astype("<i2").tobytes())
        output_emitter.flush()


@attrs.define
class SessionRun:
    """What one session did.

    Attributes:
        finals: ``user_input_transcribed`` final transcripts, in order.
        events: ``(kind, detail)`` in order: ``("final", text)``, ``("user", state)`` for each
            ``user_state_changed`` (``speaking``/``listening``/``away``) and ``("turn", text)``
            for each user turn committed to the chat history.
        llm_turns: The user message the LLM was given at each turn.
        usage_seconds: ``AgentSession.usage``'s STT audio seconds per ``(provider, model)``.
        pushed_seconds: Audio the input delivered, seconds.
        close_seconds: How long ``session.aclose()`` took, seconds.
        warnings: Warnings and unclosed-resource reports seen while it ran and closed.
    """

    finals: list[str] = attrs.field(factory=list)
    events: list[tuple[str, str]] = attrs.field(factory=list)
    llm_turns: list[str] = attrs.field(factory=list)
    usage_seconds: dict[tuple[str, str], float] = attrs.field(factory=dict)
    pushed_seconds: float = 0.0
    close_seconds: float = 0.0
    warnings: list[str] = attrs.field(factory=list)

    @property
    def text(self) -> str:
        return " ".join(self.finals)


def silero_vad() -> Any:
    """livekit's Silero VAD plugin (skips the test when it is not installed)."""
    import pytest

    silero = pytest.importorskip(
        "livekit.plugins.silero", reason="livekit-plugins-silero is not installed (the [conformance] extra)"
    )
    return silero.VAD.load()


async def run_session(
    stt: STT,
    samples: np.ndarray,
    rate: int,
    *,
    vad: Any,
    after: float = 2.0,
    close_stt: bool = True,
    close_timeout: float = 3600.0,
) -> SessionRun:
    """Run an ``AgentSession`` over ``samples`` at real time and close it.

    Args:
        stt: The STT under test.
        samples: The user's recording (mono int16).
        rate: Its sample rate, Hz.
        vad: The VAD (:func:`silero_vad`).
        after: Seconds of silence fed after the recording before the session is closed.
        close_stt: Close ``stt`` after the session (a worker closes its plugins).
        close_timeout: livekit's ``session_close_transcript_timeout``: how long ``aclose()``
            waits for the answer to its flush (livekit's default 2 s hides an STT that never
            answers; an hour makes it hang, which a test's guard turns into a failure).
    """
    run = SessionRun()
    model = ScriptedLLM()
    session: AgentSession[None] = AgentSession(
        stt=stt,
        vad=vad,
        llm=model,
        tts=ToneTTS(),
        turn_handling={
            "turn_detection": "vad",
            "interruption": {"enabled": False},
            # no LLM call on a guess of the turn: the LLM's turns are then the committed user turns
            "preemptive_generation": {"enabled": False},
        },
        user_away_timeout=None,
        session_close_transcript_timeout=close_timeout,
    )
    loop = asyncio.get_running_loop()
    errors: list[str] = []
    default_handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, ctx: errors.append(str(ctx.get("message"))))

    @session.on("user_input_transcribed")
    def _transcribed(ev: Any) -> None:
        if ev.is_final:
            run.finals.append(ev.transcript)
            run.events.append(("final", ev.transcript))

    @session.on("user_state_changed")
    def _user_state(ev: Any) -> None:
        run.events.append(("user", ev.new_state))

    @session.on("conversation_item_added")
    def _item(ev: Any) -> None:
        if getattr(ev.item, "role", None) == "user":
            run.events.append(("turn", ev.item.text_content or ""))

    source = RecordingInput(samples, rate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await session.start(agent=Agent(instructions="Listen."), record=False)
        session.input.audio = source
        session.output.audio = InstantOutput(16000)
        await source.done.wait()
        await asyncio.sleep(after)
        t0 = time.monotonic()
        await session.aclose()
        run.close_seconds = time.monotonic() - t0
        if close_stt:
            await stt.aclose()
        for usage in session.usage.model_usage:
            if getattr(usage, "type", "") == "stt_usage":
                run.usage_seconds[(usage.provider, usage.model)] = usage.audio_duration
        await asyncio.sleep(0.1)  # let cancelled tasks finish before looking for leaks
        gc.collect()
        await asyncio.sleep(0)
    loop.set_exception_handler(default_handler)
    run.warnings = [str(w.message) for w in caught if not issubclass(w.category, DeprecationWarning)] + errors
    run.llm_turns = model.turns
    run.pushed_seconds = source.pushed_seconds
    return run


__all__: Sequence[str] = ["ANSWER", "RecordingInput", "SessionRun", "run_session", "silero_vad"]
