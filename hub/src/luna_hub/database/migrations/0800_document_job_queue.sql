-- Document jobs as a durable queue (issue 20, luna_hub.documents.services): an upload inserts a
-- queued job; every hub replica's workers claim queued jobs with FOR UPDATE SKIP LOCKED (one
-- replica each), heartbeat them, and run them. A running job whose heartbeat went stale (its replica
-- was killed or stopped mid-job) is queued again for any replica, up to documents.job_attempts
-- attempts; ``attempts`` counts the claims and fences a late write of a replica that lost its job.
ALTER TABLE document_jobs
    ADD COLUMN attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN claimed_by text;
CREATE INDEX document_jobs_queued ON document_jobs (job_id) WHERE state = 'queued';
