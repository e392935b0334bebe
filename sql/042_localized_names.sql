-- Category and status names in the language the client asked for (?lang=en):
-- the provider sets kmzb.lang for its transaction when the answer is not Polish;
-- otherwise the names are Polish, as before. The rule lives here once, for every
-- view that names a category or a status.
CREATE FUNCTION kmzb.localized(name_pl text, name_en text) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('kmzb.lang', true) = 'en'
                THEN coalesce(name_en, name_pl) ELSE name_pl END
$$;

CREATE OR REPLACE VIEW kmzb.public_threats AS
SELECT r.public_ref AS id, r.category,
       (SELECT kmzb.localized(c.name_pl, c.name_en) FROM kmzb.threat_categories c
        WHERE c.code = r.category) AS category_name,
       r.status,
       (SELECT kmzb.localized(s.name_pl, s.name_en) FROM kmzb.statuses s
        WHERE s.code = r.status) AS status_name,
       r.event_date, r.time_of_day, r.description,
       r.created_at::date AS reported_on, r.status_changed_at,
       r.police_unit,
       (SELECT pu.name FROM kmzb.police_units pu WHERE pu.code = r.police_unit)
           AS police_unit_name,
       r.gmina_teryt, r.source, ST_Transform(r.geom, 4326)::geometry(Point, 4326) AS geom
FROM kmzb.reports r
WHERE r.public_until > now();
