"""The `dnsbackend` command: serve, check, status, changes and ds.

Each command imports what it needs when it runs: `serve` starts the fork server of its
writers first (update.process), so that the writers' imports run on the other core while
this process imports the settings and the serving code.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

from . import __version__

if TYPE_CHECKING:
    from .settings import Settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dnsbackend",
        description="Authoritative DNS server that answers from zone files. Edit a zone "
        "file and the answers change within a fraction of a second.",
    )
    p.add_argument("--version", action="version", version=f"dnsbackend {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("serve", help="serve the zones of a directory over UDP and TCP",
                       description="Serve every <origin>.zone file of the zones directory. "
                       "Settings come from flags, then the TOML file, then defaults.")
    s.add_argument("--zones", metavar="DIR", help="zone files directory (default ./zones)")
    s.add_argument("--data", metavar="DIR", help="LMDB store directory (default ./var/db)")
    s.add_argument("--listen", metavar="ADDR", action="append",
                   help="address to listen on; repeat for several (default 127.0.0.1 and ::1)")
    s.add_argument("--port", type=int, metavar="N", help="port for UDP and TCP (default 53)")
    s.add_argument("--workers", type=int, metavar="N",
                   help="serving processes sharing the port with SO_REUSEPORT (default 1)")
    s.add_argument("--config", metavar="FILE",
                   help="TOML settings file (default ./dnsbackend.toml if it exists)")
    s.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    s.add_argument("--port-file", metavar="FILE",
                   help="write the port served on to FILE once serving (useful with --port 0)")

    c = sub.add_parser("check", help="validate zone files like named-checkzone",
                       description="Parse and check zone files, printing every error (up to "
                       "20 a file) and warning. A file named <origin>.zone is "
                       "checked as that zone, like the server serves it; any other file needs "
                       "--origin. With --config, the settings file is checked first, with "
                       "the server's messages, then the zones it serves (or the FILEs among "
                       "them), each as the server reads it. Exit 1 on any error, 2 on bad "
                       "settings.")
    c.add_argument("files", nargs="*", metavar="FILE")
    c.add_argument("--origin", help="zone origin, for files not named <origin>.zone")
    c.add_argument("--config", metavar="FILE",
                   help="check this settings file and the zones it serves")

    st = sub.add_parser("status", help="show the zones in the store (works while serving)",
                        description="List every zone in the store with its status, serial, "
                        "record count, version, load time and last error. Reads the store "
                        "directly, so it works while the server runs and when it does not.")
    st.add_argument("--data", metavar="DIR", default="var/db",
                    help="LMDB store directory (default ./var/db)")
    st.add_argument("--json", action="store_true",
                    help="one JSON document: {\"zones\": [{origin, served, status, serial, "
                    "records, version, file, includes, error, ...}]}")

    ch = sub.add_parser("changes", help="show the changes a zone's journal keeps",
                        description="Print the changesets the store keeps for a zone (what "
                        "IXFR sends): under each '; serial A -> B' line the RRs removed (-) "
                        "and added (+), the SOAs first. Works while the server runs.")
    ch.add_argument("zone", metavar="ZONE")
    ch.add_argument("--from", dest="from_serial", type=int, metavar="SERIAL",
                    help="start at the change from this serial")
    ch.add_argument("--data", metavar="DIR", default="var/db",
                    help="LMDB store directory (default ./var/db)")
    d = sub.add_parser("ds", help="print the DS records of a signed zone for its parent",
                       description="Print the DS records (SHA-256) of a zone signed with "
                       "sign = true, one a line in zone file form, to hand to the parent zone's "
                       "operator (the zone also publishes them as CDS and CDNSKEY). Reads the "
                       "store, so it works while the server runs.")
    d.add_argument("zone", metavar="ZONE")
    d.add_argument("--data", metavar="DIR", default="var/db",
                   help="LMDB store directory (default ./var/db)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "check":
        return _check(args)
    if args.command == "status":
        from . import status

        return status.main(args.data, args.json)
    if args.command == "changes":
        from . import changes

        return changes.main(args.data, args.zone, args.from_serial)
    if args.command == "ds":
        from . import ds

        return ds.main(args.data, args.zone)
    _parser().print_help()
    return 2


def _serve(args: argparse.Namespace) -> int:
    from .update.process import start_writer_server, stop_writer_server

    # The writers' fork server imports their code on another CPU while this process
    # imports its own. On one CPU it would only share ours and delay the serving of what
    # the store holds: the daemon then starts it once its sockets are bound.
    if _cpus() > 1:
        start_writer_server()
    from .logs import setup_logging
    from .settings import SettingsError, load_settings, policy_from_settings

    overrides = {
        "zones": args.zones, "data": args.data, "listen": args.listen, "port": args.port,
        "workers": args.workers, "log_level": args.log_level,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = load_settings(args.config, overrides)
        policy_from_settings(settings, os.getcwd())
    except SettingsError as exc:
        stop_writer_server()
        for line in str(exc).splitlines():  # one line per wrong setting
            print(f"dnsbackend: {line}", file=sys.stderr)
        return 2
    try:
        setup_logging(settings.log_level, settings.log_file)
    except OSError as exc:
        stop_writer_server()
        print(f"dnsbackend: setting 'log_file': cannot open {settings.log_file}: "
              f"{exc.strerror}", file=sys.stderr)
        return 2
    return _run_daemon(args, settings, overrides)


def _run_daemon(args: argparse.Namespace, settings: Settings, overrides: dict[str, Any]
                ) -> int:
    """Serve until SIGINT or SIGTERM: 0, or 1 (said why) if the server cannot start."""
    import asyncio

    from .daemon import Launch, StartError, run
    from .serve.sockets import BindError
    from .store.database import StoreError

    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(run(Launch(settings, args.config, overrides, os.getcwd(),
                               os.path.abspath(args.port_file) if args.port_file else None)))
    except (BindError, StoreError, StartError) as exc:
        print(f"dnsbackend: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


def _cpus() -> int:
    """The CPUs this process may run on (taskset, cgroup cpusets)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _check(args: argparse.Namespace) -> int:
    from . import checking

    return checking.main(args.files, args.origin, args.config)
