"""Music and sound cues from a text prompt with MusicGen (transformers), streamed as generated.

MusicGen is an autoregressive transformer over EnCodec codes: one step per codec frame (50 per
second for Meta's models), with each of the K codebooks delayed one step behind the previous
one. The engine runs transformers' own `generate` in a helper thread and receives the tokens
after every step; once a chunk's worth of frames is complete it decodes the codes so far with
EnCodec and sends the new audio, holding back a short margin whose samples still depend on
frames to come. EnCodec's decoder carries an LSTM through the whole sequence, so each decode
starts from the first frame; chunks grow with the audio sent (CHUNK_GROWTH) to keep the
decoding work linear in the cue's length rather than quadratic. The last chunk is the tail of
`generate`'s own decoded output, so the cue is the library's cue. Sampling uses torch's global
generator, seeded before every call: the same options, reference, model and device give the
same audio as long as no other generation samples at the same time (the job queue runs one job at a time by default).

Reference audio steers a cue two ways: a melody model (musicgen-melody) follows the
chromagram of a melody; the other models continue given audio, whose codes prompt the
decoder (only the new audio is sent back).

About 450 lines on purpose: the delay pattern, the streamed decode and the reference prompts
all work on the same token matrix, and its layout is stated once, here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import secrets
from collections.abc import Iterator
from typing import ClassVar

import numpy as np

from sidecar.engines import hub_models
from sidecar.engines.bounds import Bounded, Length, Range
from sidecar.engines.catalogue import ModelFamily, ModelSettings, ResolvedModel
from sidecar.errors import InvalidAudioError, InvalidOptionsError, ModelUnavailableError
from sidecar.runtime import devices
from sidecar.runtime.threads import from_callbacks
from sidecar_common.limits import DEFAULT_CUE_SECONDS, MAX_CUE_SECONDS

log = logging.getLogger(__name__)

FAMILY = "musicgen"
EXTRA = "music"
DEFAULT_MODEL = "musicgen-small"
MODELS = {  # alias -> Hugging Face repository (the weights AudioCraft publishes)
    "musicgen-small": "facebook/musicgen-small",
    "musicgen-medium": "facebook/musicgen-medium",
    "musicgen-large": "facebook/musicgen-large",
    "musicgen-melody": "facebook/musicgen-melody",
}
MAX_PROMPT_CHARS = 2000
CONTINUATION_SECONDS = 10.0  # the end of a continued reference that prompts the decoder
MELODY_SECONDS = 30.0  # the start of a melody reference whose chromagram conditions the cue
MIN_CUE_REFERENCE_SECONDS = 0.1
# AudioCraft's defaults for MusicGen.
DEFAULT_GUIDANCE_SCALE = 3.0
DEFAULT_TOP_K = 250
DEFAULT_TOP_P = 0.0
DEFAULT_TEMPERATURE = 1.0
MAX_GUIDANCE_SCALE = 20.0
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 5.0
MAX_SEED = (1 << 63) - 1
MAX_TOP_K = 2048  # the codebook size of Meta's models
MAX_MODE_CHARS = 32
DEFAULT_CHUNK_SECONDS = 1.0
# Each chunk is at least this share of the audio already sent: 1, 2, 3, 4, 5, 6.3, 7.8 ... s
# for 1 s chunks, 13 decodes for 30 s instead of 30.
CHUNK_GROWTH = 0.25
# Frames held back from a streamed chunk: EnCodec's non-causal convolutions let each output
# sample depend on a few frames after it, so audio this close to the newest frame may change.
DECODE_MARGIN_FRAMES = 10
MELODY, CONTINUATION = "melody", "continuation"
REFERENCE_MODES = (MELODY, CONTINUATION)
_MELODY_MODEL_TYPE = "musicgen_melody"
_MODEL_TYPES = ("musicgen", _MELODY_MODEL_TYPE)


@dataclasses.dataclass(frozen=True)
class CueOptions(Bounded):
    # What to generate, 1 to MAX_PROMPT_CHARS characters.
    prompt: str
    # Seconds of audio to generate, above 0 and at most MAX_CUE_SECONDS.
    duration: float = DEFAULT_CUE_SECONDS
    # Seed for torch's sampler, 0 to MAX_SEED; None: with_seed() draws one.
    seed: int | None = None
    # Classifier-free guidance scale, 1 (off) to MAX_GUIDANCE_SCALE.
    guidance_scale: float = DEFAULT_GUIDANCE_SCALE
    # Sample among the k most likely codes; 0 turns it off.
    top_k: int = DEFAULT_TOP_K
    # Nucleus sampling mass; 0 turns it off.
    top_p: float = DEFAULT_TOP_P
    # Sampling temperature, MIN_TEMPERATURE to MAX_TEMPERATURE.
    temperature: float = DEFAULT_TEMPERATURE
    # What the reference audio is for: MELODY, CONTINUATION, or None for no reference.
    reference_mode: str | None = None
    # Audio in the first streamed chunk, in seconds; later ones grow by CHUNK_GROWTH.
    chunk_seconds: float = DEFAULT_CHUNK_SECONDS

    BOUNDS: ClassVar[dict] = {
        "prompt": Length(MAX_PROMPT_CHARS, "prompt"),
        "duration": Range(0.0, MAX_CUE_SECONDS, "the duration", " s", above_low=True),
        "seed": Range(0, MAX_SEED, "the seed"),
        "guidance_scale": Range(1.0, MAX_GUIDANCE_SCALE, "guidance_scale"),
        "top_k": Range(0, MAX_TOP_K, "top_k (0: off)"),
        "top_p": Range(0.0, 1.0, "top_p (0: off)"),
        "temperature": Range(MIN_TEMPERATURE, MAX_TEMPERATURE, "temperature"),
        "reference_mode": Length(MAX_MODE_CHARS, "reference mode"),
        "chunk_seconds": Range(0.1, MAX_CUE_SECONDS, "chunk_seconds", " s"),
    }

    def validate(self) -> None:
        if not self.prompt.strip():
            raise InvalidOptionsError("the prompt is empty: say what to generate, e.g. 'calm piano bed'")
        if self.reference_mode is not None and self.reference_mode not in REFERENCE_MODES:
            raise InvalidOptionsError(
                f"reference_mode must be one of {', '.join(REFERENCE_MODES)}, not {self.reference_mode!r}"
            )

    def with_seed(self) -> CueOptions:
        """These options with a seed: the one given, or a fresh random one to report back."""
        return self if self.seed is not None else dataclasses.replace(self, seed=secrets.randbelow(1 << 31))


@dataclasses.dataclass(frozen=True)
class CuePlan:
    """What a generation will produce, known before the first step."""

    sample_rate: int
    channel_count: int
    step_count: int
    reference_seconds: float  # of the reference the model uses; 0 without one
    reference_sha256: str  # of those samples; "" without a reference


@dataclasses.dataclass(frozen=True)
class CueStep:
    """One autoregressive step taken."""

    step: int  # from 1
    step_count: int


@dataclasses.dataclass(frozen=True)
class CueChunk:
    samples: np.ndarray  # float32 (channels, frames) in [-1, 1] at the plan's sample_rate
    start: float  # seconds from the start of the cue


@dataclasses.dataclass(frozen=True)
class Reference:
    """The part of the reference audio the model uses, at the model's rate and channels."""

    samples: np.ndarray  # float32 (channels, frames)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(np.ascontiguousarray(self.samples, dtype="<f4").tobytes()).hexdigest()


class MusicgenEngine:
    def __init__(self, name: str, model, tokenizer, feature_extractor, device: str) -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.feature_extractor = feature_extractor
        self.device = device
        codec = model.config.audio_encoder
        self.sample_rate = int(codec.sampling_rate)
        self.frame_rate = int(codec.frame_rate)
        self.hop = int(np.prod(codec.upsampling_ratios))
        self.channel_count = int(model.config.decoder.audio_channels)
        self.codebooks = int(model.decoder.num_codebooks)
        self.melody = model.config.model_type == _MELODY_MODEL_TYPE

    def check(self, options: CueOptions) -> None:
        """Refuses options this model cannot honour, before any audio is decoded."""
        options.validate()
        if options.reference_mode == MELODY and not self.melody:
            raise InvalidOptionsError(
                f"model {self.name} does not follow melodies: use a melody model such as "
                "'musicgen-melody', or continue the audio instead"
            )
        if options.reference_mode == CONTINUATION and self.melody:
            raise InvalidOptionsError(
                f"model {self.name} is a melody model, which cannot continue audio: use "
                "'musicgen-small' (or another non-melody model), or follow the melody instead"
            )
        if options.reference_mode is not None and self.feature_extractor is None:
            raise ModelUnavailableError(
                f"model {self.name} has no feature extractor (preprocessor_config.json), so it "
                "cannot take reference audio"
            )

    def reference(self, samples: np.ndarray, mode: str) -> Reference:
        """Trims decoded reference audio (channels, frames) at the model's rate to the part used."""
        if samples.shape[1] < MIN_CUE_REFERENCE_SECONDS * self.sample_rate:
            raise InvalidAudioError(
                f"the reference audio is {samples.shape[1] / self.sample_rate:.2f} s long; it must "
                f"be at least {MIN_CUE_REFERENCE_SECONDS:g} s"
            )
        if not np.any(samples):
            raise InvalidAudioError("the reference audio is silent: it can carry no melody or music")
        if mode == MELODY:
            samples = samples[:, : round(MELODY_SECONDS * self.sample_rate)]
        else:  # continue from whole frames, so the prompt codes cover the audio exactly
            keep = round(CONTINUATION_SECONDS * self.sample_rate)
            samples = samples[:, -keep:]
            samples = samples[:, samples.shape[1] % self.hop :]
        if self.channel_count == 1:
            samples = samples.mean(axis=0, keepdims=True, dtype=np.float32)
        elif samples.shape[0] == 1:
            samples = np.repeat(samples, self.channel_count, axis=0)
        return Reference(np.ascontiguousarray(samples[: self.channel_count], dtype=np.float32))

    def plan(self, options: CueOptions, reference: Reference | None) -> CuePlan:
        frames = max(1, round(options.duration * self.frame_rate))
        prompt = (
            reference.samples.shape[1] // self.hop
            if reference is not None and options.reference_mode == CONTINUATION
            else 0
        )
        limit = int(self.model.config.decoder.max_position_embeddings)
        if 1 + prompt + frames + self._delay_steps > limit:  # the start frame comes first
            longest = (limit - 1 - prompt - self._delay_steps) / self.frame_rate
            raise InvalidOptionsError(
                f"model {self.name} generates at most {limit} frames in all: {max(longest, 0):.2f} s "
                f"after {prompt / self.frame_rate:.2f} s of prompt, not {options.duration:g} s"
            )
        return CuePlan(
            sample_rate=self.sample_rate,
            channel_count=self.channel_count,
            step_count=frames + self._delay_steps,
            reference_seconds=reference.samples.shape[1] / self.sample_rate if reference else 0.0,
            reference_sha256=reference.sha256 if reference else "",
        )

    @property
    def _delay_steps(self) -> int:
        # Codebook k lags k steps: the last codebook's frame f arrives at step f + K - 1.
        per_channel = self.codebooks // self.channel_count
        return per_channel - 1

    def inputs(self, options: CueOptions, reference: Reference | None) -> dict:
        """The keyword arguments of `generate` for these options (tensors on the model's device)."""
        inputs = dict(self.tokenizer([options.prompt], return_tensors="pt", padding=True))
        if reference is not None and options.reference_mode == MELODY:
            audio = reference.samples.mean(axis=0)
            inputs.update(self.feature_extractor(audio=audio, sampling_rate=self.sample_rate, return_tensors="pt"))
        elif reference is not None:
            audio = reference.samples[0] if self.channel_count == 1 else reference.samples
            inputs.update(self.feature_extractor(raw_audio=audio, sampling_rate=self.sample_rate, return_tensors="pt"))
        inputs = {k: v.to(self.model.device) if hasattr(v, "to") else v for k, v in inputs.items()}
        return inputs

    def sampling(self, options: CueOptions, plan: CuePlan) -> dict:
        """The sampling keyword arguments of `generate`; 0 turns top-k and top-p off."""
        return dict(
            do_sample=True,
            guidance_scale=options.guidance_scale,
            top_k=options.top_k,
            top_p=options.top_p or 1.0,
            temperature=options.temperature,
            max_new_tokens=plan.step_count,
        )

    def generate(
        self, options: CueOptions, reference: Reference | None = None
    ) -> Iterator[CuePlan | CueStep | CueChunk]:
        """Yields the plan, then a CueStep per step and CueChunks as the audio is complete.

        `options` must carry a seed (see with_seed()). Closing the generator stops the
        generation at its next step.
        """
        self.check(options)
        if options.seed is None:
            raise ValueError("generate() needs options with a seed: call with_seed() first")
        if (reference is None) != (options.reference_mode is None):
            raise InvalidOptionsError(
                "reference audio goes with a reference mode (melody or continuation)"
                if reference is not None
                else f"reference mode {options.reference_mode} needs reference audio"
            )
        plan = self.plan(options, reference)
        yield plan
        inputs = self.inputs(options, reference)
        prompt = self._prompt_codes(inputs) if options.reference_mode == CONTINUATION else None
        prompt_samples = 0 if prompt is None else prompt.shape[1] * self.hop
        chunk_samples = max(self.hop, round(options.chunk_seconds * self.sample_rate))
        emitted = prompt_samples  # samples of the decoded sequence already sent (or the prompt)
        step = 0
        steps = from_callbacks(
            "musicgen-generate", self._generation(inputs, self.sampling(options, plan), options.seed), max_pending=0
        )
        with contextlib.closing(steps):
            while True:
                try:
                    tokens = next(steps)
                except StopIteration as done:
                    output = done.value
                    break
                step += 1
                yield CueStep(step, plan.step_count)
                ready = (self._complete_frames(tokens) - DECODE_MARGIN_FRAMES) * self.hop
                if ready - emitted >= max(chunk_samples, CHUNK_GROWTH * (emitted - prompt_samples)):
                    audio = self._decode(tokens, prompt)[:, emitted:ready]
                    yield CueChunk(audio, (emitted - prompt_samples) / self.sample_rate)
                    emitted = ready
        final = output[0].detach().float().cpu().numpy()
        if final.shape[1] > emitted:
            yield CueChunk(np.ascontiguousarray(final[:, emitted:]), (emitted - prompt_samples) / self.sample_rate)

    def _generation(self, inputs: dict, sampling: dict, seed: int):
        """`generate` as a call that reports the (K, length) delayed token matrix after each
        step, through a stopping criterion: transformers 5's MusicGen passes no streamer to its
        sampling loop, but calls the criterion after every step, which also stops it on request."""

        def call(report):
            import torch
            from transformers import StoppingCriteriaList

            def after_step(input_ids, scores, **kwargs):
                stop = report(input_ids.detach().cpu())
                return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)

            torch.manual_seed(seed)
            with torch.inference_mode():
                return self.model.generate(**inputs, **sampling, stopping_criteria=StoppingCriteriaList([after_step]))

        return call

    def _complete_frames(self, tokens) -> int:
        """Frames whose codes are known in every codebook, for a delayed (K, length) token
        matrix (a start frame, then a continuation's prompt codes and the generated ones)."""
        return max(0, tokens.shape[1] - 1 - self._delay_steps)

    def _prompt_codes(self, inputs: dict):
        """The (K, frames) codes of a continuation's prompt, as `generate` computes them.

        `generate` keeps the prompt's last codes of the delayed codebooks in its delay mask
        rather than in the token matrix it hands out, so the decoder takes them from here.
        """
        import torch

        with torch.inference_mode():
            if self.channel_count == 1:
                codes = self.model.audio_encoder.encode(inputs["input_values"]).audio_codes[0, 0]
            else:  # generate interleaves the channels' codebooks
                left, right = (
                    self.model.audio_encoder.encode(inputs["input_values"][:, c : c + 1]).audio_codes[0, 0]
                    for c in range(2)
                )
                codes = torch.stack([left, right], dim=1).reshape(self.codebooks, -1)
        return codes.cpu()

    def _decode(self, tokens, prompt=None) -> np.ndarray:
        """EnCodec's audio for the complete frames of a delayed (K, length) token matrix whose
        first frames are the (K, frames) `prompt` codes, if given."""
        import torch

        frames = self._complete_frames(tokens)
        per_channel = self.codebooks // self.channel_count
        # Codebook k's frame f sits at position 1 + f + k (per channel; stereo interleaves).
        codes = torch.stack(
            [tokens[k, 1 + k % per_channel : 1 + k % per_channel + frames] for k in range(self.codebooks)]
        )
        if prompt is not None:
            codes[:, : prompt.shape[1]] = prompt[:, :frames]
        codes = codes[None, None]
        with torch.inference_mode():
            codes = codes.to(self.model.device)
            if self.channel_count == 1:
                audio = self.model.audio_encoder.decode(codes, audio_scales=[None]).audio_values
            else:
                audio = torch.cat(
                    [
                        self.model.audio_encoder.decode(codes[:, :, c::2], audio_scales=[None]).audio_values
                        for c in range(2)
                    ],
                    dim=1,
                )
        return audio[0].float().cpu().numpy()


def load(resolved: ResolvedModel, settings: ModelSettings) -> tuple[MusicgenEngine, str]:
    """Loads a MusicGen model directory; returns (engine, device)."""
    try:
        import torch
        from transformers import (
            AutoFeatureExtractor,
            AutoTokenizer,
            MusicgenForConditionalGeneration,
            MusicgenMelodyForConditionalGeneration,
        )
    except ImportError as exc:
        raise ModelUnavailableError(
            f"MusicGen needs transformers and torch ({exc.name} is missing): install the sidecar's `{EXTRA}` extra"
        ) from None
    device = devices.torch_device(settings.device)
    if device == devices.CPU and settings.cpu_threads > 0:
        torch.set_num_threads(settings.cpu_threads)  # process-wide: torch has no per-model setting
    config = hub_models.read_config(resolved)
    if config.model_type not in _MODEL_TYPES:
        raise ModelUnavailableError(f"{resolved.name} holds a {config.model_type!r} model, not MusicGen")
    cls = (
        MusicgenMelodyForConditionalGeneration
        if config.model_type == _MELODY_MODEL_TYPE
        else MusicgenForConditionalGeneration
    )
    try:
        model = cls.from_pretrained(resolved.path).to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(resolved.path)
    except (OSError, ValueError) as exc:
        raise ModelUnavailableError(f"cannot load the MusicGen model in {resolved.path}: {exc}") from None
    try:
        feature_extractor = AutoFeatureExtractor.from_pretrained(resolved.path)
    except OSError:  # only reference audio needs it; check() says so when asked
        feature_extractor = None
    log.info(
        "MusicGen %s on %s: %d codebooks at %d frames/s, %d Hz, %d channel(s)",
        resolved.name,
        device,
        model.decoder.num_codebooks,
        config.audio_encoder.frame_rate,
        config.audio_encoder.sampling_rate,
        config.decoder.audio_channels,
    )
    return MusicgenEngine(resolved.name, model, tokenizer, feature_extractor, device), device


CAPABILITIES = ("CUE_GENERATION",)


def resolve(name: str | None, settings: ModelSettings | None = None) -> ResolvedModel:
    return hub_models.resolve(
        name or DEFAULT_MODEL,
        MODELS,
        family=FAMILY,
        what=FAMILY,
        extra=EXTRA,
        capabilities=CAPABILITIES,
        downloads=settings is None or settings.downloads,
    )


def installed(settings: ModelSettings) -> list[ResolvedModel]:
    return hub_models.installed(MODELS, family=FAMILY, capabilities=CAPABILITIES)


MODEL_FAMILY = ModelFamily(
    FAMILY, resolve=resolve, load=load, installed=installed, default=lambda settings: DEFAULT_MODEL
)
