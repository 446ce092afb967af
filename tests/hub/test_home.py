"""``GET /``: the landing page, public, script-free, under a strict Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

from luna_hub import __version__
from luna_hub.home import PROJECT_URL
from luna_hub.settings import AuthSettings, HubSettings
from support.hub import ready_client


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.styles: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_style = tag == "style"
        self.links += [value or "" for name, value in attrs if name == "href"]
        assert not [name for name, _ in attrs if name.startswith("on")], "no inline handlers"

    def handle_endtag(self, tag: str) -> None:  # noqa: ARG002 - any end tag closes the style block
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.styles.append(data)


async def test_the_landing_page_says_what_runs_and_links_onward_without_a_credential(hub_dsn: str) -> None:
    async with ready_client(HubSettings(database_url=hub_dsn), as_admin=False) as client:
        response = await client.get("/")
        catalog = await client.get("/catalog")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = _Page()
    page.feed(response.text)
    assert "script" not in page.tags
    assert page.links == ["/admin", "/schema", "/catalog", PROJECT_URL]
    assert f"<dd>{__version__}</dd>" in response.text
    assert "PostgreSQL (LUNA_DATABASE_URL)" in response.text
    assert "required for every route" in response.text
    assert catalog.status_code == 401  # what the page links to still asks for a credential
    csp = dict(part.strip().split(" ", 1) for part in response.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert "script-src" not in csp  # falls back to 'none'
    (style,) = page.styles
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert csp["style-src"] == f"'sha256-{digest}'"


async def test_the_landing_page_says_when_credentials_are_off(hub_dsn: str) -> None:
    settings = HubSettings(database_url=hub_dsn, auth=AuthSettings(required=False))
    async with ready_client(settings, as_admin=False) as client:
        response = await client.get("/")
    assert re.search(r"<dt>Credentials</dt><dd>off", response.text)
