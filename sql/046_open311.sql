-- Open311 GeoReport v2 (issue 15): what the facade needs beyond the rules that
-- already live here. Everything a municipal system reads is vocabulary data
-- (served at GET /vocabulary too), so the facade copies no rule:
--   * each category's group (Open311 `group`);
--   * each status's Open311 status: `open` while the police have not yet said
--     what the report is (new, verification), `closed` once they have;
--   * what an Open311 client may hand over beside submit-threat's inputs: the
--     place in words (`address_string`) and a link to a picture (`media_url`),
--     kept as text for the police, never fetched;
--   * the API keys of partner institutions, stored as SHA-256 only.

CREATE TABLE kmzb.category_groups (
    code       text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    name_pl    text NOT NULL UNIQUE CHECK (btrim(name_pl) <> ''),
    name_en    text NOT NULL UNIQUE CHECK (btrim(name_en) <> ''),
    sort_order smallint NOT NULL UNIQUE
);
INSERT INTO kmzb.category_groups (sort_order, code, name_pl, name_en) VALUES
    (1, 'road_traffic',       'Ruch drogowy',               'Road traffic'),
    (2, 'dangerous_places',   'Miejsca niebezpieczne',      'Dangerous places'),
    (3, 'public_order',       'Porządek publiczny',         'Public order'),
    (4, 'environment',        'Środowisko i przyroda',      'Environment and nature'),
    (5, 'people_and_animals', 'Ludzie i zwierzęta w potrzebie', 'People and animals in need');

ALTER TABLE kmzb.threat_categories
    ADD COLUMN group_code text REFERENCES kmzb.category_groups (code);
UPDATE kmzb.threat_categories c SET group_code = g.group_code
FROM (VALUES
    ('illegal_racing', 'road_traffic'), ('illegal_parking', 'road_traffic'),
    ('poor_road_infrastructure', 'road_traffic'), ('speeding', 'road_traffic'),
    ('wildlife_road_accidents', 'road_traffic'), ('poor_traffic_organisation', 'road_traffic'),
    ('dangerous_waters', 'dangerous_places'), ('dangerous_entertainment', 'dangerous_places'),
    ('unguarded_track_crossing', 'dangerous_places'),
    ('unguarded_level_crossing', 'dangerous_places'),
    ('vandalism', 'public_order'), ('minors_at_risk', 'public_order'),
    ('public_drinking', 'public_order'), ('drug_use', 'public_order'),
    ('begging', 'public_order'),
    ('illegal_dumping', 'environment'), ('poaching', 'environment'),
    ('illegal_logging', 'environment'), ('destruction_of_greenery', 'environment'),
    ('quads_in_forests', 'environment'), ('grass_burning', 'environment'),
    ('homeless_needing_help', 'people_and_animals'), ('stray_dogs', 'people_and_animals'),
    ('animal_cruelty', 'people_and_animals')
) AS g (code, group_code)
WHERE c.code = g.code;
ALTER TABLE kmzb.threat_categories ALTER COLUMN group_code SET NOT NULL;

ALTER TABLE kmzb.statuses
    ADD COLUMN open311_status text CHECK (open311_status IN ('open', 'closed'));
UPDATE kmzb.statuses
SET open311_status = CASE WHEN code IN ('new', 'verification') THEN 'open' ELSE 'closed' END;
ALTER TABLE kmzb.statuses ALTER COLUMN open311_status SET NOT NULL;

-- Given by an Open311 client; for the police only (never in a public view).
ALTER TABLE kmzb.reports
    ADD COLUMN address_string text
        CHECK (address_string IS NULL
               OR (btrim(address_string) <> '' AND char_length(address_string) <= 255)),
    ADD COLUMN media_url text
        CHECK (media_url IS NULL
               OR (char_length(media_url) <= 2048 AND media_url ~ '^https?://[^\s]+$'));

SELECT kmzb.grant_service_privilege(
    'kmzb_api', 'INSERT', 'kmzb.reports',
    'submit (kmzb.domain.intake.submit, the Open311 facade); the hash is written once, never read',
    ARRAY['public_ref', 'category', 'geom', 'event_date', 'time_of_day', 'description',
          'status', 'police_unit', 'gmina_teryt', 'source', 'reporter_hash',
          'address_string', 'media_url']);
SELECT kmzb.grant_service_privilege(
    'kmzb_api', 'SELECT', 'kmzb.category_groups', 'the vocabulary: the groups of categories');

-- A partner's API key (Open311 `api_key`): the institution it speaks for, and
-- only the SHA-256 of the key (a key is 256 random bits, so a plain hash cannot
-- be reversed by guessing). `kmzb partners add-key` prints the key once.
CREATE TABLE kmzb.partner_api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    institution text NOT NULL REFERENCES kmzb.institutions (code),
    key_sha256  text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    label       text NOT NULL DEFAULT '' CHECK (char_length(label) <= 200),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- The API may ask whose a key is, never read the table: this function runs as
-- the owner and answers one key's institution (nothing for an unknown or revoked key).
CREATE FUNCTION kmzb.partner_of_api_key(p_key_sha256 text)
RETURNS TABLE (key_id bigint, institution text)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT k.id, k.institution FROM kmzb.partner_api_keys k
    WHERE k.key_sha256 = p_key_sha256 AND k.revoked_at IS NULL
$$;
ALTER FUNCTION kmzb.partner_of_api_key(text) OWNER TO kmzb_owner;
REVOKE ALL ON FUNCTION kmzb.partner_of_api_key(text) FROM PUBLIC;
SELECT kmzb.grant_service_privilege(
    'kmzb_api', 'EXECUTE', 'kmzb.partner_of_api_key(text)',
    'the Open311 facade checks an api_key without reading the keys (runs as the owner)');
