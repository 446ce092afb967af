-- Written ranges whose rollups could not be refreshed (see luna_hub.timeseries.repository.refresh_dirty).
-- The refresher skips such a range instead of failing every later refresh, query and load, and keeps
-- it here with the error: /health reports how many there are, an operator can look and retry.
CREATE TABLE rollup_failures (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id  text NOT NULL,
    metric    text NOT NULL,
    from_ts   timestamptz NOT NULL,
    to_ts     timestamptz NOT NULL,
    error     text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);
