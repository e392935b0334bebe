-- When the data behind each public read last changed (issue 16, HTTP caching): the
-- validators (ETag, Last-Modified) of items, features, tiles and statistics are made
-- from these rows, read before pygeoapi runs the query, so a conditional GET that
-- still holds is a 304 without reading the data (kmzb.service.http_cache,
-- kmzb.domain.change_times).
--
-- One source per kind of data a read depends on:
--   reports     kmzb.reports (submissions, reviews, holds, visibility recomputed)
--   places      territorial units and their levels, police units, kinds, areas
--   vocabulary  categories, statuses, the visibility policy, crime categories
--   statistics  crime statistics, population
--   cells       the refresh of kmzb.public_threat_cells (kmzb.db.aggregates)
--
-- A write counts itself in a row of its source: `changes` only grows, so the sum of a
-- source's rows names its state (a committed write always changes the sum, whatever
-- order transactions commit in; a time would not: a transaction that started earlier
-- can commit later). Each source has up to 16 rows, one per slot (the backend's pid
-- modulo 16), so concurrent submissions from different connections do not queue on
-- one row lock until commit; two connections sharing a slot queue on that row only.
-- `changed_at` is the newest write's clock time (Last-Modified).
--
-- Time changes the public set too: a report leaves it when its public_until passes,
-- with no write. The readers add max(public_until) <= now() (a btree index below
-- answers it in one descent).
CREATE TABLE kmzb.change_times (
    source     text NOT NULL
               CHECK (source IN ('reports', 'places', 'vocabulary', 'statistics', 'cells')),
    slot       smallint NOT NULL CHECK (slot BETWEEN 0 AND 15),
    changes    bigint NOT NULL CHECK (changes >= 0),
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (source, slot)
);
COMMENT ON TABLE kmzb.change_times IS
    'Per source of public data: write counters (validators of HTTP caching) and the last write time';

INSERT INTO kmzb.change_times (source, slot, changes, changed_at)
SELECT source, 0, 0, now()
FROM unnest(ARRAY['reports', 'places', 'vocabulary', 'statistics', 'cells']) AS source;

-- Runs as the owner: the API writes reports but never this table directly.
CREATE FUNCTION kmzb.note_change(p_source text) RETURNS void
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO kmzb.change_times AS t (source, slot, changes, changed_at)
    VALUES (p_source, (pg_backend_pid() % 16)::smallint, 1, clock_timestamp())
    ON CONFLICT (source, slot) DO UPDATE
    SET changes = t.changes + 1,
        changed_at = greatest(t.changed_at, excluded.changed_at)
$$;
REVOKE ALL ON FUNCTION kmzb.note_change(text) FROM PUBLIC;

-- Statement-level: one row touched per statement, however many rows it wrote.
CREATE FUNCTION kmzb.note_change_of_statement() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM kmzb.note_change(TG_ARGV[0]);
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION kmzb.note_change_of_statement() FROM PUBLIC;

DO $$
DECLARE
    watched text[][] := ARRAY[
        ['reports', 'reports'],
        ['territorial_units', 'places'],
        ['territorial_levels', 'places'],
        ['police_units', 'places'],
        ['police_unit_kinds', 'places'],
        ['police_unit_areas', 'places'],
        ['threat_categories', 'vocabulary'],
        ['statuses', 'vocabulary'],
        ['visibility_policy', 'vocabulary'],
        ['crime_categories', 'vocabulary'],
        ['crime_statistics', 'statistics'],
        ['population', 'statistics']];
    i integer;
BEGIN
    FOR i IN 1 .. array_length(watched, 1) LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON kmzb.%I '
            'FOR EACH STATEMENT EXECUTE FUNCTION kmzb.note_change_of_statement(%L)',
            watched[i][1] || '_note_change', watched[i][1], watched[i][2]);
    END LOOP;
END
$$;

-- max(public_until) <= now(): the last time a report left the public view by itself
CREATE INDEX reports_public_until_idx ON kmzb.reports (public_until);

SELECT kmzb.grant_service_privilege('kmzb_api', 'SELECT', 'kmzb.change_times',
                                    'the validators (ETag, Last-Modified) of public reads');
