-- The map server reads public reports in EPSG:2180 (kmzb.wms_threats: geom in a
-- box AND public_until > now()). With only the plain spatial index on geom,
-- PostgreSQL may add the (geom 3857, public_until) index of migration 010 to a
-- BitmapAnd for the public_until test and scan the whole public set: 10 s for a
-- city-centre map at 5 million reports (MapServer's ST_Intersects query). The
-- same pair of columns in EPSG:2180, as 010 made for 4326 and 3857, answers both
-- tests from one index.
CREATE INDEX reports_public_geom_2180_idx ON kmzb.reports USING gist (geom, public_until);
