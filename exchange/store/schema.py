"""Numbered schema migrations, applied in order at start-up (never edited once released)."""

from __future__ import annotations

from .schema_recent import RECENT

# Migration 6's settled part: the time a settled request had left when answered, in
# microseconds (part of a released migration: never edit; store/deadlines.MARGIN).
_MARGIN = """((CAST(strftime('%s', substr(deadline, 1, 19)) AS INTEGER)
      - CAST(strftime('%s', substr(COALESCE(answered_at, rejected_at), 1, 19)) AS INTEGER))
      * 1000000 + CAST(substr(deadline, 21, 6) AS INTEGER)
      - CAST(substr(COALESCE(answered_at, rejected_at), 21, 6) AS INTEGER))"""
_SETTLED = """deadline IS NOT NULL AND status != 'expired'
           AND (answered_at IS NOT NULL OR rejected_at IS NOT NULL)"""

MIGRATIONS: list[list[str]] = [
    # 1: requests, messages, outbox, users, sessions, directory, audit log.
    [
        """CREATE TABLE requests (
            id TEXT PRIMARY KEY,
            origin TEXT NOT NULL,
            msg_id TEXT NOT NULL,
            direction TEXT NOT NULL CHECK (direction IN ('out', 'in')),
            counterpart TEXT NOT NULL,
            kind TEXT NOT NULL,
            urgency TEXT NOT NULL,
            language TEXT NOT NULL,
            status TEXT NOT NULL,
            created_by TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deadline TEXT,
            delivered_at TEXT,
            acknowledged_at TEXT,
            answered_at TEXT,
            closed_at TEXT,
            rejected_at TEXT,
            UNIQUE (origin, msg_id)
        )""",
        "CREATE INDEX requests_direction_status ON requests (direction, status)",
        "CREATE INDEX requests_deadline ON requests (deadline)",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests (id),
            sender TEXT NOT NULL,
            recipient TEXT NOT NULL,
            msg_id TEXT NOT NULL,
            type TEXT NOT NULL,
            created_at TEXT NOT NULL,
            envelope_sha256 TEXT,
            content_key BLOB,
            content BLOB,
            evidence TEXT,
            receipt TEXT,
            UNIQUE (sender, msg_id)
        )""",
        "CREATE INDEX messages_request ON messages (request_id)",
        """CREATE TABLE outbox (
            msg_id TEXT PRIMARY KEY,
            peer TEXT NOT NULL,
            envelope BLOB NOT NULL,
            envelope_sha256 TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'expired')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            last_error TEXT
        )""",
        "CREATE INDEX outbox_pending ON outbox (state, peer, next_attempt_at)",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests (id),
            at TEXT NOT NULL,
            event TEXT NOT NULL,
            actor TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        )""",
        "CREATE INDEX events_request ON events (request_id, id)",
        """CREATE TABLE users (
            username TEXT PRIMARY KEY,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL,
            created_at TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0
        )""",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL REFERENCES users (username),
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        )""",
        """CREATE TABLE login_failures (
            username TEXT PRIMARY KEY,
            failures INTEGER NOT NULL,
            last_at TEXT NOT NULL
        )""",
        """CREATE TABLE directory_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            serial INTEGER NOT NULL,
            document BLOB NOT NULL,
            loaded_at TEXT NOT NULL
        )""",
        """CREATE TABLE audit_entries (
            idx INTEGER PRIMARY KEY,
            entry BLOB NOT NULL
        )""",
        """CREATE TABLE audit_nodes (
            level INTEGER NOT NULL,
            idx INTEGER NOT NULL,
            hash BLOB NOT NULL,
            PRIMARY KEY (level, idx)
        ) WITHOUT ROWID""",
        """CREATE TABLE audit_checkpoints (
            size INTEGER PRIMARY KEY,
            root BLOB NOT NULL,
            note TEXT NOT NULL,
            created_at TEXT NOT NULL
        )""",
        """CREATE TABLE audit_cosignatures (
            size INTEGER NOT NULL REFERENCES audit_checkpoints (size),
            witness TEXT NOT NULL,
            line TEXT NOT NULL,
            signed_at INTEGER NOT NULL,
            PRIMARY KEY (size, witness)
        )""",
        # What this node, as a witness, last verified of each peer's log.
        """CREATE TABLE witness_peers (
            peer TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            root BLOB NOT NULL,
            note TEXT NOT NULL,
            seen_at TEXT NOT NULL
        )""",
        """CREATE TABLE witness_alerts (
            id INTEGER PRIMARY KEY,
            peer TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            evidence TEXT NOT NULL,
            at TEXT NOT NULL
        )""",
    ],
    # 2: deadline tracking: the state each request is in, escalations (one per kind
    # and request), and signed webhook calls waiting to be delivered.
    [
        "ALTER TABLE requests ADD COLUMN deadline_state TEXT",
        # when the sweep must look at the request again (NULL: at once)
        "ALTER TABLE requests ADD COLUMN deadline_check_at TEXT",
        # when retention erased the contents (crypto-erasure); metadata stays
        "ALTER TABLE requests ADD COLUMN erased_at TEXT",
        "CREATE INDEX requests_deadline_check ON requests (deadline_check_at)",
        """CREATE TABLE deadline_escalations (
            id INTEGER PRIMARY KEY,
            request_id TEXT NOT NULL REFERENCES requests (id),
            kind TEXT NOT NULL,
            at TEXT NOT NULL,
            deadline TEXT NOT NULL,
            UNIQUE (request_id, kind)
        )""",
        """CREATE TABLE webhook_outbox (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL,
            body BLOB NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'done', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_error TEXT
        )""",
        "CREATE INDEX webhook_outbox_pending ON webhook_outbox (state, next_attempt_at)",
        # evidence files uploaded here: the key wrapped by the storage key (NULL once
        # erased); msg_id and peer once sent, uploaded once the peer has the blob
        """CREATE TABLE attachments (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            filename TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            blob_sha256 TEXT NOT NULL,
            blob_size INTEGER NOT NULL,
            key_wrapped BLOB,
            msg_id TEXT,
            peer TEXT,
            uploaded INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )""",
        "CREATE INDEX attachments_msg ON attachments (msg_id)",
        # a request saved but not yet sent: its form, sealed by the storage key
        """CREATE TABLE drafts (
            request_id TEXT PRIMARY KEY REFERENCES requests (id),
            content_key BLOB NOT NULL,
            content BLOB NOT NULL
        )""",
        # the effective settings the node last ran with (a change is audited)
        """CREATE TABLE settings_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            settings TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            recorded_at TEXT NOT NULL
        )""",
    ],
    # 3: uploads kept for a draft are not "unsent uploads" that retention purges
    [
        "ALTER TABLE attachments ADD COLUMN draft_id TEXT",
        "CREATE INDEX attachments_draft ON attachments (draft_id)",
    ],
    # 4: emergency messages (and the answers to emergency requests) leave first. The
    # partial index holds only pending emergency rows, so the others never touch it.
    [
        "ALTER TABLE outbox ADD COLUMN emergency INTEGER NOT NULL DEFAULT 0",
        """CREATE INDEX outbox_emergency ON outbox (peer, next_attempt_at)
           WHERE state = 'pending' AND emergency = 1""",
    ],
    # 5: lists page through every row in their order (store/request_lists.py): one index
    # per order, so a page is a range scan after the previous page's last key. Newest
    # first: all requests, one direction, one investigator's; the inbox by deadline.
    [
        "CREATE INDEX requests_newest ON requests (created_at, id)",
        "CREATE INDEX requests_direction_newest ON requests (direction, created_at, id)",
        """CREATE INDEX requests_creator_newest
           ON requests (created_by, direction, created_at, id)""",
        "CREATE INDEX requests_inbox ON requests (direction, deadline, created_at, id)",
    ],
    # 6: the deadlines list pages through every tracked request (store/deadlines.py,
    # by_time_left): the open ones by deadline, the settled ones by the time they had
    # left when answered (deadline minus answer in microseconds: store/deadlines.MARGIN,
    # the very expression, or SQLite does not use the index); all, and one creator's.
    # Partial indexes: only tracked requests, in the part they belong to.
    [
        """CREATE INDEX requests_deadlines_open ON requests (deadline, id)
           WHERE deadline IS NOT NULL AND status != 'expired'
           AND answered_at IS NULL AND rejected_at IS NULL""",
        """CREATE INDEX requests_creator_deadlines_open ON requests (created_by, deadline, id)
           WHERE deadline IS NOT NULL AND status != 'expired'
           AND answered_at IS NULL AND rejected_at IS NULL""",
        f"""CREATE INDEX requests_deadlines_settled ON requests ({_MARGIN}, id)
           WHERE {_SETTLED}""",
        f"""CREATE INDEX requests_creator_deadlines_settled
           ON requests (created_by, {_MARGIN}, id) WHERE {_SETTLED}""",
    ],
    # 7: the directory equivocations this node saw: a validly signed document with the
    # serial it already holds but other bytes. Both documents are kept as proof; one
    # row per distinct document (store/directory_cache.record_equivocation).
    [
        """CREATE TABLE directory_alerts (
            id INTEGER PRIMARY KEY,
            serial INTEGER NOT NULL,
            held_sha256 TEXT NOT NULL,
            seen_sha256 TEXT NOT NULL,
            held_document BLOB NOT NULL,
            seen_document BLOB NOT NULL,
            at TEXT NOT NULL,
            UNIQUE (serial, seen_sha256)
        )""",
    ],
    # 8: the signed refusals peers answered our envelopes with (workers/delivery.py):
    # kept once per message and code, however often a retried one is refused again
    [
        """CREATE TABLE refusals (
            id INTEGER PRIMARY KEY,
            msg_id TEXT NOT NULL,
            peer TEXT NOT NULL,
            code TEXT NOT NULL,
            refused_at TEXT NOT NULL,
            refusal TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            UNIQUE (msg_id, code)
        )""",
    ],
    # 9: receipts prove content (receipt v2): each message keeps its evidence document
    # (header, content, the sender's evidence signature), encrypted at rest under its
    # own key like the content and erased with it; the outbox keeps the document's hash,
    # which the peer's receipt must name (workers/delivery.py)
    [
        "ALTER TABLE messages ADD COLUMN evidence_key BLOB",
        "ALTER TABLE messages ADD COLUMN evidence_doc BLOB",
        "ALTER TABLE outbox ADD COLUMN evidence_sha256 TEXT",
    ],
    # 10: every directory version ever installed, its signed document as received, in
    # serial order (store/directory_cache.save), so a signature stays checkable against
    # the keys valid at its time after they leave the directory; the held one to start
    [
        """CREATE TABLE directory_history (
            serial INTEGER PRIMARY KEY,
            document BLOB NOT NULL,
            installed_at TEXT NOT NULL
        )""",
        """INSERT INTO directory_history (serial, document, installed_at)
           SELECT serial, document, loaded_at FROM directory_state""",
    ],
    # 11: emergency revocation statements received (or sent) by this node, signed by an
    # authority's offline revocation key (core/revocation.py): applied on top of every
    # directory installed (service/directory.py), never un-revoked; the statement kept
    # as received
    [
        """CREATE TABLE revocations (
            authority TEXT NOT NULL,
            key_id TEXT NOT NULL,
            revoked_at TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            statement BLOB NOT NULL,
            received_at TEXT NOT NULL,
            PRIMARY KEY (authority, key_id)
        )""",
    ],
    # 12: failed-login counters only for accounts: rows under names that are no account
    # (a mistyped name, a password typed into the username box) are dropped; unknown
    # names are counted in memory from now on (service/sessions.UnknownNameFailures)
    [
        "DELETE FROM login_failures WHERE username NOT IN (SELECT username FROM users)",
    ],
    # 13: blobs peers upload before their messages (store/blobs.py): who sent each and
    # when, so that what a peer holds unreferenced stays under its quota, and blob files
    # no attachment names are collected after a grace period (peer NULL: a file found
    # with no record, dated from when a collection pass first saw it); the bytes an
    # upload in progress may still write are reserved before it streams
    [
        """CREATE TABLE blob_files (
            blob_sha256 TEXT PRIMARY KEY,
            peer TEXT,
            size INTEGER NOT NULL,
            received_at TEXT NOT NULL,
            collected_at TEXT
        )""",
        "CREATE INDEX blob_files_peer ON blob_files (peer) WHERE collected_at IS NULL",
        """CREATE TABLE blob_reservations (
            id TEXT PRIMARY KEY,
            peer TEXT NOT NULL,
            size INTEGER NOT NULL,
            reserved_at TEXT NOT NULL
        )""",
        "CREATE INDEX attachments_blob ON attachments (blob_sha256)",
    ],
    # 14: what this node, as a witness, holds of each log it watches, keyed by the log's
    # origin (a peer's ``exchange/<id>/audit`` or a C2SP log from node.toml): the
    # latest checkpoint it verified and cosigned, with its cosignature line, changed
    # only by compare-and-swap on (size, root) (store/witness.swap). The pull witness's
    # views carry over without a cosignature (witness_peers is no longer read)
    [
        """CREATE TABLE witness_views (
            origin TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            root BLOB NOT NULL,
            note TEXT NOT NULL,
            cosignature TEXT,
            cosigned_at TEXT,
            updated_at TEXT NOT NULL
        )""",
        """INSERT INTO witness_views (origin, size, root, note, updated_at)
           SELECT 'exchange/' || peer || '/audit', size, root, note, seen_at
           FROM witness_peers""",
    ],
    # 15: witnessing outcomes (core/witness.respond): an alert stays open until a round
    # verifies the peer's log again (closed_at), so the same unresolved problem is not
    # repeated and a later one is raised anew; since when each peer is unavailable; the
    # signed alert statements (core/witness_alert.py) to send to every peer, and those
    # received from other witnesses (kept as received, once each); the largest audit
    # log size each peer has signed in an envelope to us (envelope v2's log_size)
    [
        "ALTER TABLE witness_alerts ADD COLUMN closed_at TEXT",
        """CREATE TABLE witness_unavailable (
            peer TEXT PRIMARY KEY,
            since TEXT NOT NULL,
            last_error TEXT NOT NULL
        )""",
        """CREATE TABLE witness_alerts_out (
            alert_id INTEGER NOT NULL,
            peer TEXT NOT NULL,
            statement BLOB NOT NULL,
            outcome TEXT,
            done_at TEXT,
            PRIMARY KEY (alert_id, peer)
        )""",
        """CREATE TABLE witness_alerts_received (
            id INTEGER PRIMARY KEY,
            issuer TEXT NOT NULL,
            peer TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            issued_at TEXT NOT NULL,
            statement BLOB NOT NULL,
            statement_sha256 TEXT NOT NULL UNIQUE,
            received_at TEXT NOT NULL
        )""",
        """CREATE TABLE peer_log_claims (
            peer TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            claim TEXT NOT NULL,
            claimed_at TEXT NOT NULL
        )""",
    ],
    # 16: erasure that reaches every copy (store/period_keys.py): record keys are wrapped
    # by per-period KEKs named in bytes 2-17 of each wrapped key (indexed, so a rotation
    # finds its keys); filenames are sealed with their record's key (the clear column
    # kept empty; erased files lose their names now); KEKs that lost a key outside a
    # retention pass wait in kek_erasures for the next pass to rotate them
    [
        "ALTER TABLE attachments ADD COLUMN filename_sealed BLOB",
        "UPDATE attachments SET filename = '' WHERE key_wrapped IS NULL",
        """CREATE TABLE kek_erasures (
            kek_id TEXT PRIMARY KEY,
            since TEXT NOT NULL
        )""",
        "CREATE INDEX messages_content_kek ON messages (substr(content_key, 2, 16))",
        "CREATE INDEX messages_evidence_kek ON messages (substr(evidence_key, 2, 16))",
        "CREATE INDEX attachments_kek ON attachments (substr(key_wrapped, 2, 16))",
        "CREATE INDEX drafts_kek ON drafts (substr(content_key, 2, 16))",
    ],
    # 17: cases (store/cases.py): the title and the national reference sealed at rest
    # together (names_key, names: core/vault.py, record "case:<id>"), erased with the
    # case's last request; offences and route are codes, kept clear. Every request that
    # left draft status belongs to a case (requests.case_id; a draft is filed when sent):
    # each existing one gets its own implicit case, under the request's own id
    [
        """CREATE TABLE cases (
            id TEXT PRIMARY KEY,
            implicit INTEGER NOT NULL CHECK (implicit IN (0, 1)),
            offences TEXT NOT NULL,
            route TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'closed')),
            created_by TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT,
            names_key BLOB,
            names BLOB,
            erased_at TEXT
        )""",
        "CREATE INDEX cases_newest ON cases (created_at, id)",
        "ALTER TABLE requests ADD COLUMN case_id TEXT REFERENCES cases (id)",
        """INSERT INTO cases (id, implicit, offences, route, status, created_by, created_at,
               updated_at, erased_at)
           SELECT id, 1, '[]', '[]', 'open', created_by, created_at, updated_at, erased_at
           FROM requests WHERE status != 'draft'""",
        "UPDATE requests SET case_id = id WHERE status != 'draft'",
        "CREATE INDEX requests_case ON requests (case_id)",
        # a case's sealed names are keyed like contents (store/period_keys.KEYED)
        "CREATE INDEX cases_kek ON cases (substr(names_key, 2, 16))",
    ],
    # 18: a received witness alert is kept once per issuer, watched log, kind and
    # evidence (the two notes), whatever its time or detail: re-signing the same
    # accusation does not add rows, audit entries or counts. Rows from before: NULL
    [
        "ALTER TABLE witness_alerts_received ADD COLUMN evidence_sha256 TEXT",
        """CREATE UNIQUE INDEX witness_alerts_received_evidence
           ON witness_alerts_received (issuer, peer, kind, evidence_sha256)""",
    ],
    # 19: several recipients (issue 16, item 2): the requests one POST /api/requests
    # created together, one per recipient, share a group id (their sender's per-recipient
    # table); NULL for a request sent to one authority, for a peer's and for older rows
    [
        "ALTER TABLE requests ADD COLUMN group_id TEXT",
        "CREATE INDEX requests_group ON requests (group_id) WHERE group_id IS NOT NULL",
    ],
    # 20: sharing a case (core/sharing.py, store/sharing.py): each copy names the case's
    # global id (origin, origin_case_id; NULL until shared) and the last membership
    # serial it took; case_members lists the authorities and their state; the case
    # messages (invitation, acceptance, membership) are kept like request messages,
    # their contents sealed at rest (record "case-message:<sender>:<msg_id>", keyed in
    # store/period_keys.KEYED)
    [
        "ALTER TABLE cases ADD COLUMN origin TEXT",
        "ALTER TABLE cases ADD COLUMN origin_case_id TEXT",
        "ALTER TABLE cases ADD COLUMN membership_serial INTEGER NOT NULL DEFAULT 0",
        "CREATE UNIQUE INDEX cases_global ON cases (origin, origin_case_id)",
        """CREATE TABLE case_members (
            case_id TEXT NOT NULL REFERENCES cases (id),
            authority TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('invited', 'member', 'declined', 'left')),
            since TEXT NOT NULL,
            PRIMARY KEY (case_id, authority)
        )""",
        """CREATE TABLE case_messages (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL REFERENCES cases (id),
            sender TEXT NOT NULL,
            recipient TEXT NOT NULL,
            msg_id TEXT NOT NULL,
            type TEXT NOT NULL,
            created_at TEXT NOT NULL,
            envelope_sha256 TEXT,
            content_key BLOB,
            content BLOB,
            evidence TEXT,
            receipt TEXT,
            UNIQUE (sender, msg_id)
        )""",
        "CREATE INDEX case_messages_case ON case_messages (case_id, id)",
        "CREATE INDEX case_messages_kek ON case_messages (substr(content_key, 2, 16))",
    ],
    *RECENT,  # 21 onwards live beside this file (store/schema_recent.py)
]
