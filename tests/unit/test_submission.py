"""Reading a submission (kmzb.domain.submission.parse_submission), pure: the inputs of
submit-threat against a vocab built in the test, no database."""

from __future__ import annotations

import base64
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from kmzb.domain.submission import (
    WARSAW,
    parse_submission,
    polish_count,
    sniff_media_type,
    unsafe_in_filename,
)
from kmzb.domain.vocabulary import Vocabulary

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 12
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 8


def b64(content: bytes) -> str:
    return base64.b64encode(content).decode("ascii")


def good(**changes: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {"lon": 19.94, "lat": 50.06, "category": "vandalism"}
    inputs.update(changes)
    return {k: v for k, v in inputs.items() if v is not None}


def fields(errors: list[Any]) -> list[str]:
    return [e.field for e in errors]


def test_a_plain_submission_is_read_whole(vocab: Vocabulary) -> None:
    sub, errors = parse_submission(
        good(
            event_date="2024-05-01",
            time_of_day="night",
            description="  ławka  ",
            attachments=[{"name": "a.jpg", "content": b64(JPEG)}],
        ),
        vocab,
    )
    assert errors == []
    assert (sub.lon, sub.lat, sub.srid) == (19.94, 50.06, 4326)
    assert sub.category == "vandalism"
    assert sub.event_date == date(2024, 5, 1)
    assert sub.time_of_day == "night"
    assert sub.description == "ławka"
    assert sub.source == "citizen"
    assert [(a.filename, a.media_type, a.content) for a in sub.attachments] == [
        ("a.jpg", "image/jpeg", JPEG)
    ]


@pytest.mark.parametrize("inputs", [[], "lon=1", None, 5])
def test_inputs_that_are_not_an_object_are_one_error(inputs: Any, vocab: Vocabulary) -> None:
    _, errors = parse_submission(inputs, vocab)
    assert fields(errors) == ["inputs"]
    assert errors[0].pl and errors[0].en and errors[0].pl != errors[0].en


def test_every_problem_is_named_at_once_in_both_languages(vocab: Vocabulary) -> None:
    _, errors = parse_submission(
        {"lon": "a", "category": " ", "time_of_day": "noon", "source": "bot", "colour": 1},
        vocab,
    )
    assert fields(errors) == ["colour", "location", "category", "time_of_day", "source"]
    for error in errors:
        assert error.pl != error.en
    assert "morning, night" in errors[3].en and "morning, night" in errors[3].pl


def test_unknown_fields_are_all_named(vocab: Vocabulary) -> None:
    _, errors = parse_submission(good(zeta=1, alpha=2), vocab)
    assert fields(errors) == ["alpha"]
    assert errors[0].en == "Unknown fields: alpha, zeta."
    assert errors[0].pl == "Nieznane pola: alpha, zeta."


@pytest.mark.parametrize(
    ("lon", "lat"),
    [(True, 50), (19, float("nan")), (float("inf"), 50), (181, 50), (19, -90.5), ("19", "50")],
)
def test_a_point_is_two_finite_numbers_in_range(lon: Any, lat: Any, vocab: Vocabulary) -> None:
    sub, errors = parse_submission(good(lon=lon, lat=lat), vocab)
    assert fields(errors) == ["location"]
    assert (sub.lon, sub.lat) == (None, None)


@pytest.mark.parametrize("crs", ["EPSG:4326", "OGC:CRS84", "CRS84"])
def test_lon_lat_take_the_wgs84_names(crs: str, vocab: Vocabulary) -> None:
    assert parse_submission(good(crs=crs), vocab)[1] == []


@pytest.mark.parametrize("crs", ["EPSG:2180", {"name": "CRS84"}, ["CRS84"]])
def test_lon_lat_refuse_any_other_crs(crs: Any, vocab: Vocabulary) -> None:
    assert fields(parse_submission(good(crs=crs), vocab)[1]) == ["crs"]


def test_x_y_are_puwg_1992_and_need_its_name(vocab: Vocabulary) -> None:
    sub, errors = parse_submission(
        {"x": 566000, "y": 244000, "crs": "EPSG:2180", "category": "vandalism"}, vocab
    )
    assert errors == []
    assert (sub.x, sub.y, sub.srid, sub.lon) == (566000.0, 244000.0, 2180, None)
    _, errors = parse_submission({"x": 566000, "y": 244000, "category": "vandalism"}, vocab)
    assert fields(errors) == ["crs"]
    _, errors = parse_submission({"x": 566000, "crs": "EPSG:2180", "category": "c"}, vocab)
    assert fields(errors) == ["x"]


def test_the_event_date_is_iso_and_not_in_the_future(vocab: Vocabulary) -> None:
    assert fields(parse_submission(good(event_date="1.05.2024"), vocab)[1]) == ["event_date"]
    tomorrow = datetime.now(WARSAW).date() + timedelta(days=1)
    _, errors = parse_submission(good(event_date=tomorrow.isoformat()), vocab)
    assert fields(errors) == ["event_date"]
    assert "future" in errors[0].en and "przyszłości" in errors[0].pl
    today = datetime.now(WARSAW).date()
    assert parse_submission(good(event_date=today.isoformat()), vocab)[1] == []
    assert parse_submission(good(event_date=""), vocab)[0].event_date is None


def test_the_description_limit_is_the_vocabularys(vocab: Vocabulary) -> None:
    limit = vocab.limits.description_max_chars
    sub, errors = parse_submission(good(description="ż" * limit), vocab)
    assert errors == [] and sub.description == "ż" * limit
    # surrounding space is not counted; an empty description is none
    assert parse_submission(good(description=f"  {'a' * limit}  "), vocab)[1] == []
    assert parse_submission(good(description="   "), vocab)[0].description is None
    _, errors = parse_submission(good(description="a" * (limit + 1)), vocab)
    assert fields(errors) == ["description"]
    assert f"at most {limit} characters (it has {limit + 1})" in errors[0].en
    assert f"najwyżej {limit} znaków (ma {limit + 1})" in errors[0].pl
    assert fields(parse_submission(good(description=["a"]), vocab)[1]) == ["description"]


@pytest.mark.parametrize("source", ["citizen", "partner", "police"])
def test_the_three_sources(source: str, vocab: Vocabulary) -> None:
    assert parse_submission(good(source=source), vocab)[0].source == source


def test_attachments_limits_are_the_vocabularys(vocab: Vocabulary) -> None:
    limits = vocab.limits
    one = {"name": "a.png", "content": b64(PNG)}
    assert parse_submission(good(attachments=[one] * limits.attachments_max_count), vocab)[1] == []
    _, errors = parse_submission(
        good(attachments=[one] * (limits.attachments_max_count + 1)), vocab
    )
    assert fields(errors) == ["attachments"]
    assert errors[0].en == "At most 2 attachments." and errors[0].pl == "Najwyżej 2 załączniki."

    big = {"name": "big.jpg", "content": b64(JPEG + b"\0" * limits.attachment_max_bytes)}
    _, errors = parse_submission(good(attachments=[big]), vocab)
    assert fields(errors) == ["attachments[1]"]
    assert limits.attachment_max_megabytes in errors[0].en


@pytest.mark.parametrize(
    ("attachment", "english"),
    [
        ("a.jpg", "An attachment is an object"),
        ({"name": "a.jpg", "content": 5}, "An attachment is an object"),
        ({"name": "a.jpg", "content": "not base64!"}, "not valid base64"),
        ({"name": "a.jpg", "content": ""}, "empty"),
        ({"name": "a\njpg", "content": b64(JPEG)}, "control characters"),
        ({"name": "gpj\u202e.exe", "content": b64(JPEG)}, "control characters"),
        ({"name": "a.pdf", "content": b64(b"%PDF-1.7")}, "JPEG, PNG are"),
        ({"name": "a.txt", "content": b64(b"hello")}, "not allowed"),
    ],
)
def test_a_bad_attachment_is_named_by_its_place(
    attachment: Any, english: str, vocab: Vocabulary
) -> None:
    ok = {"name": "ok.png", "content": b64(PNG)}
    sub, errors = parse_submission(good(attachments=[ok, attachment]), vocab)
    assert fields(errors) == ["attachments[2]"]
    assert english in errors[0].en
    assert [a.filename for a in sub.attachments] == ["ok.png"]


def test_attachments_must_be_a_list_and_unnamed_ones_get_a_name(vocab: Vocabulary) -> None:
    assert fields(parse_submission(good(attachments={"a": 1}), vocab)[1]) == ["attachments"]
    sub, errors = parse_submission(good(attachments=[{"content": b64(PNG)}]), vocab)
    assert errors == [] and sub.attachments[0].filename == "zalacznik-1"


@pytest.mark.parametrize(
    ("content", "media_type"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (b"%PDF-1.4", "application/pdf"),
        (b"\0\0\0\x18ftyp3gp4", "video/3gpp"),
        (b"\0\0\0\x18ftypqt  ", "video/quicktime"),
        (b"\0\0\0\x18ftypisom", "video/mp4"),
        (b"GIF89a", None),
        (b"", None),
    ],
)
def test_a_files_type_is_read_from_its_first_bytes(content: bytes, media_type: str | None) -> None:
    assert sniff_media_type(content) == media_type


def test_unsafe_file_names() -> None:
    assert not unsafe_in_filename("zdjęcie ławki.jpg")
    for name in ("a\rb", "a\0b", "a\u2028b", "a\u202eb", "a\u2066b"):
        assert unsafe_in_filename(name)


@pytest.mark.parametrize(
    ("n", "text"),
    [(1, "1 plik"), (2, "2 pliki"), (4, "4 pliki"), (5, "5 plików"), (12, "12 plików"),
     (22, "22 pliki"), (111, "111 plików"), (104, "104 pliki")],
)  # fmt: skip
def test_polish_plurals(n: int, text: str) -> None:
    assert polish_count(n, "plik", "pliki", "plików") == text
