-- Only where TimescaleDB is available: events are a hypertable, like readings (see 0003).
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('events', by_range('ts', INTERVAL '30 days'), migrate_data => true);
