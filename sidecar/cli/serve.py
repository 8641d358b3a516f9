"""`sidecar serve`: run the gRPC server until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import sys

from sidecar import config as config_mod
from sidecar.engines import xtts_models
from sidecar.runtime import devices


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser("serve", help="run the sidecar server")
    p.add_argument("--config", metavar="FILE.toml", help="settings file (keys as ServerConfig fields)")
    p.add_argument("--host", help="address to bind (default 127.0.0.1; others need --token)")
    p.add_argument("--port", type=int, help=f"port (default {config_mod.DEFAULT_PORT}; 0: any free)")
    p.add_argument("--token", help="require this bearer token (default: $SIDECAR_TOKEN)")
    p.add_argument("--tls-cert", help="PEM certificate chain for TLS")
    p.add_argument("--tls-key", help="PEM private key for TLS")
    p.add_argument("--device", choices=devices.DEVICE_CHOICES, help="where models run (default auto)")
    p.add_argument("--max-running-jobs", type=int, help="jobs that run at once")
    p.add_argument("--max-waiting-jobs", type=int, help="jobs that wait before RESOURCE_EXHAUSTED")
    p.add_argument("--max-audio-seconds", type=float, help="longest audio a call may carry")
    p.add_argument("--max-message-bytes", type=int, help="largest single gRPC message")
    p.add_argument(
        "--stream-idle-seconds",
        type=float,
        help="end a call whose client sends nothing for this long (default 30), freeing its place",
    )
    p.add_argument(
        "--max-live-streams",
        type=int,
        metavar="N",
        help="live streams each service runs at once, past which new ones are refused (default 4; "
        "bench/load.py measures what a machine keeps within the lag goal)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="serve Prometheus metrics on this port (needs the metrics extra; default: none)",
    )
    p.add_argument(
        "--metrics-host",
        metavar="HOST",
        help="address for --metrics-port (default 127.0.0.1; the metrics carry no token check)",
    )
    p.add_argument(
        "--shutdown-grace",
        type=float,
        dest="shutdown_grace_seconds",
        metavar="SECONDS",
        help="on SIGTERM/SIGINT, how long jobs in flight may run on before they are stopped (default 5)",
    )
    p.add_argument(
        "--max-model-memory",
        metavar="SIZE",
        help="memory the loaded models may take together, e.g. 6G; past it the least "
        "recently used idle models unload (default: no limit)",
    )
    p.add_argument("--default-model", dest="default_whisper_model", help="Whisper model for requests naming none")
    p.add_argument("--preload", action="append", metavar="MODEL", help="load this Whisper model at start (repeatable)")
    p.add_argument(
        xtts_models.LICENSE_FLAG,
        dest="agree_coqui_license",
        action="store_true",
        default=None,
        help="agree to the Coqui Public Model License (CPML, "
        + xtts_models.LICENSE_URL
        + ") that XTTS voice-cloning weights are under; without it synthesis is refused "
        f"(or agree_coqui_license = true in --config, or ${config_mod.LICENSE_ENV}=1)",
    )
    p.add_argument(
        "--voices-dir",
        metavar="DIR",
        help=f"directory of saved voices (default: ${config_mod.VOICES_DIR_ENV}, else voices/ in the cache directory)",
    )
    p.add_argument(
        "--speakers-dir",
        metavar="DIR",
        help="directory of enrolled speakers, whose names label diarized turns "
        f"(default: ${config_mod.SPEAKERS_DIR_ENV}, else speakers/ in the cache directory)",
    )
    p.add_argument(
        "--demucs-repo",
        dest="demucs_repositories",
        action="append",
        metavar="DIR",
        help=f"a Demucs model repository to search (repeatable; default: ${config_mod.DEMUCS_REPOS_ENV})",
    )
    p.add_argument(
        "--models-dir",
        dest="models_dirs",
        action="append",
        metavar="DIR",
        help="a directory under which requests may name model directories (repeatable)",
    )
    p.add_argument(
        "--allow-client-model-paths",
        action="store_true",
        default=None,
        help="let requests name any model path or hub id; model files can run code, so only for a "
        "loopback server that one person uses (see SECURITY.md)",
    )
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="serve through Ray Serve deployments on the Ray cluster at ADDRESS (no ADDRESS: a local "
        "single-node Ray); needs the ray extra and an explicit --port",
    )
    p.add_argument(
        "--http-port",
        type=int,
        help="also serve the OpenAI-compatible HTTP API (/v1/audio/transcriptions, /v1/audio/translations, "
        "/v1/models) on this port (the http extra)",
    )
    p.add_argument("--http-host", help="address for --http-port (default 127.0.0.1; others need a token)")
    p.add_argument(
        "--ray-replicas",
        metavar="MIN[:MAX]",
        help="with --ray: replicas of the sidecar deployment; MIN:MAX autoscales between them (default 1)",
    )
    p.add_argument("--ray-cpus", type=float, help="with --ray: CPUs Ray reserves per replica (default 1)")
    p.add_argument("--ray-gpus", type=float, help="with --ray: GPUs (or a fraction of one) per replica (default 0)")
    p.add_argument(
        "--ray-family",
        action="append",
        metavar="FAMILY[:replicas=MIN[:MAX],cpus=N,gpus=N]",
        help="with --ray: serve a model family's services (whisper, demucs, ...) by a deployment of its "
        "own, with these replicas and CPUs and GPUs per replica (others as the sidecar's); repeatable",
    )
    p.add_argument("--ready-file", help="write the bound port to this file once serving (for scripts)")
    return p


def run(args: argparse.Namespace) -> int:
    from sidecar.server import app

    try:
        config = config_mod.load(
            args.config,
            host=args.host,
            port=args.port,
            token=args.token,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            device=args.device,
            max_running_jobs=args.max_running_jobs,
            max_waiting_jobs=args.max_waiting_jobs,
            max_audio_seconds=args.max_audio_seconds,
            max_message_bytes=args.max_message_bytes,
            stream_idle_seconds=args.stream_idle_seconds,
            shutdown_grace_seconds=args.shutdown_grace_seconds,
            max_live_streams=args.max_live_streams,
            metrics_port=args.metrics_port,
            metrics_host=args.metrics_host,
            max_model_memory=args.max_model_memory,
            default_whisper_model=args.default_whisper_model,
            preload=args.preload,
            agree_coqui_license=args.agree_coqui_license,
            voices_dir=args.voices_dir,
            speakers_dir=args.speakers_dir,
            demucs_repositories=args.demucs_repositories,
            models_dirs=args.models_dirs,
            allow_client_model_paths=args.allow_client_model_paths,
            http_port=args.http_port,
            http_host=args.http_host,
            ray_cpus_per_replica=args.ray_cpus,
            ray_gpus_per_replica=args.ray_gpus,
            ray_families=ray_families(args.ray_family or ()),
            **replicas(args.ray_replicas),
        )
    except (ValueError, OSError) as exc:
        print(f"sidecar serve: {exc}", file=sys.stderr)
        return 2

    def ready(port: int, host: str = config.host) -> None:
        print(f"sidecar listening on {host}:{port}", flush=True)
        if args.ready_file:
            with open(args.ready_file, "w") as f:
                f.write(str(port))

    if args.ray is not None:
        return serve_on_ray(config, args.ray or None, ready)
    asyncio.run(app.serve(config, on_ready=lambda sidecar: ready(sidecar.port)))
    return 0


def replicas(spelled: str | None) -> dict[str, int]:
    """--ray-replicas "2" or "1:4" as config fields."""
    if spelled is None:
        return {}
    low, _, high = spelled.partition(":")
    try:
        return {"ray_min_replicas": int(low), "ray_max_replicas": int(high or low)}
    except ValueError:
        raise ValueError(f"--ray-replicas takes MIN or MIN:MAX, not {spelled!r}") from None


def ray_families(flags) -> dict[str, dict[str, str]]:
    """--ray-family "whisper:replicas=1:4,gpus=0.25" flags as config.ray_family's tables."""
    tables = {}
    for spelled in flags:
        family, _, settings = spelled.partition(":")
        fields = [item.partition("=") for item in settings.split(",") if item]
        if not family or any(not sep for _, sep, _ in fields):
            raise ValueError(f"--ray-family takes FAMILY[:replicas=MIN[:MAX],cpus=N,gpus=N], not {spelled!r}")
        tables[family] = {key.strip(): value.strip() for key, _, value in fields}
    return tables


def serve_on_ray(config, address: str | None, ready) -> int:
    from sidecar.server import ray_serve

    # Serve's gRPC proxy has no host or TLS option: it listens on every interface, in plain text.
    refusal = ""
    if not config.port:
        refusal = "give an explicit --port (Serve's proxy cannot pick one)"
    elif not config.token:
        refusal = "Serve's gRPC proxy listens on every interface, so it needs a token (--token or $SIDECAR_TOKEN)"
    elif config.tls_cert:
        refusal = "Serve's gRPC proxy has no TLS: put a TLS-terminating proxy in front of it instead"
    elif config.http_port:
        refusal = "the HTTP API is not served through Ray yet: run it on a plain `sidecar serve --http-port`"
    elif unknown := ray_serve.unknown_families(config):
        refusal = f"no service needs model family {', '.join(unknown)}: give one of {', '.join(ray_serve.FAMILIES)}"
    elif unfit := ray_serve.unfit_ray():
        refusal = unfit
    if refusal:
        print(f"sidecar serve --ray: {refusal}", file=sys.stderr)
        return 2
    ray_serve.serve(config, address, lambda port: ready(port, host="0.0.0.0"))
    return 0
