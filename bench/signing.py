"""What signing costs: a zone signed the first time, and a one-record edit of it re-signed.

Run from the repository root:

    .venv/bin/python -m bench.signing [--records 100000] [--edits 10] [--denial nsec|nsec3]
                                      [--algorithm ecdsap256sha256|ed25519] [--json OUT]

A zone of `--records` records (testkit.zones.generate's realistic mix) with sign = true is
written through the production write jobs, in this process, into a fresh store: the first
load (update.jobs.sync_policy_job: parse, make the key, sign everything, write) is timed,
and signing alone (dnsbackend.sign.signer.sign_nodes over the parsed nodes) separately.
Then `--edits` edits, each the file rewritten with the SOA serial raised and one address
changed, applied by the zone watcher's job (update.jobs.load_zone_job: read what changed,
sign against the served version reusing its signatures, write the delta): each timed, with
how many signatures it made. Figures are for a quiet machine; a busy one only checks that
this runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import dns.name

from dnsbackend.sign.chain import Nsec3Params
from dnsbackend.sign.keys import zone_keys
from dnsbackend.sign.signer import SignPolicy, sign_nodes
from dnsbackend.store.format import ServedSettings
from dnsbackend.update.jobs import load_zone_job, sync_policy_job
from dnsbackend.update.outcome import Action
from dnsbackend.update.policy import WantedZone, ZonePolicy
from dnsbackend.zone.build import build_zone
from dnsbackend.zone.files import origin_key
from testkit.zones import generate, write_atomically

ORIGIN = "signbench.test."
LIFETIME = 14 * 86400


def _edit(text: str, serial: int, n: int) -> str:
    """The zone with SOA serial `serial` and the probe's address the n-th one."""
    text = re.sub(r"^probe\s.*$", f"probe\tIN\tA\t172.16.{n >> 8 & 255}.{n & 255}", text,
                  flags=re.M)
    return re.sub(r"(SOA\s+\S+\s+\S+\s+)\d+", rf"\g<1>{serial}", text, count=1)


def run(records: int, edits: int, denial: str, algorithm: str) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="signbench-"))
    zones = root / "zones"
    zones.mkdir()
    path = zones / f"{ORIGIN}zone"
    generate(str(path), ORIGIN, records)
    text = path.read_text() + "probe\tIN\tA\t172.16.0.0\n"
    text = _edit(text, 1, 0)
    path.write_text(text)
    data = str(root / "db")
    signing = (algorithm, denial, LIFETIME)
    policy = ZonePolicy(os.path.realpath(zones), False, {origin_key(dns.name.from_text(
        ORIGIN)): WantedZone(ORIGIN, os.path.realpath(path), signing=signing)})

    origin = dns.name.from_text(ORIGIN)
    contents = build_zone(str(path), origin, str(zones)).contents
    meta = contents.meta
    keys = zone_keys(str(root / "keys-alone"), origin, algorithm)
    started = time.perf_counter()
    signed, stats = sign_nodes(contents.nodes, meta.origin.lower(), meta.soa_ttl,
                               meta.negative_ttl, keys,
                               SignPolicy(algorithm, denial, LIFETIME, Nsec3Params()),
                               int(time.time()))
    sign_alone = time.perf_counter() - started

    started = time.perf_counter()
    (loaded,) = sync_policy_job(data, policy.pack(), ServedSettings().pack())
    first = time.perf_counter() - started
    assert loaded.action is Action.LOADED, loaded.error

    times = []
    for n in range(1, edits + 2):  # the first edit warms up (the writer's memo), not counted
        text = _edit(text, n + 1, n)
        write_atomically(str(path), text)
        started = time.perf_counter()
        outcomes, _ = load_zone_job(data, policy.zones_dir, ORIGIN, str(path))
        took = time.perf_counter() - started
        assert outcomes[0].action is Action.LOADED, outcomes[0].error
        if n > 1:
            times.append(took)
    return {
        "records": records, "signed_records": sum(len(r[1]) for n in signed.values()
                                                  for r in n.values()),
        "denial": denial, "algorithm": algorithm, "signatures": stats.made,
        "sign_alone_s": round(sign_alone, 3), "first_load_s": round(first, 3),
        "edit_p50_s": round(statistics.median(times), 4),
        "edit_max_s": round(max(times), 4), "edits": len(times),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--edits", type=int, default=10)
    p.add_argument("--denial", choices=["nsec", "nsec3"], default="nsec")
    p.add_argument("--algorithm", choices=["ecdsap256sha256", "ed25519"],
                   default="ecdsap256sha256")
    p.add_argument("--json", metavar="OUT")
    args = p.parse_args()
    result = run(args.records, max(1, args.edits), args.denial, args.algorithm)
    for key, value in result.items():
        print(f"{key}: {value}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
