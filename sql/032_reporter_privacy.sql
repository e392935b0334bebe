-- Privacy by design for reporters: the reporter's hash lives only as long as
-- the daily limit needs it.
--
-- The hash (HMAC-SHA256 of the address under a key derived for one Warsaw day,
-- see kmzb/domain/reporters.py) matters only on the day of the report. The
-- row trigger used to refuse any change of reporter_hash; it now allows
-- exactly one: clearing it (setting it to NULL) once the report is older than
-- 24 hours and from before the current Warsaw day, so it can no longer count
-- for any daily limit. Any other change of reporter_hash is still refused.
--
-- Clearing the hash alone is housekeeping, not a change of the report: it
-- leaves `version` and `updated_at` as they were, so the police's optimistic
-- locking (review sends the version it saw) is not disturbed by a purge.

-- Whether a report made at `created` can no longer count for a daily limit:
-- more than 24 hours old and from before today's Warsaw midnight (a Warsaw day
-- can last 25 hours).
CREATE FUNCTION kmzb.reporter_hash_purgeable(created timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT created < now() - interval '24 hours'
       AND created < (date_trunc('day', now() AT TIME ZONE 'Europe/Warsaw')
                      AT TIME ZONE 'Europe/Warsaw')
$$;

CREATE OR REPLACE FUNCTION kmzb.reports_check_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    needs_description boolean;
    probe kmzb.reports%ROWTYPE;
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.reporter_hash IS NOT NULL AND NEW.reporter_hash IS NULL
       AND kmzb.reporter_hash_purgeable(OLD.created_at) THEN
        -- the purge alone: every other column as it was
        probe := NEW;
        probe.reporter_hash := OLD.reporter_hash;
        IF probe IS NOT DISTINCT FROM OLD THEN
            RETURN NEW;
        END IF;
    END IF;

    IF NOT ST_IsValid(NEW.geom) OR ST_IsEmpty(NEW.geom) THEN
        RAISE EXCEPTION 'report location is not a valid point'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'report_location_valid';
    END IF;
    IF TG_OP = 'INSERT' OR NOT ST_Equals(NEW.geom, OLD.geom) THEN
        IF NOT kmzb.is_inside_poland(NEW.geom) THEN
            RAISE EXCEPTION 'report location % % is outside Poland', ST_X(NEW.geom), ST_Y(NEW.geom)
                USING ERRCODE = 'check_violation', CONSTRAINT = 'report_inside_poland';
        END IF;
    END IF;
    SELECT description_required INTO needs_description
        FROM kmzb.threat_categories WHERE code = NEW.category;
    IF needs_description AND NEW.description IS NULL THEN
        RAISE EXCEPTION 'category % requires a description', NEW.category
            USING ERRCODE = 'check_violation', CONSTRAINT = 'report_description_required';
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM kmzb.statuses WHERE code = NEW.status AND is_initial) THEN
            RAISE EXCEPTION 'a new report must start in the initial status, not %', NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'report_initial_status';
        END IF;
        NEW.version := 1;
        NEW.status_changed_at := NEW.created_at;
        NEW.updated_at := NEW.created_at;
    ELSE
        IF NEW.status IS DISTINCT FROM OLD.status THEN
            IF NOT EXISTS (SELECT 1 FROM kmzb.status_transitions
                           WHERE from_status = OLD.status AND to_status = NEW.status) THEN
                RAISE EXCEPTION 'status change % -> % is not allowed', OLD.status, NEW.status
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'report_status_transition';
            END IF;
            NEW.status_changed_at := now();
        END IF;
        IF NEW.created_at IS DISTINCT FROM OLD.created_at
           OR NEW.public_ref IS DISTINCT FROM OLD.public_ref THEN
            RAISE EXCEPTION 'public_ref, created_at and reporter_hash never change'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'report_immutable_columns';
        END IF;
        IF NEW.reporter_hash IS DISTINCT FROM OLD.reporter_hash
           AND NOT (NEW.reporter_hash IS NULL AND kmzb.reporter_hash_purgeable(OLD.created_at)) THEN
            RAISE EXCEPTION 'reporter_hash never changes; it is only cleared after the limit window'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'report_immutable_columns';
        END IF;
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

-- Clear the reporter hashes of reports older than `retention` (24 to 48 hours);
-- at most `max_rows` per call when given (callers repeat until fewer come back).
-- Returns how many were cleared. Runs as the schema's owner, so a service role
-- needs no UPDATE right on reporter_hash; only the owner may call it.
CREATE FUNCTION kmzb.purge_reporter_hashes(retention interval, max_rows integer DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    purged bigint;
BEGIN
    IF retention IS NULL OR retention < interval '24 hours' OR retention > interval '48 hours' THEN
        RAISE EXCEPTION 'reporter hash retention must be 24 to 48 hours, not %', retention
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_rows IS NOT NULL AND max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be positive, not %', max_rows
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE kmzb.reports SET reporter_hash = NULL
    WHERE id IN (
        SELECT id FROM kmzb.reports
        WHERE reporter_hash IS NOT NULL
          AND created_at < now() - retention
          AND kmzb.reporter_hash_purgeable(created_at)
        ORDER BY id
        LIMIT max_rows
        FOR UPDATE SKIP LOCKED
    );
    GET DIAGNOSTICS purged = ROW_COUNT;
    RETURN purged;
END
$$;
REVOKE ALL ON FUNCTION kmzb.purge_reporter_hashes(interval, integer) FROM PUBLIC;

-- Owned by the schema's owner (a no-op when that is who migrates); it resolves
-- names only in pg_catalog and PostGIS's own schema (the row triggers it fires
-- call PostGIS functions unqualified).
DO $$
DECLARE
    owner_name name := (SELECT nspowner::regrole::name FROM pg_namespace WHERE nspname = 'kmzb');
    postgis_schema name := (SELECT n.nspname FROM pg_extension e
                            JOIN pg_namespace n ON n.oid = e.extnamespace
                            WHERE e.extname = 'postgis');
BEGIN
    EXECUTE format('ALTER FUNCTION kmzb.purge_reporter_hashes(interval, integer) OWNER TO %I',
                   owner_name);
    EXECUTE format('ALTER FUNCTION kmzb.purge_reporter_hashes(interval, integer) '
                   'SET search_path = pg_catalog, %I, pg_temp', postgis_schema);
END
$$;

-- Reports already older than the window lose their hash now.
UPDATE kmzb.reports SET reporter_hash = NULL
WHERE reporter_hash IS NOT NULL AND kmzb.reporter_hash_purgeable(created_at)
  AND created_at < now() - interval '48 hours';
