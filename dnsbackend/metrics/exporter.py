"""The Prometheus metrics (prometheus-client): counts folded in once a second, the endpoint.

Every serving process folds its plain counts (the responder's, serve.counters.SERVE) into
prometheus-client's metrics once a second (Folder), off the query path. With `--workers N`
the processes share prometheus-client's multiprocess directory (PROMETHEUS_MULTIPROC_DIR,
set by the first process before any of them imports prometheus_client), and the endpoint,
served by the first process, sums what every process wrote there. The gauges of the first
process alone (journal depth, writer queue) are read when the endpoint is scraped.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from ..query.responder import Responder
from ..serve.counters import SERVE, ServeCounters
from .tally import Tally

FOLD_SECONDS = 1.0

QUERIES = Counter("dnsbackend_queries", "Queries answered, by the zone that answered, query "
                  "type, response code, transport and serving process",
                  ["zone", "type", "rcode", "transport", "worker"])
TRUNCATED = Counter("dnsbackend_responses_truncated", "Responses sent truncated (TC)",
                    ["transport", "worker"])
DROPPED = Counter("dnsbackend_queries_dropped", "Datagrams not answered: not a query (a "
                  "response, shorter than a header) or longer than any query",
                  ["reason", "worker"])
MALFORMED = Counter("dnsbackend_queries_malformed", "Queries answered FORMERR",
                    ["transport", "worker"])
RATE_LIMITED = Counter("dnsbackend_responses_rate_limited", "Responses held back by "
                       "response rate limiting: dropped, or sent truncated (slipped)",
                       ["action", "worker"])
TRANSFERS = Counter("dnsbackend_transfers", "Zone transfer requests answered, by kind "
                    "(AXFR, IXFR, IXFR-as-AXFR, current, refused)", ["kind", "worker"])
NOTIFIES_SENT = Counter("dnsbackend_notifies_sent", "NOTIFY messages sent (retries too)")
NOTIFIES_ACKED = Counter("dnsbackend_notifies_acknowledged",
                         "NOTIFY messages acknowledged by their target")
ZONE_LOADS = Counter("dnsbackend_zone_loads", "New versions of a zone served", ["zone"])
ZONE_REJECTIONS = Counter("dnsbackend_zone_rejections", "Zone files rejected (the last good "
                          "version kept serving)", ["zone"])
ZONE_LOAD_SECONDS = Histogram("dnsbackend_zone_load_seconds", "Time to read, check and "
                              "store a zone file, by outcome", ["outcome"],
                              buckets=(.001, .005, .01, .05, .1, .5, 1, 5, 10, 30, 60, 300))
EDIT_TO_VISIBLE = Histogram("dnsbackend_edit_to_visible_seconds", "From a zone file's "
                            "modification time to its new version being served",
                            buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60))
QUERY_LOG_DROPPED = Counter("dnsbackend_query_log_dropped", "Query log lines dropped "
                            "because the log's buffer was full", ["worker"])


class Folder:
    """One serving process's counts, folded into the metrics every FOLD_SECONDS."""

    def __init__(self, responder: Responder, worker: int,
                 serve: ServeCounters = SERVE) -> None:
        self.responder = responder
        self.facts = responder.count()
        self.worker = str(worker)
        self.serve = serve
        self.tally = Tally()
        self.seen: dict[str, int] = {}  # the SERVE figures as last folded
        self.query_log_dropped: Callable[[], int] = lambda: 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(FOLD_SECONDS)
            self.fold()

    def fold(self) -> None:
        worker = self.worker
        for tcp, transport in enumerate(("udp", "tcp")):
            folded = self.tally.fold(self.facts, bool(tcp))
            for labels, count in folded.by_labels.items():
                QUERIES.labels(labels.zone, labels.qtype, labels.rcode, transport,
                               worker).inc(count)
                if labels.truncated:
                    TRUNCATED.labels(transport, worker).inc(count)
            if folded.dropped:
                DROPPED.labels("not a query", worker).inc(folded.dropped)
            if folded.malformed:
                MALFORMED.labels(transport, worker).inc(folded.malformed)
        serve = self.serve
        self._add(DROPPED.labels("too long", worker), "too long", serve.too_long)
        self._add(RATE_LIMITED.labels("dropped", worker), "rrl dropped",
                  serve.rate_limited_dropped)
        self._add(RATE_LIMITED.labels("slipped", worker), "rrl slipped",
                  serve.rate_limited_slipped)
        for kind, count in list(serve.transfers.items()):
            self._add(TRANSFERS.labels(kind, worker), f"transfer {kind}", count)
        self._add(NOTIFIES_SENT, "notifies sent", serve.notifies_sent)
        self._add(NOTIFIES_ACKED, "notifies acknowledged", serve.notifies_acknowledged)
        self._add(QUERY_LOG_DROPPED.labels(worker), "query log", self.query_log_dropped())

    def _add(self, counter: Any, name: str, total: int) -> None:
        """Add to `counter` what the running `total` grew by since the last fold."""
        grown = total - self.seen.get(name, 0)
        self.seen[name] = total
        if grown > 0:
            counter.inc(grown)


class FirstProcess:
    """The gauges of the first process, read at each scrape (from the endpoint's thread:
    they only read numbers the event loop keeps)."""

    def __init__(self, writer_queue: Callable[[], int]) -> None:
        self.writer_queue = writer_queue
        self.journal_depth: dict[str, int] = {}  # by zone, updated as versions are loaded

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("dnsbackend_journal_depth", "Changesets the journal "
                                  "keeps for the zone (what IXFR can send)", labels=["zone"])
        for zone, changes in sorted(dict(self.journal_depth).items()):
            depth.add_metric([zone], changes)
        yield depth
        yield GaugeMetricFamily("dnsbackend_writer_queue", "Zones with a write job running "
                                "or waiting", value=self.writer_queue())

    def loaded(self, zone: str, seconds: float, changed_at: float | None, now: float,
               journal_depth: int) -> None:
        """A zone's new version is served (changed_at: the file's modification time)."""
        ZONE_LOADS.labels(zone).inc()
        ZONE_LOAD_SECONDS.labels("loaded").observe(seconds)
        if changed_at is not None:
            EDIT_TO_VISIBLE.observe(max(0.0, now - changed_at))
        self.journal_depth[zone] = journal_depth

    def rejected(self, zone: str, seconds: float) -> None:
        ZONE_REJECTIONS.labels(zone).inc()
        ZONE_LOAD_SECONDS.labels("rejected").observe(seconds)

    def removed(self, zone: str) -> None:
        self.journal_depth.pop(zone, None)


class Endpoint:
    """The HTTP endpoint (prometheus-client's own server, in a thread of its own)."""

    def __init__(self, host: str, port: int, first: FirstProcess) -> None:
        registry = CollectorRegistry(auto_describe=False)
        MultiProcessCollector(registry)
        registry.register(first)
        self.server, self.thread = start_http_server(port, host, registry)

    def close(self, directory: str) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(directory, ignore_errors=True)
