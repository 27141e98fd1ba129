"""The one error family of Exchange.

Every failure a peer, a local user or a script may learn about is an
``ExchangeError`` with a stable, machine-readable ``code``. Messages are
short and never carry secrets, contents or byte-level detail that could be
used as an oracle (compare ``cryptography.fernet.InvalidToken``). The HTTP
layer maps codes to statuses in one table (``exchange.web.errors``).
"""

from __future__ import annotations


class ExchangeError(Exception):
    """Base class: ``code`` is stable and documented in docs/PROTOCOL.md."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Malformed(ExchangeError):
    """The input does not parse or does not have the required shape."""

    code = "malformed"


class TooLarge(ExchangeError):
    """The input exceeds a configured size or count limit."""

    code = "too_large"


class QuotaExceeded(ExchangeError):
    """A peer's blobs that no accepted message references yet would exceed the quota
    this node keeps for it (``[evidence] peer_quota_bytes``). Retryable: the quota
    frees as the peer's messages are accepted or its unreferenced blobs collected."""

    code = "quota_exceeded"


class InsufficientStorage(ExchangeError):
    """The disk that holds this node's evidence files lacks room for a file: less free
    than the file needs plus the reserve kept for the database and the audit log
    (``[evidence] min_free_bytes``), or the disk filled while it was written.
    Retryable: nothing is stored past what was synced before, and a resumable upload
    stands where it stood once room is made."""

    code = "insufficient_storage"


class BadSignature(ExchangeError):
    """A signature does not verify under the key it names."""

    code = "bad_signature"


class UnknownSender(ExchangeError):
    """The sender, or the key it signed with, is not in the current directory."""

    code = "unknown_sender"


class WrongRecipient(ExchangeError):
    """The envelope is addressed to another authority or another key of ours."""

    code = "wrong_recipient"


class ExpiredKey(ExchangeError):
    """A key was used outside its validity period."""

    code = "expired_key"


class KeyRevoked(ExchangeError):
    """The key was revoked (its private key is presumed stolen): nothing it signed
    from the revocation time on is accepted. Not retryable."""

    code = "key_revoked"


class Replay(ExchangeError):
    """A message id was reused with different content (a plain duplicate is not an error)."""

    code = "replay"


class DecryptionFailed(ExchangeError):
    """The ciphertext could not be opened with any of our keys."""

    code = "decryption_failed"


class DirectoryRejected(ExchangeError):
    """A directory document was refused (bad signature, rollback, expired, malformed)."""

    code = "directory_rejected"


class UnsupportedVersion(ExchangeError):
    """The input is of a protocol version this node no longer (or does not yet) speak,
    e.g. a peer call signed the v1 way: refused, never read as the current version."""

    code = "unsupported_version"


class DirectoryExpired(ExchangeError):
    """The directory this node holds has expired and no fresh one could be installed:
    no envelope goes in or out until one is (removals and revocations must not be
    frozen by blocking the directory URL). Retryable: it heals when the directory is
    refreshed."""

    code = "directory_expired"


class Unauthorized(ExchangeError):
    """No valid session or peer authentication."""

    code = "unauthorized"


class Forbidden(ExchangeError):
    """Authenticated, but the role does not allow this action."""

    code = "forbidden"


class NotFound(ExchangeError):
    """No such object (or not visible to the caller)."""

    code = "not_found"


class BadEvidence(ExchangeError):
    """A witness alert whose evidence proves nothing: a note not signed by the watched
    log's audit key, or notes that do not show what the alert's kind claims. Not
    retryable; nothing of it is stored."""

    code = "bad_evidence"


class WrongParty(ExchangeError):
    """A peer's acknowledgement, response or rejection refers to a request it may not
    follow up: one it sent us itself, or one we sent to another authority. Only the
    authority a request went to may answer it. Not retryable: the same message will
    never be accepted (unlike ``not_found``, which a sender retries)."""

    code = "wrong_party"


class BadTime(ExchangeError):
    """A peer's signed time is not one we can record: a follow-up timed before the
    request it answers, or too long before (or after) it reached this node. Not
    retryable: the same signed bytes will always carry the same time."""

    code = "bad_time"


class Conflict(ExchangeError):
    """The action does not fit the object's current state."""

    code = "conflict"


class OffsetMismatch(ExchangeError):
    """A part of a resumable blob upload does not start where the upload stands (or the
    upload is not known here): ask for the state again (``HEAD``) and resume from it."""

    code = "offset_mismatch"


class UnsupportedMediaType(ExchangeError):
    """The body is not of the media type the call takes (e.g. a login that is not JSON)."""

    code = "unsupported_media_type"


class InvalidRequest(ExchangeError):
    """A well-formed call with values that are not acceptable."""

    code = "invalid_request"


class RateLimited(ExchangeError):
    """Too many attempts; ``retry_after`` seconds tells when to come back."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageUnavailable(ExchangeError):
    """The node's disk is full or its database read-only: nothing was written; the
    caller may retry later (peers do, with backoff)."""

    code = "unavailable"


class UnknownLog(ExchangeError):
    """A checkpoint of a log this witness does not watch (c2sp.org/tlog-witness: 404)."""

    code = "unknown_log"


class OldSizeMismatch(ExchangeError):
    """A tlog-witness submission's ``old`` size is not the size this witness last
    cosigned for the log (c2sp.org/tlog-witness: 409); ``size`` is the one it holds, to
    resubmit from. Also what a compare-and-swap of a witness's view meets when the view
    changed since it was read."""

    code = "old_size_mismatch"

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.size = size


class InconsistentCheckpoint(ExchangeError):
    """A checkpoint that does not extend what the witness holds: a bad consistency
    proof, another root at the same size, or a wrong empty root (tlog-witness: 422)."""

    code = "inconsistent_checkpoint"


class UnknownCase(ExchangeError):
    """No case of that id that this user may see (the same answer either way, so that
    an id reveals nothing)."""

    code = "unknown_case"


class CaseClosed(ExchangeError):
    """The case is closed: it takes no new request and cannot be closed again."""

    code = "case_closed"


class CaseAwaiting(ExchangeError):
    """The case still has a request awaiting an answer, so it cannot close yet."""

    code = "case_awaiting"


class NotAMember(ExchangeError):
    """The authority is not (or no longer) a member of the shared case: it was never
    accepted, it left, or the origin removed it. Not retryable."""

    code = "not_a_member"


class MalformedIdempotencyKey(ExchangeError):
    """An ``Idempotency-Key`` that is not 1-255 printable ASCII characters (given as a
    header, or as the UI form's ``idempotency_key``): refused before anything runs."""

    code = "malformed_idempotency_key"


class IdempotencyKeyReused(ExchangeError):
    """This user already used the key for another request (another method, path or
    body): the first request's answer is not given, nothing runs."""

    code = "idempotency_key_reused"


class IdempotencyInProgress(ExchangeError):
    """A request with this key is still running: retry once it has answered."""

    code = "idempotency_in_progress"


class IndexBuilding(ExchangeError):
    """Search is not ready yet: the node builds its in-memory index at start-up from
    the decrypted contents (docs/THREAT_MODEL.md, "Search"). Retry in a few seconds."""

    code = "index_building"
