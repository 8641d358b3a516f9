"""`sidecar speakers`: enrol people by their voice, so that diarized turns carry their names."""

from __future__ import annotations

import argparse
import pathlib
import sys

from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import require_input


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("speakers", help="enrol, list or forget people whose names label speaker turns")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="enrol a person from a recording of them speaking alone")
    add.add_argument("name", help='their name, as turns will be labelled ("Ana")')
    add.add_argument("reference", type=pathlib.Path, help="3 s or more of them alone; the first 60 s are kept")
    actions.add_parser("list", help="the enrolled people")
    remove = actions.add_parser("rm", help="forget an enrolled person")
    remove.add_argument("speaker_id", help="their id, as `sidecar speakers list` shows it")
    for action in actions.choices.values():
        add_server_arguments(action)
    return p


def run(args: argparse.Namespace) -> int:
    from sidecar_client import SidecarError

    try:
        with connect(args) as client:
            if args.action == "add":
                require_input(args.reference)
                speakers = [client.enroll_speaker(args.name, args.reference)]
            elif args.action == "rm":
                speakers = [client.delete_speaker(args.speaker_id)]
            else:
                speakers = client.list_speakers()
    except SidecarError as exc:
        print(f"sidecar speakers {args.action}: {exc}", file=sys.stderr)
        return 1
    verb = {"add": "enrolled ", "rm": "forgot "}.get(args.action, "")
    for speaker in speakers:
        seconds = speaker.reference_duration.ToTimedelta().total_seconds()
        print(f"{verb}{speaker.speaker_id:20} {speaker.name} ({seconds:.1f} s of reference)")
    if args.action == "list" and not speakers:
        print("no speakers enrolled (sidecar speakers add NAME FILE)", file=sys.stderr)
    return 0
