"""A LiveKit agent worker whose speech-to-text is a speechkit config string.

Run it against a LiveKit server (``livekit-server --dev`` on this machine, or LiveKit Cloud)::

    export LIVEKIT_URL=ws://127.0.0.1:7880 LIVEKIT_API_KEY=devkey LIVEKIT_API_SECRET=secret
    export SPEECHKIT_STT="telnyx:en, local"      # any config string; default: local
    python examples/agent.py dev

``dev`` is livekit-agents' own command line (``start`` for production, ``console`` to talk to it
from this terminal; 1.8.9 calls ``dev`` deprecated in favour of ``lk agent dev`` and runs it).
The worker registers with the server and is sent a job for each room; each job runs an
``AgentSession`` whose STT is built from ``SPEECHKIT_STT``. With ``AGENT_LLM`` and ``AGENT_TTS``
set to LiveKit Inference strings (``openai/gpt-4.1-mini``, ``cartesia/sonic-3``; they need
LiveKit Cloud credentials) it answers; without them it only transcribes, and the room receives
the user's transcripts (interim and final) as livekit's room output publishes them.

To serve more calls, start more workers (on this machine or others) against the same server:
the server dispatches each room to one worker, and nothing in speechkit is shared between them.
"""

from __future__ import annotations

import logging
import os

from livekit.agents import Agent, AgentServer, AgentSession, JobContext, JobProcess, cli

import speechkit

logger = logging.getLogger("speechkit.example")

DEFAULT_STT = "local"
"""The config string used when ``SPEECHKIT_STT`` is not set: the offline engine, no key needed."""


def build_stt() -> speechkit.STT:
    """The STT from ``SPEECHKIT_STT`` (default :data:`DEFAULT_STT`).

    Raises:
        ConfigError: the config string is bad, or a provider's key is missing (at start, not
            when the first call's audio arrives).
    """
    return speechkit.stt(os.environ.get("SPEECHKIT_STT") or DEFAULT_STT)


def prewarm(proc: JobProcess) -> None:
    """Per worker process, before its first job: the VAD and the STT, loaded once."""
    from livekit.plugins import silero  # livekit-plugins-silero (speechkit's [conformance] extra)

    proc.userdata["vad"] = silero.VAD.load()
    engine = build_stt()
    engine.prewarm()  # the local model, or a network provider's HTTP session
    proc.userdata["stt"] = engine


server = AgentServer(setup_fnc=prewarm)


@server.rtc_session()
async def entrypoint(ctx: JobContext) -> None:
    """One room: an ``AgentSession`` with the worker's STT, listening to the room's caller."""
    engine: speechkit.STT = ctx.proc.userdata["stt"]
    llm, tts = os.environ.get("AGENT_LLM"), os.environ.get("AGENT_TTS")
    session: AgentSession[None] = AgentSession(
        stt=engine,
        vad=ctx.proc.userdata["vad"],
        llm=llm or None,  # type: ignore[arg-type]
        tts=tts or None,  # type: ignore[arg-type]
    )

    @session.on("metrics_collected")
    def _metrics(ev: object) -> None:
        logger.debug("metrics", extra={"room": ctx.room.name, "metrics": repr(ev)})

    await session.start(
        agent=Agent(instructions="You are a helpful voice assistant. Answer in one or two sentences."),
        room=ctx.room,
    )
    logger.info("session started", extra={"room": ctx.room.name, "stt": engine.label})


if __name__ == "__main__":
    cli.run_app(server)
