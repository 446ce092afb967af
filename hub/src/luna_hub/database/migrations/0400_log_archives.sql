-- Log files the hub rotated and copied to the object store, so retention can find and delete them
-- (the object store lists versions of a key, not keys). One row per archived file.
CREATE TABLE log_archives (
    object_key   text PRIMARY KEY,
    version_id   text NOT NULL,
    host         text NOT NULL,
    first_at     timestamptz NOT NULL,
    bytes        bigint NOT NULL CHECK (bytes >= 0),
    lines        bigint NOT NULL CHECK (lines >= 0),
    archived_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX log_archives_archived_at ON log_archives (archived_at);
