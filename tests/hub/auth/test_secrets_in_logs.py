"""No secret (password, key, token, JWT secret) reaches a log line or an error body, whatever the flow or failure."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Request

from luna_hub.auth import controllers
from luna_hub.settings import AuthSettings, HubSettings
from luna_shared.logs import LogFormat, LogSettings, configure_logging, get_logger
from luna_shared.redact import REDACTED, is_secret_name, redact_text
from support.hub import ready_client
from support.sync import Agent, batch, post

PASSWORD = "hunter2-but-longer-and-unique"  # noqa: S105 - the test user's
JWT_SECRET = "Zq8vN3kP0wR7tY2uI5oA9sD4fG6hJ1lK"  # noqa: S105 - the test hub's


@pytest.fixture
def log_stream(request: pytest.FixtureRequest) -> Iterator[io.StringIO]:
    """Every log line of the test, as the hub writes them (the format is the test's parameter)."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    configure_logging(LogSettings(level="DEBUG", format=request.param), stream=stream)
    yield stream
    root.handlers[:] = handlers
    root.setLevel(level)


def _upload_timed_out(request: Request[Any, Any, Any]) -> None:
    """A failure deep in a handler whose frames hold the caller's key and the settings, as the reviewed one did."""
    authorization = request.headers["authorization"]
    settings = request.app.state.settings
    headers = dict(request.headers)
    msg = f"indexing timed out for {authorization} after {settings.rag.ollama.timeout_seconds} s ({headers})"
    raise TimeoutError(msg)


@pytest.mark.parametrize("log_stream", [LogFormat.JSON, LogFormat.CONSOLE], indirect=True)
async def test_no_auth_flow_or_failure_logs_or_answers_a_secret(
    log_stream: io.StringIO, hub_dsn: str, unique: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = AuthSettings(jwt_secret=JWT_SECRET, password_time_cost=1, password_memory_kib=8, password_parallelism=1)
    settings = HubSettings(database_url=hub_dsn, data_dir=str(tmp_path), auth=auth)
    secrets = [PASSWORD, JWT_SECRET]
    bodies: list[str] = []
    async with ready_client(settings) as admin:
        secrets.append(admin.headers["Authorization"].removeprefix("Bearer "))
        user = {"username": unique, "role": "user", "sites": ["s1"], "password": PASSWORD}
        assert (await admin.post("/admin/users", json=user)).status_code == 201
        anonymous: dict[str, str] = {"Authorization": ""}
        wrong = await admin.post(
            "/auth/token", json={"username": unique, "password": PASSWORD + "x"}, headers=anonymous
        )
        assert wrong.status_code == 401
        bodies.append(wrong.text)
        login = await admin.post("/auth/token", json={"username": unique, "password": PASSWORD}, headers=anonymous)
        first = login.json()
        secrets += [first["access_token"], first["refresh_token"]]
        bearer = {"Authorization": f"Bearer {first['access_token']}"}
        assert (await admin.get("/auth/me", headers=bearer)).status_code == 200
        refreshed = await admin.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}, headers=anonymous)
        second = refreshed.json()
        secrets += [second["access_token"], second["refresh_token"]]
        reuse = await admin.post("/auth/refresh", json={"refresh_token": first["refresh_token"]}, headers=anonymous)
        assert reuse.status_code == 401
        bodies.append(reuse.text)
        out = await admin.post("/auth/logout", json={"refresh_token": second["refresh_token"]}, headers=anonymous)
        assert out.status_code == 204
        revoked = await admin.get("/auth/me", headers={"Authorization": f"Bearer {second['refresh_token']}"})
        bodies.append(revoked.text)

        browser = await admin.post("/auth/login", data={"username": unique, "password": PASSWORD}, headers=anonymous)
        secrets += [admin.cookies["luna_session"], admin.cookies["luna_refresh"], browser.json()["csrf_token"]]
        assert (await admin.post("/auth/logout", headers=anonymous)).status_code == 204

        key = (await admin.post("/admin/api-keys", json={"user": unique, "name": "ci"})).json()["key"]
        created = (await admin.post("/admin/agents", json={"agent_id": unique, "site_id": f"{unique}-site"})).json()
        rotated = (await admin.post(f"/admin/agents/{unique}/rotate-key")).json()
        secrets += [key, created["key"], rotated["key"]]
        agent = Agent(unique, f"{unique}-site", rotated["key"], f"meter-{unique}")
        assert (await post(admin, batch(agent, 0, 9), rotated["key"])).status_code == 200
        refused = await post(admin, batch(agent, 10, 19), created["key"])  # the key rotated away
        assert refused.status_code == 401
        bodies.append(refused.text)

        monkeypatch.setattr(controllers, "principal_of", _upload_timed_out)
        failed = await admin.get("/auth/me", headers={"Authorization": f"Bearer {key}"})
        assert failed.status_code == 500
        bodies.append(failed.text)

    logged = log_stream.getvalue()
    assert "TimeoutError: indexing timed out for Bearer [redacted]" in logged  # the failure is logged ...
    assert "settings =" not in logged  # ... without its local variables
    assert "HubSettings(" not in logged
    for secret in secrets:
        assert secret not in logged
        for body in bodies:
            assert secret not in body


@pytest.mark.parametrize("log_stream", [LogFormat.JSON], indirect=True)
def test_secret_named_fields_and_headers_are_redacted(log_stream: io.StringIO) -> None:
    log = get_logger("luna.test")
    log.info(
        "request",
        headers=[(b"authorization", b"Bearer abc"), (b"accept", b"*/*")],
        password="p",  # noqa: S106 - what must not be logged
        jwt_secret="s",  # noqa: S106
        key_file="var/agent/agent.key",
        detail={"refresh_token": "r", "user": "alice"},
    )
    logging.getLogger("uvicorn.error").warning("token=%s from %s", "t0ps3cret", "10.0.0.1")
    first, second = log_stream.getvalue().splitlines()
    assert "abc" not in first
    assert '"password": "[redacted]"' in first
    assert '"jwt_secret": "[redacted]"' in first
    assert "var/agent/agent.key" in first
    assert "alice" in first
    assert '"r"' not in first
    assert "t0ps3cret" not in second
    assert "10.0.0.1" in second


def test_text_patterns() -> None:
    assert redact_text("luna_0123abcd_" + "x" * 43) == f"luna_0123abcd_{REDACTED}"
    assert redact_text("key lak_" + "y" * 43 + " sent") == f"key lak_{REDACTED} sent"
    assert redact_text("jwt eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl!") == f"jwt {REDACTED}!"
    assert (
        redact_text("AuthSettings(jwt_secret='abc', required=True)")
        == f"AuthSettings(jwt_secret='{REDACTED}', required=True)"
    )
    assert redact_text("postgresql://luna:pw@db:5432/luna") == f"postgresql://luna:{REDACTED}@db:5432/luna"
    assert redact_text("postgresql://luna@db/luna") == "postgresql://luna@db/luna"
    assert redact_text("{'x-api-key': 'abc'}") == f"{{'x-api-key': '{REDACTED}'}}"
    assert [is_secret_name(name) for name in ("Authorization", "refresh_token", "key", "key_id", "token_file")] == [
        True,
        True,
        True,
        False,
        False,
    ]
