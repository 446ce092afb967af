"""Users and API keys: creating them, and checking a presented key (the seam later roles build on)."""

from luna_hub.auth.guards import api_key_guard
from luna_hub.auth.services import ApiKeyCreated, Principal, create_api_key, create_user, verify_api_key

__all__ = ["ApiKeyCreated", "Principal", "api_key_guard", "create_api_key", "create_user", "verify_api_key"]
