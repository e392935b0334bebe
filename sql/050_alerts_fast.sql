-- The alerts outbox off the submission's critical path (issue 16, submissions per second).
--
-- 1. No pg_notify in kmzb.queue_alert. A transaction that notified takes, at
--    commit (PreCommit_Notify), a database-wide lock it holds until its commit,
--    WAL flush included, has finished: every submission's commit waited for the
--    previous one's fsync (no group commit). Measured: 240 -> 285 submissions/s
--    from that call alone. The publisher (kmzb.alerts_publisher) now looks for
--    unsent rows on a short timer (POLL_SECONDS) and sends them in one batch; a
--    review (rare, a person waits for its message) still wakes it at once:
--    kmzb.domain.alerts.sync notifies, in the review's transaction. No event
--    depends on a notification arriving: the outbox is read, not the channel.
--
-- 2. kmzb.sync_public_alert does in three statements what took six and a call:
--    the report, what was announced of it and every name the event carries are
--    one query; the state is written; the event is built in the outbox's INSERT
--    (queue_alert's body inline: a SECURITY DEFINER call with its own search_path
--    saved and restored is no longer paid per submission). A report this
--    transaction inserted (xmin is this transaction: no other can see it, a
--    submission's case) is read without FOR UPDATE, which wrote a lock into the
--    row and the WAL for nothing; any other report is locked first, as before, so
--    two writers of one report still announce in turn. The event is the same
--    document, key for key and value for value (tests/test_alerts.py,
--    tests/test_pubsub_outbox.py).

CREATE OR REPLACE FUNCTION kmzb.queue_alert(p_topic text, p_type text, p_subject text,
                                            p_source text, p_data jsonb)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    new_id uuid := gen_random_uuid();
BEGIN
    INSERT INTO kmzb.alert_outbox (id, topic, event)
    VALUES (new_id, p_topic, jsonb_build_object(
        'specversion', '1.0',
        'id', new_id,
        'source', p_source,
        'type', p_type,
        'subject', p_subject,
        'time', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'datacontenttype', 'application/geo+json',
        'data', p_data));
    RETURN new_id;
END
$$;

CREATE OR REPLACE FUNCTION kmzb.sync_public_alert(p_report_id bigint, p_public_url text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    event_type text;
    shown_status text;
    base text := rtrim(p_public_url, '/');
    new_id uuid;
BEGIN
    IF p_public_url IS NULL OR p_public_url !~ '^https?://' THEN
        RAISE EXCEPTION 'the public URL must be http:// or https://, not %', p_public_url
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR attempt IN 1 .. 2 LOOP
        -- shown: the public status, or (leaving the public view) the last one announced
        SELECT rep.public_ref, rep.category, rep.status_changed_at, rep.gmina_teryt,
               ST_Transform(rep.geom, 4326) AS point,
               rep.xmin = xid(pg_current_xact_id_if_assigned()) AS mine,
               a.public_status AS announced,
               CASE WHEN rep.public_until > now() THEN rep.status END AS current_status,
               c.name_pl AS category_pl, c.name_en AS category_en,
               s.code AS shown, s.name_pl AS status_pl, s.name_en AS status_en,
               g.teryt AS gmina, g.name AS gmina_name, p.teryt AS powiat,
               p.name AS powiat_name, w.teryt AS wojewodztwo, w.name AS wojewodztwo_name,
               u.code AS unit, u.name AS unit_name
          INTO r
          FROM kmzb.reports rep
          LEFT JOIN kmzb.alert_state a ON a.report_id = rep.id
          LEFT JOIN kmzb.statuses s ON s.code = CASE WHEN rep.public_until > now()
                                                     THEN rep.status ELSE a.public_status END
          LEFT JOIN kmzb.threat_categories c ON c.code = rep.category
          LEFT JOIN kmzb.territorial_units g ON g.teryt = rep.gmina_teryt
          LEFT JOIN kmzb.territorial_units p ON p.teryt = left(rep.gmina_teryt, 4)
          LEFT JOIN kmzb.territorial_units w ON w.teryt = left(rep.gmina_teryt, 2)
          LEFT JOIN kmzb.police_units u ON u.code = rep.police_unit
         WHERE rep.id = p_report_id;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
        EXIT WHEN r.mine OR attempt = 2;
        -- another transaction's report: lock it (two writers of one report announce in
        -- turn), then read it again with a snapshot that sees the other's commit
        PERFORM 1 FROM kmzb.reports WHERE id = p_report_id FOR UPDATE;
    END LOOP;

    IF r.announced IS NOT DISTINCT FROM r.current_status THEN
        RETURN NULL;
    ELSIF r.announced IS NULL THEN
        event_type := 'pl.kmzb.threat.published';
        INSERT INTO kmzb.alert_state (report_id, public_status)
        VALUES (p_report_id, r.current_status);
    ELSIF r.current_status IS NULL THEN
        event_type := 'pl.kmzb.threat.withdrawn';  -- shown: the last public status
        DELETE FROM kmzb.alert_state WHERE report_id = p_report_id;
    ELSE
        event_type := 'pl.kmzb.threat.status-changed';
        UPDATE kmzb.alert_state SET public_status = r.current_status, announced_at = now()
        WHERE report_id = p_report_id;
    END IF;
    IF r.gmina IS NULL OR r.powiat IS NULL OR r.wojewodztwo IS NULL OR r.unit IS NULL
       OR r.category_pl IS NULL OR r.shown IS NULL THEN
        RAISE EXCEPTION 'report % has no gmina, powiat, województwo or unit to announce', r.public_ref;
    END IF;
    new_id := gen_random_uuid();
    INSERT INTO kmzb.alert_outbox (id, topic, event)
    VALUES (new_id,
            format('kmzb/threats/%s/%s/%s/%s', left(r.gmina_teryt, 2), left(r.gmina_teryt, 4),
                   r.gmina_teryt, r.category),
            jsonb_build_object(
                'specversion', '1.0',
                'id', new_id,
                'source', base,
                'type', event_type,
                'subject', r.public_ref,
                'time', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                                'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                'datacontenttype', 'application/geo+json',
                'data', jsonb_build_object(
                    'type', 'Feature',
                    'id', r.public_ref,
                    'geometry', jsonb_build_object('type', 'Point', 'coordinates',
                        jsonb_build_array(round(ST_X(r.point)::numeric, 5),
                                          round(ST_Y(r.point)::numeric, 5))),
                    'properties', jsonb_build_object(
                        'reference', r.public_ref,
                        'category', r.category,
                        'category_name', jsonb_build_object('pl', r.category_pl,
                                                            'en', r.category_en),
                        'status', r.shown,
                        'status_name', jsonb_build_object('pl', r.status_pl, 'en', r.status_en),
                        'gmina', jsonb_build_object('teryt', r.gmina, 'name', r.gmina_name),
                        'powiat', jsonb_build_object('teryt', r.powiat, 'name', r.powiat_name),
                        'wojewodztwo', jsonb_build_object('teryt', r.wojewodztwo,
                                                          'name', r.wojewodztwo_name),
                        'police_unit', jsonb_build_object('code', r.unit, 'name', r.unit_name),
                        'changed_at', to_char(r.status_changed_at AT TIME ZONE 'UTC',
                                              'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
                    'links', jsonb_build_array(
                        jsonb_build_object('rel', 'self', 'type', 'application/geo+json',
                                           'href', base || '/collections/threats/items/'
                                                   || r.public_ref),
                        jsonb_build_object('rel', 'alternate', 'type', 'application/json',
                                           'href', base || '/reports/' || r.public_ref),
                        jsonb_build_object('rel', 'alternate', 'type', 'application/atom+xml',
                                           'href', base || '/reports/' || r.public_ref
                                                   || '/feed.atom')))));
    RETURN new_id;
END
$$;

-- CREATE OR REPLACE reset their search_path: PostGIS's schema again, as migration 044 set it
DO $$
DECLARE
    postgis_schema name := (SELECT n.nspname FROM pg_extension e
                            JOIN pg_namespace n ON n.oid = e.extnamespace
                            WHERE e.extname = 'postgis');
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY['kmzb.queue_alert(text, text, text, text, jsonb)',
                              'kmzb.sync_public_alert(bigint, text)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp',
                       fn, postgis_schema);
    END LOOP;
END
$$;
