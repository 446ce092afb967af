"""Schemathesis over every operation of the served OpenAPI schema: no input answers 5xx (issue 16).

Each operation gets cases from its schema (valid and schema-violating), and hypothesis then makes
them hostile: parameters replaced by NUL bytes, 400-digit numbers, calendar edges, path tricks and
long or odd Unicode; JSON bodies nested thousands deep or holding huge numbers; raw bodies for the
routes that read the request stream. Seeded (``derandomize``), so a run is repeatable. The hub runs
in process with its default settings (auth required), called as an admin (``ready_client`` sends an
admin's API key), so every route's handler is reached; who may call what is ``tests/hub/auth/test_matrix.py``'s.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from litestar import Litestar
from litestar.testing import AsyncTestClient
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import APIOperation

from luna_hub.app import create_app
from luna_hub.problems import PROBLEM_JSON
from luna_hub.settings import HubSettings

Client = AsyncTestClient[Litestar]
Operation = APIOperation[Any, Any, Any, Any]
EXAMPLES_PER_OPERATION = 100
BASE = "http://testserver.local"

# The schema the hub serves; building the app connects to nothing.
SCHEMA = schemathesis.openapi.from_dict(
    create_app(HubSettings(database_url="postgresql://unused@127.0.0.1:1/unused")).openapi_schema.to_schema()
)
OPERATIONS: list[Operation] = [
    operation
    for operation in (result.ok() for result in SCHEMA.get_all_operations())  # type: ignore[union-attr]
    if operation.path != "/admin/stream"  # a live stream ends when the client leaves (tests/hub/dashboard/)
]


calendar_edges = st.sampled_from(
    ["0001-01-01", "0001-01-01T00:00:00+14:00", "9999-12-31", "9999-12-31T23:59:59-14:00", "2024-02-30", "0000-00-00"]
)
hostile_strings = st.one_of(
    calendar_edges,
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            "9" * 400,
            "-" + "9" * 400,
            "9223372036854775808",
            "-9223372036854775809",
            "2147483648",
            "1e400",
            "NaN",
            "-0",
            "../../etc/passwd",
            "%00",
            "%ff",
            "\u202e\u200b",
            "😀" * 50,
            "x" * 5000,
            "' OR 1=1 --",
            "",
            " ",
        ]
    ),
    st.text(st.characters(codec="utf-8"), max_size=30),
)
hostile_numbers = st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 2**31, -1, 0, 1e308, -1e308])
hostile_scalars = hostile_strings | hostile_numbers


@st.composite
def deep_json(draw: st.DrawFn) -> bytes:
    """JSON arrays or objects nested around a hostile scalar, written as bytes (Python's encoders would recurse)."""
    depth = draw(st.sampled_from([2, 63, 65, 1000, 5000]))
    scalar = msgspec.json.encode(draw(hostile_scalars))
    if draw(st.booleans()):
        return b"[" * depth + scalar + b"]" * depth
    return b'{"k":' * depth + scalar + b"}" * depth


raw_bodies = st.tuples(
    st.one_of(
        st.binary(max_size=200),
        deep_json(),
        st.sampled_from(
            [
                b"ts,price\n9999-12-31T23:59:00Z,1\n",
                b"ts,price\n2024-01-01T00:00Z," + b"9" * 400 + b"\n",
                b'{"readings": [{"meter_id": "m", "metric": "power_w", "ts": "2024-01-01T00:00:00Z", "value": 1e400}]}',
                b'{"readings": [{"meter_id": "m", "metric": "power_w", "ts": "2024-01-01T00:00:00Z", "value": '
                + b"9" * 400
                + b"}]}",
                b"\xff\xfe\x00\x00garbage",
            ]
        ),
    ),
    st.sampled_from(["application/json", "text/csv", "text/plain", "application/octet-stream", "application/msgpack"]),
)


@st.composite
def hostile(draw: st.DrawFn, operation: Operation) -> dict[str, Any]:
    """A case of ``operation`` from its schema (valid or not), then one parameter or its body made hostile.

    One at a time: with every parameter hostile at once the first one checked would answer 400 for all.
    """
    mode = draw(st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]))
    case = draw(operation.as_strategy(mode))
    targets = [("path", p.name) for p in operation.path_parameters] + [("query", p.name) for p in operation.query]
    targets += [("query", "unknown"), ("body", "")]
    where, name = draw(st.sampled_from(targets))
    if where == "path":
        case.path_parameters = {**(case.path_parameters or {}), name: draw(hostile_scalars)}
    elif where == "query":
        case.query = {**(case.query or {}), name: draw(hostile_scalars)}
    kwargs = case.as_transport_kwargs(base_url=BASE)
    kwargs["url"] = quote(kwargs["url"].removeprefix(BASE), safe="/%")  # httpx refuses raw control characters
    if "json" in kwargs:  # encode here: httpx's JSON encoder refuses 400-digit ints and infinities
        kwargs["content"] = msgspec.json.encode(kwargs.pop("json"))
        if where == "body":
            kwargs["content"] = b'{"question": "x", "texts": ["x"], "document_ids": ' + draw(deep_json()) + b"}"
    if kwargs.get("data") is None or isinstance(kwargs["data"], str | bytes):  # raw bytes are httpx's content
        data_ = kwargs.pop("data", None)
        if data_ is not None:
            kwargs["content"] = data_
    if kwargs.get("files"):  # httpx sends str and bytes parts only
        kwargs["files"] = [
            (name, part if isinstance(part[1], str | bytes) else (part[0], msgspec.json.encode(part[1])))
            for name, part in kwargs["files"]
        ]
    kwargs["headers"] = {k: v for k, v in kwargs["headers"].items() if k.lower() != "connection"}
    has_body = any(key in kwargs for key in ("content", "files", "data"))
    if operation.method.upper() == "POST" and not has_body and where == "body":
        content, content_type = draw(raw_bodies)
        kwargs["content"] = content
        kwargs["headers"]["Content-Type"] = content_type
    return kwargs


@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.label for operation in OPERATIONS])
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the seed repeats the failing case as it is
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=st.data())
async def test_no_input_answers_5xx(hub: Client, operation: Operation, data: st.DataObject) -> None:
    request = data.draw(hostile(operation))
    kwargs = {key: value for key, value in request.items() if key != "cookies"}
    response = await hub.request(**kwargs)
    assert response.status_code < 500, (
        f"{operation.label}: {response.status_code} {response.text[:300]} for {kwargs!r:.600}"
    )
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM_JSON, response.text[:300]


@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream"])
async def test_a_huge_number_in_a_loaded_json_file_is_no_5xx(hub: Client, content_type: str) -> None:
    body = b'{"readings": [{"meter_id": "m", "metric": "power_w", "ts": "2024-01-01T00:00:00Z", "value": '
    response = await hub.post("/data/load", content=body + b"9" * 400 + b"}]}", headers={"Content-Type": content_type})
    assert response.status_code < 500


async def test_a_deeply_nested_loaded_json_file_is_no_5xx(hub: Client) -> None:
    body = b'{"prices": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    response = await hub.post("/data/load", content=body, headers={"Content-Type": "text/plain"})
    assert response.status_code < 500


async def test_year_one_in_a_series_query_is_no_5xx(hub: Client) -> None:
    response = await hub.get("/data/query", params={"market": "DE-LU", "start": "0001-01-01", "end": "0001-01-02"})
    assert response.status_code < 500
