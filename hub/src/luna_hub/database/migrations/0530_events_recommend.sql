-- Items (anything the hub can recommend), the events users send about them, and the recommender's
-- decision log and learned state (issue 19). See luna_hub.events and luna_hub.recommend.

-- 0001 left an empty placeholder ``items`` "filled by later issues"; this is that issue, with text ids.
-- (0001's ``events`` placeholder is about sites and meters, outages and alarms: user events get their own table.)
DROP TABLE items;
CREATE TABLE items (
    item_id    text PRIMARY KEY CHECK (length(item_id) BETWEEN 1 AND 200),
    type       text NOT NULL CHECK (length(type) BETWEEN 1 AND 50),
    title      text NOT NULL,
    body       text NOT NULL DEFAULT '',
    tags       text[] NOT NULL DEFAULT '{}',
    source     text NOT NULL DEFAULT 'api',
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_fresh ON items (created_at DESC) WHERE active;

-- One row per event id ever stored: events are idempotent by id, and a hypertable cannot hold a
-- unique index without its time column.
CREATE TABLE user_event_ids (
    event_id    text PRIMARY KEY,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_events (
    event_id          text NOT NULL,
    user_id           text NOT NULL,
    type              text NOT NULL CHECK (type IN ('view', 'click', 'accept', 'dismiss', 'done', 'rating', 'helpful', 'not_helpful')),
    item_id           text NOT NULL REFERENCES items (item_id),
    recommendation_id uuid,
    value             double precision,
    ts                timestamptz NOT NULL,
    sent_by           text NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX user_events_user_ts ON user_events (user_id, ts DESC);
CREATE INDEX user_events_item_ts ON user_events (item_id, ts DESC);
CREATE INDEX user_events_recommendation ON user_events (recommendation_id) WHERE recommendation_id IS NOT NULL;

-- The decision log: every answer of GET /recommend, its candidates (with the context each was
-- ranked in) and the items served, each with its propensity and, once known, its reward.
CREATE TABLE recommendations (
    recommendation_id uuid PRIMARY KEY,
    user_id           text NOT NULL,
    policy            text NOT NULL,
    item_type         text,
    params            jsonb NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recommendations_created ON recommendations (created_at);

CREATE TABLE recommendation_candidates (
    recommendation_id uuid NOT NULL REFERENCES recommendations ON DELETE CASCADE,
    item_id           text NOT NULL,
    sources           text[] NOT NULL,
    similarity        double precision,
    context           double precision[] NOT NULL,
    PRIMARY KEY (recommendation_id, item_id)
);

CREATE TABLE recommendation_items (
    recommendation_id uuid NOT NULL REFERENCES recommendations ON DELETE CASCADE,
    position          integer NOT NULL CHECK (position >= 1),
    item_id           text NOT NULL,
    score             double precision NOT NULL,
    mean              double precision NOT NULL,
    width             double precision NOT NULL,
    propensity        double precision NOT NULL CHECK (propensity > 0 AND propensity <= 1),
    explored          boolean NOT NULL,
    reward            double precision,
    rewarded_at       timestamptz,
    PRIMARY KEY (recommendation_id, position),
    UNIQUE (recommendation_id, item_id)
);
CREATE INDEX recommendation_items_open ON recommendation_items (recommendation_id) WHERE reward IS NULL;

-- Each item's ridge statistics (A = ridge*I + sum x x^T, b = sum r x), shared by both policies.
CREATE TABLE recommend_arms (
    item_id    text PRIMARY KEY,
    dims       integer NOT NULL,
    a          double precision[] NOT NULL,
    b          double precision[] NOT NULL,
    rewards    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
