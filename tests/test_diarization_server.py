"""Diarization through the real server: DiarizeFile, TranscribeFile with speaker labels,
ListModels, the `sidecar diarize` and `sidecar subtitle --diarize` commands, bad input."""

from __future__ import annotations

import grpc
import numpy as np
import pytest

from sidecar.cli.main import main
from sidecar.media.audio import decode_file
from sidecar.v1 import diarization_pb2 as dpb
from sidecar.v1 import models_pb2
from sidecar.v1 import transcription_pb2 as tpb
from sidecar_client import SidecarClient, SidecarError
from sidecar_client.captions import cues_for
from sidecar_common import rttm, subtitles
from sidecar_common.durations import seconds
from tests import diarization_fixtures as fx
from tests.cue_rules import check_srt

TWO = dpb.DiarizationOptions(speaker_count=2)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """(FLAC path, boundary seconds): 5.4 s of LibriSpeech speaker 1089, then 6 s of AMI MEE009."""
    samples, boundary = fx.two_speaker_clip("1089-134691-0001", ami_seconds=6.0)
    return fx.write_flac(samples, tmp_path_factory.mktemp("clip") / "two voices.flac"), boundary


def test_diarize_file(client, clip):
    path, boundary = clip
    stages = []
    result = client.diarize(path, options=TWO, on_progress=lambda p: stages.append(p.stage))
    assert stages[0] == "decoding" and "embedding speakers" in stages
    summary = result.summary
    assert summary.speaker_count == 2 and list(summary.speaker_labels) == ["SPEAKER_1", "SPEAKER_2"]
    assert summary.turn_count == len(result.turns)
    assert summary.backend == dpb.DIARIZATION_BACKEND_OFFLINE and summary.device == "cpu"
    assert seconds(summary.audio_duration) == pytest.approx(11.415, abs=0.01)
    starts = [seconds(t.time_range.start_offset) for t in result.turns]
    assert starts == sorted(starts)
    first_two = next(seconds(t.time_range.start_offset) for t in result.turns if t.speaker_label == "SPEAKER_2")
    assert abs(first_two - boundary) < 1.0
    assert all(t.HasField("confidence") and 0 <= t.confidence <= 1 for t in result.turns)


def test_list_models_names_the_offline_default(client):
    models = client.list_models(models_pb2.CAPABILITY_DIARIZATION)
    offline = [m for m in models if m.name == "offline"]
    assert offline and offline[0].is_default and offline[0].source == "embedded"


def test_transcription_with_speaker_labels(client, clip):
    path, boundary = clip
    options = tpb.TranscriptionOptions(diarization=TWO)
    transcript = client.transcribe(path, options=options)
    labelled = [(s.speaker_label, seconds(s.time_range.start_offset)) for s in transcript.segments]
    assert labelled[0][0] == "SPEAKER_1"
    assert {label for label, _ in labelled} == {"SPEAKER_1", "SPEAKER_2"}
    assert all(w.speaker_label == s.speaker_label for s in transcript.segments for w in s.words)
    assert [s.index for s in transcript.segments] == list(range(len(transcript.segments)))
    cues = cues_for(transcript)
    srt = subtitles.format_srt(cues)
    assert "SPEAKER_1: " in srt and "SPEAKER_2: " in srt
    vtt = subtitles.format_vtt(cues, {"SPEAKER_1": "Speaker 1", "SPEAKER_2": "Speaker 2"})
    assert "<v Speaker 1>" in vtt and "<v Speaker 2>" in vtt
    unlabelled = client.transcribe(path, options=tpb.TranscriptionOptions())
    assert all(not s.speaker_label for s in unlabelled.segments)


def test_pyannote_backend_through_the_server(client, clip, tmp_path_factory):
    pipeline = fx.build_random_pipeline(tmp_path_factory.mktemp("pyannote") / "pipeline")
    options = dpb.DiarizationOptions(backend=dpb.DIARIZATION_BACKEND_PYANNOTE, model=str(pipeline), max_speaker_count=3)
    result = client.diarize(clip[0], options=options)
    assert result.summary.backend == dpb.DIARIZATION_BACKEND_PYANNOTE
    assert result.summary.model == str(pipeline)
    assert all(not t.HasField("confidence") for t in result.turns)
    listed = {m.name: m for m in client.list_models(models_pb2.CAPABILITY_DIARIZATION)}
    assert listed[str(pipeline)].loaded and listed[str(pipeline)].source == "local"


@pytest.mark.parametrize(
    "options, code, message",
    [
        (
            dpb.DiarizationOptions(speaker_count=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "speaker count must be 1..64, not -1",
        ),
        (dpb.DiarizationOptions(speaker_count=65), grpc.StatusCode.INVALID_ARGUMENT, "speaker count must be 1..64"),
        (
            dpb.DiarizationOptions(min_speaker_count=3, max_speaker_count=2),
            grpc.StatusCode.INVALID_ARGUMENT,
            "exceeds maximum",
        ),
        (dpb.DiarizationOptions(model="/srv/pipeline"), grpc.StatusCode.INVALID_ARGUMENT, "takes no model"),
        (dpb.DiarizationOptions(backend=7), grpc.StatusCode.INVALID_ARGUMENT, "unknown diarization backend"),
        (
            dpb.DiarizationOptions(backend=dpb.DIARIZATION_BACKEND_PYANNOTE, model="/no/such/pipeline"),
            grpc.StatusCode.NOT_FOUND,
            "no pyannote pipeline at '/no/such/pipeline'",
        ),
    ],
)
def test_bad_options_are_refused(client, clip, options, code, message):
    with pytest.raises(SidecarError, match=message) as error:
        client.diarize(clip[0], options=options)
    assert error.value.code == code


def test_bad_audio_and_bad_transcription_options_then_a_good_call(client, clip):
    with pytest.raises(SidecarError, match="not a readable audio") as error:
        client.diarize(b"this is not audio at all", options=TWO)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    no_words = tpb.TranscriptionOptions(word_timestamps=False, diarization=TWO)
    with pytest.raises(SidecarError, match="needs word_timestamps") as error:
        client.transcribe(clip[0], options=no_words)
    assert error.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert client.diarize(clip[0], options=dpb.DiarizationOptions(speaker_count=1)).summary.speaker_count == 1


# --- the command line ------------------------------------------------------------------------


def test_cli_subtitle_diarize_with_names(sidecar_server, clip, tmp_path):
    out = tmp_path / "captions.vtt"
    code = main(
        [
            "subtitle",
            str(clip[0]),
            "-o",
            str(out),
            "--diarize",
            "--speakers",
            "2",
            "--speaker-names",
            "Ana,Ben",
            "--server",
            sidecar_server.address,
            "-q",
        ]
    )
    assert code == 0
    text = out.read_text()
    assert text.startswith("WEBVTT") and "<v Ana>" in text and "<v Ben>" in text
    srt = tmp_path / "captions.srt"
    assert (
        main(
            [
                "subtitle",
                str(clip[0]),
                "-o",
                str(srt),
                "--diarize",
                "--speakers",
                "2",
                "--server",
                sidecar_server.address,
                "-q",
            ]
        )
        == 0
    )
    assert "SPEAKER_1: " in srt.read_text() and "SPEAKER_2: " in srt.read_text()
    check_srt(srt)  # the "SPEAKER_1: " prefixes within the 42 characters too


def test_cli_diarize_rttm_and_label_tracks(sidecar_server, clip, tmp_path, capsys):
    out, labels = tmp_path / "meeting.rttm", tmp_path / "labels"
    args = [
        "diarize",
        str(clip[0]),
        "-o",
        str(out),
        "--labels-dir",
        str(labels),
        "--speakers",
        "2",
        "--speaker-names",
        "Ana,Ben",
        "--server",
        sidecar_server.address,
    ]
    assert main(args) == 0
    assert "2 speaker(s)" in capsys.readouterr().err
    turns = rttm.parse_rttm(out.read_text())["two_voices"]
    assert {t.speaker for t in turns} == {"Ana", "Ben"} and turns[0].speaker == "Ana"
    tracks = sorted(p.name for p in labels.iterdir())
    assert tracks == ["two voices.Ana.txt", "two voices.Ben.txt"]
    assert all(line.endswith("\tBen") for line in (labels / tracks[1]).read_text().splitlines())
    before = out.read_text()
    assert main(args + ["-q"]) == 2  # exists: refused without --force, file untouched
    assert "pass --force" in capsys.readouterr().err and out.read_text() == before


@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["--speakers", "2", "--min-speakers", "1"], 2, "not both"),
        (["--pipeline", "/srv/p"], 2, "--pipeline needs --backend pyannote"),
        (["--speakers", "99"], 1, "speaker count must be 1..64"),
        (["--speaker-names", "Ana,,Ben"], 2, "empty name"),
    ],
)
def test_cli_diarize_bad_flags(sidecar_server, clip, tmp_path, capsys, argv, code, message):
    out = tmp_path / "x.rttm"
    assert main(["diarize", str(clip[0]), "-o", str(out), "--server", sidecar_server.address, "-q", *argv]) == code
    assert message in capsys.readouterr().err and not out.exists()


def test_cli_subtitle_speaker_flags_need_diarize(clip, tmp_path, capsys):
    assert main(["subtitle", str(clip[0]), "-o", str(tmp_path / "a.srt"), "--speakers", "2"]) == 2
    assert "--speakers needs --diarize" in capsys.readouterr().err


# --- speakers known by name --------------------------------------------------------------------

LINDA, READER = "Linda Johnson", "Reader 1089"


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """(mixture FLAC, its true turns, {name: reference FLAC}): LJ Speech's reader and
    LibriSpeech's reader 1089 taking turns of 1-5 s with no pause between, 10 dB apart at most,
    each with a 5 s reference of their own that the mixture does not hold."""
    directory = tmp_path_factory.mktemp("people")
    voices = fx.voices()
    rest, references = fx.held_out({LINDA: voices["LJ"], READER: voices["LS1089"]})
    mixture = fx.mixture(rest, (LINDA, READER), 24.0, seed=3, level_spread_db=10.0)
    files = {name: fx.write_flac(audio, directory / f"{name}.flac") for name, audio in references.items()}
    return fx.write_flac(mixture.samples, directory / "talk.flac"), mixture.turns, files


def turns_of(result):
    return [
        rttm.Turn(*(seconds(t.time_range.start_offset), seconds(t.time_range.end_offset)), t.speaker_label)
        for t in result.turns
    ]


def test_enrolled_speakers_name_their_turns(people, tmp_path):
    from tests.harness import RunningSidecar

    talk, truth, references = people
    server = RunningSidecar(speakers_dir=str(tmp_path / "speakers"))
    try:
        with SidecarClient(server.address) as client:
            enrolled = [client.enroll_speaker(name, path) for name, path in references.items()]
            assert [s.speaker_id for s in enrolled] == ["linda-johnson", "reader-1089"]
            assert [s.name for s in client.list_speakers()] == [LINDA, READER]
            assert seconds(enrolled[0].reference_duration) == pytest.approx(5.0, abs=0.05)

            named = client.diarize(talk, options=dpb.DiarizationOptions(name_enrolled_speakers=True))
            assert set(named.summary.speaker_labels) == {LINDA, READER}, named.summary
            assert fx.named_share(truth, turns_of(named)) >= 0.75

            # Only Linda asked for: the other reader stays a numbered speaker.
            one = client.diarize(talk, options=dpb.DiarizationOptions(known_speaker_ids=["linda-johnson"]))
            assert LINDA in one.summary.speaker_labels and READER not in one.summary.speaker_labels
            assert any(label.startswith("SPEAKER_") for label in one.summary.speaker_labels)

            few_words = np.zeros(5 * 16000, np.float32)
            few_words[32000:48000] = decode_file(references[READER], sample_rate=16000, mono=True).mono()[:16000]
            refused = {
                "already exists": lambda: client.enroll_speaker(LINDA, references[LINDA]),
                "at least 3 s": lambda: client.enroll_speaker(
                    "Brief", fx.write_flac(np.zeros(16000, np.float32) + 0.01, tmp_path / "brief.flac")
                ),
                "no speech": lambda: client.enroll_speaker(
                    "Silence", fx.write_flac(np.zeros(5 * 16000, np.float32), tmp_path / "quiet.flac")
                ),
                # A second of words in 5 s of silence: a voiceprint of it would match nobody.
                r"'Brief' holds 1\.\d s of speech: give at least 3 s": lambda: client.enroll_speaker(
                    "Brief", fx.write_flac(few_words, tmp_path / "few-words.flac")
                ),
                "name must be": lambda: client.enroll_speaker(" ", references[LINDA]),
                "no saved speaker has id 'nobody'": lambda: client.diarize(
                    talk, options=dpb.DiarizationOptions(known_speaker_ids=["nobody"])
                ),
            }
            for message, call in refused.items():
                with pytest.raises(SidecarError, match=message) as caught:
                    call()
                expected = grpc.StatusCode.NOT_FOUND if "nobody" in message else grpc.StatusCode.INVALID_ARGUMENT
                assert caught.value.code == expected, (message, caught.value)
            assert client.delete_speaker("reader-1089").name == READER
            assert [s.speaker_id for s in client.list_speakers()] == ["linda-johnson"]
            with pytest.raises(SidecarError) as caught:
                client.delete_speaker("reader-1089")
            assert caught.value.code == grpc.StatusCode.NOT_FOUND
    finally:
        server.stop()
    assert sorted(p.name for p in (tmp_path / "speakers").iterdir()) == ["linda-johnson.npz"]


def test_speaker_references_in_the_request_name_the_rttm_and_subtitles(people, sidecar_server, tmp_path):
    talk, truth, references = people
    refs = [f"--speaker-ref={name}={path}" for name, path in references.items()]
    output = tmp_path / "talk.rttm"
    assert main(["diarize", str(talk), "-o", str(output), *refs, "-q", "--server", sidecar_server.address]) == 0
    turns = rttm.parse_rttm(output.read_text())["talk"]
    assert {t.speaker for t in turns} == {"Linda_Johnson", "Reader_1089"}
    named = [rttm.Turn(t.start, t.end, t.speaker.replace("_", " ")) for t in turns]
    assert fx.named_share(truth, named) >= 0.75
    srt = tmp_path / "talk.srt"
    assert (
        main(["subtitle", str(talk), "-o", str(srt), "--diarize", *refs, "-q", "--server", sidecar_server.address]) == 0
    )
    assert f"{LINDA}:" in srt.read_text() or f"{READER}:" in srt.read_text(), srt.read_text()
    check_srt(srt, decode_file(talk, sample_rate=16000, mono=True).duration)  # the last cue ends with the talk
