"""Resampler quality and cost (not a test): python-soxr next to livekit's resampler, before the
stream core resamples each stream's input with soxr.

    python bench/resampler_quality.py [--quick]

Rate pairs 48k->16k, 44.1k->16k, 8k->16k, 48k->24k, 16k->8k; mono s16 inputs: ~20 s of espeak-ng
speech (``sox``-converted in a tempdir) and a log sweep 20 Hz -> input Nyquist at -6 dBFS. Candidates:
``lk HIGH/20ms`` (``rtc.AudioResampler(quality=HIGH)`` pushed 20 ms ``rtc.AudioFrame``s, then
``flush()``, as livekit-agents' RecognizeStream does), ``soxr Q/20ms`` and ``soxr Q/100ms``
(``soxr.ResampleStream(dtype='int16', quality=Q)``, Q = HQ or VHQ, fed 20 ms frames or 100 ms chunks,
then ``resample_chunk(empty, last=True)``), ``soxr Q 1shot`` (``soxr.resample``; VHQ is the ideal).
Columns: n_out, dn (vs round(n_in * out / in), half up as soxr rounds); held (ms of output held back:
most / median over the blocks pushed / left for the final flush); lag (samples behind the ideal, by
cross-correlation); SNR (dB) vs the ideal and vs lk HIGH, aligned, full band and below 0.9x the lower
Nyquist (pb); sweep only: alias (output RMS, dBFS re 32768, while the input is above the output
Nyquist, 50 ms guards; upsampling: output spectrum above 1.1x the input Nyquist) and gain (sine
amplitude out / in, dB, at 0.9x the lower Nyquist). int16 output is TPDF-dithered (libsoxr's default,
livekit's too): SNR and alias bottom out at the dither floor (about -96 dBFS). Then CPU per audio
second (``time.process_time``, best of 3 passes over 60 s of speech) and mid-stream flushes.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
import timeit
import wave
from pathlib import Path

import numpy as np
import soxr
from livekit import rtc

PAIRS = ((48000, 16000), (44100, 16000), (8000, 16000), (48000, 24000), (16000, 8000))
PASSAGE = (
    "When the sunlight strikes raindrops in the air, they act as a prism and form a rainbow. "
    "The rainbow is a division of white light into many beautiful colors. These take the shape "
    "of a long round arch, with its path high above, and its two ends apparently beyond the horizon. "
    "When a man looks for something beyond his reach, his friends say he is looking for "
    "the pot of gold at the end of the rainbow."
)
EMPTY = np.zeros(0, np.int16)
HIGH = rtc.AudioResamplerQuality.HIGH
F0 = 20.0


def exact(n: int, ri: int, ro: int) -> int:
    return (2 * n * ro + ri) // (2 * ri)


def speech(rate: int, tmp: Path) -> np.ndarray:
    raw, out = tmp / "espeak.wav", tmp / f"speech{rate}.wav"
    if not raw.exists():
        subprocess.run(["espeak-ng", "-w", str(raw), PASSAGE], check=True)
    subprocess.run(["sox", "-G", str(raw), "-r", str(rate), "-c", "1", "-b", "16", str(out)], check=True)
    with wave.open(str(out)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).copy()


def phase(t: np.ndarray, ri: int, secs: float) -> np.ndarray:
    k = np.log(ri / 2 / F0) / secs
    return 2 * np.pi * F0 * np.expm1(k * t) / k


def sweep(ri: int, secs: float) -> np.ndarray:
    x = 0.5 * np.sin(phase(np.arange(int(ri * secs)) / ri, ri, secs))  # -6 dBFS peak
    fade = int(ri * 0.01)
    x[-fade:] *= 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, fade))
    return np.round(x * 32767).astype(np.int16)


def sweep_time(f: float, ri: int, secs: float) -> float:
    return secs * np.log(f / F0) / np.log(ri / 2 / F0)


def blocks(x: np.ndarray, n: int) -> list[np.ndarray]:
    return [x[i : i + n] for i in range(0, len(x), n)]


def cat(frames: list[rtc.AudioFrame]) -> np.ndarray:
    return np.concatenate([EMPTY, *(np.frombuffer(f.data, np.int16) for f in frames)])


def stream(x: np.ndarray, ri: int, ro: int, ms: int, step, finish) -> tuple[np.ndarray, list[int], int]:
    """Feeds ``ms`` blocks to step, then finish(): (output, held back after each block, tail)."""
    out, n_in, n_out, held = [], 0, 0, []
    for b in blocks(x, ri * ms // 1000):
        out.append(step(b))
        n_in, n_out = n_in + len(b), n_out + len(out[-1])
        held.append(exact(n_in, ri, ro) - n_out)
    tail = finish()
    return np.concatenate([*out, tail]), held, len(tail)


def run_lk(x: np.ndarray, ri: int, ro: int, r: rtc.AudioResampler | None = None):
    r = r or rtc.AudioResampler(ri, ro, quality=HIGH)

    def push(b: np.ndarray) -> np.ndarray:
        return cat(r.push(rtc.AudioFrame(b.tobytes(), ri, 1, len(b))))

    return stream(x, ri, ro, 20, push, lambda: cat(r.flush()))


def run_sx(x: np.ndarray, ri: int, ro: int, q: str, ms: int, s: soxr.ResampleStream | None = None):
    s = s or soxr.ResampleStream(ri, ro, 1, dtype="int16", quality=q)
    return stream(x, ri, ro, ms, s.resample_chunk, lambda: s.resample_chunk(EMPTY, last=True))


def lag_of(x: np.ndarray, ref: np.ndarray, maxlag: int = 4000) -> int:
    """Lag L with x[n + L] ~ ref[n], by FFT cross-correlation over the first 2^18 samples."""
    x, ref = x[: 1 << 18].astype(np.float64), ref[: 1 << 18].astype(np.float64)
    nfft = 1 << (len(x) + len(ref)).bit_length()
    c = np.fft.irfft(np.fft.rfft(x, nfft) * np.conj(np.fft.rfft(ref, nfft)), nfft)
    lags = np.r_[0 : maxlag + 1, -maxlag:0]
    return int(lags[np.argmax(c[lags % nfft])])


def shift(x: np.ndarray, lag: int) -> np.ndarray:
    x = x.astype(np.float64)
    return x[lag:] if lag >= 0 else np.r_[np.zeros(-lag), x]


def snr(x: np.ndarray, ref: np.ndarray, lag: int, rate: int, band: float | None = None) -> float:
    a = shift(x, lag)
    n = min(len(a), len(ref))
    sig, err = ref[:n].astype(np.float64), a[:n] - ref[:n]
    if band:  # energy below band only
        nfft = 1 << n.bit_length()
        keep = np.fft.rfftfreq(nfft, 1 / rate) < band
        sig, err = (np.abs(np.fft.rfft(v, nfft)[keep]) for v in (sig, err))
    e = np.sum(err**2)
    return float("inf") if e == 0 else 10 * np.log10(np.sum(sig**2) / e)


def dbfs(rms: float) -> float:
    return 20 * np.log10(max(rms, 1e-9) / 32768)


def amplitude(y: np.ndarray, rate: int, t0: float, t1: float, ri: int, secs: float) -> float:
    n = np.arange(int(t0 * rate), int(t1 * rate))
    ph = phase(n / rate, ri, secs)
    coef = np.linalg.lstsq(np.column_stack([np.sin(ph), np.cos(ph)]), y[n].astype(np.float64), rcond=None)[0]
    return float(np.hypot(*coef))


def sweep_figures(y: np.ndarray, x: np.ndarray, lag: int, ri: int, ro: int, secs: float) -> str:
    y = shift(y, lag)
    if ro < ri:  # aliasing: output while the input is above the output Nyquist
        t0, t1 = sweep_time(ro / 2, ri, secs) + 0.05, secs - 0.05
        alias = dbfs(np.sqrt(np.mean(y[int(t0 * ro) : int(t1 * ro)] ** 2)))
    else:  # images: output spectrum above 1.1x the input Nyquist
        spec = np.abs(np.fft.rfft(y)[np.fft.rfftfreq(len(y), 1 / ro) > 0.55 * ri])
        alias = dbfs(np.sqrt(2 * np.sum(spec**2)) / len(y))
    fb = 0.9 * min(ri, ro) / 2
    t0, t1 = sweep_time(0.98 * fb, ri, secs), sweep_time(1.02 * fb, ri, secs)
    gain = amplitude(y, ro, t0, t1, ri, secs) / amplitude(x, ri, t0, t1, ri, secs)
    return f"{alias:7.1f} {20 * np.log10(gain):6.3f}"


def quality(name: str, x: np.ndarray, ri: int, ro: int, secs: float) -> None:
    ideal, lk = soxr.resample(x, ri, ro, quality="VHQ"), run_lk(x, ri, ro)
    rows = {"lk HIGH/20ms": lk}
    for q in ("HQ", "VHQ"):
        rows[f"soxr {q}/20ms"], rows[f"soxr {q}/100ms"] = run_sx(x, ri, ro, q, 20), run_sx(x, ri, ro, q, 100)
    rows["soxr HQ 1shot"] = (soxr.resample(x, ri, ro, quality="HQ"), [0], 0)
    rows["soxr VHQ 1shot=ideal"] = (ideal, [0], 0)
    for cand, (y, held, tail) in rows.items():
        lag, lag_lk = lag_of(y, ideal), lag_of(y, lk[0])
        pairs = ((ideal, lag), (lk[0], lag_lk))
        snrs = " ".join(f"{snr(y, r, g, ro, b):5.1f}" for r, g in pairs for b in (None, 0.45 * min(ri, ro)))
        ms = "/".join(f"{v * 1000 / ro:5.1f}" for v in (max(held), np.median(held), tail))
        extra = sweep_figures(y, x, lag, ri, ro, secs) if name == "sweep" else ""
        dn = len(y) - exact(len(x), ri, ro)
        print(f"{ri:>5}>{ro:<5} {name:6} {cand:20} {len(y):6} {dn:+2} {ms} {lag:+3} {snrs} {extra}")


def cpu(x: np.ndarray, ri: int, ro: int, audio_s: float, passes: int) -> list[float]:
    """CPU ms per audio second: lk/20ms, then soxr HQ/20, HQ/100, VHQ/20, VHQ/100."""
    x = np.resize(x, int(audio_s * ri))
    frames = [rtc.AudioFrame(b.tobytes(), ri, 1, len(b)) for b in blocks(x, ri // 50)]
    chunks = blocks(x, ri // 10)

    def lk() -> None:
        r = rtc.AudioResampler(ri, ro, quality=HIGH)
        for f in frames:
            r.push(f)
        r.flush()

    def sx(q: str, per_frame: bool) -> None:
        s = soxr.ResampleStream(ri, ro, 1, dtype="int16", quality=q)
        for b in (np.frombuffer(f.data, np.int16) for f in frames) if per_frame else chunks:
            s.resample_chunk(b)
        s.resample_chunk(EMPTY, last=True)

    jobs = [lk] + [lambda q=q, pf=pf: sx(q, pf) for q in ("HQ", "VHQ") for pf in (True, False)]
    best = [min(timeit.repeat(job, timer=time.process_time, number=1, repeat=passes)) for job in jobs]
    return [b / audio_s * 1000 for b in best]


def flush_check(x: np.ndarray, ri: int, ro: int) -> None:
    segs, s, notes = blocks(x[: 4 * (ri + 1)], ri + 1), soxr.ResampleStream(ri, ro, 1, dtype="int16"), []

    def sx_seg(seg: np.ndarray) -> np.ndarray:
        y = run_sx(seg, ri, ro, "HQ", 20, s)[0]
        try:
            s.resample_chunk(seg[:10])
        except RuntimeError as e:
            notes.append(f"RuntimeError({e})")
        s.clear()
        return y

    r = rtc.AudioResampler(ri, ro, quality=HIGH)
    for who, run, fresh in (
        ("lk HIGH flush()", lambda seg: run_lk(seg, ri, ro, r)[0], run_lk(segs[1], ri, ro)[0]),
        ("soxr HQ last+clear()", sx_seg, run_sx(segs[1], ri, ro, "HQ", 20)[0]),
    ):
        outs = [run(seg) for seg in segs]
        drift = [sum(map(len, outs[: i + 1])) - exact((i + 1) * (ri + 1), ri, ro) for i in range(4)]
        fixes = [p - d for p, d in zip([0, *drift], drift, strict=False)]
        diff = int(np.abs(outs[1][:200].astype(int) - fresh[:200]).max())
        print(
            f"{ri:>5}>{ro:<5} {who:20} outs {','.join(str(len(y)) for y in outs)} (each exact "
            f"{exact(ri + 1, ri, ro)}); total - exact {','.join(f'{d:+d}' for d in drift)}; "
            f"fix {','.join(f'{f:+d}' for f in fixes)}; seg 2 vs fresh max|diff| {diff} LSB"
        )
    s = soxr.ResampleStream(ri, ro, 1, dtype="int16", quality="HQ")
    got = sum(len(s.resample_chunk(c)) for c in blocks(x[:ri], ri // 50))
    after_last = notes[0] if notes else "accepted"
    print(f"{'':11} soxr: input after last=True without clear(): {after_last}; clear() without last=True")
    print(f"{'':11} after 1 s: {got} of {ro} out, the held-back delay()={s.delay():.1f} samples dropped")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="8 s speech, 5 s sweep, 10 s of CPU audio, one pass")
    args = ap.parse_args()
    secs, audio_s, passes, talk_s = (5.0, 10.0, 1, 8) if args.quick else (10.0, 60.0, 3, 60)
    with tempfile.TemporaryDirectory() as tmp:
        talk = {ri: speech(ri, Path(tmp))[: ri * talk_s] for ri in {ri for ri, _ in PAIRS}}
    print(f"speech {len(talk[16000]) / 16000:.1f} s (espeak-ng), sweep {secs:.0f} s; held in ms")
    print(
        f"{'pair':11} {'input':6} {'candidate':20} {'n_out':>6} dn {'held max/med/end':17} lag "
        f"{'SNRid':>5} {'pb':>5} {'SNRlk':>5} {'pb':>5} {'alias':>7} {'gain.9':>6}"
    )
    for ri, ro in PAIRS:
        quality("speech", talk[ri], ri, ro, secs)
        quality("sweep", sweep(ri, secs), ri, ro, secs)
        print()
    print(f"CPU ms per audio second ({audio_s:.0f} s of speech, best of {passes}); x = ratio to lk HIGH/20ms")
    print(f"{'pair':11} {'lk/20ms':>8} {'HQ/20ms':>15} {'HQ/100ms':>15} {'VHQ/20ms':>15} {'VHQ/100ms':>15}")
    for ri, ro in PAIRS:
        c = cpu(talk[ri], ri, ro, audio_s, passes)
        print(f"{ri:>5}>{ro:<5} {c[0]:8.3f}" + "".join(f" {v:7.3f} ({v / c[0]:.2f}x)" for v in c[1:]))
    print("\nmid-stream flush: 4 segments of 1 s + 1 sample, each pushed in 20 ms frames, then flushed;")
    print("fix = pad(+)/trim(-) per flush keeping the total exact; max|diff| <= 3 LSB: dither, fresh start")
    for ri, ro in PAIRS:
        flush_check(talk[ri], ri, ro)


if __name__ == "__main__":
    main()
