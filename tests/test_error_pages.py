"""The error pages Django renders itself wear the site's layout (its stylesheet, its top bar, a
way back), for someone signed in or not; the 500 page needs no context at all."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import BadRequest, PermissionDenied
from django.test import RequestFactory
from django.views import defaults

pytestmark = pytest.mark.django_db

STYLESHEET = 'href="/static/css/webmail.css"'


def a_request():
    request = RequestFactory().get("/somewhere/")
    request.user = AnonymousUser()
    return request


def looks_like_the_site(html):
    assert 'class="topbar"' in html and 'class="card error-page"' in html
    assert "webmail" in html and "css/webmail" in html and 'href="/"' in html


def test_a_missing_page_for_nobody_has_the_sites_layout(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    looks_like_the_site(html)
    assert "Page not found" in html


def test_a_missing_page_for_alice_has_her_menu(alice_client):
    response = alice_client.get("/mail/messages/999999999/")
    assert response.status_code == 404
    html = response.content.decode()
    looks_like_the_site(html)
    assert "Page not found" in html and "Log out alice" in html


def test_a_refusal_has_the_sites_layout():
    response = defaults.permission_denied(a_request(), PermissionDenied())
    assert response.status_code == 403
    looks_like_the_site(response.content.decode())


def test_a_bad_request_has_the_sites_layout():
    response = defaults.bad_request(a_request(), BadRequest())
    assert response.status_code == 400
    looks_like_the_site(response.content.decode())


def test_a_server_error_page_needs_no_context_and_is_styled():
    # Django renders 500.html with an empty Context: nothing there may need the request
    response = defaults.server_error(a_request())
    assert response.status_code == 500
    html = response.content.decode()
    assert STYLESHEET in html and "Server error" in html and 'class="topbar"' in html
