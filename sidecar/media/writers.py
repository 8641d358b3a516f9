"""Writes decoded audio to WAV or FLAC files, atomically and never over a file by accident.

The format follows the path's suffix. Samples go to a temporary file beside the target,
committed by sidecar_common.outputs only once complete, so a failed or interrupted job never
leaves half a file under the user's name. AudioWriter takes the audio block by block (memory
stays flat for long media); write_audio() writes one array; commit_together() puts several
writers' files in place, all or none. A write that fails (a full disk) removes the temporary
file and raises outputs.OutputWriteError, which names the target.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import av
import numpy as np

from sidecar.errors import InvalidOptionsError
from sidecar_common import outputs

# Sample formats: 16-bit and 24-bit integers, 32-bit float (WAV only; FLAC holds integers).
S16 = "s16"
S24 = "s24"
F32 = "f32"
# suffix -> (container, {sample format -> (codec, PyAV sample format, integer scale)}, default)
_FORMATS = {
    ".wav": (
        "wav",
        {S16: ("pcm_s16le", "s16", 32767.0), S24: ("pcm_s24le", "s32", 2147483392.0), F32: ("pcm_f32le", "flt", None)},
        F32,
    ),
    # FFmpeg's FLAC encoder stores s32 input as 24-bit samples.
    ".flac": ("flac", {S16: ("flac", "s16", 32767.0), S24: ("flac", "s32", 2147483392.0)}, S24),
}
_FRAME_SAMPLES = 4096  # samples per encoded frame handed to FFmpeg
_LAYOUTS = {1: "mono", 2: "stereo"}


def supported_suffixes() -> list[str]:
    return sorted(_FORMATS)


class AudioWriter:
    """Writes (channels, frames) float32 blocks to `path`; commit() puts the file in place.

    Used as a context manager it commits when the block ends normally and discards the
    temporary file when it raises. overwrite=False refuses an existing target with
    FileExistsError, checked when opening and again when committing.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        sample_rate: int,
        channel_count: int,
        *,
        overwrite: bool = False,
        sample_format: str | None = None,
    ) -> None:
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in _FORMATS:
            raise InvalidOptionsError(
                f"cannot write {self.path.name!r}: the file name must end in one of {', '.join(supported_suffixes())}"
            )
        container_format, codecs, default = _FORMATS[suffix]
        sample_format = sample_format or default
        if sample_format not in codecs:
            raise InvalidOptionsError(
                f"{suffix} files hold sample formats {', '.join(sorted(codecs))}, not {sample_format!r}"
            )
        if channel_count not in _LAYOUTS:
            raise InvalidOptionsError(f"can write 1 or 2 channels, not {channel_count}")
        if not overwrite and self.path.exists():
            raise FileExistsError(f"{self.path} already exists")
        self.overwrite = overwrite
        self.sample_rate = int(sample_rate)
        self.channel_count = channel_count
        self.frame_count = 0
        codec, self._av_format, self._scale = codecs[sample_format]
        self._temp = str(outputs.staging_path(self.path))
        self._finished = False
        try:
            self._container = av.open(self._temp, mode="w", format=container_format)
            self._stream = self._container.add_stream(codec, rate=self.sample_rate, layout=_LAYOUTS[channel_count])
            self._stream.codec_context.format = self._av_format
        except BaseException as exc:
            os.unlink(self._temp)
            if isinstance(exc, OSError):
                raise outputs.write_failed(self.path, exc) from exc
            raise

    def write(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32)
        if samples.ndim != 2 or samples.shape[0] != self.channel_count:
            raise ValueError(f"expected ({self.channel_count}, frames) samples, got {samples.shape}")
        try:
            for start in range(0, samples.shape[1], _FRAME_SAMPLES):
                self._encode(samples[:, start : start + _FRAME_SAMPLES])
        except OSError as exc:  # FFmpeg's failed writes reach here as av.error.OSError
            self.abort()  # the file cannot be completed: none of it stays
            raise outputs.write_failed(self.path, exc) from exc
        self.frame_count += samples.shape[1]

    def _encode(self, block: np.ndarray) -> None:
        if self._scale is None:
            packed = block.T.reshape(1, -1)
        else:
            dtype = np.int16 if self._av_format == "s16" else np.int32
            packed = np.round(np.clip(block, -1.0, 1.0).T * self._scale).astype(dtype).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(packed), format=self._av_format, layout=_LAYOUTS[self.channel_count]
        )
        frame.sample_rate = self.sample_rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def commit(self) -> Path:
        """Finishes the file and puts it at `path`; returns the path. Without overwrite, a file
        that appeared at `path` meanwhile is kept and outputs.OutputExistsError raised."""
        commit_together([self])
        return self.path

    def finish(self) -> str:
        """Completes the temporary file; returns its path, for commit_together."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            self._container.close()
        except BaseException as exc:
            self.abort()
            if isinstance(exc, OSError):
                raise outputs.write_failed(self.path, exc) from exc
            raise
        self._finished = True
        return self._temp

    def abort(self) -> None:
        """Drops what was written; the target is left as it was. Safe to call twice, and after a
        failed write: closing flushes FFmpeg's buffer, which fails again on a full disk, and the
        temporary file goes all the same."""
        if not self._finished:
            self._finished = True
            with contextlib.suppress(OSError, av.error.FFmpegError):
                self._container.close()
        self._discard()

    def _discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._temp)

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def commit_together(writers: list[AudioWriter]) -> None:
    """Finishes every writer and puts all the files in place, or none of them (stems)."""
    staged = []
    try:
        for writer in writers:
            staged.append((writer.finish(), writer.path))
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    outputs.commit_all(staged, overwrite=all(w.overwrite for w in writers))


def write_audio(
    path: str | os.PathLike,
    samples: np.ndarray,
    sample_rate: int,
    *,
    overwrite: bool = False,
    sample_format: str | None = None,
) -> Path:
    """Writes (channels, frames) float32 samples to a .wav or .flac file; returns the path."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = samples[None, :]
    with AudioWriter(path, sample_rate, samples.shape[0], overwrite=overwrite, sample_format=sample_format) as writer:
        writer.write(samples)
    return writer.path
