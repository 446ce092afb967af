"""A loopback HTTP server answering as SMARD's chart data and the ENTSO-E API do, from recorded responses.

The responses are constructed in the documented shapes from real prices (see ``fixtures/README.md``):
the transport is real HTTP on 127.0.0.1, only the far end is a stand-in, as nothing can be downloaded here.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

__all__ = ["TOKEN", "PriceServer", "serve_prices"]

FIXTURES = Path(__file__).resolve().parents[1] / "hub" / "prices" / "fixtures"
TOKEN = "test-token-0123456789"  # noqa: S105
_SMARD = re.compile(r"^/app/chart_data/(\d+)/([^/]+)/([^/]+)$")


@dataclass
class PriceServer:
    """The server's URL, the paths asked for, and failures to inject."""

    url: str
    requests: list[str] = field(default_factory=list)
    fail_next: int = 0
    """Answer this many further requests with 503."""

    @property
    def smard_url(self) -> str:
        return f"{self.url}/app/chart_data"

    @property
    def entsoe_url(self) -> str:
        return f"{self.url}/api"


def _handler(state: PriceServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append(parts.path)
            if state.fail_next > 0:
                state.fail_next -= 1
                self._send(503, b"busy", "text/plain")
                return
            if match := _SMARD.match(parts.path):
                filter_id, region, name = match.groups()
                path = FIXTURES / "smard" / name.replace(f"{filter_id}_{region}_", f"{filter_id}_DE-LU_")
                if path.is_file():
                    self._send(200, path.read_bytes(), "application/json")
                else:
                    self._send(404, b"not found", "text/html")
                return
            if parts.path == "/api":
                query = parse_qs(parts.query)
                if query.get("securityToken") != [TOKEN]:
                    self._send(401, b"<html><body>Unauthorized</body></html>", "text/html")
                    return
                path = FIXTURES / "entsoe" / f"A44_{query['periodStart'][0]}.xml"
                if not path.is_file():
                    path = FIXTURES / "entsoe" / "acknowledgement_no_data.xml"
                self._send(200, path.read_bytes(), "text/xml")
                return
            self._send(404, b"not found", "text/plain")

        def _send(self, status: int, body: bytes, media_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", media_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
            pass

    return Handler


@contextmanager
def serve_prices() -> Iterator[PriceServer]:
    """The stand-in price sources on 127.0.0.1 (port chosen by the system), stopped after the test."""
    state = PriceServer(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    host, port = server.server_address[:2]
    state.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, name="price server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
