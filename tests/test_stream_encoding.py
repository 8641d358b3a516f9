"""Audio encoded while it is made (the HTTP API's speech): each format decodes back, through
FFmpeg, to the same length of the same tone, and bytes come out before the end."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from sidecar.media.stream_encoding import FORMATS, StreamEncoder

RATE = 24000


@pytest.mark.parametrize("format", FORMATS)
def test_each_format_streams_and_decodes_to_what_went_in(format):
    t = np.arange(2 * RATE) / RATE
    tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    encoder = StreamEncoder(format, RATE)
    parts = [encoder.encode(tone[i : i + 4800]) for i in range(0, len(tone), 4800)]
    parts.append(encoder.finish())
    if format != "opus":  # Ogg pages hold about a second
        assert sum(len(p) for p in parts[:5]) > 0, "nothing came out before the end"
    data = b"".join(parts)
    if format == "pcm":
        decoded = np.frombuffer(data, "<i2").astype(np.float32) / 32767
    else:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.audio[0]
            frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
            decoded = np.concatenate(frames)
            if np.issubdtype(decoded.dtype, np.integer):  # WAV and FLAC hold 16-bit samples
                decoded = decoded / 32767
            decoded = decoded.astype(np.float32)
            if stream.rate != RATE:  # Opus decodes at 48 kHz
                decoded = decoded[:: stream.rate // RATE]
    # Codecs add padding at the ends; the tone's length and level stay.
    assert len(decoded) == pytest.approx(len(tone), abs=0.1 * RATE)
    assert np.sqrt(np.mean(decoded**2)) == pytest.approx(0.3 / np.sqrt(2), rel=0.15)


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="ogg"):
        StreamEncoder("ogg", RATE)
