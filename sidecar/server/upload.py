"""Reads a config-first client stream: the config, then audio bytes spooled within limits."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import numpy as np

from sidecar.errors import IdleStreamError, InvalidAudioError, InvalidOptionsError, LimitExceededError
from sidecar.media import audio as media
from sidecar.media.resampling import StreamResampler
from sidecar.runtime.jobs import Admission
from sidecar.runtime.runtime import Runtime
from sidecar.server import convert

_SPOOL_IN_MEMORY_BYTES = 32 << 20  # larger uploads go to a temporary file


def decode_inline(audio_format, content: bytes, sample_rate: int, max_seconds: float, what: str) -> media.Audio:
    """Audio sent inside a request message (an `AudioFormat` and its bytes), as mono at
    `sample_rate`; `what` names it in errors ("the reference audio")."""
    kind = audio_format.WhichOneof("format")
    if kind is None:
        raise InvalidOptionsError(f"the audio format of {what} must be `encoded_file` or `pcm`")
    if not content:
        raise InvalidAudioError(f"{what} is empty: no bytes were sent")
    if kind == "pcm":
        audio = media.decode_pcm(content, convert.pcm_spec(audio_format.pcm))
    else:
        audio = media.decode_file(
            content,
            mono=True,
            sample_rate=sample_rate,
            max_duration=max_seconds,
            name=audio_format.encoded_file.filename or what,
        )
    return media.resample(audio, sample_rate, mono=True)


@dataclasses.dataclass
class Blocks:
    """An upload as float32 (channels, frames) blocks, with what an output needs to know."""

    blocks: Iterator[np.ndarray]
    sample_rate: int  # of the blocks
    source_rate: int  # of the upload
    channel_count: int
    duration: float | None  # as the header states it; None when unknown


@dataclasses.dataclass
class Upload:
    """The audio bytes of one call and how to read them."""

    data: tempfile.SpooledTemporaryFile
    size: int
    pcm: media.PcmSpec | None  # None: an encoded file
    filename: str
    admission: Admission | None = None  # the job's place in the queue, taken before reading

    def decode(
        self,
        *,
        sample_rate: int | None,
        mono: bool,
        max_seconds: float,
        between_blocks: Callable[[], None] | None = None,
    ) -> media.Audio:
        """The whole upload; `between_blocks` is called as a file decodes (a cancel check)."""
        self.data.seek(0)
        if self.pcm is not None:
            audio = media.decode_pcm(self.data.read(), self.pcm)
            if sample_rate is not None or mono:
                audio = media.resample(audio, sample_rate or audio.sample_rate, mono=mono)
            return audio
        if self.size == 0:
            raise InvalidAudioError(f"{self.filename or 'the audio'} is empty: no bytes were sent")
        return media.decode_file(
            self.data,
            sample_rate=sample_rate,
            mono=mono,
            max_duration=max_seconds,
            name=self.filename or "the audio",
            between_blocks=between_blocks,
        )

    def stream(self, *, sample_rate: int | None, mono: bool, max_seconds: float) -> media.DecodedStream:
        """For long jobs: decode block by block (PCM uploads decode whole; their size is known)."""
        if self.pcm is not None or self.size == 0:
            raise ValueError("stream() is for encoded files; use decode() for PCM")
        return media.DecodedStream(
            self.data, sample_rate=sample_rate, mono=mono, max_duration=max_seconds, name=self.filename or "the audio"
        )

    def blocks(self, *, sample_rate: int | None, block_seconds: float, max_seconds: float) -> Blocks:
        """For long jobs: files and PCM decode lazily, block by block, so memory does not grow
        with the audio (an empty upload, and PCM of more than two channels to resample, decode
        whole for decode()'s checks)."""
        pcm = self.pcm
        if pcm is not None and self.size and (sample_rate in (None, pcm.sample_rate) or pcm.channel_count <= 2):
            pcm.validate()
            rate = sample_rate or pcm.sample_rate
            return Blocks(
                self._pcm_blocks(pcm, rate, block_seconds),
                rate,
                pcm.sample_rate,
                pcm.channel_count,
                pcm.duration_of(self.size),
            )
        if self.pcm is None and self.size:
            stream = self.stream(sample_rate=sample_rate, mono=False, max_seconds=max_seconds)
            return Blocks(
                stream.blocks(block_seconds),
                stream.sample_rate,
                stream.source_rate,
                stream.channel_count,
                stream.duration,
            )
        audio = self.decode(sample_rate=None, mono=False, max_seconds=max_seconds)
        out = media.resample(audio, sample_rate) if sample_rate else audio
        step = max(1, int(block_seconds * out.sample_rate))
        blocks = (out.samples[:, i : i + step] for i in range(0, out.frame_count, step))
        return Blocks(blocks, out.sample_rate, audio.sample_rate, audio.channel_count, audio.duration)

    def _pcm_blocks(self, pcm: media.PcmSpec, rate: int, block_seconds: float) -> Iterator[np.ndarray]:
        media.check_whole_frames(self.size, pcm)
        resampler = StreamResampler(pcm.sample_rate, rate, pcm.channel_count) if rate != pcm.sample_rate else None
        block_bytes = max(1, int(block_seconds * pcm.sample_rate)) * pcm.bytes_per_frame
        self.data.seek(0)
        while data := self.data.read(block_bytes):
            samples = media.decode_pcm(data, pcm).samples
            yield resampler.push(samples) if resampler else samples
        if resampler:
            yield resampler.flush()

    def close(self) -> None:
        self.data.close()
        if self.admission is not None:
            self.admission.close()

    @contextlib.contextmanager
    def closed_on_error(self) -> Iterator[None]:
        """For checks of the config once the upload is read: a failing one closes it."""
        try:
            yield
        except BaseException:
            self.close()
            raise


async def read_config_first(
    requests: AsyncIterator[Any],
    runtime: Runtime,
    *,
    config_field: str = "config",
    audio_field: str = "audio_content",
    oneof: str = "request",
) -> tuple[Any, Upload]:
    """Returns (config message, upload); the config's `audio_format` says how to read the bytes.
    The job's place in the queue is taken once the config has come, before any audio is read
    (upload.admission, for jobs.respond)."""
    limits = runtime.config
    requests = aiter(paced(requests, limits.stream_idle_seconds))
    config = await first_config(requests, config_field=config_field, oneof=oneof)
    pcm = _pcm_of(config)
    admission = runtime.jobs.admit()
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES)
    size = 0
    try:
        async for request in requests:
            if request.WhichOneof(oneof) != audio_field:
                raise InvalidOptionsError(
                    f"only the first message may carry `{config_field}`; later ones carry `{audio_field}`"
                )
            chunk = getattr(request, audio_field)
            size += len(chunk)
            if size > limits.max_upload_bytes:
                raise LimitExceededError(f"the upload exceeds the server's limit of {limits.max_upload_bytes} bytes")
            if pcm is not None and pcm.duration_of(size) > limits.max_audio_seconds:
                raise LimitExceededError(
                    f"the audio is longer than the server's limit of {limits.max_audio_seconds:g} s"
                )
            spool.write(chunk)
        if pcm is not None and size >= 4 and looks_encoded(spool):
            raise InvalidAudioError(
                "the bytes look like an encoded file (WAV/FLAC/Ogg/MP3/MP4 header), but the "
                "config declares raw PCM: declare `encoded_file` instead"
            )
        filename = ""
        if config.audio_format.WhichOneof("format") == "encoded_file":
            filename = config.audio_format.encoded_file.filename
        return config, Upload(spool, size, pcm, filename, admission)
    except BaseException:
        spool.close()
        admission.close()
        raise


async def paced(requests: AsyncIterator[Any], idle_seconds: float) -> AsyncIterator[Any]:
    """The client's messages, as long as none is more than `idle_seconds` after the last: a
    client that stops sending would otherwise hold its call, and its place, for ever."""
    requests = aiter(requests)
    while True:
        try:
            request = await asyncio.wait_for(anext(requests), idle_seconds)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise IdleStreamError(
                f"the client sent nothing for {idle_seconds:g} s: the call was ended to free its place "
                "(the server's stream_idle_seconds)"
            ) from None
        yield request


async def first_config(requests: AsyncIterator[Any], *, config_field: str = "config", oneof: str = "request") -> Any:
    """Takes the first message of a config-first stream and returns its config."""
    try:
        first = await anext(requests)
    except StopAsyncIteration:
        raise InvalidOptionsError(f"the stream ended before its `{config_field}` message") from None
    kind = first.WhichOneof(oneof)
    if kind != config_field:
        raise InvalidOptionsError(
            f"the first message of the stream must carry `{config_field}`, "
            f"not {'nothing' if kind is None else '`' + kind + '`'}"
        )
    return getattr(first, config_field)


def _pcm_of(config: Any) -> media.PcmSpec | None:
    if not config.HasField("audio_format"):
        raise InvalidOptionsError("the config must set `audio_format` (encoded_file or pcm)")
    kind = config.audio_format.WhichOneof("format")
    if kind is None:
        raise InvalidOptionsError("`audio_format` must be `encoded_file` or `pcm`")
    if kind == "pcm":
        spec = convert.pcm_spec(config.audio_format.pcm)
        spec.validate()
        return spec
    return None


_MAGIC = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"\x1aE\xdf\xa3")


def looks_encoded(spool) -> bool:
    spool.seek(0)
    head = spool.read(12)
    return head.startswith(_MAGIC) or head[4:8] == b"ftyp"
