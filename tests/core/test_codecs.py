"""Wire codecs: μ-law bit-exact with audioop and within one quantisation step, PCM re-encoding,
and the streaming WAV header read back as it was written."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

from speechkit.codecs import (
    STREAMING_DATA_SIZE,
    WavError,
    WavFormat,
    encode_pcm,
    mulaw_decode,
    mulaw_encode,
    parse_wav_header,
    wav_header,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    try:
        import audioop  # removed in Python 3.13
    except ImportError:
        audioop = None  # type: ignore[assignment]

EVERY_SAMPLE = np.arange(-32768, 32768, dtype=np.int16)
LEVELS = np.unique(mulaw_decode(bytes(range(256))).astype(np.int32))
"""The 255 distinct levels a μ-law code decodes to (0x7F and 0xFF are both zero)."""

# (sample, code) pairs as audioop.lin2ulaw gives them; in G.711 terms: 14-bit sample (>> 2,
# negatives floored) + 33, segment from the top bit, 4 mantissa bits, sign, all bits inverted
KNOWN = [
    (0, 0xFF), (1, 0xFF), (3, 0xFF), (4, 0xFE), (-1, 0x7E), (-4, 0x7E), (-5, 0x7E), (100, 0xF2),
    (-100, 0x72), (1000, 0xCE), (-1000, 0x4E), (8000, 0xA0), (-8000, 0x20), (31610, 0x81),
    (-31611, 0x00), (32124, 0x80), (32767, 0x80), (-32768, 0x00),
]  # fmt: skip


@pytest.mark.parametrize(("sample", "code"), KNOWN)
def test_mulaw_encode_gives_the_g711_code(sample: int, code: int) -> None:
    assert mulaw_encode(np.array([sample], dtype=np.int16)) == bytes([code])


@pytest.mark.skipif(audioop is None, reason="audioop left the standard library in Python 3.13")
def test_mulaw_encode_is_bit_exact_with_audioop_on_every_sample() -> None:
    assert mulaw_encode(EVERY_SAMPLE) == audioop.lin2ulaw(EVERY_SAMPLE.tobytes(), 2)


@pytest.mark.skipif(audioop is None, reason="audioop left the standard library in Python 3.13")
def test_mulaw_decode_is_bit_exact_with_audioop_on_every_code() -> None:
    every_code = bytes(range(256))
    assert mulaw_decode(every_code).tobytes() == audioop.ulaw2lin(every_code, 2)


def test_mulaw_levels_are_symmetric_and_span_plus_minus_32124() -> None:
    assert len(LEVELS) == 255 and LEVELS[-1] == 32124 and np.array_equal(LEVELS, -LEVELS[::-1])


def test_mulaw_round_trip_lands_on_one_of_the_two_levels_around_each_sample() -> None:
    back = mulaw_decode(mulaw_encode(EVERY_SAMPLE)).astype(np.int32)
    clipped = np.clip(EVERY_SAMPLE.astype(np.int32), LEVELS[0], LEVELS[-1])
    above = np.searchsorted(LEVELS, clipped)  # LEVELS[above - 1] < sample <= LEVELS[above]
    below = LEVELS[np.maximum(above - 1, 0)]
    assert np.all((back == LEVELS[above]) | (back == below))


def test_mulaw_round_trip_error_is_within_five_percent_above_256_and_11_below() -> None:
    x = EVERY_SAMPLE.astype(np.int32)
    error = np.abs(mulaw_decode(mulaw_encode(EVERY_SAMPLE)).astype(np.int32) - x)
    loud = (np.abs(x) > 256) & (np.abs(x) <= 32124)
    assert error[np.abs(x) <= 256].max() <= 11 and np.all(error[loud] <= 0.05 * np.abs(x[loud]) + 1)


def test_encode_pcm_keeps_s16le_and_drops_an_odd_trailing_byte_otherwise() -> None:
    pcm = np.array([0, 16384, -32768], dtype="<i2").tobytes()
    assert encode_pcm(pcm, "pcm_s16le") is pcm
    assert np.array_equal(np.frombuffer(encode_pcm(pcm + b"\x01", "pcm_f32le"), "<f4"), [0.0, 0.5, -1.0])
    assert encode_pcm(pcm + b"\x01", "mulaw") == bytes([0xFF, 0x8F, 0x00])


def test_encode_pcm_refuses_an_unknown_encoding_and_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="pcm_s16le, pcm_f32le, mulaw"):
        encode_pcm(b"\0\0", "opus")


def test_the_streaming_header_is_44_bytes_and_announces_an_unknown_length() -> None:
    header = wav_header(16000)
    assert len(header) == 44 and header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    assert struct.unpack_from("<I", header, 4)[0] == 36 + 0x7FFFFFFF
    assert struct.unpack_from("<I", header, 40)[0] == STREAMING_DATA_SIZE == 0x7FFFFFFF


@pytest.mark.parametrize(("rate", "channels", "size"), [(8000, 1, STREAMING_DATA_SIZE), (48000, 2, 960)])
def test_a_built_header_parses_back_to_its_format(rate: int, channels: int, size: int) -> None:
    header = parse_wav_header(wav_header(rate, channels=channels, data_size=size) + b"\1\2")
    assert header is not None
    assert header.format == WavFormat(format_tag=1, channels=channels, sample_rate=rate, bits_per_sample=16)
    assert (header.data_offset, header.data_size) == (44, size)


def test_a_header_cut_anywhere_before_its_data_chunk_asks_for_more() -> None:
    whole = wav_header(16000)
    assert all(parse_wav_header(whole[:n]) is None for n in range(44))


def test_chunks_before_data_are_skipped_with_riff_padding() -> None:
    header = wav_header(22050)
    listed = header[:36] + b"LIST" + struct.pack("<I", 3) + b"abc\0" + header[36:]  # odd size: 1 pad byte
    parsed = parse_wav_header(listed)
    assert parsed is not None and parsed.data_offset == 56 and parsed.format is not None
    assert parsed.format.sample_rate == 22050


@pytest.mark.parametrize(
    "bad",
    [
        b"RIFX" + wav_header(16000)[4:],  # big-endian RIFF
        wav_header(16000)[:8] + b"AVI " + wav_header(16000)[12:],
        b"ID3\x04" + bytes(40),  # an mp3
        wav_header(16000)[:16] + struct.pack("<I", 14) + wav_header(16000)[20:],  # fmt of 14 bytes
    ],
)
def test_a_bad_header_raises_wav_error(bad: bytes) -> None:
    with pytest.raises(WavError):
        parse_wav_header(bad)
