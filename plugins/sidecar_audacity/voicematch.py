"""Fix phrase's pure parts: whose voice to clone, which of their speech to take, how loud to be.

Standard library only. Words with speakers come in (times in seconds of one audio file);
time ranges, a transcript and a gain come out, so each rule can be tested on its own.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

from sidecar_audacity.errors import PluginError
from sidecar_common.limits import MIN_REFERENCE_SECONDS
from sidecar_common.subtitles import TimedWord

TARGET_REFERENCE_SECONDS = 15.0  # more adds little; nearer speech sounds more like the phrase
REGION_GAP_SECONDS = 1.0  # a pause longer than this between one speaker's words starts a new region
WORD_PAD_SECONDS = 0.05  # word timings are tight: keep the onsets and tails
BLOCK_SECONDS = 0.1  # loudness is measured on blocks this long
ABSOLUTE_GATE_DB = -70.0  # blocks quieter than this (dBFS) are silence (as in ITU-R BS.1770)
RELATIVE_GATE_DB = -20.0  # and so are blocks this far below the mean of the rest: pauses, breaths
MAX_GAIN_DB = 24.0  # the correction is never made more than this much louder or quieter
PEAK_LIMIT = 10 ** (-1 / 20)  # -1 dBFS: the gain stops short of clipping


@dataclasses.dataclass(frozen=True)
class Region:
    start: float
    end: float
    words: tuple[TimedWord, ...]

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def text(self) -> str:
        return " ".join(w.text.strip() for w in self.words)


@dataclasses.dataclass(frozen=True)
class Reference:
    """Speech of the selection's speaker to clone the voice from, in time order."""

    speaker: str | None  # None: the transcript had no speakers, so all speech counts
    regions: tuple[Region, ...]

    @property
    def seconds(self) -> float:
        return sum(r.duration for r in self.regions)

    @property
    def transcript(self) -> str:
        return " ".join(r.text for r in self.regions)


@dataclasses.dataclass(frozen=True)
class Gain:
    factor: float
    limited_by: str = ""  # "", "range" (clamped to ±MAX_GAIN_DB) or "peak" (kept from clipping)

    @property
    def db(self) -> float:
        return 20 * math.log10(self.factor)


def selection_speaker(words: Sequence[TimedWord], start: float, end: float) -> str | None:
    """The speaker whose words overlap the selection most; the nearest word's when none overlap."""
    if not words:
        raise PluginError("no speech was transcribed around the selection: is it speech?")
    overlap: dict[str | None, float] = {}
    for w in words:
        shared = min(w.end, end) - max(w.start, start)
        if shared > 0:
            overlap[w.speaker] = overlap.get(w.speaker, 0.0) + shared
    if overlap:
        return max(overlap, key=overlap.get)
    return min(words, key=lambda w: max(start - w.end, w.start - end)).speaker


def speech_regions(words: Sequence[TimedWord], speaker: str | None, start: float, end: float) -> list[Region]:
    """Runs of the speaker's words outside the selection; another speaker's word, a long
    pause or the selection ends a run."""
    regions: list[Region] = []
    run: list[TimedWord] = []
    for w in sorted(words, key=lambda w: w.start):
        inside = w.end > start and w.start < end
        if run and (w.speaker != speaker or inside or w.start - run[-1].end > REGION_GAP_SECONDS):
            regions.append(_region(run, start, end))
            run = []
        if w.speaker == speaker and not inside:
            run.append(w)
    if run:
        regions.append(_region(run, start, end))
    return regions


def choose_reference(
    words: Sequence[TimedWord],
    start: float,
    end: float,
    *,
    minimum: float = MIN_REFERENCE_SECONDS,
    target: float = TARGET_REFERENCE_SECONDS,
) -> Reference:
    """The selection's speaker's speech outside it, nearest first, until `target` seconds
    (the last region cut at a word, keeping its side nearest the selection)."""
    speaker = selection_speaker(words, start, end)
    regions = sorted(speech_regions(words, speaker, start, end), key=lambda r: max(start - r.end, r.start - end))
    chosen: list[Region] = []
    total = 0.0
    for region in regions:
        if total >= target:
            break
        if total + region.duration > target:
            region = _nearest_part(region, target - total, start, end)
        chosen.append(region)
        total += region.duration
    if total < minimum:
        who = f"speaker {speaker}" if speaker else "the speaker"
        raise PluginError(
            f"only {total:.1f} s of {who}'s speech was found outside the selection; "
            f"cloning the voice needs {minimum:g} s or more (use a longer track)"
        )
    return Reference(speaker, tuple(sorted(chosen, key=lambda r: r.start)))


def _region(run: Sequence[TimedWord], start: float, end: float) -> Region:
    """The words' span, padded a little but never into the selection."""
    lo, hi = run[0].start - WORD_PAD_SECONDS, run[-1].end + WORD_PAD_SECONDS
    if run[0].start >= end:
        lo = max(lo, end)
    if run[-1].end <= start:
        hi = min(hi, start)
    return Region(max(lo, 0.0), hi, tuple(run))


def _nearest_part(region: Region, seconds: float, start: float, end: float) -> Region:
    """The fewest whole words of the region, from its side nearest the selection, lasting `seconds`."""
    after = region.start >= end
    ordered = list(region.words) if after else list(reversed(region.words))
    kept: list[TimedWord] = []
    for w in ordered:
        kept.append(w)
        if _region(sorted(kept, key=lambda k: k.start), start, end).duration >= seconds:
            break
    return _region(sorted(kept, key=lambda k: k.start), start, end)


def speech_rms(samples: Sequence[float], rate: int, full_scale: float = 1.0) -> float:
    """RMS of the speech in `samples`, gated like BS.1770 so pauses do not count; 0 if silent."""
    size = max(1, round(rate * BLOCK_SECONDS))
    powers = []
    for i in range(0, len(samples) - size + 1, size):
        block = samples[i : i + size]
        powers.append(sum(x * x for x in block) / (size * full_scale * full_scale))
    loud = [p for p in powers if p > 10 ** (ABSOLUTE_GATE_DB / 10)]
    if not loud:
        return 0.0
    gate = sum(loud) / len(loud) * 10 ** (RELATIVE_GATE_DB / 10)
    kept = [p for p in loud if p > gate]
    return math.sqrt(sum(kept) / len(kept))


def matching_gain(target_rms: float, rms: float, peak: float) -> Gain:
    """The gain that brings audio of this RMS to the target, within range and below clipping."""
    if target_rms <= 0 or rms <= 0:
        return Gain(1.0, "range")
    factor, limited = target_rms / rms, ""
    bound = 10 ** (MAX_GAIN_DB / 20)
    if not 1 / bound <= factor <= bound:
        factor, limited = min(max(factor, 1 / bound), bound), "range"
    if peak * factor > PEAK_LIMIT:
        factor, limited = PEAK_LIMIT / peak, "peak"
    return Gain(factor, limited)
