"""The OpenAPI viewer under ``/schema`` of the hub and the agent, with its files served by the program itself.

Swagger UI (``swagger-ui/``, see its README) loads from ``/schema/assets/``, not a CDN: an offline
site still sees its API documentation, and the docs' Content-Security-Policy
(:data:`luna_shared.headers.DOCS_CSP`) allows this origin only. Needs Litestar (the programs that serve HTTP).
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Final

from litestar import Response, get
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.params import FromPath

__all__ = ["ASSETS", "SWAGGER_UI_VERSION", "openapi_config", "swagger_asset"]

SWAGGER_UI_VERSION: Final = "5.35.0"
ASSETS: Final = "/schema/assets"
_MEDIA_TYPES: Final = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui-standalone-preset.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


def openapi_config(title: str, version: str) -> OpenAPIConfig:
    """Serve Swagger UI from this program at ``/schema`` (and ``/schema/swagger``), the documents beside it."""
    viewer = SwaggerRenderPlugin(
        version=SWAGGER_UI_VERSION,
        js_url=f"{ASSETS}/swagger-ui-bundle.js",
        css_url=f"{ASSETS}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS}/swagger-ui-standalone-preset.js",
        favicon=f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>",
        path=["/", "/swagger"],
    )
    return OpenAPIConfig(title=title, version=version, path="/schema", render_plugins=[viewer])


@cache
def _read(name: str) -> bytes:
    return files("luna_shared.apidocs").joinpath("swagger-ui", name).read_bytes()


@get(f"{ASSETS}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def swagger_asset(name: FromPath[str]) -> Response[bytes]:
    """Serve one of the viewer's files (fixed for a given version: cached for a day)."""
    media_type = _MEDIA_TYPES.get(name)
    if media_type is None:
        raise NotFoundException(detail=f"no asset {name!r}")
    return Response(_read(name), media_type=media_type, headers={"Cache-Control": "public, max-age=86400"})
