"""Subtitles in another language on the source cues' times.

Translating cue by cue would translate half sentences. Instead:

1. `sentences` joins the cues' words into sentences (ended by . ? ! …, by a change of speaker,
   or at a cue boundary once a run-on passes MAX_SENTENCE_CHARS) and remembers how many of each
   sentence's characters each cue held.
2. The caller translates the sentences (any texts -> texts function: the Translate RPC).
3. `distribute` cuts each translation into as many pieces as cues its sentence touched, in
   proportion to the characters each held, at word boundaries (at characters for scripts
   written without spaces), preferring the cuts after punctuation.
4. `reflow` lays each cue's new text out with the line rules of `subtitles.CueRules`. A cue
   whose text needs more lines than a cue has becomes several cues sharing its time, and a cue
   stays up longer, into the gap before the next one, when reading speed or the shortest time
   on screen asks for it; never into the next cue, past max_duration a cue or past the media.

Standard library only.
"""

from __future__ import annotations

import dataclasses
import math
import unicodedata
from collections.abc import Callable, Sequence

from sidecar_common import subtitles
from sidecar_common.limits import MAX_TRANSLATION_TEXT_CHARS, MAX_TRANSLATION_TEXTS

RULES = subtitles.CueRules()  # broadcast rules, as the source cues were built with
MAX_SENTENCE_CHARS = 400  # a run-on without full stops is cut at the next cue boundary past this
SENTENCE_END = (*subtitles.SENTENCE_END, "。", "！", "？", "।", "؟")
CLAUSE_END = (*subtitles.CLAUSE_END, "，", "、", "；", "：", "،")
CLOSERS = "\"'”’»)]」』"
PUNCTUATION_BONUS = {"sentence": 12.0, "clause": 6.0}  # in characters of distance from the ideal cut
# Scripts written without spaces between words: their text is cut between characters.
_TRAILING_PUNCTUATION = ("Pc", "Pd", "Pe", "Pf", "Po")  # all but opening brackets and quotes
UNSPACED_SCRIPTS = ("CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "HALFWIDTH", "IDEOGRAPHIC")


@dataclasses.dataclass(frozen=True)
class Sentence:
    text: str
    pieces: tuple[tuple[int, int], ...]  # (cue index, characters of the sentence in that cue), in order


@dataclasses.dataclass(frozen=True)
class Atom:
    """The smallest unit a translation is cut at: a word, or one character of an unspaced script."""

    text: str
    spaced: bool  # a space comes before it (when it is not first)


def translate_cues(
    cues: Sequence[subtitles.Cue],
    translate: Callable[[list[str]], list[str]],
    *,
    media_duration: float | None = None,
    rules: subtitles.CueRules = RULES,
) -> list[subtitles.Cue]:
    """The cues in another language: `translate` gets the sentences in batches of at most
    MAX_TRANSLATION_TEXTS and returns their translations in order."""
    rules.validate()
    found = sentences(cues)
    unique = list(dict.fromkeys(s.text for s in found))  # "Yes." said ten times is translated once
    translated: dict[str, str] = {}
    for first in range(0, len(unique), MAX_TRANSLATION_TEXTS):
        batch = unique[first : first + MAX_TRANSLATION_TEXTS]
        answers = translate(batch)
        if len(answers) != len(batch):
            raise ValueError(f"{len(batch)} sentences were sent for translation but {len(answers)} came back")
        translated.update(zip(batch, answers))
    texts = distribute(found, [translated[s.text] for s in found], len(cues))
    return reflow(cues, texts, media_duration=media_duration, rules=rules)


def sentences(cues: Sequence[subtitles.Cue], max_chars: int = MAX_SENTENCE_CHARS) -> list[Sentence]:
    """The cues' words joined into sentences; see the module docstring."""
    max_chars = min(max_chars, MAX_TRANSLATION_TEXT_CHARS)
    found: list[Sentence] = []
    words: list[tuple[int, str]] = []  # (cue index, word) of the sentence being built

    def close() -> None:
        if words:
            pieces: dict[int, int] = {}
            for index, word in words:
                pieces[index] = pieces.get(index, 0) + len(word) + 1
            found.append(Sentence(" ".join(w for _, w in words), tuple(pieces.items())))
            words.clear()

    for index, cue in enumerate(cues):
        if words and (cue.speaker != cues[words[-1][0]].speaker or sum(len(w) + 1 for _, w in words) >= max_chars):
            close()
        for word in " ".join(cue.lines).split():
            if sum(len(w) + 1 for _, w in words) + len(word) > MAX_TRANSLATION_TEXT_CHARS:
                close()  # a cue of one endless word: never more than a request may carry
            words.append((index, word))
            if _ends(word, SENTENCE_END):
                close()
    close()
    return found


def distribute(found: Sequence[Sentence], translations: Sequence[str], cue_count: int) -> list[list[Atom]]:
    """Each cue's share of the translations, as atoms in reading order."""
    shares: list[list[Atom]] = [[] for _ in range(cue_count)]
    for sentence, translation in zip(found, translations, strict=True):
        atoms = atomize(translation)
        groups = cut(atoms, [chars for _, chars in sentence.pieces])
        for (index, _), group in zip(sentence.pieces, groups):
            shares[index] += group
    return shares


def atomize(text: str) -> list[Atom]:
    """Words, with each character of an unspaced script its own atom (punctuation stays with
    the character before it)."""
    atoms: list[Atom] = []
    for word in text.split():
        spaced, run = True, ""
        for char in word:
            if not run and not spaced and unicodedata.category(char) in _TRAILING_PUNCTUATION:
                atoms[-1] = Atom(atoms[-1].text + char, atoms[-1].spaced)  # "語。" stays together
            elif _unspaced(char):
                if run:
                    atoms.append(Atom(run, spaced))
                    spaced, run = False, ""
                atoms.append(Atom(char, spaced))
                spaced = False
            else:
                run += char
        if run:
            atoms.append(Atom(run, spaced))
    for i in range(len(atoms) - 2, -1, -1):  # "「" opens the character after it
        if all(unicodedata.category(c) in ("Ps", "Pi") for c in atoms[i].text) and not atoms[i + 1].spaced:
            atoms[i : i + 2] = [Atom(atoms[i].text + atoms[i + 1].text, atoms[i].spaced)]
    return atoms


def join(atoms: Sequence[Atom]) -> str:
    return "".join((" " if atom.spaced and i else "") + atom.text for i, atom in enumerate(atoms))


def cut(atoms: Sequence[Atom], weights: Sequence[float]) -> list[list[Atom]]:
    """Atoms cut into len(weights) runs whose lengths follow the weights, each cut at the
    cheapest place near its ideal one (after punctuation is cheaper); runs are empty only
    when there are fewer atoms than weights."""
    count = len(weights)
    if count <= 1 or not atoms:
        return [list(atoms)] + [[] for _ in range(count - 1)]
    total_weight = sum(weights) or count
    lengths = [len(a.text) + (1 if i and a.spaced else 0) for i, a in enumerate(atoms)]
    total = sum(lengths)
    ends = [0.0]
    for length in lengths:
        ends.append(ends[-1] + length)  # ends[b]: characters before atom b
    cuts = [0]
    want = 0.0
    for j in range(count - 1):
        want += weights[j] / total_weight * total
        runs_left = count - j  # this run and the ones after it
        if len(atoms) - cuts[-1] >= runs_left:  # enough atoms: every run gets one
            low, high = cuts[-1] + 1, len(atoms) - (runs_left - 1)
        else:
            low, high = cuts[-1], len(atoms)
        cuts.append(min(range(low, high + 1), key=lambda b: _cut_cost(atoms, b, ends[b], want)))
    cuts.append(len(atoms))
    return [list(atoms[a:b]) for a, b in zip(cuts, cuts[1:])]


def _cut_cost(atoms: Sequence[Atom], b: int, at: float, want: float) -> float:
    cost = abs(at - want)
    if 0 < b < len(atoms):
        before = atoms[b - 1].text
        kind = "sentence" if _ends(before, SENTENCE_END) else "clause" if _ends(before, CLAUSE_END) else None
        cost -= PUNCTUATION_BONUS.get(kind, 0.0)
    return cost


def layout(atoms: Sequence[Atom], rules: subtitles.CueRules) -> tuple[str, ...]:
    """The fewest lines of at most max_line_chars: balanced at good breaks by subtitles'
    own layout for spaced words, else filled to an even length character by character."""
    if not atoms:
        return ()
    width = rules.max_line_chars
    if all(a.spaced or i == 0 for i, a in enumerate(atoms)) and all(len(a.text) <= width for a in atoms):
        return subtitles.layout_lines(join(atoms), rules)
    pieces: list[Atom] = []
    for atom in atoms:  # a word longer than a line is broken inside
        for start in range(0, len(atom.text), width):
            pieces.append(Atom(atom.text[start : start + width], atom.spaced and start == 0))
    total = len(join(pieces))
    fewest = math.ceil(total / width)
    for limit in (math.ceil(total / fewest), width):  # even lines if that costs no extra line
        lines: list[list[Atom]] = [[]]
        for atom in pieces:
            if lines[-1] and len(join([*lines[-1], atom])) > limit:
                lines.append([atom])
            else:
                lines[-1].append(atom)
        if len(lines) <= fewest:
            break
    return tuple(join(line) for line in lines)


def split_for_lines(atoms: Sequence[Atom], rules: subtitles.CueRules) -> list[tuple[str, ...]]:
    """One cue's text as the fewest parts that each fit max_lines lines, laid out."""
    if not atoms:
        return []
    parts = max(1, math.ceil(len(layout(atoms, rules)) / rules.max_lines))
    while True:
        runs = [run for run in cut(atoms, [1.0] * parts) if run]
        laid = [layout(run, rules) for run in runs]
        if all(len(lines) <= rules.max_lines for lines in laid) or parts >= len(atoms):
            return laid
        parts += 1


def reflow(
    cues: Sequence[subtitles.Cue],
    shares: Sequence[Sequence[Atom]],
    *,
    media_duration: float | None = None,
    rules: subtitles.CueRules = RULES,
) -> list[subtitles.Cue]:
    """Cues with the new text on the source cues' times; see the module docstring."""
    laid = [split_for_lines(atoms, rules) for atoms in shares]
    horizon = math.inf if media_duration is None else media_duration
    kept = [i for i, parts in enumerate(laid) if parts]
    out: list[subtitles.Cue] = []
    for n, i in enumerate(kept):
        cue, parts = cues[i], laid[i]
        start = cue.start
        next_start = cues[kept[n + 1]].start if n + 1 < len(kept) else horizon
        chars = [sum(map(len, lines)) for lines in parts]
        needed = max(cue.end - start, len(parts) * rules.min_duration, sum(chars) / rules.max_chars_per_second)
        limit = min(next_start, horizon, start + len(parts) * rules.max_duration)
        end = max(min(start + needed, limit), min(cue.end, limit))
        times = _spread(start, end, chars, rules)
        for (begin, finish), lines in zip(times, parts):
            out.append(subtitles.Cue(begin, finish, lines, cue.speaker))
    return out


def _spread(start: float, end: float, weights: Sequence[int], rules: subtitles.CueRules) -> list[tuple[float, float]]:
    """[start, end] shared in proportion to the weights, each share at least min_duration
    (or an even share when that is too much) and at most max_duration, in whole milliseconds."""
    span = end - start
    floor = min(rules.min_duration, span / len(weights))
    ceiling = max(rules.max_duration, span / len(weights))
    low, high = 0.0, span / max(1, min(weights)) + 1.0

    def shares(scale: float) -> list[float]:
        return [min(max(scale * w, floor), ceiling) for w in weights]

    for _ in range(60):  # the total grows with the scale: bisect for the one that fills the span
        middle = (low + high) / 2
        low, high = (middle, high) if sum(shares(middle)) < span else (low, middle)
    times, at = [], start
    for share in shares(high):
        until = min(end, at + share)
        times.append((at, until))
        at = until
    bounds = [round(a * 1000) for a, _ in times] + [round(end * 1000)]
    for j in range(1, len(bounds)):
        bounds[j] = max(bounds[j], bounds[j - 1] + 1)  # every cue at least a millisecond
    return [(a / 1000, b / 1000) for a, b in zip(bounds, bounds[1:])]


def _ends(word: str, marks: tuple[str, ...]) -> bool:
    return word.rstrip(CLOSERS).endswith(marks)


def _unspaced(char: str) -> bool:
    return unicodedata.name(char, "").startswith(UNSPACED_SCRIPTS)
