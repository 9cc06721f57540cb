"""Prometheus metrics of ``recover serve`` (``/metrics``) and ``recover worker --metrics-port``.

Two kinds of figures:

- what the case database says (cases by status and network, the approval queue's age, the job
  queue, scan progress): read at scrape time by :class:`DatabaseCollector` with a few aggregate
  queries (:mod:`recover.queries.metrics`), so every web and worker process reports the same truth,
  and a scrape of any one of them is enough;
- what only a process knows (a worker's node errors and the jobs it ran, a follower's lag behind the
  chain): figures of that process (:data:`NODE_ERRORS`, :data:`WORKER_JOBS`, :data:`SCAN_LAG`), starting
  at zero when it starts, as Prometheus counters do.

Every metric is named ``recover_...``; docs (README "Metrics") say what each one means.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from recover.errors import InvalidInput
from recover.queries.metrics import JOB_STATES, figures

#: node errors (a node that did not answer after retries and failover: exit 8) met by this worker's
#: jobs, by network and job kind
NODE_ERRORS = Counter("recover_node_errors", "Node unreachable after retries (exit 8) in this worker's jobs",
                      ["network", "job"], registry=None)
#: the jobs this worker ran, by kind and outcome (done: finished; later: due again later)
WORKER_JOBS = Counter("recover_worker_jobs", "Jobs this worker ran, by kind and outcome (done, later)",
                      ["kind", "outcome"], registry=None)
#: how far a follower (``scan --follow``, ``worker --scan``) is behind: the node's newest block minus the
#: last block scanned, after its latest round (at least the network's confirmations - 1)
SCAN_LAG = Gauge("recover_scan_lag_blocks", "Blocks between the node's newest and the last block this "
                 "process's follow scan recorded", ["network"], registry=None)


class DatabaseCollector(Collector):
    """The case database's figures, read at every scrape.  A database that cannot be read is reported
    as ``recover_database_up 0`` (and nothing else from it) rather than failing the scrape."""

    def __init__(self, db: str | None = None):
        self.db = db

    def describe(self):
        return []  # read at collect time only: registering must not query the database

    def collect(self):
        up = GaugeMetricFamily("recover_database_up", "1 when the case database could be read at this scrape")
        try:
            f = figures(db=self.db)
        except Exception:  # noqa: BLE001 - a scrape reports the database down, it never fails
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up

        cases = GaugeMetricFamily("recover_cases", "Cases by status and network", labels=["status", "network"])
        for (status, network), n in sorted(f.cases.items()):
            cases.add_metric([status, network], n)
        yield cases

        age = GaugeMetricFamily("recover_case_status_oldest_age_seconds",
                                "Seconds since the oldest case in each status (not an end) entered it",
                                labels=["status", "network"])
        for (status, network), when in sorted(f.oldest_in_status.items()):
            age.add_metric([status, network], f.age(when))
        yield age

        oldest = f.approval_queue_oldest
        queue = GaugeMetricFamily("recover_approval_queue_oldest_age_seconds",
                                  "Seconds the case awaiting approval longest has waited (0: the queue is empty)")
        queue.add_metric([], f.age(oldest) if oldest else 0.0)
        yield queue

        jobs = GaugeMetricFamily("recover_jobs", "Jobs of the worker queue by kind and state "
                                 "(waiting, running, scheduled, failed)", labels=["kind", "state"])
        for kind in sorted({k for k, _ in f.jobs}):
            for state in JOB_STATES:
                jobs.add_metric([kind, state], f.jobs.get((kind, state), 0))
        yield jobs

        erroring = GaugeMetricFamily("recover_jobs_erroring", "Pending jobs whose last attempt ended in an error",
                                     labels=["kind"])
        for kind, n in sorted(f.jobs_erroring.items()):
            erroring.add_metric([kind], n)
        yield erroring

        waiting = GaugeMetricFamily("recover_jobs_oldest_waiting_age_seconds",
                                    "Seconds the oldest waiting job (due, not leased) has been due", labels=["kind"])
        for kind, when in sorted(f.oldest_waiting_job.items()):
            waiting.add_metric([kind], f.age(when))
        yield waiting

        block = GaugeMetricFamily("recover_scan_last_block", "The last block recover scan has looked at",
                                  labels=["network"])
        scanned = GaugeMetricFamily("recover_scan_last_run_timestamp_seconds",
                                    "When recover scan last advanced on the network (Unix time)", labels=["network"])
        for network, (last, when) in sorted(f.scans.items()):
            block.add_metric([network], last)
            scanned.add_metric([network], when.timestamp())
        yield block
        yield scanned


def registry(db: str | None = None, *, worker: bool = False) -> CollectorRegistry:
    """The metrics one process serves: the database's, and a worker's own counters when ``worker``."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(DatabaseCollector(db))
    if worker:
        reg.register(NODE_ERRORS)
        reg.register(WORKER_JOBS)
        reg.register(SCAN_LAG)
    return reg


def start_worker_metrics(port: int, *, host: str = "127.0.0.1", db: str | None = None):
    """Serve a worker's ``/metrics`` on ``host:port`` (loopback unless told otherwise) in a thread;
    the server (``.shutdown()`` stops it)."""
    server, _thread = start_http_server(port, addr=host, registry=registry(db, worker=True))
    return server


def serve_metrics(port: int, host: str, url: str):
    """:func:`start_worker_metrics`, or a refusal naming the address when it cannot listen there."""
    try:
        return start_worker_metrics(port, host=host, db=url)
    except OSError as exc:
        raise InvalidInput(f"cannot serve metrics on {host}:{port}: {exc.strerror or exc}",
                           code="metrics_port_unavailable") from None


def count_job(kind: str, *, done: bool, network: str | None, node_error: bool) -> None:
    """What one job of this worker did, for its counters."""
    WORKER_JOBS.labels(kind, "done" if done else "later").inc()
    if node_error:
        NODE_ERRORS.labels(network or "unknown", kind).inc()
