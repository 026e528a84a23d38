"""What a write job did to one zone, as a typed event, and the one log line it is worth."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field

log = logging.getLogger("dnsbackend")

WARNINGS_LOGGED = 5  # per zone load; a zone with thousands of warnings must not flood the log


class Action(enum.Enum):
    """What happened to a zone."""

    LOADED = "loaded"  # a new version is served
    KEPT = "kept"  # the file is what the store already serves
    FAILED = "failed"  # the file was rejected; the previous version (if any) keeps serving
    REMOVED = "removed"  # no longer served
    ENABLED = "enabled"
    DISABLED = "disabled"
    IGNORED = "ignored"  # not wanted by the zone policy (any more), or not gone after all
    SUPERSEDED = "superseded"  # a read of a newer file was applied first: this one is dropped


@dataclass(frozen=True)
class Read:
    """How a zone file was read: in full, or only where it changed (zone.incremental)."""

    lines: int  # read again where the file changed; 0 with `full`
    full: bool = False

    def __str__(self) -> str:
        if self.full:
            return "file read in full"
        return f"{self.lines:,} line{'' if self.lines == 1 else 's'} re-read"


@dataclass
class Outcome:
    """The outcome of one write job for one zone."""

    origin: str
    action: Action
    path: str = ""
    serial: int = 0
    records: int = 0
    seconds: float = 0.0
    error: str = ""
    version: int = 0
    warnings: list[str] = field(default_factory=list)
    read: Read | None = None  # how the zone file was read, when it was (LOADED)


def log_outcome(outcome: Outcome) -> None:
    """One line per event an operator cares about."""
    action = outcome.action
    if action is Action.LOADED:
        read = "" if outcome.read is None else f", {outcome.read}"
        log.info("zone %s loaded: serial %d, %d records, %.3fs (version %d)%s", outcome.origin,
                 outcome.serial, outcome.records, outcome.seconds, outcome.version, read)
    elif action is Action.FAILED:
        keep = (f"; still serving serial {outcome.serial}" if outcome.version
                else "; not served")
        log.error("zone %s rejected: %s%s", outcome.origin, outcome.error, keep)
    elif action is Action.REMOVED:
        log.info("zone %s removed: %s", outcome.origin,
                 outcome.error or f"{outcome.path or 'its file'} is gone")
    elif action is Action.KEPT:
        log.info("zone %s serving serial %d from the store (file unchanged)", outcome.origin,
                 outcome.serial)
    for warning in outcome.warnings[:WARNINGS_LOGGED]:
        log.warning("zone %s: %s", outcome.origin, warning)
    if len(outcome.warnings) > WARNINGS_LOGGED:
        log.warning("zone %s: %d more warnings like these (dnsbackend check %s lists them all)",
                    outcome.origin, len(outcome.warnings) - WARNINGS_LOGGED, outcome.path)


def report(outcome: Outcome, quiet_kept: bool = True) -> None:
    """Log an outcome; zones left as they were are news only at start-up."""
    if outcome.action in (Action.IGNORED, Action.SUPERSEDED) or (
            quiet_kept and outcome.action is Action.KEPT):
        log.debug("zone %s: %s update %s", outcome.origin, outcome.path, outcome.action.value)
    else:
        log_outcome(outcome)
