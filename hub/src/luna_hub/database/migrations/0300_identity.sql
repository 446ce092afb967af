-- Identity and access (issue 17): users get a role, a password (Argon2id), a site list and a
-- disabled flag; API keys an expiry and their last use; refresh tokens rotate within a family.

ALTER TABLE users
    ADD COLUMN role          text NOT NULL DEFAULT 'user' CHECK (role IN ('admin', 'analyst', 'user')),
    ADD COLUMN password_hash text,                 -- Argon2id (PHC string); NULL: keys only, no login
    ADD COLUMN sites         text[],               -- NULL: every site; else only these
    ADD COLUMN disabled      boolean NOT NULL DEFAULT false;

ALTER TABLE api_keys
    ADD COLUMN expires_at    timestamptz,          -- NULL: never
    ADD COLUMN last_used_at  timestamptz;

-- Refresh tokens: only the SHA-256 is stored. Each use replaces the token by a new one of the same
-- family; presenting a used one again means it leaked, and the whole family is revoked.
CREATE TABLE refresh_tokens (
    token_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    family_id   uuid NOT NULL,
    user_id     bigint NOT NULL REFERENCES users (user_id),
    token_hash  text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
