-- Police notes are internal unless the officer marks them public. The review
-- input is `note_public` (default false); the column's default follows, so a
-- note written by any other path (SQL, loaders) is internal unless it says
-- otherwise. Notes already written keep the flag they were written with: the
-- history is append-only.
ALTER TABLE kmzb.report_status_history ALTER COLUMN note_internal SET DEFAULT true;

COMMENT ON COLUMN kmzb.report_status_history.note_internal IS
    'true: the note is for the police only (the default); false: anyone holding the reference reads it';
