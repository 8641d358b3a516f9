"""Live captions laid out as broadcast roll-up captions, for a Text source, a terminal or a stream.

`CaptionBoard` shows the latest words as `lines` lines of at most `chars_per_line`
characters: final words then interim ones, scrolling up a whole line at a time. `CaptionLines`
cuts final words into whole lines for hosts that print or send a line at a time: a line ends
where the next word would not fit or at a sentence end, so sentences flow across lines instead
of one line per final result.

A final result may be punctuation alone: the mark that ends the previous final word, which the
sidecar settles once it heard what followed. Both join it to that word. Standard library only.
"""

from __future__ import annotations

import dataclasses

from sidecar_common import subtitles
from sidecar_common.subtitles import SENTENCE_END, is_mark


@dataclasses.dataclass(frozen=True)
class BoardOptions:
    lines: int = 2  # lines shown, 1 to 10
    chars_per_line: int = 42  # at most this many characters per line (a longer word is cut)

    def validate(self) -> None:
        if not 1 <= self.lines <= 10:
            raise ValueError(f"lines must be 1 to 10, got {self.lines}")
        if not 8 <= self.chars_per_line <= 200:
            raise ValueError(f"characters per line must be 8 to 200, got {self.chars_per_line}")


class CaptionBoard:
    """The text on screen, rolling up: final words then the interim ones, wrapped into lines,
    the last `lines` shown. Final words scroll away a whole line at a time, so the lines
    already on screen keep their breaks."""

    def __init__(self, options: BoardOptions = BoardOptions()) -> None:
        options.validate()
        self.options = options
        self._final: list[str] = []  # words (pieces of over-long ones) from the top line on
        self._interim: list[str] = []

    def add_final(self, text: str) -> None:
        pieces = self._pieces(text)
        if pieces and is_mark(pieces[0]):
            mark = pieces.pop(0)
            if self._final:  # else the word it ends has scrolled away or was cleared
                self._final[-1] += mark
        self._final.extend(pieces)
        lines = self._wrap(self._final)
        scrolled = lines[: max(0, len(lines) - self.options.lines)]
        del self._final[: sum(len(line) for line in scrolled)]

    def set_interim(self, text: str) -> None:
        self._interim = self._pieces(text)

    def clear(self) -> None:
        self._final, self._interim = [], []

    def text(self) -> str:
        lines = self._wrap(self._final + self._interim)[-self.options.lines :]
        return "\n".join(" ".join(line) for line in lines)

    def _pieces(self, text: str) -> list[str]:
        """The words, a mark joined to the word before it, a word longer than a line cut into
        line-long pieces."""
        width = self.options.chars_per_line
        words = join_marks(text.split())
        return [word[i : i + width] for word in words for i in range(0, len(word), width)]

    def _wrap(self, words: list[str]) -> list[list[str]]:
        lines: list[list[str]] = []
        used = self.options.chars_per_line + 1  # forces a first line
        for word in words:
            if used + 1 + len(word) > self.options.chars_per_line:
                lines.append([])
                used = -1
            lines[-1].append(word)
            used += 1 + len(word)
        return lines


class CaptionLines:
    """Final words cut into caption lines for a terminal or a stream's captions: a line ends
    where the next word would pass `chars_per_line`, or at a sentence end, so sentences flow
    across lines instead of one line per final result."""

    def __init__(self, chars_per_line: int = BoardOptions.chars_per_line) -> None:
        BoardOptions(chars_per_line=chars_per_line).validate()
        self.chars_per_line = chars_per_line
        self._words: list[subtitles.TimedWord] = []  # the line being filled

    @property
    def pending(self) -> str:
        """The line not yet full."""
        return " ".join(w.text for w in self._words)

    def add(self, words: tuple[subtitles.TimedWord, ...]) -> list[tuple[float, str]]:
        """Adds final words; returns the lines they completed, as (start time, text)."""
        done = []
        for word in words:
            text = word.text.strip()
            if not text:
                continue
            if is_mark(text):  # with no word pending, its line was already shown
                if self._words:
                    self._words[-1] = dataclasses.replace(self._words[-1], text=self._words[-1].text + text)
                if len(self.pending) > self.chars_per_line and len(self._words) > 1:
                    last = self._words.pop()  # the mark made the line too long: its word moves on
                    done += self.flush()
                    self._words = [last]
            elif self._words and len(self.pending) + 1 + len(text) > self.chars_per_line:
                done += self.flush()
                self._words = [dataclasses.replace(word, text=text)]
            else:
                self._words.append(dataclasses.replace(word, text=text))
            if self._words and self._words[-1].text.endswith(SENTENCE_END):
                done += self.flush()
        return done

    def flush(self) -> list[tuple[float, str]]:
        """The unfinished line as a last one, if any."""
        if not self._words:
            return []
        line, self._words = (self._words[0].start, self.pending), []
        return [line]


def join_marks(words: list[str]) -> list[str]:
    """Words with each mark joined to the word before it."""
    joined: list[str] = []
    for word in words:
        if joined and is_mark(word):
            joined[-1] += word
        else:
            joined.append(word)
    return joined
