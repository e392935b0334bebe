-- Crime rates per unit and year, one row each, the categories side by side:
-- written once here and read by the API's latest-year view and the WMS view.
CREATE VIEW kmzb.crime_rates_by_year AS
SELECT s.teryt, s.year,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'total') AS total_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'criminal') AS criminal_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'economic') AS economic_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'life_health') AS life_health_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'property') AS property_per_10k,
       max(s.rate_per_10k) FILTER (WHERE s.category = 'traffic') AS traffic_per_10k,
       max(s.count) FILTER (WHERE s.category = 'total') AS total_count,
       max(s.detection_rate) FILTER (WHERE s.category = 'total') AS detection_rate
FROM kmzb.crime_statistics s
GROUP BY s.teryt, s.year;

CREATE OR REPLACE VIEW kmzb.public_crime_rates_latest AS
SELECT u.teryt, u.name, u.level, r.year,
       r.total_per_10k, r.criminal_per_10k, r.economic_per_10k, r.life_health_per_10k,
       r.property_per_10k, r.traffic_per_10k, r.total_count, r.detection_rate,
       u.population,
       ST_Transform(u.geom, 4326)::geometry(MultiPolygon, 4326) AS geom
FROM kmzb.crime_rates_by_year r
JOIN kmzb.territorial_units u ON u.teryt = r.teryt
WHERE u.level IN ('wojewodztwo', 'powiat')
  AND r.year = (SELECT max(year) FROM kmzb.crime_statistics);

CREATE OR REPLACE VIEW kmzb.wms_crime_rates AS
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
FROM kmzb.crime_rates_by_year r
JOIN kmzb.territorial_units u ON u.teryt = r.teryt
LEFT JOIN kmzb.population p ON p.teryt = r.teryt AND p.year = r.year
WHERE u.level IN ('wojewodztwo', 'powiat');
