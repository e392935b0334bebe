-- Attachments of reports: photos, PDF, short video, readable only by the police
-- of the report's unit (no public view reads this table).
CREATE TABLE kmzb.report_attachments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id   bigint NOT NULL REFERENCES kmzb.reports (id),
    filename    text NOT NULL CHECK (char_length(filename) BETWEEN 1 AND 255),
    media_type  text NOT NULL CHECK (media_type IN (
                    'image/jpeg', 'image/png', 'application/pdf',
                    'video/mp4', 'video/3gpp', 'video/quicktime')),
    size_bytes  integer NOT NULL CHECK (size_bytes BETWEEN 1 AND 5242880),
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content     bytea NOT NULL CHECK (octet_length(content) = size_bytes),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_attachments_report_idx ON kmzb.report_attachments (report_id);

-- At most three attachments per report.
CREATE FUNCTION kmzb.report_attachments_limit() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM kmzb.reports WHERE id = NEW.report_id FOR UPDATE;
    IF (SELECT count(*) FROM kmzb.report_attachments WHERE report_id = NEW.report_id) >= 3 THEN
        RAISE EXCEPTION 'a report has at most 3 attachments'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'report_attachments_at_most_3';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER report_attachments_limit
    BEFORE INSERT ON kmzb.report_attachments
    FOR EACH ROW EXECUTE FUNCTION kmzb.report_attachments_limit();

-- Institutions outside the police that receive forwarded reports match the
-- `institution` claim of partner tokens; queue filters use the status and date.
CREATE INDEX reports_forwarded_to_idx ON kmzb.reports (forwarded_to) WHERE forwarded_to IS NOT NULL;

-- A coordinator must take up a new report within 3 days; after that it is overdue.
ALTER TABLE kmzb.statuses ADD COLUMN overdue_after interval
    CHECK (overdue_after IS NULL OR overdue_after > interval '0');
UPDATE kmzb.statuses SET overdue_after = interval '3 days' WHERE code = 'new';
