-- Police units and their areas. First-line units (KMP, KPP, and KSP for the
-- city of Warsaw) receive citizen reports for their `area`: whole powiaty,
-- listed in police_unit_areas (one unit per powiat, enforced by the key).
-- `jurisdiction` is everything a unit oversees: its own area and its
-- subordinates' (a KWP's voivodeship, the KGP's country).
CREATE TABLE kmzb.police_unit_kinds (
    code      text PRIMARY KEY,
    name_pl   text NOT NULL,
    name_en   text NOT NULL
);
INSERT INTO kmzb.police_unit_kinds VALUES
    ('KGP', 'Komenda Główna Policji',        'National Police Headquarters'),
    ('KWP', 'Komenda Wojewódzka Policji',    'Voivodeship Police Headquarters'),
    ('KSP', 'Komenda Stołeczna Policji',     'Warsaw Metropolitan Police Headquarters'),
    ('KMP', 'Komenda Miejska Policji',       'City Police Headquarters'),
    ('KPP', 'Komenda Powiatowa Policji',     'County Police Headquarters'),
    ('KRP', 'Komenda Rejonowa Policji',      'District Police Headquarters (Warsaw)');

CREATE TABLE kmzb.police_units (
    code              text PRIMARY KEY CHECK (code ~ '^[A-Z]{3}(-[0-9A-Z]+)*$'),
    kind              text NOT NULL REFERENCES kmzb.police_unit_kinds (code),
    name              text NOT NULL CHECK (btrim(name) <> ''),
    name_in_source    text,
    parent_code       text REFERENCES kmzb.police_units (code),
    source_id         integer UNIQUE,
    voivodeship_teryt text REFERENCES kmzb.territorial_units (teryt),
    takes_reports     boolean GENERATED ALWAYS AS (area IS NOT NULL) STORED,
    area              geometry(MultiPolygon, 2180)
                      CHECK (area IS NULL OR (ST_IsValid(area) AND NOT ST_IsEmpty(area))),
    jurisdiction      geometry(MultiPolygon, 2180)
                      CHECK (jurisdiction IS NULL OR (ST_IsValid(jurisdiction) AND NOT ST_IsEmpty(jurisdiction))),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT only_kgp_is_root CHECK ((kind = 'KGP') = (parent_code IS NULL)),
    CONSTRAINT area_within_jurisdiction CHECK (area IS NULL OR jurisdiction IS NOT NULL)
);
CREATE INDEX police_units_area_idx ON kmzb.police_units USING gist (area);
CREATE INDEX police_units_parent_idx ON kmzb.police_units (parent_code);

CREATE TABLE kmzb.police_unit_areas (
    powiat_teryt text PRIMARY KEY REFERENCES kmzb.territorial_units (teryt),
    unit_code    text NOT NULL REFERENCES kmzb.police_units (code)
);
CREATE INDEX police_unit_areas_unit_idx ON kmzb.police_unit_areas (unit_code);
