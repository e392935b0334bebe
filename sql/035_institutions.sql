-- Partners are institutions with codes. A report forwarded outside the police
-- names the institution by its code; a partner's token carries the same code
-- in its `institution` claim, so matching is exact, never by a free-text name.
--
-- kmzb.institution_units says which police units may forward to an
-- institution: the unit listed and every unit under it (the same reach rule as
-- a coordinator's, kmzb.police_unit_reach), so a voivodeship-wide institution
-- is one row with the KWP.
CREATE TABLE kmzb.institutions (
    code     text PRIMARY KEY CHECK (code ~ '^[A-Z0-9][A-Z0-9-]{1,31}$'),
    name_pl  text NOT NULL CHECK (btrim(name_pl) <> ''),
    name_en  text NOT NULL CHECK (btrim(name_en) <> ''),
    kind     text NOT NULL CHECK (kind IN ('city_guard', 'road_manager', 'greenery',
                                           'gmina_office', 'powiat_office', 'railway',
                                           'environment', 'ngo', 'other'))
);

CREATE TABLE kmzb.institution_units (
    institution  text NOT NULL REFERENCES kmzb.institutions (code),
    police_unit  text NOT NULL,
    PRIMARY KEY (institution, police_unit)
);
CREATE INDEX institution_units_unit_idx ON kmzb.institution_units (police_unit);

-- Which units may forward to which institution, expanded down the hierarchy.
CREATE VIEW kmzb.institution_unit_reach AS
SELECT iu.institution, r.code AS police_unit
FROM kmzb.institution_units iu
CROSS JOIN LATERAL kmzb.police_unit_reach(iu.police_unit, true) AS r (code);

INSERT INTO kmzb.institutions (code, name_pl, name_en, kind) VALUES
    ('SM-KRAKOW', 'Straż Miejska Miasta Krakowa', 'Kraków City Guard', 'city_guard'),
    ('ZDMK', 'Zarząd Dróg Miasta Krakowa', 'Kraków City Roads Authority', 'road_manager'),
    ('ZZM-KRAKOW', 'Zarząd Zieleni Miejskiej w Krakowie',
     'Kraków Municipal Greenery Authority', 'greenery'),
    ('UM-KRAKOW', 'Urząd Miasta Krakowa', 'Kraków City Hall', 'gmina_office'),
    ('TOZ-KRAKOW', 'Towarzystwo Opieki nad Zwierzętami w Polsce, Oddział w Krakowie',
     'Society for the Care of Animals in Poland, Kraków branch', 'ngo'),
    ('ZDPK', 'Zarząd Dróg Powiatu Krakowskiego', 'Kraków County Roads Authority',
     'road_manager'),
    ('ZDW-KRAKOW', 'Zarząd Dróg Wojewódzkich w Krakowie',
     'Małopolska Voivodeship Roads Authority', 'road_manager'),
    ('GDDKIA-KRAKOW', 'Generalna Dyrekcja Dróg Krajowych i Autostrad, Oddział w Krakowie',
     'General Directorate for National Roads and Motorways, Kraków branch', 'road_manager'),
    ('PLK-KRAKOW', 'PKP Polskie Linie Kolejowe S.A., Zakład Linii Kolejowych w Krakowie',
     'PKP Polish Railway Lines, Kraków railway lines division', 'railway'),
    ('RDOS-KRAKOW', 'Regionalna Dyrekcja Ochrony Środowiska w Krakowie',
     'Regional Directorate for Environmental Protection in Kraków', 'environment'),
    ('SM-WROCLAW', 'Straż Miejska Wrocławia', 'Wrocław City Guard', 'city_guard'),
    ('ZDIUM-WROCLAW', 'Zarząd Dróg i Utrzymania Miasta we Wrocławiu',
     'Wrocław Roads and City Maintenance Authority', 'road_manager');

-- KMP-1261 is KMP Kraków, KPP-1206 KPP for the powiat krakowski, KWP-12 the
-- Małopolska voivodeship HQ (every unit under it), KMP-0264 KMP Wrocław.
INSERT INTO kmzb.institution_units (institution, police_unit) VALUES
    ('SM-KRAKOW', 'KMP-1261'),
    ('ZDMK', 'KMP-1261'),
    ('ZZM-KRAKOW', 'KMP-1261'),
    ('UM-KRAKOW', 'KMP-1261'),
    ('TOZ-KRAKOW', 'KMP-1261'),
    ('TOZ-KRAKOW', 'KPP-1206'),
    ('ZDPK', 'KPP-1206'),
    ('ZDW-KRAKOW', 'KWP-12'),
    ('GDDKIA-KRAKOW', 'KWP-12'),
    ('PLK-KRAKOW', 'KWP-12'),
    ('RDOS-KRAKOW', 'KWP-12'),
    ('SM-WROCLAW', 'KMP-0264'),
    ('ZDIUM-WROCLAW', 'KMP-0264');

-- Police units are loaded after the migrations (kmzb load police-units), so the
-- units named above do not exist yet in a fresh database: the foreign key is
-- added NOT VALID (the seed rows are not checked now; every row added later
-- is, and a unit named here can never be deleted), and validated at once when
-- the units are already there.
ALTER TABLE kmzb.institution_units
    ADD CONSTRAINT institution_units_police_unit_fkey
    FOREIGN KEY (police_unit) REFERENCES kmzb.police_units (code) NOT VALID;

-- reports.forwarded_to becomes a code. A value that already is a code, or is
-- an institution's Polish or English name, is mapped to the code. Any other
-- old free-text value is kept as written (the report was forwarded there; the
-- status history stays true, and the forwarded_names_institution check keeps a
-- forwarded report naming its receiver): the foreign key is added NOT VALID,
-- so it holds for every value written from now on, and is validated at once
-- when no old value is left (a fresh database has none).
UPDATE kmzb.reports r SET forwarded_to = i.code
FROM kmzb.institutions i
WHERE r.forwarded_to IS NOT NULL AND r.forwarded_to <> i.code
  AND (upper(btrim(r.forwarded_to)) = i.code
       OR lower(btrim(r.forwarded_to)) IN (lower(i.name_pl), lower(i.name_en)));

ALTER TABLE kmzb.reports
    ADD CONSTRAINT reports_forwarded_to_institution_fkey
    FOREIGN KEY (forwarded_to) REFERENCES kmzb.institutions (code) NOT VALID;

DO $$
DECLARE
    unknown_units bigint;
    unknown_names bigint;
BEGIN
    SELECT count(*) INTO unknown_units FROM kmzb.institution_units iu
    WHERE NOT EXISTS (SELECT 1 FROM kmzb.police_units u WHERE u.code = iu.police_unit);
    IF unknown_units = 0 THEN
        ALTER TABLE kmzb.institution_units VALIDATE CONSTRAINT institution_units_police_unit_fkey;
    END IF;
    SELECT count(*) INTO unknown_names FROM kmzb.reports r
    WHERE r.forwarded_to IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM kmzb.institutions i WHERE i.code = r.forwarded_to);
    IF unknown_names = 0 THEN
        ALTER TABLE kmzb.reports VALIDATE CONSTRAINT reports_forwarded_to_institution_fkey;
    ELSE
        RAISE NOTICE '% forwarded reports name an institution by free text; kept as written',
            unknown_names;
    END IF;
END
$$;
