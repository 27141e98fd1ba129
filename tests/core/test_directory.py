"""The signed directory: verification, rollback and expiry rules, strict entries, search."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.canonical import b64e, canonical_json
from exchange.core.directory import (
    CTX,
    Authority,
    Directory,
    format_operator_key,
    parse_operator_key,
    sign_directory,
    verify_directory,
)
from exchange.core.directory_search import DirectoryIndex
from exchange.core.errors import DirectoryRejected, Malformed, NotFound
from exchange.core.keys import SigningKeyPair

from .authority_factory import make_authority

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def operator() -> SigningKeyPair:
    return SigningKeyPair.generate(NOW - DAY, timedelta(days=3650))


@pytest.fixture(scope="module")
def directory() -> Directory:
    entries = [
        make_authority(
            "ES-CNA",
            now=NOW - DAY,
            name="Policía Nacional, UCRIF",
            kind="police",
            languages=("es", "en"),
        )[0],
        make_authority(
            "MA-CNA", now=NOW - DAY, name="Direction Générale de la Sûreté", languages=("fr", "ar")
        )[0],
        make_authority(
            "SN-CNA",
            now=NOW - DAY,
            name="Division nationale de lutte contre le trafic",
            kind="prosecution",
            languages=("fr-SN",),
            legal_requirements="Dual criminality; request in French.",
        )[0],
    ]
    return Directory(3, NOW - DAY, NOW + 30 * DAY, tuple(entries))


def _verify(document: bytes, operator: SigningKeyPair, **kw: Any) -> Directory:
    return verify_directory(
        document, pinned_operator_keys=(operator.public.public,), now=kw.pop("now", NOW), **kw
    )


def test_sign_and_verify_round_trip(operator: SigningKeyPair, directory: Directory) -> None:
    document = sign_directory(directory, operator)
    loaded = _verify(document, operator, held_serial=3)
    assert loaded == directory
    assert loaded.get("MA-CNA") == directory.get("MA-CNA")
    assert canonical_json(json.loads(document)) == document  # sent canonical


def test_operator_key_text_form(operator: SigningKeyPair) -> None:
    text = format_operator_key(operator.public.public)
    assert text.startswith("ed25519:")
    assert parse_operator_key(text) == operator.public.public
    for bad in ("", "ed25519:", "rsa:AAAA", "ed25519:" + b64e(b"short"), "ed25519:***"):
        with pytest.raises(Malformed):
            parse_operator_key(bad)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"held_serial": 4}, "rollback refused: serial 3 is older than held serial 4"),
        ({"now": NOW + 31 * DAY}, "directory expired at"),
        ({"now": NOW - 2 * DAY}, "issued in the future"),
    ],
)
def test_rollback_expired_and_future_documents_are_refused(
    operator: SigningKeyPair, directory: Directory, kwargs: dict[str, Any], reason: str
) -> None:
    with pytest.raises(DirectoryRejected) as caught:
        _verify(sign_directory(directory, operator), operator, **kwargs)
    assert reason in caught.value.message


def test_unpinned_or_forged_signatures_are_refused(
    operator: SigningKeyPair, directory: Directory
) -> None:
    stranger = SigningKeyPair.generate(NOW, DAY)
    with pytest.raises(DirectoryRejected, match="not signed by a pinned operator key"):
        _verify(sign_directory(directory, stranger), operator)
    doc = json.loads(sign_directory(directory, operator))
    doc["directory"]["authorities"][0]["node_url"] = "https://attacker.example"
    with pytest.raises(DirectoryRejected, match="does not verify"):
        _verify(json.dumps(doc).encode(), operator)
    doc = json.loads(sign_directory(directory, operator))
    doc["signatures"] = []
    with pytest.raises(DirectoryRejected, match="signatures must be a list"):
        _verify(json.dumps(doc).encode(), operator)


def test_operator_key_change_with_two_signatures(
    operator: SigningKeyPair, directory: Directory
) -> None:
    new_operator = SigningKeyPair.generate(NOW, DAY * 3650)
    document = sign_directory(directory, operator, new_operator)
    assert _verify(document, operator) == directory
    assert _verify(document, new_operator) == directory


def test_whitespace_or_key_order_does_not_matter_but_content_does(
    operator: SigningKeyPair, directory: Directory
) -> None:
    doc = json.loads(sign_directory(directory, operator))
    assert _verify(json.dumps(doc, indent=3).encode(), operator) == directory


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda e: e.__setitem__("country", "FR"), "must start with its country"),
        (lambda e: e.__setitem__("country", "es"), "country is not valid"),
        (lambda e: e.__setitem__("kind", "army"), "kind must be one of"),
        (lambda e: e.__setitem__("node_url", "http://plain.example"), "node_url"),
        (lambda e: e.__setitem__("tls_fingerprint", "AB" * 32), "tls_fingerprint"),
        (lambda e: e.__setitem__("languages", []), "languages"),
        (lambda e: e.__setitem__("languages", ["english"]), "language tag"),
        (lambda e: e.__setitem__("timezone", "Mars/Olympus"), "unknown time zone"),
        (lambda e: e.__setitem__("name", " "), "name must be a non-empty"),
        (lambda e: e.__setitem__("name", "x\x00y"), "control characters"),
        (lambda e: e.__setitem__("legal_requirements", "x" * 5000), "legal_requirements"),
        (lambda e: e.__setitem__("extra", 1), "unknown field extra"),
        (lambda e: e.pop("kind"), "lacks kind"),
        (lambda e: e.__setitem__("signing_keys", e["encryption_keys"]), "ed25519"),
        (lambda e: e.__setitem__("signing_keys", e["signing_keys"] * 2), "twice"),
        (
            lambda e: e["signing_keys"][0].__setitem__("key_id", "ed25519:0000000000000000"),
            "key_id",
        ),
        (lambda e: e["urgent_procedure"].__setitem__("max_response_hours", 0), "max_response"),
        (lambda e: e["urgent_procedure"].__setitem__("max_response_hours", True), "max_response"),
    ],
)
def test_malformed_entries_are_refused_with_the_field_named(
    directory: Directory, change: Any, message: str
) -> None:
    entry = json.loads(json.dumps(directory.authorities[0].to_json()))
    change(entry)
    with pytest.raises(Malformed, match=message):
        Authority.from_json(entry)


def test_an_announced_next_tls_certificate(directory: Directory) -> None:
    entry = directory.authorities[0].to_json()
    assert "tls_fingerprint_next" not in entry  # absent unless announced
    assert Authority.from_json(entry).tls_pins == (entry["tls_fingerprint"],)
    announced = Authority.from_json({**entry, "tls_fingerprint_next": "ab" * 32})
    assert announced.tls_pins == (entry["tls_fingerprint"], "ab" * 32)
    assert Authority.from_json(announced.to_json()) == announced
    for bad in ("AB" * 32, "ab" * 31, 7):
        with pytest.raises(Malformed, match="tls_fingerprint_next"):
            Authority.from_json({**entry, "tls_fingerprint_next": bad})


def test_a_bad_entry_makes_the_whole_document_unusable(
    operator: SigningKeyPair, directory: Directory
) -> None:
    payload = directory.payload()
    payload["authorities"][1]["kind"] = "army"
    message = canonical_json({"ctx": CTX, "directory": payload})
    sig = {"key": format_operator_key(operator.public.public), "sig": b64e(operator.sign(message))}
    document = canonical_json({"directory": payload, "signatures": [sig]})
    with pytest.raises(DirectoryRejected, match=r"authority #1: kind must be one of"):
        _verify(document, operator)


def test_duplicates_and_editing(directory: Directory) -> None:
    with pytest.raises(Malformed, match="twice"):
        Directory(1, NOW, NOW + DAY, (directory.authorities[0], directory.authorities[0]))
    smaller = directory.without_authority("MA-CNA")
    assert smaller.get("MA-CNA") is None and len(smaller.authorities) == 2
    assert smaller.with_authority(directory.get("MA-CNA")) == directory  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        smaller.without_authority("MA-CNA")


def test_current_encryption_key_is_the_latest_valid(directory: Directory) -> None:
    es = directory.get("ES-CNA")
    assert es is not None
    assert es.current_encryption_key(NOW) == es.encryption_keys[0]
    assert es.current_encryption_key(NOW + 400 * DAY) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_random_documents_are_refused_cleanly(data: bytes) -> None:
    with pytest.raises(DirectoryRejected):
        verify_directory(data, pinned_operator_keys=(bytes(32),), now=NOW)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_random_entries_are_refused_cleanly(value: object) -> None:
    with pytest.raises(Malformed):
        Authority.from_json(value)


def test_size_limit(operator: SigningKeyPair, directory: Directory) -> None:
    with pytest.raises(DirectoryRejected, match="larger than"):
        _verify(sign_directory(directory, operator), operator, max_bytes=100)


# --- search ---------------------------------------------------------------


def test_search_filters_and_free_text(directory: Directory) -> None:
    index = DirectoryIndex(directory)
    ids = lambda found: [a.authority_id for a in found]  # noqa: E731
    assert ids(index.search()) == ["ES-CNA", "MA-CNA", "SN-CNA"]
    assert ids(index.search(country="ma")) == ["MA-CNA"]
    assert ids(index.search(kind="prosecution")) == ["SN-CNA"]
    assert ids(index.search(language="fr")) == ["MA-CNA", "SN-CNA"]  # fr matches fr-SN
    assert ids(index.search(language="fr-SN")) == ["SN-CNA"]
    assert ids(index.search("policia ucrif")) == ["ES-CNA"]  # accents and case folded
    assert ids(index.search("SURETE")) == ["MA-CNA"]
    assert ids(index.search("dual criminality")) == ["SN-CNA"]  # legal requirements searched
    assert ids(index.search("police", country="MA")) == []
    assert ids(index.search(country="ES", kind="police", language="en")) == ["ES-CNA"]
    assert len(index.search(limit=2)) == 2
    assert index.search(country="XX") == []
