-- The public threats view, leaner: the police unit's name is looked up only for
-- the rows a query returns (a join made every bbox query read the wide
-- police_units rows, with their area geometries, before its LIMIT).
CREATE OR REPLACE VIEW kmzb.public_threats AS
SELECT r.public_ref AS id, r.category, c.name_pl AS category_name,
       r.status, s.name_pl AS status_name,
       r.event_date, r.time_of_day, r.description,
       r.created_at::date AS reported_on, r.status_changed_at,
       r.police_unit,
       (SELECT pu.name FROM kmzb.police_units pu WHERE pu.code = r.police_unit)
           AS police_unit_name,
       r.gmina_teryt, r.source, ST_Transform(r.geom, 4326)::geometry(Point, 4326) AS geom
FROM kmzb.reports r
JOIN kmzb.threat_categories c ON c.code = r.category
JOIN kmzb.statuses s ON s.code = r.status
JOIN kmzb.visibility_policy v ON v.status = r.status
WHERE v.is_public
  AND (v.public_for IS NULL OR r.status_changed_at + v.public_for > now())
  AND CASE c.public_rule
          WHEN 'never' THEN false
          WHEN 'confirmed_only' THEN s.is_confirmed
          ELSE true END;
