"""Browsers, feed readers and link previews ask for /favicon.ico whatever the page says."""

import pytest

pytestmark = pytest.mark.django_db


def test_favicon_ico_leads_to_the_svg_icon_without_a_login(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == "/static/favicon.svg"
    assert "max-age=86400" in response["Cache-Control"]

    icon = client.get(response["Location"])
    assert icon.status_code == 200
    assert icon["Content-Type"] == "image/svg+xml"
    assert b"<svg" in b"".join(icon.streaming_content)


def test_a_head_request_is_answered_too_and_a_post_is_not(client):
    assert client.head("/favicon.ico").status_code == 302
    assert client.post("/favicon.ico").status_code == 405
