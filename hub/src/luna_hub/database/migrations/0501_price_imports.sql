-- Runs of the automatic day-ahead price import (issue 19): one row per attempt at one delivery day.
-- status: 'complete' (the day's prices are all stored), 'incomplete' (published in part or not yet),
-- 'failed' (the source could not be read). Retries back off by the failures since the last success.
CREATE TABLE price_import_runs (
    run_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    market       text NOT NULL,
    source       text NOT NULL,
    day          date NOT NULL,
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('complete', 'incomplete', 'failed')),
    stored       integer NOT NULL DEFAULT 0,
    duplicates   integer NOT NULL DEFAULT 0,
    error        text
);
CREATE INDEX price_import_runs_by_day ON price_import_runs (market, day, finished_at);
