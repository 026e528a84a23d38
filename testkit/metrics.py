"""The metrics endpoint as the tests read it: over HTTP, parsed with prometheus-client's own
parser, samples summed over the labels a test does not name (the workers, mostly)."""

from __future__ import annotations

import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(port: int) -> Samples:
    """The endpoint's samples, by sample name, parsed with prometheus-client's parser."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value summed over the labels not given (the workers, mostly)."""
    return sum(value for got, value in samples.get(name, [])
               if all(got.get(k) == v for k, v in labels.items()))


def scrape_until(port: int, name: str, value: float, **labels: str) -> Samples:
    """Scrape until a sample reaches `value` (counts are folded in once a second)."""
    deadline = time.monotonic() + 30
    while True:
        samples = scrape(port)
        if total(samples, name, **labels) >= value:
            return samples
        assert time.monotonic() < deadline, (name, labels, samples.get(name))
        time.sleep(0.1)
