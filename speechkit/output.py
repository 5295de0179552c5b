"""Transcript output of the command line: text, tsv, srt, vtt and jsonl, and cue times for untimed finals.

The formats follow whisper's writers: ``text`` is the plain transcript (one utterance per
line, no times); ``tsv`` is ``start<TAB>end<TAB>text`` in integer milliseconds under a
header line; ``srt`` and ``vtt`` are subtitles whose cue numbering starts at 1 in every
file; ``jsonl`` is one object per speech event with the file it belongs to.

Some providers give finals no times (Telnyx). Their jsonl records carry ``null``
start/end/confidence, and their cues get times from :class:`UntimedClock`.
"""

from __future__ import annotations

import json
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from livekit.agents import stt

    from .audio import SpeechSegments

FORMATS: dict[str, str] = {"text": "txt", "tsv": "tsv", "srt": "srt", "vtt": "vtt", "jsonl": "jsonl"}
"""Output formats and the file extension ``-o DIR`` gives each."""


def clock(seconds: float, sep: str = ".") -> str:
    """``HH:MM:SS.mmm`` (``sep`` ``,`` for srt)."""
    ms = round(max(0.0, seconds) * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def is_timed(alt: stt.SpeechData) -> bool:
    """Whether the provider gave this transcript times (the core writes 0.0 when it gave none)."""
    return bool(alt.words or alt.start_time or alt.end_time)


class UntimedClock:
    """Cue times for finals without times, estimated on the stream clock.

    The estimate is the stream core's own assumption for such finals (it confirms replay
    audio by it): the n-th utterance covers the n-th run of speech between pauses
    (:class:`speechkit.audio.SpeechSegments`, by the stream's own pause rule,
    :class:`speechkit.stream.pauses.PauseDetector`). A final cannot cover audio not yet pushed
    when it arrived, so its end is at most that; when the runs are used up, a final spans
    from the previous one's end to the audio pushed when it arrived.

    Args:
        runs: The speech runs of the input, fed with the audio as it is pushed.
    """

    def __init__(self, runs: SpeechSegments) -> None:
        self._runs = runs
        self._next = 0
        self._last_end = 0.0
        self._open = False  # a final of the current utterance was placed

    def span(self, pushed: float) -> tuple[float, float]:
        """Start and end (seconds) of a final that arrived after ``pushed`` seconds of audio."""
        segments = self._runs.segments
        if self._next < len(segments):
            seg_start, seg_end = segments[self._next]
            start = max(seg_start, self._last_end)
            end = max(start, min(seg_end, max(pushed, start)))
        else:
            start = self._last_end
            end = max(start, pushed)
        self._open = True
        self._last_end = end
        return start, end

    def end_of_utterance(self) -> None:
        """The utterance of the last placed final ended: the next final is on the next run."""
        if self._open:
            self._next += 1
            self._open = False


class Writer:
    """Writes one input's transcript to ``out`` in one format.

    Args:
        fmt: A key of :data:`FORMATS`.
        out: Where it goes (stdout, or the temporary file of ``-o DIR``).
        name: The input's name, for jsonl's ``"file"`` field and the text marker.
        marker: Precede the transcript with ``==> NAME <==`` (text, tsv), as ``head`` does
            for several files; vtt gets a ``NOTE file: NAME`` block instead.
    """

    def __init__(self, fmt: str, out: IO[str], *, name: str, marker: bool = False) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
        self.fmt = fmt
        self.out = out
        self.name = name
        self.cue = 0
        if fmt == "vtt":
            out.write("WEBVTT\n\n" + (f"NOTE file: {name}\n\n" if marker else ""))
        elif fmt in ("text", "tsv") and marker:
            out.write(f"==> {name} <==\n")
        if fmt == "tsv":
            out.write("start\tend\ttext\n")

    def event(self, ev: stt.SpeechEvent, span: tuple[float, float] | None = None) -> None:
        """Write one speech event.

        Args:
            ev: The event.
            span: For a final without times, its estimated ``(start, end)`` in seconds
                (:class:`UntimedClock`); used by the timed formats, never by jsonl.
        """
        from livekit.agents import stt

        alt = ev.alternatives[0] if ev.alternatives else None
        if self.fmt == "jsonl":
            self._jsonl(ev, alt)
            return
        if ev.type != stt.SpeechEventType.FINAL_TRANSCRIPT or alt is None or not alt.text:
            return
        start, end = span if span is not None else (alt.start_time, alt.end_time)
        end = max(start, end)
        self.cue += 1
        if self.fmt == "text":
            self.out.write(f"{alt.text}\n")
        elif self.fmt == "tsv":
            self.out.write(f"{round(start * 1000)}\t{round(end * 1000)}\t{alt.text}\n")
        elif self.fmt == "srt":
            self.out.write(f"{self.cue}\n{clock(start, ',')} --> {clock(end, ',')}\n{alt.text}\n\n")
        else:
            self.out.write(f"{clock(start)} --> {clock(end)}\n{alt.text}\n\n")
        self.out.flush()

    def _jsonl(self, ev: stt.SpeechEvent, alt: stt.SpeechData | None) -> None:
        rec: dict[str, Any] = {"file": self.name, "type": ev.type.value}
        if alt is not None:
            timed = is_timed(alt)
            rec.update(
                text=alt.text,
                start=round(alt.start_time, 3) if timed else None,
                end=round(alt.end_time, 3) if timed else None,
                language=str(alt.language),
                confidence=alt.confidence if timed or alt.confidence else None,
            )
            if alt.words:
                rec["words"] = [{"text": str(w), "start": w.start_time, "end": w.end_time} for w in alt.words]
        if ev.recognition_usage is not None:
            rec["audio_seconds"] = round(ev.recognition_usage.audio_duration, 3)
        self.out.write(json.dumps(rec) + "\n")
        self.out.flush()
