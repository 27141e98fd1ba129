"""Prometheus metrics (prometheus-client, one registry per node).

Counters are kept in memory by the code paths that count (deliveries,
rejections); everything that the database already knows (outbox backlog,
deadline states, answer latencies) is read from it at scrape time, so it is
right after a restart. Metadata only: peers, reasons, counts and durations.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from ..store import directory_cache, engine
from ..store import metrics as store
from .node import Node

BUCKETS = (60.0, 600.0, 1800.0, 3600.0, 4 * 3600.0, 8 * 3600.0, 86400.0, 7 * 86400.0, 30 * 86400.0)


class DatabaseCollector(Collector):
    """Families built from the last snapshot read from the database."""

    def __init__(self) -> None:
        self.snapshot: store.Snapshot | None = None
        self.storage: dict[str, float] = {}

    def collect(self) -> Iterator[Metric]:
        for name, value in sorted(self.storage.items()):
            yield GaugeMetricFamily(
                f"exchange_storage_{name}", f"This process's storage {name} since start", value
            )
        snap = self.snapshot
        if snap is None:
            return
        backlog = GaugeMetricFamily(
            "exchange_outbox_backlog", "Messages waiting for a receipt, per peer", labels=["peer"]
        )
        for peer, count in sorted(snap.backlog.items()):
            backlog.add_metric([peer], count)
        yield backlog
        states = GaugeMetricFamily(
            "exchange_deadline_requests",
            "Tracked requests per deadline state and direction",
            labels=["state", "direction"],
        )
        for (state, direction), count in sorted(snap.deadline_states.items()):
            states.add_metric([state, direction], count)
        yield states
        yield GaugeMetricFamily(
            "exchange_requests_overdue", "Open requests past their deadline", value=snap.overdue
        )
        yield GaugeMetricFamily(
            "exchange_audit_log_entries", "Entries in the audit log", value=snap.audit_size
        )
        for name, help_text, counts in (
            ("exchange_witness_alerts_raised", "Alerts this node raised as a witness",
             snap.witness_raised),
            ("exchange_witness_alerts_received", "Signed alerts received from peer witnesses",
             snap.witness_received),
        ):  # fmt: skip
            alerts = GaugeMetricFamily(name, help_text, labels=["peer", "kind"])
            for (peer, kind), count in sorted(counts.items()):
                alerts.add_metric([peer, kind], count)
            yield alerts
        for name, help_text, values in (
            ("exchange_time_to_acknowledge_seconds", "Creation to acknowledgement", snap.ack),
            ("exchange_time_to_answer_seconds", "Creation to response or rejection", snap.answer),
        ):
            family = HistogramMetricFamily(name, help_text, labels=["direction"])
            for direction in ("in", "out"):
                observed = values.get(direction, [])
                buckets = [(_le(b), sum(1 for v in observed if v <= b)) for b in BUCKETS]
                buckets.append(("+Inf", len(observed)))
                family.add_metric([direction], buckets, sum_value=sum(observed))
            yield family


def _le(bound: float) -> str:
    return f"{bound:.1f}"


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    database: DatabaseCollector = field(default_factory=DatabaseCollector)

    def __post_init__(self) -> None:
        self.deliveries = Counter(
            "exchange_deliveries",
            "Messages delivered to a peer with a verified receipt",
            ["peer"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "exchange_envelopes_rejected",
            "Envelopes from peers refused, by reason code",
            ["reason"],
            registry=self.registry,
        )
        self.received = Counter(
            "exchange_envelopes_accepted",
            "Envelopes from peers accepted and receipted",
            ["peer"],
            registry=self.registry,
        )
        self.directory_left = Gauge(
            "exchange_directory_seconds_left",
            "Seconds until the directory held expires (negative once expired)",
            registry=self.registry,
        )
        self.directory_used = Gauge(
            "exchange_directory_lifetime_used",
            "Fraction of the directory's lifetime used (warn at 0.75, refuse at 1)",
            registry=self.registry,
        )
        self.equivocations = Gauge(
            "exchange_directory_equivocations",
            "Directory documents seen with a held serial but other bytes",
            registry=self.registry,
        )
        self.registry.register(self.database)

    async def render(self, node: Node) -> bytes:
        """The text exposition, with the database's figures read now."""
        self.database.snapshot = await node.db.run(store.snapshot)
        self.database.storage = engine.counters(node.db)
        self.equivocations.set(await node.db.run(directory_cache.equivocation_count))
        life = node.directory.lifetime()
        if life is not None:
            self.directory_left.set(life.seconds_left)
            self.directory_used.set(life.used)
        return bytes(generate_latest(self.registry))
