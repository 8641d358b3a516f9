"""Helpers for the streaming-recognition tests: paced PCM, joined speech, boundary checks."""

from __future__ import annotations

import difflib
import pathlib
import re
import time
from collections.abc import Iterator, Sequence

import numpy as np

from sidecar.media import audio as media
from tests.conftest import DATA, normalize

SAMPLE_RATE = 16_000
CHUNK_SECONDS = 0.1


def speech(*uids: str, pause: float = 0.6, lead: float = 0.5, tail: float = 1.0) -> tuple[np.ndarray, str]:
    """LibriSpeech clips joined with pauses (16 kHz mono float32) and their joined transcript."""
    refs = {}
    for trans in DATA.glob("*.trans.txt"):
        for line in trans.read_text().splitlines():
            uid, text = line.split(" ", 1)
            refs[uid] = text
    gap = np.zeros(int(pause * SAMPLE_RATE), np.float32)
    parts = [np.zeros(int(lead * SAMPLE_RATE), np.float32)]
    for i, uid in enumerate(uids):
        if i:
            parts.append(gap)
        parts.append(media.decode_file(DATA / f"{uid}.flac", sample_rate=SAMPLE_RATE, mono=True).mono())
    parts.append(np.zeros(int(tail * SAMPLE_RATE), np.float32))
    return np.concatenate(parts), " ".join(refs[uid] for uid in uids)


def demo() -> tuple[np.ndarray, str]:
    """tests/data/demo-1089.flac (the four clips joined with 0.6 s gaps) and its transcript."""
    audio = media.decode_file(DATA / "demo-1089.flac", sample_rate=SAMPLE_RATE, mono=True).mono()
    return audio, speech(
        "1089-134686-0000", "1089-134686-0001", "1089-134691-0000", "1089-134691-0001", lead=0, tail=0
    )[1]


def long_form() -> tuple[np.ndarray, str]:
    """tests/data/ljspeech-lj001.ogg (3 min 42 s of one reader, read continuously) and its
    official transcript."""
    audio = media.decode_file(DATA / "ljspeech-lj001.ogg", sample_rate=SAMPLE_RATE, mono=True).mono()
    lines = (DATA / "ljspeech-lj001.txt").read_text(encoding="utf-8").splitlines()
    return audio, " ".join(line.split(" ", 1)[1] for line in lines if line.strip())


def paced_long_form() -> tuple[np.ndarray, str]:
    """The long form read as an address is: 46 pauses of 0.6 to 1.2 s inserted at gaps between
    words (tests/data/ljspeech-lj001-pauses.txt), mid-sentence as often as not. 261 s."""
    audio, reference = long_form()
    parts, at = [], 0
    for line in (DATA / "ljspeech-lj001-pauses.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            offset, pause = map(float, line.split())
            cut = round(offset * SAMPLE_RATE)
            parts += [audio[at:cut], np.zeros(round(pause * SAMPLE_RATE), np.float32)]
            at = cut
    return np.concatenate([*parts, audio[at:]]), reference


def pcm_chunks(samples: np.ndarray, *, pace: float = 0.0, sent: list | None = None) -> Iterator[bytes]:
    """s16le chunks of CHUNK_SECONDS, each sent once its audio has 'been recorded' at `pace`
    times real time (0: at once); `sent` collects the wall time when the last chunk went."""
    pcm = media.encode_pcm(samples[None, :], media.PCM_S16LE)
    step = int(CHUNK_SECONDS * SAMPLE_RATE) * 2
    started = time.perf_counter()
    for i in range(0, len(pcm), step):
        if pace:
            wait = started + (i + step) / 2 / SAMPLE_RATE / pace - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
        yield pcm[i : i + step]
    if sent is not None:
        sent.append(time.perf_counter())


def alignment(reference: str, hypothesis: str) -> list[tuple[str, str | None, str | None]]:
    """Levenshtein alignment of normalized words: (op, ref word, hyp word), op in
    "ok", "sub", "del" (a reference word missing), "ins" (an extra hypothesis word)."""
    ref, hyp = normalize(reference), normalize(hypothesis)
    cost = np.zeros((len(ref) + 1, len(hyp) + 1), int)
    cost[:, 0] = range(len(ref) + 1)
    cost[0, :] = range(len(hyp) + 1)
    for i in range(1, len(ref) + 1):
        for j in range(1, len(hyp) + 1):
            cost[i, j] = min(cost[i - 1, j] + 1, cost[i, j - 1] + 1, cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]))
    ops = []
    i, j = len(ref), len(hyp)
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            ops.append(("ok" if ref[i - 1] == hyp[j - 1] else "sub", ref[i - 1], hyp[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            ops.append(("del", ref[i - 1], None))
            i -= 1
        else:
            ops.append(("ins", None, hyp[j - 1]))
            j -= 1
    return ops[::-1]


def boundary_errors(reference: str, finals: Sequence[str], *, reach: int = 1) -> list[str]:
    """Words lost or doubled next to the boundaries between consecutive final results.

    Returns a description of each deletion or insertion within `reach` alignment steps of a
    boundary; an empty list when every boundary joined its neighbours cleanly. Two words heard
    as one ("stuff it" as "stuffered": a deletion beside a substitution that begins with one of
    the words) are a recognition error, which the WER counts, not a word lost at a boundary.
    """
    ops = alignment(reference, " ".join(finals))
    ops = [op for k, op in enumerate(ops) if not _merged(op, ops[k - 1 : k] + ops[k + 1 : k + 2])]
    boundaries = set()
    count = 0
    for text in finals[:-1]:
        count += len(normalize(text))
        boundaries.add(count)  # hypothesis word index where the next final result begins
    problems = []
    hyp_index = 0
    for k, (op, ref_word, hyp_word) in enumerate(ops):
        near = any(abs(hyp_index - b) <= reach for b in boundaries)
        if near and op in ("del", "ins"):
            context = " ".join(w or "" for _, _, w in ops[max(0, k - 3) : k + 3])
            problems.append(f"{op} {ref_word or hyp_word!r} at hypothesis word {hyp_index} ({context})")
        if op != "del":
            hyp_index += 1
    return problems


def bare(text: str) -> str:
    return re.sub(r"[^\w']+", "", text.lower())


def words_of(text: str) -> list[str]:
    return [w for w in (bare(t) for t in text.split()) if w]


def repeated_phrases(reference: str, hypothesis: str, *, shortest: int = 1, longest: int = 6) -> int:
    """Places where the hypothesis says a phrase of `shortest` to `longest` words twice in a
    row and the reference never does."""
    hyp, ref = words_of(hypothesis), " " + " ".join(words_of(reference)) + " "
    count, i = 0, 0
    while i < len(hyp):
        for n in range(longest, shortest - 1, -1):
            phrase = hyp[i : i + n]
            if len(phrase) == n and phrase == hyp[i + n : i + 2 * n] and f" {' '.join(phrase * 2)} " not in ref:
                count += 1
                i += 2 * n - 1
                break
        i += 1
    return count


def sentence_ends(reference: str, hypothesis: str) -> tuple[int, int, int]:
    """(right, said, meant): sentence ends the hypothesis puts after words that match the
    reference, how many it puts there in all, and how many the reference has there."""

    def marked(text: str) -> tuple[list[str], list[bool]]:
        pieces = [(bare(t), t.rstrip("\"')»”’").endswith((".", "?", "!"))) for t in text.split()]
        pieces = [p for p in pieces if p[0]]
        return [w for w, _ in pieces], [e for _, e in pieces]

    ref, ref_ends = marked(reference)
    hyp, hyp_ends = marked(hypothesis)
    right = said = meant = 0
    for block in difflib.SequenceMatcher(None, ref, hyp, autojunk=False).get_matching_blocks():
        for k in range(block.size):
            r, h = ref_ends[block.a + k], hyp_ends[block.b + k]
            right += r and h
            said += h
            meant += r
    return right, said, meant


def dropped_words(reference: str, hypothesis: str) -> int:
    """Reference words with no counterpart in the hypothesis (deletions of a word alignment)."""
    ref, hyp = words_of(reference), words_of(hypothesis)
    previous = list(range(len(hyp) + 1))
    deletions = [0] * (len(hyp) + 1)
    for i in range(1, len(ref) + 1):
        current, current_deletions = [i] + [0] * len(hyp), [i] + [0] * len(hyp)
        for j in range(1, len(hyp) + 1):
            options = [
                (previous[j - 1] + (ref[i - 1] != hyp[j - 1]), deletions[j - 1]),  # match or substitution
                (previous[j] + 1, deletions[j] + 1),  # a reference word dropped
                (current[j - 1] + 1, current_deletions[j - 1]),  # a word inserted
            ]
            current[j], current_deletions[j] = min(options)
        previous, deletions = current, current_deletions
    return deletions[len(hyp)]


def write_wav(path: pathlib.Path, samples: np.ndarray) -> pathlib.Path:
    """16 kHz mono samples as a 16-bit file, through the sidecar's own writer."""
    from sidecar.media.writers import S16, write_audio

    return write_audio(path, samples, SAMPLE_RATE, overwrite=True, sample_format=S16)


def _merged(op: tuple[str, str | None, str | None], neighbours: list) -> bool:
    """Whether a deletion (insertion) is one word of two heard as one (one heard as two)."""
    kind, ref_word, hyp_word = op
    for other, other_ref, other_hyp in neighbours:
        if other != "sub":
            continue
        if kind == "del" and other_hyp.startswith((ref_word, other_ref)):
            return True
        if kind == "ins" and other_ref.startswith((hyp_word, other_hyp)):
            return True
    return False
