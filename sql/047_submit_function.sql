-- Routing a report without a sequential scan (issue 16, submissions per second).
--
-- kmzb.gmina_at and kmzb.police_unit_at (migrations before 039) order every gmina
-- (2,477) or police unit (361) by `geom <-> p, teryt`: the second sort key keeps
-- PostgreSQL from walking the GiST index in distance order, so each call measured
-- and sorted every polygon (3.4 ms for a gmina, 0.7 ms for a unit, the largest part
-- of a submission's time in the database).
--
-- Same answer, found through the index: a point lies in (or on the edge of) a
-- polygon exactly when its distance to it is 0, the least distance there is, so
-- the nearest polygon with the lowest code is the lowest code among the polygons
-- the point intersects. Only a point in no polygon at all (on water between two
-- gminy, in a gap of the police areas) falls back to the nearest by distance, as
-- before.

CREATE OR REPLACE FUNCTION kmzb.gmina_at(p geometry)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT COALESCE(
        (SELECT min(teryt) FROM kmzb.territorial_units
         WHERE level = 'gmina' AND ST_Intersects(geom, q.point)),
        (SELECT teryt FROM kmzb.territorial_units
         WHERE level = 'gmina'
         ORDER BY geom <-> q.point, teryt
         LIMIT 1))
    FROM (SELECT ST_Transform(p, 2180) AS point) q
$function$;

CREATE OR REPLACE FUNCTION kmzb.police_unit_at(p geometry)
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT COALESCE(
        (SELECT min(code) FROM kmzb.police_units
         WHERE area IS NOT NULL AND ST_Intersects(area, q.point)),
        (SELECT code FROM kmzb.police_units
         WHERE area IS NOT NULL
         ORDER BY area <-> q.point, code
         LIMIT 1))
    FROM (SELECT ST_Transform(p, 2180) AS point) q
$function$;

-- One round trip for the write of a submission (issue 16): the daily limit (the
-- reporter's advisory lock, then the count, as two statements so the count sees
-- every report committed before the lock was granted), the report routed to its
-- police unit and gmina, its first history entry, its attachments, the burst
-- guard and the public alert, and the names the answer carries. Sixteen round
-- trips of kmzb.domain.intake became five (checked checkout, BEGIN, the checks,
-- this, COMMIT). The checks (category, point in Poland) stay a query of their own:
-- Open311 asks them without storing anything.
--
-- Returns one row. `outcome`:
--   'stored'     the report is in, the other columns describe it;
--   'limited'    the daily limit is used up: nothing was stored;
--   'ref_taken'  the reference drawn by the caller exists: nothing was stored,
--                draw another and call again (the lock is held already).
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
AS $fn$
DECLARE
    new_id bigint;
    new_ref text;
    new_status text;
    new_unit text;
    new_gmina text;
    new_created timestamptz;
    new_geom geometry;
BEGIN
    IF p_reporter_hash IS NOT NULL THEN
        -- serialise submissions of one reporter, so two at once cannot both pass
        PERFORM pg_advisory_xact_lock(hashtextextended(p_reporter_hash, 0));
        -- a statement of its own: its snapshot is taken once the lock is held
        IF kmzb.reports_today_by_reporter(p_reporter_hash) >= p_daily_limit THEN
            RETURN QUERY SELECT 'limited'::text, NULL::bigint, NULL::text, NULL::text,
                NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text;
            RETURN;
        END IF;
    END IF;

    INSERT INTO kmzb.reports AS r (public_ref, category, geom, event_date, time_of_day,
                                   description, status, police_unit, gmina_teryt, source,
                                   reporter_hash, address_string, media_url)
    SELECT p_ref, p_category, p_geom, p_event_date, p_time_of_day, p_description,
           (SELECT s.code FROM kmzb.statuses s WHERE s.is_initial),
           kmzb.police_unit_at(p_geom), kmzb.gmina_at(p_geom), p_source, p_reporter_hash,
           p_address_string, p_media_url
    ON CONFLICT ON CONSTRAINT reports_public_ref_key DO NOTHING
    RETURNING r.id, r.public_ref, r.status, r.police_unit, r.gmina_teryt, r.created_at, r.geom
    INTO new_id, new_ref, new_status, new_unit, new_gmina, new_created, new_geom;
    IF new_id IS NULL THEN
        RETURN QUERY SELECT 'ref_taken'::text, NULL::bigint, NULL::text, NULL::text,
            NULL::text, NULL::text, NULL::timestamptz, NULL::text, NULL::text, NULL::text;
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

    -- the flood guard (kmzb.domain.bursts): citizen reports only, off at threshold 0.
    -- The reports this hold took from the public view (held_at is this transaction's
    -- time: no other transaction's) are withdrawn in this transaction, found through
    -- the spatial index as kmzb.hold_burst found them; kmzb.sync_public_alerts would
    -- compare every announced report (2.4 ms at 13,000, growing), and what changed
    -- with no write is the periodic sweep's (kmzb.domain.alerts.sweep).
    IF p_source = 'citizen' AND p_burst_threshold > 0 THEN
        IF kmzb.hold_burst(new_id, p_burst_radius_m, p_burst_window, p_burst_threshold) > 0 THEN
            PERFORM kmzb.sync_public_alert(o.id, p_public_url)
            FROM (SELECT h.id FROM kmzb.reports h
                  WHERE ST_DWithin(h.geom, new_geom, p_burst_radius_m)
                    AND h.created_at > new_created - p_burst_window
                    AND h.held_at = now() AND h.id <> new_id
                  ORDER BY h.id) o;
        END IF;
    END IF;
    -- public on submission: announced on commit (kmzb.domain.alerts)
    PERFORM kmzb.sync_public_alert(new_id, p_public_url);

    RETURN QUERY
        SELECT 'stored'::text, new_id, new_ref, new_status, new_unit, new_gmina, new_created,
               s.name_pl, s.name_en, u.name
        FROM kmzb.statuses s, kmzb.police_units u
        WHERE s.code = new_status AND u.code = new_unit;
END
$fn$;

REVOKE ALL ON FUNCTION kmzb.submit_report(text, text, geometry, date, text, text, text, text,
    integer, text, text, text, text, text, text[], text[], text[], bytea[], double precision,
    interval, integer, text) FROM PUBLIC;
SELECT kmzb.grant_service_privilege('kmzb_api', 'EXECUTE',
    'kmzb.submit_report(text, text, geometry, date, text, text, text, text, integer, text, '
    'text, text, text, text, text[], text[], text[], bytea[], double precision, interval, '
    'integer, text)',
    'submit-threat and Open311 store a report in one round trip');
