-- Issue 19, the rest: a site's PV and tariff for energy actions, and the "tomorrow's prices are out" notice.

-- A site's energy settings (PUT /sites/{site}/energy): its PV meter, base-load meter, feed-in tariff
-- and grid fee. Actions value the forecast PV surplus at the feed-in tariff.
CREATE TABLE site_energy (
    site_id     text PRIMARY KEY,
    spec        jsonb NOT NULL,
    updated_by  text NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The energy of an action the forecast PV surplus covers.
ALTER TABLE energy_actions ADD COLUMN pv_kwh double precision NOT NULL DEFAULT 0;

-- One row per market and delivery day whose prices the import stored completely as "tomorrow":
-- the primary key makes the notice once-only across hubs; notified_at is set in the transaction
-- that puts the notice into the alert outbox.
CREATE TABLE price_publications (
    market       text NOT NULL,
    day          date NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    min_price    double precision NOT NULL,
    mean_price   double precision NOT NULL,
    max_price    double precision NOT NULL,
    cheapest_at  timestamptz NOT NULL,
    notified_at  timestamptz,
    PRIMARY KEY (market, day)
);
CREATE INDEX price_publications_unnotified ON price_publications (stored_at) WHERE notified_at IS NULL;

-- Info notices (kind 'info') go through the outbox like alerts, without a firing alert behind them.
ALTER TABLE alert_outbox DROP CONSTRAINT alert_outbox_kind_check;
ALTER TABLE alert_outbox ADD CONSTRAINT alert_outbox_kind_check CHECK (kind IN ('notify', 'repeat', 'test', 'info'));
