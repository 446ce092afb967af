"""Items and the events users send about them: POST /items, POST /events."""

__all__: list[str] = []
