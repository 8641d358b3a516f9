"""Stem separation with Demucs, streamed window by window so memory stays flat.

demucs.apply.apply_model splits a whole track into overlapping windows, runs the model on
each and crossfades them with triangular weights. Here the same windows are run as the
audio arrives: each window goes through apply_model itself (split=False, so padding,
context and trimming are Demucs' own), and every frame that no later window covers is
finished and yielded. With shifts=0 the result equals apply_model on the whole track up to
float rounding. Shifts and bags of models run one such pass per (model, shift), as
apply_model does, and mix the passes with the bag's weights.

Unlike demucs.api.Separator, the track is not normalised by its global mean and deviation
first (that needs the whole track); the models normalise each window themselves.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Iterable, Iterator
from typing import Any, ClassVar

import numpy as np

from sidecar.engines import demucs_models
from sidecar.engines.bounds import Bounded, Length, Range
from sidecar.engines.catalogue import ModelFamily, ModelSettings, ResolvedModel
from sidecar.errors import InvalidOptionsError
from sidecar.runtime import devices

log = logging.getLogger(__name__)

MAX_SHIFTS = 20
MAX_OVERLAP = 0.9
MIN_SEGMENT_SECONDS = 1.0
MAX_SEGMENT_SECONDS = 60.0  # above every model's training length; the model's own is checked too
MAX_STEMS = 16
MAX_STEM_NAME_CHARS = 64
MAX_SHIFT_SECONDS = 0.5  # apply_model shifts the input by up to this much
NO_PREFIX = "no_"  # two-stem mode: "no_vocals" is the sum of every stem but vocals


@dataclasses.dataclass(frozen=True)
class SeparationOptions(Bounded):
    # Stems to return; empty: all (of the model, or of the two-stem pair).
    stems: tuple[str, ...] = ()
    # Two-stem mode: this stem and "no_<stem>" (the sum of the others); None: every stem.
    two_stems: str | None = None
    # Randomly shifted passes averaged (each costs a full pass); 0: one unshifted pass.
    shifts: int = 0
    # Share of each window overlapping the next, crossfaded.
    overlap: float = 0.25
    # Window length the model sees; None: the model's own.
    segment_seconds: float | None = None

    BOUNDS: ClassVar[dict] = {
        "stems": Length(MAX_STEM_NAME_CHARS, "stems", max_items=MAX_STEMS),
        "two_stems": Length(MAX_STEM_NAME_CHARS, "two-stem name"),
        "shifts": Range(0, MAX_SHIFTS, "shifts"),
        "overlap": Range(0.0, MAX_OVERLAP, "overlap"),
        "segment_seconds": Range(MIN_SEGMENT_SECONDS, MAX_SEGMENT_SECONDS, "the segment", " s"),
    }

    def validate(self, sources: list[str], max_segment_seconds: float) -> None:
        if self.two_stems is not None and self.two_stems not in sources:
            raise InvalidOptionsError(
                f"two-stem mode needs one of the model's stems ({', '.join(sources)}), not {self.two_stems!r}"
            )
        offered = self.offered_stems(sources)
        unknown = [s for s in self.stems if s not in offered]
        if unknown:
            raise InvalidOptionsError(
                f"unknown stem(s) {', '.join(map(repr, unknown))}: this separation offers {', '.join(offered)}"
            )
        if len(set(self.stems)) != len(self.stems):
            raise InvalidOptionsError("a stem is asked for twice")
        if self.segment_seconds is not None:
            if self.segment_seconds > max_segment_seconds:
                raise InvalidOptionsError(
                    f"the segment can be at most {max_segment_seconds:g} s for this model "
                    f"(its training length), not {self.segment_seconds:g} s"
                )

    def offered_stems(self, sources: list[str]) -> list[str]:
        if self.two_stems is None:
            return list(sources)
        return [self.two_stems, NO_PREFIX + self.two_stems]

    def output_stems(self, sources: list[str]) -> list[str]:
        offered = self.offered_stems(sources)
        return [s for s in offered if s in self.stems] if self.stems else offered


@dataclasses.dataclass(frozen=True)
class StemBlock:
    """The next finished stretch of every stem asked for, all the same length."""

    start_frame: int  # from the start of the input, at the model's sample rate
    stems: dict[str, np.ndarray]  # name -> float32 (channels, frames)

    @property
    def frame_count(self) -> int:
        return next(iter(self.stems.values())).shape[1]


class DemucsSeparator:
    """A loaded Demucs model (or bag) on its device; separate() may run from several threads."""

    def __init__(self, model: Any, name: str, device: str) -> None:
        self.model = model
        self.name = name
        self.device = device

    @property
    def sources(self) -> list[str]:
        return list(self.model.sources)

    @property
    def sample_rate(self) -> int:
        return int(self.model.samplerate)

    @property
    def channel_count(self) -> int:
        return int(self.model.audio_channels)

    @property
    def max_segment_seconds(self) -> float:
        """Transformer models cannot see more than their training length."""
        from demucs.apply import BagOfModels
        from demucs.htdemucs import HTDemucs

        members = self.model.models if isinstance(self.model, BagOfModels) else [self.model]
        limits = [float(m.segment) for m in members if isinstance(m, HTDemucs)]
        return min(limits, default=float("inf"))

    def segment_seconds(self, options: SeparationOptions) -> float:
        """The window length the first member runs with."""
        return options.segment_seconds or float(_members(self.model)[0][0].segment)

    def separate(
        self, blocks: Iterable[np.ndarray], options: SeparationOptions, *, on_window: Callable[[], None] | None = None
    ) -> Iterator[StemBlock]:
        """Yields the stems of float32 (channels, frames) blocks at the model's rate, in order,
        as each window finishes a stretch.

        on_window is called before each model call (raise from it to stop).
        """
        import torch
        from demucs.audio import convert_audio_channels

        options.validate(self.sources, self.max_segment_seconds)
        wanted = options.output_stems(self.sources)
        passes = self._passes(options)
        mixer = _PassMixer(len(passes))
        position = 0
        for block in blocks:
            mix = convert_audio_channels(torch.from_numpy(np.ascontiguousarray(block))[None], self.channel_count)
            for index, (window_pass, _) in enumerate(passes):
                for finished in window_pass.feed(mix, on_window):
                    mixer.add(index, finished)
                    position = yield from self._emit(mixer, passes, wanted, options, position)
        for index, (window_pass, _) in enumerate(passes):
            for finished in window_pass.finish(on_window):
                mixer.add(index, finished)
                position = yield from self._emit(mixer, passes, wanted, options, position)

    def _passes(self, options: SeparationOptions) -> list[tuple[_WindowPass, Any]]:
        """One pass per (member model, shift), with each pass's weight per source."""
        import torch

        shifts = max(1, options.shifts)
        members = _members(self.model)
        totals = torch.tensor([sum(w[k] for _, w in members) for k in range(len(self.sources))])
        passes = []
        for model, weights in members:
            scale = torch.tensor(weights, dtype=torch.float32) / totals / shifts
            max_shift = int(MAX_SHIFT_SECONDS * model.samplerate)
            for _ in range(shifts):
                # As apply_model: pad by max_shift, start `offset` in, drop the lead-in after.
                delay = max_shift - random.randint(0, max_shift) if options.shifts else 0
                window_pass = _WindowPass(model, options.segment_seconds, options.overlap, delay, self.device)
                passes.append((window_pass, scale[:, None, None]))
        return passes

    def _emit(
        self, mixer: _PassMixer, passes, wanted: list[str], options: SeparationOptions, position: int
    ) -> Iterator[StemBlock]:
        ready = mixer.take()
        if ready is None:
            return position
        estimate = sum(scale * part for (_, scale), part in zip(passes, ready))
        by_name = dict(zip(self.sources, estimate.numpy()))
        if options.two_stems is not None:
            kept = options.two_stems
            by_name = {kept: by_name[kept], NO_PREFIX + kept: sum(v for k, v in by_name.items() if k != kept)}
        stems = {name: np.ascontiguousarray(by_name[name], dtype=np.float32) for name in wanted}
        yield StemBlock(position, stems)
        return position + estimate.shape[-1]


def _members(model) -> list[tuple[Any, list[float]]]:
    """(model, weight per source) for each model of a bag, or the model alone with weight 1."""
    from demucs.apply import BagOfModels

    if isinstance(model, BagOfModels):
        return list(zip(model.models, model.weights))
    return [(model, [1.0] * len(model.sources))]


class _WindowPass:
    """apply_model's split loop for one model, fed block by block.

    Windows start every `stride` frames. A window runs once the buffer holds it plus a
    window of look-ahead (Demucs pads each window with real context, up to its valid
    length); the buffer keeps a window of history for the same reason, and for the last,
    short window, which Demucs centres on real audio. Output frames before the next window's
    start are final.
    """

    def __init__(self, model, segment: float | None, overlap: float, delay: int, device: str) -> None:
        import torch

        self.model = model
        self.segment = segment
        self.device = device
        self.length = int(model.samplerate * (segment or model.segment))
        self.stride = int((1 - overlap) * self.length)
        self.weight = _transition_weight(self.length, device)
        self.sources = len(model.sources)
        self.mix: torch.Tensor | None = None  # (1, channels, frames) from mix_start
        self.mix_start = 0
        self.offset = 0  # next window's start
        self.out: torch.Tensor | None = None  # (sources, channels, frames) from out_start
        self.sum_weight = torch.zeros(0)
        self.out_start = 0
        self.skip = delay  # leading output frames to drop (the shift's padding)
        self._lead_in = delay  # zero frames to put before the first block

    @property
    def mix_end(self) -> int:
        return self.mix_start + (0 if self.mix is None else self.mix.shape[-1])

    def feed(self, block, on_window) -> Iterator:
        import torch

        if self.mix is None:
            lead = torch.zeros(*block.shape[:-1], self._lead_in, dtype=block.dtype)
            self.mix = torch.cat([lead, block], dim=-1)
            self.out = torch.zeros(self.sources, block.shape[1], 0)
        else:
            self.mix = torch.cat([self.mix, block], dim=-1)
        while self.offset + 2 * self.length <= self.mix_end:
            yield from self._window(on_window, final=False)

    def finish(self, on_window) -> Iterator:
        if self.mix is None:
            return
        while self.offset < self.mix_end:
            yield from self._window(on_window, final=True)
        yield from self._release(self.mix_end)

    def _window(self, on_window, *, final: bool) -> Iterator:
        import torch
        from demucs.apply import TensorChunk, apply_model

        if on_window is not None:
            on_window()
        chunk = TensorChunk(self.mix, self.offset - self.mix_start, self.length)
        result = apply_model(self.model, chunk, shifts=0, split=False, segment=self.segment, device=self.device)[0]
        frames = result.shape[-1]
        start = self.offset - self.out_start
        grow = start + frames - self.out.shape[-1]
        if grow > 0:
            self.out = torch.cat([self.out, self.out.new_zeros(*self.out.shape[:-1], grow)], dim=-1)
            self.sum_weight = torch.cat([self.sum_weight, self.sum_weight.new_zeros(grow)])
        self.out[..., start : start + frames] += (self.weight[:frames] * result).to("cpu")
        self.sum_weight[start : start + frames] += self.weight[:frames].to("cpu")
        self.offset += self.stride
        if not final:
            yield from self._release(self.offset)
            keep_from = self.offset - self.length - self.mix_start
            if keep_from > 0:
                self.mix = self.mix[..., keep_from:]
                self.mix_start += keep_from

    def _release(self, end: int) -> Iterator:
        count = min(end - self.out_start, self.out.shape[-1])
        if count <= 0:
            return
        finished = self.out[..., :count] / self.sum_weight[:count]
        self.out = self.out[..., count:]
        self.sum_weight = self.sum_weight[count:]
        self.out_start += count
        if self.skip:
            dropped = min(self.skip, count)
            finished = finished[..., dropped:]
            self.skip -= dropped
        if finished.shape[-1]:
            yield finished


def _transition_weight(length: int, device: str):
    """The crossfade weight apply_model gives each window: a triangle peaking mid-window."""
    import torch

    weight = torch.cat(
        [torch.arange(1, length // 2 + 1, device=device), torch.arange(length - length // 2, 0, -1, device=device)]
    )
    return weight / weight.max()


class _PassMixer:
    """Lines up the passes' finished output, which each pass releases at its own pace."""

    def __init__(self, count: int) -> None:
        self.pending: list[list] = [[] for _ in range(count)]

    def add(self, index: int, part) -> None:
        self.pending[index].append(part)

    def take(self):
        """The longest stretch every pass has finished, one tensor per pass; None if empty."""
        import torch

        available = min(sum(p.shape[-1] for p in parts) for parts in self.pending)
        if available == 0:
            return None
        taken = []
        for i, parts in enumerate(self.pending):
            joined = torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]
            taken.append(joined[..., :available])
            rest = joined[..., available:]
            self.pending[i] = [rest] if rest.shape[-1] else []
        return taken


def load(resolved: ResolvedModel, settings: ModelSettings) -> tuple[DemucsSeparator, str]:
    """Loads a resolved model for the chosen device; returns (separator, device)."""
    return separator(demucs_models.load(resolved), resolved.name, settings.device)


def separator(model: Any, name: str, device_preference: str = devices.AUTO) -> tuple[DemucsSeparator, str]:
    """Wraps a loaded Demucs model for the chosen device; returns (separator, device)."""
    device = devices.torch_device(device_preference)
    torch_device = "cuda:0" if device == devices.CUDA else "cpu"
    model.to(torch_device)
    log.info("Demucs model %s runs on %s", name, torch_device)
    return DemucsSeparator(model, name, torch_device), torch_device


MODEL_FAMILY = ModelFamily(
    demucs_models.FAMILY,
    resolve=demucs_models.resolve,
    load=load,
    installed=demucs_models.installed,
    default=lambda settings: demucs_models.DEFAULT_MODEL,
)
