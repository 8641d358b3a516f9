"""The creative actions: speech in a cloned voice, a fixed phrase, generated cues, event markers.

Like the other actions they only read the user's tracks and add NEW ones at the cursor (the
selection's start). A cue's label carries its complete settings as text (see settings_text)
so the same cue can be generated again exactly.

About 480 lines on purpose: the four actions share their dialogs' settings text, the cursor
placement and the new-track rules, which must not drift apart.
"""

from __future__ import annotations

import array
import dataclasses
import os
import shlex
import struct
import sys
import time

import grpc

from sidecar.v1 import audio_pb2, cues_pb2, events_pb2, synthesis_pb2
from sidecar_audacity import voicematch
from sidecar_audacity.actions import (
    EXPORT_SHARE,
    SIDECAR_SHARE,
    WAV_EXPORT_HINT,
    CaptionOptions,
    Job,
    Outcome,
    check_export,
    counted,
    exported,
    import_all,
    result_path,
    transcribe,
    workspace,
)
from sidecar_audacity.audacity import Audacity, Label, Selection, Track
from sidecar_audacity.errors import PluginError
from sidecar_audacity.wavio import PcmWavWriter, f32_samples, read_pcm16, write_pcm16
from sidecar_client import SidecarClient
from sidecar_common.durations import seconds as _seconds
from sidecar_common.durations import span as _span
from sidecar_common.limits import DEFAULT_CUE_SECONDS, MAX_CUE_SECONDS, MAX_TEXT_CHARS
from sidecar_common.subtitles import TimedWord

CONTEXT_SECONDS = 60.0  # Fix phrase transcribes this much of the track on each side of the selection
CUE_LABEL_TRACK = "Cue settings"
EVENTS_TRACK = "Events"
NAME_TEXT_CHARS = 40  # of the text or prompt in a new track's name
REFERENCE_MODES = {
    "": cues_pb2.REFERENCE_MODE_UNSPECIFIED,
    "melody": cues_pb2.REFERENCE_MODE_MELODY,
    "continuation": cues_pb2.REFERENCE_MODE_CONTINUATION,
}
NO_DIARIZATION = (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.FAILED_PRECONDITION)


@dataclasses.dataclass(frozen=True)
class SayOptions:
    text: str = ""  # what to say, 1 to MAX_TEXT_CHARS characters
    language: str = "en"  # BCP-47 language of the text
    voice_id: str = ""  # a saved voice; empty: the selection (6 s or more of one speaker) is the voice
    model: str = ""  # XTTS model name or server directory; empty: the voice's or the sidecar's default
    seed: int | None = None  # for repeatable speech; None: random
    max_sentence_seconds: float = 0.0  # longest speech per sentence; 0: the sidecar's bound from the text

    def validate(self) -> None:
        _check_text(self.text, "nothing to say: type the text to speak")


@dataclasses.dataclass(frozen=True)
class FixPhraseOptions:
    correction: str = ""  # what the selected phrase should have said
    language: str = ""  # BCP-47 language; empty: the one the transcription detects
    model: str = ""  # XTTS model, as SayOptions.model
    transcription_model: str = ""  # Whisper model; empty: the sidecar's default
    speaker_count: int = 0  # how many speak on the track; 0: let the sidecar decide
    seed: int | None = None
    max_sentence_seconds: float = 0.0

    def validate(self) -> None:
        _check_text(self.correction, "the correction is empty: type what the phrase should say")


@dataclasses.dataclass(frozen=True)
class CueOptions:
    prompt: str = ""  # what to generate, e.g. "calm piano bed"
    duration: float = DEFAULT_CUE_SECONDS  # at the cursor or after a continued selection; else the selection's
    model: str = ""  # MusicGen model name or server directory; empty: the sidecar's default
    seed: int | None = None  # None: random, and written into the label
    guidance: float | None = None  # classifier-free guidance scale; None: the sidecar's default (3)
    top_k: int | None = None
    top_p: float | None = None
    temperature: float | None = None
    reference: str = ""  # what the selection is for: "" nothing, "melody" or "continuation"

    def validate(self) -> None:
        if not self.prompt.strip():
            raise PluginError("the prompt is empty: say what to generate")
        if self.reference not in REFERENCE_MODES:
            raise PluginError(f"the reference must be melody or continuation, not {self.reference!r}")
        if not 0 < self.duration <= MAX_CUE_SECONDS:
            raise PluginError(f"a cue lasts up to {MAX_CUE_SECONDS:g} s, not {self.duration:g} s")


@dataclasses.dataclass(frozen=True)
class EventOptions:
    model: str = ""  # "ast-audioset", "clap" or a server directory; empty: the sidecar's default
    labels: tuple[str, ...] = ()  # AudioSet classes, or anything with CLAP; empty: the model's defaults
    threshold: float | None = None  # smallest score that marks a window; None: the sidecar's default
    track_name: str = EVENTS_TRACK


def say(
    audacity: Audacity, client: SidecarClient, options: SayOptions = SayOptions(), job: Job | None = None
) -> Outcome:
    """Speech on a new track at the cursor, in a saved voice or the selected speaker's."""
    options.validate()
    job = job or Job()
    with workspace(audacity, job, needs_audio=False) as (selection, tmp):
        reference = None
        if not options.voice_id:
            if not selection.tracks:
                raise PluginError("the project has no audio to clone a voice from: give a saved voice id")
            if selection.whole_project or selection.duration < voicematch.MIN_REFERENCE_SECONDS:
                had = "nothing is" if selection.whole_project else f"{selection.duration:.1f} s is"
                raise PluginError(
                    f"{had} selected: select {voicematch.MIN_REFERENCE_SECONDS:g} s or more "
                    "of one speaker to clone, or give a saved voice id"
                )
            reference = os.path.join(tmp, "reference.wav")
            # More than the target adds little to the voice and makes the upload larger.
            end = min(selection.end, selection.start + voicematch.TARGET_REFERENCE_SECONDS)
            audacity.export(reference, selection.start, end, [t.index for t in selection.tracks], 1)
            check_export(reference)
        writer = PcmWavWriter(result_path(tmp, 0, f"Speech - {_short(options.text)}"))
        call = client.synthesize_stream(
            options.text,
            options.language,
            voice_id=options.voice_id,
            reference=reference,
            options=_synthesis_options(options),
        )
        try:
            speech = _collect(job, call, "synthesizing speech", writer.write)
        finally:
            writer.close()
        tracks = import_all(audacity, _cursor(selection), [writer], job)
    return Outcome(
        f"added '{tracks[0].name}': {writer.frames / speech.rate:.1f} s, first audio after {speech.first_audio:.2f} s",
        tracks,
        speech.sidecar_seconds,
        speech.first_audio,
    )


def fix_phrase(
    audacity: Audacity, client: SidecarClient, options: FixPhraseOptions = FixPhraseOptions(), job: Job | None = None
) -> Outcome:
    """The correction in the selected speaker's voice on a new track "<name> (fixed)" at the selection."""
    options.validate()
    job = job or Job()
    with workspace(audacity, job) as (selection, tmp):
        track = _one_track(selection)
        origin = max(track.start, selection.start - CONTEXT_SECONDS)
        context = os.path.join(tmp, "context.wav")
        job.report(0.0, f"exporting '{track.name}' around the selection")
        audacity.export(context, origin, min(track.end, selection.end + CONTEXT_SECONDS), [track.index], 1)
        check_export(context)
        words, language, note = _words(client, context, options, job)
        start, end = selection.start - origin, selection.end - origin
        reference = voicematch.choose_reference(words, start, end)
        voice_wav, target_rms = _voice(context, reference, start, end)
        call = client.synthesize_stream(
            options.correction,
            options.language or language,
            reference=voice_wav,
            transcript=reference.transcript,
            options=_synthesis_options(options),
        )
        chunks: list[audio_pb2.AudioChunk] = []
        speech = _collect(job, call, "synthesizing the correction", chunks.append)
        writer = PcmWavWriter(result_path(tmp, 0, f"{track.name} (fixed)"))
        try:
            gain = _write_matched(writer, chunks, target_rms)
        finally:
            writer.close()
        tracks = import_all(audacity, selection.start, [writer], job)
    who = f"{reference.speaker}'s" if reference.speaker else "the speaker's"
    limited = f" (limited by {gain.limited_by})" if gain.limited_by else ""
    return Outcome(
        f"added '{tracks[0].name}' in {who} voice from {reference.seconds:.1f} s of reference, "
        f"gain {gain.db:+.1f} dB{limited}{note}",
        tracks,
        speech.sidecar_seconds,
        speech.first_audio,
        tuple((origin + r.start, origin + r.end) for r in reference.regions),
    )


def generate_cue(
    audacity: Audacity, client: SidecarClient, options: CueOptions = CueOptions(), job: Job | None = None
) -> Outcome:
    """A generated cue on a new track, labelled with its settings.

    With a cursor: `duration` seconds at it. Over a selection: as long as the selection, its
    audio optionally the melody to follow; continuing the selection: `duration` seconds after it.
    """
    options.validate()
    job = job or Job()
    with workspace(audacity, job, needs_audio=False) as (selection, tmp):
        over = not selection.whole_project
        continuing = options.reference == "continuation"
        if options.reference and not over:
            raise PluginError(f"a {options.reference} cue needs selected audio: select it first")
        duration = options.duration if continuing or not over else selection.duration
        if duration > MAX_CUE_SECONDS:
            raise PluginError(f"the selection is {duration:.1f} s: a cue lasts up to {MAX_CUE_SECONDS:g} s")
        at = selection.end if continuing else _cursor(selection)
        reference = None
        if options.reference:
            reference = os.path.join(tmp, "reference.wav")
            audacity.export(reference, selection.start, selection.end, [t.index for t in selection.tracks], 1)
            check_export(reference)
        writer = PcmWavWriter(result_path(tmp, 0, f"Cue - {_short(options.prompt)}"))
        call = client.generate_cue(
            cue_settings(options, duration), reference=reference, output_encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE
        )
        try:
            cue = _collect(job, call, "generating the cue", writer.write)
        finally:
            writer.close()
        tracks = import_all(audacity, at, [writer], job)
        placed = tracks[0]
        anchor = Selection(placed.start, placed.end, (placed,), False, (placed.start, placed.end), (placed.index,))
        label = Label(placed.start, placed.end, settings_text(cue.summary.settings))
        tracks += (audacity.add_label_track(CUE_LABEL_TRACK, [label], anchor, tmp),)
        audacity.record_undo_step(tracks[-1])
    return Outcome(
        f"added '{placed.name}' (seed {cue.summary.settings.seed}); settings in '{CUE_LABEL_TRACK}'",
        tracks,
        cue.sidecar_seconds,
        cue.first_audio,
    )


def mark_events(
    audacity: Audacity, client: SidecarClient, options: EventOptions = EventOptions(), job: Job | None = None
) -> Outcome:
    """A label track of sound events ("Laughter 0.87") over the selection, in project time."""
    job = job or Job()
    proto = events_pb2.EventDetectionOptions(model=options.model, labels=list(options.labels))
    if options.threshold is not None:
        proto.threshold = options.threshold
    labels, seconds = [], 0.0
    with exported(audacity, job, channels=1) as (selection, wav):
        for kind, message in job.events(client.detect_events(wav, options=proto), "detecting events"):
            if kind == "region":
                span = message.time_range
                labels.append(
                    Label(
                        selection.start + _seconds(span.start_offset),
                        selection.start + _seconds(span.end_offset),
                        f"{message.label} {message.score:.2f}",
                    )
                )
            elif kind == "summary":
                seconds = _seconds(message.processing_duration)
        if not labels:
            return Outcome("no events found: nothing was added", (), seconds)
        job.report(EXPORT_SHARE + SIDECAR_SHARE, "adding labels")
        labels.sort(key=lambda label: (label.start, label.text))
        track = audacity.add_label_track(options.track_name, labels, selection, os.path.dirname(wav))
        audacity.record_undo_step(track)
    return Outcome(f"{counted(len(labels), 'event')} in '{track.name}'", (track,), seconds)


# --- cue settings as label text -------------------------------------------------------------


def cue_settings(options: CueOptions, duration: float) -> cues_pb2.CueSettings:
    settings = cues_pb2.CueSettings(
        model=options.model, prompt=options.prompt, reference_mode=REFERENCE_MODES[options.reference]
    )
    settings.audio_duration.FromNanoseconds(round(duration * 1e9))
    for field, value in (
        ("seed", options.seed),
        ("guidance_scale", options.guidance),
        ("top_k", options.top_k),
        ("top_p", options.top_p),
        ("temperature", options.temperature),
    ):
        if value is not None:
            setattr(settings, field, value)
    return settings


# label key -> CueSettings field, in the order the label lists them (prompt comes first)
SETTING_KEYS = {
    "model": "model",
    "duration": "audio_duration",
    "seed": "seed",
    "guidance": "guidance_scale",
    "top_k": "top_k",
    "top_p": "top_p",
    "temperature": "temperature",
    "reference": "reference_mode",
    "sha256": "reference_sha256",
}


def settings_text(settings: cues_pb2.CueSettings) -> str:
    """`prompt | model=… duration=… seed=… guidance=…`: every set field, floats as the shortest
    text that reads back to the same float32, so settings_from_text gives the same settings."""
    pairs = []
    for key, field in SETTING_KEYS.items():
        if field == "audio_duration":
            if not settings.HasField(field):
                continue
            value = repr(settings.audio_duration.ToNanoseconds() / 1e9)
        elif field == "reference_mode":
            if not settings.reference_mode:
                continue
            value = cues_pb2.ReferenceMode.Name(settings.reference_mode).removeprefix("REFERENCE_MODE_").lower()
        elif settings.HasField(field) if field in _OPTIONAL else getattr(settings, field):
            value = getattr(settings, field)
            value = _float32_text(value) if isinstance(value, float) else str(value)
        else:
            continue
        pairs.append(f"{key}={shlex.quote(value)}")
    return f"{' '.join(settings.prompt.split())} | {' '.join(pairs)}"


def settings_from_text(text: str) -> cues_pb2.CueSettings:
    """The CueSettings a cue label carries (see settings_text)."""
    prompt, sep, rest = text.rpartition(" | ")
    if not sep:
        raise PluginError("this label carries no cue settings (expected 'prompt | key=value ...')")
    settings = cues_pb2.CueSettings(prompt=prompt)
    for pair in shlex.split(rest):
        key, _, value = pair.partition("=")
        field = SETTING_KEYS.get(key)
        if field is None:
            raise PluginError(f"unknown cue setting {key!r} in the label")
        if field == "audio_duration":
            settings.audio_duration.FromNanoseconds(round(float(value) * 1e9))
        elif field == "reference_mode":
            settings.reference_mode = cues_pb2.ReferenceMode.Value("REFERENCE_MODE_" + value.upper())
        else:
            kind = type(getattr(cues_pb2.CueSettings(), field))
            setattr(settings, field, kind(value))
    return settings


_OPTIONAL = {"seed", "guidance_scale", "top_k", "top_p", "temperature"}


def _float32_text(value: float) -> str:
    exact = struct.pack("<f", value)
    for digits in range(1, 10):
        text = f"{value:.{digits}g}"
        if struct.pack("<f", float(text)) == exact:
            return text
    return repr(value)


# --- the pieces the creative actions share --------------------------------------------------


@dataclasses.dataclass
class _Generated:
    rate: int = 0
    first_audio: float = 0.0  # seconds from the call to the first chunk, as the plugin saw it
    sidecar_seconds: float = 0.0
    summary: object = None


def _collect(job: Job, call, service: str, on_chunk) -> _Generated:
    """Runs a generating call, handing each audio chunk to on_chunk as it arrives."""
    result, began = _Generated(), time.monotonic()
    for kind, message in job.events(call, service):
        if kind == "audio":
            if not result.rate:
                result.rate, result.first_audio = message.format.sample_rate_hertz, time.monotonic() - began
            on_chunk(message)
        elif kind == "summary":
            result.summary, result.sidecar_seconds = message, _seconds(message.processing_duration)
    if not result.rate:
        raise PluginError(f"the sidecar sent no audio while {service}")
    return result


def _voice(context: str, reference: voicematch.Reference, start: float, end: float) -> tuple[str, float]:
    """The reference speech cut from the context export into a WAV file beside it, and the
    speech loudness of the speaker around the selection (the reference and the phrase itself)."""
    try:
        rate, pcm = read_pcm16(context)
    except ValueError as exc:
        raise PluginError(f"could not read Audacity's export: {exc}; {WAV_EXPORT_HINT}") from None
    voice = array.array("h")
    for region in reference.regions:
        voice += pcm[round(region.start * rate) : round(region.end * rate)]
    path = os.path.join(os.path.dirname(context), "voice.wav")
    write_pcm16(path, rate, voice)
    return path, voicematch.speech_rms(voice + pcm[round(start * rate) : round(end * rate)], rate, 1 << 15)


def _write_matched(writer: PcmWavWriter, chunks: list[audio_pb2.AudioChunk], target_rms: float) -> voicematch.Gain:
    """Writes the float chunks with the gain that brings their speech to the target loudness."""
    samples = array.array("f")
    for chunk in chunks:
        samples += f32_samples(chunk.data)
    rate = chunks[0].format.sample_rate_hertz
    gain = voicematch.matching_gain(
        target_rms, voicematch.speech_rms(samples, rate), max(map(abs, samples), default=0.0)
    )
    matched = array.array("f", (x * gain.factor for x in samples))
    if sys.byteorder == "big":
        matched.byteswap()
    writer.write(audio_pb2.AudioChunk(format=chunks[0].format, data=matched.tobytes()))
    return gain


def _synthesis_options(options: SayOptions | FixPhraseOptions) -> synthesis_pb2.SynthesisOptions:
    # Float samples: Fix phrase scales them to match the loudness around the selection.
    proto = synthesis_pb2.SynthesisOptions(model=options.model, output_encoding=audio_pb2.AUDIO_ENCODING_PCM_F32LE)
    if options.seed is not None:
        proto.seed = options.seed
    if options.max_sentence_seconds:
        proto.max_sentence_duration.FromNanoseconds(round(options.max_sentence_seconds * 1e9))
    return proto


def _words(client: SidecarClient, wav: str, options: FixPhraseOptions, job: Job) -> tuple[list[TimedWord], str, str]:
    """The words around the selection with their speakers (none when the sidecar cannot
    diarize), the detected language, and a note for the outcome."""
    caption = CaptionOptions(
        model=options.transcription_model, language=options.language, speaker_count=options.speaker_count
    )
    note = ""
    try:
        transcript, _ = transcribe(client, wav, caption, job, diarize=True)
    except PluginError as exc:
        if exc.status not in NO_DIARIZATION:
            raise
        transcript, _ = transcribe(client, wav, caption, job, diarize=False)
        note = f"; without speakers ({exc})"
    words = [
        TimedWord(w.text, *_span(w.time_range), w.speaker_label or None) for s in transcript.segments for w in s.words
    ]
    if not words:  # a sidecar without word timings: whole segments
        words = [TimedWord(s.text, *_span(s.time_range), s.speaker_label or None) for s in transcript.segments]
    language = transcript.info.language_code if transcript.info else ""
    return words, language or "en", note


def _one_track(selection: Selection) -> Track:
    if selection.whole_project:
        raise PluginError("select the misspoken phrase on its track first")
    if len(selection.tracks) != 1:
        raise PluginError(f"select the phrase on one track, not {len(selection.tracks)}")
    return selection.tracks[0]


def _cursor(selection: Selection) -> float:
    """Where new audio goes: the selection's start, or the cursor when no audio is selected."""
    return selection.user_range[0] if selection.whole_project else selection.start


def _check_text(text: str, empty: str) -> None:
    if not text.strip():
        raise PluginError(empty)
    if len(text) > MAX_TEXT_CHARS:
        raise PluginError(f"the text has {len(text)} characters; at most {MAX_TEXT_CHARS} can be spoken at once")


def _short(text: str) -> str:
    words = " ".join(text.split())
    return words if len(words) <= NAME_TEXT_CHARS else words[: NAME_TEXT_CHARS - 3].rstrip() + "..."
