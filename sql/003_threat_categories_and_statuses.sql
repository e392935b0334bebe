-- The rules of the citizen map as data: categories, statuses, allowed
-- transitions and the visibility policy. Code reads these tables; it never
-- repeats their content.

-- public_rule: 'policy'         follows the status visibility policy
--              'confirmed_only' public only once confirmed (and then by policy)
--              'never'          never on the public map
CREATE TABLE kmzb.threat_categories (
    code                 text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    name_pl              text NOT NULL UNIQUE,
    name_en              text NOT NULL UNIQUE,
    description_required boolean NOT NULL DEFAULT false,
    public_rule          text NOT NULL DEFAULT 'policy'
                         CHECK (public_rule IN ('policy', 'confirmed_only', 'never')),
    sort_order           smallint NOT NULL UNIQUE
);
INSERT INTO kmzb.threat_categories (sort_order, code, name_pl, name_en, description_required, public_rule) VALUES
    ( 1, 'vandalism',              'Akty wandalizmu',                                         'Vandalism', false, 'policy'),
    ( 2, 'illegal_dumping',        'Dzikie wysypiska śmieci',                                 'Illegal rubbish dumps', false, 'policy'),
    ( 3, 'minors_at_risk',         'Grupowanie się małoletnich zagrożonych demoralizacją',    'Gatherings of minors at risk of demoralisation', false, 'policy'),
    ( 4, 'poaching',               'Kłusownictwo',                                            'Poaching', false, 'policy'),
    ( 5, 'dangerous_waters',       'Miejsca niebezpieczne na wodach',                         'Dangerous places on water', false, 'policy'),
    ( 6, 'dangerous_entertainment','Miejsce niebezpiecznej działalności rozrywkowej',         'Place of dangerous entertainment activity', true, 'confirmed_only'),
    ( 7, 'illegal_logging',        'Nielegalna wycinka drzew',                                'Illegal tree felling', false, 'policy'),
    ( 8, 'illegal_racing',         'Nielegalne rajdy samochodowe',                            'Illegal car racing', false, 'policy'),
    ( 9, 'illegal_parking',        'Nieprawidłowe parkowanie',                                'Illegal parking', false, 'policy'),
    (10, 'unguarded_track_crossing','Niestrzeżone przejście przez tory',                      'Unguarded pedestrian track crossing', false, 'policy'),
    (11, 'unguarded_level_crossing','Niestrzeżony przejazd kolejowy',                         'Unguarded level crossing', false, 'policy'),
    (12, 'poor_road_infrastructure','Niewłaściwa infrastruktura drogowa',                     'Inadequate road infrastructure', false, 'policy'),
    (13, 'destruction_of_greenery','Niszczenie zieleni',                                      'Destruction of greenery', false, 'policy'),
    (14, 'homeless_needing_help',  'Osoba bezdomna wymagająca pomocy',                        'Homeless person in need of help', false, 'policy'),
    (15, 'quads_in_forests',       'Poruszanie się po terenach leśnych quadami',              'Quad bikes in forests', false, 'policy'),
    (16, 'speeding',               'Przekraczanie dozwolonej prędkości',                      'Speeding', false, 'policy'),
    (17, 'public_drinking',        'Spożywanie alkoholu w miejscach niedozwolonych',          'Drinking alcohol in prohibited places', false, 'policy'),
    (18, 'drug_use',               'Używanie środków odurzających',                           'Drug use', false, 'never'),
    (19, 'stray_dogs',             'Wałęsające się bezpańskie psy',                           'Stray dogs', false, 'policy'),
    (20, 'grass_burning',          'Wypalanie traw',                                          'Grass burning', false, 'policy'),
    (21, 'wildlife_road_accidents','Zdarzenia drogowe z udziałem zwierząt leśnych',           'Road accidents involving wild animals', false, 'policy'),
    (22, 'animal_cruelty',         'Znęcanie się nad zwierzętami',                            'Animal cruelty', false, 'never'),
    (23, 'poor_traffic_organisation','Zła organizacja ruchu drogowego',                       'Poor traffic organisation', false, 'policy'),
    (24, 'begging',                'Żebractwo',                                               'Begging', false, 'policy');

CREATE TABLE kmzb.statuses (
    code          text PRIMARY KEY CHECK (code ~ '^[a-z_]+$'),
    name_pl       text NOT NULL UNIQUE,
    name_en       text NOT NULL UNIQUE,
    is_initial    boolean NOT NULL DEFAULT false,
    is_confirmed  boolean NOT NULL DEFAULT false,  -- counts as confirmed by the police
    is_open       boolean NOT NULL DEFAULT true,   -- still in the unit's queue
    sort_order    smallint NOT NULL UNIQUE
);
CREATE UNIQUE INDEX statuses_one_initial_idx ON kmzb.statuses (is_initial) WHERE is_initial;
INSERT INTO kmzb.statuses (sort_order, code, name_pl, name_en, is_initial, is_confirmed, is_open) VALUES
    (1, 'new',             'Nowe',                                   'New',                              true,  false, true),
    (2, 'verification',    'Weryfikacja',                            'Under verification',               false, false, true),
    (3, 'confirmed',       'Potwierdzone',                           'Confirmed',                        false, true,  true),
    (4, 'unconfirmed',     'Niepotwierdzone',                        'Not confirmed',                    false, false, false),
    (5, 'joke_or_mistake', 'Żart lub pomyłka',                       'Prank or mistake',                 false, false, false),
    (6, 'eliminated',      'Potwierdzone (wyeliminowane)',           'Confirmed (eliminated)',           false, true,  false),
    (7, 'forwarded',       'Potwierdzone (przekazane poza Policję)', 'Confirmed (forwarded outside the police)', false, true, false);

CREATE TABLE kmzb.status_transitions (
    from_status text NOT NULL REFERENCES kmzb.statuses (code),
    to_status   text NOT NULL REFERENCES kmzb.statuses (code),
    PRIMARY KEY (from_status, to_status),
    CHECK (from_status <> to_status)
);
INSERT INTO kmzb.status_transitions VALUES
    ('new',          'verification'),
    ('verification', 'confirmed'),
    ('verification', 'unconfirmed'),
    ('verification', 'joke_or_mistake'),
    ('confirmed',    'eliminated'),
    ('confirmed',    'forwarded');

-- Visibility on the public map per status: never, always, or for a period
-- after the last status change.
CREATE TABLE kmzb.visibility_policy (
    status       text PRIMARY KEY REFERENCES kmzb.statuses (code),
    is_public    boolean NOT NULL,
    public_for   interval CHECK (public_for IS NULL OR public_for > interval '0'),
    CHECK (is_public OR public_for IS NULL)
);
INSERT INTO kmzb.visibility_policy VALUES
    ('new',             true,  NULL),
    ('verification',    true,  NULL),
    ('confirmed',       true,  NULL),
    ('forwarded',       true,  NULL),
    ('unconfirmed',     true,  interval '7 days'),
    ('eliminated',      true,  interval '1 month'),
    ('joke_or_mistake', false, NULL);

CREATE TABLE kmzb.times_of_day (
    code      text PRIMARY KEY,
    name_pl   text NOT NULL,
    name_en   text NOT NULL,
    sort_order smallint NOT NULL UNIQUE
);
INSERT INTO kmzb.times_of_day VALUES
    ('morning',   'rano (6–12)',          'morning (6–12)',     1),
    ('afternoon', 'popołudnie (12–18)',   'afternoon (12–18)',  2),
    ('evening',   'wieczór (18–22)',      'evening (18–22)',    3),
    ('night',     'noc (22–6)',           'night (22–6)',       4);
