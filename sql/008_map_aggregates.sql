-- Aggregates for national-scale maps: counts of public threats per grid cell
-- of the Web Mercator tile pyramid (64 x 64 cells per tile) for zoom levels
-- 0-13. Vector tiles at those zooms (and QGIS Server at small scales) read
-- cells, never millions of points. Refreshed concurrently by
-- `kmzb refresh-aggregates` (and periodically by `kmzb run`), because the
-- visibility windows change the public set without any write.
CREATE MATERIALIZED VIEW kmzb.public_threat_cells AS
WITH points AS (
    SELECT ST_Transform(geom, 3857) AS g, status FROM kmzb.public_threats
), finest AS (
    -- zoom 13: cells of 40075016.68 / 2^13 / 64 metres
    SELECT floor((ST_X(g) + 20037508.342789244) / (40075016.685578488 / 524288))::bigint AS cx,
           floor((20037508.342789244 - ST_Y(g)) / (40075016.685578488 / 524288))::bigint AS cy,
           count(*) AS n,
           count(*) FILTER (WHERE status IN ('confirmed', 'eliminated', 'forwarded')) AS confirmed,
           sum(ST_X(g)) AS sx, sum(ST_Y(g)) AS sy
    FROM points GROUP BY 1, 2
), levels AS (
    SELECT z, (cx >> (13 - z)) AS cx, (cy >> (13 - z)) AS cy,
           sum(n)::integer AS n, sum(confirmed)::integer AS confirmed,
           sum(sx) / sum(n) AS x, sum(sy) / sum(n) AS y
    FROM finest CROSS JOIN generate_series(0, 13) AS z
    GROUP BY 1, 2, 3
)
SELECT z::smallint AS z, cx, cy, n, confirmed,
       ST_SetSRID(ST_MakePoint(x, y), 3857)::geometry(Point, 3857) AS geom
FROM levels;

CREATE UNIQUE INDEX public_threat_cells_key ON kmzb.public_threat_cells (z, cx, cy);
CREATE INDEX public_threat_cells_geom_idx ON kmzb.public_threat_cells USING gist (geom);
CREATE INDEX reports_geom_3857_idx ON kmzb.reports
    USING gist ((ST_Transform(geom, 3857)::geometry(Point, 3857)));

-- The latest year's crime rates per unit, one row per unit with a column per
-- category: what a choropleth tile or map layer needs.
CREATE VIEW kmzb.public_crime_rates_latest AS
WITH latest AS (SELECT max(year) AS year FROM kmzb.crime_statistics)
SELECT u.teryt, u.name, u.level, s.year,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'total') AS total_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'criminal') AS criminal_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'economic') AS economic_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'life_health') AS life_health_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'property') AS property_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'traffic') AS traffic_per_10k,
       max(s.count) FILTER (WHERE s.category = 'total') AS total_count,
       max(s.detection_rate) FILTER (WHERE s.category = 'total') AS detection_rate,
       u.population,
       ST_Transform(u.geom, 4326)::geometry(MultiPolygon, 4326) AS geom
FROM kmzb.crime_statistics s
JOIN latest ON latest.year = s.year
JOIN kmzb.territorial_units u ON u.teryt = s.teryt
WHERE u.level IN ('wojewodztwo', 'powiat')
GROUP BY u.teryt, u.name, u.level, s.year, u.population, u.geom;
