-- Rollup tables kept current by the hub (see luna_hub.timeseries.rollups).
-- Each row summarises the readings of one meter/metric whose quality is not 'bad' in one bucket:
-- count, sum, min, max, the first and last reading, and ``intra_delta``, the counter increase
-- between consecutive readings inside the bucket (a decrease counts as a reset: the new value
-- is the increase). Increases across bucket borders are added when buckets are combined, so
-- any coarser bucket computed from these rows equals the same aggregate over raw readings.
--
-- rollup_15m and rollup_1h are aligned on UTC; rollup_1d on local days of the hub's
-- rollup time zone (recorded in rollup_settings). Other zones are served from 1h or 15m rows.

CREATE TABLE rollup_settings (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    timezone   text NOT NULL,
    engine     text NOT NULL DEFAULT 'plain' CHECK (engine IN ('plain', 'timescaledb'))
);

-- The zone comes from the hub's settings (rollup_timezone) at the first migration.
INSERT INTO rollup_settings (timezone) VALUES ('{rollup_timezone}');

CREATE TABLE rollup_15m (
    meter_id text NOT NULL, metric text NOT NULL, bucket timestamptz NOT NULL,
    n bigint NOT NULL, total double precision NOT NULL,
    vmin double precision NOT NULL, vmax double precision NOT NULL,
    first_ts timestamptz NOT NULL, first_value double precision NOT NULL,
    last_ts timestamptz NOT NULL, last_value double precision NOT NULL,
    intra_delta double precision NOT NULL,
    PRIMARY KEY (meter_id, metric, bucket)
);
CREATE TABLE rollup_1h (LIKE rollup_15m INCLUDING ALL);
CREATE TABLE rollup_1d (LIKE rollup_15m INCLUDING ALL);

-- Ranges written since their rollups were last refreshed; the bulk writer adds, the refresher takes.
CREATE TABLE rollup_dirty (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    meter_id text NOT NULL,
    metric   text NOT NULL,
    from_ts  timestamptz NOT NULL,
    to_ts    timestamptz NOT NULL
);

CREATE INDEX market_prices_by_time ON market_prices (market, ts);
