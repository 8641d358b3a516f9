"""`sidecar subtitle --mux`: a copy of the video with subtitle streams, each tagged with its language."""

from __future__ import annotations

import dataclasses
import pathlib
import subprocess
import tempfile
from collections.abc import Sequence

from sidecar.cli.files import committed
from sidecar_common import languages, outputs, subtitles

# Subtitle codec each container takes when muxing.
MUX_CODECS = {".mp4": "mov_text", ".m4v": "mov_text", ".mov": "mov_text", ".mkv": "srt", ".webm": "webvtt"}


@dataclasses.dataclass(frozen=True)
class Track:
    """A subtitle stream to mux: its cues, its language (a Whisper code such as "en"; "" is
    "und"), and the SRT already written for it, if any (it keeps the speakers' names)."""

    cues: list[subtitles.Cue]
    language: str
    srt: pathlib.Path | None = None


class MuxError(Exception):
    """ffmpeg refused to mux: the subtitle files are written, the video copy is not."""


def mux_path(video: pathlib.Path) -> pathlib.Path:
    """Where --mux writes a video's copy with subtitle streams: talk.mp4 -> talk.subtitled.mp4."""
    return video.with_name(f"{video.stem}.subtitled{video.suffix}")


def mux(video: pathlib.Path, tracks: Sequence[Track], output: pathlib.Path, *, force: bool) -> None:
    """Copies every stream of the video and adds each track as a subtitle stream tagged with
    its language, after the video's own subtitle streams; the original is only read."""
    codec = MUX_CODECS[video.suffix.lower()]
    existing = subtitle_stream_count(video)
    # Matroska and WebM take ISO 639-2/B ("ger"), MP4 and QuickTime ISO 639-2/T ("deu").
    bibliographic = video.suffix.lower() in (".mkv", ".webm")
    with tempfile.TemporaryDirectory(prefix="sidecar-mux-") as tmp:
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(video)]
        for n, track in enumerate(tracks):
            srt = track.srt
            if srt is None:
                srt = pathlib.Path(tmp) / f"track{n}.srt"
                srt.write_text(subtitles.format_srt(track.cues), encoding="utf-8")
            command += ["-i", str(srt)]
        command += ["-map", "0"] + [arg for n in range(len(tracks)) for arg in ("-map", str(n + 1))]
        command += ["-c", "copy", "-c:s", codec]
        for n, track in enumerate(tracks):
            language = languages.iso_639_2(track.language, bibliographic=bibliographic)
            command += [f"-metadata:s:s:{existing + n}", f"language={language}"]
        staging = outputs.staging_path(output)  # beside the output: the commit is a rename
        done = subprocess.run([*command, str(staging)], capture_output=True, text=True)
        if done.returncode != 0:
            staging.unlink(missing_ok=True)
            raise MuxError(f"ffmpeg could not mux {video}: {done.stderr.strip()[-500:]}")
        with committed(output):
            outputs.commit(staging, output, overwrite=force)


def subtitle_stream_count(video: pathlib.Path) -> int:
    import av

    try:
        with av.open(str(video)) as container:
            return len(container.streams.subtitles)
    except av.error.FFmpegError as exc:
        raise MuxError(f"ffmpeg could not read {video}: {exc}") from None
