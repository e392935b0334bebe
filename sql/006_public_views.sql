-- Public views: what the APIs and QGIS Server read. They apply the visibility
-- policy and carry no personal data (no reporter hash, no police notes).
-- Geometry leaves in WGS84 (lon/lat, as OGC API's CRS84 default); expression
-- indexes on the transformed geometry keep bbox filters on an index.
-- (The typed cast tells QGIS and GDAL the geometry type and SRID of each view.)
CREATE INDEX territorial_units_geom_wgs84_idx ON kmzb.territorial_units
    USING gist ((ST_Transform(geom, 4326)::geometry(MultiPolygon, 4326)));
CREATE INDEX police_units_jurisdiction_wgs84_idx ON kmzb.police_units
    USING gist ((ST_Transform(jurisdiction, 4326)::geometry(MultiPolygon, 4326)));
CREATE INDEX reports_geom_wgs84_idx ON kmzb.reports
    USING gist ((ST_Transform(geom, 4326)::geometry(Point, 4326)));

CREATE VIEW kmzb.public_territorial_units AS
SELECT u.teryt, u.level, l.name_pl AS level_name, u.name, u.parent_teryt,
       u.gmina_type, u.population, u.population_year,
       ST_Transform(u.geom, 4326)::geometry(MultiPolygon, 4326) AS geom
FROM kmzb.territorial_units u
JOIN kmzb.territorial_levels l ON l.code = u.level;

CREATE VIEW kmzb.public_wojewodztwa AS
SELECT teryt, name, population, population_year, ST_Transform(geom, 4326)::geometry(MultiPolygon, 4326) AS geom
FROM kmzb.territorial_units WHERE level = 'wojewodztwo';

CREATE VIEW kmzb.public_powiaty AS
SELECT teryt, name, parent_teryt AS wojewodztwo_teryt, population, population_year,
       ST_Transform(geom, 4326)::geometry(MultiPolygon, 4326) AS geom
FROM kmzb.territorial_units WHERE level = 'powiat';

CREATE VIEW kmzb.public_gminy AS
SELECT u.teryt, u.name, u.gmina_type,
       CASE u.gmina_type WHEN 1 THEN 'miejska' WHEN 2 THEN 'wiejska'
                         WHEN 3 THEN 'miejsko-wiejska' ELSE 'inna' END AS gmina_type_name,
       u.parent_teryt AS powiat_teryt, left(u.teryt, 2) AS wojewodztwo_teryt,
       u.population, ST_Transform(u.geom, 4326)::geometry(MultiPolygon, 4326) AS geom
FROM kmzb.territorial_units u WHERE u.level = 'gmina';

CREATE VIEW kmzb.public_police_units AS
SELECT p.code, p.kind, k.name_pl AS kind_name, p.name, p.parent_code,
       p.voivodeship_teryt, p.takes_reports,
       (SELECT array_to_string(array_agg(a.powiat_teryt ORDER BY a.powiat_teryt), ',')
          FROM kmzb.police_unit_areas a WHERE a.unit_code = p.code) AS powiaty,
       ST_Transform(p.jurisdiction, 4326)::geometry(MultiPolygon, 4326) AS geom
FROM kmzb.police_units p
JOIN kmzb.police_unit_kinds k ON k.code = p.kind;

CREATE VIEW kmzb.public_threat_categories AS
SELECT code, name_pl, name_en, description_required,
       public_rule <> 'never' AS shown_on_public_map, sort_order
FROM kmzb.threat_categories;

CREATE VIEW kmzb.public_crime_statistics AS
SELECT s.teryt || '-' || s.year || '-' || s.category AS id,
       s.teryt, u.name AS unit_name, u.level, s.year, s.category,
       c.name_pl AS category_name, s.count, s.rate_per_10k, s.detection_rate,
       p.total AS population,
       ST_Transform(u.geom, 4326)::geometry(MultiPolygon, 4326) AS geom
FROM kmzb.crime_statistics s
JOIN kmzb.territorial_units u ON u.teryt = s.teryt
JOIN kmzb.crime_categories c ON c.code = s.category
LEFT JOIN kmzb.population p ON p.teryt = s.teryt AND p.year = s.year;

CREATE VIEW kmzb.public_threats AS
SELECT r.public_ref AS id, r.category, c.name_pl AS category_name,
       r.status, s.name_pl AS status_name,
       r.event_date, r.time_of_day, r.description,
       r.created_at::date AS reported_on, r.status_changed_at,
       r.police_unit, pu.name AS police_unit_name,
       r.gmina_teryt, r.source, ST_Transform(r.geom, 4326)::geometry(Point, 4326) AS geom
FROM kmzb.reports r
JOIN kmzb.threat_categories c ON c.code = r.category
JOIN kmzb.statuses s ON s.code = r.status
JOIN kmzb.visibility_policy v ON v.status = r.status
JOIN kmzb.police_units pu ON pu.code = r.police_unit
WHERE v.is_public
  AND (v.public_for IS NULL OR r.status_changed_at + v.public_for > now())
  AND CASE c.public_rule
          WHEN 'never' THEN false
          WHEN 'confirmed_only' THEN s.is_confirmed
          ELSE true END;
