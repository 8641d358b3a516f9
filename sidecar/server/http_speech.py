"""POST /v1/audio/speech of the OpenAI-compatible HTTP API: speech in a voice saved on the
server, streamed while the Synthesize pipeline makes it, encoded as the request asks."""

from __future__ import annotations

import asyncio
import contextlib
import json

from sidecar import errors
from sidecar.engines import xtts, xtts_models
from sidecar.media import audio as media
from sidecar.media import stream_encoding
from sidecar.pipelines.synthesize import synthesize
from sidecar.runtime import voices
from sidecar.runtime.runtime import Runtime
from sidecar.server.http_common import HttpError, until_disconnected
from sidecar.server.jobs import JobResponses, respond

# OpenAI's model names: clients send them, and they mean the model the saved voice was made with.
OPENAI_SPEECH_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
MAX_SPEECH_REQUEST_BYTES = 64 << 10


def endpoint(runtime: Runtime):
    """The speech endpoint over `runtime`."""
    from starlette.responses import StreamingResponse

    config = runtime.config
    store = voices.VoiceStore(config.voices_dir)

    async def speech(request):
        fields = SpeechRequest.parse(await read_json(request))
        xtts_models.require_license(config.agree_coqui_license)
        saved = await asyncio.to_thread(store.get, fields.voice)
        model = fields.model or saved[0].model
        pipeline = synthesize(runtime, fields.text, fields.options, model, media.PCM_F32LE, saved, None)
        job = respond(runtime, "speech", pipeline, SpeechParts())
        # The status can change only until the first byte: the job's errors up to its first
        # audio (a model that cannot load, a bad language) are answered as errors.
        sample_rate = await until_disconnected(request, first_info(job))
        encoder = stream_encoding.StreamEncoder(fields.response_format, sample_rate)
        return StreamingResponse(encoded(job, encoder), media_type=stream_encoding.MEDIA_TYPES[fields.response_format])

    return speech


class SpeechParts(JobResponses):
    """The synthesis job's events as (kind, value): its sample rate, then its audio blocks."""

    response = None

    def progress(self, event):
        return ("progress", None)

    def info(self, started):
        return ("info", started.spec.sample_rate)

    def items(self, spoken):
        if isinstance(spoken, xtts.SpeechChunk):
            yield ("audio", spoken.samples)

    def summary(self, finished, elapsed):
        return ("summary", None)


async def first_info(job) -> int:
    """Runs the job up to its start (model loaded, voice ready): the sample rate."""
    async for kind, value in job:
        if kind == "info":
            return value
    raise errors.ModelUnavailableError("the synthesis ended before it started")


async def encoded(job, encoder: stream_encoding.StreamEncoder):
    """The rest of the job's audio, encoded block by block. Starlette cancels this when the
    client hangs up, and closing the job stops it."""
    async with contextlib.aclosing(job):
        async for kind, value in job:
            if kind == "audio" and (data := encoder.encode(value)):
                yield data
        yield encoder.finish()


async def read_json(request) -> dict:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HttpError(411, "a Content-Length is required")
    if int(length) > MAX_SPEECH_REQUEST_BYTES:
        raise HttpError(413, f"the request exceeds {MAX_SPEECH_REQUEST_BYTES} bytes")
    try:
        body = json.loads(await request.body())
    except ValueError:
        raise HttpError(400, "send the request as a JSON object") from None
    if not isinstance(body, dict):
        raise HttpError(400, "send the request as a JSON object")
    return body


class SpeechRequest:
    """The JSON body of a speech request, checked: `voice` names a voice saved on the server,
    and `language` (this server's own field, `extra_body` in OpenAI's client) the text's."""

    def __init__(self, text, voice, model, response_format, options) -> None:
        self.text: str = text
        self.voice: str = voice
        self.model: str = model
        self.response_format: str = response_format
        self.options: xtts.SynthesisOptions = options

    @classmethod
    def parse(cls, body: dict) -> SpeechRequest:
        def text(name: str, default: str = "") -> str:
            value = body.get(name, default)
            if not isinstance(value, str):
                raise HttpError(400, f"`{name}` must be a string")
            return value.strip()

        voice = text("voice")
        if not voice:
            raise HttpError(400, "`voice` is required: the id of a voice saved on the server (ListVoices)")
        response_format = text("response_format", "mp3")
        if response_format not in stream_encoding.FORMATS:
            raise HttpError(
                400, f"response_format {response_format[:40]!r} is not one of {', '.join(stream_encoding.FORMATS)}"
            )
        speed = body.get("speed", 1.0)
        if isinstance(speed, bool) or not isinstance(speed, (int, float)):
            raise HttpError(400, "`speed` must be a number")
        model = text("model")
        options = xtts.SynthesisOptions(language=text("language", "en"), speed=float(speed))
        return cls(
            xtts.check_text(text("input")),
            voice,
            "" if model in OPENAI_SPEECH_MODELS else model,
            response_format,
            options,
        )
