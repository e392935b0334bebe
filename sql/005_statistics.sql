-- Pillar 1: crimes recorded by the police per territorial unit and year
-- (GUS Bank Danych Lokalnych, data of Komenda Główna Policji), and population.

CREATE TABLE kmzb.crime_categories (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    name_pl    text NOT NULL,
    name_en    text NOT NULL,
    -- a category whose count is contained in another one (no double counting)
    part_of    text REFERENCES kmzb.crime_categories (code),
    sort_order smallint NOT NULL UNIQUE
);
INSERT INTO kmzb.crime_categories (sort_order, code, name_pl, name_en, part_of) VALUES
    (1, 'total',          'ogółem',                                               'all crimes', NULL),
    (2, 'criminal',       'o charakterze kryminalnym',                            'criminal offences', NULL),
    (3, 'economic',       'o charakterze gospodarczym',                           'economic offences', NULL),
    (4, 'life_health',    'przeciwko życiu i zdrowiu',                            'against life and health', NULL),
    (5, 'property',       'przeciwko mieniu',                                     'against property', NULL),
    (6, 'freedom_sexual', 'przeciwko wolności, wolności sumienia, wolności seksualnej i obyczajności',
                          'against liberty, freedom of conscience, sexual freedom and decency', NULL),
    (7, 'family',         'przeciwko rodzinie i opiece',                          'against the family and guardianship', NULL),
    (8, 'public_safety',  'przeciwko bezpieczeństwu powszechnemu i bezpieczeństwu w komunikacji',
                          'against public safety and traffic safety', NULL),
    (9, 'traffic',        'przeciwko bezpieczeństwu w komunikacji - drogowe',     'road traffic offences', 'public_safety');
UPDATE kmzb.crime_categories SET part_of = 'total' WHERE code <> 'total' AND part_of IS NULL;

CREATE TABLE kmzb.population (
    teryt   text NOT NULL REFERENCES kmzb.territorial_units (teryt),
    year    smallint NOT NULL CHECK (year BETWEEN 1990 AND 2100),
    men     integer CHECK (men >= 0),
    women   integer CHECK (women >= 0),
    total   integer NOT NULL CHECK (total > 0),
    PRIMARY KEY (teryt, year)
);

CREATE TABLE kmzb.crime_statistics (
    teryt          text NOT NULL REFERENCES kmzb.territorial_units (teryt),
    year           smallint NOT NULL CHECK (year BETWEEN 1990 AND 2100),
    category       text NOT NULL REFERENCES kmzb.crime_categories (code),
    count          integer CHECK (count >= 0),
    rate_per_10k   numeric(10, 2) CHECK (rate_per_10k >= 0),
    -- can exceed 100: detected offenders include crimes recorded in earlier years
    detection_rate numeric(5, 1) CHECK (detection_rate >= 0),
    PRIMARY KEY (teryt, year, category)
);
CREATE INDEX crime_statistics_year_category_idx ON kmzb.crime_statistics (year, category);
