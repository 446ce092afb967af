-- Model audit log: every call of an embedding or chat model, append-only and hash-chained.
-- row_hash = sha256(prev_hash || canonical JSON of the row's other columns), computed by the hub
-- (luna_hub.audit.services) under an exclusive lock, so rows form one chain in call_id order;
-- `luna-hub audit verify` recomputes it and names the first row that does not match.
CREATE TABLE model_calls (
    call_id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at                timestamptz NOT NULL,
    actor             text NOT NULL,
    endpoint          text NOT NULL,
    operation         text NOT NULL CHECK (operation IN ('embed', 'generate')),
    model             text NOT NULL,
    model_digest      text NOT NULL,
    params            jsonb NOT NULL DEFAULT '{}',
    prompt            text NOT NULL,
    answer            text NOT NULL DEFAULT '',
    chunks            jsonb NOT NULL DEFAULT '[]',
    latency_ms        double precision NOT NULL,
    prompt_tokens     integer,
    completion_tokens integer,
    prev_hash         text NOT NULL,
    row_hash          text NOT NULL UNIQUE
);
CREATE INDEX model_calls_by_time ON model_calls (at);
CREATE INDEX model_calls_by_actor ON model_calls (actor, at);

CREATE FUNCTION model_calls_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'model_calls is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER model_calls_append_only BEFORE UPDATE OR DELETE ON model_calls
    FOR EACH ROW EXECUTE FUNCTION model_calls_is_append_only();
CREATE TRIGGER model_calls_no_truncate BEFORE TRUNCATE ON model_calls
    FOR EACH STATEMENT EXECUTE FUNCTION model_calls_is_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON model_calls FROM PUBLIC;
