"""Reading a threat submission: every field checked, every problem named in PL and EN.

Checks that need the database (the category exists, the point is in Poland)
are in kmzb.domain.intake, which stores the report; this module is pure Python. The limits it checks
against (the description's length, the attachments, the times of day) come
from the vocabulary (kmzb.domain.vocabulary, read from the database) the
caller passes in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from kmzb.domain.crs_names import PUWG_1992_NAMES, WGS84_NAMES
from kmzb.domain.errors import FieldError
from kmzb.domain.vocabulary import Limits, Vocabulary

WARSAW = ZoneInfo("Europe/Warsaw")
SOURCES = ("citizen", "partner", "police")
INPUTS = {
    "lon",
    "lat",
    "x",
    "y",
    "crs",
    "category",
    "event_date",
    "time_of_day",
    "description",
    "source",
    "attachments",
}


# Characters a file name may not hold: control characters (CR, LF, NUL...), line and
# paragraph separators, and the bidirectional overrides that make "gpj.exe" look like
# "exe.jpg".
BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def unwanted_controls(text: str) -> bool:
    """Control characters a stored text may not hold: all but tab and line breaks."""
    return any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text)


def unsafe_in_filename(name: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in BIDI_CONTROLS for ch in name)


@dataclass(frozen=True)
class Attachment:
    filename: str
    media_type: str
    content: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class Submission:
    lon: float | None = None  # CRS84, after conversion
    lat: float | None = None
    x: float | None = None  # EPSG:2180, when given so
    y: float | None = None
    category: str | None = None
    event_date: date | None = None
    time_of_day: str | None = None
    description: str | None = None
    source: str = "citizen"
    attachments: list[Attachment] = field(default_factory=list)

    @property
    def srid(self) -> int:
        return 2180 if self.x is not None else 4326


def sniff_media_type(content: bytes) -> str | None:
    """The type of a file from its first bytes; None if not one we accept."""
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if len(content) >= 12 and content[4:8] == b"ftyp":
        brand = content[8:12]
        if brand.startswith(b"3g"):
            return "video/3gpp"
        if brand == b"qt  ":
            return "video/quicktime"
        return "video/mp4"
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _crs(value: Any) -> str | None:
    """The CRS name given, if it is text (a JSON object or list is no CRS name)."""
    return value if isinstance(value, str) else None


def in_range(lon: float, lat: float) -> bool:
    return -180 <= lon <= 180 and -90 <= lat <= 90


def out_of_range(field: str) -> FieldError:
    return FieldError(
        field,
        "Nieprawidłowe współrzędne: długość -180..180, szerokość -90..90.",
        "Invalid coordinates: longitude -180..180, latitude -90..90.",
    )


def _location(inputs: dict[str, Any], sub: Submission, errors: list[FieldError]) -> None:
    if "x" in inputs or "y" in inputs:
        x, y = _number(inputs.get("x")), _number(inputs.get("y"))
        crs = _crs(inputs.get("crs"))
        if crs not in PUWG_1992_NAMES:
            errors.append(
                FieldError(
                    "crs",
                    "Dla współrzędnych x/y podaj układ EPSG:2180 (PUWG 1992).",
                    "Give the CRS EPSG:2180 (PUWG 1992) for x/y coordinates.",
                )
            )
        if x is None or y is None:
            errors.append(
                FieldError(
                    "x",
                    "Współrzędne x i y muszą być liczbami.",
                    "Coordinates x and y must be numbers.",
                )
            )
        else:
            sub.x, sub.y = x, y
        return
    lon, lat = _number(inputs.get("lon")), _number(inputs.get("lat"))
    crs = inputs.get("crs")
    if crs is not None and _crs(crs) not in WGS84_NAMES:
        errors.append(
            FieldError(
                "crs",
                "Dla lon/lat dozwolony jest tylko układ CRS84 (WGS 84).",
                "Only CRS84 (WGS 84) is allowed for lon/lat.",
            )
        )
    if lon is None or lat is None:
        errors.append(
            FieldError(
                "location",
                "Podaj miejsce zagrożenia: lon i lat (CRS84) albo x, y i crs (EPSG:2180).",
                "Give the place: lon and lat (CRS84), or x, y and crs (EPSG:2180).",
            )
        )
    elif not in_range(lon, lat):
        errors.append(out_of_range("location"))
    else:
        sub.lon, sub.lat = lon, lat


def polish_count(n: int, one: str, few: str, many: str) -> str:
    """`n` with the Polish plural form: 1 załącznik, 3 załączniki, 5 załączników."""
    if n == 1:
        return f"{n} {one}"
    if n % 10 in (2, 3, 4) and n % 100 not in (12, 13, 14):
        return f"{n} {few}"
    return f"{n} {many}"


def _file_types(limits: Limits) -> str:
    """The accepted file types as people name them: JPEG, PNG, PDF, MP4..."""
    return ", ".join(t.split("/")[1].upper() for t in limits.attachment_media_types)


def _attachments(value: Any, limits: Limits, errors: list[FieldError]) -> list[Attachment]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(
            FieldError("attachments", "Załączniki podaj jako listę.", "Give attachments as a list.")
        )
        return []
    if len(value) > limits.attachments_max_count:
        errors.append(
            FieldError(
                "attachments",
                "Najwyżej "
                + polish_count(
                    limits.attachments_max_count, "załącznik", "załączniki", "załączników"
                )
                + ".",
                f"At most {limits.attachments_max_count} attachment"
                + ("" if limits.attachments_max_count == 1 else "s")
                + ".",
            )
        )
        return []
    found: list[Attachment] = []
    for number, item in enumerate(value, start=1):
        where = f"attachments[{number}]"
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            errors.append(
                FieldError(
                    where,
                    "Załącznik to obiekt z polami name i content (base64).",
                    "An attachment is an object with name and content (base64).",
                )
            )
            continue
        name = str(item.get("name") or f"zalacznik-{number}")[:255]
        if unsafe_in_filename(name):
            errors.append(
                FieldError(
                    where,
                    "Nazwa pliku zawiera znaki sterujące (np. nową linię); zmień nazwę pliku.",
                    "The file name holds control characters (e.g. a line break); rename the file.",
                )
            )
            continue
        try:
            content = base64.b64decode(item["content"], validate=True)
        except (binascii.Error, ValueError):
            errors.append(
                FieldError(
                    where,
                    "Treść załącznika nie jest poprawnym base64.",
                    "The attachment content is not valid base64.",
                )
            )
            continue
        if not content:
            errors.append(FieldError(where, "Pusty załącznik.", "The attachment is empty."))
        elif len(content) > limits.attachment_max_bytes:
            size = limits.attachment_max_megabytes
            errors.append(
                FieldError(
                    where,
                    f"Załącznik {name} jest większy niż {size}.",
                    f"Attachment {name} is larger than {size}.",
                )
            )
        elif (media_type := sniff_media_type(content)) not in limits.attachment_media_types:
            errors.append(
                FieldError(
                    where,
                    f"Niedozwolony typ pliku {name}: dozwolone {_file_types(limits)}.",
                    f"File type of {name} is not allowed: {_file_types(limits)} are.",
                )
            )
        elif media_type is not None:
            found.append(Attachment(name, media_type, content))
    return found


def parse_submission(inputs: Any, vocab: Vocabulary) -> tuple[Submission, list[FieldError]]:
    """Read the inputs of submit-threat against the vocabulary's limits; return what was
    understood and every problem."""
    limits = vocab.limits
    times_of_day = vocab.time_of_day_codes
    sub = Submission()
    errors: list[FieldError] = []
    if not isinstance(inputs, dict):
        return sub, [
            FieldError(
                "inputs",
                "Dane zgłoszenia muszą być obiektem JSON.",
                "The submission must be a JSON object.",
            )
        ]
    unknown = sorted(set(inputs) - INPUTS)
    if unknown:
        errors.append(
            FieldError(
                unknown[0],
                f"Nieznane pola: {', '.join(unknown)}.",
                f"Unknown fields: {', '.join(unknown)}.",
            )
        )
    _location(inputs, sub, errors)

    category = inputs.get("category")
    if not isinstance(category, str) or not category.strip():
        errors.append(
            FieldError("category", "Wybierz kategorię zagrożenia.", "Choose a threat category.")
        )
    else:
        sub.category = category.strip()

    event_date = inputs.get("event_date")
    if event_date not in (None, ""):
        try:
            sub.event_date = date.fromisoformat(str(event_date))
        except ValueError:
            errors.append(
                FieldError(
                    "event_date",
                    "Data zdarzenia w formacie RRRR-MM-DD.",
                    "Event date as YYYY-MM-DD.",
                )
            )
        else:
            if sub.event_date > datetime.now(WARSAW).date():
                errors.append(
                    FieldError(
                        "event_date",
                        "Data zdarzenia nie może być w przyszłości.",
                        "The event date cannot be in the future.",
                    )
                )

    time_of_day = inputs.get("time_of_day")
    if time_of_day not in (None, ""):
        if time_of_day not in times_of_day:
            errors.append(
                FieldError(
                    "time_of_day",
                    f"Pora dnia: jedna z {', '.join(times_of_day)}.",
                    f"Time of day: one of {', '.join(times_of_day)}.",
                )
            )
        else:
            sub.time_of_day = time_of_day

    description = inputs.get("description")
    if description is not None:
        if not isinstance(description, str):
            errors.append(
                FieldError("description", "Opis musi być tekstem.", "The description must be text.")
            )
        elif unwanted_controls(description):
            errors.append(
                FieldError(
                    "description",
                    "Opis zawiera znaki sterujące; zostaw tylko tekst i nowe linie.",
                    "The description holds control characters; keep only text and line breaks.",
                )
            )
        elif len(description.strip()) > limits.description_max_chars:
            errors.append(
                FieldError(
                    "description",
                    f"Opis może mieć najwyżej {limits.description_max_chars} znaków "
                    f"(ma {len(description.strip())}).",
                    f"The description may have at most {limits.description_max_chars} characters "
                    f"(it has {len(description.strip())}).",
                )
            )
        else:
            sub.description = description.strip() or None

    source = inputs.get("source", "citizen")
    if source not in SOURCES:
        errors.append(
            FieldError(
                "source",
                f"Źródło: jedno z {', '.join(SOURCES)}.",
                f"Source: one of {', '.join(SOURCES)}.",
            )
        )
    else:
        sub.source = source

    sub.attachments = _attachments(inputs.get("attachments"), limits, errors)
    return sub, errors
