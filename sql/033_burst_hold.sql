-- The flood guard: a burst of new citizen reports in one small area within a
-- few minutes is held back from the public view until a coordinator reviews it.
--
-- A held report has `held_at` set. It keeps every other column: it is stored,
-- readable by its reference, and in its unit's queue (flagged as a burst); it
-- only has no public visibility. Visibility is the single column
-- `public_until` (migration 010), which every public read tests: the
-- threats collection and its tiles (kmzb.public_threats), the map grid
-- (kmzb.public_threat_cells), the area-safety summary and QGIS Server
-- (kmzb.wms_threats). A held report gets public_until = '-infinity', so all of
-- them drop it together; the police layer (kmzb.wms_unit_reports) shows it.
--
-- A status change (the police reviewed it) releases the hold. Holding and
-- releasing touch neither `version` nor `updated_at` (reports_check_row does
-- not fire for held_at alone), so the police's optimistic locking is kept.

ALTER TABLE kmzb.reports ADD COLUMN held_at timestamptz;
CREATE INDEX reports_held_idx ON kmzb.reports (police_unit, held_at) WHERE held_at IS NOT NULL;

CREATE OR REPLACE FUNCTION kmzb.reports_set_public_until() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS DISTINCT FROM OLD.status THEN
        NEW.held_at := NULL;  -- reviewed: the hold is over
    END IF;
    NEW.public_until := CASE
        WHEN NEW.held_at IS NOT NULL THEN '-infinity'::timestamptz
        ELSE kmzb.public_until(NEW.category, NEW.status, NEW.status_changed_at)
    END;
    RETURN NEW;
END
$$;

-- After a policy change: recompute, held reports staying hidden.
CREATE OR REPLACE FUNCTION kmzb.recompute_public_until() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE kmzb.reports
    SET public_until = kmzb.public_until(category, status, status_changed_at)
    WHERE held_at IS NULL
      AND public_until IS DISTINCT FROM kmzb.public_until(category, status, status_changed_at);
    RETURN NULL;
END
$$;

-- Hold the burst around report `report_id`, if there is one: when, counting
-- that report, at least `threshold` citizen reports still in the initial
-- status (Nowe) lie within `radius_m` metres of it, made within `time_window`
-- before it, every one of them not yet held is held. Returns how many were
-- held now (0: no burst). The thresholds come from the service's settings
-- (KMZB_BURST_*). Runs as the schema's owner, so the service's role needs no
-- UPDATE right on held_at and reads no other report's columns.
CREATE FUNCTION kmzb.hold_burst(report_id bigint, radius_m double precision,
                                time_window interval, threshold integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    initial text := (SELECT code FROM kmzb.statuses WHERE is_initial);
    in_burst integer;
    held integer;
BEGIN
    IF radius_m IS NULL OR NOT radius_m > 0 OR radius_m > 10000 THEN
        RAISE EXCEPTION 'burst radius must be over 0 and at most 10000 m, not %', radius_m
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF time_window IS NULL OR time_window <= interval '0' OR time_window > interval '1 day' THEN
        RAISE EXCEPTION 'burst window must be over 0 and at most 1 day, not %', time_window
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF threshold IS NULL OR threshold < 1 THEN
        RAISE EXCEPTION 'burst threshold must be 1 or more, not %', threshold
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT id, geom, created_at, status, source INTO r FROM kmzb.reports WHERE id = report_id;
    IF NOT FOUND OR r.status <> initial OR r.source <> 'citizen' THEN
        RETURN 0;
    END IF;
    SELECT count(*) INTO in_burst
    FROM kmzb.reports o
    WHERE ST_DWithin(o.geom, r.geom, radius_m)
      AND o.created_at > r.created_at - time_window
      AND o.status = initial AND o.source = 'citizen';
    IF in_burst < threshold THEN
        RETURN 0;
    END IF;
    -- locked in id order, so two submissions holding one burst never deadlock
    UPDATE kmzb.reports SET held_at = now()
    WHERE id IN (
        SELECT o.id FROM kmzb.reports o
        WHERE ST_DWithin(o.geom, r.geom, radius_m)
          AND o.created_at > r.created_at - time_window
          AND o.status = initial AND o.source = 'citizen' AND o.held_at IS NULL
        ORDER BY o.id
        FOR UPDATE
    )
    AND status = initial AND held_at IS NULL;
    GET DIAGNOSTICS held = ROW_COUNT;
    RETURN held;
END
$$;

-- Owned by the schema's owner; names resolve only in pg_catalog and PostGIS's
-- schema. Only the owner and the roles that may insert reports may call it.
REVOKE ALL ON FUNCTION kmzb.hold_burst(bigint, double precision, interval, integer) FROM PUBLIC;
DO $$
DECLARE
    owner_name name := (SELECT nspowner::regrole::name FROM pg_namespace WHERE nspname = 'kmzb');
    postgis_schema name := (SELECT n.nspname FROM pg_extension e
                            JOIN pg_namespace n ON n.oid = e.extnamespace
                            WHERE e.extname = 'postgis');
    writer name;
BEGIN
    EXECUTE format('ALTER FUNCTION kmzb.hold_burst(bigint, double precision, interval, integer) '
                   'OWNER TO %I', owner_name);
    EXECUTE format('ALTER FUNCTION kmzb.hold_burst(bigint, double precision, interval, integer) '
                   'SET search_path = pg_catalog, %I, pg_temp', postgis_schema);
    FOR writer IN
        SELECT DISTINCT a.grantee::regrole::name
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.oid = 'kmzb.reports'::regclass AND a.privilege_type = 'INSERT'
          AND a.grantee <> 0 AND a.grantee <> c.relowner
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION '
                       'kmzb.hold_burst(bigint, double precision, interval, integer) TO %I',
                       writer);
    END LOOP;
END
$$;
