"""A music or sound cue from a prompt with MusicGen, optionally following a reference's melody
or continuing it, streamed as it is generated."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from sidecar.engines import musicgen
from sidecar.media import audio as media
from sidecar.runtime.events import Finished, Info, Item, JobEvent, Progress
from sidecar.runtime.threads import CancelToken

MAX_REFERENCE_UPLOAD_SECONDS = 600.0  # reference audio decoded at most; the model uses 10-30 s


@dataclasses.dataclass(frozen=True)
class CueStarted:
    """What a CueInfo reports, and the plan the summary's settings echo."""

    model: str
    device: str
    spec: media.PcmSpec  # of the audio chunks
    plan: musicgen.CuePlan


def generate_cue(runtime, upload, options: musicgen.CueOptions, model_name: str, encoding: str):
    """The GenerateCue job: Info(CueStarted), Items of CueChunk, Finished."""

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        try:
            yield Progress("loading model", 0.0, options.duration)
            engine = runtime.model(musicgen.MODEL_FAMILY, model_name)
            engine.check(options)
            reference = None
            if upload is not None:
                yield Progress("decoding reference", 0.0, options.duration)
                decoded = upload.decode(
                    sample_rate=engine.sample_rate, mono=False, max_seconds=MAX_REFERENCE_UPLOAD_SECONDS
                )
                reference = engine.reference(decoded.samples, options.reference_mode)
        finally:
            if upload is not None:
                upload.close()
        token.raise_if_cancelled()
        produced = 0.0
        with contextlib.closing(engine.generate(options, reference)) as steps:
            for step in steps:
                token.raise_if_cancelled()
                if isinstance(step, musicgen.CuePlan):
                    spec = media.PcmSpec(encoding, step.sample_rate, step.channel_count)
                    spec.validate()
                    yield Info(CueStarted(engine.name, engine.device, spec, step))
                elif isinstance(step, musicgen.CueStep):
                    fraction = step.step / step.step_count
                    yield Progress("generating", options.duration * fraction, options.duration, fraction=fraction)
                else:
                    produced = step.start + step.samples.shape[1] / spec.sample_rate
                    yield Item(step)
        yield Finished(produced)

    return pipeline
