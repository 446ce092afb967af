"""PostgreSQL access: the connection pool and the embedded server used when no URL is configured."""

from luna_hub.database.embedded import EmbeddedPostgres
from luna_hub.database.pool import close_pool, create_pool, describe_dsn

__all__ = ["EmbeddedPostgres", "close_pool", "create_pool", "describe_dsn"]
