-- Only where TimescaleDB is available: user events are a hypertable, like readings (see 0003).
CREATE EXTENSION IF NOT EXISTS timescaledb;
SELECT create_hypertable('user_events', by_range('ts', INTERVAL '30 days'), migrate_data => true);
