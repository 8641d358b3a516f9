"""Captions for a file: Whisper, then, when asked, speaker labels from the diarization pipeline."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

from sidecar.engines import diarization, speakers, whisper
from sidecar.errors import InvalidOptionsError
from sidecar.pipelines import sentence_translation
from sidecar.pipelines.decoding import decoded_mono
from sidecar.pipelines.diarize import turns_for
from sidecar.runtime.events import Finished, Info, Item, JobEvent, Progress
from sidecar.runtime.priority import current_priority
from sidecar.runtime.threads import CancelToken


@dataclasses.dataclass(frozen=True)
class TranscriptionStarted:
    """What a TranscriptionInfo reports: the detected language and the model that runs."""

    info: whisper.TranscriptionInfo
    model: str
    device: str


def transcribe_file(
    runtime,
    upload,
    options: whisper.TranscriptionOptions,
    model_name: str,
    speaker_options: diarization.DiarizationOptions | None,
    max_seconds: float,
    translation: sentence_translation.SpeechTranslation | None = None,
):
    """The TranscribeFile job: Info(TranscriptionStarted), an Item per Segment, with a
    translation an Item per TranslatedSentence after the segment that completes it, Finished."""
    if translation is not None and (options.translate or options.language_per_segment):
        raise InvalidOptionsError(
            "translation takes the transcript in one language: not with `translate` or `language_per_segment`"
        )

    def pipeline(token: CancelToken) -> Iterator[JobEvent]:
        audio = yield from decoded_mono(upload, whisper.SAMPLE_RATE, max_seconds, token)
        yield Progress("loading model", 0.0, audio.duration)
        engine = runtime.whisper(model_name)
        translator = None
        if translation is not None:
            translator = sentence_translation.sentence_translator(runtime, translation, options.language, engine)
        priority = current_priority()

        def translated(sentence: sentence_translation.Sentence) -> Iterator[JobEvent]:
            with runtime.gate.turn(priority, lambda: token.cancelled):
                results = translator.translate(sentence)
            for result in results:
                yield Item(result)

        info, segments = engine.transcribe(
            audio.mono(), options, turn=lambda: runtime.gate.turn(priority, lambda: token.cancelled)
        )
        if speaker_options is not None:
            diarized = yield from turns_for(
                runtime,
                speaker_options,
                audio.mono(),
                token,
                stage_prefix="diarizing: ",
                total_seconds=audio.duration,
                share=0.0,
            )
            segments = speakers.label_segments(segments, diarized.caption_turns)
        yield Info(TranscriptionStarted(info, engine.name, engine.device))
        gathered = sentence_translation.Sentences()
        for segment in segments:  # closed with the pipeline, which stops pieces decoding side by side
            token.raise_if_cancelled()
            yield Item(segment)
            if translator is not None:
                words = segment.words or (whisper.Word(f" {segment.text.strip()}", segment.start, segment.end, 1.0),)
                for sentence in gathered.add(words):
                    yield from translated(sentence)
            yield Progress(
                "transcribing",
                segment.end,
                info.duration,
                fraction=segment.end / info.duration if info.duration else 1.0,
            )
        for sentence in gathered.flush():  # nothing gathered without a translator
            yield from translated(sentence)
        yield Finished(info.duration)

    return pipeline
