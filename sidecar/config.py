"""Server configuration: one frozen dataclass, filled from defaults, a TOML file and flags."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import pathlib
import tomllib
from typing import NamedTuple

from sidecar.engines.catalogue import ModelSettings
from sidecar.runtime import devices

DEFAULT_PORT = 50051
MIB = 1 << 20
# Environment variables that fill a setting neither the TOML file nor a flag gives. They are
# read here and nowhere else; engines and servicers get the values through the config.
TOKEN_ENV = "SIDECAR_TOKEN"
LICENSE_ENV = "SIDECAR_COQUI_TOS_AGREED"  # exactly "1" agrees; anything else does not
VOICES_DIR_ENV = "SIDECAR_VOICES_DIR"
SPEAKERS_DIR_ENV = "SIDECAR_SPEAKERS_DIR"
DEMUCS_REPOS_ENV = "SIDECAR_DEMUCS_REPOS"  # directories separated by os.pathsep
# Settings a TOML file gives as arrays.
TUPLE_SETTINGS = ("preload", "demucs_repositories", "models_dirs")
RAY_FAMILY_KEYS = ("replicas", "cpus", "gpus")


class RayFamily(NamedTuple):
    """A model family served by its own Ray Serve deployment; None: as the sidecar deployment's."""

    family: str
    min_replicas: int | None = None
    max_replicas: int | None = None
    cpus: float | None = None
    gpus: float | None = None


@dataclasses.dataclass(frozen=True)
class ServerConfig:
    # Address to bind. Anything but loopback needs a token.
    host: str = "127.0.0.1"
    # TCP port; 0 picks a free one (tests).
    port: int = DEFAULT_PORT
    # Shared secret clients send as "authorization: Bearer <token>"; else $SIDECAR_TOKEN.
    token: str | None = None
    # PEM certificate chain and private key for TLS; both or neither.
    tls_cert: str | None = None
    tls_key: str | None = None
    # Largest single gRPC message, either direction.
    max_message_bytes: int = 4 * MIB
    # Largest upload in one call, all chunks together.
    max_upload_bytes: int = 2048 * MIB
    # Longest audio one call may carry, in seconds.
    max_audio_seconds: float = 4 * 3600.0
    # Jobs that run at once, and jobs that may wait for a slot before RESOURCE_EXHAUSTED.
    max_running_jobs: int = 1
    max_waiting_jobs: int = 8
    # Live streams (StreamingRecognize, StreamEnhance) each service runs at once. They hold no
    # job slot, since a caption stream lasts hours; past this, RESOURCE_EXHAUSTED.
    max_live_streams: int = 4
    # Longest gap between a client's messages on a stream (a file upload, live audio) before the
    # call ends with DEADLINE_EXCEEDED, freeing its place; also the wait for a stream's config.
    stream_idle_seconds: float = 30.0
    # Bytes the loaded models may take together (RAM and GPU memory, as measured when each
    # loads); past it the least recently used idle models unload. 0: no limit. The TOML file
    # and --max-model-memory also take sizes such as "6G" or "512M".
    max_model_memory: int = 0
    # "auto" (CUDA when present), "cpu" or "cuda".
    device: str = devices.AUTO
    # CPU threads per model; 0 lets the library decide.
    cpu_threads: int = 0
    # Model used when a request names none.
    default_whisper_model: str = "tiny.en"
    # Models to load at start instead of on first use.
    preload: tuple[str, ...] = ()
    # A Prometheus endpoint (the `metrics` extra) on this port; 0: none. Loopback unless told.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    # Seconds jobs in flight get to finish on SIGTERM/SIGINT before they are stopped.
    shutdown_grace_seconds: float = 5.0
    # The person running the server agrees to the Coqui Public Model License that XTTS weights
    # are under (--agree-coqui-license; else $SIDECAR_COQUI_TOS_AGREED=1). Never assumed:
    # without it synthesis and voice creation answer FAILED_PRECONDITION.
    agree_coqui_license: bool = False
    # Directory of saved voices (--voices-dir; else $SIDECAR_VOICES_DIR; else voices/ in the
    # sidecar's cache directory).
    voices_dir: str | None = None
    # Directory of enrolled speakers, whose names label diarized turns (--speakers-dir; else
    # $SIDECAR_SPEAKERS_DIR; else speakers/ in the sidecar's cache directory).
    speakers_dir: str | None = None
    # Demucs model repositories searched, in order, before Demucs' download cache
    # (--demucs-repo, repeatable; else $SIDECAR_DEMUCS_REPOS).
    demucs_repositories: tuple[str, ...] = ()
    # Directories under which requests may name model directories (--models-dir, repeatable).
    # Requests may always name installed models by their names.
    models_dirs: tuple[str, ...] = ()
    # Lets requests name any model path or hub id (--allow-client-model-paths). Model files can
    # carry code (pickled checkpoints, pipeline configs), so anyone who can call the server can
    # then run code as the server: only for a loopback server used by one person.
    allow_client_model_paths: bool = False
    # The OpenAI-compatible HTTP API (the `http` extra) on this port; 0: none. Loopback unless
    # told; anything else needs the token, which it checks like the gRPC services.
    http_port: int = 0
    http_host: str = "127.0.0.1"
    # Under `sidecar serve --ray`: replicas of the sidecar deployment, at least and at most
    # (autoscaled between them on calls in flight when they differ), and the CPUs and GPUs
    # that Ray reserves for each replica.
    ray_min_replicas: int = 1
    ray_max_replicas: int = 1
    ray_cpus_per_replica: float = 1.0
    ray_gpus_per_replica: float = 0.0
    # Model families with a Ray Serve deployment of their own, which their services' calls go
    # to, with its own replicas and CPUs and GPUs per replica (TOML [ray_families.whisper],
    # --ray-family whisper:replicas=1:4,gpus=0.25). The other services share the sidecar's.
    ray_families: tuple[RayFamily, ...] = ()

    @classmethod
    def model_settings_for(cls, device: str = devices.AUTO, **fields) -> ModelSettings:
        """Model settings for a device and other ServerConfig fields, the rest at their defaults."""
        return cls(device=device, **fields).model_settings()

    def model_settings(self) -> ModelSettings:
        """The settings the model catalogue reads: its fields of the same names."""
        # ModelSettings' own fields with defaults (downloads) are not server settings.
        return ModelSettings(
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(ModelSettings) if hasattr(self, f.name)}
        )

    def validate(self) -> None:
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0..65535, not {self.port}")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and a key")
        if not is_loopback(self.host) and not self.token:
            raise ValueError(
                f"refusing to bind {self.host}: a non-loopback address needs a token "
                "(--token or $SIDECAR_TOKEN), or bind 127.0.0.1"
            )
        if self.max_message_bytes < 64 * 1024:
            raise ValueError("max_message_bytes must be at least 64 KiB")
        if self.max_live_streams < 1:
            raise ValueError("max_live_streams must be >= 1")
        if self.max_running_jobs < 1 or self.max_waiting_jobs < 0:
            raise ValueError("max_running_jobs must be >= 1 and max_waiting_jobs >= 0")
        if not isinstance(self.max_model_memory, int) or self.max_model_memory < 0:
            raise ValueError(f"max_model_memory must be bytes (or a size like 6G), not {self.max_model_memory!r}")
        if self.max_audio_seconds <= 0 or self.max_upload_bytes <= 0:
            raise ValueError("the audio limits must be positive")
        if not 1.0 <= self.stream_idle_seconds <= 86400.0:
            raise ValueError(f"stream_idle_seconds must be 1..86400, not {self.stream_idle_seconds}")
        if not 0 <= self.http_port <= 65535:
            raise ValueError(f"http_port must be 0..65535, not {self.http_port}")
        if self.http_port and not is_loopback(self.http_host) and not self.token:
            raise ValueError(
                f"refusing to serve HTTP on {self.http_host}: a non-loopback address needs a token "
                "(--token or $SIDECAR_TOKEN), or 127.0.0.1"
            )
        if not 0 <= self.metrics_port <= 65535:
            raise ValueError(f"metrics_port must be 0..65535, not {self.metrics_port}")
        if not 0.0 <= self.shutdown_grace_seconds <= 3600.0:
            raise ValueError(f"shutdown_grace_seconds must be 0..3600, not {self.shutdown_grace_seconds}")
        if not 1 <= self.ray_min_replicas <= self.ray_max_replicas:
            raise ValueError(
                f"ray replicas must be 1 <= min <= max, not min {self.ray_min_replicas}, max {self.ray_max_replicas}"
            )
        if self.ray_cpus_per_replica <= 0 or self.ray_gpus_per_replica < 0:
            raise ValueError("ray_cpus_per_replica must be positive and ray_gpus_per_replica not negative")
        for family in self.ray_families:
            low = self.ray_min_replicas if family.min_replicas is None else family.min_replicas
            high = self.ray_max_replicas if family.max_replicas is None else family.max_replicas
            if not 1 <= low <= high:
                raise ValueError(f"ray family {family.family}: replicas must be 1 <= min <= max, not {low}:{high}")
            if (family.cpus is not None and family.cpus <= 0) or (family.gpus is not None and family.gpus < 0):
                raise ValueError(f"ray family {family.family}: cpus must be positive and gpus not negative")
        devices.choose(self.device, gpu_present=True)  # checks the spelling only
        for name in ("agree_coqui_license", "allow_client_model_paths"):
            if not isinstance(getattr(self, name), bool):  # a TOML string would be truthy
                raise ValueError(f"{name} must be true or false")

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def load(path: str | os.PathLike | None = None, **overrides) -> ServerConfig:
    """Builds a config from, in order of precedence, the overrides (flags; None is unset), a
    TOML file (keys as the field names) and the environment (see from_environment)."""
    values: dict = {}
    if path is not None:
        with open(pathlib.Path(path), "rb") as f:
            values.update(tomllib.load(f))
        names = {f.name for f in dataclasses.fields(ServerConfig)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"{path}: unknown setting(s) {', '.join(unknown)}")
    for name, value in from_environment().items():
        values.setdefault(name, value)
    flag_families = overrides.pop("ray_families", None) or {}
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "ray_families" in values or flag_families:
        tables = values.get("ray_families", {})
        if not isinstance(tables, dict):
            raise ValueError("ray_families must be a table of tables, such as [ray_families.whisper]")
        values["ray_families"] = tuple(ray_family(name, fields) for name, fields in {**tables, **flag_families}.items())
    if isinstance(values.get("max_model_memory"), str):
        values["max_model_memory"] = parse_size(values["max_model_memory"])
    for name in TUPLE_SETTINGS:
        if name in values:
            if isinstance(values[name], str):  # tuple() would split it into characters
                raise ValueError(f"{name} must be a list of strings, not {values[name]!r}")
            values[name] = tuple(values[name])
    config = ServerConfig(**values)
    config.validate()
    return config


def ray_family(name: str, fields: dict) -> RayFamily:
    """A RayFamily from its TOML table or --ray-family flag: replicas ("2" or "1:4"), cpus, gpus."""
    if not isinstance(fields, dict):
        raise ValueError(f"ray_families.{name} must be a table of {', '.join(RAY_FAMILY_KEYS)}")
    unknown = sorted(set(fields) - set(RAY_FAMILY_KEYS))
    if unknown:
        raise ValueError(
            f"ray_families.{name}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(RAY_FAMILY_KEYS)}"
        )
    family = RayFamily(name)
    try:
        if "replicas" in fields:
            low, _, high = str(fields["replicas"]).partition(":")
            family = family._replace(min_replicas=int(low), max_replicas=int(high or low))
        for key in ("cpus", "gpus"):
            if key in fields:
                family = family._replace(**{key: float(fields[key])})
    except (TypeError, ValueError):
        raise ValueError(
            f"ray_families.{name}: replicas takes MIN or MIN:MAX, cpus and gpus numbers: {fields}"
        ) from None
    return family


_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    """Bytes in "6G", "512M", "1.5G" or "123456" (binary units; a trailing B or iB is allowed)."""
    spelled = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = spelled[-1:] if spelled[-1:] in _SIZE_UNITS else ""
    try:
        number = float(spelled[: len(spelled) - len(unit)])
    except ValueError:
        raise ValueError(f"{text!r} is not a size: give bytes, or a number with K, M, G or T") from None
    if number < 0:
        raise ValueError(f"{text!r}: a size cannot be negative")
    return int(number * _SIZE_UNITS[unit])


def from_environment() -> dict:
    """The settings the environment gives: the fallbacks for users of the variables."""
    found: dict = {}
    if os.environ.get(TOKEN_ENV):
        found["token"] = os.environ[TOKEN_ENV]
    if os.environ.get(LICENSE_ENV, "").strip() == "1":
        found["agree_coqui_license"] = True
    if os.environ.get(VOICES_DIR_ENV):
        found["voices_dir"] = os.environ[VOICES_DIR_ENV]
    if os.environ.get(SPEAKERS_DIR_ENV):
        found["speakers_dir"] = os.environ[SPEAKERS_DIR_ENV]
    repositories = [p for p in os.environ.get(DEMUCS_REPOS_ENV, "").split(os.pathsep) if p.strip()]
    if repositories:
        found["demucs_repositories"] = tuple(repositories)
    return found
