-- Least privilege (issue 10): each service reaches the database as its own
-- role, none of them a superuser.
--
--   kmzb_owner  owns schema kmzb and everything in it; migrations run as it
--               (kmzb.db.migrations: SET ROLE once it owns the schema), so do
--               the loaders and the jobs of `kmzb run` (or a superuser).
--   kmzb_api    the API (pygeoapi and our routes): reads the public views and
--               the reference tables, writes reports, their history and
--               attachments through the domain, reads no reporter hash.
--   kmzb_wms    QGIS Server: reads its wms_* views, writes nothing.
--
-- All three are group roles (NOLOGIN here). The embedded cluster lets
-- kmzb_api and kmzb_wms log in with generated passwords (var/pg/*-password);
-- in production the operator gives them LOGIN, or creates login roles in
-- them, and names those in KMZB_API_DATABASE_URL / KMZB_WMS_DATABASE_URL.
--
-- The privileges are data: kmzb.service_privileges holds one rule per grant,
-- kmzb.grant_service_privileges() applies the rules (and two conventions:
-- public_* relations are the API's, wms_* relations QGIS Server's), and a
-- later migration grants a new object in one line:
--
--   SELECT kmzb.grant_service_privilege('kmzb_api', 'INSERT', 'kmzb.new_table',
--                                       'why the API writes it');
--
-- Rules may name objects that do not exist (yet): they apply once they do.
-- kmzb.db.migrations calls kmzb.grant_service_privileges() after every run
-- that applied a migration, so ownership and grants never drift.

-- Roles are cluster-wide: another database of the cluster, the operator or
-- `kmzb db up` may have created them already (even at this very moment).
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['kmzb_owner', 'kmzb_api', 'kmzb_wms'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a migration in another database
            END;
        END IF;
    END LOOP;
    -- whoever migrates must be able to act as the owner
    IF NOT pg_has_role(current_user, 'kmzb_owner', 'MEMBER') THEN
        BEGIN
            GRANT kmzb_owner TO CURRENT_USER;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;

-- Only what a service may do, one row per grant. No rule can give DELETE,
-- TRUNCATE, REFERENCES or TRIGGER, nor anything to the owner.
CREATE TABLE kmzb.service_privileges (
    grantee        name NOT NULL CHECK (grantee IN ('kmzb_api', 'kmzb_wms')),
    privilege      text NOT NULL CHECK (privilege IN ('SELECT', 'INSERT', 'UPDATE', 'USAGE', 'EXECUTE')),
    -- a relation ('kmzb.reports') or a function with its argument types ('kmzb.f(text)')
    object         text NOT NULL,
    columns        text[],  -- only these columns (those that exist)
    except_columns text[],  -- every column but these, new columns included
    why            text NOT NULL CHECK (btrim(why) <> ''),
    PRIMARY KEY (grantee, privilege, object),
    CHECK (columns IS NULL OR except_columns IS NULL),
    CHECK (grantee = 'kmzb_api' OR privilege IN ('SELECT', 'EXECUTE'))
);

INSERT INTO kmzb.service_privileges (grantee, privilege, object, columns, except_columns, why) VALUES
    -- reference data the API reads (directly, or in its routing and check triggers)
    ('kmzb_api', 'SELECT', 'kmzb.territorial_units', NULL, NULL, 'places, area safety, kmzb.gmina_at, kmzb.is_inside_poland'),
    ('kmzb_api', 'SELECT', 'kmzb.police_units', NULL, NULL, 'routing (kmzb.police_unit_at), reach, report details'),
    ('kmzb_api', 'SELECT', 'kmzb.threat_categories', NULL, NULL, 'submission checks, report details, area safety'),
    ('kmzb_api', 'SELECT', 'kmzb.statuses', NULL, NULL, 'status names, the initial status, the queue'),
    ('kmzb_api', 'SELECT', 'kmzb.status_transitions', NULL, NULL, 'review: the allowed transitions'),
    ('kmzb_api', 'SELECT', 'kmzb.visibility_policy', NULL, NULL, 'kmzb.public_until, run by the report triggers'),
    ('kmzb_api', 'SELECT', 'kmzb.crime_statistics', NULL, NULL, 'area safety'),
    ('kmzb_api', 'SELECT', 'kmzb.crime_categories', NULL, NULL, 'area safety'),
    ('kmzb_api', 'SELECT', 'kmzb.public_threat_cells', NULL, NULL, 'threat tiles below zoom 14'),
    -- reports: every column but the reporter's hash
    ('kmzb_api', 'SELECT', 'kmzb.reports', NULL, ARRAY['reporter_hash'], 'status lookup, police queue and details, tiles; never the reporter hash'),
    ('kmzb_api', 'INSERT', 'kmzb.reports',
        ARRAY['public_ref', 'category', 'geom', 'event_date', 'time_of_day', 'description',
              'status', 'police_unit', 'gmina_teryt', 'source', 'reporter_hash'],
        NULL, 'submit (kmzb.domain.reports.submit); the hash is written once, never read'),
    ('kmzb_api', 'UPDATE', 'kmzb.reports', ARRAY['status', 'forwarded_to'], NULL, 'review (kmzb.domain.reports.review)'),
    ('kmzb_api', 'SELECT', 'kmzb.report_status_history', NULL, NULL, 'the history of a report'),
    ('kmzb_api', 'INSERT', 'kmzb.report_status_history', NULL, ARRAY['id', 'changed_at'], 'submit and review append to the history'),
    ('kmzb_api', 'SELECT', 'kmzb.report_attachments', NULL, NULL, 'attachments for the police'),
    ('kmzb_api', 'INSERT', 'kmzb.report_attachments', NULL, ARRAY['id', 'created_at'], 'submit stores attachments'),
    ('kmzb_api', 'EXECUTE', 'kmzb.reports_today_by_reporter(text)', NULL, NULL, 'the daily limit counts by hash without reading it'),
    ('kmzb_api', 'EXECUTE', 'kmzb.is_inside_poland(geometry)', NULL, NULL, 'submission checks'),
    ('kmzb_api', 'EXECUTE', 'kmzb.police_unit_at(geometry)', NULL, NULL, 'routing a report'),
    ('kmzb_api', 'EXECUTE', 'kmzb.gmina_at(geometry)', NULL, NULL, 'routing a report'),
    ('kmzb_api', 'EXECUTE', 'kmzb.public_until(text, text, timestamp with time zone)', NULL, NULL, 'run by the report triggers'),
    ('kmzb_api', 'EXECUTE', 'kmzb.police_unit_reach(text, boolean)', NULL, NULL, 'which units a police token reaches'),
    -- objects of migrations 032-036 (reporter privacy, burst hold, institutions, access log)
    ('kmzb_api', 'EXECUTE', 'kmzb.reporter_hash_purgeable(timestamp with time zone)', NULL, NULL, 'run by the report row trigger'),
    ('kmzb_api', 'EXECUTE', 'kmzb.hold_burst(bigint, double precision, interval, integer)', NULL, NULL, 'submit holds a burst back (runs as the owner)'),
    ('kmzb_api', 'SELECT', 'kmzb.institutions', NULL, NULL, 'forwarding to a partner institution, its name'),
    ('kmzb_api', 'SELECT', 'kmzb.institution_units', NULL, NULL, 'which units forward to an institution'),
    ('kmzb_api', 'SELECT', 'kmzb.institution_unit_reach', NULL, NULL, 'which units forward to an institution'),
    ('kmzb_api', 'INSERT', 'kmzb.police_access_log', NULL, ARRAY['id', 'at'], 'every police read is recorded'),
    ('kmzb_api', 'SELECT', 'kmzb.police_access_log', NULL, NULL, 'the admin reads the trail (GET /admin/access-log)'),
    -- QGIS Server: its views (by convention) and the reach rule in the police layer's filter
    ('kmzb_wms', 'SELECT', 'kmzb.police_units', NULL, NULL, 'kmzb.police_unit_reach in the police layer''s filter'),
    ('kmzb_wms', 'SELECT', 'kmzb.public_threat_categories', NULL, NULL, 'scripts/build_qgis_project.py styles the map by category through the map''s service'),
    ('kmzb_wms', 'EXECUTE', 'kmzb.police_unit_reach(text, boolean)', NULL, NULL, 'the police layer''s filter (kmzb_access plugin)');

-- The daily limit counts a reporter's reports of the day without letting the
-- API read any hash: this function runs as the owner and only counts.
CREATE FUNCTION kmzb.reports_today_by_reporter(hash text) RETURNS integer
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, public AS $$
    SELECT count(*)::integer FROM kmzb.reports
    WHERE reporter_hash = $1
      AND created_at >= date_trunc('day', now() AT TIME ZONE 'Europe/Warsaw')
                        AT TIME ZONE 'Europe/Warsaw'
$$;
ALTER FUNCTION kmzb.reports_today_by_reporter(text) OWNER TO kmzb_owner;
REVOKE ALL ON FUNCTION kmzb.reports_today_by_reporter(text) FROM PUBLIC;

CREATE FUNCTION kmzb.grant_service_privileges() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, public AS $fn$
DECLARE
    statement text;
    rule record;
    rel regclass;
    fn regprocedure;
    cols text;
BEGIN
    -- 1. kmzb_owner owns the schema and every object in it (those the caller may hand over)
    IF (SELECT nspowner FROM pg_namespace WHERE nspname = 'kmzb') <> 'kmzb_owner'::regrole THEN
        ALTER SCHEMA kmzb OWNER TO kmzb_owner;
    END IF;
    FOR statement IN
        SELECT format('ALTER %s %s OWNER TO kmzb_owner',
                      CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW'
                                     WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'f' THEN 'FOREIGN TABLE'
                                     WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END,
                      CASE c.relkind WHEN 'c' THEN c.reltype::regtype::text ELSE c.oid::regclass::text END)
        FROM pg_class c
        WHERE c.relnamespace = 'kmzb'::regnamespace
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
          AND c.relowner <> 'kmzb_owner'::regrole
          AND pg_has_role(c.relowner, 'USAGE')
          -- identity and serial sequences follow their table; extension members stay
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                            AND d.deptype IN ('a', 'i', 'e'))
        UNION ALL
        SELECT format('ALTER %s %s OWNER TO kmzb_owner',
                      CASE p.prokind WHEN 'p' THEN 'PROCEDURE' WHEN 'a' THEN 'AGGREGATE'
                                     ELSE 'FUNCTION' END,
                      p.oid::regprocedure)
        FROM pg_proc p
        WHERE p.pronamespace = 'kmzb'::regnamespace
          AND p.proowner <> 'kmzb_owner'::regrole
          AND pg_has_role(p.proowner, 'USAGE')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                            AND d.deptype = 'e')
        UNION ALL
        SELECT format('ALTER %s %s OWNER TO kmzb_owner',
                      CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype)
        FROM pg_type t
        WHERE t.typnamespace = 'kmzb'::regnamespace
          AND t.typtype IN ('d', 'e', 'r')
          AND t.typowner <> 'kmzb_owner'::regrole
          AND pg_has_role(t.typowner, 'USAGE')
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                          WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid
                            AND d.deptype = 'e')
    LOOP
        EXECUTE statement;
    END LOOP;

    -- 2. what no service may ever do, whoever granted it
    REVOKE CREATE ON SCHEMA kmzb FROM PUBLIC, kmzb_api, kmzb_wms;
    REVOKE DELETE, TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA kmzb
        FROM PUBLIC, kmzb_api, kmzb_wms;
    REVOKE INSERT, UPDATE ON ALL TABLES IN SCHEMA kmzb FROM PUBLIC, kmzb_wms;
    REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA kmzb FROM PUBLIC, kmzb_api, kmzb_wms;
    -- kmzb.reports only by its rules below (a table-wide SELECT would show reporter_hash)
    REVOKE ALL ON kmzb.reports FROM PUBLIC, kmzb_api, kmzb_wms;
    REVOKE ALL (reporter_hash) ON kmzb.reports FROM PUBLIC, kmzb_api, kmzb_wms;
    -- a function running as its owner is callable only by the roles its rule names
    FOR fn IN
        SELECT p.oid::regprocedure FROM pg_proc p
        WHERE p.pronamespace = 'kmzb'::regnamespace AND p.prosecdef
    LOOP
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', fn);
    END LOOP;

    -- 3. what the services may do
    GRANT USAGE ON SCHEMA kmzb TO kmzb_api, kmzb_wms;
    FOR rel IN
        SELECT c.oid::regclass FROM pg_class c
        WHERE c.relnamespace = 'kmzb'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
          AND c.relname LIKE 'public\_%'
    LOOP
        EXECUTE format('GRANT SELECT ON TABLE %s TO kmzb_api', rel);
    END LOOP;
    FOR rel IN
        SELECT c.oid::regclass FROM pg_class c
        WHERE c.relnamespace = 'kmzb'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
          AND c.relname LIKE 'wms\_%'
    LOOP
        EXECUTE format('GRANT SELECT ON TABLE %s TO kmzb_wms', rel);
    END LOOP;
    FOR rule IN SELECT * FROM kmzb.service_privileges ORDER BY grantee, object, privilege LOOP
        IF rule.object LIKE '%(%' THEN
            fn := to_regprocedure(rule.object);
            CONTINUE WHEN fn IS NULL;
            EXECUTE format('GRANT %s ON FUNCTION %s TO %I', rule.privilege, fn, rule.grantee);
            CONTINUE;
        END IF;
        rel := to_regclass(rule.object);
        CONTINUE WHEN rel IS NULL;
        IF (SELECT relkind FROM pg_class WHERE oid = rel) = 'S' THEN
            EXECUTE format('GRANT %s ON SEQUENCE %s TO %I', rule.privilege, rel, rule.grantee);
        ELSIF rule.columns IS NULL AND rule.except_columns IS NULL THEN
            EXECUTE format('GRANT %s ON TABLE %s TO %I', rule.privilege, rel, rule.grantee);
        ELSE
            SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols
            FROM pg_attribute a
            WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
              AND (rule.columns IS NULL OR a.attname = ANY (rule.columns))
              AND (rule.except_columns IS NULL OR a.attname <> ALL (rule.except_columns));
            CONTINUE WHEN cols IS NULL;
            EXECUTE format('GRANT %s (%s) ON TABLE %s TO %I', rule.privilege, cols, rel, rule.grantee);
        END IF;
    END LOOP;

    -- 4. refuse a state that breaks the promise, whatever rule or hand made it
    IF has_column_privilege('kmzb_api', 'kmzb.reports', 'reporter_hash', 'SELECT')
       OR has_column_privilege('kmzb_wms', 'kmzb.reports', 'reporter_hash', 'SELECT') THEN
        RAISE EXCEPTION 'a service role may read kmzb.reports.reporter_hash'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF EXISTS (
        SELECT 1 FROM pg_roles r
        WHERE r.rolname IN ('kmzb_owner', 'kmzb_api', 'kmzb_wms')
          AND (r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolbypassrls OR r.rolreplication
               OR pg_has_role(r.oid, 'pg_read_all_data', 'MEMBER')
               OR pg_has_role(r.oid, 'pg_write_all_data', 'MEMBER')
               OR pg_has_role(r.oid, 'pg_execute_server_program', 'MEMBER')
               OR pg_has_role(r.oid, 'pg_read_server_files', 'MEMBER')
               OR pg_has_role(r.oid, 'pg_write_server_files', 'MEMBER'))
    ) THEN
        RAISE EXCEPTION 'kmzb_owner, kmzb_api and kmzb_wms must not be superusers, create roles '
                        'or databases, bypass row security, or read or write everything'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$fn$;
REVOKE ALL ON FUNCTION kmzb.grant_service_privileges() FROM PUBLIC;

-- One line in a later migration: the rule, then all rules applied again.
CREATE FUNCTION kmzb.grant_service_privilege(
    p_grantee name, p_privilege text, p_object text, p_why text,
    p_columns text[] DEFAULT NULL, p_except_columns text[] DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
BEGIN
    INSERT INTO kmzb.service_privileges (grantee, privilege, object, columns, except_columns, why)
    VALUES (p_grantee, upper(p_privilege), p_object, p_columns, p_except_columns, p_why)
    ON CONFLICT (grantee, privilege, object) DO UPDATE
        SET columns = EXCLUDED.columns, except_columns = EXCLUDED.except_columns,
            why = EXCLUDED.why;
    PERFORM kmzb.grant_service_privileges();
END
$fn$;
REVOKE ALL ON FUNCTION kmzb.grant_service_privilege(name, text, text, text, text[], text[]) FROM PUBLIC;

-- New objects in the public schema belong to no service.
DO $$
BEGIN
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
EXCEPTION WHEN insufficient_privilege THEN
    NULL;  -- not ours to change (a managed server); PostgreSQL 15 revokes it already
END
$$;

SELECT kmzb.grant_service_privileges();
