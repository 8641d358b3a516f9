"""Client calls for the sidecar's services, with chunked uploads and progress callbacks.

About 640 lines on purpose: one SidecarClient with a method per RPC, so every call shares one
channel, token, upload chunker, error mapping and busy-server retry.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sidecar.v1 import (
    audio_pb2,
    cues_pb2,
    cues_pb2_grpc,
    diarization_pb2,
    diarization_pb2_grpc,
    enhancement_pb2,
    enhancement_pb2_grpc,
    events_pb2,
    events_pb2_grpc,
    models_pb2,
    models_pb2_grpc,
    separation_pb2,
    separation_pb2_grpc,
    streaming_recognition_pb2,
    streaming_recognition_pb2_grpc,
    synthesis_pb2,
    synthesis_pb2_grpc,
    transcription_pb2,
    transcription_pb2_grpc,
    translation_pb2,
    translation_pb2_grpc,
)
from sidecar_common.limits import PRIORITY_METADATA, REQUEST_ID_METADATA, RETRY_DELAY_METADATA

DEFAULT_ADDRESS = "127.0.0.1:50051"
CHUNK_BYTES = 1 << 20  # well under the server's 4 MiB message limit
BUSY_RETRIES = 3  # tries again after RESOURCE_EXHAUSTED, waiting what the server asks
MAX_RETRY_WAIT_SECONDS = 60.0
LOST_RETRIES = 2  # transcribe() makes a call that ended UNAVAILABLE again, from the start
LOST_RETRY_SECONDS = 1.0
TOKEN_ENV = "SIDECAR_TOKEN"


class SidecarError(Exception):
    """A call failed; `code` is the gRPC status code and the message the server's, followed by
    the request id that the server's log lines about the call carry."""

    def __init__(
        self, code: grpc.StatusCode, message: str, retry_delay: float | None = None, request_id: str | None = None
    ) -> None:
        super().__init__(f"{code.name}: {message}" + (f" (request {request_id})" if request_id else ""))
        self.code = code
        self.details = message
        self.retry_delay = retry_delay  # seconds the server asked to wait (RESOURCE_EXHAUSTED)
        self.request_id = request_id


@dataclasses.dataclass
class Transcript:
    info: transcription_pb2.TranscriptionInfo
    segments: list[transcription_pb2.Segment]
    summary: transcription_pb2.TranscriptionSummary
    # With TranscriptionOptions.translation: each sentence in each target language, in order.
    translations: list[translation_pb2.TranslatedSentence] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class DiarizationResult:
    turns: list[diarization_pb2.SpeakerTurn]  # in order of start time
    summary: diarization_pb2.DiarizationSummary


def speaker_reference(name: str, path: str | os.PathLike) -> diarization_pb2.SpeakerReference:
    """A person to name in a diarization, with their reference audio read from a file."""
    return diarization_pb2.SpeakerReference(
        name=name, audio_format=audio_format_for(os.fspath(path)), audio_content=pathlib.Path(path).read_bytes()
    )


def audio_format_for(filename: str = "", pcm: audio_pb2.PcmFormat | None = None) -> audio_pb2.AudioFormat:
    if pcm is not None:
        return audio_pb2.AudioFormat(pcm=pcm)
    return audio_pb2.AudioFormat(encoded_file=audio_pb2.EncodedFile(filename=os.path.basename(filename)))


def iter_chunks(source: str | os.PathLike | bytes | BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Reads a path, bytes or a binary file object in chunks, so no file must fit one message."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = memoryview(source)
        for i in range(0, len(data), chunk_bytes):
            yield bytes(data[i : i + chunk_bytes])
        return
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            yield from iter_chunks(f, chunk_bytes)
        return
    while chunk := source.read(chunk_bytes):
        yield chunk


@dataclasses.dataclass(frozen=True)
class Connection:
    """How a client reaches a sidecar: what the CLI's, the OBS script's and the Audacity
    bridge's connection settings all become."""

    address: str = DEFAULT_ADDRESS
    token: str | None = None
    token_file: str | None = None  # a file holding the token (kept out of argv and the environment)
    tls: bool = False  # verify the server against the system's roots
    tls_ca: str | None = None  # a PEM file of roots to verify it against instead (implies TLS)

    def bearer_token(self) -> str | None:
        """The token given, else the token file's first line, else $SIDECAR_TOKEN."""
        if self.token:
            return self.token
        if self.token_file:
            try:
                with open(os.path.expanduser(self.token_file), encoding="utf-8") as f:
                    return f.readline().strip() or None
            except OSError as exc:
                raise SidecarError(
                    grpc.StatusCode.UNAUTHENTICATED, f"cannot read the token file {self.token_file}: {exc.strerror}"
                ) from None
        return os.environ.get(TOKEN_ENV) or None

    def open(self, **options) -> SidecarClient:
        roots = None
        if self.tls_ca:
            try:
                with open(os.path.expanduser(self.tls_ca), "rb") as f:
                    roots = f.read()
            except OSError as exc:
                raise SidecarError(
                    grpc.StatusCode.UNAVAILABLE, f"cannot read the TLS roots {self.tls_ca}: {exc.strerror}"
                ) from None
        return SidecarClient(self.address, token=self.bearer_token(), root_certificates=roots, tls=self.tls, **options)


class SidecarClient:
    """One channel to a sidecar. Use as a context manager, or call close()."""

    def __init__(
        self,
        address: str = DEFAULT_ADDRESS,
        *,
        token: str | None = None,
        root_certificates: bytes | None = None,
        tls: bool = False,
        max_message_bytes: int = 4 << 20,
        busy_retries: int = BUSY_RETRIES,
        priority: str = "interactive",
        reconnect_seconds: float | None = None,
    ) -> None:
        """`token`: the sidecar's bearer token; None sends $SIDECAR_TOKEN when it is set, as
        every other client setting does, and "" sends none. `tls`: verify the server against
        the system's roots, or `root_certificates` (PEM) when given, which implies TLS.
        `priority`: "batch" lets interactive jobs (and live streams, always) go first on the
        server. `reconnect_seconds`: while the sidecar is unreachable the channel tries again
        this often (gRPC's own backoff grows to minutes)."""
        self.address = address
        self.token = token = os.environ.get(TOKEN_ENV) if token is None else token
        self.busy_retries = busy_retries
        options = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
        ]
        if reconnect_seconds is not None:
            every_ms = max(1, round(reconnect_seconds * 1000))
            options += [("grpc.initial_reconnect_backoff_ms", every_ms), ("grpc.max_reconnect_backoff_ms", every_ms)]
        if tls or root_certificates is not None:
            credentials = grpc.ssl_channel_credentials(root_certificates)
            self.channel = grpc.secure_channel(address, credentials, options=options)
        else:
            self.channel = grpc.insecure_channel(address, options=options)
        self._metadata = (("authorization", f"Bearer {token}"),) if token else ()
        if priority != "interactive":
            self._metadata += ((PRIORITY_METADATA, priority),)
        self.transcription = transcription_pb2_grpc.TranscriptionServiceStub(self.channel)
        self.models = models_pb2_grpc.ModelServiceStub(self.channel)
        self.health = health_pb2_grpc.HealthStub(self.channel)
        self.streaming = streaming_recognition_pb2_grpc.StreamingRecognitionServiceStub(self.channel)
        self.enhancement = enhancement_pb2_grpc.EnhancementServiceStub(self.channel)
        self.synthesis = synthesis_pb2_grpc.SynthesisServiceStub(self.channel)
        self.separation = separation_pb2_grpc.SeparationServiceStub(self.channel)
        self.diarization = diarization_pb2_grpc.DiarizationServiceStub(self.channel)
        self.cues = cues_pb2_grpc.CueGenerationServiceStub(self.channel)
        self.events = events_pb2_grpc.EventDetectionServiceStub(self.channel)
        self.translation = translation_pb2_grpc.TranslationServiceStub(self.channel)

    def __enter__(self) -> SidecarClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    @property
    def metadata(self) -> tuple:
        return self._metadata

    def wait_ready(self, timeout: float = 10.0) -> None:
        """Blocks until the server answers its health check, or raises SidecarError."""
        # wait_for_ready, not grpc.channel_ready_future: a future that timed out kept a thread
        # polling the channel, which raised once the channel was closed.
        try:
            reply = self.health.Check(health_pb2.HealthCheckRequest(), timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise SidecarError(
                    grpc.StatusCode.UNAVAILABLE, f"no sidecar answers at {self.address} (is it running?)"
                ) from None
            raise _error(exc) from None
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise SidecarError(grpc.StatusCode.UNAVAILABLE, f"the sidecar at {self.address} is not serving")

    def list_models(self, capability: int = 0) -> list[models_pb2.ModelInfo]:
        try:
            reply = self.models.ListModels(models_pb2.ListModelsRequest(capability=capability), metadata=self._metadata)
        except grpc.RpcError as exc:
            raise _error(exc) from None
        return list(reply.models)

    def downloadable_models(self) -> list[models_pb2.DownloadableModel]:
        """The server's catalogue: what it can download by name, and what it has."""
        try:
            reply = self.models.ListDownloadableModels(
                models_pb2.ListDownloadableModelsRequest(), metadata=self._metadata
            )
        except grpc.RpcError as exc:
            raise _error(exc) from None
        return list(reply.models)

    def pull_model(self, name: str, *, accept_license: bool = False) -> Call:
        """Starts PullModel: iterate the call for progress (the last has `done` set), cancel() to stop."""
        request = models_pb2.PullModelRequest(name=name, accept_license=accept_license)
        return Call(lambda: self.models.PullModel(request, metadata=self._metadata))

    def transcribe_stream(
        self,
        audio: str | os.PathLike | bytes | BinaryIO,
        *,
        options: transcription_pb2.TranscriptionOptions | None = None,
        audio_format: audio_pb2.AudioFormat | None = None,
        timeout: float | None = None,
    ) -> Call:
        """Starts TranscribeFile and returns the call: iterate it for responses, cancel() to stop."""
        if audio_format is None:
            audio_format = audio_format_for(os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else "")
        config = transcription_pb2.TranscriptionConfig(audio_format=audio_format, options=options)

        def requests() -> Iterator[transcription_pb2.TranscribeFileRequest]:
            yield transcription_pb2.TranscribeFileRequest(config=config)
            for chunk in iter_chunks(audio):
                yield transcription_pb2.TranscribeFileRequest(audio_content=chunk)

        return self._call(
            lambda: self.transcription.TranscribeFile(requests(), metadata=self._metadata, timeout=timeout),
            replayable(audio),
        )

    def transcribe(
        self,
        audio,
        *,
        options=None,
        audio_format=None,
        on_progress: Callable[[audio_pb2.Progress], None] | None = None,
        on_segment: Callable[[transcription_pb2.Segment], None] | None = None,
    ) -> Transcript:
        """Transcribes to the end and returns info, segments and summary. A call that ends
        UNAVAILABLE (the server went away, or on a cluster the replica that ran it) is made again
        from the start, at most LOST_RETRIES times, when the audio can be sent again and no
        segment has gone to `on_segment`; `on_progress` hears "retrying: <why>" then."""
        retries_left = LOST_RETRIES
        while True:
            info = summary = None
            segments, translations = [], []
            try:
                for response in self.transcribe_stream(audio, options=options, audio_format=audio_format):
                    kind = response.WhichOneof("event")
                    if kind == "progress" and on_progress:
                        on_progress(response.progress)
                    elif kind == "info":
                        info = response.info
                    elif kind == "segment":
                        segments.append(response.segment)
                        if on_segment:
                            on_segment(response.segment)
                    elif kind == "translated_sentence":
                        translations.append(response.translated_sentence)
                    elif kind == "summary":
                        summary = response.summary
                return Transcript(info, segments, summary, translations)
            except SidecarError as exc:
                delivered = on_segment is not None and segments
                if exc.code != grpc.StatusCode.UNAVAILABLE or not replayable(audio) or delivered or not retries_left:
                    raise
                retries_left -= 1
                if on_progress:
                    on_progress(audio_pb2.Progress(stage=f"retrying: {exc.details}"))
                time.sleep(LOST_RETRY_SECONDS)

    def streaming_recognize(
        self,
        audio_chunks: Iterable[bytes],
        *,
        config: streaming_recognition_pb2.StreamingRecognitionConfig,
        timeout: float | None = None,
    ) -> Call:
        """Starts StreamingRecognize and returns the call: iterate it for responses.

        The config goes first, then each chunk as `audio_chunks` yields it (a live source
        blocks in its iterator to pace the stream); when it is exhausted the stream
        half-closes and the server finalizes every pending word. cancel() stops at once.
        """
        return self._call(
            lambda: self.streaming.StreamingRecognize(
                chunk_requests(config, streaming_recognition_pb2.StreamingRecognizeRequest, audio_chunks),
                metadata=self._metadata,
                timeout=timeout,
            ),
            False,
        )

    def enhance_stream(
        self,
        audio: str | os.PathLike | bytes | BinaryIO,
        *,
        options: enhancement_pb2.EnhancementOptions | None = None,
        audio_format: audio_pb2.AudioFormat | None = None,
        output_encoding: int = audio_pb2.AUDIO_ENCODING_UNSPECIFIED,
        timeout: float | None = None,
    ) -> Call:
        """Starts EnhanceFile and returns the call: iterate it for responses, cancel() to stop."""
        if audio_format is None:
            audio_format = audio_format_for(os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else "")
        config = enhancement_pb2.EnhanceFileConfig(
            audio_format=audio_format, options=options, output_encoding=output_encoding
        )
        return self._call(
            lambda: self.enhancement.EnhanceFile(
                chunk_requests(config, enhancement_pb2.EnhanceFileRequest, iter_chunks(audio)),
                metadata=self._metadata,
                timeout=timeout,
            ),
            replayable(audio),
        )

    def enhance(
        self,
        audio,
        *,
        options=None,
        audio_format=None,
        output_encoding: int = audio_pb2.AUDIO_ENCODING_UNSPECIFIED,
        on_progress: Callable[[audio_pb2.Progress], None] | None = None,
        on_info: Callable[[enhancement_pb2.EnhancementInfo], None] | None = None,
        on_summary: Callable[[enhancement_pb2.EnhancementSummary], None] | None = None,
    ) -> Iterator[audio_pb2.AudioChunk]:
        """Denoises a file or PCM recording, yielding the enhanced audio chunks in order.

        Each chunk is PCM (`chunk.format`) at the input's rate and channel count; joined, they
        are as long as the input and aligned with it. Stopping the iteration cancels the job.
        """
        call = self.enhance_stream(audio, options=options, audio_format=audio_format, output_encoding=output_encoding)
        handlers = {"progress": on_progress, "info": on_info, "summary": on_summary}
        try:
            for response in call:
                kind = response.WhichOneof("event")
                if kind == "audio_chunk":
                    yield response.audio_chunk
                elif handlers.get(kind):
                    handlers[kind](getattr(response, kind))
        finally:
            call.cancel()

    def stream_enhance(
        self,
        audio_chunks: Iterable[bytes],
        *,
        pcm_format: audio_pb2.PcmFormat,
        options: enhancement_pb2.EnhancementOptions | None = None,
        output_encoding: int = audio_pb2.AUDIO_ENCODING_UNSPECIFIED,
        timeout: float | None = None,
    ) -> Call:
        """Starts StreamEnhance (live denoising) and returns the call: iterate it for responses,
        `info` first, then each `audio_chunk` as soon as it is enhanced.

        `audio_chunks` yields raw PCM in `pcm_format` (a live source blocks in its iterator to
        pace the stream); when it is exhausted the stream half-closes and the server sends the
        delayed tail. cancel() stops at once.
        """
        config = enhancement_pb2.StreamEnhanceConfig(
            pcm_format=pcm_format, options=options, output_encoding=output_encoding
        )
        return self._call(
            lambda: self.enhancement.StreamEnhance(
                chunk_requests(config, enhancement_pb2.StreamEnhanceRequest, audio_chunks),
                metadata=self._metadata,
                timeout=timeout,
            ),
            False,
        )

    def synthesize_stream(
        self,
        text: str,
        language_code: str,
        *,
        voice_id: str = "",
        reference: str | os.PathLike | bytes | None = None,
        reference_format: audio_pb2.AudioFormat | None = None,
        transcript: str = "",
        options: synthesis_pb2.SynthesisOptions | None = None,
        timeout: float | None = None,
    ) -> Call:
        """Starts Synthesize with a saved voice or inline reference audio (the whole request
        must fit one message: use create_voice for large references); iterate the call."""
        request = synthesis_pb2.SynthesizeRequest(text=text, language_code=language_code, options=options)
        if reference is not None:
            data = reference if isinstance(reference, bytes) else b"".join(iter_chunks(reference))
            name = os.fspath(reference) if isinstance(reference, (str, os.PathLike)) else ""
            request.reference.CopyFrom(
                synthesis_pb2.VoiceReference(
                    audio_format=reference_format or audio_format_for(name), audio_content=data, transcript=transcript
                )
            )
        elif voice_id:
            request.voice_id = voice_id
        return self._call(lambda: self.synthesis.Synthesize(request, metadata=self._metadata, timeout=timeout), True)

    def create_voice(
        self,
        reference: str | os.PathLike | bytes | BinaryIO,
        *,
        voice_id: str = "",
        display_name: str = "",
        transcript: str = "",
        model: str = "",
        audio_format: audio_pb2.AudioFormat | None = None,
    ) -> synthesis_pb2.Voice:
        """Saves a voice from reference audio of any size (streamed in chunks)."""
        if audio_format is None:
            audio_format = audio_format_for(os.fspath(reference) if isinstance(reference, (str, os.PathLike)) else "")
        config = synthesis_pb2.CreateVoiceConfig(
            audio_format=audio_format, voice_id=voice_id, display_name=display_name, transcript=transcript, model=model
        )
        requests = chunk_requests(config, synthesis_pb2.CreateVoiceRequest, iter_chunks(reference))
        return self._unary(self.synthesis.CreateVoice, requests).voice

    def list_voices(self, model: str = "") -> list[synthesis_pb2.Voice]:
        reply = self._unary(self.synthesis.ListVoices, synthesis_pb2.ListVoicesRequest(model=model))
        return list(reply.voices)

    def delete_voice(self, voice_id: str) -> synthesis_pb2.Voice:
        request = synthesis_pb2.DeleteVoiceRequest(voice_id=voice_id)
        return self._unary(self.synthesis.DeleteVoice, request).voice

    def translate(
        self,
        texts: Iterable[str],
        target_language_code: str,
        *,
        source_language_code: str = "",
        options: translation_pb2.TranslationOptions | None = None,
        validate_only: bool = False,
    ) -> translation_pb2.TranslateResponse:
        """Translates texts (at most limits.MAX_TRANSLATION_TEXTS) into one language; the
        response lists the translations in order. validate_only: check languages and model only."""
        request = translation_pb2.TranslateRequest(
            contents=list(texts),
            source_language_code=source_language_code,
            target_language_code=target_language_code,
            options=options,
            validate_only=validate_only,
        )
        return self._unary(self.translation.Translate, request)

    def _call(self, start: Callable[[], object], can_retry: bool) -> Call:
        return Call(start, can_retry, self.busy_retries)

    def _unary(self, rpc, request):
        """Calls a unary (or client-streaming) RPC with this client's metadata."""
        try:
            return rpc(request, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise _error(exc) from None

    def separate_stream(
        self,
        audio: str | os.PathLike | bytes | BinaryIO,
        *,
        options: separation_pb2.SeparationOptions | None = None,
        audio_format: audio_pb2.AudioFormat | None = None,
        timeout: float | None = None,
    ) -> Call:
        """Starts SeparateFile and returns the call: iterate it for responses, cancel() to stop."""
        if audio_format is None:
            audio_format = audio_format_for(os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else "")
        config = separation_pb2.SeparationConfig(audio_format=audio_format, options=options)
        return self._call(
            lambda: self.separation.SeparateFile(
                chunk_requests(config, separation_pb2.SeparateFileRequest, iter_chunks(audio)),
                metadata=self._metadata,
                timeout=timeout,
            ),
            replayable(audio),
        )

    def separate(
        self,
        audio,
        *,
        options: separation_pb2.SeparationOptions | None = None,
        audio_format: audio_pb2.AudioFormat | None = None,
        on_progress: Callable[[audio_pb2.Progress], None] | None = None,
        on_info: Callable[[separation_pb2.SeparationInfo], None] | None = None,
        on_summary: Callable[[separation_pb2.SeparationSummary], None] | None = None,
    ) -> Iterator[tuple[str, audio_pb2.AudioChunk]]:
        """Splits music into stems, yielding (stem name, AudioChunk) in time order.

        Each stem's chunks follow each other without gaps; `on_info` learns the stems and
        the output format before the first chunk. Stopping the iteration cancels the job.
        """
        call = self.separate_stream(audio, options=options, audio_format=audio_format)
        handlers = {"progress": on_progress, "info": on_info, "summary": on_summary}
        try:
            for response in call:
                kind = response.WhichOneof("event")
                if kind == "stem_chunk":
                    yield response.stem_chunk.stem, response.stem_chunk.audio
                elif handlers.get(kind):
                    handlers[kind](getattr(response, kind))
        finally:
            call.cancel()

    def diarize_stream(
        self,
        audio: str | os.PathLike | bytes | BinaryIO,
        *,
        options: diarization_pb2.DiarizationOptions | None = None,
        audio_format: audio_pb2.AudioFormat | None = None,
        timeout: float | None = None,
    ) -> Call:
        """Starts DiarizeFile and returns the call: iterate it for responses, cancel() to stop."""
        if audio_format is None:
            audio_format = audio_format_for(os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else "")
        config = diarization_pb2.DiarizationConfig(audio_format=audio_format, options=options)
        return self._call(
            lambda: self.diarization.DiarizeFile(
                chunk_requests(config, diarization_pb2.DiarizeFileRequest, iter_chunks(audio)),
                metadata=self._metadata,
                timeout=timeout,
            ),
            replayable(audio),
        )

    def diarize(
        self,
        audio,
        *,
        options: diarization_pb2.DiarizationOptions | None = None,
        audio_format: audio_pb2.AudioFormat | None = None,
        on_progress: Callable[[audio_pb2.Progress], None] | None = None,
    ) -> DiarizationResult:
        """Finds who spoke when, to the end: the speaker turns and the summary."""
        turns, summary = [], None
        for response in self.diarize_stream(audio, options=options, audio_format=audio_format):
            kind = response.WhichOneof("event")
            if kind == "progress" and on_progress:
                on_progress(response.progress)
            elif kind == "turn":
                turns.append(response.turn)
            elif kind == "summary":
                summary = response.summary
        return DiarizationResult(turns, summary)

    def enroll_speaker(
        self,
        name: str,
        reference: str | os.PathLike | bytes | BinaryIO,
        *,
        audio_format: audio_pb2.AudioFormat | None = None,
    ) -> diarization_pb2.EnrolledSpeaker:
        """Enrols a person from reference audio of them speaking alone (streamed in chunks)."""
        if audio_format is None:
            audio_format = audio_format_for(os.fspath(reference) if isinstance(reference, (str, os.PathLike)) else "")
        config = diarization_pb2.EnrollSpeakerConfig(audio_format=audio_format, name=name)
        requests = chunk_requests(config, diarization_pb2.EnrollSpeakerRequest, iter_chunks(reference))
        return self._unary(self.diarization.EnrollSpeaker, requests).speaker

    def list_speakers(self) -> list[diarization_pb2.EnrolledSpeaker]:
        return list(self._unary(self.diarization.ListSpeakers, diarization_pb2.ListSpeakersRequest()).speakers)

    def delete_speaker(self, speaker_id: str) -> diarization_pb2.EnrolledSpeaker:
        request = diarization_pb2.DeleteSpeakerRequest(speaker_id=speaker_id)
        return self._unary(self.diarization.DeleteSpeaker, request).speaker

    def generate_cue(
        self,
        settings: cues_pb2.CueSettings,
        *,
        reference: str | os.PathLike | bytes | BinaryIO | None = None,
        reference_format: audio_pb2.AudioFormat | None = None,
        output_encoding: int = audio_pb2.AUDIO_ENCODING_UNSPECIFIED,
        timeout: float | None = None,
    ) -> Call:
        """Starts GenerateCue and returns the call: iterate it for `info`, `audio` chunks,
        `progress` and the `summary`, whose settings regenerate the cue. A melody or
        continuation reference (settings.reference_mode) streams after the config."""
        config = cues_pb2.GenerateCueConfig(settings=settings, output_encoding=output_encoding)
        if reference is not None:
            name = os.fspath(reference) if isinstance(reference, (str, os.PathLike)) else ""
            config.audio_format.CopyFrom(reference_format or audio_format_for(name))

        def audio() -> Iterable[bytes]:
            return () if reference is None else iter_chunks(reference)

        return self._call(
            lambda: self.cues.GenerateCue(
                chunk_requests(config, cues_pb2.GenerateCueRequest, audio()), metadata=self._metadata, timeout=timeout
            ),
            reference is None or replayable(reference),
        )

    def detect_events(
        self,
        audio: str | os.PathLike | bytes | BinaryIO,
        *,
        options: events_pb2.EventDetectionOptions | None = None,
        audio_format: audio_pb2.AudioFormat | None = None,
        timeout: float | None = None,
    ) -> Call:
        """Starts DetectEvents and returns the call: iterate it for `info`, each `region` as it
        completes, `progress` and the `summary`; cancel() to stop."""
        if audio_format is None:
            audio_format = audio_format_for(os.fspath(audio) if isinstance(audio, (str, os.PathLike)) else "")
        config = events_pb2.EventDetectionConfig(audio_format=audio_format, options=options)
        return self._call(
            lambda: self.events.DetectEvents(
                chunk_requests(config, events_pb2.DetectEventsRequest, iter_chunks(audio)),
                metadata=self._metadata,
                timeout=timeout,
            ),
            replayable(audio),
        )


def replayable(audio) -> bool:
    """Whether the audio can be sent again for a retry: a path or bytes, not a stream."""
    return isinstance(audio, (str, os.PathLike, bytes, bytearray, memoryview))


class Call:
    """A server-streaming call whose errors surface as SidecarError.

    When the server answers RESOURCE_EXHAUSTED (its queue is full) before anything else and the
    request can be sent again, the call waits the delay the server asked for and tries again,
    at most `retries` times and MAX_RETRY_WAIT_SECONDS in all.
    """

    def __init__(self, start: Callable[[], object], can_retry: bool = False, retries: int = BUSY_RETRIES) -> None:
        self._start = start
        self._retries = retries if can_retry else 0
        self._call = start()
        self._cancelled = False

    def __iter__(self) -> Iterator:
        waited = 0.0
        while True:
            answered = False
            try:
                for response in self._call:
                    answered = True
                    yield response
                return
            except grpc.RpcError as exc:
                error = _error(exc)
                delay = error.retry_delay or 1.0
                if (
                    answered
                    or self._cancelled
                    or error.code != grpc.StatusCode.RESOURCE_EXHAUSTED
                    or self._retries <= 0
                    or waited + delay > MAX_RETRY_WAIT_SECONDS
                ):
                    raise error from None
            self._retries -= 1
            waited += delay
            time.sleep(delay)
            self._call = self._start()

    def cancel(self) -> None:
        self._cancelled = True
        self._call.cancel()


def _error(exc: grpc.RpcError) -> SidecarError:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = exc.details() if hasattr(exc, "details") else str(exc)
    trailing = _trailing(exc)
    return SidecarError(
        code, details or code.name, retry_delay=_retry_delay(trailing), request_id=trailing.get(REQUEST_ID_METADATA)
    )


def _trailing(exc: grpc.RpcError) -> dict[str, str]:
    try:
        return {key: value for key, value in exc.trailing_metadata() or () if isinstance(value, str)}
    except Exception:  # an error raised before any call existed has none
        return {}


def _retry_delay(trailing: dict[str, str]) -> float | None:
    """The wait the server asked for with RESOURCE_EXHAUSTED, in seconds, if it said."""
    try:
        return max(0.0, int(trailing[RETRY_DELAY_METADATA]) / 1000)
    except (KeyError, ValueError):
        return None


def chunk_requests(config_message, wrap: Callable, audio: Iterable[bytes]) -> Iterator:
    """For other config-first RPCs: wrap(config=...) first, then wrap(audio_content=chunk)."""
    yield wrap(config=config_message)
    for chunk in audio:
        yield wrap(audio_content=chunk)


def streaming_config(
    sample_rate_hertz: int, *, channel_count: int = 1, encoding: int = audio_pb2.AUDIO_ENCODING_PCM_S16LE, **fields
) -> streaming_recognition_pb2.StreamingRecognitionConfig:
    """A StreamingRecognitionConfig for raw PCM; `fields` are its other fields by name
    (model, language_code, interim_results, hotwords, voice_activity, ...)."""
    pcm = audio_pb2.PcmFormat(encoding=encoding, sample_rate_hertz=sample_rate_hertz, channel_count=channel_count)
    return streaming_recognition_pb2.StreamingRecognitionConfig(pcm_format=pcm, **fields)
