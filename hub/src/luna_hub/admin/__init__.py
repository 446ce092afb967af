"""Administration over HTTP (admins only): users, API keys and agents, each change in the audit log."""

from luna_hub.admin.controllers import AdminController

__all__ = ["AdminController"]
