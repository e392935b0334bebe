-- The vocabulary as data (issue 13): each status's colours, each category's
-- pictogram and the limits and patterns of a submission live here once. The
-- API serves them at GET /vocabulary (kmzb.domain.vocabulary); the web client,
-- the QGIS project builder, the process descriptions, the validation and the
-- demo loader read them from there or from these tables, never from a copy.
--
-- Colours: the Okabe-Ito palette (Okabe & Ito 2008, "Color Universal Design"),
-- chosen so that every status stays distinguishable from every other under
-- protanopia, deuteranopia and tritanopia (tests/test_vocabulary.py simulates
-- them with the Machado et al. 2009 matrices and requires a CIELAB distance).
-- text_colour is the pictogram's colour on the disc: black or white, whichever
-- contrasts more with the fill.

ALTER TABLE kmzb.statuses
    ADD COLUMN colour      text CHECK (colour ~ '^#[0-9A-F]{6}$'),
    ADD COLUMN outline     text CHECK (outline ~ '^#[0-9A-F]{6}$'),
    ADD COLUMN text_colour text CHECK (text_colour ~ '^#[0-9A-F]{6}$');

UPDATE kmzb.statuses SET colour = v.colour, outline = v.outline, text_colour = v.text_colour
FROM (VALUES
    ('new',             '#0072B2', '#003A5C', '#FFFFFF'),  -- blue
    ('verification',    '#F0E442', '#6B6400', '#000000'),  -- yellow
    ('confirmed',       '#D55E00', '#6B2F00', '#000000'),  -- vermillion
    ('unconfirmed',     '#FFFFFF', '#4D4D4D', '#000000'),  -- white (hollow)
    ('joke_or_mistake', '#000000', '#FFFFFF', '#FFFFFF'),  -- black (never public)
    ('eliminated',      '#56B4E9', '#1F5A80', '#000000'),  -- sky blue
    ('forwarded',       '#CC79A7', '#6B3158', '#000000')   -- reddish purple
) AS v (code, colour, outline, text_colour)
WHERE kmzb.statuses.code = v.code;

ALTER TABLE kmzb.statuses
    ALTER COLUMN colour SET NOT NULL,
    ALTER COLUMN outline SET NOT NULL,
    ALTER COLUMN text_colour SET NOT NULL;

-- The pictogram: the stem of an SVG of QGIS's bundled library
-- (/usr/share/qgis/svg/<group>/<stem>.svg); the web serves the same file as
-- /map/pictograms/<stem>.svg.
ALTER TABLE kmzb.threat_categories
    ADD COLUMN pictogram text CHECK (pictogram ~ '^[a-z0-9_]+$');

UPDATE kmzb.threat_categories SET pictogram = v.pictogram
FROM (VALUES
    ('vandalism',                 'tourist_ruin'),
    ('illegal_dumping',           'amenity_waste_bin'),
    ('minors_at_risk',            'couple'),
    ('poaching',                  'sport_archery'),
    ('dangerous_waters',          'sport_swimming_outdoor'),
    ('dangerous_entertainment',   'food_bar'),
    ('illegal_logging',           'landuse_deciduous'),
    ('illegal_racing',            'sport_motorracing'),
    ('illegal_parking',           'transport_parking_car'),
    ('unguarded_track_crossing',  'walker'),
    ('unguarded_level_crossing',  'transport_train_station'),
    ('poor_road_infrastructure',  'barrier_bollard'),
    ('destruction_of_greenery',   'landuse_grass'),
    ('homeless_needing_help',     'accommodation_shelter'),
    ('quads_in_forests',          'shopping_motorcycle'),
    ('speeding',                  'car'),
    ('public_drinking',           'shopping_alcohol'),
    ('drug_use',                  'health_pharmacy'),
    ('stray_dogs',                'shopping_pet'),
    ('grass_burning',             'amenity_firestation'),
    ('wildlife_road_accidents',   'deer'),
    ('animal_cruelty',            'health_veterinary'),
    ('poor_traffic_organisation', 'transport_traffic_lights'),
    ('begging',                   'dollar')
) AS v (code, pictogram)
WHERE kmzb.threat_categories.code = v.code;

ALTER TABLE kmzb.threat_categories ALTER COLUMN pictogram SET NOT NULL;

-- The limits and patterns a submission is checked against: one row.
CREATE TABLE kmzb.limits (
    one_row                boolean PRIMARY KEY DEFAULT true CHECK (one_row),
    description_max_chars  integer NOT NULL CHECK (description_max_chars > 0),
    attachments_max_count  integer NOT NULL CHECK (attachments_max_count >= 0),
    attachment_max_bytes   integer NOT NULL CHECK (attachment_max_bytes > 0),
    attachment_media_types text[]  NOT NULL CHECK (cardinality(attachment_media_types) > 0),
    reference_pattern      text    NOT NULL CHECK (reference_pattern ~ '^\^.*\$$'),
    teryt_gmina_pattern    text    NOT NULL CHECK (teryt_gmina_pattern ~ '^\^.*\$$')
);
INSERT INTO kmzb.limits VALUES (
    true, 500, 3, 5242880,
    ARRAY['image/jpeg', 'image/png', 'application/pdf', 'video/mp4', 'video/3gpp', 'video/quicktime'],
    '^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$',
    '^[0-9]{7}$'
);

SELECT kmzb.grant_service_privilege('kmzb_api', 'SELECT', 'kmzb.limits',
                                    'GET /vocabulary, submission checks, process descriptions');
SELECT kmzb.grant_service_privilege('kmzb_api', 'SELECT', 'kmzb.times_of_day',
                                    'GET /vocabulary, submission checks, process descriptions');

-- What scripts/build_qgis_project.py styles the map with, through the map's
-- service (kmzb_wms reads wms_* views): each status's names, colours and
-- whether the public map ever shows it (kmzb.visibility_policy).
CREATE VIEW kmzb.wms_status_styles AS
SELECT s.code, s.name_pl, s.name_en, s.colour, s.outline, s.text_colour,
       coalesce(p.is_public, false) AS is_public, s.sort_order
FROM kmzb.statuses s
LEFT JOIN kmzb.visibility_policy p ON p.status = s.code;

-- The categories the builder already reads gain their pictogram.
CREATE OR REPLACE VIEW kmzb.public_threat_categories AS
SELECT code, name_pl, name_en, description_required,
       public_rule <> 'never' AS shown_on_public_map, sort_order, pictogram
FROM kmzb.threat_categories;
