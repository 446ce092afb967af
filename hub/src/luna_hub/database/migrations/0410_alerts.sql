-- Alerts (issue 18): the state of every alert the hub's rules raised, silences, the outbox of
-- notifications still to deliver, and the results the backup job reports.

-- One row per alert (its fingerprint: a hash of its labels). A condition seen is 'pending' until it
-- held for alerts.pending_s, then 'firing'; when it stops, 'resolved' (kept for GET /alerts a while).
-- notified: a firing notification went out for this episode, so its resolve is notified too (once).
CREATE TABLE alerts (
    fingerprint      text PRIMARY KEY,
    alertname        text NOT NULL,
    labels           jsonb NOT NULL,
    annotations      jsonb NOT NULL DEFAULT '{}',
    state            text NOT NULL CHECK (state IN ('pending', 'firing', 'resolved')),
    active_since     timestamptz NOT NULL,
    fired_at         timestamptz,
    resolved_at      timestamptz,
    notified         boolean NOT NULL DEFAULT false,
    last_notified_at timestamptz,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_by_state ON alerts (state, resolved_at);

-- Matchers: [{"name": ..., "value": ..., "is_regex": bool, "is_equal": bool}], all must match.
CREATE TABLE alert_silences (
    silence_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    matchers    jsonb NOT NULL,
    starts_at   timestamptz NOT NULL DEFAULT now(),
    ends_at     timestamptz NOT NULL,
    created_by  text NOT NULL,
    comment     text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at)
);
CREATE INDEX alert_silences_by_end ON alert_silences (ends_at);

-- One row per notification and receiver. Written in the transaction that changes the alerts' state;
-- the sender claims a due row by pushing next_attempt_at past its attempt, so a crash mid-send retries it.
CREATE TABLE alert_outbox (
    outbox_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel         text NOT NULL CHECK (channel IN ('webhook', 'email', 'alertmanager')),
    target          text NOT NULL,
    status          text NOT NULL CHECK (status IN ('firing', 'resolved')),
    kind            text NOT NULL DEFAULT 'notify' CHECK (kind IN ('notify', 'repeat', 'test')),
    body            jsonb NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    given_up_at     timestamptz,
    last_error      text
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE delivered_at IS NULL AND given_up_at IS NULL;

-- What the backup job reported (POST /ops/backups): one row per run and part (database, vectors, ...).
CREATE TABLE backup_reports (
    report_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    job         text NOT NULL,
    success     boolean NOT NULL,
    host        text NOT NULL DEFAULT '',
    message     text NOT NULL DEFAULT '',
    finished_at timestamptz NOT NULL,
    reported_by text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backup_reports_by_job ON backup_reports (job, finished_at DESC);

-- The counter-reset rule looks for readings an agent flagged; this index holds only those few.
CREATE INDEX smart_meter_readings_counter_resets ON smart_meter_readings (ts)
    WHERE 'counter_reset' = ANY (reasons);
