-- One trigger function guards every append-only table (audit_log, model_calls): it refuses
-- UPDATE, DELETE and TRUNCATE, even for the owner, and names the table it guards.
CREATE FUNCTION refuse_append_only_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

DROP TRIGGER audit_log_append_only ON audit_log;
DROP TRIGGER audit_log_no_truncate ON audit_log;
DROP FUNCTION audit_log_is_append_only();
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();

DROP TRIGGER model_calls_append_only ON model_calls;
DROP TRIGGER model_calls_no_truncate ON model_calls;
DROP FUNCTION model_calls_is_append_only();
CREATE TRIGGER model_calls_append_only BEFORE UPDATE OR DELETE ON model_calls
    FOR EACH ROW EXECUTE FUNCTION refuse_append_only_change();
CREATE TRIGGER model_calls_no_truncate BEFORE TRUNCATE ON model_calls
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_append_only_change();
