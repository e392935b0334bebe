"""Crime statistics and population (pillar 1) from GUS BDL."""

from __future__ import annotations

from pathlib import Path

import psycopg

from kmzb.loaders.statistics import load_statistics


def test_every_unit_year_and_category_is_loaded(conn: psycopg.Connection) -> None:
    row = conn.execute(
        "SELECT count(*), count(DISTINCT teryt), min(year), max(year) FROM kmzb.crime_statistics"
    ).fetchone()
    # 1 country + 16 województwa + 380 powiaty, 12 years, 9 categories
    assert row == (397 * 12 * 9, 397, 2013, 2024)


def test_values_match_the_source(conn: psycopg.Connection) -> None:
    row = conn.execute(
        """
        SELECT count, rate_per_10k, detection_rate FROM kmzb.crime_statistics
        WHERE teryt = 'PL' AND year = 2013 AND category = 'criminal'
        """
    ).fetchone()
    assert row is not None
    assert row[0] == 727718 and float(row[1]) == 189.0 and float(row[2]) == 54.9


def test_total_is_derived_from_rate_and_population(conn: psycopg.Connection) -> None:
    row = conn.execute(
        """
        SELECT s.count, s.rate_per_10k, p.total FROM kmzb.crime_statistics s
        JOIN kmzb.population p USING (teryt, year)
        WHERE s.teryt = '1465' AND s.year = 2024 AND s.category = 'total'
        """
    ).fetchone()
    assert row is not None
    count, rate, people = row
    assert abs(count - float(rate) * people / 10000) <= 1


def test_population_of_higher_levels_is_the_sum_of_powiaty(conn: psycopg.Connection) -> None:
    row = conn.execute(
        """
        SELECT (SELECT total FROM kmzb.population WHERE teryt = 'PL' AND year = 2024),
               (SELECT sum(total) FROM kmzb.population WHERE length(teryt) = 4 AND year = 2024),
               (SELECT population FROM kmzb.territorial_units WHERE teryt = '1465')
        """
    ).fetchone()
    assert row is not None
    assert row[0] == row[1] and row[0] > 37_000_000
    assert 1_700_000 < row[2] < 2_000_000


def test_second_load_changes_nothing(db_url: str, data_dir: Path) -> None:
    people, crimes, units = load_statistics(db_url, data_dir, None, None, lambda _m: None)
    assert (people.inserted, people.updated) == (0, 0)
    assert (crimes.inserted, crimes.updated) == (0, 0)
    assert units.updated == 0
