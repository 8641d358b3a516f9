"""The request a piece of work serves, for log lines: its id, in a context variable that the
worker threads inherit (sidecar.runtime.threads copies the context)."""

from __future__ import annotations

import contextvars
import logging

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")


def tag_log_records() -> None:
    """Gives every log record a `request` attribute: " [id]" while serving a request, else ""
    (for a format such as "%(name)s%(request)s: %(message)s")."""
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "tags_requests", False):
        return

    def tagged(*args, **kwargs) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        current = request_id.get()
        record.request = f" [{current}]" if current else ""
        return record

    tagged.tags_requests = True
    logging.setLogRecordFactory(tagged)
