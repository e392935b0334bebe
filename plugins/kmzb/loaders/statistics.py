"""`kmzb load statistics`: crimes recorded by the police (pillar 1) and population.

Both files are GUS Bank Danych Lokalnych exports. Population is given per
powiat; województwa and the country get the sum of their powiaty. The crime
file has counts per category but no total count: the total is derived from
the official rate per 1,000 inhabitants and the population. Rates are stored
per 10,000 inhabitants (the official per-1,000 rate times ten).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psycopg

from kmzb.domain import alerts
from kmzb.errors import LoadError
from kmzb.loaders.common import (
    Progress,
    ProgressCallback,
    TableSummary,
    read_csv,
    resolve_input,
    run_in_transaction,
    upsert_counts,
)
from kmzb.settings import load_settings

# crime category -> its column suffix in the GUS file (cnt_*, det_*, p1k_*)
CATEGORY_COLUMNS = {
    "total": "total",
    "criminal": "criminal",
    "economic": "economic",
    "traffic": "traffic",
    "life_health": "life_health",
    "property": "property",
    "freedom_sexual": "freedom_sexual",
    "family": "family",
    "public_safety": "public_safety",
}
LEVEL_CODES = {"kraj": 0, "wojewodztwo": 2, "powiat": 4}
POPULATION_COLUMNS = ("teryt", "year", "men", "women", "total")
CRIME_COLUMNS = ("teryt", "level", "year", "p1k_total", "det_total") + tuple(
    f"{metric}_{suffix}"
    for suffix in CATEGORY_COLUMNS.values()
    if suffix != "total"
    for metric in ("cnt", "det", "p1k")
)


@dataclass(frozen=True)
class StatisticsRow:
    teryt: str
    year: int
    category: str
    count: int | None
    rate_per_10k: float | None
    detection_rate: float | None


def _number(value: str, where: str, integer: bool = False) -> float | int | None:
    value = value.strip()
    if value == "":
        return None
    try:
        number = int(value) if integer else float(value)
    except ValueError as exc:
        raise LoadError(f"{where}: {value!r} is not a number") from exc
    if number < 0:
        raise LoadError(f"{where}: negative value {value}")
    return number


def _unit_code(row: dict[str, str], where: str) -> str:
    level = row["level"].strip()
    if level not in LEVEL_CODES:
        raise LoadError(f"{where}: unknown level {level!r}")
    code = row["teryt"].strip()
    if level == "kraj":
        return "PL"
    if len(code) != LEVEL_CODES[level] or not code.isdigit():
        raise LoadError(f"{where}: TERYT {code!r} does not fit level {level}")
    return code


def read_population(path: Path) -> dict[tuple[str, int], tuple[int, int, int]]:
    population: dict[tuple[str, int], tuple[int, int, int]] = {}
    for number, row in enumerate(read_csv(path, POPULATION_COLUMNS), start=2):
        where = f"{path.name}: line {number}"
        code = row["teryt"].strip()
        if len(code) != 4 or not code.isdigit():
            raise LoadError(f"{where}: powiat TERYT {code!r} is not four digits")
        year = _number(row["year"], where, integer=True)
        men = _number(row["men"], where, integer=True)
        women = _number(row["women"], where, integer=True)
        total = _number(row["total"], where, integer=True)
        if year is None or total is None or men is None or women is None:
            raise LoadError(f"{where}: year and population are required")
        if (code, int(year)) in population:
            raise LoadError(f"{where}: powiat {code} year {year} given twice")
        population[(code, int(year))] = (int(men), int(women), int(total))
    # higher levels are the sum of their powiaty
    sums: dict[tuple[str, int], list[int]] = {}
    for (code, year), values in population.items():
        for parent in (code[:2], "PL"):
            acc = sums.setdefault((parent, year), [0, 0, 0])
            for i in range(3):
                acc[i] += values[i]
    population.update({key: (v[0], v[1], v[2]) for key, v in sums.items()})
    return population


def read_crime(
    path: Path, population: dict[tuple[str, int], tuple[int, int, int]]
) -> list[StatisticsRow]:
    rows: list[StatisticsRow] = []
    seen: set[tuple[str, int]] = set()
    for number, row in enumerate(read_csv(path, CRIME_COLUMNS), start=2):
        where = f"{path.name}: line {number}"
        code = _unit_code(row, where)
        year = _number(row["year"], where, integer=True)
        if year is None:
            raise LoadError(f"{where}: year is required")
        year = int(year)
        if (code, year) in seen:
            raise LoadError(f"{where}: {code} year {year} given twice")
        seen.add((code, year))
        for category, suffix in CATEGORY_COLUMNS.items():
            per_1k = _number(row[f"p1k_{suffix}"], where)
            detection = _number(row[f"det_{suffix}"], where)
            if category == "total":
                people = population.get((code, year))
                count = round(per_1k * people[2] / 1000) if per_1k is not None and people else None
            else:
                value = _number(row[f"cnt_{suffix}"], where)
                count = None if value is None else int(value)
            rate = None if per_1k is None else round(per_1k * 10, 2)
            rows.append(StatisticsRow(code, year, category, count, rate, detection))
    return rows


STAGE = """
CREATE TEMP TABLE stage_population (teryt text, year smallint, men integer,
    women integer, total integer) ON COMMIT DROP;
CREATE TEMP TABLE stage_crime (teryt text, year smallint, category text, count integer,
    rate_per_10k numeric(10, 2), detection_rate numeric(5, 1)) ON COMMIT DROP
"""

UPSERT_POPULATION = """
INSERT INTO kmzb.population AS t (teryt, year, men, women, total)
SELECT teryt, year, men, women, total FROM stage_population
ON CONFLICT (teryt, year) DO UPDATE SET
    men = EXCLUDED.men, women = EXCLUDED.women, total = EXCLUDED.total
WHERE (t.men, t.women, t.total) IS DISTINCT FROM (EXCLUDED.men, EXCLUDED.women, EXCLUDED.total)
RETURNING (xmax = 0)
"""

UPSERT_CRIME = """
INSERT INTO kmzb.crime_statistics AS t
    (teryt, year, category, count, rate_per_10k, detection_rate)
SELECT teryt, year, category, count, rate_per_10k, detection_rate FROM stage_crime
ON CONFLICT (teryt, year, category) DO UPDATE SET
    count = EXCLUDED.count, rate_per_10k = EXCLUDED.rate_per_10k,
    detection_rate = EXCLUDED.detection_rate
WHERE (t.count, t.rate_per_10k, t.detection_rate)
      IS DISTINCT FROM (EXCLUDED.count, EXCLUDED.rate_per_10k, EXCLUDED.detection_rate)
RETURNING (xmax = 0), year
"""

# Each unit shows its latest population on the map.
UPDATE_UNIT_POPULATION = """
UPDATE kmzb.territorial_units u
SET population = p.total, population_year = p.year, updated_at = now()
FROM (SELECT DISTINCT ON (teryt) teryt, year, total FROM kmzb.population
      ORDER BY teryt, year DESC) p
WHERE u.teryt = p.teryt
  AND (u.population, u.population_year) IS DISTINCT FROM (p.total, p.year)
"""


def _check_units_exist(conn: psycopg.Connection, codes: set[str], what: str) -> None:
    known = {
        row[0]
        for row in conn.execute(
            "SELECT teryt FROM kmzb.territorial_units WHERE teryt = ANY(%s)", (sorted(codes),)
        )
    }
    unknown = sorted(codes - known)
    if unknown:
        raise LoadError(
            f"{what} names territorial units that are not loaded: {', '.join(unknown[:10])}"
            " (run `kmzb load units` first)"
        )


def _write(
    conn: psycopg.Connection,
    population: dict[tuple[str, int], tuple[int, int, int]],
    crime: list[StatisticsRow],
    progress: Progress,
) -> list[TableSummary]:
    _check_units_exist(conn, {code for code, _ in population}, "the population file")
    _check_units_exist(conn, {row.teryt for row in crime}, "the crime file")
    for statement in STAGE.split(";"):
        conn.execute(statement)
    with conn.cursor().copy("COPY stage_population FROM STDIN") as copy:
        for (code, year), (men, women, total) in sorted(population.items()):
            copy.write_row((code, year, men, women, total))
    with conn.cursor().copy("COPY stage_crime FROM STDIN") as copy:
        for r in crime:
            copy.write_row((r.teryt, r.year, r.category, r.count, r.rate_per_10k, r.detection_rate))
    progress.step(f"staged {len(population)} population and {len(crime)} crime rows")
    people = upsert_counts(
        conn.execute(UPSERT_POPULATION).fetchall(), len(population), "population"
    )
    people.notes.append("województwa and Poland summed from powiaty")
    changed = conn.execute(UPSERT_CRIME).fetchall()
    crimes = upsert_counts(changed, len(crime), "crime_statistics")
    crimes.notes.append("total count derived from the rate per 1,000 and population")
    # one `pl.kmzb.statistics.updated` alert per year whose figures changed, on commit
    years = sorted({int(row[1]) for row in changed})
    for year in years:
        alerts.statistics_updated(conn, year, load_settings().public_url)
    if years:
        crimes.notes.append(f"alerts queued for {len(years)} year(s)")
    updated = conn.execute(UPDATE_UNIT_POPULATION).rowcount
    units = TableSummary("territorial_units[population]", updated=updated)
    return [people, crimes, units]


def load_statistics(
    url: str,
    data_dir: Path | None,
    crime_path: Path | None,
    population_path: Path | None,
    echo: ProgressCallback,
) -> list[TableSummary]:
    progress = Progress(echo)
    population_file = resolve_input(
        data_dir, population_path, "statistics/population_powiat_2013_2024.csv"
    )
    crime_file = resolve_input(data_dir, crime_path, "statistics/crime_powiat_2013_2024.csv")
    population = read_population(population_file)
    progress.step(f"read {len(population)} population rows from {population_file.name}")
    crime = read_crime(crime_file, population)
    progress.step(f"read {len(crime)} crime rows from {crime_file.name}")
    return run_in_transaction(url, lambda conn: _write(conn, population, crime, progress))
