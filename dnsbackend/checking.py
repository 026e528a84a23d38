"""`dnsbackend check`: zone files (and, with --config, the settings) checked as the server would."""

from __future__ import annotations

import os
import sys

import dns.exception
import dns.name

from .settings import SettingsError, load_settings, policy_from_settings
from .zone.bindreader import written_origin
from .zone.build import build_zone
from .zone.files import ZONE_SUFFIX, include_root, origin_for_file
from .zone.records import ZoneFileError

SHOWN = 20  # errors printed per file; then how many more there were


def main(files: list[str], origin: str | None, config: str | None) -> int:
    """Check `files` (each as the zone its name says, or `origin`); with `config`, check the
    settings first, then the zones they serve (only `files` among them, when given), each
    with the origin and the `$INCLUDE` root the server would use."""
    if config is None:
        if not files:
            print("dnsbackend: check needs zone files, or --config", file=sys.stderr)
            return 2
        zones = [(path, *_zone_of_file(path, origin)) for path in files]
    else:
        try:
            settings = load_settings(config, {})
            policy = policy_from_settings(settings, os.getcwd())
        except SettingsError as exc:
            for line in str(exc).splitlines():  # the messages the server would give
                print(f"dnsbackend: {line}", file=sys.stderr)
            return 2
        print(f"{config}: settings OK")
        wanted = {os.path.realpath(w.file): w.origin for w in policy.wanted_zones().values()}
        chosen = [os.path.realpath(p) for p in files] if files else sorted(wanted)
        zones = []
        for path in chosen:
            if path in wanted:
                zones.append((path, wanted[path], include_root(path, policy.zones_dir)))
            else:
                zones.append((path, f"{path}:1: not a zone the settings in {config} serve", ""))
    failed = sum(not _check_one(path, name, root) for path, name, root in zones)
    if failed:
        print(f"{failed} of {len(zones)} zone files have errors", file=sys.stderr)
        return 1
    print("OK")
    return 0


def _zone_of_file(path: str, origin: str | None) -> tuple[str, str]:
    """(origin, include root) of a zone file checked on its own; the origin is an error
    message (`file:line: ...`) when it cannot be told."""
    if origin:
        return origin, include_root(path, os.path.dirname(os.path.abspath(path)))
    if os.path.basename(path).endswith(ZONE_SUFFIX):
        try:  # the zone the server would serve it as
            return origin_for_file(path).to_text(), os.path.dirname(os.path.realpath(path))
        except dns.exception.DNSException as exc:
            return f"{path}:1: bad origin: {exc}", ""
    hint = written_origin(path)  # named-checkzone too needs the origin given
    return (f"{path}:1: which zone is this? Its name does not end in {ZONE_SUFFIX}, so give "
            "its origin with --origin" + (f" (its $ORIGIN or SOA names {hint})" if hint else ""),
            "")


def _check_one(path: str, origin: str, root: str) -> bool:
    """Print what one zone file's check finds; True if it would be served."""
    try:
        if not root:
            raise ZoneFileError(origin)
        try:
            name = dns.name.from_text(origin)
        except dns.exception.DNSException as exc:
            raise ZoneFileError(f"{path}:1: bad origin: {exc}") from None
        built = build_zone(path, name, root)
    except ZoneFileError as exc:
        for message in exc.errors[:SHOWN]:
            print(message, file=sys.stderr)
        if exc.count > SHOWN:
            print(f"{path}: {exc.count - SHOWN} more errors", file=sys.stderr)
        return False
    meta = built.contents.meta
    for warning in built.warnings:
        print(warning, file=sys.stderr)
    print(f"zone {name.to_text()}: loaded serial {meta.serial}, {meta.records} records "
          f"({built.seconds:.3f}s)")
    return True
