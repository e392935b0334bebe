-- Alerts (issue 14): what the public may see, announced over MQTT.
--
-- The transactional outbox: a write that changes what the public sees of a
-- report (a submission, a review, a burst hold or release, a visibility window
-- ending) inserts one row into kmzb.alert_outbox in its own transaction, with
-- pg_notify('kmzb_alerts', id) (delivered on commit only). The publisher
-- (kmzb.alerts_publisher) sends the unsent rows to the broker, QoS 1, and marks
-- sent_at after the broker's PUBACK; the API never talks to MQTT.
--
-- kmzb.alert_state holds, per report, the public status last announced (a row
-- only while the report is announced as public). kmzb.sync_public_alert compares
-- it with the report's public row (public_until > now(): the visibility policy,
-- the burst hold and the windows of migrations 010 and 033 decide) and queues
-- the one event: published, status-changed or withdrawn. Nothing is queued for
-- a report the public may not see.
CREATE TABLE kmzb.alert_outbox (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    seq         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,  -- the sending order
    topic       text NOT NULL CHECK (topic ~ '^kmzb/[a-z0-9/_-]+$'),
    event       jsonb NOT NULL CHECK (event ->> 'specversion' = '1.0'),
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    sent_at     timestamptz,
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error  text
);
CREATE INDEX alert_outbox_pending_idx ON kmzb.alert_outbox (seq) WHERE sent_at IS NULL;

CREATE TABLE kmzb.alert_state (
    report_id      bigint PRIMARY KEY REFERENCES kmzb.reports (id) ON DELETE CASCADE,
    public_status  text NOT NULL REFERENCES kmzb.statuses (code),
    announced_at   timestamptz NOT NULL DEFAULT now()
);

-- Reports public when this migration runs count as announced: their windows
-- ending are announced, their past is not.
INSERT INTO kmzb.alert_state (report_id, public_status)
SELECT id, status FROM kmzb.reports WHERE public_until > now();

-- Queue one event; the caller holds the transaction. Returns the row's id.
CREATE FUNCTION kmzb.queue_alert(p_topic text, p_type text, p_subject text,
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
    PERFORM pg_notify('kmzb_alerts', new_id::text);
    RETURN new_id;
END
$$;

-- Compare report `p_report_id`'s public row with what was announced last and
-- queue the event that tells the difference (NULL: nothing to tell).
-- `p_public_url` is the API's public URL (KMZB_PUBLIC_URL), for `source` and links.
CREATE FUNCTION kmzb.sync_public_alert(p_report_id bigint, p_public_url text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r record;
    announced text;
    current_status text;
    shown_status text;
    event_type text;
    base text := rtrim(p_public_url, '/');
    feature jsonb;
BEGIN
    IF p_public_url IS NULL OR p_public_url !~ '^https?://' THEN
        RAISE EXCEPTION 'the public URL must be http:// or https://, not %', p_public_url
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT rep.id, rep.public_ref, rep.category, rep.status, rep.status_changed_at,
           rep.public_until > now() AS is_public, rep.gmina_teryt, rep.police_unit,
           ST_Transform(rep.geom, 4326) AS point
      INTO r FROM kmzb.reports rep WHERE rep.id = p_report_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT public_status INTO announced FROM kmzb.alert_state WHERE report_id = p_report_id;
    current_status := CASE WHEN r.is_public THEN r.status END;
    IF announced IS NOT DISTINCT FROM current_status THEN
        RETURN NULL;
    ELSIF announced IS NULL THEN
        event_type := 'pl.kmzb.threat.published';
        shown_status := current_status;
        INSERT INTO kmzb.alert_state (report_id, public_status) VALUES (p_report_id, current_status);
    ELSIF current_status IS NULL THEN
        event_type := 'pl.kmzb.threat.withdrawn';
        shown_status := announced;  -- the last public one: a hidden status is never told
        DELETE FROM kmzb.alert_state WHERE report_id = p_report_id;
    ELSE
        event_type := 'pl.kmzb.threat.status-changed';
        shown_status := current_status;
        UPDATE kmzb.alert_state SET public_status = current_status, announced_at = now()
        WHERE report_id = p_report_id;
    END IF;
    SELECT jsonb_build_object(
        'type', 'Feature',
        'id', r.public_ref,
        'geometry', jsonb_build_object('type', 'Point', 'coordinates', jsonb_build_array(
            round(ST_X(r.point)::numeric, 5), round(ST_Y(r.point)::numeric, 5))),
        'properties', jsonb_build_object(
            'reference', r.public_ref,
            'category', r.category,
            'category_name', jsonb_build_object('pl', c.name_pl, 'en', c.name_en),
            'status', shown_status,
            'status_name', jsonb_build_object('pl', s.name_pl, 'en', s.name_en),
            'gmina', jsonb_build_object('teryt', g.teryt, 'name', g.name),
            'powiat', jsonb_build_object('teryt', p.teryt, 'name', p.name),
            'wojewodztwo', jsonb_build_object('teryt', w.teryt, 'name', w.name),
            'police_unit', jsonb_build_object('code', u.code, 'name', u.name),
            'changed_at', to_char(r.status_changed_at AT TIME ZONE 'UTC',
                                  'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
        'links', jsonb_build_array(
            jsonb_build_object('rel', 'self', 'type', 'application/geo+json',
                               'href', base || '/collections/threats/items/' || r.public_ref),
            jsonb_build_object('rel', 'alternate', 'type', 'application/json',
                               'href', base || '/reports/' || r.public_ref),
            jsonb_build_object('rel', 'alternate', 'type', 'application/atom+xml',
                               'href', base || '/reports/' || r.public_ref || '/feed.atom')))
      INTO feature
      FROM kmzb.threat_categories c, kmzb.statuses s, kmzb.territorial_units g,
           kmzb.territorial_units p, kmzb.territorial_units w, kmzb.police_units u
     WHERE c.code = r.category AND s.code = shown_status AND g.teryt = r.gmina_teryt
       AND p.teryt = left(r.gmina_teryt, 4) AND w.teryt = left(r.gmina_teryt, 2)
       AND u.code = r.police_unit;
    IF feature IS NULL THEN
        RAISE EXCEPTION 'report % has no gmina, powiat, województwo or unit to announce', r.public_ref;
    END IF;
    RETURN kmzb.queue_alert(
        format('kmzb/threats/%s/%s/%s/%s', left(r.gmina_teryt, 2), left(r.gmina_teryt, 4),
               r.gmina_teryt, r.category),
        event_type, r.public_ref, base, feature);
END
$$;

-- The periodic sweep: every announced report whose public row changed without
-- a write of the API (a visibility window ended: unconfirmed after 7 days,
-- eliminated after a month; a policy change; a burst held). Returns how many
-- events it queued.
CREATE FUNCTION kmzb.sync_public_alerts(p_public_url text)
RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    queued integer := 0;
    changed bigint;
BEGIN
    FOR changed IN
        SELECT a.report_id FROM kmzb.alert_state a JOIN kmzb.reports r ON r.id = a.report_id
        WHERE NOT r.public_until > now() OR r.status <> a.public_status
        ORDER BY a.report_id
    LOOP
        IF kmzb.sync_public_alert(changed, p_public_url) IS NOT NULL THEN
            queued := queued + 1;
        END IF;
    END LOOP;
    RETURN queued;
END
$$;

-- One `pl.kmzb.statistics.updated` per year of crime statistics loaded.
CREATE FUNCTION kmzb.queue_statistics_alert(p_year integer, p_public_url text)
RETURNS uuid
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    base text := rtrim(p_public_url, '/');
BEGIN
    IF p_year IS NULL OR p_year NOT BETWEEN 1990 AND 2100 THEN
        RAISE EXCEPTION 'a statistics year is 1990 to 2100, not %', p_year
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN kmzb.queue_alert(
        format('kmzb/statistics/crime-rates/%s', p_year), 'pl.kmzb.statistics.updated',
        'crime-rates/' || p_year, base,
        jsonb_build_object(
            'type', 'Feature', 'id', 'crime-rates-' || p_year, 'geometry', NULL,
            'properties', jsonb_build_object(
                'year', p_year,
                'units', (SELECT count(DISTINCT teryt) FROM kmzb.crime_statistics
                          WHERE year = p_year),
                'changed_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')),
            'links', jsonb_build_array(jsonb_build_object(
                'rel', 'alternate', 'type', 'application/geo+json',
                'href', base || '/collections/crime-rates/items?year=' || p_year))));
END
$$;

-- Owned by the schema's owner (these run as it: the API needs no right on the
-- outbox or the state); names resolve in pg_catalog and PostGIS's schema only.
DO $$
DECLARE
    postgis_schema name := (SELECT n.nspname FROM pg_extension e
                            JOIN pg_namespace n ON n.oid = e.extnamespace
                            WHERE e.extname = 'postgis');
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY['kmzb.queue_alert(text, text, text, text, jsonb)',
                              'kmzb.sync_public_alert(bigint, text)',
                              'kmzb.sync_public_alerts(text)',
                              'kmzb.queue_statistics_alert(integer, text)'] LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp',
                       fn, postgis_schema);
    END LOOP;
END
$$;

SELECT kmzb.grant_service_privilege('kmzb_api', 'EXECUTE', 'kmzb.sync_public_alert(bigint, text)',
                                    'submit and review queue the alert of a public change (runs as the owner)');
SELECT kmzb.grant_service_privilege('kmzb_api', 'EXECUTE', 'kmzb.sync_public_alerts(text)',
                                    'a held burst withdraws its announced reports (runs as the owner)');
