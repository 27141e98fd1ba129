"""A lean HTTP/1.1 load generator over pinned TLS, for the benchmarks.

The load generator shares the machine with what it measures, so every
millisecond it spends is taken from the nodes. aiohttp's client spent ~0.19 ms
of CPU a request here; this one writes pre-encoded requests on kept-alive
connections and reads only the status line, ``Content-Length`` and the body
(the way wrk or h2load drive a server). It is used for the end-to-end run and
for the bare baseline alike, so the ratio stays like for like.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ssl


class PinMismatch(ConnectionError):
    """The server's certificate is not the pinned one."""


def pinned_context() -> ssl.SSLContext:
    """TLS without CA checks: the certificate is checked against a pin instead."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class Connection:
    """One kept-alive HTTPS connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, host: str, port: int, fingerprint: bytes) -> Connection:
        reader, writer = await asyncio.open_connection(host, port, ssl=pinned_context())
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        if der is None or hashlib.sha256(der).digest() != fingerprint:
            writer.close()
            raise PinMismatch("the server's certificate is not the pinned one")
        return cls(reader, writer)

    async def request(self, head: bytes, body: bytes = b"") -> tuple[int, bytes, bytes]:
        """Send one request (``head`` ends with the blank line); return status, head, body."""
        self.writer.write(head + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"transfer-encoding":
                raise ValueError("chunked responses are not expected here")
        return status, raw, await self.reader.readexactly(length) if length else b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


def post_head(host: str, path: str, length: int, extra: dict[str, str] | None = None) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}",
        "Content-Type: application/json",
        f"Content-Length: {length}",
        *(f"{name}: {value}" for name, value in (extra or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
