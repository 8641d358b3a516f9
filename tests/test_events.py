"""Event markers: region merging, tiny random AST and CLAP through gRPC and `sidecar events`."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from sidecar.config import ServerConfig
from sidecar.engines import audio_events
from sidecar.engines.audio_events import Hit, Region, merge_regions
from sidecar.errors import InvalidOptionsError
from tests.music_fixtures import SAMPLE_RATE, music_client, music_sidecar, tiny_ast_dir, tiny_clap_dir  # noqa: F401


def seconds(d) -> float:
    return d.seconds + d.nanos / 1e9


def test_hits_merge_within_the_gap_and_clamp_to_the_media():
    hits = [
        Hit("music", 0.0, 1.0, 0.6),
        Hit("music", 1.0, 2.0, 0.8),  # touching
        Hit("music", 2.4, 3.0, 0.7),  # 0.4 s gap <= 0.5: joined
        Hit("music", 4.0, 5.0, 0.9),  # 1 s gap: a new region
        Hit("laughter", -0.5, 0.5, 0.5),
        Hit("laughter", 9.5, 10.5, 0.4),
    ]
    regions = merge_regions(hits, merge_gap=0.5, min_length=0.0, duration=10.0)
    assert regions == [
        Region("laughter", 0.0, 0.5, 0.5, 0.5),
        Region("music", 0.0, 3.0, 0.8, pytest.approx(0.7)),
        Region("music", 4.0, 5.0, 0.9, 0.9),
        Region("laughter", 9.5, 10.0, 0.4, 0.4),
    ]
    kept = merge_regions(hits, merge_gap=0.5, min_length=1.0, duration=10.0)
    assert [(r.label, r.start) for r in kept] == [("music", 0.0), ("music", 4.0)]
    assert merge_regions(hits, merge_gap=0.0, min_length=0.0, duration=10.0)[1:3] == [
        Region("music", 0.0, 2.0, 0.8, pytest.approx(0.7)),
        Region("music", 2.4, 3.0, 0.7, 0.7),
    ]
    assert merge_regions([], merge_gap=0.5, min_length=0.0, duration=3.0) == []


def test_regions_stream_once_no_window_can_extend_them():
    merger = audio_events.RegionMerger(merge_gap=0.5, min_length=0.0, duration=60.0)
    assert merger.add([Hit("speech", 0.0, 1.0, 0.9)], 0.0) == []
    assert merger.add([Hit("speech", 1.0, 2.0, 0.9)], 1.0) == []
    assert merger.add([], 2.4) == []  # within the gap: may still grow
    assert merger.add([Hit("music", 2.6, 3.6, 0.5)], 2.6) == [Region("speech", 0.0, 2.0, 0.9, 0.9)]
    assert merger.finish() == [Region("music", 2.6, 3.6, 0.5, 0.5)]


def test_windows_cover_the_media_and_stand_for_their_hop():
    starts = audio_events.window_starts(5.0, 2.0, 1.0)
    assert starts == [0.0, 1.0, 2.0, 3.0]
    spans = [audio_events.span_of(i, starts, 2.0, 1.0, 5.0) for i in range(len(starts))]
    assert spans == [(0.0, 1.5), (1.5, 2.5), (2.5, 3.5), (3.5, 5.0)]
    assert audio_events.window_starts(0.5, 2.0, 1.0) == [0.0]
    assert audio_events.span_of(0, [0.0], 2.0, 1.0, 0.5) == (0.0, 0.5)
    with pytest.raises(InvalidOptionsError, match="hop must be"):
        audio_events.EventOptions(window_seconds=1.0, hop_seconds=2.0).validate()


def test_proto_options_and_cli_flags_agree():
    import argparse
    import dataclasses

    from sidecar.cli import events
    from sidecar.v1 import events_pb2

    proto = {f.name for f in events_pb2.EventDetectionOptions.DESCRIPTOR.fields}
    to_option = {
        "model": None,
        "window_duration": "window_seconds",
        "hop_duration": "hop_seconds",
        "min_region_duration": "min_region_seconds",
        "merge_gap_duration": "merge_gap_seconds",
    }
    assert {to_option.get(n, n) for n in proto} - {None} == {
        f.name for f in dataclasses.fields(audio_events.EventOptions)
    }
    parser = argparse.ArgumentParser()
    events.add_parser(parser.add_subparsers())
    flags = {a.dest for a in parser._subparsers._group_actions[0].choices["events"]._actions}
    to_flag = {
        "window_duration": "window",
        "hop_duration": "hop",
        "min_region_duration": "min_region",
        "merge_gap_duration": "merge_gap",
    }
    assert {to_flag.get(n, n) for n in proto} <= flags


def pcm_request(samples: np.ndarray):
    from sidecar.v1 import audio_pb2
    from sidecar_client.client import audio_format_for

    pcm = audio_pb2.PcmFormat(
        encoding=audio_pb2.AUDIO_ENCODING_PCM_F32LE, sample_rate_hertz=SAMPLE_RATE, channel_count=1
    )
    return samples.astype("<f4").tobytes(), audio_format_for(pcm=pcm)


def collect(call):
    info = summary = None
    regions, progress = [], []
    for response in call:
        kind = response.WhichOneof("event")
        if kind == "info":
            info = response.info
        elif kind == "region":
            regions.append(response.region)
        elif kind == "progress":
            progress.append(response.progress)
        elif kind == "summary":
            summary = response.summary
    return info, regions, progress, summary


def test_ast_regions_over_grpc_match_the_classifier(music_client, tiny_ast_dir):
    """Silence, noise, silence: the regions equal those merged from the model's own scores."""
    from sidecar.v1 import events_pb2

    rng = np.random.default_rng(1)
    audio = np.zeros(7 * SAMPLE_RATE, dtype=np.float32)
    audio[2 * SAMPLE_RATE : 5 * SAMPLE_RATE] = rng.standard_normal(3 * SAMPLE_RATE) * 0.3
    classifier, _, _ = audio_events.MODEL_FAMILY.load_alone(str(tiny_ast_dir), ServerConfig.model_settings_for("cpu"))
    options = audio_events.EventOptions(window_seconds=1.0, hop_seconds=0.5)
    labels = classifier.labels_for(options)
    assert labels == audio_events.DEFAULT_LABELS  # the tiny model has them all
    starts = audio_events.window_starts(7.0, 1.0, 0.5)
    windows = [audio[round(s * SAMPLE_RATE) : round((s + 1.0) * SAMPLE_RATE)] for s in starts]
    scores = classifier.score(windows, labels)
    assert scores.shape == (len(starts), len(labels))
    # A threshold between the label's silent and noisy scores, where they differ most.
    noisy = np.array([2.0 <= s + 0.5 < 5.0 for s in starts])
    label = int(np.argmax(np.abs(scores[noisy].mean(0) - scores[~noisy].mean(0))))
    threshold = float((scores[noisy, label].mean() + scores[~noisy, label].mean()) / 2)
    hits = [
        Hit(lab, *audio_events.span_of(i, starts, 1.0, 0.5, 7.0), float(s))
        for i, row in enumerate(scores)
        for lab, s in zip(labels, row)
        if s >= threshold
    ]
    expected = merge_regions(hits, merge_gap=0.5, min_length=0.0, duration=7.0)
    assert expected  # the threshold marks something

    data, audio_format = pcm_request(audio)
    opts = events_pb2.EventDetectionOptions(model=str(tiny_ast_dir), threshold=threshold)
    opts.window_duration.FromSeconds(1)
    opts.hop_duration.FromNanoseconds(500_000_000)
    info, regions, progress, summary = collect(
        music_client.detect_events(data, options=opts, audio_format=audio_format)
    )
    assert list(info.labels) == list(labels) and seconds(info.audio_duration) == pytest.approx(7.0)
    assert info.threshold == pytest.approx(threshold) and seconds(info.merge_gap_duration) == 0.5
    got = sorted(
        (
            r.label,
            round(seconds(r.time_range.start_offset), 3),
            round(seconds(r.time_range.end_offset), 3),
            round(r.score, 4),
        )
        for r in regions
    )
    want = sorted((r.label, round(r.start, 3), round(r.end, 3), round(r.score, 4)) for r in expected)
    assert got == want
    assert [r.index for r in regions] == list(range(len(regions)))
    assert summary.region_count == len(regions) and summary.window_count == len(starts)
    assert progress[-1].stage == "classifying" and progress[-1].fraction_done == pytest.approx(1.0)


def test_clap_scores_the_callers_labels(music_client, tiny_clap_dir, data_dir):
    from sidecar.v1 import events_pb2

    labels = ["laughter", "applause", "music"]
    opts = events_pb2.EventDetectionOptions(model=str(tiny_clap_dir), labels=labels, threshold=0.0)
    info, regions, _, summary = collect(music_client.detect_events(data_dir / "1089-134691-0000.flac", options=opts))
    assert list(info.labels) == labels and info.threshold == 0.0
    duration = seconds(info.audio_duration)
    # Threshold 0: every label holds everywhere, one region each over the whole clip.
    assert sorted(r.label for r in regions) == sorted(labels)
    for r in regions:
        assert seconds(r.time_range.start_offset) == 0.0
        assert seconds(r.time_range.end_offset) == pytest.approx(duration, abs=1e-3)
        assert 0.0 < r.mean_score <= r.score < 1.0
    assert summary.window_count == len(audio_events.window_starts(duration, 2.0, 1.0))


def test_bad_requests_get_clear_errors_and_the_server_keeps_serving(
    music_client, tiny_ast_dir, tiny_clap_dir, data_dir
):
    from sidecar.v1 import events_pb2
    from sidecar_client import SidecarError

    clip = data_dir / "1089-134691-0000.flac"
    bad = grpc.StatusCode.INVALID_ARGUMENT
    cases = [
        (b"", events_pb2.EventDetectionOptions(model=str(tiny_ast_dir)), bad, "empty"),
        (
            clip,
            events_pb2.EventDetectionOptions(model="beats-audioset"),
            grpc.StatusCode.NOT_FOUND,
            "no event detection model named 'beats-audioset'",
        ),
        (clip, events_pb2.EventDetectionOptions(model=str(tiny_clap_dir)), bad, "at least 2 labels"),
        (
            clip,
            events_pb2.EventDetectionOptions(model=str(tiny_ast_dir), labels=["Laugh"]),
            bad,
            "no class 'Laugh' (did you mean 'Laughter'?)",
        ),
        (clip, events_pb2.EventDetectionOptions(model=str(tiny_ast_dir), labels=["Music", "Music"]), bad, "repeat"),
        (clip, events_pb2.EventDetectionOptions(model=str(tiny_ast_dir), threshold=1.5), bad, "threshold must be 0..1"),
    ]
    for audio, options, code, words in cases:
        with pytest.raises(SidecarError) as raised:
            collect(music_client.detect_events(audio, options=options))
        assert raised.value.code == code and words in raised.value.details, raised.value
    info, _, _, summary = collect(
        music_client.detect_events(clip, options=events_pb2.EventDetectionOptions(model=str(tiny_ast_dir)))
    )
    assert summary.window_count > 0


def test_cli_events_writes_audacity_labels_and_json(
    music_sidecar, tiny_ast_dir, tiny_clap_dir, data_dir, tmp_path, capsys
):
    from sidecar.cli.main import main

    clip = data_dir / "1089-134691-0000.flac"
    server = ["--server", music_sidecar.address]
    out = tmp_path / "marks.txt"
    assert main(["events", str(clip), "--model", str(tiny_ast_dir), "--threshold", "0", "-o", str(out), *server]) == 0
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert len(rows) == len(audio_events.DEFAULT_LABELS)
    assert all(float(start) == 0.0 and float(end) > 2.0 for start, end, _ in rows)
    assert {text.split(" (")[0] for _, _, text in rows} == set(audio_events.DEFAULT_LABELS)
    assert "5 region(s)" in capsys.readouterr().err

    as_json = tmp_path / "marks.json"
    assert (
        main(
            [
                "events",
                str(clip),
                "--model",
                str(tiny_clap_dir),
                "--labels",
                "laughter, applause",
                "--threshold",
                "0",
                "-o",
                str(as_json),
                *server,
            ]
        )
        == 0
    )
    saved = json.loads(as_json.read_text())
    assert saved["labels"] == ["laughter", "applause"] and len(saved["regions"]) == 2

    assert main(["events", str(clip), "--model", str(tiny_clap_dir), *server]) == 1
    assert "at least 2 labels" in capsys.readouterr().err
    assert main(["events", str(clip), "-o", str(out), *server]) == 2
    assert "exists: pass --force" in capsys.readouterr().err
    assert main(["events", str(clip), "-o", str(tmp_path / "marks.srt"), *server]) == 2
    assert main(["events", str(tmp_path / "missing.wav"), *server]) == 2
