"""Write a large zone file from the command line: realistic (testkit/zones.py's generate,
with $ORIGIN sections: `--shape mixed`, the default) or one A record a line (`--shape a`).

    python -m bench.gen_zone OUT.zone ORIGIN RECORDS [--shape mixed|a] [--seed N]
"""

from __future__ import annotations

import argparse

from testkit.zones import generate

SHAPES = ("mixed", "a")
SECTION = 1000  # records of each $ORIGIN section of a mixed zone


def one_a_per_line(path: str, origin: str, records: int) -> int:
    """A zone of an SOA, an NS, its address and `hN A 10.x.y.z` lines up to `records`
    (relative names only: `origin` is the file's to say, not written in it)."""
    with open(path, "w") as f:
        f.write("$TTL 3600\n@ IN SOA ns1 hostmaster 1 7200 1800 1209600 300\n"
                "@ IN NS ns1\nns1 IN A 192.0.2.1\n")
        for n in range(max(records - 3, 0)):
            f.write(f"h{n} IN A 10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}\n")
    return max(records, 3)


def mixed(path: str, origin: str, records: int, seed: int = 1) -> int:
    """testkit.zones.generate's realistic mix (multi-line SOA; A/AAAA, CNAME, MX, TXT, SRV,
    CAA, delegations with NS, DS and glue, wildcards, comments) for nine tenths of the
    records, then sections under `$ORIGIN dN.ORIGIN` (relative names, an MX and a CNAME
    each, and a return to the zone's origin) for the rest."""
    origin = origin.rstrip(".") + "."
    sections = records // 10 // SECTION
    written = generate(path, origin, records - sections * SECTION - 1, seed)
    with open(path, "a") as f:
        for d in range(sections):
            f.write(f"$ORIGIN d{d}.{origin}\n@ IN MX 10 mail\nmail IN A 198.18.{d & 255}.1\n"
                    f"www IN CNAME mail\n")
            for n in range(SECTION - 3):
                f.write(f"h{n} IN A 198.18.{d & 255}.{n & 255}\n")
            written += SECTION
        f.write(f"$ORIGIN {origin}\nlast IN TXT \"end of the generated sections\"\n")
    return written + 1


def write_zone(shape: str, path: str, origin: str, records: int, seed: int = 1) -> int:
    """Write a zone of one of SHAPES; returns the number of records."""
    if shape == "a":
        return one_a_per_line(path, origin, records)
    return mixed(path, origin, records, seed)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gen_zone",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("origin")
    parser.add_argument("records", type=int)
    parser.add_argument("--shape", choices=SHAPES, default="mixed")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    count = write_zone(args.shape, args.path, args.origin, args.records, args.seed)
    print(f"{args.path}: {count} records for {args.origin}")


if __name__ == "__main__":
    main()
