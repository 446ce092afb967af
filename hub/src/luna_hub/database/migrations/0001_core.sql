-- Core schema: places, devices, people, content, readings, prices, events, audit.
-- Readings carry no foreign key to meters: the ingest path upserts the meter first, and a
-- hypertable (TimescaleDB path) with a foreign key on every chunk would slow bulk loads.

CREATE TABLE sites (
    site_id     text PRIMARY KEY,
    name        text NOT NULL DEFAULT '',
    timezone    text NOT NULL DEFAULT 'Europe/Berlin',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    agent_id     text PRIMARY KEY,
    site_id      text REFERENCES sites (site_id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz
);

CREATE TABLE meters (
    meter_id    text PRIMARY KEY,
    site_id     text REFERENCES sites (site_id),
    agent_id    text REFERENCES agents (agent_id),
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Which metrics a meter delivers, in which unit and of which kind (luna_shared.vocabulary).
CREATE TABLE meter_metrics (
    meter_id  text NOT NULL REFERENCES meters (meter_id),
    metric    text NOT NULL,
    unit      text NOT NULL,
    kind      text NOT NULL CHECK (kind IN ('gauge', 'counter', 'state')),
    PRIMARY KEY (meter_id, metric)
);

CREATE TABLE smart_meter_readings (
    meter_id    text NOT NULL,
    metric      text NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision,
    unit        text NOT NULL,
    quality     text NOT NULL DEFAULT 'good' CHECK (quality IN ('good', 'suspect', 'bad')),
    reasons     text[] NOT NULL DEFAULT '{}',
    agent_id    text,
    seq         bigint,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, metric, ts)
);

CREATE TABLE market_prices (
    market      text NOT NULL,
    ts          timestamptz NOT NULL,
    resolution  interval NOT NULL,
    price       double precision NOT NULL,
    unit        text NOT NULL DEFAULT 'EUR/MWh',
    source      text NOT NULL DEFAULT '',
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (market, resolution, ts)
);

-- Files loaded through POST /data/load or `luna-hub load`, by content hash, with their report.
CREATE TABLE loaded_files (
    sha256      text PRIMARY KEY,
    name        text NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    report      jsonb NOT NULL
);

CREATE TABLE users (
    user_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username     text NOT NULL UNIQUE,
    display_name text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Only a SHA-256 of each key is stored; the prefix finds the row without scanning hashes.
CREATE TABLE api_keys (
    key_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (user_id),
    name        text NOT NULL,
    prefix      text NOT NULL UNIQUE,
    key_hash    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Documents and other recommendable content (filled by later issues).
CREATE TABLE items (
    item_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        text NOT NULL,
    title       text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Things that happened at a site or meter (outages, tariff changes, alarms); filled by later issues.
CREATE TABLE events (
    event_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id     text REFERENCES sites (site_id),
    meter_id    text REFERENCES meters (meter_id),
    kind        text NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz,
    payload     jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX events_by_time ON events (starts_at);

-- Append-only: the trigger below refuses UPDATE, DELETE and TRUNCATE, even for the owner
-- (a REVOKE would not bind the owner or a superuser).
CREATE TABLE audit_log (
    audit_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    target      text NOT NULL DEFAULT '',
    details     jsonb NOT NULL DEFAULT '{}'
);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_is_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
