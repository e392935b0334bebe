-- Migration 021's GiST index on (z, geom) cannot serve the map server's
-- `z IN (9)`: z is smallint, the literal an integer, and btree_gist has no
-- cross-type operators. The view now gives the level as integer and the index
-- is on that expression, so one index scan finds a level's cells in a box
-- (70-120 ms became a few ms for a city-sized box).
DROP INDEX kmzb.public_threat_cells_z_geom_idx;
CREATE INDEX public_threat_cells_level_geom_idx ON kmzb.public_threat_cells
    USING gist ((z::integer), geom);

DROP VIEW kmzb.wms_threat_cells;
CREATE VIEW kmzb.wms_threat_cells AS
SELECT (c.z::bigint << 40) | (c.cx << 20) | c.cy AS fid, c.z::integer AS z, c.n, c.confirmed,
       c.geom
FROM kmzb.public_threat_cells c;
