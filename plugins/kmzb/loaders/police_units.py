"""`kmzb load police-units`: the police register with areas derived from powiaty.

The register (2021) names units only ("Komenda powiatowa policji w bolesławcu"),
with no areas. The rules that give each unit its area (see docs/police-units.md):

1. A unit's seat is the gmina of its voivodeship whose name matches the seat in
   the name (Polish locative: "w Bolesławcu" -> Bolesławiec).
2. A KMP serves the city powiat of its seat. A KPP serves the land powiat of its
   seat; a KPP seated in a city powiat serves the land powiat around that city.
3. A land powiat left without a KPP is served by the KMP of the city it
   surrounds: the city powiat sharing the longest border with it (e.g. powiat
   krakowski by KMP Kraków).
4. Warsaw (powiat 1465) is served by the Komenda Stołeczna Policji (KSP), which
   the register shows only as a group label; we add it. Its seven Komendy
   Rejonowe (KRP I-VII) are listed under it without areas, because the data
   has no boundaries of Warsaw's districts: a report in Warsaw goes to the KSP.
5. A KWP oversees the areas of the units under it; the KGP the whole country.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from kmzb.domain.spelling import fold
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

REQUIRED_COLUMNS = ("source_id", "wojewodztwo", "teryt_woj", "unit_type", "name_as_in_source")
KINDS = {"KGP", "KWP", "KMP", "KPP", "KRP"}
KIND_NAMES = {
    "KGP": "Komenda Główna Policji",
    "KWP": "Komenda Wojewódzka Policji",
    "KSP": "Komenda Stołeczna Policji",
    "KMP": "Komenda Miejska Policji",
    "KPP": "Komenda Powiatowa Policji",
    "KRP": "Komenda Rejonowa Policji",
}
WARSAW_POWIAT = "1465"
KSP_GROUP = "(KSP)"
# Stem changes in the locative: the fleeting e (Szydłowiec -> Szydłowcu) and
# consonant alternations (Sokółka -> Sokółce, Góra -> Górze, Środa -> Środzie).
ALTERNATIONS = (
    (r"i?ec$", "c"),
    (r"ek$", "k"),
    (r"ka$", "c"),
    (r"ga$", "dz"),
    (r"ra$", "rz"),
    (r"da$", "dz"),
    (r"ta$", "c"),
    (r"cha$", "sz"),
    (r"la$", "l"),
    (r"iasto$", "iescie"),  # words are compared folded (no diacritics)
)
# Seats the register names ambiguously: "w Lidzbarku" would be the gmina
# Lidzbark (served by KPP Działdowo), but the unit is in Lidzbark Warmiński.
# "Bratoszycach" is the register's typo for Bartoszyce.
SEAT_OVERRIDES = {"lidzbarku": "lidzbarku warmińskim", "bratoszycach": "bartoszycach"}
# Abbreviations in the register.
ABBREVIATIONS = {"wlkp.": "wielkopolskim", "maz.": "mazowieckim"}
LOWERCASE_WORDS = {"w", "we", "z", "dla", "siedzibą", "nad", "pod", "i"}
ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X")


@dataclass
class PoliceUnit:
    code: str
    kind: str
    name: str
    name_in_source: str | None
    parent_code: str | None
    source_id: int | None
    voivodeship: str | None
    powiaty: list[str]


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[\s\-]+", fold(text)) if w]


def _word_score(located: str, nominative: str) -> int | None:
    common = 0
    for a, b in zip(located, nominative, strict=False):
        if a != b:
            break
        common += 1
    # declension changes the ending and at most one vowel before it
    # (Góra -> Górze, Miasto -> Mieście)
    if common < max(2, len(nominative) - 4, 0.6 * len(nominative)):
        return None
    # letters of the name the seat does not share count against it
    # ("w Opatowie" is Opatów, not Opatowiec)
    return common - 3 * (len(nominative) - common)


def _seat_matches(seat: str, name: str, partial: bool = False) -> int | None:
    """Score of a gmina name for a seat in the locative; None if it cannot be it.

    With `partial`, the seat may name only the first words of the gmina
    ("w Aleksandrowie" for Aleksandrów Kujawski).
    """
    seat_words, name_words = _words(seat), _words(name)
    if partial and len(seat_words) < len(name_words):
        name_words = name_words[: len(seat_words)]
    if len(seat_words) != len(name_words):
        return None
    score = 0
    for located, nominative in zip(seat_words, name_words, strict=True):
        stems = {nominative} | {re.sub(end, stem, nominative) for end, stem in ALTERNATIONS}
        word_scores = [_word_score(located, stem) for stem in stems]
        valid = [ws for ws in word_scores if ws is not None]
        if not valid:
            return None
        score += max(valid)
    return score


def _title(text: str) -> str:
    words = text.split(" ")
    return " ".join(w if w in LOWERCASE_WORDS else w[:1].upper() + w[1:] for w in words)


def _display_name(kind: str, rest: str) -> str:
    parts = rest.split(" ")
    fixed = "-".join(_title(p) for p in " ".join(parts).split("-"))
    return f"{KIND_NAMES[kind]} {fixed}".strip()


def _genitive_to_nominative(phrase: str) -> str:
    """'warszawskiego zachodniego' -> 'warszawski zachodni' (powiat adjectives)."""
    out = []
    for word in phrase.split():
        if word.endswith("iego"):
            out.append(word[:-4] + "i")
        elif word.endswith("ego"):
            out.append(word[:-3] + "y")
        else:
            out.append(word)
    return " ".join(out)


class Register:
    """Gminy and powiaty of the database, for finding seats and areas."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.gminy = conn.execute(
            "SELECT teryt, name, gmina_type FROM kmzb.territorial_units WHERE level = 'gmina'"
        ).fetchall()
        self.powiaty: dict[str, str] = dict(
            conn.execute(
                "SELECT teryt, name FROM kmzb.territorial_units WHERE level = 'powiat'"
            ).fetchall()
        )
        if not self.gminy or not self.powiaty:
            raise LoadError("no territorial units in the database: run `kmzb load units` first")
        # border shared by two powiaty, in metres (boundaries are simplified
        # separately, so "shared" means within 100 m of the other polygon)
        self.borders: dict[tuple[str, str], float] = {
            (a, b): length
            for a, b, length in conn.execute(
                """
                SELECT a.teryt, b.teryt,
                       ST_Length(ST_Intersection(ST_Boundary(a.geom), ST_Buffer(b.geom, 100)))
                FROM kmzb.territorial_units a
                JOIN kmzb.territorial_units b
                  ON b.level = 'powiat' AND a.teryt <> b.teryt AND ST_DWithin(a.geom, b.geom, 100)
                WHERE a.level = 'powiat'
                """
            ).fetchall()
        }

    @staticmethod
    def is_city(powiat: str) -> bool:
        return int(powiat[2:]) >= 61

    def seat_gmina(self, seat: str, voivodeship: str, city_only: bool) -> str:
        seat = SEAT_OVERRIDES.get(seat, seat)
        seat = " ".join(ABBREVIATIONS.get(w, w) for w in seat.split())
        # compound names decline both parts: Białymstoku -> Białystok
        seat = re.sub(r"ymst", "yst", seat)
        # fall back from the exact name to the name without "nad Wisłą", then
        # to a seat that names only the first words of the gmina
        attempts = [(seat, False), (re.sub(r" nad .+$", "", seat), False), (seat, True)]
        for candidate, partial in attempts:
            found = self._best_seat(candidate, voivodeship, city_only, partial)
            if found is not None:
                return found
        raise LoadError(f"no gmina in województwo {voivodeship} matches the seat {seat!r}")

    def _best_seat(self, seat: str, voivodeship: str, city_only: bool, partial: bool) -> str | None:
        best: list[tuple[int, int, str]] = []
        for teryt, name, gmina_type in self.gminy:
            if not teryt.startswith(voivodeship):
                continue
            if city_only and not self.is_city(teryt[:4]):
                continue
            score = _seat_matches(seat, name, partial)
            if score is not None:
                # prefer a town gmina over the rural gmina of the same name
                preference = {1: 0, 3: 1, 8: 2}.get(gmina_type, 3)
                best.append((-score, preference, teryt))
        return min(best)[2] if best else None

    def powiat_named(self, nominative: str, voivodeship: str) -> str:
        wanted = fold(f"powiat {nominative}")
        for teryt, name in self.powiaty.items():
            if teryt.startswith(voivodeship) and fold(name) == wanted:
                return teryt
        raise LoadError(f"no powiat named {nominative!r} in województwo {voivodeship}")

    def land_powiat_around(self, city: str, taken: set[str]) -> str | None:
        candidates = [
            (length, land)
            for (c, land), length in self.borders.items()
            if c == city and not self.is_city(land) and land not in taken and land[:2] == city[:2]
        ]
        return max(candidates)[1] if candidates else None


SEAT_PATTERN = re.compile(r"^komenda \w+ policji (?P<prep>we?) (?P<seat>.+)$")
FOR_POWIAT_PATTERN = re.compile(
    r"^komenda powiatowa policji (dla )?powiatu (?P<powiat>.+?)"
    r"( z siedzibą (?P<prep>we?) (?P<seat>.+))?$"
)
KRP_PATTERN = re.compile(r"^komenda rejonowa policji (?P<number>[ivx]+)$")


def build_police_units(
    rows: list[dict[str, str]], register: Register, notes: list[str]
) -> list[PoliceUnit]:
    """The unit tree with each first-line unit's powiaty (rules in the module doc)."""
    units: dict[str, PoliceUnit] = {}
    ksp = PoliceUnit("KSP", "KSP", KIND_NAMES["KSP"], None, "KGP", None, "14", [WARSAW_POWIAT])
    kgp: PoliceUnit | None = None
    pending_kpp: list[tuple[PoliceUnit, str]] = []  # KPP seated in a city powiat
    for number, row in enumerate(rows, start=2):
        kind = row["unit_type"].strip()
        source_name = row["name_as_in_source"].strip()
        text = source_name.lower()
        voivodeship = row["teryt_woj"].strip()
        if kind not in KINDS:
            raise LoadError(f"line {number}: unknown unit type {kind!r}")
        try:
            source_id = int(row["source_id"])
        except ValueError as exc:
            raise LoadError(
                f"line {number}: source_id {row['source_id']!r} is not a number"
            ) from exc
        if kind != "KGP" and not re.fullmatch(r"\d{2}", voivodeship):
            raise LoadError(f"line {number}: bad teryt_woj {voivodeship!r}")
        parent = "KSP" if KSP_GROUP in row["wojewodztwo"] else f"KWP-{voivodeship}"
        if kind == "KGP":
            kgp = PoliceUnit(
                "KGP", "KGP", KIND_NAMES["KGP"], source_name, None, source_id, None, []
            )
            continue
        if kind == "KRP":
            match = KRP_PATTERN.match(text)
            if not match:
                raise LoadError(f"line {number}: cannot read the KRP number in {source_name!r}")
            numeral = match.group("number").upper()
            if numeral not in ROMAN:
                raise LoadError(f"line {number}: bad KRP number {numeral!r}")
            unit = PoliceUnit(
                f"KRP-{numeral}",
                "KRP",
                f"{KIND_NAMES['KRP']} Warszawa {numeral}",
                source_name,
                "KSP",
                source_id,
                voivodeship,
                [],
            )
            units[unit.code] = unit
            continue
        for_powiat = FOR_POWIAT_PATTERN.match(text)
        match = for_powiat or SEAT_PATTERN.match(text)
        if not match:
            raise LoadError(f"line {number}: cannot find the seat in {source_name!r}")
        display = _display_name(kind, text.split(" policji ", 1)[1])
        if kind == "KWP":
            unit = PoliceUnit(
                f"KWP-{voivodeship}", "KWP", display, source_name, "KGP", source_id, voivodeship, []
            )
            units[unit.code] = unit
            continue
        if for_powiat:
            powiat = register.powiat_named(
                _genitive_to_nominative(match.group("powiat")), voivodeship
            )
        else:
            gmina = register.seat_gmina(match.group("seat"), voivodeship, city_only=kind == "KMP")
            powiat = gmina[:4]
        unit = PoliceUnit(
            f"{kind}-{powiat}", kind, display, source_name, parent, source_id, voivodeship, [powiat]
        )
        if kind == "KPP" and register.is_city(powiat):
            pending_kpp.append((unit, powiat))
        elif unit.code in units:
            raise LoadError(f"line {number}: two units for powiat {powiat}: {source_name!r}")
        else:
            units[unit.code] = unit
    if kgp is None:
        raise LoadError("the register has no KGP")

    taken = {p for u in units.values() for p in u.powiaty} | {WARSAW_POWIAT}
    for unit, city in pending_kpp:
        land = register.land_powiat_around(city, taken)
        if land is None:
            raise LoadError(f"{unit.name_in_source}: no free land powiat around city {city}")
        unit.code, unit.powiaty = f"KPP-{land}", [land]
        units[unit.code] = unit
        taken.add(land)
        notes.append(f"{unit.name} seated in city powiat {city} serves {land}")

    # Rule 3: land powiaty without a KPP go to the KMP of the city they surround.
    kmp_by_city = {u.powiaty[0]: u for u in units.values() if u.kind == "KMP"}
    served_by_kmp = 0
    for powiat in sorted(set(register.powiaty) - taken):
        if register.is_city(powiat):
            raise LoadError(f"city powiat {powiat} ({register.powiaty[powiat]}) has no KMP")
        cities = [
            (length, city)
            for (land, city), length in register.borders.items()
            if land == powiat and city in kmp_by_city and city[:2] == powiat[:2]
        ]
        if not cities:
            raise LoadError(f"powiat {powiat} ({register.powiaty[powiat]}) has no police unit")
        kmp_by_city[max(cities)[1]].powiaty.append(powiat)
        served_by_kmp += 1
    notes.append(f"{served_by_kmp} land powiaty served by the KMP of their city")
    return [kgp, ksp, *sorted(units.values(), key=lambda u: (u.kind != "KWP", u.code))]


UPSERT_UNIT = """
INSERT INTO kmzb.police_units AS t
    (code, kind, name, name_in_source, parent_code, source_id, voivodeship_teryt)
VALUES (%s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (code) DO UPDATE SET
    kind = EXCLUDED.kind, name = EXCLUDED.name, name_in_source = EXCLUDED.name_in_source,
    parent_code = EXCLUDED.parent_code, source_id = EXCLUDED.source_id,
    voivodeship_teryt = EXCLUDED.voivodeship_teryt, updated_at = now()
WHERE (t.kind, t.name, t.name_in_source, t.parent_code, t.source_id, t.voivodeship_teryt)
      IS DISTINCT FROM (EXCLUDED.kind, EXCLUDED.name, EXCLUDED.name_in_source,
                        EXCLUDED.parent_code, EXCLUDED.source_id, EXCLUDED.voivodeship_teryt)
RETURNING (xmax = 0)
"""

# Areas from the powiaty; jurisdictions from the areas below each unit.
UPDATE_GEOMETRY = """
WITH RECURSIVE own AS (
    SELECT a.unit_code, ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(u.geom)), 3)) AS area
    FROM kmzb.police_unit_areas a
    JOIN kmzb.territorial_units u ON u.teryt = a.powiat_teryt
    GROUP BY a.unit_code
), tree AS (
    SELECT code AS top, code AS member FROM kmzb.police_units
    UNION ALL
    SELECT tree.top, c.code FROM tree JOIN kmzb.police_units c ON c.parent_code = tree.member
), overseen AS (
    SELECT tree.top,
           ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_Union(own.area)), 3)) AS jurisdiction
    FROM tree JOIN own ON own.unit_code = tree.member
    GROUP BY tree.top
), wanted AS (
    SELECT p.code, own.area, overseen.jurisdiction
    FROM kmzb.police_units p
    LEFT JOIN own ON own.unit_code = p.code
    LEFT JOIN overseen ON overseen.top = p.code
)
UPDATE kmzb.police_units p
SET area = w.area, jurisdiction = w.jurisdiction, updated_at = now()
FROM wanted w
WHERE p.code = w.code
  AND (ST_AsEWKB(p.area), ST_AsEWKB(p.jurisdiction))
      IS DISTINCT FROM (ST_AsEWKB(w.area), ST_AsEWKB(w.jurisdiction))
RETURNING p.code
"""


def _write(
    conn: psycopg.Connection, units: list[PoliceUnit], progress: Progress
) -> list[TableSummary]:
    flags = []
    for unit in units:
        row = conn.execute(
            UPSERT_UNIT,
            (
                unit.code,
                unit.kind,
                unit.name,
                unit.name_in_source,
                unit.parent_code,
                unit.source_id,
                unit.voivodeship,
            ),
        ).fetchone()
        if row is not None:
            flags.append(row)
    summary = upsert_counts(flags, len(units), "police_units")
    progress.step("units written; assigning powiaty")
    wanted = {(p, u.code) for u in units for p in u.powiaty}
    current = set(conn.execute("SELECT powiat_teryt, unit_code FROM kmzb.police_unit_areas"))
    stale = current - wanted
    if stale:
        conn.execute(
            "DELETE FROM kmzb.police_unit_areas WHERE powiat_teryt = ANY(%s)",
            ([p for p, _ in stale],),
        )
    fresh = wanted - current
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO kmzb.police_unit_areas (powiat_teryt, unit_code) VALUES (%s, %s)",
            sorted(fresh),
        )
    areas = TableSummary(
        "police_unit_areas",
        inserted=len(fresh),
        updated=len(stale),
        unchanged=len(wanted & current),
    )
    progress.step("computing areas and jurisdictions")
    changed = conn.execute(UPDATE_GEOMETRY).fetchall()
    summary.notes.append(f"{len(changed)} area/jurisdiction geometries (re)computed")
    return [summary, areas]


def load_police_units(
    url: str, data_dir: Path | None, csv_path: Path | None, echo: ProgressCallback
) -> list[TableSummary]:
    progress = Progress(echo)
    path = resolve_input(data_dir, csv_path, "police/police_units_2021.csv")
    rows = read_csv(path, REQUIRED_COLUMNS)
    progress.step(f"read {len(rows)} units from {path.name}")

    def work(conn: psycopg.Connection) -> list[TableSummary]:
        register = Register(conn)
        notes: list[str] = []
        units = build_police_units(rows, register, notes)
        progress.step(f"matched {len(units)} units to their seats and powiaty")
        summaries = _write(conn, units, progress)
        summaries[0].notes.extend(notes)
        return summaries

    return run_in_transaction(url, work)
