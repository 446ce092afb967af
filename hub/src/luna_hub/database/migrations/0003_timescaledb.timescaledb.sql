-- Only where TimescaleDB is available (decided at migrate time; see luna_hub.database.migrate).
-- Readings and prices become hypertables; readings older than 30 days are compressed; the rollups
-- are continuous aggregates on the raw readings, with the same columns as the plain rollup tables,
-- except intra_delta (a counter's increase needs consecutive pairs, which a continuous aggregate
-- cannot see): on this path, ``delta`` is computed from raw readings.
-- Refresh policies look back 35 days, so late (backfilled) data inside that window is folded in
-- by TimescaleDB's invalidation log; the hub also refreshes the touched range after every load.

CREATE EXTENSION IF NOT EXISTS timescaledb;

SELECT create_hypertable('smart_meter_readings', by_range('ts', INTERVAL '7 days'), migrate_data => true);
SELECT create_hypertable('market_prices', by_range('ts', INTERVAL '180 days'), migrate_data => true);

ALTER TABLE smart_meter_readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'meter_id, metric',
    timescaledb.compress_orderby = 'ts'
);
SELECT add_compression_policy('smart_meter_readings', INTERVAL '30 days');

CREATE MATERIALIZED VIEW readings_15m WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT meter_id, metric, time_bucket(INTERVAL '15 minutes', ts) AS bucket,
       count(*) AS n, sum(value) AS total, min(value) AS vmin, max(value) AS vmax,
       min(ts) AS first_ts, first(value, ts) AS first_value, max(ts) AS last_ts, last(value, ts) AS last_value
FROM smart_meter_readings WHERE value IS NOT NULL AND quality <> 'bad'
GROUP BY meter_id, metric, time_bucket(INTERVAL '15 minutes', ts)
WITH NO DATA;

CREATE MATERIALIZED VIEW readings_1h WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT meter_id, metric, time_bucket(INTERVAL '1 hour', ts) AS bucket,
       count(*) AS n, sum(value) AS total, min(value) AS vmin, max(value) AS vmax,
       min(ts) AS first_ts, first(value, ts) AS first_value, max(ts) AS last_ts, last(value, ts) AS last_value
FROM smart_meter_readings WHERE value IS NOT NULL AND quality <> 'bad'
GROUP BY meter_id, metric, time_bucket(INTERVAL '1 hour', ts)
WITH NO DATA;

-- Local days of the rollup zone; the zone is read from rollup_settings when the hub creates this
-- view (luna_hub.database.migrate substitutes it), since a view's definition is fixed.
CREATE MATERIALIZED VIEW readings_1d WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT meter_id, metric, time_bucket(INTERVAL '1 day', ts, '{rollup_timezone}') AS bucket,
       count(*) AS n, sum(value) AS total, min(value) AS vmin, max(value) AS vmax,
       min(ts) AS first_ts, first(value, ts) AS first_value, max(ts) AS last_ts, last(value, ts) AS last_value
FROM smart_meter_readings WHERE value IS NOT NULL AND quality <> 'bad'
GROUP BY meter_id, metric, time_bucket(INTERVAL '1 day', ts, '{rollup_timezone}')
WITH NO DATA;

SELECT add_continuous_aggregate_policy('readings_15m', INTERVAL '35 days', INTERVAL '15 minutes', INTERVAL '15 minutes');
SELECT add_continuous_aggregate_policy('readings_1h', INTERVAL '35 days', INTERVAL '1 hour', INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('readings_1d', INTERVAL '35 days', INTERVAL '1 day', INTERVAL '1 hour');

UPDATE rollup_settings SET engine = 'timescaledb';
