-- Visibility as a column: each report carries `public_until`, the instant it
-- leaves the public map ('infinity' while its status is always public,
-- '-infinity' if never). It is computed from the policy tables by
-- kmzb.public_until() whenever a report changes, and for every report when the
-- policy changes, so the rule stays data in one place. Public reads then test
-- one column instead of joining the policy for each candidate row, and the
-- spatial index carries it (btree_gist), so invisible reports are not fetched.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE FUNCTION kmzb.public_until(p_category text, p_status text, p_changed timestamptz)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT COALESCE((
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
    ), '-infinity'::timestamptz)
$$;

ALTER TABLE kmzb.reports ADD COLUMN public_until timestamptz NOT NULL DEFAULT '-infinity';
UPDATE kmzb.reports SET public_until = kmzb.public_until(category, status, status_changed_at);

CREATE FUNCTION kmzb.reports_set_public_until() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.public_until := kmzb.public_until(NEW.category, NEW.status, NEW.status_changed_at);
    RETURN NEW;
END
$$;
-- named to run after reports_check_row, which sets status_changed_at
CREATE TRIGGER reports_set_public_until
    BEFORE INSERT OR UPDATE ON kmzb.reports
    FOR EACH ROW EXECUTE FUNCTION kmzb.reports_set_public_until();

-- The check trigger fires only when a report's own content changes, so that
-- recomputing public_until after a policy change is not a new version.
DROP TRIGGER reports_check_row ON kmzb.reports;
CREATE TRIGGER reports_check_row
    BEFORE INSERT OR UPDATE OF public_ref, category, geom, event_date, time_of_day,
        description, status, police_unit, gmina_teryt, source, reporter_hash, forwarded_to,
        created_at
    ON kmzb.reports
    FOR EACH ROW EXECUTE FUNCTION kmzb.reports_check_row();

CREATE FUNCTION kmzb.recompute_public_until() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE kmzb.reports
    SET public_until = kmzb.public_until(category, status, status_changed_at)
    WHERE public_until IS DISTINCT FROM kmzb.public_until(category, status, status_changed_at);
    RETURN NULL;
END
$$;
CREATE TRIGGER visibility_policy_changed
    AFTER INSERT OR UPDATE OR DELETE ON kmzb.visibility_policy
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.recompute_public_until();
CREATE TRIGGER threat_categories_changed
    AFTER UPDATE OF public_rule ON kmzb.threat_categories
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.recompute_public_until();
CREATE TRIGGER statuses_changed
    AFTER UPDATE OF is_confirmed ON kmzb.statuses
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.recompute_public_until();

DROP INDEX kmzb.reports_geom_wgs84_idx;
CREATE INDEX reports_public_geom_wgs84_idx ON kmzb.reports
    USING gist ((ST_Transform(geom, 4326)::geometry(Point, 4326)), public_until);
DROP INDEX kmzb.reports_geom_3857_idx;
CREATE INDEX reports_public_geom_3857_idx ON kmzb.reports
    USING gist ((ST_Transform(geom, 3857)::geometry(Point, 3857)), public_until);

CREATE OR REPLACE VIEW kmzb.public_threats AS
SELECT r.public_ref AS id, r.category,
       (SELECT c.name_pl FROM kmzb.threat_categories c WHERE c.code = r.category)
           AS category_name,
       r.status,
       (SELECT s.name_pl FROM kmzb.statuses s WHERE s.code = r.status) AS status_name,
       r.event_date, r.time_of_day, r.description,
       r.created_at::date AS reported_on, r.status_changed_at,
       r.police_unit,
       (SELECT pu.name FROM kmzb.police_units pu WHERE pu.code = r.police_unit)
           AS police_unit_name,
       r.gmina_teryt, r.source, ST_Transform(r.geom, 4326)::geometry(Point, 4326) AS geom
FROM kmzb.reports r
WHERE r.public_until > now();
