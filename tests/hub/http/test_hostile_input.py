"""Inputs that answered 500 (issue 16) are 400 problems now: NUL bytes, deep JSON, long numbers, broken UTF-8.

The reproductions run against the whole hub on PostgreSQL; the class of bug is checked by property tests of
the guard's checks and of the guard in front of a small app that records what reaches it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar import Litestar, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.testing import AsyncTestClient

from luna_hub.http import MAX_JSON_DEPTH, MAX_JSON_DIGITS, check_json_body, check_target, hostile_input_middleware
from luna_hub.problems import PROBLEM_JSON, exception_handlers

Client = AsyncTestClient[Litestar]
JSON = {"content-type": "application/json"}


def assert_bad_request(response: Any, *, naming: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == 400
    assert naming in problem["detail"]
    assert "x-request-id" in response.headers


# --- the reproductions, each a 500 before -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/documents/a%00b"),
        ("DELETE", "/documents/a%00b"),
        ("GET", "/data/query?meter=a%00b&metric=power_w&start=2024-01-01&end=2024-01-02"),
        ("GET", "/audit?actor=a%00b"),
        ("POST", "/data/load?market=DE-LU&name=a%00b.csv"),
    ],
)
async def test_a_nul_byte_in_a_path_or_query_is_a_400(hub: Client, method: str, url: str) -> None:
    response = await hub.request(method, url, content=b"ts,price\n2024-01-01T00:00Z,1\n")
    assert_bad_request(response, naming="NUL byte")


async def test_a_400_digit_number_in_json_is_a_400(hub: Client) -> None:
    value = "9" * 400
    body = f'{{"readings": [{{"meter_id": "m", "metric": "power_w", "ts": "2024-01-01T00:00:00Z", "value": {value}}}]}}'
    response = await hub.post("/data/load", content=body.encode(), headers=JSON)
    assert_bad_request(response, naming=f"more than {MAX_JSON_DIGITS} digits")


async def test_json_nested_thousands_deep_is_a_400(hub: Client) -> None:
    body = b'{"question": "x", "document_ids": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = await hub.post("/rag/ask", content=body, headers=JSON)
    assert_bad_request(response, naming=f"deeper than {MAX_JSON_DEPTH}")


async def test_invalid_utf8_in_a_question_is_a_400(hub: Client) -> None:
    response = await hub.post("/rag/ask", content=b'{"question": "\xff\xfe Strompreis"}', headers=JSON)
    assert_bad_request(response, naming="not valid UTF-8")


@pytest.mark.parametrize("stream", [False, True])
async def test_a_nul_escape_in_a_question_is_a_400(hub: Client, stream: bool) -> None:
    body = msgspec.json.encode({"question": "Strom\x00preis", "stream": stream})
    response = await hub.post("/rag/ask", content=body, headers=JSON)
    assert_bad_request(response, naming="\\u0000")


@pytest.mark.parametrize(
    "query",
    [
        "before=9223372036854775808",
        "before=" + "9" * 400,
        "since=9999-12-31T23:59:59-05:00",
        "until=0001-01-01T00:00:00%2B05:00",
    ],
)
async def test_audit_filters_beyond_bigint_or_the_calendar_are_a_400(hub: Client, query: str) -> None:
    response = await hub.get(f"/audit?{query}")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_ordinary_json_still_reaches_its_route(hub: Client) -> None:
    question = '[[{"Strompreis"}]] 99999999999999999999999999999999999999999999999 \\u0000'
    response = await hub.post("/rag/ask", json={"question": question})
    assert response.status_code == 200, response.text
    assert response.json()["question"] == question


# --- the class: the checks against a reference, and the guard in front of an app --------------------


def depth_of(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth_of(item) for item in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth_of(item) for item in value.values()), default=0)
    return 0


def digits_of(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        children = value if isinstance(value, list) else value.values() if isinstance(value, dict) else []
        return max((digits_of(child) for child in children), default=0)
    return len(str(abs(value)))


# Strings full of what a naive scanner would miscount: brackets, quotes, backslashes, digits, escapes.
tricky_text = st.text(alphabet=st.sampled_from('[]{}"\\u0123456789 aé€\n'), max_size=12)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**50), max_value=10**50),
    st.floats(allow_nan=False, allow_infinity=False),
    tricky_text,
)
json_values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(tricky_text, inner, max_size=3),
    max_leaves=12,
)


@st.composite
def nested(draw: st.DrawFn) -> Any:
    """A JSON value wrapped in 0..2x the depth limit of arrays and objects (the limit's edge is likely)."""
    value = draw(json_values)
    for kind in draw(st.lists(st.sampled_from(["list", "dict"]), max_size=2 * MAX_JSON_DEPTH + 2)):
        value = [value] if kind == "list" else {draw(tricky_text): value}
    return value


@given(nested())
def test_the_body_check_agrees_with_the_decoded_value(value: Any) -> None:
    reason = check_json_body(msgspec.json.encode(value))
    if digits_of(value) > MAX_JSON_DIGITS:
        assert reason is not None
        assert "digits" in reason
    elif depth_of(value) > MAX_JSON_DEPTH:
        assert reason is not None
        assert "deeper" in reason
    else:
        assert reason is None


@given(st.text(max_size=30), st.text(max_size=30))
def test_any_string_with_a_nul_is_refused_and_only_those(key: str, text: str) -> None:
    reason = check_json_body(msgspec.json.encode({key: [text]}))
    assert (reason is not None) == ("\x00" in key + text)


@given(st.binary(max_size=40))
def test_bytes_that_are_not_utf8_are_refused(data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert "UTF-8" in (check_json_body(b'["' + data + b'"]') or "")


@given(st.text(max_size=20), st.binary(max_size=20))
def test_a_target_is_refused_exactly_when_it_holds_a_nul(path: str, query: bytes) -> None:
    refused = check_target(path, query) is not None
    assert refused == ("\x00" in path or b"\x00" in query or b"%00" in query)


seen: list[Any] = []


@post("/echo")
async def echo(request: Request[Any, Any, Any]) -> Any:
    body = await request.json()
    seen.append(body)
    return {"value": body}  # wrapped: a bare null would be an empty response


@get("/echo/{name:str}")
async def echo_name(name: FromPath[str], q: FromQuery[str | None] = None) -> list[str | None]:
    seen.append(name)
    return [name, q]


@pytest.fixture
async def guarded() -> Any:
    app = Litestar(
        [echo, echo_name],
        middleware=[hostile_input_middleware],
        exception_handlers=exception_handlers,
        logging_config=None,
    )
    async with AsyncTestClient(app) as client:
        yield client


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=nested())
async def test_what_passes_the_guard_decodes_and_what_would_crash_is_a_400(guarded: Client, value: Any) -> None:
    response = await guarded.post("/echo", content=msgspec.json.encode(value), headers=JSON)
    if depth_of(value) > MAX_JSON_DEPTH or digits_of(value) > MAX_JSON_DIGITS:
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM_JSON
    else:
        assert response.status_code == 201, response.text
        assert response.json()["value"] == msgspec.json.decode(msgspec.json.encode(value))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(min_size=1, max_size=20).filter(lambda s: "/" not in s), q=st.text(max_size=20))
async def test_no_nul_reaches_a_handler_through_path_or_query(guarded: Client, name: str, q: str) -> None:
    seen.clear()
    response = await guarded.get(f"/echo/{quote(name, safe='')}", params={"q": q})
    assert response.status_code < 500
    if "\x00" in name + q:
        assert response.status_code == 400
        assert seen == []


async def test_a_compressed_or_non_json_body_is_left_to_its_route(guarded: Client) -> None:
    deep = b"[" * 100 + b"]" * 100
    response = await guarded.post("/echo", content=deep, headers={**JSON, "content-encoding": "gzip"})
    assert response.status_code != 400 or "deeper" not in response.text
    response = await guarded.post("/echo", content=deep, headers={"content-type": "text/plain"})
    assert "deeper" not in response.text
