-- Who in the police read what, and when: every opened report, every downloaded
-- attachment, every read of a queue. A row is written in the same transaction
-- as the read it records (the answer is not sent unless the row is stored).
-- Append-only, like the status history; readable by the admin role through
-- GET /admin/access-log.
CREATE TABLE kmzb.police_access_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at             timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL CHECK (btrim(actor) <> ''),
    actor_unit     text REFERENCES kmzb.police_units (code),
    action         text NOT NULL CHECK (action IN ('report', 'attachment', 'queue')),
    report_id      bigint REFERENCES kmzb.reports (id),
    attachment_id  bigint REFERENCES kmzb.report_attachments (id),
    CONSTRAINT access_names_what_was_read CHECK (
        CASE action
            WHEN 'queue' THEN report_id IS NULL AND attachment_id IS NULL
            WHEN 'report' THEN report_id IS NOT NULL AND attachment_id IS NULL
            ELSE report_id IS NOT NULL AND attachment_id IS NOT NULL
        END)
);
CREATE INDEX police_access_log_at_idx ON kmzb.police_access_log (at);
CREATE INDEX police_access_log_report_idx ON kmzb.police_access_log (report_id, at)
    WHERE report_id IS NOT NULL;
CREATE INDEX police_access_log_actor_idx ON kmzb.police_access_log (actor, at);

CREATE FUNCTION kmzb.refuse_log_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER police_access_log_append_only
    BEFORE UPDATE OR DELETE ON kmzb.police_access_log
    FOR EACH ROW EXECUTE FUNCTION kmzb.refuse_log_change();
CREATE TRIGGER police_access_log_no_truncate
    BEFORE TRUNCATE ON kmzb.police_access_log
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.refuse_log_change();
