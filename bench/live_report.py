"""bench/live.py's report: plain-text tables of the four measurements."""

from __future__ import annotations

import math
from collections.abc import Iterator

from .live_measure import EditRun, Latency, RejectedRun, ReloadRun, Visibility, percentile
from .live_server import Share


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.{digits}f}"


def percent(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.0f}%"


def latency_row(label: str, lat: Latency, qps: float | None, srv: Share | None) -> str:
    return (f"{label:<20} {lat.answered:>9,} {lat.lost:>5} {fmt(lat.p50_ms, 2):>7} "
            f"{fmt(lat.p99_ms, 2):>7} {fmt(lat.max_ms, 2):>7} {fmt(qps, 0):>7} "
            f"{percent(srv.cpu if srv else None):>8} "
            f"{percent(srv.waiting if srv else None):>9} "
            f"{fmt(srv.us_per_query(qps) if srv else None):>7}")


LATENCY_HEADER = (f"{'window':<20} {'answered':>9} {'lost':>5} {'p50 ms':>7} {'p99 ms':>7} "
                  f"{'max ms':>7} {'qps':>7} {'srv cpu':>8} {'srv wait':>9} {'us/q':>7}")


def report(vis: list[Visibility], reloads: list[ReloadRun], edits: list[EditRun],
           rejected: RejectedRun | None) -> Iterator[str]:
    yield "1. Edit to first answer showing it (ms; edits alternate os.replace / in-place)"
    yield (f"{'records':>10} {'edits':>6} {'p50':>9} {'p99':>9} {'max':>9} "
           f"{'replace p50':>12} {'in-place p50':>13} {'missed':>7} {'glitches':>9}")
    for v in vis:
        yield (f"{v.records:>10,} {v.edits:>6} {fmt(percentile(v.delays_ms, 50)):>9} "
               f"{fmt(percentile(v.delays_ms, 99)):>9} {fmt(max(v.delays_ms, default=None)):>9} "
               f"{fmt(percentile(v.by_mode_ms.get('replace', []), 50)):>12} "
               f"{fmt(percentile(v.by_mode_ms.get('inplace', []), 50)):>13} "
               f"{v.missed:>7} {v.glitches:>9}")
    for r in reloads:
        load = f"dnsperf -Q {r.rate}, -v latencies" if r.rate else "dnsperf unlimited"
        yield ""
        yield (f"2. Queries while the {r.records:,}-record zone reloads ({load}; reload took "
               f"{r.reload_seconds:.1f}s from write to new answer)")
        yield LATENCY_HEADER
        yield latency_row("no reload", r.quiet, r.quiet_qps, r.quiet_server)
        yield latency_row("during reload", r.during, r.during_qps, r.during_server)
        yield (f"dnsperf whole run: {r.dnsperf_qps:,.0f} qps, {r.dnsperf_sent:,} sent, "
               f"{r.dnsperf_lost} lost; glitches {r.glitches}")
    if rejected is not None:
        j = rejected
        yield ""
        yield (f"   REJECTED DESIGN, for contrast: build_zone of the {j.records:,}-record zone "
               f"in a thread of the serving process (dnsperf -Q {j.rate}; {j.window_seconds:.0f}s "
               "window)")
        yield "   " + LATENCY_HEADER
        yield "   " + latency_row("no parse", j.quiet, j.quiet_qps, None)
        yield "   " + latency_row("parse in a thread", j.parsing, j.parsing_qps, None)
        yield ("   (the window ends with the parse: " + j.parse_done + ")" if j.parse_done
               else "   (the parse was still running at the end of the window)")
    if edits:
        yield ""
        yield ("3. dnsperf (unlimited) qps with the zone rewritten every 100 ms (os.replace), "
               "vs no edits")
        yield (f"{'run':<10} {'qps':>10} {'lost':>6} {'mean ms':>8} {'srv cpu':>8} "
               f"{'srv wait':>9} {'us/q':>6} {'writes':>7} {'loads':>6}")
        for e in edits:
            yield (f"{'edited' if e.edited else 'no edits':<10} {e.qps:>10,.0f} {e.lost:>6} "
                   f"{e.avg_latency_ms:>8.2f} {percent(e.server.cpu):>8} "
                   f"{percent(e.server.waiting):>9} {fmt(e.server.us_per_query(e.qps)):>6} "
                   f"{e.writes:>7} {e.loads:>6}")

        def mean(values: list[float | None]) -> float:
            known = [v for v in values if v is not None]
            return sum(known) / len(known) if known else math.nan

        quiet = [e for e in edits if not e.edited]
        edited = [e for e in edits if e.edited]
        if quiet and edited:
            ratio = mean([e.qps for e in edited]) / mean([e.qps for e in quiet])
            yield f"ratio edited / no edits, dnsperf qps (means): {ratio:.3f}"
            cost = (mean([e.server.us_per_query(e.qps) for e in quiet]) /
                    mean([e.server.us_per_query(e.qps) for e in edited]))
            yield (f"ratio edited / no edits, serving capacity from CPU per query "
                   f"(means): {cost:.3f}")
