"""Node configuration: TOML -> frozen dataclasses, validated once, clear errors.

Relative paths are resolved against the folder holding the config file
(the node's data folder).
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .core.canonical import JsonObject
from .core.deadlines import DeadlinePolicy
from .core.directory import parse_operator_key
from .core.errors import ExchangeError
from .core.evidence import MAX_ATTACHMENTS, MAX_PART_BYTES
from .core.note import ALG_ED25519, parse_vkey
from .core.ports import browser_refuses
from .core.retention import RetentionPolicy

URGENCIES = ("emergency", "urgent", "standard")


class ConfigError(ExchangeError):
    """The configuration file is missing, malformed or inconsistent."""

    code = "config_error"


@dataclass(frozen=True)
class DeliveryConfig:
    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=5)
    give_up_after: timedelta = timedelta(days=3)
    batch_size: int = 50
    request_timeout: timedelta = timedelta(seconds=15)
    # transactions in flight to one peer at a time (Matrix federation sends one;
    # several keep both nodes busy while the other side verifies and commits)
    pipeline: int = 4


@dataclass(frozen=True)
class LimitsConfig:
    max_envelope_bytes: int = 2 * 1024 * 1024
    max_body_chars: int = 200_000
    max_api_body_bytes: int = 1024 * 1024
    max_batch: int = 100
    peer_calls_per_minute: int = 6000
    # per client address, before any authentication (0 turns a limit off, e.g. behind
    # a reverse proxy that limits for you: then every client has the proxy's address)
    connections_per_minute: int = 1200
    connection_burst: int = 300
    max_open_connections: int = 512
    peer_burst: int = 500
    max_attachment_bytes: int = 100 * 1024 * 1024
    # login attempts per client address (0: off), and password checks (Argon2id) at once
    logins_per_minute: int = 30
    login_burst: int = 10
    password_checks_at_once: int = 2


@dataclass(frozen=True)
class EvidenceConfig:
    # bytes a peer may hold here in blobs no accepted message references yet: by
    # default room for two messages carrying every file they may, each at the limit
    peer_quota_bytes: int = 2 * MAX_ATTACHMENTS * LimitsConfig.max_attachment_bytes
    # unreferenced blob files are collected once this old: longer than a sender keeps
    # retrying a message (delivery give_up_after), which it sends after its blobs
    unreferenced_grace: timedelta = timedelta(hours=96)
    # a blob goes to a peer in parts of this many bytes (PATCH /v1/blobs/{sha256}): a
    # broken transfer resumes from the last part the peer verified
    part_bytes: int = 8 * 1024 * 1024
    # an evidence file is refused (insufficient_storage, 507) when the disk of the
    # blobs folder would keep less than this free once it is written: room for the
    # database, its write-ahead log and the audit log to go on committing
    min_free_bytes: int = 1 << 30


@dataclass(frozen=True)
class SessionConfig:
    lifetime: timedelta = timedelta(hours=8)
    max_login_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)


@dataclass(frozen=True)
class AuditConfig:
    checkpoint_interval: timedelta = timedelta(seconds=5)
    witness_interval: timedelta = timedelta(seconds=30)
    # a peer whose log cannot be fetched (no answer, 429, 5xx) is alerted after this
    witness_unavailable_alert_after: timedelta = timedelta(hours=24)
    # peers a witnessing round calls at most (core/witness_rounds.py)
    witness_peers_per_round: int = 256


@dataclass(frozen=True)
class WitnessedLog:
    """A C2SP log this node witnesses (``[[witness.logs]]``): its origin line and the
    verifier key (vkey, type 0x01) of the key that signs its checkpoints."""

    origin: str
    vkey: str


@dataclass(frozen=True)
class WitnessConfig:
    """The tlog-witness endpoint: the C2SP logs it watches beside its peers', and how
    many submissions an address may make (it is unauthenticated, as the spec says)."""

    logs: tuple[WitnessedLog, ...] = ()
    submissions_per_minute: int = 600
    submission_burst: int = 60


@dataclass(frozen=True)
class EscalationConfig:
    """When a deadline counts as "due soon", and where escalations are announced."""

    due_soon_fraction: float = 0.25  # of the response window left
    # a fixed lead time instead of the fraction, per urgency
    due_soon_before: dict[str, timedelta] = field(
        default_factory=lambda: {"emergency": timedelta(hours=2)}
    )
    # an emergency not acknowledged within this time escalates at once
    acknowledge_within: dict[str, timedelta] = field(
        default_factory=lambda: {"emergency": timedelta(minutes=30)}
    )
    webhooks: tuple[str, ...] = ()
    webhook_timeout: timedelta = timedelta(seconds=10)

    def policy(self) -> DeadlinePolicy:
        return DeadlinePolicy(
            due_soon_fraction=self.due_soon_fraction,
            due_soon_before=self.due_soon_before,
            acknowledge_within=self.acknowledge_within,
        )


@dataclass(frozen=True)
class ClusterConfig:
    """``[cluster]``: several processes of one authority on one database (OPERATIONS)."""

    active_active: bool = False
    lease_ttl: timedelta = timedelta(seconds=6)
    lease_renew: timedelta = timedelta(seconds=2)
    lease_margin: timedelta = timedelta(seconds=1)
    # how often an idle process looks for work another process queued (the outbox)
    poll: timedelta = timedelta(seconds=0.5)


@dataclass(frozen=True)
class NodeConfig:
    authority_id: str
    data_dir: Path
    listen_host: str
    listen_port: int
    operator_keys: tuple[bytes, ...]
    directory_source: str
    directory_refresh: timedelta = timedelta(minutes=5)
    log_format: str = "json"
    deadlines: dict[str, timedelta] = field(
        default_factory=lambda: {
            "emergency": timedelta(hours=8),
            "urgent": timedelta(hours=24),
            "standard": timedelta(days=30),
        }
    )
    delivery: DeliveryConfig = DeliveryConfig()
    limits: LimitsConfig = LimitsConfig()
    session: SessionConfig = SessionConfig()
    audit: AuditConfig = AuditConfig()
    escalation: EscalationConfig = EscalationConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    witness: WitnessConfig = WitnessConfig()
    metrics_token_file: Path | None = None
    retention: RetentionPolicy = field(default_factory=RetentionPolicy)
    retention_interval: timedelta = timedelta(days=1)
    # how long a used Idempotency-Key answers its first result ([api])
    idempotency_ttl: timedelta = timedelta(hours=24)
    cluster: ClusterConfig = ClusterConfig()
    # [storage] url: a PostgreSQL database instead of the SQLite file (None). It may
    # hold a password: never in repr, logs or the audited settings (``redacted_url``).
    storage_url: str | None = field(default=None, repr=False)

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def database(self) -> Path:
        return self.data_dir / "exchange.db"

    @property
    def tls_cert(self) -> Path:
        return self.keys_dir / "tls.crt"

    @property
    def tls_key(self) -> Path:
        return self.keys_dir / "tls.key"


def settings_summary(config: NodeConfig) -> JsonObject:
    """The effective settings as plain JSON values, by section (no secrets live here)."""

    def plain(value: Any) -> Any:
        if isinstance(value, timedelta):
            return int(value.total_seconds() * 1000)  # milliseconds
        if isinstance(value, Path):
            return str(value)
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, float):
            return repr(value)
        if isinstance(value, dict):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return value

    summary: JsonObject = plain(config)
    url = summary.pop("storage_url")
    if url is not None:  # absent for SQLite: the settings of nodes before it unchanged
        summary["storage_url"] = redacted_url(url)
    return summary


def redacted_url(url: str) -> str:
    """The storage URL without its password (what may be shown and logged)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def load_config(path: Path) -> NodeConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"no config file at {path}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    return parse_config(raw, data_dir=path.parent.resolve())


def parse_config(raw: JsonObject, *, data_dir: Path) -> NodeConfig:
    node = _table(raw, "node")
    directory = _table(raw, "directory")
    delivery = raw.get("delivery", {})
    limits = raw.get("limits", {})
    session = raw.get("session", {})
    deadlines = raw.get("deadlines", {})
    audit = raw.get("audit", {})
    escalation = raw.get("escalation", {})
    try:
        operator_keys = tuple(parse_operator_key(k) for k in directory["operator_keys"])
    except (KeyError, TypeError, ExchangeError) as exc:
        raise ConfigError(
            "[directory] operator_keys must list operator keys 'ed25519:...'"
        ) from exc
    if not operator_keys:
        raise ConfigError("[directory] operator_keys must not be empty")
    attachment_limit = _int(limits, "max_attachment_bytes", 100 << 20, 1, 1 << 40)
    config = NodeConfig(
        authority_id=_str(node, "authority_id"),
        data_dir=data_dir,
        listen_host=_str(node, "listen_host", "127.0.0.1"),
        listen_port=_int(node, "listen_port", 8441, 0, 65535),
        operator_keys=operator_keys,
        directory_source=_str(directory, "source", "directory.json"),
        directory_refresh=timedelta(seconds=_int(directory, "refresh_seconds", 300, 1, 86400)),
        log_format=_str(node, "log_format", "json"),
        deadlines={
            u: timedelta(hours=_int(deadlines, f"{u}_hours", d, 1, 24 * 366))
            for u, d in (("emergency", 8), ("urgent", 24), ("standard", 720))
        },
        delivery=DeliveryConfig(
            backoff_initial=timedelta(seconds=_num(delivery, "backoff_initial_seconds", 1.0)),
            backoff_max=timedelta(seconds=_num(delivery, "backoff_max_seconds", 300.0)),
            give_up_after=timedelta(hours=_num(delivery, "give_up_after_hours", 72.0)),
            batch_size=_int(delivery, "batch_size", 50, 1, 500),
            request_timeout=timedelta(seconds=_num(delivery, "request_timeout_seconds", 15.0)),
            pipeline=_int(delivery, "pipeline", 4, 1, 16),
        ),
        limits=LimitsConfig(
            max_envelope_bytes=_int(limits, "max_envelope_bytes", 2 * 1024 * 1024, 1024, 1 << 30),
            max_body_chars=_int(limits, "max_body_chars", 200_000, 1, 10_000_000),
            max_api_body_bytes=_int(limits, "max_api_body_bytes", 1 << 20, 1024, 1 << 30),
            max_batch=_int(limits, "max_batch", 100, 1, 1000),
            peer_calls_per_minute=_int(limits, "peer_calls_per_minute", 6000, 1, 10_000_000),
            peer_burst=_int(limits, "peer_burst", 500, 1, 1_000_000),
            connections_per_minute=_int(limits, "connections_per_minute", 1200, 0, 10_000_000),
            connection_burst=_int(limits, "connection_burst", 300, 1, 1_000_000),
            max_open_connections=_int(limits, "max_open_connections", 512, 0, 1_000_000),
            logins_per_minute=_int(limits, "logins_per_minute", 30, 0, 1_000_000),
            login_burst=_int(limits, "login_burst", 10, 1, 1_000_000),
            password_checks_at_once=_int(limits, "password_checks_at_once", 2, 1, 64),
            max_attachment_bytes=attachment_limit,
        ),
        session=SessionConfig(
            lifetime=timedelta(minutes=_int(session, "lifetime_minutes", 480, 1, 7 * 24 * 60)),
            max_login_failures=_int(session, "max_login_failures", 5, 1, 1000),
            lockout=timedelta(minutes=_int(session, "lockout_minutes", 15, 1, 24 * 60)),
        ),
        audit=AuditConfig(
            checkpoint_interval=timedelta(seconds=_num(audit, "checkpoint_interval_seconds", 5.0)),
            witness_interval=timedelta(seconds=_num(audit, "witness_interval_seconds", 30.0)),
            witness_unavailable_alert_after=timedelta(
                hours=_num(audit, "witness_unavailable_alert_after_hours", 24.0)
            ),
            witness_peers_per_round=_int(audit, "witness_peers_per_round", 256, 1, 1_000_000),
        ),
        escalation=_escalation(escalation),
        evidence=_evidence(raw.get("evidence", {}), attachment_limit),
        witness=_witness(raw.get("witness", {})),
        metrics_token_file=_path(raw.get("metrics", {}), "token_file", data_dir),
        retention=_retention(raw.get("retention", {})),
        retention_interval=timedelta(hours=_num(raw.get("retention", {}), "interval_hours", 24.0)),
        idempotency_ttl=timedelta(
            hours=_int(raw.get("api", {}), "idempotency_ttl_hours", 24, 1, 24 * 31)
        ),
        cluster=_cluster(raw.get("cluster", {})),
        storage_url=_storage_url(raw.get("storage", {})),
    )
    if config.log_format not in ("json", "console"):
        raise ConfigError("[node] log_format must be 'json' or 'console'")
    if browser_refuses(config.listen_port):
        raise ConfigError(
            f"[node] listen_port {config.listen_port} is a port web browsers refuse to open"
            " (ERR_UNSAFE_PORT): the UI would be unreachable; choose another"
        )
    return config


def _storage_url(table: JsonObject) -> str | None:
    return check_storage_url(table.get("url"))


def check_storage_url(url: object) -> str | None:
    """``[storage] url``: None (SQLite) or a postgresql:// URL; else a ConfigError."""
    if url is None:
        return None
    # the URL is not repeated in the message: it may hold a password
    if not isinstance(url, str) or urlsplit(url).scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            "[storage] url must be a postgresql://user@host/database URL"
            " (leave [storage] out to keep the SQLite file)"
        )
    return url


def _path(table: JsonObject, key: str, base: Path) -> Path | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a file path")
    return base / value


def _retention(raw: JsonObject) -> RetentionPolicy:
    open_days = raw.get("open_days")
    if open_days is not None and (not isinstance(open_days, int) or open_days <= 0):
        raise ConfigError("[retention] open_days must be a positive number of days")
    return RetentionPolicy(
        finished=timedelta(days=_num(raw, "finished_days", 5 * 365.0)),
        undelivered=timedelta(days=_num(raw, "undelivered_days", 365.0)),
        open=timedelta(days=open_days) if open_days is not None else None,
        unsent_uploads=timedelta(hours=_num(raw, "unsent_uploads_hours", 24.0)),
    )


def _cluster(raw: JsonObject) -> ClusterConfig:
    active = raw.get("active_active", False)
    if not isinstance(active, bool):
        raise ConfigError("[cluster] active_active must be true or false")
    ttl, renew = _num(raw, "lease_ttl_seconds", 6.0), _num(raw, "lease_renew_seconds", 2.0)
    margin = _num(raw, "lease_margin_seconds", 1.0)
    if not margin < ttl - renew:
        raise ConfigError("[cluster] needs lease_margin_seconds < lease_ttl - lease_renew")
    return ClusterConfig(
        active_active=active,
        lease_ttl=timedelta(seconds=ttl),
        lease_renew=timedelta(seconds=renew),
        lease_margin=timedelta(seconds=margin),
        poll=timedelta(seconds=_num(raw, "poll_seconds", 0.5)),
    )


def _evidence(raw: JsonObject, attachment_limit: int) -> EvidenceConfig:
    quota = 2 * MAX_ATTACHMENTS * attachment_limit
    return EvidenceConfig(
        peer_quota_bytes=_int(raw, "peer_quota_bytes", quota, 1, 1 << 44),
        unreferenced_grace=timedelta(hours=_num(raw, "unreferenced_grace_hours", 96.0)),
        part_bytes=_int(raw, "part_bytes", 8 << 20, 64 << 10, MAX_PART_BYTES),
        min_free_bytes=_int(raw, "min_free_bytes", 1 << 30, 0, 1 << 50),
    )


def _witness(raw: JsonObject) -> WitnessConfig:
    logs = raw.get("logs", [])
    if not isinstance(raw, dict) or not isinstance(logs, list):
        raise ConfigError("[[witness.logs]] must be tables of origin and vkey")
    parsed: list[WitnessedLog] = []
    for table in logs:
        if not isinstance(table, dict) or set(table) != {"origin", "vkey"}:
            raise ConfigError("each [[witness.logs]] has exactly origin and vkey")
        origin, vkey = _str(table, "origin"), _str(table, "vkey")
        if origin.startswith("exchange/") or "\n" in origin or len(origin) > 300:
            # peers' logs come from the signed directory, never from a file
            raise ConfigError(f"[[witness.logs]] origin {origin[:80]!r} is not allowed")
        try:
            verifier = parse_vkey(vkey)
        except ExchangeError as exc:
            raise ConfigError(f"[[witness.logs]] vkey of {origin}: {exc.message}") from None
        if verifier.alg != ALG_ED25519:
            raise ConfigError(f"[[witness.logs]] vkey of {origin} must be Ed25519 (type 0x01)")
        if any(log.origin == origin for log in parsed):
            raise ConfigError(f"[[witness.logs]] lists {origin} twice")
        parsed.append(WitnessedLog(origin, vkey))
    return WitnessConfig(
        logs=tuple(parsed),
        submissions_per_minute=_int(raw, "submissions_per_minute", 600, 1, 10_000_000),
        submission_burst=_int(raw, "submission_burst", 60, 1, 1_000_000),
    )


def _escalation(raw: JsonObject) -> EscalationConfig:
    fraction = _num(raw, "due_soon_fraction", 0.25)
    if not 0 < fraction < 1:
        raise ConfigError("[escalation] due_soon_fraction must be between 0 and 1")
    webhooks = raw.get("webhooks", [])
    if not isinstance(webhooks, list) or not all(
        isinstance(u, str) and u.startswith(("https://", "http://")) for u in webhooks
    ):
        raise ConfigError("[escalation] webhooks must be a list of http(s) URLs")
    return EscalationConfig(
        due_soon_fraction=fraction,
        due_soon_before={
            "emergency": timedelta(minutes=_num(raw, "emergency_due_soon_minutes", 120.0))
        },
        acknowledge_within={
            "emergency": timedelta(minutes=_num(raw, "emergency_acknowledge_minutes", 30.0))
        },
        webhooks=tuple(webhooks),
        webhook_timeout=timedelta(seconds=_num(raw, "webhook_timeout_seconds", 10.0)),
    )


def _table(raw: JsonObject, name: str) -> JsonObject:
    value = raw.get(name)
    if not isinstance(value, dict):
        raise ConfigError(f"missing [{name}] table")
    return value


def _str(table: JsonObject, key: str, default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a non-empty string")
    return value


def _int(table: JsonObject, key: str, default: int, low: int, high: int) -> int:
    value = table.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{key} must be an integer between {low} and {high}")
    return value


def _num(table: JsonObject, key: str, default: float) -> float:
    value = table.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"{key} must be a positive number")
    return float(value)
