-- Views for the styled map (QGIS Server, qgis_projects/kmzb_public.qgs).
-- They keep the stored EPSG:2180 geometry (the project's CRS), so the map
-- server reads the base tables' own spatial indexes and reprojects nothing
-- for PUWG 1992 requests. Each view has an integer key `fid` (QGIS maps
-- integer keys to feature ids directly; a text key would grow a lookup table
-- inside every server process). None carries personal data: no reporter
-- hash, no history, no notes.

-- Public threats, by the visibility policy (the same test as public_threats).
CREATE VIEW kmzb.wms_threats AS
SELECT r.id AS fid, r.public_ref AS reference, r.category,
       (SELECT c.name_pl FROM kmzb.threat_categories c WHERE c.code = r.category)
           AS category_name,
       r.status,
       (SELECT s.name_pl FROM kmzb.statuses s WHERE s.code = r.status) AS status_name,
       r.event_date, r.created_at::date AS reported_on, r.police_unit, r.gmina_teryt,
       r.geom::geometry(Point, 2180) AS geom
FROM kmzb.reports r
WHERE r.public_until > now();

-- Reports that are not (or no longer) public, for the police layer. The QGIS
-- Server plugin (plugins/qgis_server/kmzb_access) shows this layer only to a
-- valid police token and narrows it to the units the token reaches.
CREATE VIEW kmzb.wms_unit_reports AS
SELECT r.id AS fid, r.public_ref AS reference, r.category,
       (SELECT c.name_pl FROM kmzb.threat_categories c WHERE c.code = r.category)
           AS category_name,
       r.status,
       (SELECT s.name_pl FROM kmzb.statuses s WHERE s.code = r.status) AS status_name,
       r.event_date, r.created_at::date AS reported_on, r.status_changed_at::date
           AS status_changed_on, r.police_unit, r.gmina_teryt, r.forwarded_to,
       r.geom::geometry(Point, 2180) AS geom
FROM kmzb.reports r
WHERE r.public_until <= now();

-- The police units whose reports a unit's officer (coordinator = false) or
-- coordinator (true: the unit and every unit under it) may see; the same
-- reach as kmzb.domain.units.REACH_SQL, callable from a layer subset string.
CREATE FUNCTION kmzb.police_unit_reach(p_unit text, p_coordinator boolean)
RETURNS SETOF text LANGUAGE sql STABLE AS $$
    WITH RECURSIVE reach AS (
        SELECT code FROM kmzb.police_units WHERE code = p_unit
        UNION
        SELECT c.code FROM kmzb.police_units c JOIN reach r ON c.parent_code = r.code
        WHERE p_coordinator
    )
    SELECT code FROM reach
$$;

-- The grid of public threats (materialized, kmzb.public_threat_cells) with an
-- integer key: zoom z (0-13), column and row below 2^19.
CREATE VIEW kmzb.wms_threat_cells AS
SELECT (c.z::bigint << 40) | (c.cx << 20) | c.cy AS fid, c.z, c.n, c.confirmed,
       c.geom
FROM kmzb.public_threat_cells c;

-- Territorial boundaries in EPSG:2180; fid is the numeric TERYT code.
CREATE VIEW kmzb.wms_wojewodztwa AS
SELECT u.teryt::bigint AS fid, u.teryt, u.name, u.population,
       u.geom::geometry(MultiPolygon, 2180) AS geom
FROM kmzb.territorial_units u WHERE u.level = 'wojewodztwo';

CREATE VIEW kmzb.wms_powiaty AS
SELECT u.teryt::bigint AS fid, u.teryt, u.name, u.parent_teryt AS wojewodztwo_teryt,
       u.population, u.geom::geometry(MultiPolygon, 2180) AS geom
FROM kmzb.territorial_units u WHERE u.level = 'powiat';

CREATE VIEW kmzb.wms_gminy AS
SELECT u.teryt::bigint AS fid, u.teryt, u.name,
       CASE u.gmina_type WHEN 1 THEN 'miejska' WHEN 2 THEN 'wiejska'
                         WHEN 3 THEN 'miejsko-wiejska' ELSE 'inna' END AS gmina_type_name,
       u.parent_teryt AS powiat_teryt, u.population,
       u.geom::geometry(MultiPolygon, 2180) AS geom
FROM kmzb.territorial_units u WHERE u.level = 'gmina';

-- Crime rates per 10,000 inhabitants, one row per unit and year (every year
-- on record: the map picks one through the WMS dimension ROK).
CREATE VIEW kmzb.wms_crime_rates AS
WITH rates AS (
    SELECT s.teryt, s.year,
           max(s.rate_per_10k) FILTER (WHERE s.category = 'total') AS total_per_10k,
           max(s.count) FILTER (WHERE s.category = 'total') AS total_count,
           max(s.rate_per_10k) FILTER (WHERE s.category = 'criminal') AS criminal_per_10k,
           max(s.rate_per_10k) FILTER (WHERE s.category = 'property') AS property_per_10k,
           max(s.rate_per_10k) FILTER (WHERE s.category = 'life_health') AS life_health_per_10k,
           max(s.rate_per_10k) FILTER (WHERE s.category = 'traffic') AS traffic_per_10k,
           max(s.rate_per_10k) FILTER (WHERE s.category = 'economic') AS economic_per_10k,
           max(s.detection_rate) FILTER (WHERE s.category = 'total') AS detection_rate
    FROM kmzb.crime_statistics s
    GROUP BY s.teryt, s.year
)
SELECT r.year::integer * 10000 + u.teryt::integer AS fid,
       u.teryt, u.name, u.level, r.year::integer AS year,
       r.total_per_10k::float8 AS total_per_10k, r.total_count,
       r.criminal_per_10k::float8 AS criminal_per_10k,
       r.property_per_10k::float8 AS property_per_10k,
       r.life_health_per_10k::float8 AS life_health_per_10k,
       r.traffic_per_10k::float8 AS traffic_per_10k,
       r.economic_per_10k::float8 AS economic_per_10k,
       r.detection_rate::float8 AS detection_rate,
       p.total AS population,
       u.geom::geometry(MultiPolygon, 2180) AS geom
FROM rates r
JOIN kmzb.territorial_units u ON u.teryt = r.teryt
LEFT JOIN kmzb.population p ON p.teryt = r.teryt AND p.year = r.year
WHERE u.level IN ('wojewodztwo', 'powiat');
