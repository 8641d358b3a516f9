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

import base64
import pathlib
import re
import statistics
import subprocess
import threading
import time

import pytest

from tests.conftest import DATA, normalize, word_error_rate_of_start
from tests.obs_fixtures import PLACEHOLDER, TEXT_SOURCE, Obs, RtmpReceiver, cea608_text, obs_available
from tests.streaming_fixtures import demo
from tests.xvfb import artifacts_dir

pytestmark = pytest.mark.skipif(obs_available() is not None, reason=obs_available() or "")

LINES, CHARS = 3, 40
CLEAR_SECONDS = 4  # the settings test's "Clear after": words stay up this long after they came
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
        # The script clears the text a tick after the input ends: wait for its last change.
        obs.wait_for(lambda: look() or (obs.texts() and seen[-1] == obs.texts()[-1]), 10, "the text's last change")
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
    tail, last = set(normalize(reference)[-20:]), normalize([t for t in texts if t][-1])
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


def test_settings_typed_during_a_recording_keep_obs_responsive_and_the_srt_whole(sidecar_server, tmp_path):
    """A person at OBS: the captions script with a Text source at OBS's default font size, while
    recording. In Tools > Scripts they type a language, then an address where no sidecar runs,
    then the right address again, and reload the script. OBS's interface answers throughout,
    the session restarts once per setting (not per keystroke), the text clears while no words
    come, and the recording's SRT keeps every cue across all of it."""
    artifacts = artifacts_dir(tmp_path)
    clip = DATA / "demo-1089.flac"
    reference = demo()[1]
    obs = Obs(
        tmp_path / "home",
        {"address": sidecar_server.address, "input": str(clip), "srt": True, "clear_seconds": CLEAR_SECONDS},
        record=True,
        default_font=True,
    )
    seen = []
    try:
        ws = obs.websocket()

        def text() -> str:
            value = ws.request("GetInputSettings", {"inputName": TEXT_SOURCE})["inputSettings"].get("text", "")
            if not seen or seen[-1] != value:
                seen.append(value)
            return value

        def restarts() -> int:
            return sum(e.get("status", "").startswith("captioning ") for e in obs.entries())

        def applied(count: int, what: str) -> None:
            try:
                obs.wait_for(lambda: restarts() >= count, 15, what)
            except AssertionError:
                obs.screenshot(artifacts / f"obs-not-applied-{count}.png")  # where the typing went
                raise

        # The script sized the Text source: a full caption line lies inside the canvas and
        # fills most of its width.
        obs.wait_for(lambda: max(map(len, text().split("\n"))) >= 36, 60, "a long caption line")
        time.sleep(0.3)  # drawn at the new text's size
        video = ws.request("GetVideoSettings")
        item = ws.request("GetSceneItemList", {"sceneName": "S"})["sceneItems"][0]["sceneItemTransform"]
        save_source_screenshot(ws, "S", artifacts / "obs-canvas-default-font.png")
        obs.screenshot(artifacts / "obs-main-window.png")
        assert 0.5 * video["baseWidth"] < item["sourceWidth"] <= video["baseWidth"], (item, video, seen[-1])
        assert 0 < item["sourceHeight"] <= video["baseHeight"], (item, video)

        obs.open_scripts_dialog()
        status = [e["properties_status"] for e in obs.entries() if "properties_status" in e]
        assert f"{sidecar_server.address}: connected" in status[-1] and "Input demo-1089.flac: capturing" in status[-1]
        assert restarts() == 1
        obs.type_into("language", "en")
        applied(2, "the language applied")
        obs.type_into("address", "127.0.0.1:1")
        applied(3, "the unreachable address applied")
        unreachable_at = time.monotonic()
        assert text() != "", "the last words stay up a while"
        obs.wait_for(lambda: text() == "", 10, "the text cleared while no words come")
        # They clear CLEAR_SECONDS after they came, which was before the restart: a busy CPU
        # took up to 1.4 s more than an idle one to apply the address.
        assert time.monotonic() - unreachable_at > 1.0, seen

        # Typing the right address while the sidecar is unreachable: OBS's interface keeps
        # answering (SetCurrentProgramScene waits for OBS's interface thread).
        answers = []
        typing = threading.Thread(target=obs.type_into, args=("address", sidecar_server.address))
        typing.start()
        while typing.is_alive() or len(answers) < 10:
            began = time.monotonic()
            ws.request("SetCurrentProgramScene", {"sceneName": "S"})
            answers.append(time.monotonic() - began)
            time.sleep(0.05)
        typing.join()
        applied(4, "the right address applied")
        assert max(answers) < 1.0 and statistics.median(answers) < 0.1, f"OBS answered in {sorted(answers)[-5:]} s"
        obs.wait_for(lambda: text() not in ("", PLACEHOLDER), 30, "captions again")
        obs.click("refresh")  # the properties show the status as it is now
        obs.wait_for(
            lambda: any(
                f"{sidecar_server.address}: connected" in e.get("properties_status", "") for e in obs.entries()
            ),
            10,
            "the status refreshed",
        )
        time.sleep(0.5)
        obs.screenshot(artifacts / "obs-scripts-connected.png")
        time.sleep(3)
        assert restarts() == 4, [e for e in obs.entries() if "status" in e]

        recording = next(obs.recordings.glob("*.mkv"))
        written = srt_cues(recording.with_suffix(".srt").read_text())
        assert written, "no cues before the reload"
        obs.click("reload")
        appending = "appending captions to"
        obs.wait_for(lambda: any(appending in e.get("status", "") for e in obs.entries()), 20, "reload")
        status = next(e["status"] for e in obs.entries() if appending in e.get("status", ""))
        kept = int(re.search(r"\((\d+) cues kept\)", status).group(1))
        # The cues the reloaded script kept: the file's first ones from then on, never rebuilt.
        before = srt_cues(recording.with_suffix(".srt").read_text())[:kept]
        # Words came on until the reload, and the cues since the last pause were rebuilt with
        # them ("He could wait no" became "He could wait no longer"): every word written before
        # the reload is kept, in order.
        written_words = normalize(" ".join(c[2] for c in written))
        assert normalize(" ".join(c[2] for c in before))[: len(written_words)] == written_words, (written, before)
        obs.wait_for(lambda: len(srt_cues(recording.with_suffix(".srt").read_text())) > len(before), 40, "new cues")
        ws.request("StopRecord")
        obs.wait_for(lambda: any(e.get("status", "").startswith("wrote ") for e in obs.entries()), 20, "SRT closed")
        ws.close()
    finally:
        obs.stop()

    # The cues before the reload hold what was said up to then, the words said while the
    # settings changed too; after the reload (the file plays again from its start) the new
    # cues follow them.
    cues = srt_cues(recording.with_suffix(".srt").read_text())
    assert cues[: len(before)] == before, "the cues before the reload were kept as they were"
    starts = [c[0] for c in cues]
    assert starts == sorted(starts) and len(cues) > len(before), cues
    said = normalize(" ".join(c[2] for c in before))
    assert len(said) >= 20 and word_error_rate_of_start(reference, " ".join(said)) < 0.25, said
    assert all(len(line) <= 42 for t in seen for line in t.split("\n")), seen


def save_source_screenshot(ws, source: str, path: pathlib.Path) -> None:
    """What OBS renders for a source (the scene: the canvas), as a PNG."""
    image = ws.request("GetSourceScreenshot", {"sourceName": source, "imageFormat": "png"})["imageData"]
    path.write_bytes(base64.b64decode(image.partition(",")[2]))
