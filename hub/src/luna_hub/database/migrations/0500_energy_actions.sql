-- Flexible devices of a site and the energy actions proposed for them (issue 19).
-- An action keeps a copy of what its outcome needs (meter, runs, planned energy), so it outlives
-- a changed or deleted device.
CREATE TABLE energy_devices (
    site_id     text NOT NULL,
    device_id   text NOT NULL,
    spec        jsonb NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site_id, device_id)
);

CREATE TABLE energy_actions (
    action_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id        text NOT NULL,
    device_id      text NOT NULL,
    day            date NOT NULL,
    market         text NOT NULL,
    title          text NOT NULL,
    cost_eur       double precision NOT NULL,
    baseline_start timestamptz NOT NULL,
    baseline_end   timestamptz NOT NULL,
    baseline_cost_eur double precision NOT NULL,
    saving_eur     double precision NOT NULL,
    runs           jsonb NOT NULL,
    energy_kwh     double precision NOT NULL,
    meter_id       text,
    running_threshold_w double precision NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    dismissed_at   timestamptz,
    dismissed_by   text,
    UNIQUE (site_id, device_id, day)
);
CREATE INDEX energy_actions_dismissed ON energy_actions (site_id, device_id, dismissed_at)
    WHERE dismissed_at IS NOT NULL;
