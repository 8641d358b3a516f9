"""`sidecar say`: speak text in a cloned voice into a WAV file, and manage saved voices.

XTTS v2's weights are under the Coqui Public Model License (CPML, https://coqui.ai/cpml;
non-commercial unless you bought a licence from Coqui). The sidecar never agrees to it for
you: pass --agree-coqui-license (for the in-process server), or start `sidecar serve` with
--agree-coqui-license (or `agree_coqui_license = true` in its config, or
SIDECAR_COQUI_TOS_AGREED=1). Saved voices live where the server runs, in its --voices-dir
(default: $SIDECAR_VOICES_DIR, else voices/ in the sidecar's cache directory).
"""

from __future__ import annotations

import argparse
import pathlib
import sys
import wave

from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import UsageError, check_output, committed, require_input
from sidecar.cli.progress import ProgressBar
from sidecar.engines import xtts_models
from sidecar_common import outputs

OUTPUT_SAMPLE_RATE = 24_000  # XTTS v2's rate, until the server's `info` says otherwise
EXAMPLES = """examples:
  sidecar say --agree-coqui-license --language en --reference me.flac -o hi.wav "Hello there."
  sidecar say --agree-coqui-license --reference me.flac --save-voice me
  sidecar say --agree-coqui-license --voice me -f script.txt -o script.wav
  sidecar say --list-voices
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "say",
        help="speak text in a cloned voice (XTTS v2) into a WAV file",
        description=__doc__,
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("text", nargs="?", help="the text to speak (or --text-file)")
    p.add_argument("-f", "--text-file", type=pathlib.Path, help="read the text from this UTF-8 file")
    p.add_argument("-o", "--output", type=pathlib.Path, help="the WAV file to write (16-bit, 24 kHz)")
    p.add_argument("--language", default="en", help="language of the text, e.g. en, de, pt-BR (default en)")
    voice = p.add_mutually_exclusive_group()
    voice.add_argument("--voice", metavar="ID", help="a saved voice")
    voice.add_argument(
        "--reference", type=pathlib.Path, help="reference audio: 6 s or more of one speaker, any format FFmpeg reads"
    )
    p.add_argument("--transcript", default="", help="what the reference says, when known")
    p.add_argument(
        "--save-voice",
        metavar="ID",
        help="save --reference as a voice with this id (then speak with it, if text is given)",
    )
    p.add_argument("--voice-name", default="", help="a display name for --save-voice")
    p.add_argument("--list-voices", action="store_true", help="list the saved voices and exit")
    p.add_argument("--delete-voice", metavar="ID", help="delete a saved voice and exit")
    p.add_argument("--model", default="", help="'xtts_v2' or an XTTS model directory on the server")
    p.add_argument("--speed", type=float, default=0.0, help="speaking rate 0.5..2 (default 1)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default: the model's)")
    p.add_argument("--top-k", type=int, default=0, help="sample from the K likeliest tokens (default: the model's)")
    p.add_argument("--top-p", type=float, default=0.0, help="nucleus sampling mass 0..1 (default: the model's)")
    p.add_argument(
        "--repetition-penalty",
        type=float,
        default=0.0,
        help="penalty for repeated tokens, above 1 repeats less (default: the model's)",
    )
    p.add_argument("--seed", type=int, help="seed for repeatable sampling")
    p.add_argument(
        "--max-sentence-seconds", type=float, help="longest speech per sentence (default: from the sentence's length)"
    )
    p.add_argument(
        xtts_models.LICENSE_FLAG,
        dest="agree_coqui_license",
        action="store_true",
        help="agree to the Coqui Public Model License (CPML, "
        + xtts_models.LICENSE_URL
        + ") for the in-process server (a running server decides by its own settings: "
        "`sidecar serve " + xtts_models.LICENSE_FLAG + "`)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary")
    add_server_arguments(p)
    return p


def run(args: argparse.Namespace) -> int:
    text = read_text(args)
    plan(args, text)
    if args.agree_coqui_license and args.server:
        print(
            f"sidecar say: {xtts_models.LICENSE_FLAG} applies to the in-process server only; "
            f"{args.server} decides by its own settings",
            file=sys.stderr,
        )
    from sidecar_client import SidecarError

    # None leaves the in-process server's agreement to its environment; True: the user said so here.
    agreed = True if args.agree_coqui_license else None
    try:
        with connect(args, agree_coqui_license=agreed) as client:
            return act(client, args, text)
    except SidecarError as exc:
        print(f"sidecar say: {exc}", file=sys.stderr)
        return 1


def read_text(args: argparse.Namespace) -> str | None:
    if args.text is not None and args.text_file is not None:
        raise UsageError("give the text as an argument or with --text-file, not both")
    if args.text_file is None:
        return args.text
    try:
        return args.text_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{args.text_file}: {exc}") from None


def plan(args: argparse.Namespace, text: str | None) -> None:
    """Checks the combination of options before any server is started."""
    if args.list_voices or args.delete_voice:
        if text is not None or args.output or args.save_voice:
            raise UsageError("--list-voices and --delete-voice take no text, output or --save-voice")
        return
    if args.save_voice and args.reference is None:
        raise UsageError("--save-voice needs --reference")
    if args.reference is not None:
        require_input(args.reference)
    if text is None:
        if args.save_voice:
            return
        raise UsageError("nothing to say: give the text, or --text-file")
    if not text.strip():
        raise UsageError("the text is empty")
    if args.voice is None and args.reference is None:
        raise UsageError("choose a voice: --voice ID (saved) or --reference AUDIO")
    if args.output is None:
        raise UsageError("give the WAV file to write with -o/--output")
    check_output(args.output, inputs=[args.reference, args.text_file], force=args.force, suffixes=[".wav"])


def act(client, args: argparse.Namespace, text: str | None) -> int:
    if args.list_voices:
        for voice in client.list_voices():
            seconds = voice.reference_duration.seconds + voice.reference_duration.nanos / 1e9
            print(f"{voice.voice_id}\t{voice.display_name}\t{seconds:.1f} s\t{voice.model}")
        return 0
    if args.delete_voice:
        client.delete_voice(args.delete_voice)
        if not args.quiet:
            print(f"deleted voice {args.delete_voice}", file=sys.stderr)
        return 0
    voice_id = args.voice or ""
    if args.save_voice:
        voice = client.create_voice(
            args.reference,
            voice_id=args.save_voice,
            display_name=args.voice_name,
            transcript=args.transcript,
            model=args.model,
        )
        voice_id = voice.voice_id
        if not args.quiet:
            print(f"saved voice {voice_id}", file=sys.stderr)
        if text is None:
            return 0
    speak(client, args, text, voice_id)
    return 0


def options_for(args: argparse.Namespace):
    from sidecar.v1 import audio_pb2, synthesis_pb2

    options = synthesis_pb2.SynthesisOptions(
        model=args.model,
        speed=args.speed,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        repetition_penalty=args.repetition_penalty,
        output_encoding=audio_pb2.AUDIO_ENCODING_PCM_S16LE,
    )
    if args.seed is not None:
        options.seed = args.seed
    if args.max_sentence_seconds is not None:
        options.max_sentence_duration.FromNanoseconds(round(args.max_sentence_seconds * 1e9))
    return options


def speak(client, args: argparse.Namespace, text: str, voice_id: str) -> None:
    """Writes the chunks to a temporary WAV beside the output as they arrive, then renames it."""
    call = client.synthesize_stream(
        text,
        args.language,
        voice_id=voice_id,
        reference=None if voice_id else args.reference,
        transcript=args.transcript,
        options=options_for(args),
    )
    bar = ProgressBar(args.output.name, enabled=False if args.quiet else None)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    staging = outputs.staging_path(args.output)
    summary = None
    try:
        with open(staging, "wb") as f, wave.open(f, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(OUTPUT_SAMPLE_RATE)  # `info` says the real rate before any audio
            for response in call:
                kind = response.WhichOneof("event")
                if kind == "info":
                    wav.setframerate(response.info.audio_format.sample_rate_hertz)
                elif kind == "audio":
                    wav.writeframes(response.audio.data)
                elif kind == "progress":
                    bar.update(response.progress.fraction_done, response.progress.stage)
                elif kind == "summary":
                    summary = response.summary
        with committed(args.output):
            outputs.commit(staging, args.output, overwrite=args.force)
    except BaseException:
        call.cancel()
        staging.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    if not args.quiet and summary is not None:
        seconds = summary.audio_duration.seconds + summary.audio_duration.nanos / 1e9
        first = summary.first_audio_duration.seconds + summary.first_audio_duration.nanos / 1e9
        print(
            f"{args.output}: {seconds:.1f} s of speech in {summary.sentence_count} sentence(s); "
            f"first audio after {first:.2f} s, {summary.speed_factor:.2f}x real time",
            file=sys.stderr,
        )
