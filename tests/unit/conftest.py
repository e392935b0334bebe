"""The fast tier's own fixtures: nothing here (or in the tests beside it) touches a
database, a server or a subprocess. `make test` runs this folder with
--confcutdir=tests/unit, so tests/conftest.py (the real stack's fixtures) is not
even loaded: a unit test asking for one of its fixtures fails there."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from kmzb.domain.vocabulary import (
    Category,
    CategoryGroup,
    Limits,
    Name,
    Status,
    TimeOfDay,
    Vocabulary,
)


@pytest.fixture()
def vocab() -> Vocabulary:
    """A small vocabulary with limits unlike the shipped ones (sql/043), so a check
    that used a constant instead of the vocabulary's value would fail."""

    def status(code: str, order: int, nxt: tuple[str, ...], initial: bool = False) -> Status:
        return Status(
            code=code,
            name=Name(f"{code} (pl)", f"{code} (en)"),
            colour="#0072B2",
            outline="#000000",
            text_colour="#FFFFFF",
            is_initial=initial,
            is_open=bool(nxt),
            is_confirmed=code == "confirmed",
            is_public=True,
            public_for_days=None,
            next=nxt,
            sort_order=order,
            open311_status="open" if code == "new" else "closed",
        )

    return Vocabulary(
        statuses=(
            status("new", 1, ("confirmed", "closed"), initial=True),
            status("confirmed", 2, ("closed",)),
            status("closed", 3, ()),
        ),
        categories=(
            Category(
                "vandalism",
                Name("Wandalizm", "Vandalism"),
                "vandalism",
                False,
                "policy",
                1,
                "order",
            ),
        ),
        times_of_day=(
            TimeOfDay("morning", Name("Rano", "Morning")),
            TimeOfDay("night", Name("Noc", "Night")),
        ),
        limits=Limits(
            description_max_chars=20,
            attachments_max_count=2,
            attachment_max_bytes=64,
            attachment_media_types=("image/jpeg", "image/png"),
            reference_pattern=r"^KMZB-[0-9]{4}-[0-9]{6}$",
            teryt_gmina_pattern=r"^[0-9]{7}$",
        ),
        groups=(CategoryGroup("order", Name("Porządek", "Order")),),
    )


@pytest.fixture()
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """An environment with no KMZB_*, DATABASE_URL or XDG_STATE_HOME: each test sets
    what it reads; monkeypatch puts the real environment back after."""
    for name in list(os.environ):
        if name.startswith("KMZB_") or name in ("DATABASE_URL", "XDG_STATE_HOME"):
            monkeypatch.delenv(name)
    yield monkeypatch
