"""``/schema``: the OpenAPI viewer loads only files the hub serves itself (no CDN), under a same-origin CSP."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.resources import files
from urllib.parse import urlsplit

from luna_hub.settings import HubSettings
from luna_shared.apidocs import SWAGGER_UI_VERSION
from support.hub import ready_client


class _Refs(HTMLParser):
    """Every URL the page loads: script src, link href, img src."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        wanted = {"script": "src", "link": "href", "img": "src"}.get(tag)
        self.urls += [value or "" for name, value in attrs if name == wanted and value]


async def test_the_viewer_references_only_same_origin_assets_that_answer_200(hub_dsn: str) -> None:
    async with ready_client(HubSettings(database_url=hub_dsn), as_admin=False) as client:
        page = await client.get("/schema")
        refs = _Refs()
        refs.feed(page.text)
        assets = {url: await client.get(url) for url in refs.urls}
        unknown = await client.get("/schema/assets/swagger-ui.js.map")
    assert page.status_code == 200
    assert "SwaggerUIBundle(" in page.text
    readme = files("luna_shared.apidocs").joinpath("swagger-ui", "README.md").read_text(encoding="utf-8")
    assert f"swagger-ui-dist@{SWAGGER_UI_VERSION}" in readme  # the version said is the version vendored
    assert len(refs.urls) == 4  # bundle, preset, styles, icon
    assert [url for url in refs.urls if urlsplit(url).netloc or not url.startswith("/schema/assets/")] == []
    assert {url: response.status_code for url, response in assets.items()} == dict.fromkeys(refs.urls, 200)
    bundle = assets["/schema/assets/swagger-ui-bundle.js"]
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert len(bundle.content) > 1_000_000  # the real minified bundle, not a placeholder
    assert unknown.status_code == 404
    csp = page.headers["content-security-policy"]
    assert "https:" not in csp
    assert re.search(r"script-src 'self' 'unsafe-inline';", csp)
