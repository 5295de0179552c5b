"""Framing (emulator): every sample pushed reaches the server once, in order, at the provider's rate
and chunk size, whatever the input frame sizes and sample rates."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..harness import Target, frames_of, transcribe
from ..requirements import requires

INPUT_RATES = (8000, 16000, 44100, 48000)
"""Rates callers push: telephony, wideband, CD and WebRTC."""

frame_sizes = st.lists(st.integers(1, 4000), min_size=1, max_size=5).map(lambda sizes: [*sizes, 960])
"""Samples per frame, cycled (the 960 keeps one-sample frames from making examples slow)."""


def _chunk_samples(target: Target) -> tuple[int, float]:
    provider = target.provider()
    return max(1, int(provider.sample_rate * provider.chunk_duration)), provider.chunk_duration


@pytest.mark.asyncio
@requires("emulator", "exact_words")
class TestFraming:
    """What the server receives is exactly what was pushed, re-framed to the provider's chunks."""

    @settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rate=st.sampled_from(INPUT_RATES), sizes=frame_sizes)
    async def test_every_sample_reaches_the_server_once_whatever_the_frame_sizes_and_rate(
        self, speechkit_target: Target, rate: int, sizes: list[int]
    ) -> None:
        audio = speechkit_target.audio
        connects = len(speechkit_target.sessions)
        run = await transcribe(speechkit_target.stt(), audio.frames(rate, sizes=sizes))
        received = speechkit_target.sessions[connects:]
        _, chunk = _chunk_samples(speechkit_target)
        assert len(received) == 1, "one connection, no retry"
        assert abs(received[0].audio_seconds - audio.duration) <= chunk, "samples lost or duplicated"
        assert run.final_words == audio.words, "words lost, duplicated or reordered"

    @pytest.mark.parametrize("frame_samples", [1, 160, 320, 1601, 4800])
    async def test_at_the_provider_rate_the_server_gets_the_pushed_bytes_in_chunks(
        self, speechkit_target: Target, frame_samples: int
    ) -> None:
        provider = speechkit_target.provider()
        rate, (chunk, _) = provider.sample_rate, _chunk_samples(speechkit_target)
        pcm = speechkit_target.audio.pcm(rate)
        await transcribe(speechkit_target.stt(), frames_of(pcm, rate, sizes=[frame_samples]))
        session = speechkit_target.hook_session(provider)
        # a tail shorter than the provider's minimum goes padded with silence
        minimum = round(provider.min_chunk_duration * rate)
        pieces = [pcm[i : i + chunk].tobytes() for i in range(0, len(pcm), chunk)]
        pieces = [p + bytes(2 * max(0, minimum - len(p) // 2)) for p in pieces]
        encoded = [provider.encode_audio(p, session) for p in pieces]
        chunks = [m for m in encoded if isinstance(m, bytes)]
        if len(chunks) != len(encoded):
            pytest.skip(f"{provider.name} does not send audio as binary frames; compared by words only")
        start = [m for m in provider.start_messages(session) if isinstance(m, bytes)]
        binary = speechkit_target.sessions[0].binary
        assert binary[: len(start)] == start, "the start frames differ"
        assert [len(b) for b in binary[len(start) :]] == [len(m) for m in chunks], "chunking differs"
        assert binary[len(start) :] == chunks, "audio bytes differ"
