"""The plugin's actions: selection out of Audacity, through the sidecar, results back in.

Every action exports the selection (the whole project when nothing is selected) into a private
temporary directory, streams it to the sidecar, and adds NEW tracks at the selection's start,
scrolled into view; the user's tracks are only read, their selection put back. Cancelling a Job
cancels the gRPC call, which stops the sidecar's work; nothing is added then.

About 400 lines on purpose: the Job, the export and the track helpers are what every action
here is made of, and read best beside the actions that use them."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import tempfile
import threading
import wave
from collections.abc import Callable, Iterator

import grpc

from sidecar.v1 import audio_pb2, enhancement_pb2, separation_pb2, transcription_pb2
from sidecar_audacity.audacity import Audacity, Label, Selection, Track
from sidecar_audacity.errors import (
    AudacityStalledError,
    AudacityUnreachableError,
    CancelledError,
    EmptySelectionError,
    PluginError,
    SidecarUnavailableError,
)
from sidecar_audacity.wavio import PcmWavWriter, wav_duration
from sidecar_client import SidecarClient, SidecarError
from sidecar_client.client import Transcript
from sidecar_common import outputs, subtitles
from sidecar_common.durations import seconds as _seconds

# Share of the progress bar each phase takes: export, the sidecar's job, adding tracks.
EXPORT_SHARE, SIDECAR_SHARE = 0.05, 0.85
CAPTION_TRACK = "Captions"
WAV_EXPORT_HINT = (
    "export any WAV file once with the encoding 'Signed 16-bit PCM' in Audacity's export "
    "dialog (it remembers that choice), then try again"
)
MAX_NAME_CHARS = 200  # of a new track's name, which is also its file's name


@dataclasses.dataclass(frozen=True)
class CaptionOptions:
    model: str = ""  # Whisper model name or server directory; empty: the sidecar's default
    language: str = ""  # BCP-47 code of the speech ("en"); empty: detect it
    translate: bool = False  # English text for speech in another language
    track_name: str = CAPTION_TRACK  # name of the new label track (Caption only)
    speaker_count: int = 0  # Caption with speakers: how many speak; 0: let the sidecar decide
    known_speakers: bool = True  # Caption with speakers: people enrolled in the sidecar get their names


@dataclasses.dataclass(frozen=True)
class DenoiseOptions:
    attenuation_limit_db: float = 0.0  # most the noise is lowered, in dB; 0: no limit
    post_filter: bool = False  # DeepFilterNet's post-filter: less residual noise, thinner voice

    def validate(self) -> None:
        if not 0 <= self.attenuation_limit_db <= 100:
            raise PluginError(f"the attenuation limit must be 0 to 100 dB, not {self.attenuation_limit_db:g}")


@dataclasses.dataclass(frozen=True)
class StemsOptions:
    model: str = ""  # Demucs model name ("htdemucs"); empty: the sidecar's default
    model_repository: str = ""  # a directory on the server holding Demucs models
    stems: tuple[str, ...] = ()  # which stems to add; empty: every stem of the model


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What an action added, for the panel's status line and the CLI's output."""

    summary: str
    tracks: tuple[Track, ...] = ()
    sidecar_seconds: float = 0.0  # the sidecar's own processing time, from its summary
    first_audio_seconds: float = 0.0  # generating actions: from the request to the first audio received
    reference_ranges: tuple[tuple[float, float], ...] = ()  # Fix phrase: where its voice came from (project time)


class Job:
    """Progress and cancellation for one action; cancel() may be called from any thread."""

    def __init__(self, on_progress: Callable[[float, str], None] | None = None) -> None:
        self.on_progress = on_progress
        self._cancelled = threading.Event()
        self._lock = threading.Lock()
        self._call = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        self._cancelled.set()
        with self._lock:
            if self._call is not None:
                self._call.cancel()

    def report(self, fraction: float, stage: str) -> None:
        if self.on_progress is not None:
            self.on_progress(min(max(fraction, 0.0), 1.0), stage)

    def check(self) -> None:
        if self.cancelled:
            raise CancelledError("cancelled; nothing was added to the project")

    def events(self, call, service: str) -> Iterator[tuple[str, object]]:
        """(kind, message) for each non-progress event of a sidecar call; progress is reported."""
        for response in self.responses(call, service):
            kind = response.WhichOneof("event")
            if kind == "progress":
                p = response.progress
                self.report(EXPORT_SHARE + SIDECAR_SHARE * p.fraction_done, p.stage or service)
            else:
                yield kind, getattr(response, kind)

    def responses(self, call, service: str, when_cancelled: str = "nothing was added") -> Iterator:
        """The responses of a sidecar call that cancel() cancels; its errors as PluginError."""
        self.check()
        with self._lock:
            self._call = call
        try:
            yield from call
        except SidecarError as exc:
            if exc.code == grpc.StatusCode.CANCELLED and self.cancelled:
                raise CancelledError(f"cancelled; the sidecar stopped and {when_cancelled}") from None
            raise sidecar_error(exc, service) from None
        finally:
            with self._lock:
                self._call = None
        self.check()


def caption(
    audacity: Audacity, client: SidecarClient, options: CaptionOptions = CaptionOptions(), job: Job | None = None
) -> Outcome:
    """A label track of caption cues over the selection."""
    job = job or Job()
    with exported(audacity, job, channels=1) as (selection, wav):
        transcript, seconds = transcribe(client, wav, options, job, diarize=False)
        cues = _cues(transcript, selection.start)
        if not cues:
            return Outcome("no speech found: nothing was added", (), seconds)
        job.report(EXPORT_SHARE + SIDECAR_SHARE, "adding labels")
        track = audacity.add_label_track(options.track_name, [_label(c) for c in cues], selection, os.path.dirname(wav))
        audacity.record_undo_step(track)
    return Outcome(f"{counted(len(cues), 'caption')} in '{track.name}'", (track,), seconds)


def caption_speakers(
    audacity: Audacity, client: SidecarClient, options: CaptionOptions = CaptionOptions(), job: Job | None = None
) -> Outcome:
    """One label track of caption cues per speaker, named after the speaker."""
    job = job or Job()
    with exported(audacity, job, channels=1) as (selection, wav):
        transcript, seconds = transcribe(client, wav, options, job, diarize=True)
        by_speaker: dict[str, list[Label]] = {}
        for cue in _cues(transcript, selection.start):
            by_speaker.setdefault(cue.speaker or "Unknown speaker", []).append(_label(cue))
        if not by_speaker:
            return Outcome("no speech found: nothing was added", (), seconds)
        job.report(EXPORT_SHARE + SIDECAR_SHARE, "adding labels")
        tracks = tuple(
            audacity.add_label_track(name, labels, selection, os.path.dirname(wav))
            for name, labels in sorted(by_speaker.items())
        )
        audacity.record_undo_step(tracks[-1])
    return Outcome(f"{counted(len(tracks), 'speaker')}: {', '.join(t.name for t in tracks)}", tracks, seconds)


def denoise(
    audacity: Audacity, client: SidecarClient, options: DenoiseOptions = DenoiseOptions(), job: Job | None = None
) -> Outcome:
    """A new track "<name> (denoised)" per selected track, aligned with the selection."""
    options.validate()
    job = job or Job()
    proto = enhancement_pb2.EnhancementOptions(
        attenuation_limit_db=options.attenuation_limit_db, post_filter=options.post_filter
    )
    added, seconds = [], 0.0
    with workspace(audacity, job) as (selection, tmp):
        for n, track in enumerate(selection.tracks):
            wav = _export_track(audacity, selection, track, tmp, job)
            out = PcmWavWriter(result_path(tmp, n, f"{track.name} (denoised)"))
            call = client.enhance_stream(wav, options=proto, output_encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE)
            try:
                for kind, message in job.events(call, "denoising"):
                    if kind == "audio_chunk":
                        out.write(message)
                    elif kind == "summary":
                        seconds += _seconds(message.processing_duration)
            finally:
                out.close()
            added.append(out)
        tracks = import_all(audacity, selection.start, added, job)
    return Outcome(f"added {', '.join(repr(t.name) for t in tracks)}", tracks, seconds)


def split_stems(
    audacity: Audacity, client: SidecarClient, options: StemsOptions = StemsOptions(), job: Job | None = None
) -> Outcome:
    """One new track "<name> - <stem>" per stem of each selected track, aligned with the selection."""
    job = job or Job()
    proto = separation_pb2.SeparationOptions(
        model=options.model,
        model_repository=options.model_repository,
        stems=list(options.stems),
        output_encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE,
    )
    added, seconds = [], 0.0
    with workspace(audacity, job) as (selection, tmp):
        for n, track in enumerate(selection.tracks):
            wav = _export_track(audacity, selection, track, tmp, job)
            writers: dict[str, PcmWavWriter] = {}
            try:
                for kind, message in job.events(client.separate_stream(wav, options=proto), "separating stems"):
                    if kind == "stem_chunk":
                        if message.stem not in writers:
                            writers[message.stem] = PcmWavWriter(
                                result_path(tmp, f"{n}-{len(writers)}", f"{track.name} - {message.stem}")
                            )
                        writers[message.stem].write(message.audio)
                    elif kind == "summary":
                        seconds += _seconds(message.processing_duration)
            finally:
                for writer in writers.values():
                    writer.close()
            added += writers.values()
        tracks = import_all(audacity, selection.start, added, job)
    return Outcome(f"added {counted(len(tracks), 'stem track')}", tracks, seconds)


def export_subtitles(
    audacity: Audacity, output: str | os.PathLike, *, track_names: tuple[str, ...] = (), force: bool = False
) -> Outcome:
    """Writes label tracks as SRT or WebVTT; with several tracks each cue names its track's speaker.

    `track_names` picks label tracks by name; empty: every label track of the project.
    """
    output = pathlib.Path(output)
    writer = subtitles.WRITERS.get(output.suffix.lower())
    if writer is None:
        raise PluginError(f"{output}: subtitles must end in {' or '.join(subtitles.WRITERS)}")
    if output.exists() and not force:
        raise PluginError(f"{output} exists: choose another name (or --force to replace it)")
    tracks = [t for t in audacity.tracks() if t.kind == "label" and (not track_names or t.name in track_names)]
    if not tracks:
        wanted = f"named {', '.join(track_names)}" if track_names else "at all"
        raise EmptySelectionError(f"the project has no label tracks {wanted} to export")
    labels = audacity.labels()
    speakers = len(tracks) > 1
    cues = sorted(
        (
            subtitles.Cue(
                label.start,
                max(label.end, label.start + subtitles.MIN_CUE_SECONDS),
                subtitles.layout_lines(label.text),  # labels are one line; cues two of at most 42
                track.name if speakers else None,
            )
            for track in tracks
            for label in labels.get(track.index, [])
            if label.text.strip()
        ),
        key=lambda cue: (cue.start, cue.end),
    )
    outputs.write_text(output, writer(cues))  # the save dialog asked before replacing a file
    return Outcome(f"{output}: {counted(len(cues), 'cue')} from {', '.join(t.name for t in tracks)}")


def sidecar_error(exc: SidecarError, service: str) -> PluginError:
    """The user's words for a failed call: a missing service or sidecar reads differently from bad input."""
    if exc.code == grpc.StatusCode.UNIMPLEMENTED:
        error = SidecarUnavailableError(
            f"the sidecar does not offer {service} (UNIMPLEMENTED): update it or install the extra that provides it"
        )
    elif exc.code == grpc.StatusCode.UNAVAILABLE:  # its health check passed before the call: it went away since
        error = SidecarUnavailableError(f"the sidecar went away while {service} ({exc.details}); nothing was added")
    else:
        error = PluginError(f"the sidecar failed while {service}: {exc}")
    error.status = exc.code
    return error


# --- the pieces every action shares (creative.py's too) --------------------------------------


class workspace:
    """The selection and a private temporary directory; afterwards, whatever happened, the
    directory is removed and the user's selection put back (unless Audacity is gone).
    Actions that only add audio at the cursor pass needs_audio=False (see resolve_selection)."""

    def __init__(self, audacity: Audacity, job: Job, *, needs_audio: bool = True) -> None:
        self.audacity, self.job, self.needs_audio = audacity, job, needs_audio

    def __enter__(self) -> tuple[Selection, str]:
        self.job.report(0.0, "reading the selection")
        self.selection = self.audacity.selection(restore=False, needs_audio=self.needs_audio)
        self._tmp = tempfile.TemporaryDirectory(prefix="sidecar-audacity-")
        return self.selection, self._tmp.name

    def __exit__(self, exc_type, exc, traceback) -> None:
        self._tmp.cleanup()
        if exc_type is None or not issubclass(exc_type, (AudacityUnreachableError, AudacityStalledError)):
            self.audacity.restore(self.selection)


class exported(workspace):
    """The selection's selected tracks mixed into one WAV file in the workspace."""

    def __init__(self, audacity: Audacity, job: Job, channels: int) -> None:
        super().__init__(audacity, job)
        self.channels = channels

    def __enter__(self) -> tuple[Selection, str]:
        selection, tmp = super().__enter__()
        try:
            wav = os.path.join(tmp, "selection.wav")
            self.job.report(0.0, "exporting the selection")
            self.audacity.export(
                wav, selection.start, selection.end, [t.index for t in selection.tracks], self.channels
            )
            check_export(wav)
        except BaseException as exc:
            self.__exit__(type(exc), exc, exc.__traceback__)
            raise
        self.job.report(EXPORT_SHARE, "sending to the sidecar")
        return selection, wav


def _export_track(audacity: Audacity, selection: Selection, track: Track, tmp: str, job: Job) -> str:
    job.check()
    wav = os.path.join(tmp, f"track-{track.index}.wav")
    job.report(0.0, f"exporting '{track.name}'")
    audacity.export(wav, selection.start, selection.end, [track.index], max(1, track.channels))
    check_export(wav)
    return wav


def check_export(wav: str) -> None:
    try:
        duration = wav_duration(wav) if os.path.exists(wav) else 0.0
    except wave.Error as exc:  # Export2 writes WAV in the format last chosen in the export dialog
        raise PluginError(f"Audacity exported a WAV file the plugin cannot read ({exc}): {WAV_EXPORT_HINT}") from None
    if duration <= 0:
        raise EmptySelectionError("the selection is empty: select some audio (or nothing, for all of it)")


def result_path(tmp: str, key, track_name: str) -> str:
    """A WAV path whose file name is the new track's name: Audacity names imports after the file."""
    folder = os.path.join(tmp, f"result-{key}")
    os.mkdir(folder)
    name = track_name.replace(os.sep, "-").replace("\0", "")[:MAX_NAME_CHARS]
    return os.path.join(folder, name + ".wav")


def import_all(audacity: Audacity, at: float, results: list[PcmWavWriter], job: Job) -> tuple[Track, ...]:
    """The finished result files as new tracks whose audio starts at `at` (project time)."""
    job.check()
    job.report(EXPORT_SHARE + SIDECAR_SHARE, "adding tracks")
    if not results or any(writer.empty for writer in results):
        raise PluginError("the sidecar sent no audio back")
    return tuple(audacity.import_audio(writer.path, at) for writer in results)


def transcribe(
    client: SidecarClient, wav: str, options: CaptionOptions, job: Job, *, diarize: bool
) -> tuple[object, float]:
    proto = transcription_pb2.TranscriptionOptions(
        model=options.model, language_code=options.language, translate=options.translate, word_timestamps=True
    )
    service = "transcription"
    if diarize:
        proto.diarization.speaker_count = options.speaker_count  # even 0 asks for speaker labels
        proto.diarization.name_enrolled_speakers = options.known_speakers
        service = "transcription with speakers"
    info, segments, seconds = None, [], 0.0
    for kind, message in job.events(client.transcribe_stream(wav, options=proto), service):
        if kind == "info":
            info = message
        elif kind == "segment":
            segments.append(message)
        elif kind == "summary":
            seconds = _seconds(message.processing_duration)
    return Transcript(info, segments, None), seconds


def _cues(transcript, offset: float) -> list[subtitles.Cue]:
    """Cues in project time: the transcript's times start at the selection's start."""
    from sidecar_client.captions import cues_for

    return [dataclasses.replace(cue, start=cue.start + offset, end=cue.end + offset) for cue in cues_for(transcript)]


def _label(cue: subtitles.Cue) -> Label:
    return Label(cue.start, cue.end, " ".join(cue.lines))


def counted(count: int, noun: str) -> str:
    """ "1 caption", "2 captions"."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
