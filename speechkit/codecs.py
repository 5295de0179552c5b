"""Wire codecs: G.711 μ-law, the PCM encodings providers send, and the RIFF WAV header.

Providers frame audio with these (:func:`encode_pcm`, :func:`wav_header`); the conformance
emulators read it back with them (:func:`mulaw_decode`, :func:`parse_wav_header`), so a
provider and its emulator cannot disagree on a codec. The μ-law pair is bit-exact with
``audioop.lin2ulaw`` / ``audioop.ulaw2lin`` (ITU-T G.711; ``audioop`` left the standard
library in Python 3.13). The streaming WAV header is the one LiveKit's Telnyx plugin sends to
Telnyx's ``wav`` input format
(https://developers.telnyx.com/docs/voice/stt/websocket-streaming/parameters/audio-formats); its
layout and sources are in ``docs/protocols/telnyx.md`` §4.3.
"""

from __future__ import annotations

import struct

import attrs
import numpy as np
import numpy.typing as npt

__all__ = [
    "STREAMING_DATA_SIZE",
    "WIRE_ENCODINGS",
    "WavError",
    "WavFormat",
    "WavHeader",
    "encode_pcm",
    "mulaw_decode",
    "mulaw_encode",
    "parse_wav_header",
    "wav_header",
]

WIRE_ENCODINGS = {"pcm_s16le": 2, "pcm_f32le": 4, "mulaw": 1}
"""Wire encodings :func:`encode_pcm` produces, with their bytes per sample."""

_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])


# -- G.711 μ-law ------------------------------------------------------------------------------


def mulaw_encode(pcm: npt.NDArray[np.int16]) -> bytes:
    """G.711 μ-law encode int16 samples, one byte per sample (bit-exact with ``audioop.lin2ulaw``).

    Args:
        pcm: Samples, any shape (encoded in C order).

    Returns:
        One code per sample; 0xFF is zero, 0x80 / 0x00 the positive / negative extremes.
    """
    v = pcm.astype(np.int32) >> 2  # G.711 works on 14-bit samples
    mask = np.where(v < 0, 0x7F, 0xFF)
    v = np.minimum(np.abs(v), 8159) + 0x21
    segment = np.searchsorted(_SEGMENT_ENDS, v)
    code = np.where(segment >= 8, 0x7F, (segment << 4) | ((v >> (segment + 1)) & 0x0F))  # 8: clipped
    return bytes((code ^ mask).astype(np.uint8).tobytes())


def mulaw_decode(data: bytes) -> npt.NDArray[np.int16]:
    """G.711 μ-law decode bytes to int16 samples (bit-exact with ``audioop.ulaw2lin``).

    The 255 levels run from -32124 to 32124, 8 apart near zero and 1024 near full scale;
    :func:`mulaw_encode` then this gives back one of the two levels around each sample (an
    error under 5 % above 256 in magnitude), a sample beyond ±32124 the extreme level.
    """
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    mag = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
    return np.where(u & 0x80, 0x84 - mag, mag - 0x84).astype(np.int16)


def encode_pcm(pcm: bytes, encoding: str) -> bytes:
    """Re-encode PCM s16le mono for the wire.

    Args:
        pcm: PCM s16le bytes (an odd trailing byte is dropped).
        encoding: A key of :data:`WIRE_ENCODINGS`: ``pcm_s16le`` (returned as is),
            ``pcm_f32le`` (floats in [-1, 1)) or ``mulaw`` (G.711 μ-law).

    Raises:
        ValueError: an unknown encoding.
    """
    if encoding == "pcm_s16le":
        return pcm
    samples = np.frombuffer(pcm[: len(pcm) & ~1], dtype="<i2")
    if encoding == "pcm_f32le":
        return (samples.astype("<f4") / 32768.0).astype("<f4").tobytes()
    if encoding == "mulaw":
        return mulaw_encode(samples)
    raise ValueError(f"unknown wire encoding {encoding!r}; known: {', '.join(WIRE_ENCODINGS)}")


# -- RIFF WAV header --------------------------------------------------------------------------

STREAMING_DATA_SIZE = 0x7FFFFFFF
"""The ``data`` chunk size of a WAV whose length is not known: a stream (as LiveKit's Telnyx
plugin sends it, ``docs/protocols/telnyx.md`` §4.3); readers take the data to the end."""


class WavError(ValueError):
    """Bytes that are not a RIFF WAVE header, or one :func:`parse_wav_header` cannot read."""


@attrs.frozen(kw_only=True)
class WavFormat:
    """A WAV's ``fmt`` chunk.

    Attributes:
        format_tag: 1 for integer PCM (3 IEEE float, 7 μ-law, 0xFFFE extensible).
        channels: Interleaved channels.
        sample_rate: Frames per second, Hz.
        bits_per_sample: Bits of one sample of one channel.
    """

    format_tag: int
    channels: int
    sample_rate: int
    bits_per_sample: int


@attrs.frozen(kw_only=True)
class WavHeader:
    """A RIFF WAVE header read up to its ``data`` chunk.

    Attributes:
        format: The ``fmt`` chunk, or None when ``data`` came without one before it.
        data_offset: Bytes from the start of the file to the first sample.
        data_size: The ``data`` chunk's declared size in bytes (:data:`STREAMING_DATA_SIZE`
            for a stream).
    """

    format: WavFormat | None
    data_offset: int
    data_size: int


def wav_header(sample_rate: int, *, channels: int = 1, data_size: int = STREAMING_DATA_SIZE) -> bytes:
    """The 44-byte RIFF header of PCM s16le (format 1, 16 bits).

    Args:
        sample_rate: Hz.
        channels: Interleaved channels.
        data_size: Bytes of samples that follow; the default announces a stream of unknown
            length (``RIFF`` size ``36 + 0x7FFFFFFF``, as LiveKit's Telnyx plugin sends, §4.3).
    """
    block = 2 * channels
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        *(b"RIFF", 36 + data_size, b"WAVE", b"fmt ", 16, 1, channels, sample_rate),
        *(sample_rate * block, block, 16, b"data", data_size),
    )


def parse_wav_header(buf: bytes | bytearray) -> WavHeader | None:
    """Read a RIFF WAVE header from the first bytes of a file or stream, up to its ``data`` chunk.

    Chunks other than ``fmt`` and ``data`` (``LIST``, ``fact``...) are skipped, odd sizes
    padded as RIFF pads them. Call it again with more bytes while it returns None.

    Args:
        buf: The bytes received so far, from the start of the file.

    Returns:
        The header, or None while ``buf`` ends inside it.

    Raises:
        WavError: ``buf`` does not start with ``RIFF....WAVE``, or its ``fmt`` chunk is
            shorter than the 16 bytes of PCM's.
    """
    if len(buf) < 12:
        return None
    if buf[:4] != b"RIFF" or buf[8:12] != b"WAVE":
        raise WavError("not a RIFF WAVE header")
    fmt, pos = None, 12
    while len(buf) >= pos + 8:
        chunk, size = bytes(buf[pos : pos + 4]), struct.unpack_from("<I", buf, pos + 4)[0]
        if chunk == b"data":
            return WavHeader(format=fmt, data_offset=pos + 8, data_size=size)
        if len(buf) < pos + 8 + size:
            return None
        if chunk == b"fmt ":
            if size < 16:
                raise WavError(f"fmt chunk of {size} bytes; PCM's has 16")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", buf, pos + 8)
            fmt = WavFormat(format_tag=tag, channels=channels, sample_rate=rate, bits_per_sample=bits)
        pos += 8 + size + (size & 1)
    return None
