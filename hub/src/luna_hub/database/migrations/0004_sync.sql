-- Store-and-forward sync (issue 5): per-agent keys, the ledger of batches received from agents,
-- and what the hub knows about each agent (clock offset, backlog, counters).

ALTER TABLE agents
    ADD COLUMN clock_offset_ms    bigint,       -- hub receive time minus the agent's send time, last batch
    ADD COLUMN max_reading_ts     timestamptz,  -- latest reading time received; earlier ones arrive "backfilled"
    ADD COLUMN last_acked_seq     bigint,       -- highest sequence number acknowledged to the agent
    ADD COLUMN batches            bigint NOT NULL DEFAULT 0,
    ADD COLUMN readings           bigint NOT NULL DEFAULT 0,  -- readings newly stored from this agent
    ADD COLUMN duplicates         bigint NOT NULL DEFAULT 0,
    ADD COLUMN backfilled         bigint NOT NULL DEFAULT 0,
    -- from the agent's last status report (status.v1)
    ADD COLUMN status_at          timestamptz,
    ADD COLUMN version            text,
    ADD COLUMN clock_trusted      boolean,
    ADD COLUMN backlog            bigint,
    ADD COLUMN oldest_unsynced_at timestamptz,
    ADD COLUMN agent_last_ack_at  timestamptz,
    ADD COLUMN devices            jsonb NOT NULL DEFAULT '[]';

-- Only a SHA-256 of each key is stored; the prefix finds the row without scanning hashes.
CREATE TABLE agent_keys (
    key_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id    text NOT NULL REFERENCES agents (agent_id),
    prefix      text NOT NULL UNIQUE,
    key_hash    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- One row per batch range received (replays of the same range are answered from here);
-- the missing sequence ranges of an agent are the holes between its rows.
CREATE TABLE ingest_batches (
    agent_id        text NOT NULL REFERENCES agents (agent_id),
    first_seq       bigint NOT NULL,
    last_seq        bigint NOT NULL,
    content_hash    text NOT NULL,
    sent_at         timestamptz NOT NULL,
    received_at     timestamptz NOT NULL,
    stored          integer NOT NULL,
    duplicates      integer NOT NULL,
    backfilled      integer NOT NULL DEFAULT 0,
    clock_offset_ms bigint NOT NULL,
    PRIMARY KEY (agent_id, first_seq, last_seq),
    CHECK (first_seq <= last_seq)
);
-- Finds the entries overlapping a new range: those ending at or after its start.
CREATE INDEX ingest_batches_by_last_seq ON ingest_batches (agent_id, last_seq);
