"""`sidecar subtitle FILES... --ray ADDRESS --server PROXY`: a batch's files as Ray tasks.

Each file is one task. On whichever node Ray places it, the task reads the file, captions it
through the sidecar at --server (the cluster's Serve proxy) exactly as `sidecar subtitle` does
here, and writes its outputs there. The files, the outputs and the command's working folder must
lie on storage every node sees, under the same paths (a shared or network file system). A task
whose node is lost runs again on another, keeping what it had written, as a resumed batch does.
This process plans the batch (what is done before is skipped), keeps --jobs tasks in flight,
and reports each file as its task ends.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence

from sidecar.cli.files import UsageError, kept_outputs
from sidecar.cli.progress import ProgressBar
from sidecar_client.client import TOKEN_ENV

# Runs of a task whose node was lost or whose process died (Ray's own retries): a file is
# reported failed only after this many more.
MAX_RETRIES = 3
REACH_SECONDS = 10  # for the cluster's head to answer
RAY_AUTH_MODE = "RAY_AUTH_MODE"  # Ray's own token authentication, when set to "token"


def caption_as_tasks(
    args: argparse.Namespace,
    pending: Sequence[tuple[int, argparse.Namespace]],
    run_one: Callable,
    outputs_of: Callable,
    on_done: Callable[[int], None],
) -> list[int]:
    """Exit codes of `pending` (batch index, one file's args), in that order, each file captioned
    by a Ray task on the cluster at args.ray; on_done(index) as each ends."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray: install the sidecar's `ray` extra") from None
    _check_cluster(args.ray)
    try:
        # log_to_driver=False: the tasks' output comes back with their results, not as Ray's log lines.
        ray.init(address=args.ray, logging_level=logging.WARNING, log_to_driver=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UsageError(f"--ray {args.ray}: cannot join the Ray cluster there: {exc}") from None
    task = ray.remote(_caption_on_node).options(
        num_cpus=0,  # the work is the sidecar's replicas'; a task waits on their answer
        max_retries=MAX_RETRIES,
        scheduling_strategy="SPREAD",
        name="sidecar-subtitle",
    )
    # The nodes' environments are not this one's: a token from $SIDECAR_TOKEN goes with the tasks
    # (into the cluster's task table, which whoever runs the cluster can read anyway).
    token = None if args.token or args.token_file else os.environ.get(TOKEN_ENV)
    if token:
        pending = [(index, copy.copy(one)) for index, one in pending]
        for _, one in pending:
            one.token = token
    folder, upcoming, running, codes = os.getcwd(), list(pending), {}, {}
    try:
        while upcoming or running:
            while upcoming and len(running) < args.jobs:
                index, one = upcoming.pop(0)
                running[task.remote(folder, one, run_one, outputs_of)] = (index, one)
            [ended], _ = ray.wait(list(running), num_returns=1)
            index, one = running.pop(ended)
            try:
                codes[index], said = ray.get(ended)
            except ray.exceptions.RayError as exc:  # lost more than MAX_RETRIES times, or not run at all
                codes[index], said = 1, f"sidecar subtitle: {one.input}: its Ray task failed: {_first_line(exc)}\n"
            sys.stderr.write(said)
            on_done(index)
    finally:
        for ref in running:  # Ctrl-C, or this process failing: no task goes on without it
            ray.cancel(ref, force=True)
        ray.shutdown()
    return [codes[index] for index, _ in pending]


def _caption_on_node(folder: str, one: argparse.Namespace, run_one: Callable, outputs_of: Callable) -> tuple[int, str]:
    """(exit code, what it printed) of captioning one file as `sidecar subtitle` does, run in the
    command's working folder. Outputs that exist are kept unless --force: those of an earlier
    run of this task, on a node that was lost after writing them."""
    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        try:
            with contextlib.chdir(folder):  # a folder this node does not see: OSError
                one.keep, done = kept_outputs(outputs_of(one, one.output), one.force)
                if done:
                    return 0, ""
                code = run_one(one, ProgressBar(one.input.name, enabled=False))  # the batch's bar moves as it ends
        except (UsageError, OSError) as exc:  # this file's problem: the batch goes on
            print(f"sidecar subtitle: {one.input}: {exc}", file=sys.stderr)
            code = 1
    return code, said.getvalue()


def _check_cluster(address: str) -> None:
    """UsageError unless a Ray cluster's head answers at HOST:PORT: Ray itself tries a wrong
    address (nothing there, or the Serve proxy's) for many minutes before it gives up. Its
    GCS is asked for the cluster's id, which it gives anyone. Ray checks `auto` (this machine's
    cluster), Ray Client's ray:// addresses, and clusters that want Ray's own token itself."""
    if address == "auto" or address.startswith("ray://") or os.environ.get(RAY_AUTH_MODE, "disabled") != "disabled":
        return
    import grpc
    from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

    if not re.fullmatch(r"\S+:\d+", address):
        raise UsageError(f"--ray {address}: give the cluster's HOST:PORT (as `ray start --head` printed it), or auto")
    with grpc.insecure_channel(address) as channel:
        try:
            gcs = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
            gcs.GetClusterId(gcs_service_pb2.GetClusterIdRequest(), timeout=REACH_SECONDS)
        except grpc.RpcError as exc:
            if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise UsageError(f"--ray {address}: no Ray cluster answers there") from None
            raise UsageError(
                f"--ray {address}: the server there is not a Ray cluster's head (give the address `ray start "
                f"--head` printed; the Serve proxy's goes to --server): it answered {exc.code().name}"
            ) from None


def _first_line(exc: BaseException) -> str:
    """The first line of what went wrong: of a task's own exception, not Ray's wrapping of it."""
    lines = str(getattr(exc, "cause", None) or exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
