"""Who may call which route: one table, applied to every request by :func:`luna_hub.auth.guards.policy_guard`.

Each route of the served OpenAPI schema (method, path template) has exactly one rule; a route the
table does not name is refused (403) and fails the authorization-matrix test, so a new route
cannot ship without one. Roles: ``admin`` everything; ``analyst`` every site's data, loads,
documents, embeddings; ``user`` the meters and agents of its sites, market prices, documents,
questions; ``agent`` only ``POST /api/v1/ingest`` for its own site (checked by the sync domain,
which verifies the agent key itself on its hot path). ``GET /metrics`` also takes the scrape token.

Rows are scoped by the handlers, not here: ``GET /agents`` lists the caller's sites' agents,
documents uploaded with a site are 404 to users of other sites, and ``POST /rag/ask`` quotes only
meters and documents the caller may read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from luna_hub.auth.schemas import Role

__all__ = ["POLICY", "Rule", "rule_for"]


@dataclass(frozen=True, slots=True)
class Rule:
    """What a route needs: nothing (``public``), an agent key checked by its handler, or one of ``roles``."""

    roles: frozenset[Role] = frozenset()
    public: bool = False
    agent_key: bool = False
    """The handler authenticates the agent key (and its site) itself."""
    site_query: str | None = None
    """A query parameter naming meters: each must be at a site the caller may read."""
    site_param: str | None = None
    """A query parameter naming a site (optional): the caller must be able to read it."""
    scrape_token: bool = False
    """The scrape token of ``metrics.bearer_token_file`` is accepted too (Prometheus has no user)."""
    site_path: str | None = None
    """A path parameter naming a site the caller must be a user of (analysts and admins: any)."""


PUBLIC: Final = Rule(public=True)
AGENT: Final = Rule(agent_key=True)
ADMIN: Final = Rule(roles=frozenset({"admin"}))
ANALYST: Final = Rule(roles=frozenset({"admin", "analyst"}))
SIGNED_IN: Final = Rule(roles=frozenset({"admin", "analyst", "user"}))
SCRAPER: Final = Rule(roles=frozenset({"admin"}), scrape_token=True)
SITE_READER: Final = Rule(roles=frozenset({"admin", "analyst", "user"}), site_query="meter")
SITE_MEMBER: Final = Rule(roles=frozenset({"admin", "analyst", "user"}), site_path="site")
SITE_LOADER: Final = Rule(roles=frozenset({"admin", "analyst"}), site_param="site")

POLICY: Final[dict[tuple[str, str], Rule]] = {
    # system
    ("GET", "/"): PUBLIC,  # the landing page: version, database engine, whether credentials are required
    ("GET", "/health"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/metrics"): SCRAPER,
    # agents deliver
    ("POST", "/api/v1/ingest"): AGENT,
    ("GET", "/agents"): SIGNED_IN,
    # readings and prices
    ("GET", "/data/query"): SITE_READER,
    ("GET", "/data/completeness"): SITE_READER,
    ("POST", "/data/load"): SITE_LOADER,
    ("GET", "/catalog"): SIGNED_IN,
    # documents and questions
    ("GET", "/documents"): SIGNED_IN,
    ("POST", "/documents"): ANALYST,
    ("GET", "/documents/{document_id}"): SIGNED_IN,
    ("DELETE", "/documents/{document_id}"): ANALYST,
    ("GET", "/documents/{document_id}/file"): SIGNED_IN,
    ("POST", "/rag/ask"): SIGNED_IN,
    ("POST", "/embed"): ANALYST,
    # energy: cheapest windows (market prices), a site's devices and actions
    ("GET", "/energy/windows"): SIGNED_IN,
    ("GET", "/sites/{site}/energy"): SITE_MEMBER,
    ("PUT", "/sites/{site}/energy"): SITE_MEMBER,
    ("GET", "/sites/{site}/devices"): SITE_MEMBER,
    ("POST", "/sites/{site}/devices"): SITE_MEMBER,
    ("DELETE", "/sites/{site}/devices/{device_id}"): SITE_MEMBER,
    ("GET", "/sites/{site}/actions"): SITE_MEMBER,
    ("POST", "/sites/{site}/actions/{action_id}/dismiss"): SITE_MEMBER,
    ("GET", "/sites/{site}/actions/{action_id}/outcome"): SITE_MEMBER,
    # items, events and recommendations (a plain user sends and asks for itself only: checked by the services)
    ("POST", "/items"): ANALYST,
    ("POST", "/events"): SIGNED_IN,
    ("GET", "/recommend"): SIGNED_IN,
    ("GET", "/recommend/explain"): SIGNED_IN,
    # audit logs
    ("GET", "/audit"): ADMIN,
    # signing in
    ("POST", "/auth/token"): PUBLIC,
    ("POST", "/auth/login"): PUBLIC,
    ("POST", "/auth/refresh"): PUBLIC,
    ("POST", "/auth/logout"): PUBLIC,
    ("GET", "/auth/me"): SIGNED_IN,
    # administration
    ("GET", "/admin/users"): ADMIN,
    ("POST", "/admin/users"): ADMIN,
    ("PATCH", "/admin/users/{name}"): ADMIN,
    ("GET", "/admin/api-keys"): ADMIN,
    ("POST", "/admin/api-keys"): ADMIN,
    ("DELETE", "/admin/api-keys/{key_id}"): ADMIN,
    ("GET", "/admin/agents"): ADMIN,
    ("POST", "/admin/agents"): ADMIN,
    ("POST", "/admin/agents/{agent_id}/rotate-key"): ADMIN,
    ("DELETE", "/admin/agents/{agent_id}"): ADMIN,
    # alerts and operations
    ("GET", "/alerts"): ANALYST,
    ("GET", "/alerts/silences"): ANALYST,
    ("POST", "/alerts/silences"): ADMIN,
    ("DELETE", "/alerts/silences/{silence_id}"): ADMIN,
    ("POST", "/alerts/test"): ADMIN,
    ("POST", "/ops/backups"): ADMIN,
    # the dashboard (its page, sign-in page and files are not in the OpenAPI schema)
    ("GET", "/admin"): ADMIN,
    ("GET", "/admin/login"): PUBLIC,
    ("GET", "/admin/static/{name}"): PUBLIC,
    ("GET", "/admin/snapshot"): ADMIN,
    ("GET", "/admin/stream"): ADMIN,
}

_OPEN_PREFIXES: Final = ("/schema",)
"""The OpenAPI documents and viewers (not themselves in the schema)."""


def rule_for(method: str, path_template: str) -> Rule | None:
    """Return the rule of a route; None when the table does not name it (the guard then refuses the request)."""
    if method == "OPTIONS":  # Litestar's automatic answer listing the methods, and CORS preflights
        return PUBLIC
    if path_template.startswith(_OPEN_PREFIXES):
        return PUBLIC
    return POLICY.get(("GET" if method == "HEAD" else method, path_template))
