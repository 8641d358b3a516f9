"""The first step of every job that needs the whole upload at once."""

from __future__ import annotations

from collections.abc import Generator

from sidecar.media import audio as media
from sidecar.runtime.events import Progress
from sidecar.runtime.threads import CancelToken


def decoded_mono(
    upload, sample_rate: int, max_seconds: float, token: CancelToken
) -> Generator[Progress, None, media.Audio]:
    """Decodes the upload whole to mono at `sample_rate` and closes it, reporting the stage;
    returns the audio (use with `yield from`). The token is checked between decoded blocks: an
    hour of audio takes seconds to decode, and a client that hung up meanwhile would otherwise
    hold the job's thread, its place and its spooled upload until the end."""
    try:
        yield Progress("decoding")
        audio = upload.decode(
            sample_rate=sample_rate, mono=True, max_seconds=max_seconds, between_blocks=token.raise_if_cancelled
        )
    finally:
        upload.close()
    token.raise_if_cancelled()
    return audio
