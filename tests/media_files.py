"""Real media files made on the fly from the bundled clips (video containers, codecs, damage)."""

from __future__ import annotations

import pathlib

import av
import numpy as np


def make_video(source_audio: pathlib.Path, target: pathlib.Path, *, seconds: float | None = None) -> pathlib.Path:
    """A real video file: a moving test pattern plus the clip's audio as AAC (MP4/MOV/MKV)."""
    from sidecar.media.audio import decode_file

    clip = decode_file(source_audio, sample_rate=48_000)
    samples = clip.samples if seconds is None else clip.samples[:, : int(seconds * 48_000)]
    duration = samples.shape[1] / 48_000
    with av.open(str(target), "w") as out:
        video = out.add_stream("mpeg4", rate=10)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=48_000, layout="mono")
        for i in range(int(duration * 10)):
            image = np.full((48, 64, 3), (i * 7) % 255, dtype=np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in video.encode():
            out.mux(packet)
        step = 1024
        for start in range(0, samples.shape[1], step):
            block = np.ascontiguousarray(samples[:1, start : start + step])
            frame = av.AudioFrame.from_ndarray(block, format="fltp", layout="mono")
            frame.sample_rate = 48_000
            frame.pts = start
            for packet in audio.encode(frame):
                out.mux(packet)
        for packet in audio.encode():
            out.mux(packet)
    return target


def make_encoded(
    source_audio: pathlib.Path, target: pathlib.Path, codec: str, rate: int = 44_100, layout: str = "stereo"
) -> pathlib.Path:
    """Re-encodes a clip into another container/codec (for example mp3, opus, pcm_s16le)."""
    from sidecar.media.audio import decode_file

    clip = decode_file(source_audio, sample_rate=rate)
    channels = 2 if layout == "stereo" else 1
    samples = np.repeat(clip.samples[:1], channels, axis=0)
    with av.open(str(target), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout=layout)
        fmt = stream.codec_context.format.name
        frame_size = stream.codec_context.frame_size or 1024
        for start in range(0, samples.shape[1], frame_size):
            block = samples[:, start : start + frame_size]
            if fmt.endswith("p"):
                data = np.ascontiguousarray(block)
            else:
                data = np.ascontiguousarray(block.T.reshape(1, -1))
            if fmt.startswith("s16"):
                data = (np.clip(data, -1, 1) * 32767).astype(np.int16)
            elif fmt.startswith("s32"):
                data = (np.clip(data, -1, 1) * 2147483647).astype(np.int32)
            frame = av.AudioFrame.from_ndarray(data, format=fmt, layout=layout)
            frame.sample_rate = rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


def truncated(source: pathlib.Path, target: pathlib.Path, fraction: float = 0.45) -> pathlib.Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def unknown_codec_wav(target: pathlib.Path) -> pathlib.Path:
    """A well-formed RIFF/WAVE file whose format tag (0x1234) no decoder knows."""
    import struct

    data = b"\x00\x01" * 16000
    fmt = struct.pack("<HHIIHH", 0x1234, 1, 16000, 32000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    target.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return target
