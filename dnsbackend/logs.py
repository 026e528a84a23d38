"""Logging set-up: one line per event, ISO 8601 times with their UTC offset, stderr or a file."""

from __future__ import annotations

import datetime
import logging
import logging.handlers
import sys

_FORMAT = "%(asctime)s %(levelname)s %(message)s"
_installed: logging.Handler | None = None  # the handler set up last


class _Formatter(logging.Formatter):
    """Times as 2026-12-01T16:45:00.123+00:00: unambiguous whatever the machine's zone."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        when = datetime.datetime.fromtimestamp(record.created).astimezone()
        return when.isoformat(timespec="milliseconds")


def setup_logging(level: str, log_file: str | None = None, tag: str = "") -> None:
    """Send the log to `log_file` (reopened when logrotate moves it) or to stderr (which
    systemd's journal captures), at `level`; `tag` (e.g. "[worker 2] ") starts each message.
    Raises OSError, changing nothing, when the file cannot be opened."""
    install(open_handler(log_file, tag), level)


def open_handler(log_file: str | None, tag: str = "") -> logging.Handler:
    """The handler for a log file (or stderr), opened now: OSError if it cannot be."""
    handler: logging.Handler
    if log_file:
        handler = logging.handlers.WatchedFileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(_FORMAT.replace("%(message)s", tag + "%(message)s")))
    return handler


def install(handler: logging.Handler, level: str) -> None:
    """Make `handler` the log's one handler of ours, at `level`."""
    global _installed
    root = logging.getLogger()
    if _installed is not None:  # a change of settings: the new handler replaces ours
        root.removeHandler(_installed)
        _installed.close()
    root.addHandler(handler)
    _installed = handler
    root.setLevel(level.upper())
