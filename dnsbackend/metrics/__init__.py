"""Operations: the Prometheus metrics (tally, exporter) and the query log.

Nothing here imports prometheus_client: its multiprocess mode must be chosen (the
directory put in the environment, prepare_directory()) before the first import of it,
which is metrics.exporter's.
"""

from __future__ import annotations

import os
import tempfile

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_directory() -> str:
    """A fresh multiprocess directory, in the environment of this process and of those it
    starts from now on."""
    directory = tempfile.mkdtemp(prefix="dnsbackend-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    return directory
