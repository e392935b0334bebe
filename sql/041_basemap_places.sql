-- The offline basemap (issue 12): what QGIS Server draws under the threats when no
-- outside basemap is configured or reachable (qgis_projects/kmzb_basemap.qgs,
-- scripts/build_qgis_basemap.py). Boundaries and unit names come from
-- kmzb.territorial_units through the wms_* views of 020; this adds the places
-- (GeoNames, CC BY 4.0: towns and villages of Poland with 500+ inhabitants,
-- loaded by kmzb.loaders.places from the same gazetteer the place search uses)
-- and the country outline.

CREATE TABLE kmzb.basemap_places (
    geonameid   integer PRIMARY KEY,
    name        text NOT NULL CHECK (btrim(name) <> ''),
    population  integer NOT NULL CHECK (population >= 0),
    geom        geometry(Point, 2180) NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX basemap_places_geom ON kmzb.basemap_places USING gist (geom);

-- A size class for the map: 1 the largest cities ... 5 villages. Labels and dots
-- grow with it, and the smaller ones show only when zoomed in.
CREATE VIEW kmzb.wms_basemap_places AS
SELECT p.geonameid AS fid, p.name, p.population,
       CASE WHEN p.population >= 500000 THEN 1
            WHEN p.population >= 100000 THEN 2
            WHEN p.population >= 20000 THEN 3
            WHEN p.population >= 5000 THEN 4
            ELSE 5 END AS size_class,
       p.geom
FROM kmzb.basemap_places p;

-- Poland's outline (the `kraj` unit): the land the basemap fills.
CREATE VIEW kmzb.wms_basemap_country AS
SELECT 1::bigint AS fid, u.name, u.geom::geometry(MultiPolygon, 2180) AS geom
FROM kmzb.territorial_units u WHERE u.level = 'kraj';

SELECT kmzb.grant_service_privilege('kmzb_wms', 'SELECT', 'kmzb.wms_basemap_places',
    'the offline basemap draws GeoNames places (qgis_projects/kmzb_basemap.qgs)');
SELECT kmzb.grant_service_privilege('kmzb_wms', 'SELECT', 'kmzb.wms_basemap_country',
    'the offline basemap draws the country outline (qgis_projects/kmzb_basemap.qgs)');
