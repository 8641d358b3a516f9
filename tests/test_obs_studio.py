"""The captions script inside a real OBS Studio (Debian's obs-studio under Xvfb).

OBS starts with a throw-away HOME whose scene collection holds a FreeType 2 Text source and
the script, configured to read a LibriSpeech clip in real time and to talk to the test's
sidecar; OBS starts recording (x264 in software) and streaming to a local ffmpeg RTMP
receiver at once. The Text source's text is read from OBS through obs-websocket while the
clip plays, and compared with the script's own read-back after each change; the recording
is stopped through obs-websocket so the script closes its SRT; the stream's H.264 is
scanned for the CEA-608 captions the script sent.
"""

from __future__ import annotations

import pathlib
import re
import subprocess

import pytest

from tests.conftest import normalize
from tests.obs_fixtures import PLACEHOLDER, TEXT_SOURCE, Obs, RtmpReceiver, cea608_text, obs_available

pytestmark = pytest.mark.skipif(obs_available() is not None, reason=obs_available() or "")

LINES, CHARS = 3, 40
CLIP = "1089-134686-0000"  # "He hoped there would be stew for dinner, ..." (10 s)


def covered(reference: str, text: str) -> float:
    """Share of the reference's words that occur in the text."""
    said = set(normalize(text))
    words = normalize(reference)
    return sum(w in said for w in words) / len(words)


def srt_cues(text: str) -> list[tuple[float, float, str]]:
    def secs(stamp: str) -> float:
        h, m, s = stamp.replace(",", ".").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        start, end = re.match(r"(\S+) --> (\S+)", lines[1]).groups()
        cues.append((secs(start), secs(end), " ".join(lines[2:])))
    return cues


def test_obs_shows_the_spoken_words_records_an_srt_and_streams_captions(sidecar_server, librispeech, tmp_path):
    clip, reference = librispeech[CLIP]
    receiver = RtmpReceiver(tmp_path / "stream.flv")
    obs = Obs(
        tmp_path / "home",
        {
            "address": sidecar_server.address,
            "input": str(clip),
            "language": "en",
            "lines": LINES,
            "chars_per_line": CHARS,
            "srt": True,
        },
        record=True,
        stream_to=receiver.url,
    )
    seen = []  # the Text source's text as obs-websocket reports it, each change
    try:
        ws = obs.websocket()
        ws.request("StartStream")

        def look() -> None:
            text = ws.request("GetInputSettings", {"inputName": TEXT_SOURCE})["inputSettings"]["text"]
            if not seen or seen[-1] != text:
                seen.append(text)

        def ended() -> bool:
            look()
            return any(e.get("status") == "sidecar: ended" for e in obs.entries())

        obs.wait_for(ended, 120, "end of the clip's captions")
        recording = pathlib.Path(ws.request("StopRecord")["outputPath"])
        obs.wait_for(
            lambda: any(e.get("status", "").startswith("wrote ") for e in obs.entries()),
            20,
            "the SRT closed when recording stopped",
        )
        look()  # the timer's last change, made in the tick that logged the end
        # OBS sends a caption once the previous one's display time is up: the last ones
        # reach the stream a little after the Text source.
        obs.wait_for(lambda: covered(reference, cea608_text(receiver.received())) >= 0.6, 30, "captions in the stream")
        ws.request("StopStream")
        ws.close()
    finally:
        obs.stop()
        receiver.stop()

    # The Text source showed the spoken words as they came, laid out as asked; the script's
    # own read-back after each change agrees with what obs-websocket saw.
    texts = [t for t in seen if t != PLACEHOLDER]
    shown = normalize(" ".join(texts))
    assert shown and sum(w in normalize(reference) for w in shown) >= 0.8 * len(shown), seen
    assert covered(reference, " ".join(texts)) >= 0.6, seen
    assert len({t for t in texts if t}) >= 2, f"captions should change as the clip plays: {seen}"
    assert all(len(t.split("\n")) <= LINES and all(len(line) <= CHARS for line in t.split("\n")) for t in texts), texts
    assert texts[-1] == obs.texts()[-1] and set(texts) <= set(obs.texts()), (seen, obs.texts())
    tail, last = set(normalize(reference)[-20:]), normalize(texts[-1])
    assert sum(w in tail for w in last) >= 0.7 * len(last), f"not the clip's last words: {texts[-1]!r}"

    # The SRT next to the recording holds the same words, timed from the recording's start.
    srt_text = recording.with_suffix(".srt").read_text()
    cues = srt_cues(srt_text)
    assert covered(reference, " ".join(c[2] for c in cues)) >= 0.7, srt_text
    starts = [c[0] for c in cues]
    assert starts == sorted(starts) and all(0 <= s < e for s, e, _ in cues), srt_text
    # The speech begins 0.3 s into the clip and recording began about a second after capture;
    # the recording (stopped after the last caption) outlasts every cue.
    assert starts[0] < 3.0 and cues[-1][1] < recording_seconds(recording), srt_text

    # The stream carried the final captions as CEA-608 (obs_output_output_caption_text2),
    # and nothing else.
    captions = normalize(cea608_text(receiver.received()))
    assert sum(w in normalize(reference) for w in captions) >= 0.8 * len(captions), captions


def recording_seconds(path: pathlib.Path) -> float:
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(probe.stdout)
