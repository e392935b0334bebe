-- A submission in one statement, and less work in it (issue 16, submissions per second).
--
-- 1. kmzb.submit_report takes the checks too (category known, description when the
--    category requires one, point in Poland) and answers 'invalid' with every problem
--    at once, storing nothing: kmzb.domain.intake sends a submission as ONE autocommitted
--    statement (its implicit transaction, committed before the answer), where it sent
--    BEGIN, the checks, the write and COMMIT.
-- 2. The burst guard's count is answered by a GiST index on (geom, created_at): the
--    index gives only the reports of the window, where the index on geom alone fetched
--    every report ever made within the radius (2.8 ms a submission in the dense areas of
--    the bench, growing without bound). It replaces that index (it answers geom alone
--    as well), so an insert still updates one GiST index of geom, not two. The hold's
--    scan for the reports not held yet has a partial one of its own.
-- 3. kmzb.note_change picks a slot no other open transaction holds (an advisory lock
--    tried per slot, no wait, no WAL) instead of pid % 16, so two connections never
--    queue on one counter row until commit.
-- 4. Planning was a fifth of the database's CPU of a submission. Functions called once
--    per submission are PL/pgSQL (their plans are kept by the session) instead of SQL
--    functions the executor parses and plans again on every call (an SQL function whose
--    body has a subquery is never inlined): public_until, reports_today_by_reporter.
--    kmzb.submit_report and kmzb.hold_burst run with plan_cache_mode =
--    force_generic_plan (for the functions they call too): a statement with a geometry
--    parameter got a custom plan, planned again on every call, as the generic plan's
--    estimate looked dearer (the same plan: the GiST index either way).

-- 2. -------------------------------------------------------------------------------
-- btree_gist (migration 010) carries created_at in the GiST index.
CREATE INDEX reports_geom_created_idx ON kmzb.reports USING gist (geom, created_at);
DROP INDEX kmzb.reports_geom_idx;
-- The hold's own scan (the reports of the window not held yet) reads only those: in an
-- area that keeps bursting, the window's reports are held already (a report that makes
-- a burst is stored held and never enters this index). A hold changes public_until,
-- which other indexes hold, so no update that was HOT stops being HOT.
CREATE INDEX reports_unheld_geom_created_idx ON kmzb.reports USING gist (geom, created_at)
    WHERE held_at IS NULL;

-- Same rule and answer as migration 033; both scans of the window are served by
-- reports_geom_created_idx, and the count stops once it reaches the threshold.
CREATE OR REPLACE FUNCTION kmzb.hold_burst(report_id bigint, radius_m double precision,
                                           time_window interval, threshold integer)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan AS $$
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
    FROM (SELECT 1 FROM kmzb.reports o
          WHERE ST_DWithin(o.geom, r.geom, radius_m)
            AND o.created_at > r.created_at - time_window
            AND o.status = initial AND o.source = 'citizen'
          LIMIT threshold) b;
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
DO $$
DECLARE
    postgis_schema name := (SELECT n.nspname FROM pg_extension e
                            JOIN pg_namespace n ON n.oid = e.extnamespace
                            WHERE e.extname = 'postgis');
BEGIN
    -- as migration 033: PostGIS's functions resolve in its own schema only
    EXECUTE format('ALTER FUNCTION kmzb.hold_burst(bigint, double precision, interval, integer) '
                   'SET search_path = pg_catalog, %I, pg_temp', postgis_schema);
END
$$;

-- 3. -------------------------------------------------------------------------------
-- Every source has its 16 slots from the start (a plain UPDATE finds its row). A new
-- row counts 0 and carries the source's newest time: the sums and Last-Modified stay.
INSERT INTO kmzb.change_times (source, slot, changes, changed_at)
SELECT t.source, s.slot, 0, t.changed_at
FROM (SELECT source, max(changed_at) AS changed_at FROM kmzb.change_times GROUP BY source) t
CROSS JOIN generate_series(0, 15) AS s(slot)
ON CONFLICT (source, slot) DO NOTHING;

-- A write counts itself in a slot of its source no other open transaction counts in:
-- the first of the 16, from the backend's own (pid % 16), whose advisory lock it gets
-- without waiting (held, like the row's lock, until commit; the lock's two-integer key
-- never meets the one-bigint keys of the daily limit and the idempotency keys). Only
-- with all 16 taken does it wait for its own slot, as before. A transaction that
-- counts twice finds its own lock again. The guarantee is migration 048's: the
-- counters only grow, so a committed write always changes its source's sum.
CREATE OR REPLACE FUNCTION kmzb.note_change(p_source text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    own integer := pg_backend_pid() % 16;
    lock_class integer := hashtext('kmzb.change_times ' || p_source);
    slot_taken integer;
BEGIN
    FOR i IN 0 .. 15 LOOP
        IF pg_try_advisory_xact_lock(lock_class, (own + i) % 16) THEN
            slot_taken := (own + i) % 16;
            UPDATE kmzb.change_times t
            SET changes = t.changes + 1, changed_at = greatest(t.changed_at, clock_timestamp())
            WHERE t.source = p_source AND t.slot = slot_taken;
            IF FOUND THEN
                RETURN;
            END IF;
            EXIT;  -- no row: made below (an unknown source fails the table's CHECK)
        END IF;
    END LOOP;
    INSERT INTO kmzb.change_times AS t (source, slot, changes, changed_at)
    VALUES (p_source, coalesce(slot_taken, own), 1, clock_timestamp())
    ON CONFLICT (source, slot) DO UPDATE
    SET changes = t.changes + 1,
        changed_at = greatest(t.changed_at, excluded.changed_at);
END
$$;

-- 4. -------------------------------------------------------------------------------
-- Same answer as migration 010's SQL function, with a plan kept per session.
CREATE OR REPLACE FUNCTION kmzb.public_until(p_category text, p_status text,
                                             p_changed timestamptz)
RETURNS timestamptz
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN COALESCE((
        SELECT CASE
                   WHEN NOT v.is_public THEN '-infinity'::timestamptz
                   WHEN c.public_rule = 'never' THEN '-infinity'::timestamptz
                   WHEN c.public_rule = 'confirmed_only' AND NOT s.is_confirmed
                       THEN '-infinity'::timestamptz
                   WHEN v.public_for IS NULL THEN 'infinity'::timestamptz
                   ELSE p_changed + v.public_for
               END
        FROM kmzb.visibility_policy v
        JOIN kmzb.statuses s ON s.code = v.status
        CROSS JOIN kmzb.threat_categories c
        WHERE v.status = p_status AND c.code = p_category
    ), '-infinity'::timestamptz);
END
$$;

-- Same count as migration 039's. STABLE: it counts in its caller's snapshot, which
-- kmzb.submit_report takes in a statement after the reporter's lock is granted.
CREATE OR REPLACE FUNCTION kmzb.reports_today_by_reporter(hash text) RETURNS integer
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
    RETURN (SELECT count(*)::integer FROM kmzb.reports
            WHERE reporter_hash = hash
              AND created_at >= date_trunc('day', now() AT TIME ZONE 'Europe/Warsaw')
                                AT TIME ZONE 'Europe/Warsaw');
END
$$;

-- The checks of a submission, in one place: kmzb.submit_report asks them before it
-- stores, and kmzb.domain.intake asks them alone (a refused submission, Open311). Every
-- one is asked, so one answer names all the problems; a NULL category or point is not
-- asked (the form already lacks it, or the point is far outside Poland, where PostGIS
-- cannot project it).
CREATE FUNCTION kmzb.submission_problems(p_category text, p_description text,
                                         p_geom geometry)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, public, pg_temp
AS $fn$
DECLARE
    found_problems text[] := '{}';
    needs_description boolean;
BEGIN
    IF p_category IS NOT NULL THEN
        SELECT c.description_required INTO needs_description
        FROM kmzb.threat_categories c WHERE c.code = p_category;
        IF NOT FOUND THEN
            found_problems := found_problems || 'category_unknown'::text;
        ELSIF needs_description AND (p_description IS NULL OR p_description = '') THEN
            found_problems := found_problems || 'description_required'::text;
        END IF;
    END IF;
    IF p_geom IS NOT NULL AND NOT kmzb.is_inside_poland(p_geom) THEN
        found_problems := found_problems || 'outside_poland'::text;
    END IF;
    RETURN found_problems;
END
$fn$;

-- 1. -------------------------------------------------------------------------------
-- Migration 047's function, with the checks first. Returns one row; `outcome`:
--   'invalid'    a check failed: `problems` names each ('category_unknown',
--                'description_required', 'outside_poland'), nothing was stored;
--   'stored'     the report is in, the other columns describe it;
--   'limited'    the daily limit is used up: nothing was stored;
--   'ref_taken'  the reference drawn by the caller exists: nothing was stored,
--                draw another and call again.
-- The point must be one PostGIS can hold in EPSG:2180 (kmzb.domain.intake asks only
-- for points within Poland's envelope; a far one is outside without asking).
DROP FUNCTION kmzb.submit_report(text, text, geometry, date, text, text, text, text,
    integer, text, text, text, text, text, text[], text[], text[], bytea[], double precision,
    interval, integer, text);

CREATE FUNCTION kmzb.submit_report(
    p_ref text,
    p_category text,
    p_geom geometry,
    p_event_date date,
    p_time_of_day text,
    p_description text,
    p_source text,
    p_reporter_hash text,
    p_daily_limit integer,
    p_address_string text,
    p_media_url text,
    p_actor text,
    p_actor_unit text,
    p_note text,
    p_attachment_names text[],
    p_attachment_types text[],
    p_attachment_sha256 text[],
    p_attachment_contents bytea[],
    p_burst_radius_m double precision,
    p_burst_window interval,
    p_burst_threshold integer,
    p_public_url text
) RETURNS TABLE (
    outcome text,
    problems text[],
    report_id bigint,
    public_ref text,
    status text,
    police_unit text,
    gmina_teryt text,
    created_at timestamptz,
    status_name_pl text,
    status_name_en text,
    police_unit_name text
)
LANGUAGE plpgsql
SET search_path = pg_catalog, public, pg_temp
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    found_problems text[] := '{}';
    bursting boolean := false;
    new_id bigint;
    new_ref text;
    new_status text;
    new_unit text;
    new_gmina text;
    new_created timestamptz;
BEGIN
    found_problems := kmzb.submission_problems(p_category, p_description, p_geom);
    IF found_problems <> '{}' THEN
        RETURN QUERY SELECT 'invalid'::text, found_problems, NULL::bigint, NULL::text,
            NULL::text, NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::text,
            NULL::text;
        RETURN;
    END IF;

    IF p_reporter_hash IS NOT NULL THEN
        -- serialise submissions of one reporter, so two at once cannot both pass
        PERFORM pg_advisory_xact_lock(hashtextextended(p_reporter_hash, 0));
        -- a statement of its own: its snapshot is taken once the lock is held
        IF kmzb.reports_today_by_reporter(p_reporter_hash) >= p_daily_limit THEN
            RETURN QUERY SELECT 'limited'::text, found_problems, NULL::bigint, NULL::text,
                NULL::text, NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::text,
                NULL::text;
            RETURN;
        END IF;
    END IF;

    -- the flood guard (kmzb.domain.bursts), citizen reports only, off at threshold 0: a
    -- report that makes a burst is stored held, one version of its row (held by
    -- kmzb.hold_burst after the insert, it was written twice, every index again, as its
    -- public_until changes). The count is kmzb.hold_burst's, less the report itself.
    IF p_source = 'citizen' AND p_burst_threshold > 0 THEN
        SELECT count(*) >= p_burst_threshold - 1 INTO bursting
        FROM (SELECT 1 FROM kmzb.reports o
              WHERE ST_DWithin(o.geom, p_geom, p_burst_radius_m)
                AND o.created_at > now() - p_burst_window
                AND o.status = (SELECT s.code FROM kmzb.statuses s WHERE s.is_initial)
                AND o.source = 'citizen'
              LIMIT greatest(p_burst_threshold - 1, 0)) b;
    END IF;

    INSERT INTO kmzb.reports AS r (public_ref, category, geom, event_date, time_of_day,
                                   description, status, police_unit, gmina_teryt, source,
                                   reporter_hash, address_string, media_url, held_at)
    SELECT p_ref, p_category, p_geom, p_event_date, p_time_of_day, p_description,
           (SELECT s.code FROM kmzb.statuses s WHERE s.is_initial),
           kmzb.police_unit_at(p_geom), kmzb.gmina_at(p_geom), p_source, p_reporter_hash,
           p_address_string, p_media_url, CASE WHEN bursting THEN now() END
    ON CONFLICT ON CONSTRAINT reports_public_ref_key DO NOTHING
    RETURNING r.id, r.public_ref, r.status, r.police_unit, r.gmina_teryt, r.created_at
    INTO new_id, new_ref, new_status, new_unit, new_gmina, new_created;
    IF new_id IS NULL THEN
        RETURN QUERY SELECT 'ref_taken'::text, found_problems, NULL::bigint, NULL::text,
            NULL::text, NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::text,
            NULL::text;
        RETURN;
    END IF;

    INSERT INTO kmzb.report_status_history
        (report_id, from_status, to_status, actor, actor_unit, note, note_internal)
    VALUES (new_id, NULL, new_status, p_actor, p_actor_unit, p_note, false);

    IF cardinality(p_attachment_names) > 0 THEN
        INSERT INTO kmzb.report_attachments
            (report_id, filename, media_type, size_bytes, sha256, content)
        SELECT new_id, a.name, a.media_type, octet_length(a.content), a.sha256, a.content
        FROM unnest(p_attachment_names, p_attachment_types, p_attachment_sha256,
                    p_attachment_contents) WITH ORDINALITY AS a(name, media_type, sha256,
                                                                content, n)
        ORDER BY a.n;
    END IF;

    -- the rest of the burst (kmzb.hold_burst counts again, the report in, and holds
    -- the others not held yet), as in migration 047: the reports this hold took from the
    -- public view (held_at is this transaction's time) are withdrawn here
    IF p_source = 'citizen' AND p_burst_threshold > 0 THEN
        IF kmzb.hold_burst(new_id, p_burst_radius_m, p_burst_window, p_burst_threshold) > 0 THEN
            PERFORM kmzb.sync_public_alert(o.id, p_public_url)
            FROM (SELECT h.id FROM kmzb.reports h
                  WHERE ST_DWithin(h.geom, p_geom, p_burst_radius_m)
                    AND h.created_at > new_created - p_burst_window
                    AND h.held_at = now() AND h.id <> new_id
                  ORDER BY h.id) o;
        END IF;
    END IF;
    -- public on submission: announced on commit (kmzb.domain.alerts)
    PERFORM kmzb.sync_public_alert(new_id, p_public_url);

    RETURN QUERY
        SELECT 'stored'::text, found_problems, new_id, new_ref, new_status, new_unit,
               new_gmina, new_created, s.name_pl, s.name_en, u.name
        FROM kmzb.statuses s, kmzb.police_units u
        WHERE s.code = new_status AND u.code = new_unit;
END
$fn$;

REVOKE ALL ON FUNCTION kmzb.submit_report(text, text, geometry, date, text, text, text, text,
    integer, text, text, text, text, text, text[], text[], text[], bytea[], double precision,
    interval, integer, text) FROM PUBLIC;
SELECT kmzb.grant_service_privilege('kmzb_api', 'INSERT', 'kmzb.reports',
    'submit (kmzb.domain.intake.submit, the Open311 facade); the hash is written once, never '
    'read; held_at: a report that makes a burst is stored held (kmzb.submit_report)',
    ARRAY['public_ref', 'category', 'geom', 'event_date', 'time_of_day', 'description',
          'status', 'police_unit', 'gmina_teryt', 'source', 'reporter_hash',
          'address_string', 'media_url', 'held_at']);
SELECT kmzb.grant_service_privilege('kmzb_api', 'EXECUTE',
    'kmzb.submit_report(text, text, geometry, date, text, text, text, text, integer, text, '
    'text, text, text, text, text[], text[], text[], bytea[], double precision, interval, '
    'integer, text)',
    'submit-threat and Open311 check and store a report in one statement');
