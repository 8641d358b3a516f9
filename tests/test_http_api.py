"""The OpenAI-compatible HTTP API (`--http-port`) through the official `openai` client, against
a real sidecar that serves gRPC and HTTP at once with a token."""

from __future__ import annotations

import http.client
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from sidecar_common import subtitles
from tests.conftest import DATA, normalize, word_error_rate
from tests.harness import RunningSidecar, free_port
from tests.xtts_fixtures import REFERENCE, tiny_xtts_dir  # noqa: F401

openai = pytest.importorskip("openai")
pytest.importorskip("starlette")

TOKEN = "http-api-test"
CLIP = DATA / "demo-1089.flac"


@pytest.fixture(scope="module")
def server():
    server = RunningSidecar(http_port=free_port(), token=TOKEN, max_waiting_jobs=4)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api(server):
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{server.sidecar.http_port}/v1", api_key=TOKEN, max_retries=0
    ) as client:
        yield client


@pytest.fixture(scope="module")
def subtitled(server, tmp_path_factory):
    """What `sidecar subtitle` makes of the clip through the same server's gRPC: (text, SRT)."""
    folder = tmp_path_factory.mktemp("subtitle")
    made = {}
    for suffix in (".txt", ".srt"):
        done = subprocess.run(
            [sys.executable, "-m", "sidecar.cli.main", "subtitle", str(CLIP), "-o", str(folder / f"demo{suffix}")]
            + ["--server", server.address, "--token", TOKEN],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        made[suffix] = (folder / f"demo{suffix}").read_text()
    return made[".txt"], made[".srt"]


def test_the_openai_client_gets_the_same_text_and_srt_as_sidecar_subtitle(api, subtitled):
    text, srt = subtitled
    with open(CLIP, "rb") as f:
        transcript = api.audio.transcriptions.create(model="whisper-1", file=f)
    assert normalize(transcript.text) == normalize(text) and normalize(text)
    with open(CLIP, "rb") as f:
        served_srt = api.audio.transcriptions.create(model="tiny.en", file=f, response_format="srt")
    assert subtitles.parse_srt(served_srt) == subtitles.parse_srt(srt)


def test_verbose_json_has_segments_and_words_and_vtt_parses(api, librispeech):
    uid = "1089-134691-0000"
    path, reference = librispeech[uid]
    with open(path, "rb") as f:
        verbose = api.audio.transcriptions.create(
            model="whisper-1", file=f, response_format="verbose_json", timestamp_granularities=["word", "segment"]
        )
    assert verbose.language == "en" and verbose.duration == pytest.approx(2.0, abs=1.0)
    assert word_error_rate(reference, verbose.text) < 0.2
    words = [w.word for w in verbose.words]
    assert normalize(" ".join(words)) == normalize(verbose.text)
    assert all(a.start <= b.start for a, b in zip(verbose.words, verbose.words[1:]))
    assert verbose.segments and verbose.segments[0].start < verbose.segments[-1].end <= verbose.duration + 0.5
    with open(path, "rb") as f:
        vtt = api.audio.transcriptions.create(model="whisper-1", file=f, response_format="vtt")
    assert vtt.startswith("WEBVTT") and "-->" in vtt


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the openai client's, for translations
def test_translation_into_english_gives_what_grpc_gives(api, server):
    from sidecar.v1 import transcription_pb2
    from sidecar_client import SidecarClient

    german = DATA / "fleurs" / "fleurs-de-000.ogg"
    with open(german, "rb") as f:
        translated = api.audio.translations.create(model="base", file=f)
    with SidecarClient(server.address, token=TOKEN) as client:
        options = transcription_pb2.TranscriptionOptions(model="base", translate=True)
        through_grpc = client.transcribe(german, options=options)
    assert normalize(translated.text) == normalize(" ".join(s.text for s in through_grpc.segments))
    assert {"the", "of", "and"} & set(normalize(translated.text)), translated.text


def test_models_lists_the_openai_name_and_the_installed_whisper_models(api):
    names = [m.id for m in api.models.list()]
    assert names[0] == "whisper-1" and {"tiny.en", "base"} <= set(names)


def test_bad_requests_get_a_status_and_a_message_and_the_server_carries_on(api, server, tmp_path):
    with pytest.raises(openai.AuthenticationError) as wrong:
        with openai.OpenAI(base_url=str(api.base_url), api_key="wrong", max_retries=0) as other:
            other.models.list()
    assert "wrong token" in str(wrong.value)
    garbage = tmp_path / "notes.mp3"
    garbage.write_bytes(b"this is not audio at all" * 100)
    with pytest.raises(openai.BadRequestError) as bad:
        api.audio.transcriptions.create(model="whisper-1", file=garbage.open("rb"))
    assert "notes.mp3" in str(bad.value)
    with pytest.raises(openai.NotFoundError) as missing:
        api.audio.transcriptions.create(model="no-such-model", file=CLIP.open("rb"))
    assert "no-such-model" in str(missing.value)
    with pytest.raises(openai.BadRequestError) as unknown:
        api.audio.transcriptions.create(model="whisper-1", file=CLIP.open("rb"), response_format="docx")
    assert "response_format" in str(unknown.value)
    without_file = urllib.request.Request(
        f"{api.base_url}audio/transcriptions",
        data=b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--b--\r\n',
        headers={"Content-Type": "multipart/form-data; boundary=b", "Authorization": f"Bearer {TOKEN}"},
    )
    with pytest.raises(urllib.error.HTTPError) as no_file:
        urllib.request.urlopen(without_file, timeout=30)
    assert no_file.value.code == 400 and b"`file` field" in no_file.value.read()
    # A body of unstated length would be spooled whole before any limit could apply.
    connection = http.client.HTTPConnection("127.0.0.1", server.sidecar.http_port, timeout=30)
    connection.putrequest("POST", "/v1/audio/transcriptions")
    connection.putheader("Content-Type", "multipart/form-data; boundary=b")
    connection.putheader("Authorization", f"Bearer {TOKEN}")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    connection.send(b"0\r\n\r\n")
    unstated = connection.getresponse()
    body = unstated.read()
    assert unstated.status == 411 and b"Content-Length" in body, body
    connection.close()
    with open(CLIP, "rb") as f:
        assert api.audio.transcriptions.create(model="whisper-1", file=f).text  # still serving


def test_a_client_that_hangs_up_frees_the_job_for_the_next(api, server, tmp_path):
    """An HTTP handler is not cancelled when its client goes away; the job must stop all the
    same. The server runs one job at a time and the abandoned one holds minutes of speech, so
    the next request comes back in seconds only if the abandoned job stopped."""
    import numpy as np

    from tests.streaming_fixtures import demo, write_wav

    long_speech = write_wav(tmp_path / "long.wav", np.tile(demo()[0], 10)).read_bytes()  # 230 s
    body = (
        b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="long.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\n" + long_speech + b"\r\n--b--\r\n"
    )
    connection = http.client.HTTPConnection("127.0.0.1", server.sidecar.http_port, timeout=30)
    connection.request(
        "POST",
        "/v1/audio/transcriptions",
        body=body,
        headers={"Content-Type": "multipart/form-data; boundary=b", "Authorization": f"Bearer {TOKEN}"},
    )
    time.sleep(2)  # the job runs
    connection.close()
    began = time.monotonic()
    with open(DATA / "1089-134691-0000.flac", "rb") as f:
        assert api.audio.transcriptions.create(model="whisper-1", file=f).text
    assert time.monotonic() - began < 10


def test_a_streamed_transcription_sends_each_segment_as_it_is_made(api, subtitled):
    with open(CLIP, "rb") as f:
        events = list(api.audio.transcriptions.create(model="whisper-1", file=f, stream=True))
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    assert len(deltas) >= 2 and events[-1].type == "transcript.text.done"
    assert "".join(deltas) == events[-1].text and normalize(events[-1].text) == normalize(subtitled[0])
    with open(CLIP, "rb") as f, pytest.raises(openai.BadRequestError) as srt:
        api.audio.transcriptions.create(model="whisper-1", file=f, stream=True, response_format="srt")
    assert "must be json or text" in srt.value.message


@pytest.fixture(scope="module")
def speech_server(tiny_xtts_dir, tmp_path_factory, data_dir):
    """A sidecar with the HTTP API whose person agreed to the CPML, and one saved voice."""
    from sidecar_client import SidecarClient

    server = RunningSidecar(
        http_port=free_port(),
        token=TOKEN,
        agree_coqui_license=True,
        voices_dir=str(tmp_path_factory.mktemp("voices")),
    )
    with SidecarClient(server.address, token=TOKEN) as client:
        client.create_voice(data_dir / REFERENCE, voice_id="narrator", model=str(tiny_xtts_dir))
    yield server
    server.stop()


def test_speech_in_a_saved_voice_streams_as_it_is_made(speech_server):
    import io

    import av

    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{speech_server.sidecar.http_port}/v1", api_key=TOKEN, max_retries=0
    ) as client:
        # The random model speaks until its bound, 0.2 s a character: a short text keeps it short.
        # Every format is in tests/test_stream_encoding.py.
        text = "Hi."
        for response_format in ("wav", "mp3"):
            with client.audio.speech.with_streaming_response.create(
                model="tts-1", voice="narrator", input=text, response_format=response_format
            ) as response:
                assert response.headers["content-type"] == f"audio/{'wav' if response_format == 'wav' else 'mpeg'}"
                data = b"".join(response.iter_bytes())
            with av.open(io.BytesIO(data)) as container:
                stream = container.streams.audio[0]
                seconds = sum(frame.samples for frame in container.decode(stream)) / stream.rate
            assert seconds > 0.2, (response_format, seconds)
        pcm = client.audio.speech.create(model="tts-1", voice="narrator", input=text, response_format="pcm").content
        assert len(pcm) % 2 == 0 and len(pcm) / 2 / 24000 > 0.2  # 16-bit samples at 24 kHz, as OpenAI's

        with pytest.raises(openai.NotFoundError) as missing:
            client.audio.speech.create(model="tts-1", voice="nobody", input=text, response_format="wav")
        assert "nobody" in missing.value.message
        with pytest.raises(openai.BadRequestError) as language:
            client.audio.speech.create(
                model="tts-1", voice="narrator", input=text, response_format="wav", extra_body={"language": "xx"}
            )
        assert "language 'xx'" in language.value.message
        with pytest.raises(openai.BadRequestError) as unknown:
            client.audio.speech.create(model="tts-1", voice="narrator", input=text, response_format="ogg")
        assert "is not one of pcm, wav, mp3, opus, aac, flac" in unknown.value.message
