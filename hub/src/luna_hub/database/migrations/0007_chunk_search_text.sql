-- Sparse retrieval (rag) searches a chunk's document title with its section and text, and splits
-- path-like tokens. A question names a document's subject ("the Heidelberg wallbox", "the SDM630")
-- that its title carries but a table row on page 3 does not; the default parser keeps
-- "parity/stop", "eastron_sdm630_modbus_protocol" or "1000imp/kWh" as one file-name token that no
-- question word matches, so '/', '_', '\' and '|' become spaces first (the question gets the same
-- treatment in luna_hub.rag.repository). Recomputing the generated column re-indexes every stored
-- chunk; nothing else has to run.

DROP INDEX chunks_tsv;
ALTER TABLE chunks DROP COLUMN tsv;
ALTER TABLE chunks ADD COLUMN tsv tsvector GENERATED ALWAYS AS (
    to_tsvector('simple', regexp_replace(title || ' ' || coalesce(section, '') || ' ' || text, '[/_\\|]+', ' ', 'g'))
) STORED;
CREATE INDEX chunks_tsv ON chunks USING GIN (tsv);
