"""Identity and access: users, roles, API keys, tokens, and the one guard that applies the policy table."""

from luna_hub.auth.schemas import ApiKeyCreated, Principal, Role
from luna_hub.auth.services import create_api_key, create_user, verify_api_key

__all__ = ["ApiKeyCreated", "Principal", "Role", "create_api_key", "create_user", "verify_api_key"]
