-- Which running copy of an agent (its buffer's id, sent in readings.v1 and status.v1) the hub last
-- heard from (issue 16): a second copy with the same agent id would have its readings acknowledged
-- and silently dropped as duplicates of the other's sequence numbers; the hub answers it 409.
ALTER TABLE agents
    ADD COLUMN instance_id      text,
    ADD COLUMN instance_seen_at timestamptz;
