"""Real authorities with freshly generated keys, for core tests."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from exchange.core.directory import Authority, UrgentProcedure
from exchange.core.keys import EncryptionKeyPair, SigningKeyPair

VALIDITY = timedelta(days=365)


def make_authority(
    authority_id: str,
    *,
    now: datetime,
    name: str | None = None,
    kind: str = "central_authority",
    languages: tuple[str, ...] = ("en",),
    legal_requirements: str = "",
) -> tuple[Authority, SigningKeyPair, EncryptionKeyPair]:
    sk = SigningKeyPair.generate(now, VALIDITY)
    ek = EncryptionKeyPair.generate(now, VALIDITY)
    authority = Authority(
        authority_id=authority_id,
        country=authority_id[:2],
        name=name or f"Central authority {authority_id}",
        kind=kind,
        node_url=f"https://{authority_id.lower()}.example:8441",
        tls_fingerprint=hashlib.sha256(authority_id.encode()).hexdigest(),
        signing_keys=(sk.public,),
        encryption_keys=(ek.public,),
        languages=languages,
        legal_requirements=legal_requirements,
        urgent_procedure=UrgentProcedure("Call the duty desk.", 24),
        contact_hours="Mon-Fri 08:00-18:00",
        timezone="Europe/Madrid",
    ).self_signed(sk)
    return authority, sk, ek
