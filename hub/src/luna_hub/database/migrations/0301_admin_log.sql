-- Admin log (issue 17): users, keys and agents created, changed, revoked, and failed logins.
-- Append-only like model_calls (the one trigger function of migration 0008) and hash-chained:
-- row_hash = sha256(prev_hash || canonical JSON of the row), so `luna-hub audit verify` finds a
-- row changed or removed behind the database's back.
CREATE TABLE admin_log (
    entry_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    action     text NOT NULL,
    target     text NOT NULL DEFAULT '',
    details    jsonb NOT NULL DEFAULT '{}',
    prev_hash  text NOT NULL,
    row_hash   text NOT NULL UNIQUE
);
CREATE INDEX admin_log_by_time ON admin_log (at);

CREATE TRIGGER admin_log_append_only BEFORE UPDATE OR DELETE ON admin_log
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER admin_log_no_truncate BEFORE TRUNCATE ON admin_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
REVOKE UPDATE, DELETE, TRUNCATE ON admin_log FROM PUBLIC;
