"""Real receivers of notifications on loopback: an HTTP webhook server (asyncio streams) and an SMTP server.

The webhook server speaks enough HTTP/1.1 for any client (request line, headers, a Content-Length
body; one request per connection) and records every request; it can be told to answer with an error.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import ssl
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

__all__ = ["Received", "WebhookReceiver", "self_signed_certificate", "webhook_receiver"]


@dataclass(frozen=True)
class Received:
    """One request the receiver took."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """The server's URL, the requests it received, and the status it answers with (200 by default)."""

    url: str
    received: list[Received] = field(default_factory=list)
    status: int = 200

    def bodies(self, path: str | None = None) -> list[Any]:
        """The JSON bodies received (on ``path``), in order."""
        return [r.json() for r in list(self.received) if path is None or r.path == path]

    async def wait_for(self, count: int, *, within: float = 30) -> None:
        """Wait until at least ``count`` requests arrived."""
        async with asyncio.timeout(within):
            while len(self.received) < count:  # noqa: ASYNC110 - the server runs on a thread of its own
                await asyncio.sleep(0.02)


@asynccontextmanager
async def webhook_receiver(port: int = 0, host: str = "127.0.0.1") -> AsyncIterator[WebhookReceiver]:
    """Serve on ``host``:``port`` (0: any free port) until the block ends.

    The server runs on an event loop and thread of its own: the in-process test client blocks the
    test's loop while the app handles a request, and the app may be calling this receiver then.
    """
    receiver = WebhookReceiver(url="")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = receiver.status
            if status < 300:  # a refused request was not received
                receiver.received.append(Received(method, path, headers, body))
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    started = threading.Event()
    parts: dict[str, Any] = {}

    async def serve() -> None:
        server = await asyncio.start_server(handle, host, port)
        receiver.url = f"http://{host}:{server.sockets[0].getsockname()[1]}/hook"
        stop = parts["stop"] = asyncio.Event()
        parts["loop"] = asyncio.get_running_loop()
        started.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), name="webhook receiver")
    thread.start()
    while not started.is_set():  # noqa: ASYNC110 - a thread's event (to_thread would leave an executor thread)
        await asyncio.sleep(0.01)
    try:
        yield receiver
    finally:
        parts["loop"].call_soon_threadsafe(parts["stop"].set)
        while thread.is_alive():  # noqa: ASYNC110 - as above
            await asyncio.sleep(0.01)


def self_signed_certificate(folder: Path, host: str = "127.0.0.1") -> tuple[Path, Path, ssl.SSLContext]:
    """A certificate and key for ``host`` (written to ``folder``) and a server TLS context serving them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "smtp.crt", folder / "smtp.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return cert_file, key_file, context
