-- The map server asks the grid for one level in a box (z = 9 AND geom && box);
-- the spatial index alone would also visit the cells of the 13 other levels
-- there. One GiST index on (z, geom) (btree_gist, migration 010) finds them
-- directly. Indexes on a materialized view survive its refresh.
CREATE INDEX public_threat_cells_z_geom_idx ON kmzb.public_threat_cells USING gist (z, geom);
