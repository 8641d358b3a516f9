"""`sidecar live --obs`: captions pushed into a real OBS Studio through obs-websocket.

One OBS (Debian's obs-studio under Xvfb, no script loaded) for the module, its WebSocket
server asking for a password. `sidecar live` reads a LibriSpeech clip in real time, streams it
to the test's sidecar and sets the Text source's text; the test reads the text back from OBS
(GetInputSettings) while the clip plays. OBS streams to a local ffmpeg RTMP receiver
meanwhile, and the stream's H.264 is scanned for the CEA-608 captions `sidecar live` sent.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import normalize
from tests.harness import free_port
from tests.obs_fixtures import PLACEHOLDER, TEXT_SOURCE, Obs, RtmpReceiver, cea608_text, obs_available
from tests.test_live_cli import ENV, SIDECAR
from tests.test_obs_studio import covered

pytestmark = pytest.mark.skipif(obs_available() is not None, reason=obs_available() or "")

PASSWORD = "caption-secret"
LINES, CHARS = 2, 32
CLIP = "1089-134686-0000"  # "He hoped there would be stew for dinner, ..." (10 s)


@pytest.fixture(scope="module")
def obs(tmp_path_factory):
    home = tmp_path_factory.mktemp("obs")
    receiver = RtmpReceiver(home / "stream.flv")
    obs = Obs(home / "home", None, stream_to=receiver.url, websocket_password=PASSWORD)
    ws = obs.websocket()
    yield obs, ws, receiver
    ws.close()
    obs.stop()
    receiver.stop()


def live_obs(obs: Obs, *argv: str) -> list[str]:
    return [*SIDECAR, "live", "--obs", obs.websocket_url, "--obs-text-source", TEXT_SOURCE, *argv]


def test_live_sets_the_text_source_and_captions_the_stream(obs, sidecar_server, librispeech, tmp_path):
    obs, ws, receiver = obs
    clip, reference = librispeech[CLIP]
    ws.request("StartStream")
    process = subprocess.Popen(
        live_obs(
            obs,
            "-i",
            str(clip),
            "--lines",
            str(LINES),
            "--chars-per-line",
            str(CHARS),
            "--language",
            "en",
            "--server",
            sidecar_server.address,
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**ENV, "OBS_WEBSOCKET_PASSWORD": PASSWORD},
    )  # the password from the environment
    seen = []  # the Text source's text as OBS holds it, each change
    try:

        def look() -> bool:
            text = ws.text_source_settings(TEXT_SOURCE)["text"]
            if not seen or seen[-1] != text:
                seen.append(text)
            return process.poll() is not None

        obs.wait_for(look, 90, "the end of `sidecar live`")
        look()
        out, err = process.communicate()
        # OBS sends a caption once the previous one's display time is up: the last ones reach
        # the stream a little after the Text source.
        obs.wait_for(lambda: covered(reference, cea608_text(receiver.received())) >= 0.6, 30, "captions in the stream")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        ws.request("StopStream")
    assert process.returncode == 0, err
    texts = [t for t in seen if t != PLACEHOLDER]
    shown = normalize(" ".join(texts))
    assert shown and sum(w in normalize(reference) for w in shown) >= 0.8 * len(shown), seen
    assert covered(reference, " ".join(texts)) >= 0.6, seen
    assert len(set(texts)) >= 3, f"captions should change as the clip plays: {seen}"
    assert all(len(t.split("\n")) <= LINES and all(len(line) <= CHARS for line in t.split("\n")) for t in texts), texts
    printed, last = " ".join(line.split("] ", 1)[1] for line in out.splitlines()), normalize(texts[-1])
    assert last and normalize(printed)[-len(last) :] == last, f"not the last words printed: {seen}"
    captions = normalize(cea608_text(receiver.received()))
    assert sum(w in normalize(reference) for w in captions) >= 0.8 * len(captions), captions


def test_live_names_what_is_wrong_with_obs(obs, librispeech):
    obs, ws, _ = obs
    clip = str(librispeech[CLIP][0])
    before = ws.text_source_settings(TEXT_SOURCE)["text"]
    cases = [
        (["--obs-password", "wrong"], "refused the password"),
        ([], "asks for a password"),
        (["--obs-password", PASSWORD, "--obs-text-source", "Nope"], "OBS has no source named 'Nope'"),
        (
            ["--obs-password", PASSWORD, "--obs", f"ws://127.0.0.1:{free_port()}"],
            "cannot connect to OBS at ws://127.0.0.1:",
        ),
    ]
    for argv, message in cases:
        done = subprocess.run(
            [*live_obs(obs, "-i", clip), *argv],
            capture_output=True,
            text=True,
            env={k: v for k, v in ENV.items() if k != "OBS_WEBSOCKET_PASSWORD"},
            timeout=60,
        )
        assert done.returncode == 1 and message in done.stderr, (argv, done.stderr)
    done = subprocess.run(
        [*live_obs(obs, "-i", clip), "--lines", "0"], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert done.returncode == 2 and "lines must be 1 to 10" in done.stderr, done.stderr
    assert ws.text_source_settings(TEXT_SOURCE)["text"] == before, "a failed start changed nothing"


def test_live_carries_on_when_obs_restarts(obs, sidecar_server, data_dir):
    # Last in this module: it restarts the module's OBS.
    obs, ws, _ = obs
    process = subprocess.Popen(
        live_obs(
            obs, "-i", str(data_dir / "demo-1089.flac"), "--obs-password", PASSWORD, "--server", sidecar_server.address
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
    )
    try:
        before = ws.text_source_settings(TEXT_SOURCE)["text"]
        obs.wait_for(lambda: ws.text_source_settings(TEXT_SOURCE)["text"] != before, 30, "captions before the restart")
        obs.restart()
        assert process.poll() is None, process.communicate()
        again = obs.websocket()
        obs.wait_for(lambda: process.poll() is not None, 60, "the end of `sidecar live`")
        out, err = process.communicate()
        shown = again.text_source_settings(TEXT_SOURCE)["text"]
        again.close()
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "lost OBS" in err and f"connected to OBS at {obs.websocket_url} again" in err, err
    printed = normalize(" ".join(line.split("] ", 1)[1] for line in out.splitlines()))
    assert shown != PLACEHOLDER and printed[-len(normalize(shown)) :] == normalize(shown), (shown, out)
