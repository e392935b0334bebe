"""A request from a city's CRM (Open311) in the police panel, in Chromium: the address and
the picture address the CRM gave are shown as text, and the browser never fetches the
picture (the page makes no request outside the service)."""

from __future__ import annotations

import requests
from playwright.sync_api import Browser, expect

from helpers import new_address, token_for
from test_web import browser, find_in_queue, new_page, web  # noqa: F401 (fixtures)

# a link a hostile CRM could send: it must stay text, never become markup or a request
MEDIA_URL = "https://obrazki.example.org/zdjecie.jpg?a=<img/src=x/onerror=alert(1)>"


def test_police_panel_shows_what_an_open311_client_gave_as_text(
    browser: Browser,  # noqa: F811
    web: str,  # noqa: F811
) -> None:
    answer = requests.post(
        f"{web}/open311/v2/requests.json",
        data={
            "service_code": "stray_dogs",
            "lat": "50.0625",
            "long": "19.9400",
            "address_string": "ul. Floriańska 3, Kraków",
            "media_url": MEDIA_URL,
            "description": "Trzy psy bez opieki przy bramie",
            "phone": "600700800",
        },
        headers={"X-Forwarded-For": new_address()},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    reference = answer.json()[0]["service_request_id"]

    page = new_page(browser, web)
    page.goto("/map/#police")
    page.locator("#police-token").fill(token_for("coordinator", "KMP-1261"))
    page.locator("#police-login button[type=submit]").click()
    expect(page.locator("#police-queue")).to_have_attribute("aria-busy", "false")
    page.locator("#police-status").select_option("new")
    row = find_in_queue(page, reference)
    row.locator("button.open").click()
    card = page.locator("#police-report .card, .card").filter(has_text=reference)
    expect(card).to_contain_text("Adres podany przez system partnera")
    expect(card).to_contain_text("ul. Floriańska 3, Kraków")
    expect(card.locator("code")).to_have_text(MEDIA_URL)
    expect(card).to_contain_text("nie jest pobierany automatycznie")
    assert card.locator("img").count() == 0
    assert "600700800" not in card.inner_text()
    assert page.outside_requests == []  # type: ignore[attr-defined]
    page.context.close()
