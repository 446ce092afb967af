-- What each caller of POST /embed has left of rag.embed_chars_per_minute (issue 16), in the database so
-- that every hub replica spends from one budget (kept in one process's memory, N replicas allowed N
-- times the budget). A token bucket per caller: characters left as of updated_at, refilled at
-- per_minute / 60 a second; spent with one atomic upsert (luna_hub.rag.limits). A bucket untouched for
-- a minute is full again, so its row carries nothing and is pruned.
CREATE TABLE embed_budgets (
    caller     text PRIMARY KEY,
    chars_left double precision NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX embed_budgets_by_age ON embed_budgets (updated_at);
