-- Site scoping of file loads and documents (issue 17).
--
-- A file loaded with ``site=`` records its site; meters it creates belong to that site (a load
-- without one leaves them without site: only analysts and admins read those). A document
-- uploaded with ``site=`` is visible to users of that site only (and to analysts and admins);
-- without one, to every signed-in caller.
ALTER TABLE loaded_files ADD COLUMN site_id text REFERENCES sites (site_id);
ALTER TABLE documents ADD COLUMN site_id text REFERENCES sites (site_id);
CREATE INDEX documents_by_site ON documents (site_id) WHERE site_id IS NOT NULL;
