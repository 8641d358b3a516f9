"""StreamingRecognitionService: live recognition over a bidirectional, config-first stream.

Each call runs its own decoding thread (Whisper decoding blocks; the event loop only moves
bytes), fed through an inbox bounded by the duration of the audio in it: a client that sends
faster than real time is slowed by gRPC flow control instead of filling memory. PCM is decoded
and resampled on that thread, never on the event loop; one message may carry at most
MAX_MESSAGE_SECONDS of audio, and a client that sends nothing for the server's
stream_idle_seconds loses its stream. Streams do not take the file JobQueue's slots,
which a caption stream would hold for hours; instead at most `max_live_streams` run at
once and the next gets RESOURCE_EXHAUSTED with a retry delay. They share the loaded model
(its CTranslate2 workers run two calls at once), so more streams on one CPU raise every
stream's lag, which is reported; each decoding step takes a live turn of the compute gate, so
file jobs wait at their next step while it runs (sidecar.runtime.priority).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import time

import grpc
import numpy as np

from sidecar.engines import streaming, whisper
from sidecar.errors import BusyError, InvalidOptionsError, LimitExceededError, ShuttingDownError
from sidecar.pipelines import sentence_translation
from sidecar.runtime.priority import Priority
from sidecar.runtime.runtime import Runtime
from sidecar.runtime.threads import CancelToken, in_thread
from sidecar.server import convert, upload
from sidecar.server import translation as translation_server
from sidecar.server.status import mapped_errors
from sidecar.server.stream_audio import Arrival, AudioBacklog, PcmReader
from sidecar.v1 import streaming_recognition_pb2 as pb
from sidecar.v1 import streaming_recognition_pb2_grpc, transcription_pb2

log = logging.getLogger(__name__)

MAX_QUEUED_SECONDS = 30.0  # audio waiting for the decoding thread before reads pause
MAX_MESSAGE_SECONDS = 10.0  # audio one message may carry (clients send about 0.1 s)
PROGRESS_SECONDS = 1.0  # with nothing else to say, report progress and lag this often
_POLL_SECONDS = 0.05
_FLUSH = "flush"  # inbox marker: the client half-closed

SERVICE = "StreamingRecognitionService"
STREAM_RETRY_SECONDS = 10.0  # a full server's retry delay: streams end seldom
_EVENTS = {streaming.SPEECH_BEGIN: pb.SPEECH_EVENT_BEGIN, streaming.SPEECH_END: pb.SPEECH_EVENT_END}


def options_from_proto(c: pb.StreamingRecognitionConfig) -> streaming.StreamingOptions:
    defaults = streaming.StreamingOptions()
    vad = c.voice_activity
    endpoint = convert.seconds(vad.endpoint_silence_duration)
    return streaming.StreamingOptions(
        language=c.language_code or None,
        interim_results=c.interim_results if c.HasField("interim_results") else defaults.interim_results,
        hotwords=c.hotwords or None,
        initial_prompt=c.initial_prompt or None,
        beam_size=c.beam_size or defaults.beam_size,
        vad_enabled=vad.enabled if vad.HasField("enabled") else defaults.vad_enabled,
        speech_threshold=vad.speech_threshold or defaults.speech_threshold,
        endpoint_silence=endpoint or defaults.endpoint_silence,
    )


def result_to_proto(words: tuple[whisper.Word, ...], is_final: bool) -> pb.StreamingRecognitionResult:
    result = pb.StreamingRecognitionResult(
        transcript="".join(w.text for w in words).strip(),
        is_final=is_final,
        stability=1.0 if is_final else streaming.stability(words),
        words=[
            transcription_pb2.Word(
                text=w.text, time_range=convert.time_range(w.start, w.end), probability=w.probability
            )
            for w in words
        ],
    )
    if words:
        result.time_range.CopyFrom(convert.time_range(words[0].start, words[-1].end))
    return result


class StreamingRecognitionServicer(streaming_recognition_pb2_grpc.StreamingRecognitionServiceServicer):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def StreamingRecognize(self, request_iterator, context: grpc.aio.ServicerContext):
        started = time.perf_counter()
        async with mapped_errors(context, "StreamingRecognize", self.runtime.metrics):
            requests = aiter(upload.paced(request_iterator, self.runtime.config.stream_idle_seconds))
            config = await upload.first_config(requests)
            options = options_from_proto(config)
            if not config.HasField("pcm_format"):
                raise InvalidOptionsError("the config must set `pcm_format` (raw PCM only)")
            reader = PcmReader(convert.pcm_spec(config.pcm_format))
            active = self.runtime.live_streams[SERVICE]
            if active >= self.runtime.config.max_live_streams:
                raise BusyError(
                    f"the server is busy: {active} stream(s) running, the most it runs at once; "
                    f"try again in {STREAM_RETRY_SECONDS:g} s",
                    retry_after=STREAM_RETRY_SECONDS,
                )
            self.runtime.live_streams[SERVICE] += 1
            try:
                engine = await asyncio.to_thread(self.runtime.whisper, config.model)
                recognizer = await asyncio.to_thread(streaming.StreamingRecognizer, engine, options)
                translator = None
                if config.HasField("translation"):
                    request = translation_server.speech_translation_from_proto(config.translation)
                    translator = await asyncio.to_thread(
                        sentence_translation.sentence_translator, self.runtime, request, options.language, engine
                    )
                yield pb.StreamingRecognizeResponse(
                    info=pb.StreamingRecognitionInfo(
                        model=engine.name, device=engine.device, language_code=options.language or ""
                    )
                )
                words = 0
                updates = self._recognize(requests, reader, recognizer)
                async for response in self._responses(updates, reader, translator):
                    words += len(response.final_result.words)
                    yield response
            finally:
                self.runtime.live_streams[SERVICE] -= 1
            elapsed = time.perf_counter() - started
            log.info(
                "StreamingRecognize: %.1f s of audio, %d final words in %.2f s (model %s)",
                reader.received,
                words,
                elapsed,
                engine.name,
            )

    async def _responses(self, updates, reader: PcmReader, translator: sentence_translation.SentenceTranslator | None):
        """A response for each update; with a translator, also the translations of the
        sentences the final words complete, in later responses as soon as they are done, so
        captions never wait for a translation. The last ones come before the stream ends."""
        if translator is None:
            async for update in updates:
                yield response_for(update, reader.received)
            return
        gathered = sentence_translation.Sentences()
        waiting: asyncio.Queue = asyncio.Queue()  # sentences in order, then None
        translated: asyncio.Queue = asyncio.Queue()  # their translations, then None

        def translate(sentence: sentence_translation.Sentence) -> list[sentence_translation.TranslatedSentence]:
            with self.runtime.gate.turn(Priority.LIVE):
                return translator.translate(sentence)

        async def translate_in_order() -> None:
            while (sentence := await waiting.get()) is not None:
                await translated.put(await asyncio.to_thread(translate, sentence))
            await translated.put(None)

        worker = asyncio.create_task(translate_in_order())
        next_update = asyncio.ensure_future(anext(updates, None))
        next_translation = asyncio.ensure_future(translated.get())
        processed = 0.0
        try:
            while True:
                await asyncio.wait(
                    [t for t in (next_update, next_translation, worker) if t is not None],
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if next_update is not None and next_update.done():
                    update = next_update.result()  # raises the recognizer's error
                    if update is None:  # the stream ended: what is gathered is its last sentence
                        next_update = None
                        for sentence in gathered.flush():
                            waiting.put_nowait(sentence)
                        waiting.put_nowait(None)
                    else:
                        processed = update.processed
                        yield response_for(update, reader.received)
                        sentences = gathered.add(update.final)
                        if update.event == streaming.SPEECH_END:
                            sentences += gathered.flush()
                        for sentence in sentences:
                            waiting.put_nowait(sentence)
                        next_update = asyncio.ensure_future(anext(updates, None))
                if next_translation.done():
                    results = next_translation.result()
                    if results is None:
                        return
                    yield translation_response(results, reader.received, processed)
                    next_translation = asyncio.ensure_future(translated.get())
                if worker.done() and worker.exception() is not None:
                    raise worker.exception()
        finally:
            for task in (next_update, next_translation, worker):
                if task is not None:
                    task.cancel()

    async def _recognize(self, requests, reader: PcmReader, recognizer: streaming.StreamingRecognizer):
        inbox: queue.Queue = queue.Queue()
        queued = AudioBacklog()
        arrival = Arrival()

        def accept(samples: np.ndarray) -> None:
            if samples.size:
                recognizer.accept(samples)

        def decode(token: CancelToken):
            """The recognizer's updates; each step takes what arrived meanwhile (from a client
            ahead of real time, a piece of it: see streaming.CATCH_UP_SECONDS)."""
            reported = 0.0
            flushed = False
            while True:
                if self.runtime.stopping.is_set():
                    raise ShuttingDownError(
                        "the sidecar is shutting down: the words not yet final were not decoded; "
                        "stream again from the last final word once it is back"
                    )
                items = []
                if not flushed and (recognizer.holding or not recognizer.pending):  # else step what waits
                    try:
                        items.append(inbox.get(timeout=_POLL_SECONDS))
                    except queue.Empty:
                        token.raise_if_cancelled()
                        if not recognizer.pending:
                            continue  # else held audio the wall clock has now reached is stepped
                    while not inbox.empty():
                        items.append(inbox.get_nowait())
                for item in items:
                    if isinstance(item, BaseException):  # from the reader: mapped to a status
                        raise item
                    if isinstance(item, bytes):
                        accept(reader.feed(item))
                        queued.remove(reader.spec.duration_of(len(item)))
                if any(isinstance(item, str) for item in items):  # _FLUSH
                    flushed = True
                    accept(reader.close())
                token.raise_if_cancelled()
                with self.runtime.gate.turn(Priority.LIVE):  # file jobs wait at their next step
                    updates = recognizer.step(real_time=arrival.real_time())
                    done = flushed and (recognizer.holding or not recognizer.pending)
                    if done:
                        updates += recognizer.finish()
                if not updates and recognizer.received - reported >= PROGRESS_SECONDS:
                    updates = [streaming.Update(processed=recognizer.processed())]
                for update in updates:
                    reported = recognizer.received
                    yield update
                if done:
                    return

        async def read() -> None:
            try:
                async for request in requests:
                    if request.WhichOneof("request") != "audio_content":
                        raise InvalidOptionsError(
                            "only the first message may carry `config`; later ones carry `audio_content`"
                        )
                    data = request.audio_content
                    seconds = reader.spec.duration_of(len(data))
                    if seconds > MAX_MESSAGE_SECONDS:
                        raise LimitExceededError(
                            f"one message carried {seconds:.1f} s of audio; send at most "
                            f"{MAX_MESSAGE_SECONDS:g} s per message (about 0.1 s is usual)"
                        )
                    while queued.seconds >= MAX_QUEUED_SECONDS:  # the decoder is behind: stop reading
                        await asyncio.sleep(_POLL_SECONDS)
                    if data:
                        arrival.add(seconds)
                        queued.add(seconds)
                        inbox.put(data)
                inbox.put(_FLUSH)
            except Exception as exc:  # the decoder raises it on its side
                inbox.put(exc)

        reading = asyncio.create_task(read())
        try:
            async with contextlib.aclosing(in_thread("stream-decode", decode)) as updates:
                async for update in updates:
                    if update.final:  # how long after its words' end a final caption goes out
                        self.runtime.metrics.final_lag(max(0.0, reader.received - update.final[-1].end))
                    yield update
        finally:
            reading.cancel()


def response_for(update: streaming.Update, received: float) -> pb.StreamingRecognizeResponse:
    response = pb.StreamingRecognizeResponse(
        received_duration=convert.duration(received),
        processed_duration=convert.duration(update.processed),
        lag_duration=convert.duration(max(0.0, received - update.processed)),
    )
    if update.final:
        response.final_result.CopyFrom(result_to_proto(update.final, True))
    if update.interim is not None:
        response.interim_result.CopyFrom(result_to_proto(update.interim, False))
    if update.event is not None:
        response.speech_event = _EVENTS[update.event]
        response.speech_event_offset.CopyFrom(convert.duration(update.event_offset))
    return response


def translation_response(
    results: list[sentence_translation.TranslatedSentence], received: float, processed: float
) -> pb.StreamingRecognizeResponse:
    return pb.StreamingRecognizeResponse(
        received_duration=convert.duration(received),
        processed_duration=convert.duration(processed),
        lag_duration=convert.duration(max(0.0, received - processed)),
        translation_results=[translation_server.translated_sentence_to_proto(r) for r in results],
    )


def register(server: grpc.aio.Server, runtime: Runtime) -> str:
    streaming_recognition_pb2_grpc.add_StreamingRecognitionServiceServicer_to_server(
        StreamingRecognitionServicer(runtime), server
    )
    return pb.DESCRIPTOR.services_by_name["StreamingRecognitionService"].full_name
