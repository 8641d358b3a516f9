"""Speech in a cloned voice (XTTS v2), streamed sentence by sentence, and voice conditioning."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

from sidecar.engines import xtts
from sidecar.errors import InvalidOptionsError, LimitExceededError
from sidecar.media import audio as media
from sidecar.runtime import voices
from sidecar.runtime.events import Finished, Info, Item, JobEvent, Progress
from sidecar.runtime.threads import CancelToken

MAX_REFERENCE_UPLOAD_SECONDS = 600.0  # reference audio decoded at most; the model uses 30 s


@dataclasses.dataclass(frozen=True)
class SynthesisStarted:
    """What a SynthesisInfo reports."""

    model: str
    device: str
    spec: media.PcmSpec  # of the audio chunks
    sentences: tuple[str, ...]
    language: str


def engine_for(runtime, model_name: str) -> xtts.XttsEngine:
    """The loaded engine for a model name, after the licence check (every resolve makes it)."""
    return runtime.model(xtts.MODEL_FAMILY, model_name)


def check_reference_length(audio: media.Audio) -> None:
    if audio.duration > MAX_REFERENCE_UPLOAD_SECONDS:
        raise LimitExceededError(
            f"the reference audio is {audio.duration:.0f} s long; at most "
            f"{MAX_REFERENCE_UPLOAD_SECONDS:g} s may be sent (the model uses the first 30 s)"
        )


def saved_conditioning(record: voices.VoiceRecord, arrays: dict, engine: xtts.XttsEngine) -> xtts.Conditioning:
    if record.model_fingerprint != engine.fingerprint:
        raise InvalidOptionsError(
            f"voice {record.voice_id!r} was made for model {record.model!r}, not "
            f"{engine.name!r}: leave the model unset, or create the voice again for this model"
        )
    names = [f.name for f in dataclasses.fields(xtts.Conditioning)]
    if sorted(arrays) != sorted(names):
        raise InvalidOptionsError(f"voice {record.voice_id!r} holds no XTTS conditioning: create it again")
    return xtts.Conditioning(**arrays)


def synthesize(
    runtime,
    text: str,
    options: xtts.SynthesisOptions,
    model_name: str,
    encoding: str,
    saved: tuple[voices.VoiceRecord, dict] | None,
    reference: Callable[[], media.Audio] | None,
):
    """The Synthesize job: Info(SynthesisStarted), Items of SpeechChunk and SpokenSentence,
    Finished. The voice is a saved one, or conditioned on reference() in the job."""

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        yield Progress("loading model")
        engine = engine_for(runtime, model_name)
        sentences = engine.plan(text, options)
        spec = media.PcmSpec(encoding, engine.sample_rate, 1)
        spec.validate()
        if saved:
            voice = saved_conditioning(*saved, engine)
        else:
            yield Progress("conditioning voice")
            audio = reference()
            check_reference_length(audio)
            voice = engine.condition(audio.mono())
        token.raise_if_cancelled()
        yield Info(SynthesisStarted(engine.name, engine.device, spec, tuple(sentences), options.primary_language))
        produced = 0.0
        for spoken in engine.synthesize(sentences, voice, options):
            token.raise_if_cancelled()
            yield Item(spoken)
            if isinstance(spoken, xtts.SpokenSentence):
                produced = spoken.end
                yield Progress("synthesizing", spoken.end, fraction=(spoken.index + 1) / len(sentences))
        yield Finished(produced)

    return pipeline


def create_voice(
    runtime,
    upload,
    model_name: str,
    save: Callable[[xtts.XttsEngine, media.Audio, xtts.Conditioning], voices.VoiceRecord],
):
    """The CreateVoice job: conditions the model on the uploaded reference; Finished(record)."""

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        try:
            audio = upload.decode(
                sample_rate=xtts.REFERENCE_SAMPLE_RATE, mono=True, max_seconds=MAX_REFERENCE_UPLOAD_SECONDS
            )
        finally:
            upload.close()
        check_reference_length(audio)
        token.raise_if_cancelled()
        yield Progress("conditioning voice", 0.0, audio.duration)
        engine = engine_for(runtime, model_name)
        conditioning = engine.condition(audio.mono())
        yield Finished(audio.duration, save(engine, audio, conditioning))

    return pipeline
