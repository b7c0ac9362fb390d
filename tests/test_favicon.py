"""The favicon: linked from every page, and /favicon.ico (asked for by browsers regardless) answers."""

import pytest
from django.test import Client


@pytest.mark.django_db
def test_favicon_ico_redirects_to_the_static_icon_which_is_served():
    response = Client().get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == "/static/favicon.ico"
    icon = Client().get(response["Location"])
    assert icon.status_code == 200
    body = b"".join(icon.streaming_content) if icon.streaming else icon.content
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO header


@pytest.mark.django_db
def test_every_page_links_the_svg_and_ico_icons():
    body = Client().get("/login/").content.decode()
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in body
    assert 'href="/static/favicon.ico"' in body
    svg = Client().get("/static/favicon.svg")
    assert svg.status_code == 200
