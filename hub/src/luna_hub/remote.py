"""The running hub's HTTP API, as ``luna-hub`` commands use it beside ``luna-hub serve``.

A command that finds a live hub on its data dir (:func:`luna_hub.datadir.live_hub`) calls these
instead of opening the hub's stores: the same operations, the same answer types, with the hub's
local admin token (:mod:`luna_hub.auth.local`). A problem answer becomes a :class:`HubAnswerError`
carrying its status and detail, so the command prints the one line it prints offline.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, BinaryIO, Final, Self, TypeVar

import httpx
import msgspec

from luna_hub.agents.schemas import AgentCreated
from luna_hub.auth.schemas import ApiKeyCreated, ApiKeyView, UserView
from luna_hub.datadir import LiveHub
from luna_hub.documents.schemas import DocumentDetail, DocumentSummary, UploadResult
from luna_hub.errors import HubError, NotFoundError, UnavailableError
from luna_hub.ingest.schemas import LoadReport

__all__ = ["HubAnswerError", "HubClient"]

T = TypeVar("T")

_TIMEOUT: Final = httpx.Timeout(300.0, connect=10.0)
"""Loads and uploads of large files take a while; a hub that does not accept the connection does not."""
_CHUNK: Final = 1 << 20
_KEY_PREFIX_SHAPE: Final = re.compile(r"[0-9a-f]{8}")
"""An API key's stored prefix (as ``luna_hub.auth.services`` tells a prefix from an id)."""


class HubAnswerError(HubError):
    """The hub answered a problem: ``answered`` is its HTTP status, the message its detail."""

    def __init__(self, status: int, detail: str, problem: Mapping[str, Any]) -> None:
        super().__init__(detail)
        self.answered = status
        self.problem = problem


def _tls_context(certificate: str) -> ssl.SSLContext:
    """Trust exactly the hub's own certificate (it is reached on loopback, not by the name it was issued to)."""
    context = ssl.create_default_context(cafile=certificate)
    context.check_hostname = False
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    return context


class HubClient:
    """One command's calls to the hub; use as an async context manager."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub
        verify: ssl.SSLContext | bool = True if hub.tls_cert is None else _tls_context(hub.tls_cert)
        self._http = httpx.AsyncClient(
            base_url=hub.url,
            headers={"Authorization": f"Bearer {hub.token}"},
            timeout=_TIMEOUT,
            verify=verify,
            trust_env=False,  # a proxy from the environment must not see the token or reroute loopback
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, answer: type[T], **options: Any) -> T:  # noqa: ANN401 - httpx's
        try:
            response = await self._http.request(method, path, **options)
        except httpx.TransportError as exc:
            msg = f"the hub at {self.hub.url} (pid {self.hub.pid}) did not answer: {str(exc) or type(exc).__name__}"
            raise UnavailableError(msg) from exc
        if response.status_code >= 400:  # noqa: PLR2004 - HTTP's error classes
            raise _problem(response)
        if answer is type(None):
            return None  # T is None here (DELETE answers no body)
        return msgspec.json.decode(response.content, type=answer)

    async def upload(self, data: bytes, filename: str, *, document_id: str | None, site: str | None) -> UploadResult:
        """``POST /documents``."""
        form = {key: value for key, value in (("document_id", document_id), ("site", site)) if value is not None}
        return await self._call("POST", "/documents", UploadResult, files={"file": (filename, data)}, data=form)

    async def detail(self, document_id: str) -> DocumentDetail:
        """``GET /documents/{id}`` without text and chunks: the versions and the latest job."""
        params = {"text": "false", "chunks": "false"}
        return await self._call("GET", f"/documents/{_segment(document_id)}", DocumentDetail, params=params)

    async def documents(self, *, limit: int, offset: int = 0) -> list[DocumentSummary]:
        """``GET /documents``."""
        params = {"limit": limit, "offset": offset}
        return await self._call("GET", "/documents", list[DocumentSummary], params=params)

    async def load(self, binary: BinaryIO, params: Mapping[str, str]) -> LoadReport:
        """``POST /data/load`` with the open file as the body, streamed."""
        return await self._call("POST", "/data/load", LoadReport, params=dict(params), content=_read(binary))

    async def api_keys(self, user: str | None) -> list[ApiKeyView]:
        """``GET /admin/api-keys``."""
        params = {} if user is None else {"user": user}
        return await self._call("GET", "/admin/api-keys", list[ApiKeyView], params=params)

    async def create_api_key(self, user: str, name: str, expires_in: timedelta | None) -> ApiKeyCreated:
        """``POST /admin/api-keys``."""
        body: dict[str, Any] = {"user": user, "name": name}
        if expires_in is not None:
            body["expires_in_seconds"] = int(expires_in.total_seconds())
        return await self._call("POST", "/admin/api-keys", ApiKeyCreated, json=body)

    async def revoke_api_key(self, key: str) -> ApiKeyView:
        """Find the key by prefix, else id (as ``luna-hub revoke-api-key`` offline), then ``DELETE`` it."""
        keys = await self.api_keys(None)
        found = next((k for k in keys if _KEY_PREFIX_SHAPE.fullmatch(key) and k.prefix == key), None)
        if found is None and key.isascii() and key.isdigit():
            found = next((k for k in keys if k.id == int(key)), None)
        if found is None:
            msg = f"no API key with id or prefix {key!r} (luna-hub api-keys lists them)"
            raise NotFoundError(msg)
        await self._call("DELETE", f"/admin/api-keys/{found.id}", type(None))
        return found

    async def users(self) -> list[UserView]:
        """``GET /admin/users``."""
        return await self._call("GET", "/admin/users", list[UserView])

    async def create_user(self, body: Mapping[str, Any]) -> UserView:
        """``POST /admin/users``."""
        return await self._call("POST", "/admin/users", UserView, json=dict(body))

    async def create_agent(self, agent_id: str, site: str) -> AgentCreated:
        """``POST /admin/agents``."""
        return await self._call("POST", "/admin/agents", AgentCreated, json={"agent_id": agent_id, "site_id": site})


def _segment(value: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415 - one use

    return quote(value, safe="")


async def _read(binary: BinaryIO) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(binary.read, _CHUNK):
        yield chunk


def _problem(response: httpx.Response) -> HubAnswerError:
    """Turn an error answer's problem JSON into an exception (a body without one: its status line)."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    detail = body.get("detail") or body.get("title") or f"HTTP {response.status_code} {response.reason_phrase}"
    return HubAnswerError(response.status_code, str(detail), body)
