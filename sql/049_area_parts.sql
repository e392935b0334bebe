-- Routing and the point-in-Poland check on small parts of the polygons (issue 16,
-- submissions per second).
--
-- Every submission asks kmzb.is_inside_poland twice (the check query and the reports
-- row trigger), kmzb.gmina_at and kmzb.police_unit_at once, each as a statement of its
-- own: each call planned its SQL body again, walked the GiST index of all territorial
-- units (the country, voivodeships and powiaty beside the gminy) and tested whole
-- polygons (Poland: 2,976 vertices, 47 kB detoasted per call).
--
-- kmzb.area_parts holds each polygon cut by ST_Subdivide into parts of at most 64
-- vertices, one GiST index per layer: the country ('kraj', teryt 'PL'), the gminy
-- ('gmina') and the police units' areas ('police'). The functions become PL/pgSQL
-- (their plans are kept for the session) and test the point against the few small
-- parts whose box holds it.
--
-- The same answer as the whole polygons, on every point. The parts of a polygon cover
-- exactly it, except within a rounding error of the cuts: the edges ST_Subdivide made
-- (along its clip lines, and where a clip line splits an edge of the polygon, whose
-- new vertex is rounded). Every other edge of a part is an edge of the polygon,
-- vertex for vertex, so a point away from the cuts gets the same answer from the
-- parts as from the polygon, on its boundary too. `cuts` keeps each part's cut edges;
-- a point within 1 mm of one (the error is about 1e-10 m) is answered by the whole
-- polygons, as before. A polygon whose parts lost one of its vertices or some of its
-- area (the clipping failed) is kept whole, as the parts of ST_Dump.
--
-- The rules stay as 047 wrote them: the lowest code among the polygons the point
-- intersects; a point in none (water between gminy, a gap between police areas) gets
-- the nearest polygon, by the whole polygons.
--
-- The parts follow their polygons: statement-level triggers on kmzb.territorial_units
-- and kmzb.police_units rebuild the parts of the codes a statement changed (a full
-- load cuts all of them once, ~0.3 s).

CREATE TABLE kmzb.area_parts (
    layer text NOT NULL CHECK (layer IN ('kraj', 'gmina', 'police')),
    -- the polygon's teryt ('kraj', 'gmina') or police unit code ('police')
    code  text NOT NULL,
    geom  geometry(Polygon, 2180) NOT NULL,
    -- the edges of this part that are no edges of the polygon; NULL when none
    cuts  geometry(MultiLineString, 2180)
);
COMMENT ON TABLE kmzb.area_parts IS
    'Gminy, police unit areas and Poland cut into small parts for point-in-polygon '
    '(kmzb.gmina_at, kmzb.police_unit_at, kmzb.is_inside_poland); kept by triggers';
-- a partial index per layer: a lookup walks only its own layer's boxes
CREATE INDEX area_parts_kraj_idx ON kmzb.area_parts USING gist (geom) WHERE layer = 'kraj';
CREATE INDEX area_parts_gmina_idx ON kmzb.area_parts USING gist (geom) WHERE layer = 'gmina';
CREATE INDEX area_parts_police_idx ON kmzb.area_parts USING gist (geom) WHERE layer = 'police';
CREATE INDEX area_parts_code_idx ON kmzb.area_parts (layer, code);

-- The parts of these codes of a layer made again from the polygons as they are now
-- (all codes of the layer when p_codes is NULL); a code whose polygon is gone loses
-- its parts.
CREATE FUNCTION kmzb.refresh_area_parts(p_layer text, p_codes text[]) RETURNS void
LANGUAGE plpgsql AS $fn$
BEGIN
    DELETE FROM kmzb.area_parts
    WHERE layer = p_layer AND (p_codes IS NULL OR code = ANY (p_codes));

    INSERT INTO kmzb.area_parts (layer, code, geom, cuts)
    WITH whole AS (
        SELECT teryt AS code, geom FROM kmzb.territorial_units
        WHERE p_layer = 'kraj' AND teryt = 'PL'
          AND (p_codes IS NULL OR teryt = ANY (p_codes))
        UNION ALL
        SELECT teryt, geom FROM kmzb.territorial_units
        WHERE p_layer = 'gmina' AND level = 'gmina'
          AND (p_codes IS NULL OR teryt = ANY (p_codes))
        UNION ALL
        SELECT code, area FROM kmzb.police_units
        WHERE p_layer = 'police' AND area IS NOT NULL
          AND (p_codes IS NULL OR code = ANY (p_codes))
    ), cut AS MATERIALIZED (
        SELECT w.code, row_number() OVER () AS part, p.geom
        FROM whole w, ST_Subdivide(w.geom, 64) AS p(geom)
        WHERE GeometryType(p.geom) = 'POLYGON'
    ), split AS MATERIALIZED (
        -- ST_Subdivide returns a polygon small enough as it is: only the others were cut
        SELECT w.code, w.geom
        FROM whole w
        JOIN (SELECT code, count(*) AS parts, sum(ST_NPoints(geom)) AS points,
                     sum(ST_Area(geom)) AS area
              FROM cut GROUP BY code) c ON c.code = w.code
        WHERE (c.parts, c.points) <> (ST_NumGeometries(w.geom), ST_NPoints(w.geom))
           OR abs(ST_Area(w.geom) - c.area) > 0.01
    ), part_edges AS (
        SELECT c.code, c.part, e.geom, ST_AsBinary(ST_Normalize(e.geom)) AS k
        FROM cut c, ST_DumpSegments(c.geom) AS e
        WHERE c.code IN (SELECT code FROM split)
    ), whole_edges AS (
        SELECT s.code, ST_AsBinary(ST_Normalize(e.geom)) AS k
        FROM split s, ST_DumpSegments(s.geom) AS e
    ), cuts AS (
        SELECT pe.part, ST_Multi(ST_Collect(pe.geom)) AS cuts
        FROM part_edges pe
        WHERE NOT EXISTS (SELECT 1 FROM whole_edges we WHERE we.code = pe.code AND we.k = pe.k)
        GROUP BY pe.part
    ), failed AS (
        -- clipping that moved or lost a vertex of the polygon, or lost some of its area
        SELECT s.code FROM split s, ST_DumpPoints(s.geom) AS v
        WHERE NOT EXISTS (SELECT 1 FROM cut c, ST_DumpPoints(c.geom) AS cv
                          WHERE c.code = s.code
                            AND (ST_X(cv.geom), ST_Y(cv.geom)) = (ST_X(v.geom), ST_Y(v.geom)))
        UNION
        SELECT w.code
        FROM whole w
        LEFT JOIN (SELECT code, sum(ST_Area(geom)) AS area FROM cut GROUP BY code) c
            ON c.code = w.code
        WHERE abs(ST_Area(w.geom) - coalesce(c.area, 0)) > 0.01
    )
    SELECT p_layer, c.code, c.geom, x.cuts
    FROM cut c LEFT JOIN cuts x ON x.part = c.part
    WHERE c.code NOT IN (SELECT code FROM failed)
    UNION ALL
    SELECT p_layer, w.code, d.geom, NULL
    FROM whole w, ST_Dump(w.geom) AS d
    WHERE w.code IN (SELECT code FROM failed);
END
$fn$;
REVOKE ALL ON FUNCTION kmzb.refresh_area_parts(text, text[]) FROM PUBLIC;

-- Triggers: after each statement, the codes whose polygon (or level, or code) it
-- changed. A statement that changed no polygon (names, population) costs one compare.
CREATE FUNCTION kmzb.territorial_units_area_parts() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    kraj text[];
    gminy text[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM kmzb.area_parts WHERE layer IN ('kraj', 'gmina');
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(teryt) FILTER (WHERE level = 'kraj'),
               array_agg(teryt) FILTER (WHERE level = 'gmina')
        INTO kraj, gminy FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(teryt) FILTER (WHERE level = 'kraj'),
               array_agg(teryt) FILTER (WHERE level = 'gmina')
        INTO kraj, gminy FROM old_rows;
    ELSE
        SELECT array_agg(DISTINCT teryt) FILTER (WHERE level = 'kraj'),
               array_agg(DISTINCT teryt) FILTER (WHERE level = 'gmina')
        INTO kraj, gminy
        FROM (
            (SELECT teryt, level, ST_AsEWKB(geom) FROM old_rows WHERE level IN ('kraj', 'gmina')
             EXCEPT
             SELECT teryt, level, ST_AsEWKB(geom) FROM new_rows WHERE level IN ('kraj', 'gmina'))
            UNION
            (SELECT teryt, level, ST_AsEWKB(geom) FROM new_rows WHERE level IN ('kraj', 'gmina')
             EXCEPT
             SELECT teryt, level, ST_AsEWKB(geom) FROM old_rows WHERE level IN ('kraj', 'gmina'))
        ) diff;
    END IF;
    IF kraj IS NOT NULL THEN
        PERFORM kmzb.refresh_area_parts('kraj', kraj);
    END IF;
    IF gminy IS NOT NULL THEN
        PERFORM kmzb.refresh_area_parts('gmina', gminy);
    END IF;
    RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION kmzb.territorial_units_area_parts() FROM PUBLIC;

CREATE FUNCTION kmzb.police_units_area_parts() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    codes text[];
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM kmzb.area_parts WHERE layer = 'police';
        RETURN NULL;
    ELSIF TG_OP = 'INSERT' THEN
        SELECT array_agg(code) INTO codes FROM new_rows WHERE area IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(code) INTO codes FROM old_rows WHERE area IS NOT NULL;
    ELSE
        SELECT array_agg(DISTINCT code) INTO codes FROM (
            (SELECT code, ST_AsEWKB(area) FROM old_rows
             EXCEPT SELECT code, ST_AsEWKB(area) FROM new_rows)
            UNION
            (SELECT code, ST_AsEWKB(area) FROM new_rows
             EXCEPT SELECT code, ST_AsEWKB(area) FROM old_rows)
        ) diff;
    END IF;
    IF codes IS NOT NULL THEN
        PERFORM kmzb.refresh_area_parts('police', codes);
    END IF;
    RETURN NULL;
END
$fn$;
REVOKE ALL ON FUNCTION kmzb.police_units_area_parts() FROM PUBLIC;

-- Names resolve in pg_catalog and PostGIS's schema only (as in 044). No JIT: the
-- planner's guess for the set-returning functions (1,000 rows each) crosses
-- jit_above_cost, and compiling took 2 s of a cut that runs in 0.2 s.
DO $$
DECLARE
    postgis_schema name := (SELECT n.nspname FROM pg_extension e
                            JOIN pg_namespace n ON n.oid = e.extnamespace
                            WHERE e.extname = 'postgis');
    fn text;
BEGIN
    FOREACH fn IN ARRAY ARRAY['kmzb.refresh_area_parts(text, text[])',
                              'kmzb.territorial_units_area_parts()',
                              'kmzb.police_units_area_parts()'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp',
                       fn, postgis_schema);
        EXECUTE format('ALTER FUNCTION %s SET jit = off', fn);
    END LOOP;
END
$$;

-- Transition tables need one trigger per event.
CREATE TRIGGER territorial_units_area_parts_insert AFTER INSERT ON kmzb.territorial_units
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.territorial_units_area_parts();
CREATE TRIGGER territorial_units_area_parts_update AFTER UPDATE ON kmzb.territorial_units
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.territorial_units_area_parts();
CREATE TRIGGER territorial_units_area_parts_delete AFTER DELETE ON kmzb.territorial_units
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.territorial_units_area_parts();
CREATE TRIGGER territorial_units_area_parts_truncate AFTER TRUNCATE ON kmzb.territorial_units
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.territorial_units_area_parts();
CREATE TRIGGER police_units_area_parts_insert AFTER INSERT ON kmzb.police_units
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.police_units_area_parts();
CREATE TRIGGER police_units_area_parts_update AFTER UPDATE ON kmzb.police_units
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.police_units_area_parts();
CREATE TRIGGER police_units_area_parts_delete AFTER DELETE ON kmzb.police_units
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.police_units_area_parts();
CREATE TRIGGER police_units_area_parts_truncate AFTER TRUNCATE ON kmzb.police_units
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.police_units_area_parts();

SELECT kmzb.refresh_area_parts(layer, NULL)
FROM unnest(ARRAY['kraj', 'gmina', 'police']) AS layer;
ANALYZE kmzb.area_parts;

-- The functions: PL/pgSQL keeps their plans for the session. No SET clause, as
-- before (it would cost each call; the names are schema-qualified or PostGIS's).
CREATE OR REPLACE FUNCTION kmzb.is_inside_poland(p geometry) RETURNS boolean
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    point geometry := ST_Transform(p, 2180);
    inside boolean;
    near_cut boolean;
BEGIN
    SELECT bool_or(ST_Intersects(a.geom, point)), bool_or(ST_DWithin(a.cuts, point, 0.001))
    INTO inside, near_cut
    FROM kmzb.area_parts a
    WHERE a.layer = 'kraj' AND a.geom && ST_Expand(point, 0.001);
    IF near_cut THEN
        inside := EXISTS (SELECT 1 FROM kmzb.territorial_units
                          WHERE teryt = 'PL' AND ST_Intersects(geom, point));
    END IF;
    RETURN coalesce(inside, false);
END
$fn$;

CREATE OR REPLACE FUNCTION kmzb.gmina_at(p geometry) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    point geometry := ST_Transform(p, 2180);
    found text;
    near_cut boolean;
BEGIN
    SELECT min(a.code) FILTER (WHERE ST_Intersects(a.geom, point)),
           bool_or(ST_DWithin(a.cuts, point, 0.001))
    INTO found, near_cut
    FROM kmzb.area_parts a
    WHERE a.layer = 'gmina' AND a.geom && ST_Expand(point, 0.001);
    IF near_cut THEN
        found := (SELECT min(teryt) FROM kmzb.territorial_units
                  WHERE level = 'gmina' AND ST_Intersects(geom, point));
    END IF;
    IF found IS NULL THEN
        found := (SELECT teryt FROM kmzb.territorial_units
                  WHERE level = 'gmina'
                  ORDER BY geom <-> point, teryt
                  LIMIT 1);
    END IF;
    RETURN found;
END
$fn$;

CREATE OR REPLACE FUNCTION kmzb.police_unit_at(p geometry) RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    point geometry := ST_Transform(p, 2180);
    found text;
    near_cut boolean;
BEGIN
    SELECT min(a.code) FILTER (WHERE ST_Intersects(a.geom, point)),
           bool_or(ST_DWithin(a.cuts, point, 0.001))
    INTO found, near_cut
    FROM kmzb.area_parts a
    WHERE a.layer = 'police' AND a.geom && ST_Expand(point, 0.001);
    IF near_cut THEN
        found := (SELECT min(code) FROM kmzb.police_units
                  WHERE area IS NOT NULL AND ST_Intersects(area, point));
    END IF;
    IF found IS NULL THEN
        found := (SELECT code FROM kmzb.police_units
                  WHERE area IS NOT NULL
                  ORDER BY area <-> point, code
                  LIMIT 1);
    END IF;
    RETURN found;
END
$fn$;

-- The API reads the parts through these functions (they run as the caller); it
-- writes none: only the triggers of the loaders' writes do.
SELECT kmzb.grant_service_privilege('kmzb_api', 'SELECT', 'kmzb.area_parts',
    'kmzb.gmina_at, kmzb.police_unit_at, kmzb.is_inside_poland (routing, submission checks)');
