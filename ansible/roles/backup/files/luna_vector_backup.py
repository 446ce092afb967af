#!/usr/bin/env python3
"""Back up the hub's Qdrant collections as snapshots, through Qdrant's HTTP API.

    luna_vector_backup.py backup  --url URL --dir DIR [--keep N]
    luna_vector_backup.py verify  BACKUP
    luna_vector_backup.py restore BACKUP --url URL

``backup`` asks Qdrant for a snapshot of every collection, downloads it, deletes it from the
server (snapshots would otherwise fill the server's disk), and records each collection's point
count in the manifest (see ``luna_backup_store``). ``restore`` checks every checksum, uploads
each snapshot (Qdrant re-creates the collection, the snapshot being the source of truth), then
fails, naming the collection, unless it holds the recorded number of points.

Standard library only. The API key comes from the environment (``QDRANT_API_KEY``), never the
command line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.client import HTTPResponse
from pathlib import Path
from typing import Any

from luna_backup_store import BackupError, add_commands, log, new_backup, prune, run_tool, verify, verify_command

TOOL = "luna-vector-backup"
FORMAT = "luna-vector-backup/1"
TIMEOUT_S = 600


class Qdrant:
    """The few calls of Qdrant's HTTP API a backup needs."""

    def __init__(self, url: str) -> None:
        self._url = url.rstrip("/")
        self._headers = {"api-key": os.environ["QDRANT_API_KEY"]} if os.environ.get("QDRANT_API_KEY") else {}

    def _open(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> HTTPResponse:
        headers = dict(self._headers)
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(self._url + path, data=body, method=method, headers=headers)  # noqa: S310
        try:
            response: HTTPResponse = urllib.request.urlopen(request, timeout=TIMEOUT_S)  # noqa: S310 - operator's URL
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:300]
            msg = f"{method} {path}: HTTP {exc.code}: {detail}"
            raise BackupError(msg) from exc
        except urllib.error.URLError as exc:
            msg = f"{self._url}: {exc.reason}"
            raise BackupError(msg) from exc
        return response

    def call(self, method: str, path: str) -> Any:  # noqa: ANN401 - JSON of the API's answer
        """Send one request without a body; return the ``result`` member of the JSON answer."""
        with self._open(method, path) as response:
            return json.load(response)["result"]

    def download(self, path: str, target: Path) -> None:
        """Stream a response body into ``target``."""
        with self._open("GET", path) as response, target.open("wb") as out:
            while block := response.read(1 << 20):
                out.write(block)

    def upload(self, path: str, source: Path) -> None:
        """Send ``source`` as the ``snapshot`` field of a multipart form."""
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="snapshot"; filename="{source.name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        body = head + source.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
        with self._open("POST", path, body, f"multipart/form-data; boundary={boundary}") as response:
            json.load(response)


def _quote(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def backup(qdrant: Qdrant, root: Path, *, keep: int) -> Path:
    """Snapshot every collection into a new backup under ``root``."""
    names = sorted(c["name"] for c in qdrant.call("GET", "/collections")["collections"])
    manifest: dict[str, Any] = {"format": FORMAT, "collections": {}}
    with new_backup(root, manifest) as partial:
        for index, name in enumerate(names, start=1):
            points = qdrant.call("GET", f"/collections/{_quote(name)}")["points_count"]
            snapshot = qdrant.call("POST", f"/collections/{_quote(name)}/snapshots?wait=true")["name"]
            file_name = f"{index:04d}.snapshot"
            qdrant.download(f"/collections/{_quote(name)}/snapshots/{_quote(snapshot)}", partial / file_name)
            qdrant.call("DELETE", f"/collections/{_quote(name)}/snapshots/{_quote(snapshot)}?wait=true")
            manifest["collections"][name] = {"file": file_name, "points": points, "snapshot": snapshot}
            log(TOOL, f"collection {name}: {points} points ({index}/{len(names)})")
    final = root / str(manifest["id"])
    log(TOOL, f"backup {final} complete: {len(names)} collections")
    prune(TOOL, root, keep)
    return final


def restore(qdrant: Qdrant, backup_dir: Path) -> None:
    """Upload every snapshot of a verified backup and prove each collection has its points back."""
    manifest = verify(backup_dir, FORMAT)
    checksums = {entry["name"]: entry["sha256"] for entry in manifest["files"]}
    collections: dict[str, dict[str, Any]] = manifest["collections"]
    for name, entry in collections.items():
        query = urllib.parse.urlencode({"wait": "true", "priority": "snapshot", "checksum": checksums[entry["file"]]})
        qdrant.upload(f"/collections/{_quote(name)}/snapshots/upload?{query}", backup_dir / entry["file"])
        points = qdrant.call("GET", f"/collections/{_quote(name)}")["points_count"]
        if points != entry["points"]:
            msg = f"restore incomplete: collection {name!r} has {points} points, expected {entry['points']}"
            raise BackupError(msg)
        log(TOOL, f"collection {name}: {points} points restored")
    log(TOOL, f"restore verified: {len(collections)} collections")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="luna_vector_backup.py", description=__doc__.split("\n\n")[0])
    add_commands(parser, backup_description="Snapshot every collection.", add_source=_add_url, add_target=_add_url)
    return parser


def _add_url(command: argparse.ArgumentParser) -> None:
    command.add_argument("--url", required=True, help="Qdrant's HTTP API, e.g. http://127.0.0.1:6333")


def main(argv: list[str] | None = None) -> int:
    """Run one command; print the error and exit 1 when it fails."""
    return run_tool(
        TOOL,
        _parser(),
        {
            "backup": lambda args: print(backup(Qdrant(args.url), args.dir, keep=args.keep)),
            "verify": verify_command(TOOL, FORMAT),
            "restore": lambda args: restore(Qdrant(args.url), args.backup),
        },
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
