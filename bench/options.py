"""What one compare.py run was asked to do: its command-line options, typed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    servers: list[str]  # in this order; the first is the reference for the answers
    workers: list[int]
    modes: list[str]
    mixes: list[str]
    seconds: float  # length of each timed run
    warmup: float
    rounds: int
    clients: int  # dnsperf -c
    outstanding: int  # dnsperf -q
    spread_records: int
    spread_queries: int
    no_latency_run: bool
    timeout: float  # seconds to wait for the zones to load
    profile: int  # seconds of py-spy per mix, 0 for none
    profile_out: str | None
    write: str | None
    keep: bool
    big: int  # records of the --big zone, 0 for the throughput benchmark
    chart: str | None = None  # --big: draw the load and restart times into this PNG
    signed: bool = False  # also the signed zones and their DO=1 mixes
    load_cores: int = 1  # --big: how many cores every server may use (its probe is pinned)
