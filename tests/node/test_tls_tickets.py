"""A node's TLS server issues no session tickets: no client of ours can resume a
session (asyncio hands none back to a new connection), so each one was sealed, sent,
parsed and kept for nothing, at every handshake (issue 17: a new connection a request)."""

from __future__ import annotations

import ssl
from pathlib import Path

from exchange.node.app import server_ssl_context
from exchange.ops.keyfiles import create_tls_certificate


def handshake(server: ssl.SSLContext) -> ssl.SSLObject:
    """One TLS 1.3 handshake in memory, then a first message from the server (tickets
    travel after the handshake); returns the client's end."""
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE  # the test pins nothing: it counts tickets
    c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_context.wrap_bio(c_in, c_out, server_side=False)
    node = server.wrap_bio(s_in, s_out, server_side=True)
    done = {client: False, node: False}
    for _ in range(10):
        for end, outgoing, other_in in ((client, c_out, s_in), (node, s_out, c_in)):
            if not done[end]:
                try:
                    end.do_handshake()
                    done[end] = True
                except ssl.SSLWantReadError:
                    pass
            other_in.write(outgoing.read())
        if all(done.values()):
            break
    node.write(b"hello")
    c_in.write(s_out.read())
    assert client.read(5) == b"hello"
    assert client.version() == "TLSv1.3"
    return client


def test_a_node_sends_no_session_ticket(tmp_path: Path) -> None:
    create_tls_certificate(tmp_path, common_name="ES-CNA", hosts=["127.0.0.1"])
    client = handshake(server_ssl_context(tmp_path / "tls.crt", tmp_path / "tls.key"))
    session = client.session
    assert session is not None and not session.has_ticket


def test_the_check_sees_a_ticket_when_one_is_sent(tmp_path: Path) -> None:
    # the same handshake with OpenSSL's default (two tickets): the test can fail
    create_tls_certificate(tmp_path, common_name="ES-CNA", hosts=["127.0.0.1"])
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "tls.crt", tmp_path / "tls.key")
    session = handshake(context).session
    assert session is not None and session.has_ticket
