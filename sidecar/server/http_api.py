"""The OpenAI-compatible HTTP API (`--http-port`, the `http` extra), for the tools that speak
OpenAI's audio API: POST /v1/audio/transcriptions (streamed as server-sent events with
`stream`), /v1/audio/translations and /v1/audio/speech (a saved voice), GET /v1/models.

Starlette on uvicorn, in the gRPC server's event loop. A request runs the same pipeline as
TranscribeFile or Synthesize, in the same job queue and under the same limits and token; only
the form in and the response formats out are this module's. Speech streams as it is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import tempfile

from sidecar import errors
from sidecar.config import ServerConfig
from sidecar.engines import whisper
from sidecar.pipelines.transcribe import transcribe_file
from sidecar.runtime.runtime import Runtime
from sidecar.server import http_speech
from sidecar.server.http_common import HttpError, until_disconnected
from sidecar.server.jobs import JobResponses, respond
from sidecar.server.upload import Upload
from sidecar_common import subtitles

log = logging.getLogger(__name__)

# OpenAI's model name: clients send it, and it means the server's default Whisper model.
OPENAI_MODEL = "whisper-1"
RESPONSE_FORMATS = ("json", "text", "srt", "vtt", "verbose_json")
TIMESTAMP_GRANULARITIES = ("segment", "word")
_COPY_BYTES = 1 << 20
# HTTP statuses for the sidecar's errors, as OpenAI's API uses them.
HTTP_STATUSES = {
    errors.InvalidAudioError: 400,
    errors.InvalidOptionsError: 400,
    errors.LimitExceededError: 413,
    errors.ModelNotFoundError: 404,
    errors.ModelUnavailableError: 400,
    errors.PermissionDeniedError: 403,
    errors.BusyError: 429,
    errors.ShuttingDownError: 503,
    errors.CancelledError: 499,
}


def application(runtime: Runtime):
    """The ASGI application over `runtime`."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
    from starlette.routing import Route

    config = runtime.config
    expected = f"Bearer {config.token}".encode() if config.token else None

    def authorize(request) -> None:
        if expected is None:
            return
        sent = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(sent, expected):
            reason = "wrong token" if sent else "missing token"
            raise HttpError(401, f"{reason}: send 'Authorization: Bearer <token>'", "authentication_error")

    def handled(endpoint):
        async def handler(request):
            try:
                authorize(request)
                return await endpoint(request)
            except HttpError as exc:
                return error_response(exc.status, str(exc), exc.kind, exc.headers)
            except errors.SidecarError as exc:
                status = next((s for cls, s in HTTP_STATUSES.items() if isinstance(exc, cls)), 500)
                busy = isinstance(exc, errors.BusyError)
                headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if busy else {}
                log.info("%s %s: %d: %s", request.method, request.url.path, status, exc)
                return error_response(status, str(exc), type(exc).__name__, headers)
            except Exception:
                log.exception("%s %s failed", request.method, request.url.path)
                return error_response(500, f"{request.url.path} failed inside the server (see its log)", "server_error")

        return handler

    def error_response(status: int, message: str, kind: str, headers=None):
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return JSONResponse(body, status_code=status, headers=headers)

    async def models(request):
        described = await asyncio.to_thread(runtime.describe_models)
        names = [m.name for m in described if "TRANSCRIPTION" in m.capabilities]
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "audio-sidecar"} for name in names]
        return JSONResponse({"object": "list", "data": [{**data[0], "id": OPENAI_MODEL}, *data] if data else []})

    async def transcriptions(request):
        return await transcribe(request, translate=False)

    async def translations(request):
        return await transcribe(request, translate=True)

    async def transcribe(request, translate: bool):
        form = await read_form(request, config)
        try:
            fields = TranscriptionForm.parse(form, translate)
            admission = runtime.jobs.admit()
            upload = await spooled(form["file"], admission, config)
        finally:
            await form.close()
        pipeline = transcribe_file(runtime, upload, fields.options, fields.model, None, config.max_audio_seconds)
        name = "translations" if translate else "transcriptions"
        job = respond(runtime, name, pipeline, TranscriptParts(), upload.admission)
        if fields.stream:
            # Errors up to the job's start (the model, the audio) still get their status.
            await until_disconnected(request, started(job))
            return StreamingResponse(text_events(job), media_type="text/event-stream")
        info, segments = await until_disconnected(request, results(job))
        body, media_type = render(fields, info, segments, translate)
        if media_type == "application/json":
            return JSONResponse(body)
        return PlainTextResponse(body, media_type=media_type)

    return Starlette(
        routes=[
            Route("/v1/models", handled(models), methods=["GET"]),
            Route("/v1/audio/transcriptions", handled(transcriptions), methods=["POST"]),
            Route("/v1/audio/translations", handled(translations), methods=["POST"]),
            Route("/v1/audio/speech", handled(http_speech.endpoint(runtime)), methods=["POST"]),
        ]
    )


class TranscriptParts(JobResponses):
    """The job's events as (kind, value): the HTTP response is built once the job is done."""

    response = None

    def progress(self, event):
        return ("progress", None)

    def info(self, started):
        return ("info", started.info)

    def items(self, segment):
        yield ("segment", segment)

    def summary(self, finished, elapsed):
        return ("summary", None)


async def started(job) -> None:
    """Runs the job up to its start: its info (the audio decoded, the model loaded)."""
    async for kind, _ in job:
        if kind == "info":
            return


async def text_events(job):
    """OpenAI's streamed transcription events: a transcript.text.delta per segment as the job
    makes it, then transcript.text.done with the whole text. Starlette cancels this when the
    client hangs up, and closing the job stops it."""
    said = []
    async with contextlib.aclosing(job):
        async for kind, segment in job:
            if kind == "segment" and segment.text.strip():
                delta = (" " if said else "") + segment.text.strip()
                said.append(delta)
                yield server_event({"type": "transcript.text.delta", "delta": delta})
    yield server_event({"type": "transcript.text.done", "text": "".join(said)})


def server_event(data: dict) -> bytes:
    return f"data: {json.dumps(data)}\n\n".encode()


async def results(job) -> tuple[whisper.TranscriptionInfo | None, list[whisper.Segment]]:
    info, segments = None, []
    async with contextlib.aclosing(job):
        async for kind, value in job:
            if kind == "info":
                info = value
            elif kind == "segment":
                segments.append(value)
    return info, segments


async def read_form(request, config: ServerConfig):
    """The multipart form, refused before it is read when it is larger than an upload may be:
    a body without a stated length is refused too, since it would be spooled whole first."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise HttpError(400, "send the audio as multipart/form-data with a `file` field")
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise HttpError(411, "a Content-Length is required")
    if int(length) > config.max_upload_bytes + _COPY_BYTES:  # room for the form's other fields
        raise HttpError(413, f"the upload exceeds the server's limit of {config.max_upload_bytes} bytes")
    return await request.form(max_files=1, max_fields=20)


class TranscriptionForm:
    """The form fields of a transcription or translation request, checked."""

    def __init__(self, options, model, response_format, words, stream) -> None:
        self.options: whisper.TranscriptionOptions = options
        self.model: str = model
        self.response_format: str = response_format
        self.words: bool = words
        self.stream: bool = stream  # server-sent events, a delta per segment

    @classmethod
    def parse(cls, form, translate: bool) -> TranscriptionForm:
        from starlette.datastructures import UploadFile

        if not isinstance(form.get("file"), UploadFile):
            raise HttpError(400, "the form needs a `file` field holding the audio")
        model = text_field(form, "model")
        response_format = text_field(form, "response_format") or "json"
        if response_format not in RESPONSE_FORMATS:
            formats = ", ".join(RESPONSE_FORMATS)
            raise HttpError(400, f"response_format {response_format[:40]!r} is not one of {formats}")
        granularities = [str(g) for g in form.getlist("timestamp_granularities[]")]
        unknown = [g for g in granularities if g not in TIMESTAMP_GRANULARITIES]
        if unknown:
            raise HttpError(400, f"timestamp_granularities {unknown[0][:40]!r} is not one of segment, word")
        stream = text_field(form, "stream") in ("true", "True", "1")
        if stream and response_format not in ("json", "text"):
            raise HttpError(
                400, f"stream sends text events: response_format must be json or text, not {response_format}"
            )
        options = whisper.TranscriptionOptions(
            language=None if translate else text_field(form, "language") or None,
            translate=translate,
            initial_prompt=text_field(form, "prompt") or None,
        )
        return cls(options, "" if model == OPENAI_MODEL else model, response_format, "word" in granularities, stream)


def text_field(form, name: str) -> str:
    value = form.get(name)
    if value is not None and not isinstance(value, str):
        raise HttpError(400, f"`{name}` must be a text field")
    return (value or "").strip()


async def spooled(file, admission, config: ServerConfig) -> Upload:
    """The form's file as an Upload, as the gRPC services read one (in memory up to 32 MiB)."""
    spool = tempfile.SpooledTemporaryFile(max_size=32 << 20)
    size = 0
    try:
        while chunk := await file.read(_COPY_BYTES):
            size += len(chunk)
            if size > config.max_upload_bytes:
                raise errors.LimitExceededError(
                    f"the upload exceeds the server's limit of {config.max_upload_bytes} bytes"
                )
            spool.write(chunk)
    except BaseException:
        spool.close()
        admission.close()
        raise
    return Upload(spool, size, None, file.filename or "", admission)


def render(form: TranscriptionForm, info, segments: list, translate: bool) -> tuple[object, str]:
    """(body, media type) in the response format asked for."""
    text = " ".join(s.text.strip() for s in segments if s.text.strip())
    match form.response_format:
        case "json":
            return {"text": text}, "application/json"
        case "text":
            return text + "\n", "text/plain"
        case "srt" | "vtt":
            words = [
                subtitles.TimedWord(w.text, w.start, w.end, w.speaker, w.probability) for s in segments for w in s.words
            ]
            cues = subtitles.build_cues(words, media_duration=info.duration if info else None)
            document = subtitles.format_srt(cues) if form.response_format == "srt" else subtitles.format_vtt(cues)
            return document, "text/plain" if form.response_format == "srt" else "text/vtt"
    body = {
        "task": "translate" if translate else "transcribe",
        "language": info.language if info else "",
        "duration": info.duration if info else 0.0,
        "text": text,
        "segments": [
            {
                "id": s.index,
                "seek": 0,
                "start": s.start,
                "end": s.end,
                "text": s.text,
                "tokens": [],
                "temperature": 0.0,
                "avg_logprob": s.average_log_probability,
                "compression_ratio": 0.0,
                "no_speech_prob": s.no_speech_probability,
            }
            for s in segments
        ],
    }
    if form.words:
        body["words"] = [{"word": w.text.strip(), "start": w.start, "end": w.end} for s in segments for w in s.words]
    return body, "application/json"


class HttpServer:
    """uvicorn serving the application in the running event loop. Signals stay the gRPC
    server's: they stop both."""

    def __init__(self, runtime: Runtime) -> None:
        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self):
                yield

        config = runtime.config
        self._server = Server(
            uvicorn.Config(
                application(runtime),
                host=config.http_host,
                port=config.http_port,
                lifespan="off",
                log_level="warning",
                # The form's limits are checked before it is read; this bounds the rest.
                h11_max_incomplete_event_size=64 * 1024,
                # The gRPC port's certificate, when it has one: the token never crosses in clear.
                ssl_certfile=config.tls_cert,
                ssl_keyfile=config.tls_key,
            )
        )
        self._task: asyncio.Task | None = None
        self.port = 0

    async def start(self) -> HttpServer:
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"the HTTP API could not start on port {self._server.config.port}")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
