-- Readings set aside instead of blocking an agent's sync (issue 16), one row per sequence number:
--   side 'agent': the hub refused the reading on its own (400/422); the agent quarantined it
--                 locally and reported its seq in status.v1. The hub never stored it, so its seq
--                 is a hole in ingest_batches: /agents lists it as quarantined, not as a gap.
--   side 'hub':   the hub took the batch (its range is in the ledger) but set this reading aside
--                 (later than the hub's clock plus ingest.future_tolerance_s, or a clock
--                 correction beyond the calendar); the reading itself is kept in `reading`.
CREATE TABLE sync_quarantine (
    agent_id    text NOT NULL REFERENCES agents (agent_id),
    seq         bigint NOT NULL,
    side        text NOT NULL CHECK (side IN ('agent', 'hub')),
    reason      text NOT NULL,
    reading     jsonb,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, seq)
);
