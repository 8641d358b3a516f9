"""`sidecar models`: the models a running sidecar can load, and getting models onto this machine.

sidecar models                       what the sidecar (--server, or one started here) can load
sidecar models list                  the catalogue, and which models this machine has
sidecar models pull htdemucs         download one, with progress, checking checksums
sidecar models rm htdemucs           remove one
sidecar models verify [NAME...]      check the files of pulled models against their checksums
sidecar models export NAME... -o models.tar    a bundle for a machine without internet
sidecar models import models.tar     add a bundle's models here
"""

from __future__ import annotations

import argparse
import pathlib
import sys

from sidecar.cli.connection import add_server_arguments, connect
from sidecar.cli.files import UsageError


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "models",
        help="list a sidecar's models; list, pull, remove, verify, export and import downloadable ones",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_server_arguments(p)
    actions = p.add_subparsers(dest="action", metavar="ACTION")
    actions.add_parser("list", help="the catalogue of downloadable models, and which this machine has")
    pull = actions.add_parser("pull", help="download models into the Hugging Face cache")
    pull.add_argument("names", nargs="+", metavar="NAME")
    pull.add_argument(
        "--agree-license", action="store_true", help="accept the licence of a model that asks for it (XTTS: the CPML)"
    )
    pull.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    actions.add_parser("rm", help="remove pulled models").add_argument("names", nargs="+", metavar="NAME")
    actions.add_parser("verify", help="check pulled models' files against their checksums").add_argument(
        "names", nargs="*", metavar="NAME", help="default: every pulled model"
    )
    export = actions.add_parser("export", help="write pulled models into one bundle file")
    export.add_argument("names", nargs="+", metavar="NAME")
    export.add_argument("-o", "--output", required=True, type=pathlib.Path, metavar="BUNDLE")
    export.add_argument("--force", action="store_true", help="replace BUNDLE if it exists")
    actions.add_parser("import", help="add the models of a bundle").add_argument(
        "bundle", type=pathlib.Path, metavar="BUNDLE"
    )
    return p


def run(args: argparse.Namespace) -> int:
    if args.action is None:
        return list_served(args)
    from sidecar.errors import SidecarError
    from sidecar.runtime import model_catalogue

    try:
        models = [model_catalogue.known(name) for name in getattr(args, "names", [])]
    except SidecarError as exc:
        raise UsageError(str(exc)) from None
    try:
        return ACTIONS[args.action](args, models)
    except SidecarError as exc:
        print(f"sidecar models {args.action}: {exc}", file=sys.stderr)
        return 1


def list_served(args: argparse.Namespace) -> int:
    from sidecar.v1 import models_pb2

    with connect(args) as client:
        for m in client.list_models():
            caps = ",".join(models_pb2.Capability.Name(c).removeprefix("CAPABILITY_").lower() for c in m.capabilities)
            flags = " (default)" if m.is_default else ""
            state = f"loaded on {m.device}, {m.memory_bytes / (1 << 20):.0f} MiB" if m.loaded else "not loaded"
            print(f"{m.family:10} {m.name:16} {m.source:10} {state:28} {caps}{flags}")
    return 0


def list_catalogue(args, models) -> int:
    from sidecar.runtime import model_cache, model_catalogue

    print(f"{'NAME':24} {'FAMILY':13} {'ABOUT':>7}  {'LICENCE':22} {'EXTRA':10} HERE")
    for model in model_catalogue.CATALOGUE.values():
        here = model_cache.here(model)
        licence = model.licence + (" (agree)" if model.agreement else "")
        print(f"{model.name:24} {model.family:13} {model.about_size or '?':>7}  {licence:22} {model.extra:10} {here}")
    print(f"\nThe Hugging Face cache: {model_cache.hub_cache()}")
    return 0


def pull(args, models) -> int:
    from sidecar.cli.progress import ProgressBar
    from sidecar.runtime import model_downloads

    for model in models:
        bar = ProgressBar(f"pulling {model.name}", enabled=False if args.quiet else None)
        try:
            folder = model_downloads.pull(
                model,
                agree_licence=args.agree_license,
                on_progress=lambda p, bar=bar: bar.update(p.done_bytes / p.total_bytes if p.total_bytes else 0, p.file),
            )
        finally:
            bar.close()
        print(f"{model.name}: {folder}")
    return 0


def remove(args, models) -> int:
    from sidecar.runtime import model_cache

    for model in models:
        freed = model_cache.remove(model)
        print(f"{model.name}: removed, {freed / (1 << 20):.1f} MiB freed" if freed else f"{model.name}: not pulled")
    return 0


def verify(args, models) -> int:
    from sidecar.runtime import model_cache, model_catalogue

    pulled = models or [m for m in model_catalogue.CATALOGUE.values() if model_cache.snapshot(m)]
    failed = 0
    for model in pulled:
        problems = model_cache.verify(model)
        print(f"{model.name}: " + ("ok" if not problems else "DAMAGED"))
        for problem in problems:
            print(f"  {problem}")
        failed += bool(problems)
    if not pulled:
        print("no models are pulled")
    return 1 if failed else 0


def export(args, models) -> int:
    from sidecar.runtime import model_bundles

    written = model_bundles.export(models, args.output, force=args.force)
    print(f"{args.output}: {', '.join(m.name for m in models)} ({written / (1 << 20):.1f} MiB)")
    return 0


def import_bundle(args, models) -> int:
    from sidecar.runtime import model_bundles, model_cache

    imported = model_bundles.import_bundle(args.bundle)
    print(f"imported {', '.join(m.name for m in imported)} into {model_cache.hub_cache()}")
    return 0


ACTIONS = {
    "list": list_catalogue,
    "pull": pull,
    "rm": remove,
    "verify": verify,
    "export": export,
    "import": import_bundle,
}
