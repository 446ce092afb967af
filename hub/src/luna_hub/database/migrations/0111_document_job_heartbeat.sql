-- A document job's heartbeat (issue 16): the hub running a job touches its row every
-- documents.job_heartbeat_s seconds. A job left queued or running by a hub that stopped without
-- ending it (killed, power lost) stops being touched; any replica then fails it and undoes its
-- version (luna_hub.documents.services), instead of showing it "running" for ever.
ALTER TABLE document_jobs ADD COLUMN heartbeat_at timestamptz;
CREATE INDEX document_jobs_unfinished ON document_jobs (job_id) WHERE state IN ('queued', 'running');
