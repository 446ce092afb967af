-- Documents (luna_hub.documents): uploaded files, their versions, their chunks and extraction jobs.
--
-- The bytes live in the object store (filesystem or S3/MinIO); a version row names the object
-- version and its SHA-256, which is how the same bytes are recognised again (no new version,
-- no re-index). A version becomes the document's current one only when its job has stored and
-- indexed all its chunks, in one transaction.
--
-- ``chunks`` holds the chunks of each document's current version only (the job replaces them in
-- the transaction that switches the version), so searches need no version filter. ``tsv`` is for
-- sparse retrieval (rag): the 'simple' configuration because the corpus mixes German and English
-- and stemming one would mangle the other; the section title is searched with the text.

CREATE TABLE documents (
    document_id      text PRIMARY KEY CHECK (document_id ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    title            text NOT NULL,
    current_version  integer,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE document_versions (
    document_id      text NOT NULL REFERENCES documents (document_id) ON DELETE CASCADE,
    version          integer NOT NULL CHECK (version >= 1),
    filename         text NOT NULL,
    media_type       text NOT NULL,
    title            text NOT NULL,
    content_hash     text NOT NULL CHECK (content_hash ~ '^sha256:[0-9a-f]{64}$'),
    size_bytes       bigint NOT NULL CHECK (size_bytes > 0),
    object_key       text NOT NULL,
    object_version   text NOT NULL,
    pages            integer,
    extracted_text   text,
    ready            boolean NOT NULL DEFAULT false,
    uploaded_by      text NOT NULL DEFAULT 'anonymous',
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (document_id, version),
    UNIQUE (document_id, content_hash)
);
CREATE INDEX document_versions_by_hash ON document_versions (content_hash);

ALTER TABLE documents ADD FOREIGN KEY (document_id, current_version)
    REFERENCES document_versions (document_id, version) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE chunks (
    chunk_id      text PRIMARY KEY,
    document_id   text NOT NULL,
    version       integer NOT NULL,
    ordinal       integer NOT NULL CHECK (ordinal >= 0),
    text          text NOT NULL,
    content_hash  text NOT NULL,
    title         text NOT NULL,
    media_type    text NOT NULL,
    page          integer,
    page_end      integer,
    section       text,
    char_start    integer NOT NULL CHECK (char_start >= 0),
    char_end      integer NOT NULL CHECK (char_end >= char_start),
    tsv           tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(section, '') || ' ' || text)) STORED,
    FOREIGN KEY (document_id, version) REFERENCES document_versions (document_id, version) ON DELETE CASCADE,
    UNIQUE (document_id, version, ordinal)
);
CREATE INDEX chunks_tsv ON chunks USING GIN (tsv);
CREATE INDEX chunks_by_hash ON chunks (document_id, content_hash);

-- One row per upload that needs work; kept after the job ends as the record of what happened
-- (no foreign key: a failed first upload leaves no document behind, but its job says why).
CREATE TABLE document_jobs (
    job_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    document_id    text NOT NULL,
    version        integer NOT NULL,
    state          text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
    stage          text NOT NULL DEFAULT 'queued',
    progress       real NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    chunks         integer,
    chunks_new     integer,
    error          text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX document_jobs_by_document ON document_jobs (document_id, job_id);
