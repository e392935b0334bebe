-- Threat reports (pillars 2 and 3) and their append-only status history.
-- The database enforces what must always hold; the domain module adds the
-- rules that need a caller (roles, units, versions seen).

CREATE TABLE kmzb.reports (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    public_ref        text NOT NULL UNIQUE CHECK (public_ref ~ '^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$'),
    category          text NOT NULL REFERENCES kmzb.threat_categories (code),
    geom              geometry(Point, 2180) NOT NULL,
    event_date        date,
    time_of_day       text REFERENCES kmzb.times_of_day (code),
    description       text CHECK (char_length(description) <= 500),
    status            text NOT NULL REFERENCES kmzb.statuses (code),
    police_unit       text NOT NULL REFERENCES kmzb.police_units (code),
    gmina_teryt       text REFERENCES kmzb.territorial_units (teryt),
    source            text NOT NULL DEFAULT 'citizen' CHECK (source IN ('citizen', 'partner', 'police')),
    -- salted hash of the reporter's address; kept only for the daily limit
    reporter_hash     text CHECK (reporter_hash IS NULL OR reporter_hash ~ '^[0-9a-f]{64}$'),
    forwarded_to      text CHECK (forwarded_to IS NULL OR btrim(forwarded_to) <> ''),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    status_changed_at timestamptz NOT NULL DEFAULT now(),
    version           integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    CONSTRAINT event_not_after_report
        CHECK (event_date IS NULL OR event_date <= (created_at AT TIME ZONE 'Europe/Warsaw')::date),
    CONSTRAINT forwarded_names_institution
        CHECK (status <> 'forwarded' OR forwarded_to IS NOT NULL),
    CONSTRAINT description_not_blank
        CHECK (description IS NULL OR btrim(description) <> '')
);
CREATE INDEX reports_geom_idx ON kmzb.reports USING gist (geom);
CREATE INDEX reports_queue_idx ON kmzb.reports (police_unit, status, created_at);
CREATE INDEX reports_status_changed_idx ON kmzb.reports (status, status_changed_at);
CREATE INDEX reports_category_idx ON kmzb.reports (category, event_date);
CREATE INDEX reports_reporter_idx ON kmzb.reports (reporter_hash, created_at)
    WHERE reporter_hash IS NOT NULL;

-- Inside Poland: the country outline is the 'PL' territorial unit.
CREATE FUNCTION kmzb.is_inside_poland(p geometry) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM kmzb.territorial_units
        WHERE teryt = 'PL' AND ST_Intersects(geom, ST_Transform(p, 2180))
    )
$$;

CREATE FUNCTION kmzb.reports_check_row() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    needs_description boolean;
BEGIN
    IF NOT ST_IsValid(NEW.geom) OR ST_IsEmpty(NEW.geom) THEN
        RAISE EXCEPTION 'report location is not a valid point'
            USING ERRCODE = 'check_violation', CONSTRAINT = 'report_location_valid';
    END IF;
    IF TG_OP = 'INSERT' OR NOT ST_Equals(NEW.geom, OLD.geom) THEN
        IF NOT kmzb.is_inside_poland(NEW.geom) THEN
            RAISE EXCEPTION 'report location % % is outside Poland', ST_X(NEW.geom), ST_Y(NEW.geom)
                USING ERRCODE = 'check_violation', CONSTRAINT = 'report_inside_poland';
        END IF;
    END IF;
    SELECT description_required INTO needs_description
        FROM kmzb.threat_categories WHERE code = NEW.category;
    IF needs_description AND NEW.description IS NULL THEN
        RAISE EXCEPTION 'category % requires a description', NEW.category
            USING ERRCODE = 'check_violation', CONSTRAINT = 'report_description_required';
    END IF;

    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM kmzb.statuses WHERE code = NEW.status AND is_initial) THEN
            RAISE EXCEPTION 'a new report must start in the initial status, not %', NEW.status
                USING ERRCODE = 'check_violation', CONSTRAINT = 'report_initial_status';
        END IF;
        NEW.version := 1;
        NEW.status_changed_at := NEW.created_at;
        NEW.updated_at := NEW.created_at;
    ELSE
        IF NEW.status IS DISTINCT FROM OLD.status THEN
            IF NOT EXISTS (SELECT 1 FROM kmzb.status_transitions
                           WHERE from_status = OLD.status AND to_status = NEW.status) THEN
                RAISE EXCEPTION 'status change % -> % is not allowed', OLD.status, NEW.status
                    USING ERRCODE = 'check_violation', CONSTRAINT = 'report_status_transition';
            END IF;
            NEW.status_changed_at := now();
        END IF;
        IF NEW.created_at IS DISTINCT FROM OLD.created_at
           OR NEW.public_ref IS DISTINCT FROM OLD.public_ref
           OR NEW.reporter_hash IS DISTINCT FROM OLD.reporter_hash THEN
            RAISE EXCEPTION 'public_ref, created_at and reporter_hash never change'
                USING ERRCODE = 'check_violation', CONSTRAINT = 'report_immutable_columns';
        END IF;
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER reports_check_row
    BEFORE INSERT OR UPDATE ON kmzb.reports
    FOR EACH ROW EXECUTE FUNCTION kmzb.reports_check_row();

CREATE TABLE kmzb.report_status_history (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id      bigint NOT NULL REFERENCES kmzb.reports (id),
    from_status    text REFERENCES kmzb.statuses (code),
    to_status      text NOT NULL REFERENCES kmzb.statuses (code),
    changed_at     timestamptz NOT NULL DEFAULT now(),
    actor          text NOT NULL CHECK (btrim(actor) <> ''),
    actor_unit     text REFERENCES kmzb.police_units (code),
    note           text CHECK (char_length(note) <= 2000),
    note_internal  boolean NOT NULL DEFAULT false
);
CREATE INDEX report_status_history_report_idx ON kmzb.report_status_history (report_id, changed_at);

CREATE FUNCTION kmzb.refuse_history_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'report_status_history is append-only'
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER report_status_history_append_only
    BEFORE UPDATE OR DELETE ON kmzb.report_status_history
    FOR EACH ROW EXECUTE FUNCTION kmzb.refuse_history_change();
CREATE TRIGGER report_status_history_no_truncate
    BEFORE TRUNCATE ON kmzb.report_status_history
    FOR EACH STATEMENT EXECUTE FUNCTION kmzb.refuse_history_change();

-- Where a point belongs: the first-line police unit and the gmina holding it.
-- A point in a border sliver that the simplified boundaries miss goes to the
-- nearest area, so every point inside Poland resolves to exactly one unit.
CREATE FUNCTION kmzb.police_unit_at(p geometry) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT code FROM kmzb.police_units
    WHERE area IS NOT NULL
    ORDER BY area <-> ST_Transform(p, 2180), code
    LIMIT 1
$$;

CREATE FUNCTION kmzb.gmina_at(p geometry) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT teryt FROM kmzb.territorial_units
    WHERE level = 'gmina'
    ORDER BY geom <-> ST_Transform(p, 2180), teryt
    LIMIT 1
$$;
