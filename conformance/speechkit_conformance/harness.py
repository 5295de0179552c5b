"""The conformance suite's harness: test audio, targets, runs and checks.

Suite tests (:mod:`speechkit_conformance.suite`) and vendors' own tests import these;
the pytest hooks and fixtures that parametrise them live in :mod:`.plugin`.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
import importlib
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt
import pytest
from livekit import rtc
from livekit.agents import APIConnectOptions, stt
from livekit.agents.types import NOT_GIVEN, NotGivenOr

import speechkit
from speechkit import Provider, ProviderOptions, Session
from speechkit.audio import push_frames
from speechkit.text import normalise  # the word rule, for word comparisons and WER

from .emulator import Emulator, FaultPlan, SessionRecord
from .oracle import PAUSE_S, VOCABULARY, synthesize
from .requirements import Requirements, TargetKind

E = stt.SpeechEventType

FAST = APIConnectOptions(max_retry=3, retry_interval=0.05, timeout=5.0)
"""Connection options of every suite stream: quick retries, so failures fail fast."""

SAMPLE = next(
    (
        p
        for p in (
            Path(__file__).resolve().parent / "data" / "jfk.flac",  # in a wheel
            Path(speechkit.__file__).resolve().parent.parent / "samples" / "jfk.flac",  # a checkout
        )
        if p.exists()
    ),
    Path(speechkit.__file__).resolve().parent.parent / "samples" / "jfk.flac",
)
"""The real-speech recording: the wheel's copy, else a source checkout's ``samples/``."""
REFERENCE = (
    "And so, my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)
"""What :data:`SAMPLE` says."""
SHORT_SPEECH = (4.7, 7.82, "what your country can do for you")
"""A short clip of :data:`SAMPLE`: start s, end s, what it says."""
SPEECH_END = 10.6
"""Seconds into :data:`SAMPLE` just after its last word (for drain tests: no trailing pause)."""
MAX_WER = 0.15
"""Word error rate allowed on real speech."""
ORACLE_UTTERANCES = (("alpha", "bravo"), ("charlie", "delta", "echo"))
"""The emulator targets' default audio: two utterances of oracle words."""
_I16 = npt.NDArray[np.int16]


# -- text -------------------------------------------------------------------------------------


def word_error_rate(reference: str, hypothesis: str) -> float:
    """jiwer's WER after :func:`normalise`; 1.0 for an empty hypothesis."""
    import jiwer

    ref, hyp = normalise(reference), normalise(hypothesis)
    return 1.0 if not hyp else float(jiwer.wer(ref, hyp))


def check_grammar(events: Sequence[stt.SpeechEvent], *, require_final: bool = False) -> None:
    """Assert the event grammar: per utterance ``START (INTERIM* FINAL)* INTERIM* END``.

    ``RECOGNITION_USAGE`` may appear anywhere, and so may an empty FINAL (no text): the answer
    to a flush that finalised no words. Trailing interims before END are legal only when the
    provider retracted them (see :mod:`speechkit.grammar`).

    Args:
        events: The stream's events, in order.
        require_final: Every utterance must hold at least one FINAL with words (true for oracle
            audio, which has no noise that could open an empty utterance).

    Raises:
        AssertionError: naming the first violation and its position.
    """
    types = [e.type for e in events]
    in_speech, finals = False, 0
    for i, (t, ev) in enumerate(zip(types, events, strict=True)):
        if t == E.RECOGNITION_USAGE:
            continue
        if t == E.FINAL_TRANSCRIPT and not (ev.alternatives and ev.alternatives[0].text):
            continue  # a flush's answer (speechkit.stream.flushes), inside an utterance or not
        if t == E.START_OF_SPEECH:
            assert not in_speech, f"event {i}: START_OF_SPEECH inside an utterance: {types}"
            in_speech, finals = True, 0
        elif t in (E.INTERIM_TRANSCRIPT, E.FINAL_TRANSCRIPT):
            assert in_speech, f"event {i}: {t.name} outside an utterance: {types}"
            finals += t == E.FINAL_TRANSCRIPT
        elif t == E.END_OF_SPEECH:
            assert in_speech, f"event {i}: END_OF_SPEECH without START_OF_SPEECH: {types}"
            assert finals or not require_final, f"event {i}: an utterance ended without a FINAL: {types}"
            in_speech = False
    assert not in_speech, f"the stream ended inside an utterance: {types}"


# -- audio ------------------------------------------------------------------------------------


def frames_of(
    pcm: _I16, rate: int, *, sizes: Sequence[int] | None = None, channels: int = 1
) -> list[rtc.AudioFrame]:
    """Cut mono PCM into frames.

    Args:
        pcm: Mono int16 samples.
        rate: Their rate, Hz.
        sizes: Samples per frame, cycled; default 20 ms frames.
        channels: Copies of the mono signal per frame (2: stereo with equal channels).

    Returns:
        Frames that hold every sample once, in order.
    """
    cycle = list(sizes) if sizes else [rate // 50]
    out: list[rtc.AudioFrame] = []
    pos = i = 0
    while pos < len(pcm):
        part = pcm[pos : pos + cycle[i % len(cycle)]]
        data = np.repeat(part, channels) if channels > 1 else part
        out.append(rtc.AudioFrame(data.astype("<i2").tobytes(), rate, channels, len(part)))
        pos, i = pos + len(part), i + 1
    return out


class ConformanceAudio(abc.ABC):
    """A target's test audio and how its transcript is judged.

    Attributes:
        reference: What the audio says.
        exact: True for oracle words (compared one for one), False for real speech (WER).
    """

    reference: str
    exact: bool

    @property
    def words(self) -> list[str]:
        """The reference, normalised, as words."""
        return normalise(self.reference).split()

    @property
    def sample_rate(self) -> int:
        """The audio's native rate, Hz."""
        return 16000

    @abc.abstractmethod
    def pcm(self, rate: int | None = None) -> _I16:
        """Mono int16 samples at ``rate`` (default: native)."""

    def frames(
        self, rate: int | None = None, *, sizes: Sequence[int] | None = None, channels: int = 1
    ) -> list[rtc.AudioFrame]:
        """The audio as frames (see :func:`frames_of`)."""
        rate = rate or self.sample_rate
        return frames_of(self.pcm(rate), rate, sizes=sizes, channels=channels)

    @property
    def duration(self) -> float:
        """Seconds."""
        return len(self.pcm()) / self.sample_rate

    @abc.abstractmethod
    def short(self) -> ConformanceAudio:
        """A short piece (one utterance), for tests that run many streams."""

    @abc.abstractmethod
    def without_tail(self) -> ConformanceAudio:
        """The audio cut right after its last word: only end-of-input draining can finalise it."""

    @abc.abstractmethod
    def distinct(self, index: int) -> ConformanceAudio:
        """Audio for the ``index``-th of several concurrent streams (different words if possible)."""

    def secret_words(self) -> set[str]:
        """Transcript words distinctive enough that finding one in a log means a leak."""
        return {w for w in self.words if len(w) >= 5}

    def assert_transcribed(self, run: Run) -> None:
        """Assert the run's finals say this audio: word for word, or within :data:`MAX_WER`."""
        if self.exact:
            assert run.final_words == self.words, f"words in {self.words} != words out {run.final_words}"
        else:
            wer = word_error_rate(self.reference, run.text)
            assert wer <= MAX_WER, f"WER {wer:.2f} > {MAX_WER}: {run.text!r} for {self.reference!r}"


@attrs.frozen
class OracleAudio(ConformanceAudio):
    """Oracle tone words (emulator targets): any rate, exact words.

    Attributes:
        utterances: Words per utterance.
        tail: Keep the pause after the last utterance.
    """

    utterances: tuple[tuple[str, ...], ...] = ORACLE_UTTERANCES
    tail: bool = True
    exact = True

    @property
    def reference(self) -> str:  # type: ignore[override]
        return " ".join(w for u in self.utterances for w in u)

    def pcm(self, rate: int | None = None) -> _I16:
        rate = rate or self.sample_rate
        pcm = synthesize(self.utterances, rate)
        return pcm if self.tail else pcm[: -round(PAUSE_S * rate)]

    def short(self) -> OracleAudio:
        return attrs.evolve(self, utterances=(("foxtrot", "golf"),))

    def without_tail(self) -> OracleAudio:
        return attrs.evolve(self, tail=False)

    def distinct(self, index: int) -> OracleAudio:
        words = tuple(VOCABULARY[(3 * index + k) % len(VOCABULARY)] for k in range(3))
        return attrs.evolve(self, utterances=(words,))


@functools.cache
def _sample_pcm() -> _I16:
    from speechkit.audio import decode_file

    audio = decode_file(SAMPLE)
    assert audio.sample_rate == 16000 and audio.num_channels == 1, "samples/jfk.flac is 16 kHz mono"
    return np.frombuffer(b"".join(bytes(f.data) for f in audio.frames), dtype=np.int16)


@attrs.frozen
class SpeechAudio(ConformanceAudio):
    """A clip of :data:`SAMPLE` (live and in-process targets), judged by WER.

    Attributes:
        start: Clip start, seconds into the sample.
        end: Clip end, seconds.
        said: What the clip says.
    """

    start: float = 0.0
    end: float = 11.0
    said: str = REFERENCE
    exact = False

    @property
    def reference(self) -> str:  # type: ignore[override]
        return self.said

    def pcm(self, rate: int | None = None) -> _I16:
        pcm = _sample_pcm()[round(self.start * 16000) : round(self.end * 16000)]
        if rate is None or rate == 16000:
            return pcm
        resampler = rtc.AudioResampler(16000, rate)
        frames = [*resampler.push(rtc.AudioFrame(pcm.tobytes(), 16000, 1, len(pcm))), *resampler.flush()]
        return np.frombuffer(b"".join(bytes(f.data) for f in frames), dtype=np.int16)

    def short(self) -> SpeechAudio:
        return SpeechAudio(start=SHORT_SPEECH[0], end=SHORT_SPEECH[1], said=SHORT_SPEECH[2])

    def without_tail(self) -> SpeechAudio:
        return attrs.evolve(self, end=min(self.end, SPEECH_END))

    def distinct(self, index: int) -> SpeechAudio:
        return self.short()  # one recording: concurrent streams share it


# -- running streams --------------------------------------------------------------------------


@attrs.frozen
class Run:
    """What one stream produced.

    Attributes:
        events: Every event, in order.
        elapsed: Seconds from opening the stream to the end of its events.
    """

    events: list[stt.SpeechEvent]
    elapsed: float

    def of(self, *kinds: stt.SpeechEventType) -> list[stt.SpeechEvent]:
        """The events of the given types."""
        return [e for e in self.events if e.type in kinds]

    @property
    def finals(self) -> list[stt.SpeechData]:
        """The first alternative of every FINAL_TRANSCRIPT."""
        return [e.alternatives[0] for e in self.of(E.FINAL_TRANSCRIPT) if e.alternatives]

    @property
    def text(self) -> str:
        """Every final's text, joined with spaces."""
        return " ".join(f.text for f in self.finals if f.text)

    @property
    def final_words(self) -> list[str]:
        """The finals' words, normalised."""
        return normalise(self.text).split()

    @property
    def word_spans(self) -> list[tuple[float, float, stt.SpeechData]]:
        """``(start, end, final)`` of every word of every final, in order."""
        spans = []
        for final in self.finals:
            for word in final.words or []:
                start, end = word.start_time, word.end_time
                assert isinstance(start, float) and isinstance(end, float), f"untimed word {word!r}"
                spans.append((start, end, final))
        return spans

    @property
    def types(self) -> list[stt.SpeechEventType]:
        """Every event's type."""
        return [e.type for e in self.events]

    @property
    def usage_seconds(self) -> float:
        """Audio seconds reported by every RECOGNITION_USAGE."""
        return sum(
            e.recognition_usage.audio_duration for e in self.of(E.RECOGNITION_USAGE) if e.recognition_usage
        )


push = push_frames
"""Push frames, paced or not, then (by default) end the input; see :func:`speechkit.audio.push_frames`."""


async def transcribe(
    engine: speechkit.STT,
    frames: Sequence[rtc.AudioFrame],
    *,
    speed: float | None = None,
    language: NotGivenOr[str] = NOT_GIVEN,
    conn_options: APIConnectOptions = FAST,
    limit: float = 30.0,
) -> Run:
    """Stream ``frames`` through a new stream of ``engine`` and collect every event.

    Raises:
        APIError: as the stream does.
        AssertionError: the stream did not end within ``limit`` seconds (a hang).
    """
    stream = engine.stream(language=language, conn_options=conn_options)
    t0 = time.monotonic()
    pusher = asyncio.create_task(push(stream, frames, speed=speed))
    events: list[stt.SpeechEvent] = []
    try:
        async with asyncio.timeout(limit) as deadline:
            try:
                async for ev in stream:
                    events.append(ev)
                await pusher
            except TimeoutError:
                if deadline.expired():
                    raise AssertionError(f"the stream did not end within {limit} s (a hang)") from None
                raise
    finally:
        pusher.cancel()
        with contextlib.suppress(BaseException):
            await pusher
        await stream.aclose()
    return Run(events, time.monotonic() - t0)


def carries_language(record: SessionRecord, language: str) -> bool:
    """Whether a session's query (a value, or an item of a JSON-list value) or one of its text
    messages names ``language`` (its BCP-47 tag or primary subtag, any case)."""
    accepted = {language.lower(), language.split("-")[0].lower()}
    quoted = re.compile(rf'"({"|".join(map(re.escape, accepted))})"', re.IGNORECASE)
    in_query = any(v.lower() in accepted or quoted.search(v) for v in record.query.values())
    return in_query or any(quoted.search(t) for t in record.texts)


async def wait_for(condition: Callable[[], bool], within: float = 2.0) -> bool:
    """Poll ``condition`` every 10 ms until it holds or ``within`` seconds pass; its last value."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def leaked_tasks(before: set[asyncio.Task[Any]], grace: float = 1.0) -> set[asyncio.Task[Any]]:
    """Tasks started since ``before`` that are still running after ``grace`` seconds."""
    me = asyncio.current_task()

    def extra() -> set[asyncio.Task[Any]]:
        return {t for t in asyncio.all_tasks() if t not in before and t is not me and not t.done()}

    await wait_for(lambda: not extra(), grace)
    return extra()


# -- targets ----------------------------------------------------------------------------------


@attrs.frozen
class TargetSpec:
    """A provider and a target kind: one parametrisation of the suite.

    Attributes:
        provider: Registry name.
        kind: ``emulator``, ``live`` or ``inprocess``.
    """

    provider: str
    kind: TargetKind

    @property
    def id(self) -> str:
        """The test-id part, e.g. ``telnyx-emulator``."""
        return f"{self.provider}-{self.kind}"


def load_object(spec: str) -> Any:
    """Import ``"module:attr"``.

    Raises:
        pytest.UsageError: malformed, or the module or attribute does not exist.
    """
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise pytest.UsageError(f"cannot load {spec!r} (expected 'module:Class'): {e}") from e


class Target:
    """One provider on one target, ready for a test; made by the :func:`speechkit_target` fixture.

    Attributes:
        spec: Provider and target kind.
        provider_class: The provider's class.
        requirements: What the provider meets on this target.
        audio: The target's test audio (oracle words or real speech).
        emulator: The running emulator (emulator targets), else None.
        conn_options: Connection options for streams (:data:`FAST`).
    """

    def __init__(
        self,
        spec: TargetSpec,
        provider_class: type[Provider[Any]],
        requirements: Requirements,
        audio: ConformanceAudio,
        emulator: Emulator | None = None,
    ) -> None:
        self.spec = spec
        self.provider_class = provider_class
        self.requirements = requirements
        self.audio = audio
        self.emulator = emulator
        self.conn_options = FAST
        self._stts: list[speechkit.STT] = []

    @property
    def kind(self) -> TargetKind:
        """``emulator``, ``live`` or ``inprocess``."""
        return self.spec.kind

    @property
    def emu(self) -> Emulator:
        """The emulator (tests that use it require ``emulator``)."""
        assert self.emulator is not None, f"{self.spec.id} has no emulator"
        return self.emulator

    @property
    def sessions(self) -> list[SessionRecord]:
        """The emulator's session records, one per connect."""
        return self.emu.sessions

    def faults(self, plan: FaultPlan) -> None:
        """Make the emulator misbehave as ``plan`` says, from the next connect on."""
        self.emu.faults = plan

    def options(self, **overrides: Any) -> ProviderOptions:
        """Provider options for this target (emulator URL and key), with ``overrides``."""
        values: dict[str, Any] = {}
        if self.emulator is not None:
            values = {"base_url": self.emulator.url, "api_key": self.emulator.api_key}
        values.update(overrides)
        return self.provider_class.options_class(**values)

    def provider(self, provider_class: type[Provider[Any]] | None = None, **overrides: Any) -> Provider[Any]:
        """A provider instance for this target (``provider_class``: e.g. a test subclass)."""
        return (provider_class or self.provider_class)(self.options(**overrides))

    def stt(self, provider_class: type[Provider[Any]] | None = None, **overrides: Any) -> speechkit.STT:
        """A ``speechkit.STT`` for this target, closed when the test ends."""
        engine = speechkit.STT(self.provider(provider_class, **overrides))
        self._stts.append(engine)
        return engine

    def hook_session(self, provider: Provider[Any], language: str = "en") -> Session:
        """A :class:`speechkit.Session` for calling a provider's framing hooks directly."""
        return Session(language=language, sample_rate=provider.sample_rate, attempt=1, http=None, timeout=5.0)

    async def aclose(self) -> None:
        """Close every STT this target made (and their streams)."""
        for engine in self._stts:
            await engine.aclose()
