"""One action from start to end: connect to Audacity and the sidecar, run it, let both go.

The CLI and the panel both come through here, so each action holds Audacity's pipe only
while it runs and another client (the other of the two) can take it afterwards.
"""

from __future__ import annotations

from sidecar_audacity import actions, creative
from sidecar_audacity.audacity import Audacity
from sidecar_audacity.errors import SidecarUnavailableError
from sidecar_audacity.pipe import PIPE_DIR, PipeConnection
from sidecar_client import DEFAULT_ADDRESS, Connection, SidecarClient, SidecarError

START_HINT = "sidecar serve"
SIDECAR_READY_SECONDS = 5.0
# When a status check has just found no sidecar: one quick try, in case it has come up since.
QUICK_READY_SECONDS = 0.5
# Action name (as the CLI spells it) -> the function that runs it.
ACTIONS = {
    "caption": actions.caption,
    "caption-speakers": actions.caption_speakers,
    "denoise": actions.denoise,
    "stems": actions.split_stems,
    "say": creative.say,
    "fix-phrase": creative.fix_phrase,
    "cue": creative.generate_cue,
    "events": creative.mark_events,
}


def perform(
    name: str,
    options,
    job: actions.Job,
    *,
    address: str | Connection = DEFAULT_ADDRESS,
    token: str | None = None,
    pipe_dir: str = PIPE_DIR,
    ready_seconds: float = SIDECAR_READY_SECONDS,
) -> actions.Outcome:
    """Runs the named action on Audacity's selection with these options, waiting up to
    `ready_seconds` for the sidecar to answer."""
    with Audacity(PipeConnection(pipe_dir)) as audacity, connect(address, token, ready_seconds) as client:
        return ACTIONS[name](audacity, client, options, job)


def export_subtitles(
    output: str, *, track_names: tuple[str, ...] = (), force: bool = False, pipe_dir: str = PIPE_DIR
) -> actions.Outcome:
    with Audacity(PipeConnection(pipe_dir)) as audacity:
        return actions.export_subtitles(audacity, output, track_names=track_names, force=force)


def download_model(
    name: str,
    accept_license: bool,
    job: actions.Job,
    *,
    address: str | Connection = DEFAULT_ADDRESS,
    ready_seconds: float = SIDECAR_READY_SECONDS,
) -> actions.Outcome:
    """Has the sidecar download a model of its catalogue (Audacity is not needed)."""
    with connect(address, ready_seconds=ready_seconds) as client:
        calls = job.responses(
            client.pull_model(name, accept_license=accept_license),
            f"downloading {name}",
            when_cancelled="removed the partial download",
        )
        for response in calls:
            if response.total_bytes:
                mib = (response.done_bytes >> 20, response.total_bytes >> 20)
                job.report(response.done_bytes / response.total_bytes, f"downloading {name}: {mib[0]} of {mib[1]} MiB")
    return actions.Outcome(f"{name} is downloaded and checked: the sidecar can use it now.")


def downloadable_models(address: str | Connection, ready_seconds: float = SIDECAR_READY_SECONDS) -> list:
    """The sidecar's catalogue (sidecar.v1.DownloadableModel), or SidecarUnavailableError."""
    with connect(address, ready_seconds=ready_seconds) as client:
        try:
            return client.downloadable_models()
        except SidecarError as exc:
            raise SidecarUnavailableError(f"the sidecar could not list its models: {exc.details}") from None


def connect(
    address: str | Connection, token: str | None = None, ready_seconds: float = SIDECAR_READY_SECONDS
) -> SidecarClient:
    """A client whose sidecar answers within `ready_seconds`, or SidecarUnavailableError.
    `address` is host:port (with `token`, else $SIDECAR_TOKEN) or a Connection with its TLS
    and token settings."""
    connection = address if isinstance(address, Connection) else Connection(address, token)
    try:
        client = connection.open()
    except SidecarError as exc:
        raise SidecarUnavailableError(exc.details) from None
    try:
        client.wait_ready(timeout=ready_seconds)
    except SidecarError as exc:
        client.close()
        raise SidecarUnavailableError(f"{exc.details} (start it with `{START_HINT}`)") from None
    return client
