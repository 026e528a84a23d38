"""Write a large, realistic zone file from the command line (testkit/zones.py's generate).

    python -m bench.gen_zone OUT.zone ORIGIN RECORDS [--seed N]
"""

from __future__ import annotations

import argparse

from testkit.zones import generate


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gen_zone",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("origin")
    parser.add_argument("records", type=int)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    count = generate(args.path, args.origin, args.records, args.seed)
    print(f"{args.path}: {count} records for {args.origin}")


if __name__ == "__main__":
    main()
