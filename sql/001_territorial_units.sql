-- Territorial units of Poland (TERYT): the country, województwa, powiaty, gminy.
-- Geometry is stored once, in EPSG:2180 (PUWG 1992); views transform on the way out.
CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS kmzb;

CREATE TABLE kmzb.territorial_levels (
    code        text PRIMARY KEY,
    name_pl     text NOT NULL,
    name_en     text NOT NULL,
    depth       smallint NOT NULL UNIQUE
);
INSERT INTO kmzb.territorial_levels VALUES
    ('kraj',        'kraj',         'country',     0),
    ('wojewodztwo', 'województwo',  'voivodeship', 1),
    ('powiat',      'powiat',       'county',      2),
    ('gmina',       'gmina',        'commune',     3);

CREATE TABLE kmzb.territorial_units (
    teryt           text PRIMARY KEY,
    level           text NOT NULL REFERENCES kmzb.territorial_levels (code),
    name            text NOT NULL CHECK (btrim(name) <> ''),
    parent_teryt    text REFERENCES kmzb.territorial_units (teryt),
    -- 7th TERYT digit of a gmina: 1 urban, 2 rural, 3 urban-rural, 8 Warsaw district
    gmina_type      smallint CHECK (gmina_type BETWEEN 1 AND 9),
    population      integer CHECK (population >= 0),
    population_year smallint,
    geom            geometry(MultiPolygon, 2180) NOT NULL
                    CHECK (ST_IsValid(geom) AND NOT ST_IsEmpty(geom)),
    label_point     geometry(Point, 2180) GENERATED ALWAYS AS (ST_PointOnSurface(geom)) STORED,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    -- the code's shape follows the level, and so does the parent
    CONSTRAINT teryt_matches_level CHECK (
        (level = 'kraj' AND teryt = 'PL' AND parent_teryt IS NULL)
        OR (level = 'wojewodztwo' AND teryt ~ '^[0-9]{2}$' AND parent_teryt = 'PL')
        OR (level = 'powiat' AND teryt ~ '^[0-9]{4}$' AND parent_teryt = left(teryt, 2))
        OR (level = 'gmina' AND teryt ~ '^[0-9]{7}$' AND parent_teryt = left(teryt, 4)
            AND gmina_type = right(teryt, 1)::smallint)
    ),
    CONSTRAINT gmina_type_only_for_gminy CHECK ((level = 'gmina') = (gmina_type IS NOT NULL))
);
CREATE INDEX territorial_units_geom_idx ON kmzb.territorial_units USING gist (geom);
CREATE INDEX territorial_units_level_idx ON kmzb.territorial_units (level);
CREATE INDEX territorial_units_parent_idx ON kmzb.territorial_units (parent_teryt);
-- gminy are matched across TERYT editions on the 6-digit code (the type digit changes)
CREATE UNIQUE INDEX territorial_units_gmina6_idx
    ON kmzb.territorial_units (left(teryt, 6)) WHERE level = 'gmina';
