"""Versioned SQL files, applied by :mod:`luna_hub.database.migrate`."""

__all__: list[str] = []
