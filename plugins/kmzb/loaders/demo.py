"""`kmzb load demo --reports N`: plausible reports for demos and benchmarks.

Reports are spread over gminy by population (a gmina gets the share of its
powiat's population that its area, weighted up for towns, is of the powiat's),
with the category and status mix of the real system (about half confirmed)
and dates over the last three years. Everything is generated inside
PostgreSQL, set-based, in batches of a quarter million: 5 million reports take
minutes, not hours.

The generated rows satisfy the schema's rules by construction (each point is
drawn inside its gmina, statuses follow allowed transitions with a history row
per step, created_at is in the past), so the per-row trigger that re-checks a
citizen's submission is switched off for the load, inside its transaction.
A forwarded report names an institution its unit may forward to
(kmzb.institution_unit_reach); a report drawn as forwarded in a unit with no
such institution is not generated, so fewer reports than asked may be added.

The categories, the statuses and the path to each status come from the
vocabulary in the database (kmzb.domain.vocabulary: kmzb.status_transitions);
this module only says how common each one is.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg

from kmzb.domain import vocabulary
from kmzb.domain.vocabulary import Vocabulary
from kmzb.errors import LoadError
from kmzb.loaders.common import Progress, ProgressCallback, TableSummary

BATCH = 250_000

# Share of reports per category: the real map is dominated by traffic and
# public-order themes. A category the database has and this list lacks gets
# UNLISTED_WEIGHT; a code the database lacks is not drawn.
CATEGORY_WEIGHTS = {
    "illegal_parking": 16,
    "speeding": 15,
    "poor_road_infrastructure": 10,
    "public_drinking": 9,
    "poor_traffic_organisation": 7,
    "illegal_racing": 5,
    "vandalism": 5,
    "minors_at_risk": 4,
    "illegal_dumping": 4,
    "stray_dogs": 3,
    "drug_use": 3,
    "dangerous_waters": 2,
    "destruction_of_greenery": 2,
    "homeless_needing_help": 2,
    "quads_in_forests": 2,
    "grass_burning": 2,
    "unguarded_level_crossing": 1,
    "unguarded_track_crossing": 1,
    "illegal_logging": 1,
    "begging": 1,
    "wildlife_road_accidents": 1,
    "animal_cruelty": 1,
    "poaching": 1,
    "dangerous_entertainment": 1,
}
# Share of reports per final status (about half confirmed); the path to each is
# the shortest one kmzb.status_transitions allows from the initial status.
STATUS_WEIGHTS = {
    "new": 5,
    "verification": 5,
    "confirmed": 22,
    "eliminated": 20,
    "forwarded": 6,
    "unconfirmed": 32,
    "joke_or_mistake": 10,
}
UNLISTED_WEIGHT = 1


def status_paths(vocab: Vocabulary) -> dict[str, list[str]]:
    """For each status reachable from the initial one, the shortest allowed path to it."""
    start = vocab.initial_status.code
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for code in frontier:
            status = vocab.status(code)
            for to in status.next if status is not None else ():
                if to not in paths:
                    paths[to] = [*paths[code], to]
                    following.append(to)
        frontier = following
    return paths


def choice_rows(vocab: Vocabulary) -> list[tuple]:
    """The category and final-status draws, weighted, from the database's vocabulary."""
    categories = {
        c.code: (CATEGORY_WEIGHTS.get(c.code, UNLISTED_WEIGHT), None) for c in vocab.categories
    }
    statuses = {
        code: (STATUS_WEIGHTS.get(code, UNLISTED_WEIGHT), path)
        for code, path in status_paths(vocab).items()
    }
    return _choices(categories, "category") + _choices(statuses, "status")


DESCRIPTIONS = [
    "Samochody parkują na chodniku i zasłaniają przejście dla pieszych.",
    "Kierowcy wieczorami znacznie przekraczają prędkość.",
    "Grupa osób regularnie spożywa alkohol na placu zabaw.",
    "Brak oświetlenia i dziura w jezdni przy przejściu.",
    "Porzucone worki ze śmieciami na skraju lasu.",
    "Głośne imprezy do rana, tłok i brak wyjść ewakuacyjnych.",
]

SETUP = [
    """
    CREATE TEMP TABLE demo_gminy ON COMMIT DROP AS
    WITH shares AS (
        SELECT g.teryt, g.parent_teryt, g.geom, a.unit_code,
               ST_Area(g.geom) * CASE g.gmina_type WHEN 1 THEN 6 WHEN 3 THEN 2 ELSE 1 END AS w
        FROM kmzb.territorial_units g
        JOIN kmzb.police_unit_areas a ON a.powiat_teryt = g.parent_teryt
        WHERE g.level = 'gmina'
    ), people AS (
        SELECT s.*, p.population * s.w / sum(s.w) OVER (PARTITION BY s.parent_teryt) AS n
        FROM shares s JOIN kmzb.territorial_units p ON p.teryt = s.parent_teryt
        WHERE p.population IS NOT NULL
    )
    SELECT teryt, unit_code, geom, n / sum(n) OVER () AS share FROM people
    """,
    """
    CREATE TEMP TABLE demo_forward ON COMMIT DROP AS
    SELECT police_unit AS unit_code, min(institution) AS institution
    FROM kmzb.institution_unit_reach GROUP BY police_unit
    """,
    """
    CREATE TEMP TABLE demo_choice (
        kind text, code text, cum_from float8, cum_to float8, path text[]
    ) ON COMMIT DROP
    """,
]

INSERT_BATCH = """
WITH drawn AS (
    SELECT g.teryt, g.unit_code, pt.geom,
           random() AS rc, random() AS rs, random() AS rd,
           now() - random() * %(span)s::interval AS created_at
    FROM demo_gminy g,
         LATERAL ST_Dump(ST_GeneratePoints(g.geom, floor(g.share * %(n)s + random())::int)) pt
    WHERE floor(g.share * %(n)s + random()) > 0
), reports AS (
    INSERT INTO kmzb.reports (public_ref, category, geom, event_date, time_of_day, description,
                              status, police_unit, gmina_teryt, source, reporter_hash,
                              forwarded_to, created_at, updated_at, status_changed_at, version)
    SELECT translate(upper(substr(h, 1, 4) || '-' || substr(h, 5, 4) || '-' || substr(h, 9, 4)),
                     '01', 'XY'),
           cat.code, d.geom,
           CASE WHEN d.rd < 0.7 THEN (d.created_at - floor(d.rd * 5) * interval '1 day')::date END,
           (ARRAY['morning', 'afternoon', 'evening', 'night'])[1 + floor(d.rd * 4)::int],
           CASE WHEN cat.code = 'dangerous_entertainment' THEN %(party)s
                WHEN d.rd < 0.3 THEN (%(descriptions)s::text[])[1 + floor(d.rd * 16)::int]
           END,
           st.code, d.unit_code, d.teryt, 'citizen',
           -- a reporter hash outlives no limit window: only the last 48 hours carry one
           CASE WHEN d.created_at > now() - interval '48 hours'
                THEN encode(sha256(convert_to(h, 'UTF8')), 'hex') END,
           CASE WHEN st.code = 'forwarded' THEN f.institution END,
           d.created_at,
           d.created_at + (cardinality(st.path) - 1) * interval '2 days',
           d.created_at + (cardinality(st.path) - 1) * interval '2 days',
           cardinality(st.path)
    FROM (SELECT *, md5(random()::text || clock_timestamp()::text) AS h FROM drawn) d
    JOIN demo_choice cat ON cat.kind = 'category' AND d.rc >= cat.cum_from AND d.rc < cat.cum_to
    JOIN demo_choice st ON st.kind = 'status' AND d.rs >= st.cum_from AND d.rs < st.cum_to
    LEFT JOIN demo_forward f ON f.unit_code = d.unit_code
    WHERE d.created_at + (cardinality(st.path) - 1) * interval '2 days' < now()
      AND (st.code <> 'forwarded' OR f.institution IS NOT NULL)
    ON CONFLICT (public_ref) DO NOTHING
    RETURNING id, status, created_at
), steps AS (
    SELECT r.id, r.created_at, s.status, s.step,
           lag(s.status) OVER (PARTITION BY r.id ORDER BY s.step) AS previous
    FROM reports r
    JOIN demo_choice st ON st.kind = 'status' AND st.code = r.status
    CROSS JOIN LATERAL unnest(st.path) WITH ORDINALITY AS s (status, step)
)
INSERT INTO kmzb.report_status_history (report_id, from_status, to_status, changed_at, actor, note,
                                        note_internal)
SELECT id, previous, status, created_at + (step - 1) * interval '2 days', 'demo',
       CASE WHEN step = 1 THEN 'Zgłoszenie przyjęte / Report received' END, step > 1
FROM steps
RETURNING (from_status IS NULL)
"""


def _choices(weights: Mapping[str, tuple[int, list[str] | None]], kind: str) -> list[tuple]:
    total = sum(weight for weight, _ in weights.values())
    rows, cumulative = [], 0.0
    for code, (weight, path) in weights.items():
        start = cumulative
        cumulative += weight / total
        rows.append((kind, code, start, 1.0 if code == list(weights)[-1] else cumulative, path))
    return rows


def load_demo(url: str, reports: int, echo: ProgressCallback, years: int = 3) -> list[TableSummary]:
    if reports <= 0:
        raise LoadError("--reports must be a positive number")
    progress = Progress(echo)
    added = history = 0
    try:
        with psycopg.connect(url) as conn, conn.transaction():
            if not conn.execute("SELECT 1 FROM kmzb.police_unit_areas LIMIT 1").fetchone():
                raise LoadError("load the real data first: `kmzb load all`")
            for statement in SETUP:
                conn.execute(statement)
            rows = choice_rows(vocabulary.read(conn))
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO demo_choice VALUES (%s, %s, %s, %s, %s)", rows)
            conn.execute("ALTER TABLE kmzb.reports DISABLE TRIGGER reports_check_row")
            remaining = reports
            while remaining > 0:
                n = min(BATCH, remaining)
                firsts = conn.execute(
                    INSERT_BATCH,
                    {
                        "n": n,
                        "span": f"{years} years",
                        "descriptions": DESCRIPTIONS,
                        "party": DESCRIPTIONS[-1],
                    },
                ).fetchall()
                batch_reports = sum(1 for (first,) in firsts if first)
                added += batch_reports
                history += len(firsts)
                remaining -= n
                progress.step(f"{added:,} reports generated ({history:,} history rows)")
            conn.execute("ALTER TABLE kmzb.reports ENABLE TRIGGER reports_check_row")
        with psycopg.connect(url, autocommit=True) as conn:
            progress.step("analysing")
            conn.execute("ANALYZE kmzb.reports")
            conn.execute("ANALYZE kmzb.report_status_history")
    except psycopg.Error as exc:
        raise LoadError(f"generating demo reports failed, nothing was added: {exc}") from exc
    return [
        TableSummary("reports", inserted=added, notes=[f"{reports:,} asked, spread by population"]),
        TableSummary("report_status_history", inserted=history),
    ]
